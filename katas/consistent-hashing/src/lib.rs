//! # Consistent hashing
//!
//! The ring that shards a cache (or a database) over many nodes, so that a
//! node joining or leaving moves only the keys it must. Read `README.md`
//! beside this file for the problem, then make the specification pass:
//!
//! ```text
//! cargo xtask kata consistent-hashing
//! ```
//!
//! The hash function is part of the specification ([`ring_hash`]): every
//! process that builds the same ring must send every key to the same node, on
//! any platform, in any run. Never use `std::collections::hash_map::
//! DefaultHasher` or `RandomState` here: they are seeded per process.

// The bodies below are `todo!()`, so their arguments go unused until you
// write them. Delete this line when you are done.
#![allow(unused_variables)]

/// The position of `bytes` on the ring, exactly as specified:
///
/// 1. **64-bit FNV-1a** of the bytes: start from the offset basis
///    `0xcbf29ce484222325`; for each byte, XOR the byte into the hash, then
///    multiply by the prime `0x100000001b3` (wrapping, modulo 2^64).
/// 2. **MurmurHash3's 64-bit finaliser** (`fmix64`) of that value:
///
/// ```text
/// k ^= k >> 33;  k = k * 0xff51afd7ed558ccd  (wrapping)
/// k ^= k >> 33;  k = k * 0xc4ceb9fe1a85ec53  (wrapping)
/// k ^= k >> 33;
/// ```
///
/// For example `ring_hash(b"")` is `0xefd01f60ba992926` and
/// `ring_hash(b"a")` is `0x82a2a958a9bece5b` (FNV-1a alone gives
/// `0xcbf29ce484222325` and `0xaf63dc4c8601ec8c`).
///
/// Keys are placed at `ring_hash(key)`; virtual node `i` of node `"cache-a"`
/// at `ring_hash(b"cache-a#i")`, with `i` in decimal from 0
/// (`"cache-a#0"`, `"cache-a#1"`, ...).
pub fn ring_hash(bytes: &[u8]) -> u64 {
    todo!("ring_hash: 64-bit FNV-1a over the bytes, then fmix64")
}

/// A consistent-hash ring of named nodes, each placed on the ring as
/// `vnodes_per_node` virtual nodes.
///
/// A key belongs to the owner of the first virtual node at or after the
/// key's point, going clockwise (towards larger `u64`) and wrapping around
/// past `u64::MAX` to the smallest point. Should two virtual nodes ever share
/// a point, the one whose node name is smaller (in byte order) comes first.
#[derive(Debug, Clone)]
pub struct HashRing {
    // Your fields here: what must the ring remember to answer `node_for`
    // in O(log(number of virtual nodes))?
}

impl HashRing {
    /// An empty ring whose nodes will each own `vnodes_per_node` points,
    /// hashed from `"{node}#0"` to `"{node}#{vnodes_per_node - 1}"`.
    ///
    /// # Panics
    /// If `vnodes_per_node` is zero.
    pub fn new(vnodes_per_node: usize) -> Self {
        todo!("HashRing::new: an empty ring")
    }

    /// Adds `node` and its virtual nodes. Returns `false`, changing nothing,
    /// if it is already a member.
    pub fn add_node(&mut self, node: &str) -> bool {
        todo!("HashRing::add_node: place the node's virtual nodes on the ring")
    }

    /// Removes `node` and all of its virtual nodes. Returns `false`,
    /// changing nothing, if it was not a member.
    pub fn remove_node(&mut self, node: &str) -> bool {
        todo!("HashRing::remove_node: take every one of its virtual nodes off the ring")
    }

    /// The node that owns `key`: the owner of the first virtual node at or
    /// after `ring_hash(key)`, wrapping around. `None` on an empty ring.
    ///
    /// Takes anything that is bytes: `ring.node_for("user:42")`,
    /// `ring.node_for(b"user:42")`, `ring.node_for(&string)`.
    pub fn node_for<K: AsRef<[u8]> + ?Sized>(&self, key: &K) -> Option<&str> {
        todo!("HashRing::node_for: the first virtual node at or after the key's point")
    }

    /// The key's preference list: the first `n` *distinct* nodes met walking
    /// clockwise from the key's point, starting with
    /// [`node_for`](Self::node_for). Fewer than `n` (every node, once) if the
    /// ring has fewer than `n` nodes; empty on an empty ring or for `n == 0`.
    pub fn replicas<K: AsRef<[u8]> + ?Sized>(&self, key: &K, n: usize) -> Vec<&str> {
        todo!("HashRing::replicas: walk on from node_for, skipping nodes already listed")
    }

    /// The members of the ring, each once, in byte order of their names.
    pub fn nodes(&self) -> Vec<&str> {
        todo!("HashRing::nodes: the member names, sorted")
    }
}
