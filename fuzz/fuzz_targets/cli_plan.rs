//! From `--op`, `--chunk`, `--streams`, `--depth` and a length to an execution plan, on
//! arbitrary text: an error or a plan whose chunks tile the input, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use riptide::cli::fuzzing;

fuzz_target!(|data: &[u8]| {
    fuzzing::cli_plan(data);
});
