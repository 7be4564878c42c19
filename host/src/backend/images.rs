//! Which PTX module a CUDA device loads: the built-in kernels may come compiled for several
//! target architectures, and each device takes the newest one its compute capability runs.
//! The choice also decides whether the kernels wait for prior grids on entry, which lets
//! graphs join them with programmatic edges (`gpu_kernels::device::grid`).

use crate::error::{Error, Result};

/// PTX of the built-in kernels: one module, or one per target architecture.
#[derive(Debug, Clone, Copy)]
pub enum PtxImages<'a> {
    /// One module; its `.target` line says what it needs.
    Single(&'a str),
    /// `(architecture, PTX)` pairs such as `("sm_90", …)`, any order.
    Set(&'a [(&'a str, &'a str)]),
}

impl<'a> From<&'a str> for PtxImages<'a> {
    fn from(ptx: &'a str) -> PtxImages<'a> {
        PtxImages::Single(ptx)
    }
}

impl<'a> From<&'a String> for PtxImages<'a> {
    fn from(ptx: &'a String) -> PtxImages<'a> {
        PtxImages::Single(ptx)
    }
}

impl<'a> PtxImages<'a> {
    /// The module for a device of compute capability `major.minor`: the newest architecture
    /// not newer than the device (a `Single` module as it is: the driver says if it cannot
    /// run it).
    pub fn pick(&self, (major, minor): (u32, u32)) -> Result<&'a str> {
        let device = major * 10 + minor;
        match *self {
            PtxImages::Single(ptx) => Ok(ptx),
            PtxImages::Set(images) => images
                .iter()
                .filter_map(|&(arch, ptx)| Some((arch_number(arch)?, ptx)))
                .filter(|&(arch, _)| arch <= device)
                .max_by_key(|&(arch, _)| arch)
                .map(|(_, ptx)| ptx)
                .ok_or_else(|| {
                    let built: Vec<&str> = images.iter().map(|(a, _)| *a).collect();
                    Error::InvalidArgument(format!(
                        "no kernel module runs on compute capability {major}.{minor}: built for {built:?}"
                    ))
                }),
        }
    }
}

/// `sm_90` → 90, `sm_90a` → 90.
fn arch_number(arch: &str) -> Option<u32> {
    let digits: String = arch
        .strip_prefix("sm_")?
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// Whether every kernel entry of `ptx` waits for prior grids (`griddepcontrol.wait`) before
/// anything else could touch memory — the condition for giving its kernel nodes
/// programmatic edges. Checked on the text the driver loads, so a module built without the
/// wait (an older target) simply keeps full edges.
pub(crate) fn every_entry_waits_for_prior_grids(ptx: &str) -> bool {
    let mut entries = ptx.split(".entry ").skip(1).peekable();
    entries.peek().is_some()
        && entries.all(|body| {
            // An entry's body ends where the next function begins.
            let body = body.split(".func ").next().unwrap_or(body);
            body.contains("griddepcontrol.wait")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: &str = ".target sm_80\n.visible .entry k() { ret; }";
    const NEW: &str = ".target sm_90\n.visible .entry k() { griddepcontrol.wait; ret; }";

    #[test]
    fn a_device_gets_the_newest_module_it_runs() {
        let set = PtxImages::Set(&[("sm_90", NEW), ("sm_80", OLD)]);
        assert_eq!(set.pick((9, 0)).unwrap(), NEW);
        assert_eq!(set.pick((10, 0)).unwrap(), NEW);
        assert_eq!(set.pick((8, 6)).unwrap(), OLD);
        let err = set.pick((7, 5)).unwrap_err().to_string();
        assert!(err.contains("7.5") && err.contains("sm_80"), "{err}");
        assert_eq!(PtxImages::from(OLD).pick((9, 0)).unwrap(), OLD);
    }

    #[test]
    fn programmatic_edges_need_the_wait_in_every_entry() {
        assert!(every_entry_waits_for_prior_grids(NEW));
        assert!(!every_entry_waits_for_prior_grids(OLD));
        let mixed = format!("{NEW}\n.visible .entry j() {{ ret; }}");
        assert!(!every_entry_waits_for_prior_grids(&mixed));
        let helper_after =
            format!("{NEW}\n.func f() {{ griddepcontrol.wait; }}\n.visible .entry j() {{ ret; }}");
        assert!(!every_entry_waits_for_prior_grids(&helper_after));
        assert!(!every_entry_waits_for_prior_grids(".target sm_90\n"));
    }
}
