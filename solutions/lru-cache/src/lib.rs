//! Reference solution of the lru-cache kata: the in-process cache in front of
//! a slow service.
//!
//! [`LruCache`] holds at most `capacity` entries and, when a new key arrives
//! at a full cache, evicts the least recently used one. [`TtlCache`] does the
//! same with entries that also expire a fixed `ttl` after their last write,
//! on a clock the caller passes in.
//!
//! Both are a `HashMap` from key to slot plus a slab of nodes threaded on
//! doubly linked lists by index (see `chains.rs`): a lookup is one hash
//! probe, and moving an entry to the most recent end, evicting the least
//! recent one or expiring the oldest write are a few index updates. Every
//! operation is O(1) (expiry amortised), with no `unsafe` and no
//! `Rc<RefCell<..>>`.

mod chains;
mod lru;
mod ttl;

pub use lru::LruCache;
pub use ttl::TtlCache;

/// How many slots `new` reserves at most up front: a cache of a million
/// entries grows to its size as it fills, and `new(usize::MAX)` must not try
/// to allocate its capacity.
const PREALLOCATE: usize = 1 << 12;
