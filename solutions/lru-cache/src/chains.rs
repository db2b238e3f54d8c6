//! A slab of items threaded on `L` doubly linked lists ("chains") by index.
//!
//! This is the O(1) machinery behind both caches, without `unsafe` and
//! without `Rc<RefCell<..>>`: items and their links live in two `Vec`s
//! indexed by slot, links are slot indices, and freed slots are reused. An
//! item sits on every chain at once; each chain keeps its own order (the LRU cache uses one, by recency; the TTL
//! cache two, by recency and by time of last write).

/// The index that links to nothing.
const NIL: usize = usize::MAX;

#[derive(Debug, Clone, Copy)]
struct Link {
    prev: usize,
    next: usize,
}

const UNLINKED: Link = Link {
    prev: NIL,
    next: NIL,
};

/// The two ends of one chain: `first` is the oldest item, `last` the newest.
#[derive(Debug, Clone, Copy)]
struct Ends {
    first: usize,
    last: usize,
}

const EMPTY: Ends = Ends {
    first: NIL,
    last: NIL,
};

/// Items in a slab, each on `L` chains; every operation is O(1).
///
/// The items and their links are two parallel `Vec`s rather than one `Vec`
/// of nodes: moving an entry (what every `get` does) reads and writes only
/// links: 16-byte records that never straddle two cache lines and need no
/// check that their slot is occupied. At a million entries most of them are
/// cache misses, so how many lines a `get` touches is what it costs.
#[derive(Debug, Clone)]
pub(crate) struct Chains<T, const L: usize> {
    /// The items by slot, `None` for a free slot.
    items: Vec<Option<T>>,
    /// Each slot's place on every chain; meaningless for a free slot.
    links: Vec<[Link; L]>,
    /// Indices of the free slots, reused before the slab grows.
    free: Vec<usize>,
    ends: [Ends; L],
}

impl<T, const L: usize> Chains<T, L> {
    /// An empty slab with room for `capacity` items before it reallocates.
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Chains {
            items: Vec::with_capacity(capacity),
            links: Vec::with_capacity(capacity),
            free: Vec::new(),
            ends: [EMPTY; L],
        }
    }

    /// Adds `item` at the newest end of every chain and returns its index,
    /// which stays valid until the item is removed.
    pub(crate) fn push_back(&mut self, item: T) -> usize {
        let at = match self.free.pop() {
            Some(at) => {
                self.items[at] = Some(item);
                at
            }
            None => {
                self.items.push(Some(item));
                self.links.push([UNLINKED; L]);
                self.items.len() - 1
            }
        };
        for chain in 0..L {
            self.link_back(at, chain);
        }
        at
    }

    /// Takes the item at `at` off every chain and out of the slab.
    pub(crate) fn remove(&mut self, at: usize) -> T {
        for chain in 0..L {
            self.unlink(at, chain);
        }
        let item = self.items[at].take().expect(OCCUPIED);
        self.free.push(at);
        item
    }

    /// Moves the item at `at` to the newest end of `chain`.
    pub(crate) fn move_to_back(&mut self, at: usize, chain: usize) {
        if self.ends[chain].last != at {
            self.unlink(at, chain);
            self.link_back(at, chain);
        }
    }

    /// The index of the oldest item of `chain`.
    pub(crate) fn front(&self, chain: usize) -> Option<usize> {
        let first = self.ends[chain].first;
        (first != NIL).then_some(first)
    }

    pub(crate) fn get(&self, at: usize) -> &T {
        self.items[at].as_ref().expect(OCCUPIED)
    }

    pub(crate) fn get_mut(&mut self, at: usize) -> &mut T {
        self.items[at].as_mut().expect(OCCUPIED)
    }

    fn unlink(&mut self, at: usize, chain: usize) {
        let Link { prev, next } = self.links[at][chain];
        if prev == NIL {
            self.ends[chain].first = next;
        } else {
            self.links[prev][chain].next = next;
        }
        if next == NIL {
            self.ends[chain].last = prev;
        } else {
            self.links[next][chain].prev = prev;
        }
        self.links[at][chain] = UNLINKED;
    }

    fn link_back(&mut self, at: usize, chain: usize) {
        let last = self.ends[chain].last;
        self.links[at][chain] = Link {
            prev: last,
            next: NIL,
        };
        if last == NIL {
            self.ends[chain].first = at;
        } else {
            self.links[last][chain].next = at;
        }
        self.ends[chain].last = at;
    }
}

/// Indices come from the caches' maps, which hold exactly the occupied
/// slots: a free slot behind one is a bug in this crate, not bad input.
const OCCUPIED: &str = "a linked index names an occupied slot";
