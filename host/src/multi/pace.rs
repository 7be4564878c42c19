//! How fast each device retires chunks, and the balancer's end-game rule built on it.
//!
//! Early in a run every device takes a chunk whenever it frees a slot. Near the end that
//! would let a slow device hold the last chunks — one per slot, each taking it several times
//! as long as a fast device — while the fast devices idle. So once the pace of every device
//! is known, a chunk goes to a device only if that device would finish it no later than the
//! other devices would finish everything still queued and in flight without it.

/// Per-device retirement pace, in the run's clock (seconds; simulated time on the cpu
/// backend with a timing model, host time otherwise).
#[derive(Debug, Clone)]
pub(crate) struct Pace {
    last: Vec<Option<f64>>,
    interval: Vec<Option<f64>>,
}

impl Pace {
    /// No pace known for any of `devices` devices.
    pub(crate) fn new(devices: usize) -> Pace {
        Pace {
            last: vec![None; devices],
            interval: vec![None; devices],
        }
    }

    /// Device `d` retired a chunk at `now`: the interval since its previous retirement is
    /// its current pace (a device with several chunks in flight retires one per chunk's
    /// worth of throughput), smoothed with the previous estimate.
    pub(crate) fn retired(&mut self, d: usize, now: f64) {
        if let Some(prev) = self.last[d] {
            let dt = (now - prev).max(0.0);
            self.interval[d] = Some(match self.interval[d] {
                None => dt,
                Some(i) => 0.5 * i + 0.5 * dt,
            });
        }
        self.last[d] = Some(now);
    }

    /// Whether device `d` should take one more chunk, given the chunks each device has in
    /// flight and the chunks not yet handed out (`remaining`, the offered one included).
    /// Always yes until every device's pace is known, and when no other device has work in
    /// flight (someone must take the chunk).
    pub(crate) fn worth_giving(&self, d: usize, in_flight: &[usize], remaining: usize) -> bool {
        let Some(own) = self.interval[d] else {
            return true;
        };
        let others = (0..in_flight.len()).filter(|&e| e != d);
        if others.clone().all(|e| in_flight[e] == 0) {
            return true;
        }
        let (mut rate, mut work) = (0.0, remaining as f64);
        for e in others {
            match self.interval[e] {
                Some(t) if t > 0.0 => {
                    rate += 1.0 / t;
                    work += in_flight[e] as f64;
                }
                _ => return true,
            }
        }
        (in_flight[d] + 1) as f64 * own <= work / rate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paced(intervals: &[f64]) -> Pace {
        let mut p = Pace::new(intervals.len());
        for (d, &t) in intervals.iter().enumerate() {
            p.retired(d, 0.0);
            p.retired(d, t);
        }
        p
    }

    #[test]
    fn unknown_pace_always_takes_work() {
        let mut p = Pace::new(2);
        assert!(p.worth_giving(0, &[5, 5], 1));
        p.retired(0, 1.0);
        assert!(
            p.worth_giving(0, &[5, 5], 1),
            "one retirement gives no interval yet"
        );
    }

    #[test]
    fn a_slow_device_stops_taking_the_last_chunks() {
        // Device 1 takes 4 s per chunk, device 0 1 s; device 1 has 2 in flight.
        let p = paced(&[1.0, 4.0]);
        // Plenty left: the fast device would need 40 s for it, the slow one 12 s.
        assert!(p.worth_giving(1, &[2, 2], 38));
        // Three left: the fast device finishes them and its 2 in flight in 5 s; the slow
        // one would need 12 s for one more.
        assert!(!p.worth_giving(1, &[2, 2], 3));
        // The fast device always takes its next chunk when it is the quicker way.
        assert!(p.worth_giving(0, &[2, 2], 3));
    }

    #[test]
    fn someone_takes_the_chunk_when_no_other_device_has_work() {
        let p = paced(&[1.0, 4.0]);
        assert!(p.worth_giving(1, &[0, 2], 1));
    }
}
