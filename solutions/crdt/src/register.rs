//! The last-writer-wins register.

use crate::ReplicaId;

/// A register holding one value: of all the writes a state has seen, the one
/// with the greatest `(timestamp, replica)` wins.
///
/// Comparing the pair, not the timestamp alone, is the deterministic
/// tie-break: two writes at the same timestamp are ordered by replica id (the
/// larger wins) on every replica, whatever order they arrive in. A rule that
/// keeps the incoming (or the current) value on a tie depends on arrival order
/// and leaves replicas disagreeing for ever.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LwwRegister<T> {
    /// The winning write so far; `None` until the first.
    current: Option<Write<T>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Write<T> {
    value: T,
    timestamp: u64,
    replica: ReplicaId,
}

impl<T> Write<T> {
    /// The order in which writes win.
    fn stamp(&self) -> (u64, ReplicaId) {
        (self.timestamp, self.replica)
    }
}

impl<T: Clone> LwwRegister<T> {
    /// An empty register.
    pub fn new() -> Self {
        LwwRegister { current: None }
    }

    /// Writes `value` at `timestamp` on behalf of `replica`. The write is kept
    /// only if `(timestamp, replica)` is greater than the current write's: a
    /// local write older than what the register already holds loses, exactly
    /// as it would on merge.
    ///
    /// A replica never writes twice at the same timestamp (its clock is a
    /// Lamport or hybrid logical clock), so `(timestamp, replica)` identifies
    /// a write.
    pub fn set(&mut self, value: T, timestamp: u64, replica: ReplicaId) {
        let write = Write {
            value,
            timestamp,
            replica,
        };
        if self.loses_to(&write) {
            self.current = Some(write);
        }
    }

    /// The value of the winning write, or `None` if nothing was written.
    pub fn get(&self) -> Option<&T> {
        self.current.as_ref().map(|write| &write.value)
    }

    /// Keeps whichever of the two winning writes is greater.
    pub fn merge(&mut self, other: &LwwRegister<T>) {
        if let Some(theirs) = &other.current
            && self.loses_to(theirs)
        {
            self.current = Some(theirs.clone());
        }
    }

    /// Whether `write` beats the current write.
    fn loses_to(&self, write: &Write<T>) -> bool {
        self.current
            .as_ref()
            .is_none_or(|current| write.stamp() > current.stamp())
    }
}

impl<T: Clone> Default for LwwRegister<T> {
    fn default() -> Self {
        Self::new()
    }
}
