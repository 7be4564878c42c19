//! NVTX ranges, so Nsight Systems shows riptide's phases on the host timeline.
//!
//! cudarc loads `libnvToolsExt` dynamically and panics on the first call when the library is
//! absent, so presence is checked once and a missing library makes every range a no-op.
//! Ranges are also off when `RIPTIDE_NVTX=0`.

use std::sync::OnceLock;

/// An open NVTX range; it closes when dropped. A no-op when NVTX is unavailable.
#[derive(Debug)]
#[must_use = "the range closes when this guard is dropped"]
pub struct NvtxRange {
    _range: Option<cudarc::nvtx::Range>,
}

/// Whether NVTX calls reach a loaded library.
fn enabled() -> bool {
    static ENABLED: OnceLock<bool> = OnceLock::new();
    *ENABLED.get_or_init(|| {
        if std::env::var("RIPTIDE_NVTX").is_ok_and(|v| v == "0") {
            return false;
        }
        // SAFETY: only tries to open the library by its candidate names; no symbol is used.
        unsafe { cudarc::nvtx::sys::is_culib_present() }
    })
}

/// Opens an NVTX range named `name` (pipeline phases, graph launches) until the guard drops.
/// A name with an interior NUL byte is cut at it.
pub fn nvtx_range(name: &str) -> NvtxRange {
    if !enabled() {
        return NvtxRange { _range: None };
    }
    let name = name.split('\0').next().unwrap_or_default();
    NvtxRange {
        _range: Some(cudarc::nvtx::Event::message(name).range()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_nest_and_close_without_a_library_or_with_one() {
        // On a machine without libnvToolsExt this must not panic (cudarc would, if called);
        // with the library the ranges open and close in order.
        let outer = nvtx_range("outer");
        {
            let _inner = nvtx_range("inner\0cut");
        }
        assert_eq!(outer._range.is_some(), enabled());
        drop(outer);
    }
}
