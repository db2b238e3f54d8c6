//! # Raft leader election
//!
//! One node of a Raft cluster, leader election only: terms, `RequestVote`
//! with the log-up-to-date rule, heartbeats, randomised election timeouts,
//! stepping down on a higher term. Read `README.md` beside this file for the
//! problem, then make the specification pass:
//!
//! ```text
//! cargo xtask kata raft-election
//! ```
//!
//! The node is **sans-IO**: it never reads a clock, opens a socket or spawns
//! a task. The caller (the spec's driver, which runs every node as a host of
//! a simulated network) hands it the time in every call, delivers the
//! messages that arrive with [`Node::receive`], calls [`Node::tick`] often,
//! and sends whatever [`Outgoing`] messages the node returns. Timers fire
//! in `tick` only.
//!
//! Everything but the behaviour of [`Node`] is given: the wire
//! vocabulary ([`Message`], [`Outgoing`]), the configuration, what a node
//! persists ([`Persistent`]) and the errors.

// The bodies below are `todo!()`, so their arguments go unused until you
// write them. Delete this line when you are done.
#![allow(unused_variables)]

use std::fmt;
use std::time::Duration;

/// Identifies a node of the cluster. Every node knows every other node's id
/// (the cluster's membership is fixed).
pub type NodeId = u64;

/// A Raft term: a logical clock that only goes up. Each term has at most one
/// leader. Term 0 is the term of a node that has never seen an election; no
/// message ever carries it (see [`ReceiveError::Malformed`]).
pub type Term = u64;

/// The timing of the cluster, the same for every node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// The shortest election timeout. A follower that hears nothing from a
    /// leader, and grants no vote, for its election timeout becomes a
    /// candidate.
    pub election_timeout_min: Duration,
    /// The longest election timeout. Each time a node's election timer
    /// (re)starts, it draws a fresh timeout between `election_timeout_min`
    /// and `election_timeout_max` (both included) from its seeded rng.
    pub election_timeout_max: Duration,
    /// How often a leader sends heartbeats to every peer. Must be shorter
    /// than `election_timeout_min`, or followers would time out between two
    /// heartbeats.
    pub heartbeat_interval: Duration,
}

impl Default for Config {
    /// 150-300 ms election timeouts, a heartbeat every 50 ms: the Raft
    /// paper's figures.
    fn default() -> Self {
        Config {
            election_timeout_min: Duration::from_millis(150),
            election_timeout_max: Duration::from_millis(300),
            heartbeat_interval: Duration::from_millis(50),
        }
    }
}

/// What a node keeps on stable storage, and is built from again after a
/// crash: its term, its vote in that term, and the position of the last
/// entry of its log.
///
/// The caller saves [`Node::persistent`] after every call to the node,
/// before it sends what the call returned, and hands the last saved value
/// to [`Node::new`] when the node restarts. `Persistent::default()` is a
/// node that has never run: term 0, no vote, an empty log.
///
/// Log replication is not part of this kata: the log's position is fixed
/// when the node is built (the caller keeps `last_log_term <= term`), and a
/// node only uses it in elections, to vote for candidates whose log is at
/// least as up to date as its own.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Persistent {
    /// The latest term this node has seen.
    pub term: Term,
    /// The candidate this node voted for in `term`, if any (itself, when it
    /// is the candidate).
    pub voted_for: Option<NodeId>,
    /// The index of the last entry of its log; 0 for an empty log.
    pub last_log_index: u64,
    /// The term of the last entry of its log; 0 for an empty log.
    pub last_log_term: Term,
}

/// What a node currently is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Follows the leader of its term (or waits for one).
    Follower,
    /// Asks the others for their votes in its term.
    Candidate,
    /// Won its term's election; sends heartbeats.
    Leader,
}

/// The messages nodes send one another. The sender is not in the message:
/// the network tells the receiver who sent it (`from` in
/// [`Node::receive`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Message {
    /// A candidate asks for a vote in `term`, telling the position of the
    /// last entry of its own log.
    RequestVote {
        /// The candidate's term.
        term: Term,
        /// The index of the last entry of the candidate's log.
        last_log_index: u64,
        /// The term of the last entry of the candidate's log.
        last_log_term: Term,
    },
    /// The answer to a `RequestVote`.
    Vote {
        /// The voter's term once it has handled the request (so a candidate
        /// from an old term learns the newer one).
        term: Term,
        /// Whether the vote was granted, to the node the answer goes to, in
        /// `term`.
        granted: bool,
    },
    /// A leader's heartbeat (Raft's `AppendEntries` with no entries): "I am
    /// the leader of `term`".
    Heartbeat {
        /// The leader's term.
        term: Term,
    },
    /// The answer to a `Heartbeat`.
    HeartbeatResponse {
        /// The follower's term once it has handled the heartbeat (so a
        /// leader from an old term learns the newer one).
        term: Term,
    },
}

impl Message {
    /// The term the message carries.
    pub fn term(&self) -> Term {
        match *self {
            Message::RequestVote { term, .. }
            | Message::Vote { term, .. }
            | Message::Heartbeat { term }
            | Message::HeartbeatResponse { term } => term,
        }
    }
}

/// A message for the caller to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Outgoing {
    /// The peer it goes to.
    pub to: NodeId,
    /// What it says.
    pub message: Message,
}

/// Why [`Node::new`] refused to build a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// The node's own id is among its peers.
    PeerIsSelf,
    /// A peer is listed twice.
    DuplicatePeer(NodeId),
    /// The timing cannot work: `election_timeout_min` is zero or greater
    /// than `election_timeout_max`, or `heartbeat_interval` is zero or not
    /// shorter than `election_timeout_min`.
    InvalidTimeouts,
}

/// Why [`Node::receive`] refused a message. A refused message changes
/// nothing in the node (term, vote, role, timers), and is never a panic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReceiveError {
    /// `from` is not one of the node's peers (its own id included: a node
    /// never sends to itself).
    UnknownNode(NodeId),
    /// The message carries term 0, which no candidate, leader or answer
    /// ever has.
    Malformed,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::PeerIsSelf => write!(f, "a node cannot be its own peer"),
            ConfigError::DuplicatePeer(id) => write!(f, "peer {id} is listed twice"),
            ConfigError::InvalidTimeouts => write!(
                f,
                "need 0 < heartbeat_interval < election_timeout_min <= election_timeout_max"
            ),
        }
    }
}

impl fmt::Display for ReceiveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReceiveError::UnknownNode(id) => write!(f, "node {id} is not a peer"),
            ReceiveError::Malformed => write!(f, "a message never carries term 0"),
        }
    }
}

impl std::error::Error for ConfigError {}
impl std::error::Error for ReceiveError {}

/// One node of the cluster.
///
/// ```no_run
/// use std::time::Duration;
/// use raft_election::{Config, Message, Node, Persistent, Role};
///
/// let ms = Duration::from_millis;
/// // Node 1 of the cluster {1, 2, 3}, never run before, started at t = 0.
/// let mut node = Node::new(1, &[2, 3], Config::default(), 42, Persistent::default(), ms(0))?;
/// assert_eq!((node.role(), node.term()), (Role::Follower, 0));
///
/// // Nothing heard for longer than the longest election timeout: it stands.
/// let asks = node.tick(ms(301));
/// assert_eq!(node.role(), Role::Candidate);
/// assert_eq!(asks.len(), 2); // RequestVote { term: 1, .. } to 2 and to 3
///
/// // One vote besides its own is a majority of three: it leads term 1 and
/// // tells everyone at once.
/// let beats = node.receive(2, Message::Vote { term: 1, granted: true }, ms(305))?;
/// assert_eq!((node.role(), node.term(), node.leader()), (Role::Leader, 1, Some(1)));
/// assert!(beats.iter().all(|o| o.message == Message::Heartbeat { term: 1 }));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Node {
    // Your fields here: the persistent state, the role, the votes a
    // candidate has received, the timers' deadlines, the rng.
}

impl Node {
    /// Builds node `id` of the cluster `{id} ∪ peers`, from its persisted
    /// state (`Persistent::default()` for a node that has never run), as a
    /// follower at time `now` whose election timer starts at `now`.
    ///
    /// `seed` seeds the node's random number generator, from which it draws
    /// every election timeout: the same seed and the same calls give the
    /// same behaviour; different seeds give different timeouts. Every seed
    /// works, 0 and `u64::MAX` included.
    ///
    /// Refuses its own id among the peers, a peer listed twice, and timings
    /// that cannot work ([`ConfigError`]). An empty `peers` is a one-node
    /// cluster.
    pub fn new(
        id: NodeId,
        peers: &[NodeId],
        config: Config,
        seed: u64,
        state: Persistent,
        now: Duration,
    ) -> Result<Node, ConfigError> {
        todo!("Node::new: validate, then a follower whose election timer starts at `now`")
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        todo!("Node::id")
    }

    /// What the node currently is.
    pub fn role(&self) -> Role {
        todo!("Node::role")
    }

    /// The latest term this node has seen.
    pub fn term(&self) -> Term {
        todo!("Node::term")
    }

    /// The leader of the current term as far as this node knows: itself if
    /// it leads, the sender of a heartbeat of the current term if it
    /// follows, `None` if it knows of none (a candidate, or a follower that
    /// has heard no heartbeat in this term).
    pub fn leader(&self) -> Option<NodeId> {
        todo!("Node::leader")
    }

    /// What the caller must keep on stable storage now, before sending what
    /// the last call returned.
    pub fn persistent(&self) -> Persistent {
        todo!("Node::persistent")
    }

    /// Lets time pass up to `now`, and returns what the node sends because
    /// of it:
    ///
    /// - a follower or candidate whose election timeout has elapsed starts
    ///   an election: next term, votes for itself, a fresh timeout, and a
    ///   `RequestVote` to every peer (a one-node cluster leads at once);
    /// - a leader sends a `Heartbeat` to every peer each
    ///   `heartbeat_interval`.
    ///
    /// A node at term `u64::MAX` cannot start an election (there is no
    /// next term): it stays a follower. A `now` earlier than one seen before
    /// is taken as no time passing.
    pub fn tick(&mut self, now: Duration) -> Vec<Outgoing> {
        todo!(
            "Node::tick: election timeout for followers and candidates, heartbeats for the leader"
        )
    }

    /// Handles `message` from peer `from` at time `now`, and returns what
    /// the node sends in answer (possibly nothing).
    ///
    /// A message from a node that is not a peer, or one carrying term 0, is
    /// refused with a [`ReceiveError`] and changes nothing. Anything else,
    /// however stale, duplicated or out of order, is handled by the rules of
    /// the README and never panics.
    pub fn receive(
        &mut self,
        from: NodeId,
        message: Message,
        now: Duration,
    ) -> Result<Vec<Outgoing>, ReceiveError> {
        todo!("Node::receive: a higher term first, then the message's own rule")
    }
}
