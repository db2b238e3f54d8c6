//! A slab of nodes threaded on `L` doubly linked lists ("chains") by index.
//!
//! This is the O(1) machinery behind both caches, without `unsafe` and
//! without `Rc<RefCell<..>>`: nodes live in one `Vec`, links are indices into
//! it, and freed slots are reused. A node sits on every chain at once; each
//! chain keeps its own order (the LRU cache uses one, by recency; the TTL
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

/// The two ends of one chain: `first` is the oldest node, `last` the newest.
#[derive(Debug, Clone, Copy)]
struct Ends {
    first: usize,
    last: usize,
}

const EMPTY: Ends = Ends {
    first: NIL,
    last: NIL,
};

#[derive(Debug, Clone)]
struct Node<T, const L: usize> {
    item: T,
    links: [Link; L],
}

/// Items in a slab, each on `L` chains; every operation is O(1).
#[derive(Debug, Clone)]
pub(crate) struct Chains<T, const L: usize> {
    slots: Vec<Option<Node<T, L>>>,
    /// Indices of the `None` slots, reused before the slab grows.
    free: Vec<usize>,
    ends: [Ends; L],
}

impl<T, const L: usize> Chains<T, L> {
    /// An empty slab with room for `capacity` items before it reallocates.
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Chains {
            slots: Vec::with_capacity(capacity),
            free: Vec::new(),
            ends: [EMPTY; L],
        }
    }

    /// Adds `item` at the newest end of every chain and returns its index,
    /// which stays valid until the item is removed.
    pub(crate) fn push_back(&mut self, item: T) -> usize {
        let node = Some(Node {
            item,
            links: [UNLINKED; L],
        });
        let at = match self.free.pop() {
            Some(at) => {
                self.slots[at] = node;
                at
            }
            None => {
                self.slots.push(node);
                self.slots.len() - 1
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
        let node = self.slots[at].take().expect(OCCUPIED);
        self.free.push(at);
        node.item
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
        &self.node(at).item
    }

    pub(crate) fn get_mut(&mut self, at: usize) -> &mut T {
        &mut self.node_mut(at).item
    }

    fn node(&self, at: usize) -> &Node<T, L> {
        self.slots[at].as_ref().expect(OCCUPIED)
    }

    fn node_mut(&mut self, at: usize) -> &mut Node<T, L> {
        self.slots[at].as_mut().expect(OCCUPIED)
    }

    fn unlink(&mut self, at: usize, chain: usize) {
        let Link { prev, next } = self.node(at).links[chain];
        if prev == NIL {
            self.ends[chain].first = next;
        } else {
            self.node_mut(prev).links[chain].next = next;
        }
        if next == NIL {
            self.ends[chain].last = prev;
        } else {
            self.node_mut(next).links[chain].prev = prev;
        }
        self.node_mut(at).links[chain] = UNLINKED;
    }

    fn link_back(&mut self, at: usize, chain: usize) {
        let last = self.ends[chain].last;
        self.node_mut(at).links[chain] = Link {
            prev: last,
            next: NIL,
        };
        if last == NIL {
            self.ends[chain].first = at;
        } else {
            self.node_mut(last).links[chain].next = at;
        }
        self.ends[chain].last = at;
    }
}

/// Indices come from the caches' maps, which hold exactly the occupied
/// slots: a free slot behind one is a bug in this crate, not bad input.
const OCCUPIED: &str = "a linked index names an occupied slot";
