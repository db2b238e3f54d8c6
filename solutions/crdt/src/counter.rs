//! Counters: grow-only, and positive-negative as two grow-only ones.

use std::collections::BTreeMap;

use crate::ReplicaId;

/// A grow-only counter: each replica counts its own increments, and the value
/// is the sum over replicas.
///
/// A replica's count only grows, so the largest count seen for a replica is
/// the most recent: `merge` takes the maximum per replica. Summing instead
/// would count an update again every time a state is received twice.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GCounter {
    /// Each replica's own increments. A replica that never incremented has no
    /// entry, which keeps equal states equal.
    counts: BTreeMap<ReplicaId, u64>,
}

impl GCounter {
    /// A counter at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `n` on behalf of `replica` (the replica making the change).
    pub fn increment(&mut self, replica: ReplicaId, n: u64) {
        if n == 0 {
            return;
        }
        let count = self.counts.entry(replica).or_insert(0);
        *count = count.saturating_add(n);
    }

    /// The sum of every replica's increments this state has seen.
    pub fn value(&self) -> u64 {
        self.counts
            .values()
            .fold(0, |sum, &count| sum.saturating_add(count))
    }

    /// Brings in everything `other` has seen: the larger count per replica.
    pub fn merge(&mut self, other: &GCounter) {
        for (&replica, &count) in &other.counts {
            let mine = self.counts.entry(replica).or_insert(0);
            *mine = (*mine).max(count);
        }
    }
}

/// A counter that goes up and down: a grow-only counter of increments and one
/// of decrements, the value being their difference.
///
/// One signed count per replica merged with `max` would not work: a replica's
/// signed count goes down, so the maximum keeps an older value and loses the
/// decrements made since.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PnCounter {
    increments: GCounter,
    decrements: GCounter,
}

impl PnCounter {
    /// A counter at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `n` on behalf of `replica`.
    pub fn increment(&mut self, replica: ReplicaId, n: u64) {
        self.increments.increment(replica, n);
    }

    /// Subtracts `n` on behalf of `replica`.
    pub fn decrement(&mut self, replica: ReplicaId, n: u64) {
        self.decrements.increment(replica, n);
    }

    /// Increments minus decrements, over every update this state has seen
    /// (saturating at the bounds of `i64`).
    pub fn value(&self) -> i64 {
        let value = i128::from(self.increments.value()) - i128::from(self.decrements.value());
        i64::try_from(value).unwrap_or(if value < 0 { i64::MIN } else { i64::MAX })
    }

    /// Brings in everything `other` has seen.
    pub fn merge(&mut self, other: &PnCounter) {
        self.increments.merge(&other.increments);
        self.decrements.merge(&other.decrements);
    }
}
