//! Reference solution of the lru-cache kata: the in-process cache in front of
//! a slow service.
//!
//! [`LruCache`] holds at most `capacity` entries and, when a new key arrives
//! at a full cache, evicts the least recently used one. [`TtlCache`] does the
//! same with entries that also expire a fixed `ttl` after their last write,
//! on a clock the caller passes in.
//!
//! Both are a `HashMap` from key to slot plus a slab of entries threaded on
//! doubly linked lists by index (see `chains.rs`): a lookup is one hash
//! probe (foldhash rather than `std`'s SipHash, see `FastHash`), and moving
//! an entry to the most recent end, evicting the least recent one or
//! expiring the oldest write are a few index updates. Every operation is
//! O(1) (expiry amortised), with no `unsafe` and no `Rc<RefCell<..>>`.

mod chains;
mod lru;
mod ttl;

pub use lru::LruCache;
pub use ttl::TtlCache;

/// How many slots `new` reserves at most up front: a cache of a million
/// entries grows to its size as it fills, and `new(usize::MAX)` must not try
/// to allocate its capacity.
const PREALLOCATE: usize = 1 << 12;

/// The hasher of the caches' maps: foldhash, not `std`'s default SipHash-1-3.
///
/// SipHash is a keyed hash chosen to resist HashDoS: an attacker who picks
/// the keys (query strings, JSON field names) cannot make them all collide
/// without the per-process random key. That safety costs 10-20 ns a lookup,
/// more than the rest of a `get` on a warm cache. foldhash is several times
/// faster and still seeds itself at random per map, but promises no HashDoS
/// resistance: fine for keys the service makes itself (item ids), not for a
/// cache keyed by whatever a client sends. See the README's follow-ups.
type FastHash = foldhash::fast::RandomState;
