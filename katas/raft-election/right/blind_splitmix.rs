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
/// ```
/// use std::time::Duration;
/// use raft_election::{Config, Message, Node, Persistent, Role};
///
/// let ms = Duration::from_millis;
/// let mut node = Node::new(1, &[2, 3], Config::default(), 42, Persistent::default(), ms(0))?;
/// assert_eq!((node.role(), node.term()), (Role::Follower, 0));
/// let asks = node.tick(ms(301));
/// assert_eq!(node.role(), Role::Candidate);
/// assert_eq!(asks.len(), 2);
/// let beats = node.receive(2, Message::Vote { term: 1, granted: true }, ms(305))?;
/// assert_eq!((node.role(), node.term(), node.leader()), (Role::Leader, 1, Some(1)));
/// assert!(beats.iter().all(|o| o.message == Message::Heartbeat { term: 1 }));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Node {
    id: NodeId,
    peers: Vec<NodeId>,
    config: Config,
    rng: u64,
    state: Persistent,
    role: Role,
    leader: Option<NodeId>,
    /// Distinct voters (self included) that granted this candidate a vote
    /// in its current term; bounded by the cluster's size.
    votes: Vec<NodeId>,
    /// The latest `now` seen: an earlier one is no time passing.
    now: Duration,
    election_deadline: Duration,
    heartbeat_deadline: Duration,
}

impl Node {
    /// Builds node `id` of the cluster `{id} ∪ peers`.
    pub fn new(
        id: NodeId,
        peers: &[NodeId],
        config: Config,
        seed: u64,
        state: Persistent,
        now: Duration,
    ) -> Result<Node, ConfigError> {
        let mut seen: Vec<NodeId> = Vec::with_capacity(peers.len());
        for &p in peers {
            if p == id {
                return Err(ConfigError::PeerIsSelf);
            }
            if seen.contains(&p) {
                return Err(ConfigError::DuplicatePeer(p));
            }
            seen.push(p);
        }
        if config.election_timeout_min.is_zero()
            || config.election_timeout_min > config.election_timeout_max
            || config.heartbeat_interval.is_zero()
            || config.heartbeat_interval >= config.election_timeout_min
        {
            return Err(ConfigError::InvalidTimeouts);
        }
        let mut node = Node {
            id,
            peers: seen,
            config,
            rng: seed,
            state,
            role: Role::Follower,
            leader: None,
            votes: Vec::new(),
            now,
            election_deadline: now,
            heartbeat_deadline: now,
        };
        node.restart_election_timer();
        Ok(node)
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// What the node currently is.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The latest term this node has seen.
    pub fn term(&self) -> Term {
        self.state.term
    }

    /// The leader of the current term as far as this node knows.
    pub fn leader(&self) -> Option<NodeId> {
        self.leader
    }

    /// What the caller must keep on stable storage now.
    pub fn persistent(&self) -> Persistent {
        self.state
    }

    /// Lets time pass up to `now`, and returns what the node sends because
    /// of it.
    pub fn tick(&mut self, now: Duration) -> Vec<Outgoing> {
        self.advance(now);
        match self.role {
            Role::Leader => {
                if self.now >= self.heartbeat_deadline {
                    self.heartbeat_deadline = self.now.saturating_add(self.config.heartbeat_interval);
                    self.broadcast(Message::Heartbeat { term: self.state.term })
                } else {
                    Vec::new()
                }
            }
            Role::Follower | Role::Candidate => {
                if self.now >= self.election_deadline {
                    self.start_election()
                } else {
                    Vec::new()
                }
            }
        }
    }

    /// Handles `message` from peer `from` at time `now`.
    pub fn receive(
        &mut self,
        from: NodeId,
        message: Message,
        now: Duration,
    ) -> Result<Vec<Outgoing>, ReceiveError> {
        if !self.peers.contains(&from) {
            return Err(ReceiveError::UnknownNode(from));
        }
        let term = message.term();
        if term == 0 {
            return Err(ReceiveError::Malformed);
        }
        self.advance(now);
        if term > self.state.term {
            self.become_follower(term);
        }
        let mine = self.state.term;
        let out = match message {
            Message::RequestVote { term, last_log_index, last_log_term } => {
                let granted = term == mine
                    && self.state.voted_for.is_none_or(|v| v == from)
                    && (last_log_term, last_log_index)
                        >= (self.state.last_log_term, self.state.last_log_index);
                if granted {
                    self.state.voted_for = Some(from);
                    self.restart_election_timer();
                }
                vec![Outgoing { to: from, message: Message::Vote { term: mine, granted } }]
            }
            Message::Vote { term, granted } => {
                if term == mine && granted && self.role == Role::Candidate {
                    if !self.votes.contains(&from) {
                        self.votes.push(from);
                    }
                    if self.votes.len() >= self.majority() {
                        self.become_leader()
                    } else {
                        Vec::new()
                    }
                } else {
                    Vec::new()
                }
            }
            Message::Heartbeat { term } => {
                if term == mine && self.role != Role::Leader {
                    self.role = Role::Follower;
                    self.votes.clear();
                    self.leader = Some(from);
                    self.restart_election_timer();
                }
                vec![Outgoing { to: from, message: Message::HeartbeatResponse { term: mine } }]
            }
            Message::HeartbeatResponse { .. } => Vec::new(),
        };
        Ok(out)
    }

    fn advance(&mut self, now: Duration) {
        if now > self.now {
            self.now = now;
        }
    }

    fn majority(&self) -> usize {
        // A majority of the whole cluster, itself included: 2 of 3, 3 of 4, 1 of 1.
        let cluster = self.peers.len() + 1;
        cluster / 2 + 1
    }

    fn next_random(&mut self) -> u64 {
        // splitmix64: every seed, 0 and u64::MAX included, is a good start.
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn draw_timeout(&mut self) -> Duration {
        let min = self.config.election_timeout_min.as_nanos();
        let max = self.config.election_timeout_max.as_nanos();
        let span = max - min + 1; // both ends included
        let nanos = min + u128::from(self.next_random()) % span;
        let secs = (nanos / 1_000_000_000) as u64;
        let sub = (nanos % 1_000_000_000) as u32;
        Duration::new(secs, sub)
    }

    fn restart_election_timer(&mut self) {
        let timeout = self.draw_timeout();
        self.election_deadline = self.now.saturating_add(timeout);
    }

    fn become_follower(&mut self, term: Term) {
        let was_leader = self.role == Role::Leader;
        self.state.term = term;
        self.state.voted_for = None;
        self.role = Role::Follower;
        self.leader = None;
        self.votes.clear();
        if was_leader {
            self.restart_election_timer();
        }
    }

    fn start_election(&mut self) -> Vec<Outgoing> {
        let Some(term) = self.state.term.checked_add(1) else {
            // No next term: it stays a follower, silent.
            self.role = Role::Follower;
            return Vec::new();
        };
        self.state.term = term;
        self.state.voted_for = Some(self.id);
        self.role = Role::Candidate;
        self.leader = None;
        self.votes.clear();
        self.votes.push(self.id);
        self.restart_election_timer();
        if self.votes.len() >= self.majority() {
            return self.become_leader();
        }
        self.broadcast(Message::RequestVote {
            term,
            last_log_index: self.state.last_log_index,
            last_log_term: self.state.last_log_term,
        })
    }

    fn become_leader(&mut self) -> Vec<Outgoing> {
        self.role = Role::Leader;
        self.leader = Some(self.id);
        self.votes.clear();
        self.heartbeat_deadline = self.now.saturating_add(self.config.heartbeat_interval);
        self.broadcast(Message::Heartbeat { term: self.state.term })
    }

    fn broadcast(&self, message: Message) -> Vec<Outgoing> {
        self.peers.iter().map(|&to| Outgoing { to, message }).collect()
    }
}
