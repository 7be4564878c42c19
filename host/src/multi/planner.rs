//! Splitting work between devices in proportion to their throughput.
//!
//! A device that processes `s_i` chunks per second finishes `n_i` chunks at `n_i / s_i`; the
//! makespan `max_i n_i / s_i` is smallest when every device finishes together, at
//! `n_i = N · s_i / Σ s` and makespan `N / Σ s`. Chunks are whole, so the shares are rounded
//! by the largest-remainder rule, which keeps them summing to `N` and each within one chunk
//! of its exact share.

use crate::error::{Error, Result};

/// Relative throughputs of the devices of a run (any positive unit: elements per second,
/// chunks per millisecond).
#[derive(Debug, Clone, PartialEq)]
pub struct Weights(Vec<f64>);

impl Weights {
    /// Equal weights for `devices` devices (no measurement yet).
    pub fn equal(devices: usize) -> Weights {
        Weights(vec![1.0; devices])
    }

    /// Weights from measured throughputs; each must be finite and positive.
    pub fn from_throughput(throughput: &[f64]) -> Result<Weights> {
        if throughput.is_empty() {
            return Err(Error::InvalidArgument(
                "a split needs at least one device".into(),
            ));
        }
        if let Some((i, t)) = throughput
            .iter()
            .enumerate()
            .find(|(_, t)| !(t.is_finite() && **t > 0.0))
        {
            return Err(Error::InvalidArgument(format!(
                "device {i}: throughput {t} is not a positive number"
            )));
        }
        Ok(Weights(throughput.to_vec()))
    }

    /// The weights, one per device.
    pub fn as_slice(&self) -> &[f64] {
        &self.0
    }

    /// Number of devices.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no devices.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Splits `units` whole units in proportion to the weights (largest remainder).
    pub fn split(&self, units: usize) -> Vec<usize> {
        let total: f64 = self.0.iter().sum();
        let exact: Vec<f64> = self.0.iter().map(|w| units as f64 * w / total).collect();
        let mut shares: Vec<usize> = exact.iter().map(|e| e.floor() as usize).collect();
        let mut left = units - shares.iter().sum::<usize>().min(units);
        let mut order: Vec<usize> = (0..shares.len()).collect();
        order.sort_by(|&a, &b| {
            let ra = exact[a] - exact[a].floor();
            let rb = exact[b] - exact[b].floor();
            rb.total_cmp(&ra).then(a.cmp(&b))
        });
        for &i in order.iter().cycle() {
            if left == 0 {
                break;
            }
            shares[i] += 1;
            left -= 1;
        }
        shares
    }

    /// Contiguous ranges of `0..units`, one per device, sized by [`Weights::split`].
    pub fn ranges(&self, units: usize) -> Vec<std::ops::Range<usize>> {
        let mut start = 0;
        self.split(units)
            .into_iter()
            .map(|n| {
                let r = start..start + n;
                start += n;
                r
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_proportional_and_complete() {
        let w = Weights::from_throughput(&[3.0, 1.0]).unwrap();
        assert_eq!(w.split(8), vec![6, 2]);
        // 10 · (1/3, 1/3, 1/3) = 3.33 each: one device gets the leftover unit.
        assert_eq!(Weights::equal(3).split(10), vec![4, 3, 3]);
        assert_eq!(Weights::equal(4).split(0), vec![0, 0, 0, 0]);
        let r = Weights::from_throughput(&[1.0, 2.0, 1.0])
            .unwrap()
            .ranges(8);
        assert_eq!(r, vec![0..2, 2..6, 6..8]);
    }

    #[test]
    fn bad_throughputs_are_rejected() {
        assert!(Weights::from_throughput(&[]).is_err());
        assert!(Weights::from_throughput(&[1.0, 0.0]).is_err());
        assert!(Weights::from_throughput(&[f64::NAN]).is_err());
    }
}
