//! # Quorum key-value store
//!
//! One node of a Dynamo-style replicated key-value store: every node is a
//! **replica** (it stores versioned values and answers `Get` and `Put`) and
//! a **coordinator** (it takes a client's `get` or `put`, fans it out to
//! every replica, waits for R answers or W acknowledgements, and fails the
//! operation when its timeout passes first). Read `README.md` beside this
//! file for the problem, then make the specification pass:
//!
//! ```text
//! cargo xtask kata quorum-kv
//! ```
//!
//! The node is **sans-IO**: it never reads a clock, opens a socket or spawns
//! a task. The caller (the spec's driver, which runs every node as a host of
//! a simulated network) hands it the time in every call, starts client
//! operations with [`Node::get`] and [`Node::put`], delivers the messages
//! that arrive with [`Node::receive`], calls [`Node::tick`] often, sends
//! every [`Outgoing`] message the node returns and hands every
//! [`Completion`] back to the client that asked.
//!
//! Everything but the behaviour of [`Node`] is given: the wire vocabulary
//! ([`Message`], [`RequestId`], [`Version`], [`Versioned`]), the
//! configuration, what a call returns ([`Output`], [`Completion`]) and the
//! errors.

// The bodies below are `todo!()`, so their arguments go unused until you
// write them. Delete this line when you are done.
#![allow(unused_variables)]

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// Identifies a node of the cluster. Every node knows every other node's id
/// (the membership is fixed), and every node holds a replica of every key.
pub type NodeId = u64;

/// A key of the store. Keys are compared byte for byte: `"a"` and `"A"` are
/// two keys, and any string (the empty one, one with separators or NULs) is
/// a key.
pub type Key = String;

/// A value of the store: any bytes.
pub type Value = Vec<u8>;

/// The version of a stored value. Versions are totally ordered: by
/// `counter` first, then by `writer` (the derived `Ord`, field by field),
/// and the higher version wins everywhere: in a replica, in a read, in a
/// read repair.
///
/// A coordinator gives each write a version of its own: `counter` one above
/// the highest counter it learned of for that key (the R answers of the
/// write's first phase, and what its own replica stores when it picks),
/// `writer` its own id. Two coordinators that write the same key at once may
/// pick the same counter, never the same version; two writes of one key
/// through one coordinator never pick the same counter. Counter 0 is no version: no message ever carries
/// it (see [`ReceiveError::Malformed`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    /// The logical clock of the key: one above the highest counter the
    /// writing coordinator learned of.
    pub counter: u64,
    /// The coordinator that issued the version.
    pub writer: NodeId,
}

/// A value with its version: what a replica stores for a key, and what a
/// read returns.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Versioned {
    /// The version; the higher one wins.
    pub version: Version,
    /// The bytes written with that version.
    pub value: Value,
}

/// Names one client operation, and every message sent for it: the
/// coordinator's `boot` and a sequence number of that boot.
///
/// A coordinator forgets its operations when it crashes; the caller gives
/// it a higher `boot` at every start, so the ids of a new boot never equal
/// those of an old one, and an answer to an operation of a previous boot
/// (delayed in the network) cannot be taken for an answer to a new one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId {
    /// The boot of the coordinator that issued it (see [`Node::new`]).
    pub boot: u64,
    /// A number the coordinator never reuses within that boot.
    pub seq: u64,
}

/// The messages nodes send one another. The sender is not in the message:
/// the network tells the receiver who sent it (`from` in
/// [`Node::receive`]).
///
/// The network loses, delays, duplicates and reorders messages.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Message {
    /// Coordinator to replica: "what do you store for `key`?" Sent for a
    /// read, and for the first phase of a write (which learns the highest
    /// version before it picks its own).
    Get {
        /// The operation it belongs to.
        request: RequestId,
        /// The key asked for.
        key: Key,
    },
    /// Replica to coordinator: the answer to a `Get`.
    GetReply {
        /// The `request` of the `Get` it answers.
        request: RequestId,
        /// What the replica stores for the key, `None` if nothing.
        stored: Option<Versioned>,
    },
    /// Coordinator to replica: "store `value` under `key` unless you hold
    /// a higher version". Sent for the second phase of a write, and as a
    /// read repair.
    Put {
        /// The operation it belongs to.
        request: RequestId,
        /// The key to write.
        key: Key,
        /// The value and its version.
        value: Versioned,
    },
    /// Replica to coordinator: "I hold `request`'s version of the key, or a
    /// higher one". Sent only once that is true.
    PutAck {
        /// The `request` of the `Put` it answers.
        request: RequestId,
    },
}

/// A message for the caller to send.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Outgoing {
    /// The peer it goes to (never the sender itself).
    pub to: NodeId,
    /// What it says.
    pub message: Message,
}

/// What a client operation answered.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Answer {
    /// A read: the value with the highest version among the R replicas
    /// counted, `None` if none of them stores the key.
    Read(Option<Versioned>),
    /// A write: stored by W replicas, with this version.
    Written(Version),
}

/// A client operation that has finished, successfully or not.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Completion {
    /// The id [`Node::get`] or [`Node::put`] returned for it.
    pub request: RequestId,
    /// Its answer, or why it failed.
    pub result: Result<Answer, OpError>,
}

/// What one call to the node asks of its caller: messages to send, and
/// client operations that finished during the call (each exactly once).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Output {
    /// Messages to send, in order.
    pub messages: Vec<Outgoing>,
    /// Operations that finished, in the order they finished.
    pub completed: Vec<Completion>,
}

/// The quorum sizes and the coordinator's timeout, the same for every node
/// of the cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// R: how many distinct replicas must answer a read (and the first
    /// phase of a write) before it completes. `1..=N`.
    pub read_quorum: usize,
    /// W: how many distinct replicas must acknowledge a write before it
    /// completes. `1..=N`.
    pub write_quorum: usize,
    /// How long a coordinator waits for an operation's quorum, from the
    /// call that started it; at `start + timeout` an operation still short
    /// of its quorum fails with [`OpError::Timeout`]. Not zero.
    pub timeout: Duration,
}

impl Config {
    /// The usual choice for `replicas` nodes: R = W = a majority, a 100 ms
    /// timeout. R + W > N, so every read quorum meets every write quorum.
    pub fn majority(replicas: usize) -> Config {
        Config {
            read_quorum: replicas / 2 + 1,
            write_quorum: replicas / 2 + 1,
            timeout: Duration::from_millis(100),
        }
    }
}

/// Why [`Node::new`] refused to build a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// The node's own id is among its peers.
    PeerIsSelf,
    /// A peer is listed twice.
    DuplicatePeer(NodeId),
    /// R or W is 0 or above N, the number of replicas (the node and its
    /// peers). R + W ≤ N is allowed: it is a weaker store, not an error.
    InvalidQuorum {
        /// The `read_quorum` asked for.
        read: usize,
        /// The `write_quorum` asked for.
        write: usize,
        /// N.
        replicas: usize,
    },
    /// The timeout is zero.
    ZeroTimeout,
}

/// Why a client operation failed. A failed write may still have been
/// stored by some replicas (fewer than W as far as the coordinator knows):
/// later reads may see it or not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OpError {
    /// The operation did not reach its quorum before `start + timeout`.
    Timeout,
    /// A write found the key at counter `u64::MAX`: there is no higher
    /// version to give it. Nothing was written.
    VersionsExhausted,
}

/// Why [`Node::receive`] refused a message. A refused message changes
/// nothing in the node and is never answered, nor a panic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReceiveError {
    /// `from` is not one of the node's peers (its own id included: a node
    /// never sends to itself).
    UnknownNode(NodeId),
    /// The message carries a version with counter 0, which no write ever
    /// has.
    Malformed,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::PeerIsSelf => write!(f, "a node cannot be its own peer"),
            ConfigError::DuplicatePeer(id) => write!(f, "peer {id} is listed twice"),
            ConfigError::InvalidQuorum {
                read,
                write,
                replicas,
            } => write!(
                f,
                "R = {read} and W = {write} must each be between 1 and N = {replicas}"
            ),
            ConfigError::ZeroTimeout => write!(f, "the timeout must not be zero"),
        }
    }
}

impl fmt::Display for OpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpError::Timeout => write!(f, "no quorum before the timeout"),
            OpError::VersionsExhausted => write!(f, "the key's version counter is at u64::MAX"),
        }
    }
}

impl fmt::Display for ReceiveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReceiveError::UnknownNode(id) => write!(f, "node {id} is not a peer"),
            ReceiveError::Malformed => write!(f, "a version never has counter 0"),
        }
    }
}

impl std::error::Error for ConfigError {}
impl std::error::Error for OpError {}
impl std::error::Error for ReceiveError {}

/// One node of the cluster: a replica and a coordinator.
///
/// ```no_run
/// use std::time::Duration;
/// use quorum_kv::{Answer, Config, Message, Node, Version};
///
/// let ms = Duration::from_millis;
/// // Node 1 of the cluster {1, 2, 3}, R = W = 2, first boot, nothing stored.
/// let mut node = Node::new(1, &[2, 3], Config::majority(3), 0, Default::default(), ms(0))?;
///
/// // A write: first the versions. Node 1 answers itself; 2 and 3 are asked.
/// let (put, out) = node.put("cart:7".to_string(), b"socks".to_vec(), ms(0));
/// assert_eq!(out.messages.len(), 2); // Get { request: put, key: "cart:7" } to 2 and 3
///
/// // Node 2 stores nothing either: R = 2 answers, so version (1, 1) is
/// // picked, stored locally, and sent to 2 and 3.
/// let out = node.receive(2, Message::GetReply { request: put, stored: None }, ms(3))?;
/// assert_eq!(out.messages.len(), 2); // Put { request: put, value: (1, 1) "socks" }
///
/// // One acknowledgement besides its own is W = 2: the write completes.
/// let out = node.receive(3, Message::PutAck { request: put }, ms(5))?;
/// let written = Version { counter: 1, writer: 1 };
/// assert_eq!(out.completed[0].result, Ok(Answer::Written(written)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Node {
    // Your fields here: the node's id and peers, the config, its replica's
    // store, the operations in flight (and what each has heard), the
    // next sequence number, the latest `now` seen.
}

impl Node {
    /// Builds node `id` of the cluster `{id} ∪ peers` (N = `peers.len() +
    /// 1` replicas) at time `now`, with no operation in flight.
    ///
    /// `boot` numbers this start of the node: the caller gives a higher one
    /// at every restart, and the node puts it in every [`RequestId`] it
    /// issues. `stored` is what its replica stored before (its disk, saved
    /// by the caller from [`Node::snapshot`]; empty on the first boot).
    ///
    /// Refuses its own id among the peers, a peer listed twice, an R or W
    /// of 0 or above N, and a zero timeout ([`ConfigError`]). An empty
    /// `peers` is a one-node store.
    pub fn new(
        id: NodeId,
        peers: &[NodeId],
        config: Config,
        boot: u64,
        stored: BTreeMap<Key, Versioned>,
        now: Duration,
    ) -> Result<Node, ConfigError> {
        todo!("Node::new: validate the membership and the quorums, then an idle node")
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        todo!("Node::id")
    }

    /// Starts a client read of `key` at `now`: the coordinator's own replica
    /// answers at once, every peer is sent a `Get`. The read completes with
    /// the highest-versioned value among the first R distinct replicas that
    /// answer, and repairs the stale ones among them. Returns the read's id
    /// and what to send; with R = 1 the read completes in this call.
    pub fn get(&mut self, key: Key, now: Duration) -> (RequestId, Output) {
        todo!("Node::get: count your own replica, ask every peer")
    }

    /// Starts a client write of `value` under `key` at `now`. First phase:
    /// learn the highest version of the key from R distinct replicas (its
    /// own included, every peer sent a `Get`). Second phase: pick the version
    /// `(c + 1, own id)`, where `c` is the highest counter among those R
    /// answers and what its own replica stores at that moment (a write of the
    /// key through this node may have been stored since); store the value
    /// locally and send it in a `Put` to every peer; the write completes
    /// once W distinct replicas (its own included) hold it. Returns the
    /// write's id and what to send.
    pub fn put(&mut self, key: Key, value: Value, now: Duration) -> (RequestId, Output) {
        todo!("Node::put: the version phase first, then the write phase")
    }

    /// Handles `message` from peer `from` at time `now`: a replica's answer
    /// to a `Get` or `Put`, or a coordinator's answer that counts towards an
    /// operation in flight (which may complete it).
    ///
    /// Like every call, it first lets time pass to `now` (see
    /// [`Node::tick`]): an answer received at or after its operation's
    /// deadline finds the operation already failed, and counts for nothing.
    ///
    /// A message from a node that is not a peer, or carrying a version with
    /// counter 0, is refused with a [`ReceiveError`] and changes nothing.
    /// Anything else, however late, duplicated or out of order, is handled
    /// by the rules of the README and never panics.
    pub fn receive(
        &mut self,
        from: NodeId,
        message: Message,
        now: Duration,
    ) -> Result<Output, ReceiveError> {
        todo!("Node::receive: answer as a replica, count as a coordinator")
    }

    /// Lets time pass up to `now`: every operation whose deadline (its
    /// start plus the timeout) is at or before `now` and that has not
    /// completed fails with [`OpError::Timeout`], reported once in the
    /// returned `completed` and then forgotten. A `now` earlier than one seen before is taken as
    /// no time passing.
    ///
    /// [`Node::get`], [`Node::put`] and [`Node::receive`] do the same first,
    /// before anything else.
    pub fn tick(&mut self, now: Duration) -> Output {
        todo!("Node::tick: fail the operations whose deadline has passed")
    }

    /// What this node's replica stores for `key`.
    pub fn stored(&self, key: &str) -> Option<Versioned> {
        todo!("Node::stored")
    }

    /// Everything this node's replica stores: what the caller keeps on disk
    /// and hands to [`Node::new`] after a crash.
    pub fn snapshot(&self) -> BTreeMap<Key, Versioned> {
        todo!("Node::snapshot")
    }

    /// How many client operations this node coordinates that have not
    /// finished yet.
    pub fn in_flight(&self) -> usize {
        todo!("Node::in_flight")
    }
}
