//! Validation of a [`Dag`] before anything reaches a device: cycles, buffers of the wrong
//! device, and races (two nodes touching overlapping bytes, at least one writing, with no
//! path between them).
//!
//! Reachability is a bitset per node (`n²/8` bytes: 125 KB for 1,000 nodes), computed once
//! in reverse topological order; the race check then compares only accesses to the same
//! allocation.

use std::collections::HashMap;

use crate::backend::memory::DeviceMem;
use crate::backend::{Device, DeviceImpl};
use crate::error::Result;
use crate::launch::Access;

use super::GraphError;
use super::dag::{Dag, Op, Touch};

/// A validated DAG's derived structure.
#[derive(Debug, Clone)]
pub(crate) struct Checked {
    /// Node indices in a topological order (dependencies first; ties by insertion order).
    pub(crate) order: Vec<usize>,
    /// Number of devices the DAG was checked for.
    pub(crate) devices: usize,
    /// The device (index into the device list) each node runs on.
    pub(crate) node_device: Vec<usize>,
    /// `reach[i]` has bit `j` set when `j` is reachable from `i` (runs after it).
    reach: Vec<Vec<u64>>,
}

impl Checked {
    /// Validates `dag` for `device`.
    pub(crate) fn new(dag: &Dag, device: &Device) -> Result<Checked> {
        Checked::across(dag, std::slice::from_ref(device))
    }

    /// Validates `dag` for a set of distinct devices of one backend, assigning each node to
    /// the device its buffers live on.
    pub(crate) fn across(dag: &Dag, devices: &[Device]) -> Result<Checked> {
        let node_device = place_nodes(dag, devices)?;
        let n = dag.nodes.len();
        let mut succs = vec![Vec::new(); n];
        let mut indegree = vec![0usize; n];
        for (i, node) in dag.nodes.iter().enumerate() {
            for d in &node.deps {
                if d.0 == i {
                    return Err(GraphError::Cycle { path: vec![i, i] }.into());
                }
                succs[d.0].push(i);
                indegree[i] += 1;
            }
        }
        // Kahn's algorithm with a min-heap, so the order is deterministic and close to
        // insertion order.
        let mut ready: std::collections::BinaryHeap<std::cmp::Reverse<usize>> = (0..n)
            .filter(|&i| indegree[i] == 0)
            .map(std::cmp::Reverse)
            .collect();
        let mut order = Vec::with_capacity(n);
        while let Some(std::cmp::Reverse(i)) = ready.pop() {
            order.push(i);
            for &s in &succs[i] {
                indegree[s] -= 1;
                if indegree[s] == 0 {
                    ready.push(std::cmp::Reverse(s));
                }
            }
        }
        if order.len() < n {
            return Err(GraphError::Cycle {
                path: find_cycle(dag, &indegree),
            }
            .into());
        }
        let words = n.div_ceil(64);
        let mut reach = vec![vec![0u64; words]; n];
        for &i in order.iter().rev() {
            let mut bits = vec![0u64; words];
            for &s in &succs[i] {
                bits[s / 64] |= 1 << (s % 64);
                for (b, r) in bits.iter_mut().zip(&reach[s]) {
                    *b |= r;
                }
            }
            reach[i] = bits;
        }
        let checked = Checked {
            order,
            devices: devices.len(),
            node_device,
            reach,
        };
        checked.check_races(dag)?;
        Ok(checked)
    }

    /// Whether `to` runs after `from` (a path `from → … → to`).
    pub(crate) fn reaches(&self, from: usize, to: usize) -> bool {
        self.reach[from][to / 64] & (1 << (to % 64)) != 0
    }

    /// Whether nodes `a` and `b` run in a fixed order (one reaches the other, or they are one).
    pub(crate) fn ordered(&self, a: usize, b: usize) -> bool {
        a == b || self.reaches(a, b) || self.reaches(b, a)
    }

    fn check_races(&self, dag: &Dag) -> Result<()> {
        let mut by_allocation: HashMap<u64, Vec<(usize, Touch)>> = HashMap::new();
        for (i, node) in dag.nodes.iter().enumerate() {
            for t in node.op.accesses() {
                if !t.bytes.is_empty() {
                    by_allocation.entry(t.allocation).or_default().push((i, t));
                }
            }
        }
        let mut allocations: Vec<_> = by_allocation.into_iter().collect();
        allocations.sort_by_key(|(id, _)| *id);
        for (_, touches) in allocations {
            for (x, (a, ta)) in touches.iter().enumerate() {
                for (b, tb) in &touches[x + 1..] {
                    if conflicting(ta, tb) && !self.ordered(*a, *b) {
                        return Err(GraphError::Race {
                            first: describe(dag, *a, ta),
                            second: describe(dag, *b, tb),
                        }
                        .into());
                    }
                }
            }
        }
        Ok(())
    }
}

/// Whether two accesses to one allocation overlap with at least one writing.
pub(crate) fn conflicting(a: &Touch, b: &Touch) -> bool {
    (a.access == Access::Write || b.access == Access::Write)
        && a.bytes.start < b.bytes.end
        && b.bytes.start < a.bytes.end
}

fn describe(dag: &Dag, node: usize, t: &Touch) -> String {
    let how = match t.access {
        Access::Read => "reads",
        Access::Write => "writes",
    };
    format!(
        "node {node} ({}) {how} {:?} bytes {}..{}",
        dag.nodes[node].label, t.label, t.bytes.start, t.bytes.end
    )
}

/// The device each node runs on: the device of the memory it writes (a copy's
/// destination, a kernel's buffers, which must share one device); a host callback runs
/// after its first dependency's device, or on device 0.
fn place_nodes(dag: &Dag, devices: &[Device]) -> Result<Vec<usize>> {
    if devices.is_empty() {
        return Err(crate::Error::InvalidArgument(
            "a graph needs at least one device".to_owned(),
        ));
    }
    for (i, a) in devices.iter().enumerate() {
        if devices[..i]
            .iter()
            .any(|b| b.backend() != a.backend() || b.ordinal() == a.ordinal())
        {
            return Err(crate::Error::InvalidArgument(format!(
                "a graph's devices must be distinct devices of one backend ({} device {} repeats or mixes backends)",
                a.backend(),
                a.ordinal()
            )));
        }
    }
    let mut placed: Vec<usize> = Vec::with_capacity(dag.nodes.len());
    for (i, node) in dag.nodes.iter().enumerate() {
        let device = match check_node(&node.op, i, devices)? {
            Some(d) => d,
            None => node
                .deps
                .iter()
                .find(|d| d.0 < placed.len())
                .map_or(0, |d| placed[d.0]),
        };
        placed.push(device);
    }
    Ok(placed)
}

/// Checks that node `index`'s buffers live on one of `devices` (a kernel's all on one, a
/// copy's destination decides) and that a kernel's shape fits its device. Returns the
/// device index the node runs on, `None` for a host callback.
pub(crate) fn check_node(op: &Op, index: usize, devices: &[Device]) -> Result<Option<usize>> {
    let cuda = matches!(devices[0].inner, DeviceImpl::Cuda(_));
    let mut found = Vec::new();
    for r in op.device_ranges() {
        let same_backend = matches!(
            (&r.mem.mem, cuda),
            (DeviceMem::Cuda(_), true) | (DeviceMem::Cpu(_), false)
        );
        let position = devices.iter().position(|d| d.ordinal() == r.mem.device);
        match position {
            Some(p) if same_backend => found.push(p),
            _ => {
                return Err(GraphError::UnknownBuffer {
                    node: index,
                    buffer: r.mem.label.clone(),
                    reason: format!(
                        "it lives on {} device {}, the graph runs on {} device(s) {:?}",
                        match r.mem.mem {
                            DeviceMem::Cuda(_) => "cuda",
                            DeviceMem::Cpu(_) => "cpu",
                        },
                        r.mem.device,
                        devices[0].backend(),
                        devices.iter().map(|d| d.ordinal()).collect::<Vec<_>>()
                    ),
                }
                .into());
            }
        }
    }
    let device = match op {
        // A copy runs on its destination's device (a peer copy pulls from the source).
        Op::ToDevice { .. } | Op::Zero { .. } => found.first().copied(),
        Op::ToHost { .. } => found.first().copied(),
        Op::OnDevice { .. } => found.get(1).copied(),
        Op::Kernel(k) => {
            if let Some(&first) = found.first()
                && found.iter().any(|&d| d != first)
            {
                return Err(GraphError::UnknownBuffer {
                    node: index,
                    buffer: k.kernel().name().to_owned(),
                    reason: "a kernel's buffers must all live on one device".to_owned(),
                }
                .into());
            }
            let device = found.first().copied().unwrap_or(0);
            k.config()
                .check(k.kernel().name(), &devices[device].info().limits)?;
            if let crate::launch::KernelRef::User(entry) = k.kernel() {
                entry.check_device(&devices[device])?;
            }
            Some(device)
        }
        Op::Host { .. } => None,
    };
    Ok(device)
}

/// A cycle among the nodes Kahn's algorithm could not order (those with indegree left).
fn find_cycle(dag: &Dag, indegree: &[usize]) -> Vec<usize> {
    // Walk dependencies backwards from a stuck node: every stuck node has a stuck
    // dependency, so the walk must revisit a node; the revisited stretch is the cycle.
    let stuck = |i: usize| indegree[i] > 0;
    let Some(start) = (0..dag.nodes.len()).find(|&i| stuck(i)) else {
        return Vec::new();
    };
    let mut seen = HashMap::new();
    let mut path = Vec::new();
    let mut at = start;
    loop {
        if let Some(&pos) = seen.get(&at) {
            let mut cycle: Vec<usize> = path[pos..].to_vec();
            cycle.reverse();
            cycle.push(cycle[0]);
            return cycle;
        }
        seen.insert(at, path.len());
        path.push(at);
        at = match dag.nodes[at].deps.iter().find(|d| stuck(d.0)) {
            Some(d) => d.0,
            None => return path,
        };
    }
}
