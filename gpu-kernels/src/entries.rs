//! The name of every kernel entry point in the PTX, defined once.
//!
//! The build script checks the emitted PTX against [`ALL`] in both directions (every name
//! here is an `.entry`, every `.entry` is named here), and the host's launchers refer to
//! kernels only through these constants, so a kernel name is never spelled twice.

/// `y[i] = a * x[i] + b * y[i]` over `f32`.
pub const AXPBY_F32: &str = "riptide_axpby_f32";

/// Every kernel entry point the PTX must contain, and nothing else.
pub const ALL: &[&str] = &[AXPBY_F32];

/// The names of the `.entry` functions a PTX module defines, in order of appearance.
///
/// Used by the build script to check the emitted PTX and by the host's tests to check the
/// embedded PTX against the launchers.
#[cfg(not(target_arch = "nvptx64"))]
pub fn ptx_entry_names(ptx: &str) -> impl Iterator<Item = &str> {
    ptx.lines().filter_map(|line| {
        let rest = line.trim_start().strip_prefix(".visible .entry ")?;
        let end = rest.find(|c: char| c == '(' || c.is_whitespace()).unwrap_or(rest.len());
        Some(&rest[..end])
    })
}

/// The names of functions a PTX module declares `.extern .func` but does not define: calls
/// the driver cannot resolve, so a module holding any fails to load.
#[cfg(not(target_arch = "nvptx64"))]
pub fn ptx_unresolved_functions(ptx: &str) -> impl Iterator<Item = &str> {
    ptx.lines().filter_map(|line| {
        let rest = line.trim_start().strip_prefix(".extern .func ")?;
        // `.extern .func (.param .b32 ret) name(` or `.extern .func name(`
        let rest = match rest.strip_prefix('(') {
            Some(after_ret) => after_ret.split_once(')').map_or(after_ret, |(_, r)| r).trim_start(),
            None => rest,
        };
        let end = rest.find(|c: char| c == '(' || c.is_whitespace()).unwrap_or(rest.len());
        Some(&rest[..end])
    })
}
