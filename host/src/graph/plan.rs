//! Mapping a validated DAG onto a pool of streams ("lanes"): which lane runs each node,
//! which events it records and waits on.
//!
//! Lane 0 is the stream the caller launches on; lanes `1..` are forked from it with one
//! event at the start and joined back with one event each at the end, the shape CUDA
//! stream capture needs. Nodes are placed in topological order: a node continues the lane
//! of a dependency that is still that lane's last node (that edge then needs no event);
//! otherwise it takes the least recently used lane. A cross-lane edge costs one record on
//! the source lane and one wait on the target lane, and is skipped when the target lane
//! already knows the source completed (per-lane vector clocks, so transitively implied
//! edges cost nothing).

use super::check::Checked;
use super::dag::Dag;

/// The issue order of one DAG on `lanes` lanes.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) lanes: usize,
    /// The device (index into the runner's device list) each lane belongs to.
    pub(crate) lane_device: Vec<usize>,
    pub(crate) steps: Vec<Step>,
    /// Number of events: `0` forks, `1..lanes` join lanes back, the rest follow nodes.
    pub(crate) events: usize,
}

/// One issue step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Queue node `node` on `lane`.
    Run { lane: usize, node: usize },
    /// Record `event` on `lane`.
    Record { lane: usize, event: usize },
    /// Make `lane` wait for `event`.
    Wait { lane: usize, event: usize },
}

impl Plan {
    /// Plans `dag` (already validated into `checked`) on at most `lanes_per_device` lanes
    /// of each device. Lane 0, the caller's stream, is a lane of device 0.
    pub(crate) fn new(dag: &Dag, checked: &Checked, lanes_per_device: usize) -> Plan {
        let per = lanes_per_device.max(1);
        let slots = per * checked.devices.max(1);
        let n = dag.nodes.len();
        let mut lane_of = vec![usize::MAX; n];
        // Position of each node on its lane (1-based: 0 means "nothing on that lane yet").
        let mut pos = vec![0usize; n];
        let mut clock: Vec<Vec<usize>> = vec![Vec::new(); n];
        let mut lane_tail: Vec<Option<usize>> = vec![None; slots];
        let mut lane_len = vec![0usize; slots];
        let mut lane_known: Vec<Vec<usize>> = vec![vec![0; slots]; slots];
        let mut last_used = vec![0usize; slots];
        let mut node_event = vec![usize::MAX; n];
        let mut next_event = 0usize;
        let mut body = Vec::with_capacity(n * 2);
        let mut used = vec![false; slots];

        for (tick, &i) in checked.order.iter().enumerate() {
            let device = checked.node_device[i];
            let own = device * per..(device + 1) * per;
            let deps = &dag.nodes[i].deps;
            let lane = deps
                .iter()
                .map(|d| d.0)
                .find(|&d| own.contains(&lane_of[d]) && lane_tail[lane_of[d]] == Some(d))
                .map(|d| lane_of[d])
                .unwrap_or_else(|| {
                    // Least recently used lane of the device; unused lanes first.
                    own.clone()
                        .min_by_key(|&l| (used[l], last_used[l]))
                        .unwrap_or(own.start)
                });
            used[lane] = true;
            for d in deps.iter().map(|d| d.0) {
                let (dl, dp) = (lane_of[d], pos[d]);
                if dl == lane || lane_known[lane][dl] >= dp {
                    continue;
                }
                if node_event[d] == usize::MAX {
                    node_event[d] = next_event;
                    next_event += 1;
                }
                body.push(Step::Wait {
                    lane,
                    event: node_event[d],
                });
                for (k, c) in lane_known[lane].iter_mut().zip(&clock[d]) {
                    *k = (*k).max(*c);
                }
            }
            lane_len[lane] += 1;
            pos[i] = lane_len[lane];
            lane_of[i] = lane;
            lane_tail[lane] = Some(i);
            last_used[lane] = tick + 1;
            lane_known[lane][lane] = pos[i];
            clock[i] = lane_known[lane].clone();
            body.push(Step::Run { lane, node: i });
        }

        // Number the used lanes densely (slot 0, device 0's first lane, is always lane 0),
        // and the events after the fork and join events.
        used[0] = true;
        let mut dense = vec![usize::MAX; slots];
        let mut lane_device = Vec::new();
        for slot in (0..slots).filter(|&l| used[l]) {
            dense[slot] = lane_device.len();
            lane_device.push(slot / per);
        }
        let lanes = lane_device.len();
        let node_events = next_event;
        let event = |e: usize| lanes + e;
        let mut steps = Vec::with_capacity(body.len() + 2 * lanes + n / 4);
        if lanes > 1 {
            steps.push(Step::Record { lane: 0, event: 0 });
        }
        for l in 1..lanes {
            steps.push(Step::Wait { lane: l, event: 0 });
        }
        for step in body {
            match step {
                Step::Run { lane, node } => {
                    steps.push(Step::Run {
                        lane: dense[lane],
                        node,
                    });
                    if node_event[node] != usize::MAX {
                        steps.push(Step::Record {
                            lane: dense[lane],
                            event: event(node_event[node]),
                        });
                    }
                }
                Step::Wait { lane, event: e } => steps.push(Step::Wait {
                    lane: dense[lane],
                    event: event(e),
                }),
                Step::Record { .. } => unreachable!("records are added here"),
            }
        }
        for l in 1..lanes {
            steps.push(Step::Record { lane: l, event: l });
            steps.push(Step::Wait { lane: 0, event: l });
        }
        Plan {
            lanes,
            lane_device,
            steps,
            events: lanes + node_events,
        }
    }

    /// Number of cross-lane waits between nodes (forks and joins not counted).
    pub(crate) fn cross_lane_waits(&self) -> usize {
        self.steps
            .iter()
            .filter(|s| matches!(s, Step::Wait { event, .. } if *event >= self.lanes))
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Replays a plan symbolically: returns, for each node, the set of nodes known complete
    /// when it starts (stream order plus event waits), to compare with the DAG's edges.
    fn happens_before(plan: &Plan, n: usize) -> Vec<Vec<bool>> {
        let mut lane_done: Vec<Vec<bool>> = vec![vec![false; n]; plan.lanes];
        let mut event_done: Vec<Vec<bool>> = vec![vec![false; n]; plan.events];
        let mut before = vec![vec![false; n]; n];
        for step in &plan.steps {
            match *step {
                Step::Run { lane, node } => {
                    before[node] = lane_done[lane].clone();
                    lane_done[lane][node] = true;
                }
                Step::Record { lane, event } => event_done[event] = lane_done[lane].clone(),
                Step::Wait { lane, event } => {
                    for (l, e) in lane_done[lane].iter_mut().zip(&event_done[event]) {
                        *l |= *e;
                    }
                }
            }
        }
        before
    }

    fn chain_and_wide(branches: usize, depth: usize) -> (Dag, Vec<(usize, usize)>) {
        // Pure structure: host callbacks touching nothing, so only edges matter.
        let mut dag = Dag::new();
        let mut edges = Vec::new();
        for _ in 0..branches {
            let mut prev: Option<super::super::NodeId> = None;
            for _ in 0..depth {
                let after: Vec<_> = prev.into_iter().collect();
                let id = dag
                    .host_fn(|| {}, super::super::HostTouches::none(), &after)
                    .unwrap();
                if let Some(p) = prev {
                    edges.push((p.0, id.0));
                }
                prev = Some(id);
            }
        }
        (dag, edges)
    }

    fn checked(dag: &Dag) -> Checked {
        let device = crate::Device::cpu(crate::backend::cpu::CpuConfig::default());
        Checked::new(dag, &device).unwrap()
    }

    #[test]
    fn a_chain_uses_one_lane_and_no_events() {
        let (dag, _) = chain_and_wide(1, 50);
        let plan = Plan::new(&dag, &checked(&dag), 8);
        assert_eq!(plan.lanes, 1);
        assert_eq!(plan.cross_lane_waits(), 0);
        assert!(plan.steps.iter().all(|s| matches!(s, Step::Run { .. })));
    }

    #[test]
    fn independent_branches_get_their_own_lanes() {
        let (dag, _) = chain_and_wide(8, 10);
        let plan = Plan::new(&dag, &checked(&dag), 8);
        assert_eq!(plan.lanes, 8);
        assert_eq!(plan.cross_lane_waits(), 0);
        let mut lanes_of_branch = vec![std::collections::BTreeSet::new(); 8];
        for s in &plan.steps {
            if let Step::Run { lane, node } = *s {
                lanes_of_branch[node / 10].insert(lane);
            }
        }
        assert!(lanes_of_branch.iter().all(|l| l.len() == 1));
    }

    #[test]
    fn every_edge_is_honoured_on_a_small_pool() {
        // A diamond lattice: node (r, c) depends on (r-1, c) and (r-1, c+1).
        let mut dag = Dag::new();
        let width = 6;
        let mut prev_row: Vec<super::super::NodeId> = Vec::new();
        let mut edges = Vec::new();
        for _ in 0..5 {
            let mut row = Vec::new();
            for c in 0..width {
                let after: Vec<_> = prev_row
                    .iter()
                    .enumerate()
                    .filter(|(p, _)| *p == c || *p == c + 1)
                    .map(|(_, id)| *id)
                    .collect();
                let id = dag
                    .host_fn(|| {}, super::super::HostTouches::none(), &after)
                    .unwrap();
                edges.extend(after.iter().map(|a| (a.0, id.0)));
                row.push(id);
            }
            prev_row = row;
        }
        for pool in 1..=4 {
            let plan = Plan::new(&dag, &checked(&dag), pool);
            assert!(plan.lanes <= pool);
            let before = happens_before(&plan, dag.len());
            for &(a, b) in &edges {
                assert!(before[b][a], "pool {pool}: edge {a} -> {b} not enforced");
            }
            // No more waits than cross-lane edges.
            assert!(plan.cross_lane_waits() <= edges.len());
        }
    }
}
