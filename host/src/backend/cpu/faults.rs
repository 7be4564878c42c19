//! Fault injection for the CPU backend: make the Nth operation of a kind fail the way a GPU
//! fails, so the recovery paths above the backend (chunk shrinking, context recreation,
//! clean failure) run and are tested without a GPU.
//!
//! A [`FaultPlan`] in [`crate::backend::cpu::CpuConfig::faults`] names an operation kind,
//! which occurrence fails first and how many in a row, and the effect:
//!
//! - [`FaultEffect::OutOfMemory`] — an allocation fails with [`Error::OutOfMemory`], as
//!   `cuMemAlloc` / `cuMemHostAlloc` do; nothing else changes.
//! - [`FaultEffect::DeviceFault`] — the operation does not run and the device is *poisoned*,
//!   like a CUDA context after a trap or an illegal address: every later allocation, queued
//!   operation and synchronization fails with [`Error::DeviceFault`] until
//!   [`crate::Device::recover`] recreates the device state.
//! - [`FaultEffect::DeviceLost`] — as a fault, but recovery fails too
//!   ([`Error::DeviceLost`]): the driver or the device is gone.
//!
//! Counts are per backend instance and survive recovery, so a plan with `times: 2` makes
//! an operation and its retry fail.

use std::sync::Mutex;

use crate::error::{Error, Result};

/// The kind of operation a [`FaultPlan`] counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultOp {
    /// A device allocation.
    DeviceAlloc,
    /// A pinned host allocation.
    PinnedAlloc,
    /// A kernel launch.
    Kernel,
    /// A host-to-device copy.
    CopyH2d,
    /// A device-to-host copy.
    CopyD2h,
}

impl FaultOp {
    const ALL: [FaultOp; 5] = [
        FaultOp::DeviceAlloc,
        FaultOp::PinnedAlloc,
        FaultOp::Kernel,
        FaultOp::CopyH2d,
        FaultOp::CopyD2h,
    ];

    fn index(self) -> usize {
        Self::ALL
            .iter()
            .position(|&k| k == self)
            .expect("every kind is listed")
    }
}

/// What an injected fault does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultEffect {
    /// The allocation fails as out of memory (allocations only).
    OutOfMemory,
    /// A sticky fault: the device is unusable until recovered.
    DeviceFault,
    /// The device is gone for good.
    DeviceLost,
}

/// Make operations `nth..nth + times` (1-based) of kind `op` fail with `effect`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultPlan {
    /// The operation kind counted.
    pub op: FaultOp,
    /// The first failing occurrence, counting from 1.
    pub nth: u64,
    /// How many consecutive occurrences fail.
    pub times: u64,
    /// What the failure is.
    pub effect: FaultEffect,
}

impl FaultPlan {
    /// The `nth` operation of kind `op` fails once with `effect`.
    pub fn once(op: FaultOp, nth: u64, effect: FaultEffect) -> FaultPlan {
        FaultPlan {
            op,
            nth,
            times: 1,
            effect,
        }
    }
}

impl std::str::FromStr for FaultPlan {
    type Err = Error;

    /// Parses `op:nth[:times]:effect`, e.g. `kernel:3:fault`, `device-alloc:1:2:oom`;
    /// ops `device-alloc`, `pinned-alloc`, `kernel`, `h2d`, `d2h`; effects `oom`, `fault`,
    /// `lost`.
    fn from_str(text: &str) -> Result<FaultPlan> {
        let bad = |why: &str| {
            Error::InvalidArgument(format!(
                "fault plan {text:?}: {why} (expected op:nth[:times]:effect, e.g. kernel:3:fault)"
            ))
        };
        let parts: Vec<&str> = text.trim().split(':').collect();
        let (op, nth, times, effect) = match parts[..] {
            [op, nth, effect] => (op, nth, "1", effect),
            [op, nth, times, effect] => (op, nth, times, effect),
            _ => return Err(bad("wrong number of fields")),
        };
        let op = match op {
            "device-alloc" => FaultOp::DeviceAlloc,
            "pinned-alloc" => FaultOp::PinnedAlloc,
            "kernel" => FaultOp::Kernel,
            "h2d" => FaultOp::CopyH2d,
            "d2h" => FaultOp::CopyD2h,
            _ => return Err(bad("unknown op")),
        };
        let effect = match effect {
            "oom" => FaultEffect::OutOfMemory,
            "fault" => FaultEffect::DeviceFault,
            "lost" => FaultEffect::DeviceLost,
            _ => return Err(bad("unknown effect")),
        };
        let nth: u64 = nth.parse().map_err(|_| bad("nth is not a number"))?;
        let times: u64 = times.parse().map_err(|_| bad("times is not a number"))?;
        if nth == 0 || times == 0 {
            return Err(bad("nth and times count from 1"));
        }
        Ok(FaultPlan {
            op,
            nth,
            times,
            effect,
        })
    }
}

/// The environment variable `riptide` reads fault plans from on the cpu backend: plans
/// separated by commas, e.g. `RIPTIDE_CPU_FAULTS=device-alloc:1:oom,kernel:5:fault`.
pub const FAULTS_ENV: &str = "RIPTIDE_CPU_FAULTS";

/// Parses a comma-separated list of fault plans (see [`FAULTS_ENV`]).
pub fn parse_plans(text: &str) -> Result<Vec<FaultPlan>> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::parse)
        .collect()
}

#[derive(Debug, Default)]
struct FaultState {
    counts: [u64; FaultOp::ALL.len()],
    poisoned: Option<String>,
    lost: bool,
    injected: u64,
}

/// The injector of one backend instance.
#[derive(Debug)]
pub(crate) struct Faults {
    plans: Vec<FaultPlan>,
    state: Mutex<FaultState>,
}

impl Faults {
    pub(crate) fn new(plans: Vec<FaultPlan>) -> Faults {
        Faults {
            plans,
            state: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FaultState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The sticky error, if the device is poisoned or lost.
    pub(crate) fn check(&self, operation: &str) -> Result<()> {
        sticky(&self.lock(), operation)
    }

    /// Counts an operation of kind `op`. Returns the error to report now, or `Ok(true)` when
    /// the operation must be skipped because it faulted (the error then surfaces at the next
    /// call or synchronization, as a GPU reports kernel faults asynchronously).
    pub(crate) fn count(&self, op: FaultOp, operation: &str, bytes: usize) -> Result<bool> {
        let mut s = self.lock();
        sticky(&s, operation)?;
        if self.plans.is_empty() {
            return Ok(false);
        }
        s.counts[op.index()] += 1;
        let n = s.counts[op.index()];
        let Some(plan) = self
            .plans
            .iter()
            .find(|p| p.op == op && n >= p.nth && n - p.nth < p.times)
        else {
            return Ok(false);
        };
        s.injected += 1;
        let message = format!("injected fault on {op:?} #{n}");
        tracing::debug!("{message} ({:?}) in {operation}", plan.effect);
        match plan.effect {
            FaultEffect::OutOfMemory => Err(Error::OutOfMemory {
                kind: if op == FaultOp::PinnedAlloc {
                    "pinned host"
                } else {
                    "device"
                },
                bytes,
            }),
            FaultEffect::DeviceFault | FaultEffect::DeviceLost => {
                s.lost |= plan.effect == FaultEffect::DeviceLost;
                s.poisoned = Some(message);
                match op {
                    FaultOp::DeviceAlloc | FaultOp::PinnedAlloc => {
                        sticky(&s, operation).map(|_| true)
                    }
                    _ => Ok(true),
                }
            }
        }
    }

    /// Poisons the device as a trapping kernel does.
    pub(crate) fn trap(&self, operation: &str) {
        let mut s = self.lock();
        s.injected += 1;
        s.poisoned = Some(format!("{operation} trapped"));
    }

    /// Recreates the device state after a sticky fault; fails when the device is lost.
    pub(crate) fn recover(&self) -> Result<()> {
        let mut s = self.lock();
        if s.lost {
            return sticky(&s, "recreating the device");
        }
        s.poisoned = None;
        Ok(())
    }

    /// How many faults were injected so far.
    pub(crate) fn injected(&self) -> u64 {
        self.lock().injected
    }
}

fn sticky(s: &FaultState, operation: &str) -> Result<()> {
    match &s.poisoned {
        None => Ok(()),
        Some(message) if s.lost => Err(Error::DeviceLost {
            operation: operation.to_owned(),
            message: message.clone(),
        }),
        Some(message) => Err(Error::DeviceFault {
            operation: operation.to_owned(),
            message: message.clone(),
        }),
    }
}
