//! Deterministic probes for kata specs. A README that states a bound
//! ("O(1) per call", "memory proportional to the capacity", "the claim uses
//! an index") is pinned by counting, never by a stopwatch:
//!
//! - [`alloc`]: a counting global allocator. Allocations, bytes and live
//!   bytes of the current thread while a closure runs.
//! - [`keys`]: key types that count their `hash`, `eq` and `cmp` calls (so
//!   complexity is a count at two sizes), and a key whose hash is constant.
//! - [`sql`] (feature `sqlite`): `EXPLAIN QUERY PLAN`, and an assertion that
//!   a query searches an index instead of scanning a table or sorting in a
//!   temporary B-tree.
//! - [`history`]: whether a recorded history of client operations is
//!   linearizable against a sequential model (a register, or one of the
//!   spec's own), for the distributed katas' safety checks.
//! - [`markers`]: whether a value's type is `Send` or `Sync`, as a `bool`
//!   a spec asserts with a message rather than a bound that fails to
//!   compile.
//! - [`sim`]: the seeds a simulated-network spec runs, and a failure
//!   message that names its seed and the commands that replay it.
//!
//! Counts are per thread, so libtest's parallel tests do not disturb one
//! another; a spec that measures work done on other threads joins them first
//! or measures there.

pub mod alloc;
pub mod history;
pub mod keys;
pub mod markers;
pub mod sim;
#[cfg(feature = "sqlite")]
pub mod sql;
