//! Sets of row ordinals as sorted, disjoint, inclusive ranges: what the
//! journal records (a batch's rows, the rows sorted so far) and what resume
//! reads back. Memory and time follow the number of ranges, never the
//! values in them, so a damaged journal naming row 2^63 costs nothing.

use serde::{Deserialize, Serialize};

/// Inclusive ranges of ordinals, sorted and disjoint once normalized.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RangeSet(Vec<(u64, u64)>);

impl RangeSet {
    /// The set of the given ordinals (cheapest in increasing order).
    pub fn of(ordinals: impl IntoIterator<Item = u64>) -> RangeSet {
        let mut set = RangeSet::default();
        for o in ordinals {
            set.push(o);
        }
        set
    }

    /// Adds one ordinal; cheap when ordinals come in increasing order.
    pub fn push(&mut self, o: u64) {
        match self.0.last_mut() {
            Some((_, end)) if end.checked_add(1) == Some(o) => *end = o,
            Some((_, end)) if *end >= o => {
                self.0.push((o, o));
                self.normalize();
            }
            _ => self.0.push((o, o)),
        }
    }

    /// Adds every range of `other`.
    pub fn extend(&mut self, other: &RangeSet) {
        self.0.extend_from_slice(&other.0);
        self.normalize();
    }

    /// Sorts and merges overlapping or touching ranges; drops reversed ones.
    fn normalize(&mut self) {
        self.0.retain(|(a, b)| a <= b);
        self.0.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(self.0.len());
        for &(a, b) in &self.0 {
            match merged.last_mut() {
                Some((_, end)) if a <= end.saturating_add(1) => *end = (*end).max(b),
                _ => merged.push((a, b)),
            }
        }
        self.0 = merged;
    }

    pub fn contains(&self, o: u64) -> bool {
        let i = self.0.partition_point(|&(_, b)| b < o);
        self.0.get(i).is_some_and(|&(a, _)| a <= o)
    }

    /// How many ordinals the set holds.
    pub fn count(&self) -> u64 {
        self.0.iter().fold(0u64, |n, (a, b)| n.saturating_add((b - a).saturating_add(1)))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether every range is well formed (start <= end): checked when a
    /// set is read back from a file.
    pub fn is_valid(&self) -> bool {
        self.0.iter().all(|(a, b)| a <= b)
    }

    /// The largest ordinal in the set.
    pub fn max(&self) -> Option<u64> {
        self.0.iter().map(|&(_, b)| b).max()
    }

    /// Empties the set, keeping its memory.
    pub fn clear(&mut self) {
        self.0.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_merge_and_answer_membership() {
        let mut s = RangeSet::of([1, 2, 3, 7, 9, 10]);
        assert_eq!(s, RangeSet(vec![(1, 3), (7, 7), (9, 10)]));
        assert!(s.contains(2) && s.contains(7) && s.contains(10));
        assert!(!s.contains(0) && !s.contains(4) && !s.contains(8) && !s.contains(11));
        s.push(11);
        s.push(5);
        assert_eq!(s, RangeSet(vec![(1, 3), (5, 5), (7, 7), (9, 11)]));
        s.extend(&RangeSet(vec![(4, 4), (6, 8)]));
        assert_eq!(RangeSet::of([5, 3, 4, 9]), RangeSet(vec![(3, 5), (9, 9)]));
        assert_eq!(s, RangeSet(vec![(1, 11)]));
        assert_eq!(s.count(), 11);
    }

    #[test]
    fn huge_ranges_cost_nothing() {
        let s = RangeSet(vec![(0, u64::MAX - 1)]);
        assert!(s.contains(1 << 62));
        assert_eq!(s.count(), u64::MAX);
        assert!(!RangeSet(vec![(5, 2)]).is_valid());
    }
}
