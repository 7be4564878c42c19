//! Sequential scans: one running sum from the carry.

use crate::bounds::RefSum;
use crate::compensated::SumAcc;
use crate::error::{ReferenceError, same_len};
use crate::scan::ScanKind;

/// Sequential [`crate::scan::scan_u32`].
pub fn scan_u32(
    x: &[u32],
    carry: u32,
    kind: ScanKind,
    y: &mut [u32],
) -> Result<u32, ReferenceError> {
    same_len("y", y.len(), "x", x.len())?;
    let mut s = carry;
    for i in 0..x.len() {
        if kind == ScanKind::Exclusive {
            y[i] = s;
        }
        s = s.wrapping_add(x[i]);
        if kind == ScanKind::Inclusive {
            y[i] = s;
        }
    }
    Ok(s)
}

/// Sequential [`crate::scan::scan_i32`].
pub fn scan_i32(
    x: &[i32],
    carry: i32,
    kind: ScanKind,
    y: &mut [i32],
) -> Result<i32, ReferenceError> {
    same_len("y", y.len(), "x", x.len())?;
    let mut s = carry;
    for i in 0..x.len() {
        if kind == ScanKind::Exclusive {
            y[i] = s;
        }
        s = s.wrapping_add(x[i]);
        if kind == ScanKind::Inclusive {
            y[i] = s;
        }
    }
    Ok(s)
}

/// Sequential [`crate::scan::scan_f32`].
pub fn scan_f32(
    x: &[f32],
    carry: f32,
    kind: ScanKind,
    y: &mut [RefSum],
) -> Result<RefSum, ReferenceError> {
    same_len("y", y.len(), "x", x.len())?;
    let mut acc = SumAcc::default();
    acc.add(f64::from(carry));
    for i in 0..x.len() {
        let before = acc.value();
        acc.add(f64::from(x[i]));
        y[i] = RefSum {
            value: if kind == ScanKind::Exclusive {
                before
            } else {
                acc.value()
            },
            abs_sum: acc.abs_sum(),
        };
    }
    Ok(acc.finish())
}
