//! The `.npy` header validator on arbitrary bytes: it must return a layout or an error,
//! never panic, and any layout it accepts must describe exactly the bytes it was given.
#![no_main]

use libfuzzer_sys::fuzz_target;
use riptide::cli::fuzzing;

fuzz_target!(|data: &[u8]| {
    fuzzing::npy_header(data);
});
