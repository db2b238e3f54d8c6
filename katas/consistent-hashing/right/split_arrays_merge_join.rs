//! Right: instead of one sorted `Vec<(u64, String)>` re-sorted on every join (or a
//! `BTreeMap<u64, String>`), the ring is kept as two parallel arrays (struct of arrays):
//! `hashes: Vec<u64>` (sorted, searched with `partition_point`) and `owners: Vec<u32>`, small
//! ids into an interned name table with a free list. A join sorts only the node's own V points
//! and merges them into the ring in one linear pass (O(P + V log V)); a leave is one `retain`
//! over both arrays by owner id. Lookups touch a dense `u64` array and allocate nothing. Ties on
//! a shared point are ordered by node name, as the stub documents.

use std::collections::BTreeMap;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// 64-bit FNV-1a of `bytes`, then MurmurHash3's `fmix64`.
pub fn ring_hash(bytes: &[u8]) -> u64 {
    let h = bytes
        .iter()
        .fold(FNV_OFFSET, |h, &b| (h ^ u64::from(b)).wrapping_mul(FNV_PRIME));
    let mut k = h;
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^= k >> 33;
    k
}

/// A consistent-hash ring of named nodes, each placed on the ring as
/// `vnodes_per_node` virtual nodes.
#[derive(Debug, Clone)]
pub struct HashRing {
    vnodes: usize,
    /// Sorted points of every virtual node.
    hashes: Vec<u64>,
    /// `owners[i]` is the slot (in `names`) of the node owning `hashes[i]`.
    owners: Vec<u32>,
    /// Interned names by slot; a freed slot holds an empty string until reused.
    names: Vec<String>,
    free: Vec<u32>,
    /// Member name -> slot, in byte order of the names.
    members: BTreeMap<String, u32>,
}

impl HashRing {
    /// An empty ring.
    ///
    /// # Panics
    /// If `vnodes_per_node` is zero.
    pub fn new(vnodes_per_node: usize) -> Self {
        assert!(vnodes_per_node != 0, "vnodes_per_node must be at least 1");
        HashRing {
            vnodes: vnodes_per_node,
            hashes: Vec::new(),
            owners: Vec::new(),
            names: Vec::new(),
            free: Vec::new(),
            members: BTreeMap::new(),
        }
    }

    /// Adds `node` and its virtual nodes; `false` if already a member.
    pub fn add_node(&mut self, node: &str) -> bool {
        if self.members.contains_key(node) {
            return false;
        }
        let slot = match self.free.pop() {
            Some(s) => {
                self.names[s as usize] = node.to_owned();
                s
            }
            None => {
                self.names.push(node.to_owned());
                u32::try_from(self.names.len() - 1).expect("fewer than 2^32 nodes")
            }
        };
        self.members.insert(node.to_owned(), slot);

        let mut label = String::with_capacity(node.len() + 21);
        let mut fresh: Vec<u64> = (0..self.vnodes)
            .map(|i| {
                use std::fmt::Write;
                label.clear();
                let _ = write!(label, "{node}#{i}");
                ring_hash(label.as_bytes())
            })
            .collect();
        fresh.sort_unstable();

        // Merge the node's sorted points into the ring, one linear pass.
        let total = self.hashes.len() + fresh.len();
        let mut hashes = Vec::with_capacity(total);
        let mut owners = Vec::with_capacity(total);
        let (mut i, mut j) = (0, 0);
        while i < self.hashes.len() || j < fresh.len() {
            let take_old = if j == fresh.len() {
                true
            } else if i == self.hashes.len() {
                false
            } else {
                let (ho, hn) = (self.hashes[i], fresh[j]);
                // On a shared point the smaller node name comes first.
                ho < hn || (ho == hn && self.names[self.owners[i] as usize].as_str() < node)
            };
            if take_old {
                hashes.push(self.hashes[i]);
                owners.push(self.owners[i]);
                i += 1;
            } else {
                hashes.push(fresh[j]);
                owners.push(slot);
                j += 1;
            }
        }
        self.hashes = hashes;
        self.owners = owners;
        true
    }

    /// Removes `node` and all its virtual nodes; `false` if not a member.
    pub fn remove_node(&mut self, node: &str) -> bool {
        let Some(slot) = self.members.remove(node) else {
            return false;
        };
        let mut w = 0;
        for r in 0..self.hashes.len() {
            if self.owners[r] != slot {
                self.hashes[w] = self.hashes[r];
                self.owners[w] = self.owners[r];
                w += 1;
            }
        }
        self.hashes.truncate(w);
        self.owners.truncate(w);
        self.names[slot as usize] = String::new();
        self.free.push(slot);
        true
    }

    fn first_at_or_after(&self, key: &[u8]) -> usize {
        let h = ring_hash(key);
        let i = self.hashes.partition_point(|&p| p < h);
        if i == self.hashes.len() { 0 } else { i }
    }

    /// The owner of the first virtual node at or after the key's point.
    pub fn node_for<K: AsRef<[u8]> + ?Sized>(&self, key: &K) -> Option<&str> {
        if self.hashes.is_empty() {
            return None;
        }
        let i = self.first_at_or_after(key.as_ref());
        Some(&self.names[self.owners[i] as usize])
    }

    /// The first `n` distinct nodes clockwise from the key's point.
    pub fn replicas<K: AsRef<[u8]> + ?Sized>(&self, key: &K, n: usize) -> Vec<&str> {
        let want = n.min(self.members.len());
        if want == 0 || self.hashes.is_empty() {
            return Vec::new();
        }
        let mut slots: Vec<u32> = Vec::with_capacity(want);
        let start = self.first_at_or_after(key.as_ref());
        let (wrapped, from_start) = self.owners.split_at(start);
        for &o in from_start.iter().chain(wrapped) {
            if !slots.contains(&o) {
                slots.push(o);
                if slots.len() == want {
                    break;
                }
            }
        }
        slots.iter().map(|&s| self.names[s as usize].as_str()).collect()
    }

    /// The members, in byte order.
    pub fn nodes(&self) -> Vec<&str> {
        self.members.keys().map(String::as_str).collect()
    }
}
