//! Queued operations and the two ways the CPU backend runs them.
//!
//! - **Threaded** (default): every stream has a worker thread draining its queue in order;
//!   an event wait blocks the worker until the awaited point completes. Work on different
//!   streams really runs at once (kernels use rayon inside).
//! - **Chaos**: nothing runs until the host blocks (a synchronize, an event query). Then the
//!   host thread runs every queued operation itself, one at a time, choosing at each step
//!   among the streams whose next operation may start by happens-before rules — at random
//!   from a seed, or latest-queued first, which turns a missing wait into a wrong result on
//!   every run. Host access to pinned memory does not wait in this mode, so reading output
//!   before synchronizing reads stale data every time.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex, RwLockReadGuard, RwLockWriteGuard, Weak};
use std::time::Instant;

use crate::backend::cpu::args::KernelArgs;
use crate::backend::cpu::runtime::Runtime;
use crate::backend::memory::{DevRange, DeviceMem, HostRange};
use crate::error::{Error, Result};
use crate::launch::{Access, KernelLaunch};

/// The work of one queued operation.
pub(crate) enum Work {
    CopyH2d {
        src: HostRange,
        dst: DevRange,
    },
    CopyD2h {
        src: DevRange,
        dst: HostRange,
    },
    CopyD2d {
        src: DevRange,
        dst: DevRange,
        peer: bool,
    },
    Memset {
        dst: DevRange,
        value: u8,
    },
    Kernel(KernelLaunch),
    HostFn(Box<dyn FnOnce() + Send>),
    Record,
    Wait(Option<Arc<Completion>>),
}

impl Work {
    /// A short description for hazard reports and errors.
    pub(crate) fn describe(&self, id: u64) -> String {
        match self {
            Work::CopyH2d { src, dst } => format!(
                "op #{id} copy host {:?} -> device {:?} ({} bytes)",
                src.mem.label, dst.mem.label, src.bytes
            ),
            Work::CopyD2h { src, dst } => format!(
                "op #{id} copy device {:?} -> host {:?} ({} bytes)",
                src.mem.label, dst.mem.label, src.bytes
            ),
            Work::CopyD2d { src, dst, .. } => format!(
                "op #{id} copy device {:?} -> device {:?} ({} bytes)",
                src.mem.label, dst.mem.label, src.bytes
            ),
            Work::Memset { dst, .. } => format!("op #{id} memset {:?}", dst.mem.label),
            Work::Kernel(k) => format!("op #{id} kernel {}", k.kernel.name()),
            Work::HostFn(_) => format!("op #{id} host callback"),
            Work::Record => format!("op #{id} event record"),
            Work::Wait(_) => format!("op #{id} event wait"),
        }
    }
}

/// The completion state of one queued operation.
#[derive(Debug)]
pub(crate) struct Completion {
    state: Mutex<CompletionState>,
    cv: Condvar,
    runtime: Weak<Runtime>,
}

#[derive(Debug, Default)]
struct CompletionState {
    done: bool,
    at: Option<Instant>,
    error: Option<String>,
}

impl Completion {
    pub(crate) fn new(runtime: &Arc<Runtime>) -> Arc<Completion> {
        Arc::new(Completion {
            state: Mutex::new(CompletionState::default()),
            cv: Condvar::new(),
            runtime: Arc::downgrade(runtime),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CompletionState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn finish(&self, error: Option<String>) {
        let mut s = self.lock();
        s.done = true;
        s.at = Some(Instant::now());
        s.error = error;
        self.cv.notify_all();
    }

    pub(crate) fn is_done(&self) -> bool {
        self.lock().done
    }

    /// Wall-clock completion time.
    pub(crate) fn finished_at(&self) -> Option<Instant> {
        self.lock().at
    }

    /// Blocks until the operation completes. In chaos mode the calling thread runs queued
    /// work until it does.
    pub(crate) fn wait(&self) -> Result<()> {
        if let Some(rt) = self.runtime.upgrade()
            && rt.is_chaos()
        {
            rt.flush()?;
        }
        let mut s = self.lock();
        while !s.done {
            s = self.cv.wait(s).unwrap_or_else(|e| e.into_inner());
        }
        Ok(())
    }

    /// The wait before host access to pinned memory: blocks in threaded mode; in chaos mode
    /// it does not, so unsynchronized host reads see stale data deterministically.
    pub(crate) fn wait_for_host(&self) -> Result<()> {
        match self.runtime.upgrade() {
            Some(rt) if rt.is_chaos() => Ok(()),
            _ => {
                let mut s = self.lock();
                while !s.done {
                    s = self.cv.wait(s).unwrap_or_else(|e| e.into_inner());
                }
                Ok(())
            }
        }
    }
}

/// One queued operation.
pub(crate) struct Op {
    pub(crate) id: u64,
    pub(crate) description: String,
    pub(crate) work: Work,
    pub(crate) done: Arc<Completion>,
}

/// A stream's queue, drained by its worker thread in threaded mode.
#[derive(Default)]
pub(crate) struct Queue {
    state: Mutex<QueueState>,
    cv: Condvar,
}

#[derive(Default)]
struct QueueState {
    ops: VecDeque<Op>,
    closed: bool,
    /// The first error an operation on this stream reported, surfaced at synchronization.
    sticky: Option<String>,
}

impl Queue {
    pub(crate) fn push(&self, op: Op) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.ops.push_back(op);
        self.cv.notify_one();
    }

    pub(crate) fn close(&self) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.closed = true;
        self.cv.notify_all();
    }

    fn pop(&self) -> Option<Op> {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(op) = s.ops.pop_front() {
                return Some(op);
            }
            if s.closed {
                return None;
            }
            s = self.cv.wait(s).unwrap_or_else(|e| e.into_inner());
        }
    }

    pub(crate) fn record_error(&self, message: String) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.sticky.get_or_insert(message);
    }

    pub(crate) fn take_error(&self) -> Option<String> {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .sticky
            .take()
    }
}

/// The worker loop of one stream in threaded mode.
pub(crate) fn worker(queue: Arc<Queue>) {
    while let Some(mut op) = queue.pop() {
        let result = run_owned(&mut op, true);
        let error = result.err().map(|e| format!("{}: {e}", op.description));
        if let Some(msg) = &error {
            queue.record_error(msg.clone());
        }
        op.done.finish(error);
        // Dropped only now: the op may hold the last reference to a buffer whose drop
        // waits for this very op's completion.
        drop(op);
    }
}

/// Runs one operation on the calling thread. `blocking` selects blocking lock acquisition
/// (threaded mode) or failing fast (chaos mode, where the host thread itself runs the op and
/// a lock held by the host would otherwise deadlock it).
pub(crate) fn run(op: &Op, blocking: bool) -> Result<()> {
    match &op.work {
        Work::Record => Ok(()),
        Work::Wait(marker) => match marker {
            Some(m) if blocking => m.wait_for_host(),
            Some(m) if !m.is_done() => Err(Error::Backend(format!(
                "{}: awaited work has not run (scheduler bug)",
                op.description
            ))),
            _ => Ok(()),
        },
        Work::HostFn(_) => Ok(()), // run by `run_owned`, which can take the closure
        Work::CopyH2d { src, dst } => {
            let locks = Locks::acquire(
                &[Lockable::Host(src, false), Lockable::Dev(dst, true)],
                blocking,
                &op.description,
            )?;
            // SAFETY: both ranges were bounds-checked against their allocations when built,
            // lengths are equal (checked when queued), and `locks` holds the host range's
            // allocation for reading and the device range's for writing; distinct
            // allocations cannot overlap.
            unsafe { std::ptr::copy_nonoverlapping(host_ptr(src), dev_ptr(dst)?, src.bytes) };
            drop(locks);
            Ok(())
        }
        Work::CopyD2h { src, dst } => {
            let locks = Locks::acquire(
                &[Lockable::Dev(src, false), Lockable::Host(dst, true)],
                blocking,
                &op.description,
            )?;
            // SAFETY: as for CopyH2d, with the roles swapped.
            unsafe { std::ptr::copy_nonoverlapping(dev_ptr(src)?, host_ptr(dst), src.bytes) };
            drop(locks);
            Ok(())
        }
        Work::CopyD2d { src, dst, .. } => {
            let locks = Locks::acquire(
                &[Lockable::Dev(src, false), Lockable::Dev(dst, true)],
                blocking,
                &op.description,
            )?;
            // SAFETY: bounds-checked ranges under the locks; `copy` (memmove) tolerates the
            // ranges overlapping within one allocation.
            unsafe { std::ptr::copy(dev_ptr(src)?, dev_ptr(dst)?, src.bytes) };
            drop(locks);
            Ok(())
        }
        Work::Memset { dst, value } => {
            let locks = Locks::acquire(&[Lockable::Dev(dst, true)], blocking, &op.description)?;
            // SAFETY: a bounds-checked range held for writing.
            unsafe { std::ptr::write_bytes(dev_ptr(dst)?, *value, dst.bytes) };
            drop(locks);
            Ok(())
        }
        Work::Kernel(launch) => run_kernel(launch, blocking, &op.description),
    }
}

/// Runs an operation, taking a host callback out of it if it holds one. The caller marks
/// the completion and only then drops the op (see [`worker`]).
pub(crate) fn run_owned(op: &mut Op, blocking: bool) -> Result<()> {
    match std::mem::replace(&mut op.work, Work::Record) {
        Work::HostFn(f) => catch_unwind(AssertUnwindSafe(f))
            .map_err(|_| Error::Backend(format!("{}: the host callback panicked", op.description))),
        other => {
            op.work = other;
            run(op, blocking)
        }
    }
}

fn run_kernel(launch: &KernelLaunch, blocking: bool, description: &str) -> Result<()> {
    let lockables: Vec<Lockable<'_>> = launch
        .buffers()
        .map(|b| Lockable::Dev(&b.range, b.access == Access::Write))
        .collect();
    let locks = Locks::acquire(&lockables, blocking, description)?;
    let mut args = KernelArgs::new(&launch.args, dev_ptr)?;
    let result = catch_unwind(AssertUnwindSafe(|| (launch.cpu)(&mut args))).unwrap_or_else(|_| {
        Err(Error::Backend(format!(
            "{description}: the CPU kernel panicked"
        )))
    });
    drop(args);
    drop(locks);
    result
}

fn host_ptr(range: &HostRange) -> *mut u8 {
    // SAFETY: `offset` lies within the allocation (checked when the range was built).
    unsafe { range.mem.ptr.add(range.offset) }
}

pub(crate) fn dev_ptr(range: &DevRange) -> Result<*mut u8> {
    match &range.mem.mem {
        // SAFETY: `offset` lies within the allocation (checked when the range was built).
        DeviceMem::Cpu(m) => Ok(unsafe { m.ptr().add(range.offset) }),
        DeviceMem::Cuda(_) => Err(Error::DeviceMismatch(format!(
            "buffer {:?} belongs to the CUDA backend but was used on a cpu stream",
            range.mem.label
        ))),
    }
}

/// An allocation an operation locks, and whether for writing.
#[derive(Clone, Copy)]
enum Lockable<'a> {
    Dev(&'a DevRange, bool),
    Host(&'a HostRange, bool),
}

impl<'a> Lockable<'a> {
    fn id(&self) -> u64 {
        match self {
            Lockable::Dev(r, _) => r.mem.id,
            Lockable::Host(r, _) => r.mem.id,
        }
    }

    fn write(&self) -> bool {
        match self {
            Lockable::Dev(_, w) | Lockable::Host(_, w) => *w,
        }
    }

    fn lock(self) -> Option<&'a std::sync::RwLock<()>> {
        match self {
            Lockable::Dev(r, _) => match &r.mem.mem {
                DeviceMem::Cpu(m) => Some(m.lock()),
                DeviceMem::Cuda(_) => None,
            },
            Lockable::Host(r, _) => Some(&r.mem.lock),
        }
    }
}

/// Guards held while an operation touches memory. Acquired in allocation-id order so two
/// operations never deadlock on each other.
struct Locks<'a> {
    _reads: Vec<RwLockReadGuard<'a, ()>>,
    _writes: Vec<RwLockWriteGuard<'a, ()>>,
}

impl<'a> Locks<'a> {
    fn acquire(items: &[Lockable<'a>], blocking: bool, description: &str) -> Result<Locks<'a>> {
        let mut wanted: Vec<(u64, bool, &'a std::sync::RwLock<()>)> = Vec::new();
        for &item in items {
            let Some(lock) = item.lock() else {
                return Err(Error::DeviceMismatch(format!(
                    "{description}: a CUDA buffer on a cpu stream"
                )));
            };
            match wanted.iter_mut().find(|(id, _, _)| *id == item.id()) {
                Some(entry) => entry.1 |= item.write(),
                None => wanted.push((item.id(), item.write(), lock)),
            }
        }
        wanted.sort_by_key(|(id, _, _)| *id);
        let (mut reads, mut writes) = (Vec::new(), Vec::new());
        for (_, write, lock) in wanted {
            match (write, blocking) {
                (true, true) => writes.push(lock.write().unwrap_or_else(|e| e.into_inner())),
                (false, true) => reads.push(lock.read().unwrap_or_else(|e| e.into_inner())),
                (true, false) => {
                    writes.push(lock.try_write().map_err(|_| held_by_host(description))?)
                }
                (false, false) => {
                    reads.push(lock.try_read().map_err(|_| held_by_host(description))?)
                }
            }
        }
        Ok(Locks {
            _reads: reads,
            _writes: writes,
        })
    }
}

fn held_by_host(description: &str) -> Error {
    Error::Backend(format!(
        "{description}: the host holds access to a buffer this operation needs; synchronize \
         before reading or writing pinned buffers that queued work uses"
    ))
}
