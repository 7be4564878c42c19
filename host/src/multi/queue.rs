//! The chunk queue the balancer draws from: each device owns a contiguous block of chunk
//! indices (its planned share) and takes from its front; a device whose block is empty
//! steals one chunk at a time from the back of the largest remaining block.
//!
//! Taking from the front and stealing from the back keeps every device's work mostly
//! contiguous and makes owner and thief meet in the middle of a block, so no chunk is ever
//! handed out twice. Without stealing the queue is a static split.

use std::ops::Range;

/// Per-device blocks of chunk indices, with optional stealing.
#[derive(Debug, Clone)]
pub struct ChunkQueue {
    blocks: Vec<Range<usize>>,
    steal: bool,
    stolen: usize,
}

impl ChunkQueue {
    /// A queue over the given blocks (one per device, disjoint).
    pub fn new(blocks: Vec<Range<usize>>, steal: bool) -> ChunkQueue {
        ChunkQueue {
            blocks,
            steal,
            stolen: 0,
        }
    }

    /// The next chunk for `device`: its own next chunk, else (when stealing) the last chunk
    /// of the largest other block. `None` when nothing is left for it.
    pub fn next(&mut self, device: usize) -> Option<usize> {
        if let Some(i) = self.blocks[device].next() {
            return Some(i);
        }
        if !self.steal {
            return None;
        }
        let victim = (0..self.blocks.len())
            .filter(|&v| v != device)
            .max_by_key(|&v| (self.blocks[v].len(), std::cmp::Reverse(v)))?;
        let taken = self.blocks[victim].next_back()?;
        self.stolen += 1;
        Some(taken)
    }

    /// Whether `device` would get a chunk from [`ChunkQueue::next`].
    pub fn has_work_for(&self, device: usize) -> bool {
        !self.blocks[device].is_empty() || (self.steal && self.remaining() > 0)
    }

    /// Chunks not yet handed out.
    pub fn remaining(&self) -> usize {
        self.blocks.iter().map(Range::len).sum()
    }

    /// Chunks taken from another device's block so far.
    pub fn stolen(&self) -> usize {
        self.stolen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_chunk_is_handed_out_exactly_once() {
        let mut q = ChunkQueue::new(vec![0..3, 3..10], true);
        let mut seen = Vec::new();
        // Device 0 asks three times as often as device 1.
        while q.remaining() > 0 {
            for d in [0, 0, 0, 1] {
                if let Some(i) = q.next(d) {
                    seen.push((d, i));
                }
            }
        }
        let mut indices: Vec<usize> = seen.iter().map(|&(_, i)| i).collect();
        indices.sort_unstable();
        assert_eq!(indices, (0..10).collect::<Vec<_>>());
        assert!(q.stolen() > 0, "device 0 should have stolen from device 1");
        // Stolen chunks come from the back of device 1's block.
        assert!(seen.contains(&(0, 9)));
        assert_eq!(q.next(0), None);
    }

    #[test]
    fn without_stealing_the_split_is_static() {
        let mut q = ChunkQueue::new(vec![0..1, 1..4], false);
        assert_eq!(q.next(0), Some(0));
        assert_eq!(q.next(0), None);
        assert!(!q.has_work_for(0));
        assert!(q.has_work_for(1));
        assert_eq!(q.stolen(), 0);
    }
}
