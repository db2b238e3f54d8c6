//! Reference solution of the crdt kata: state-based CRDTs (convergent
//! replicated data types) for an active-active store.
//!
//! Every type here is a *state-based* CRDT: replicas apply updates locally,
//! ship their whole state to each other, and [`merge`](GCounter::merge) it in.
//! The states of each type form a join-semilattice and `merge` is its join
//! (least upper bound), which is what makes it commutative, associative and
//! idempotent: replicas that have received the same updates, in any order,
//! any number of times, hold the same value.
//!
//! - [`GCounter`]: a grow-only counter, one monotone count per replica.
//! - [`PnCounter`]: increments and decrements, as two grow-only counters.
//! - [`LwwRegister`]: one value, the write with the greatest
//!   `(timestamp, replica)` wins.
//! - [`OrSet`]: an add-wins observed-remove set: a remove takes away only the
//!   adds it has seen, so an add concurrent with it survives.

mod counter;
mod orset;
mod register;

pub use counter::{GCounter, PnCounter};
pub use orset::OrSet;
pub use register::LwwRegister;

/// Identifies a replica. Each replica passes its own id to the operations it
/// makes, and no two replicas share one.
pub type ReplicaId = u32;
