//! # Raft leader election: a right answer built differently
//!
//! The role is an enum that carries what only that role needs (a follower its
//! leader, a candidate one vote flag per peer, a leader its next heartbeat);
//! timeouts come from xoshiro256** by multiply-shift instead of splitmix64 by
//! modulo.
//!
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

/// xoshiro256** seeded through splitmix64, so that every seed (0 too) gives
/// a well-mixed state.
#[derive(Clone, Debug)]
struct Xoshiro([u64; 4]);

impl Xoshiro {
    fn seeded(seed: u64) -> Xoshiro {
        let mut x = seed;
        let mut next = || {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        Xoshiro([next(), next(), next(), next()])
    }

    fn next_u64(&mut self) -> u64 {
        let s = &mut self.0;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }
}

/// What the node is, with what only that role needs.
#[derive(Debug)]
enum Phase {
    Follower { leader: Option<NodeId> },
    /// One flag per peer, in the order of `Node::peers`.
    Candidate { granted: Vec<bool> },
    Leader { next_beat: Duration },
}

/// One node of the cluster: a role enum carrying its own data, votes as
/// flags per peer, xoshiro256** for the timeouts.
#[derive(Debug)]
pub struct Node {
    id: NodeId,
    peers: Vec<NodeId>,
    config: Config,
    rng: Xoshiro,
    hard: Persistent,
    phase: Phase,
    election_at: Duration,
    clock: Duration,
}

impl Node {
    pub fn new(
        id: NodeId,
        peers: &[NodeId],
        config: Config,
        seed: u64,
        state: Persistent,
        now: Duration,
    ) -> Result<Node, ConfigError> {
        let mut seen = std::collections::HashSet::new();
        for &p in peers {
            if p == id {
                return Err(ConfigError::PeerIsSelf);
            }
        }
        for &p in peers {
            if !seen.insert(p) {
                return Err(ConfigError::DuplicatePeer(p));
            }
        }
        let ok = config.election_timeout_min > Duration::ZERO
            && config.election_timeout_min <= config.election_timeout_max
            && config.heartbeat_interval > Duration::ZERO
            && config.heartbeat_interval < config.election_timeout_min;
        if !ok {
            return Err(ConfigError::InvalidTimeouts);
        }
        let mut node = Node {
            id,
            peers: peers.to_vec(),
            config,
            rng: Xoshiro::seeded(seed),
            hard: state,
            phase: Phase::Follower { leader: None },
            election_at: now,
            clock: now,
        };
        node.arm();
        Ok(node)
    }

    pub fn id(&self) -> NodeId {
        self.id
    }

    pub fn role(&self) -> Role {
        match self.phase {
            Phase::Follower { .. } => Role::Follower,
            Phase::Candidate { .. } => Role::Candidate,
            Phase::Leader { .. } => Role::Leader,
        }
    }

    pub fn term(&self) -> Term {
        self.hard.term
    }

    pub fn leader(&self) -> Option<NodeId> {
        match self.phase {
            Phase::Follower { leader } => leader,
            Phase::Candidate { .. } => None,
            Phase::Leader { .. } => Some(self.id),
        }
    }

    pub fn persistent(&self) -> Persistent {
        self.hard
    }

    pub fn tick(&mut self, now: Duration) -> Vec<Outgoing> {
        if now > self.clock {
            self.clock = now;
        }
        let term = self.hard.term;
        let interval = self.config.heartbeat_interval;
        if let Phase::Leader { next_beat } = &mut self.phase {
            if self.clock < *next_beat {
                return Vec::new();
            }
            *next_beat = self.clock.saturating_add(interval);
            return self.to_all(Message::Heartbeat { term });
        }
        if self.clock < self.election_at {
            return Vec::new();
        }
        self.arm();
        if self.hard.term == u64::MAX {
            self.phase = Phase::Follower { leader: None };
            return Vec::new();
        }
        self.hard.term += 1;
        self.hard.voted_for = Some(self.id);
        self.phase = Phase::Candidate {
            granted: vec![false; self.peers.len()],
        };
        if self.won() {
            return self.lead();
        }
        self.to_all(Message::RequestVote {
            term: self.hard.term,
            last_log_index: self.hard.last_log_index,
            last_log_term: self.hard.last_log_term,
        })
    }

    pub fn receive(
        &mut self,
        from: NodeId,
        message: Message,
        now: Duration,
    ) -> Result<Vec<Outgoing>, ReceiveError> {
        let Some(slot) = self.peers.iter().position(|&p| p == from) else {
            return Err(ReceiveError::UnknownNode(from));
        };
        let their = message.term();
        if their == 0 {
            return Err(ReceiveError::Malformed);
        }
        if now > self.clock {
            self.clock = now;
        }
        if their > self.hard.term {
            let was_leader = matches!(self.phase, Phase::Leader { .. });
            self.hard.term = their;
            self.hard.voted_for = None;
            self.phase = Phase::Follower { leader: None };
            if was_leader {
                self.arm();
            }
        }
        let mine = self.hard.term;
        let answer = |message| Ok(vec![Outgoing { to: from, message }]);
        match message {
            Message::RequestVote {
                last_log_index,
                last_log_term,
                ..
            } => {
                let free = match self.hard.voted_for {
                    None => true,
                    Some(v) => v == from,
                };
                let current = their == mine;
                let log_ok = last_log_term > self.hard.last_log_term
                    || (last_log_term == self.hard.last_log_term
                        && last_log_index >= self.hard.last_log_index);
                let granted = current && free && log_ok;
                if granted {
                    self.hard.voted_for = Some(from);
                    self.arm();
                }
                answer(Message::Vote {
                    term: mine,
                    granted,
                })
            }
            Message::Vote { granted, .. } => {
                if their != mine || !granted {
                    return Ok(Vec::new());
                }
                if let Phase::Candidate { granted } = &mut self.phase {
                    granted[slot] = true;
                    if self.won() {
                        return Ok(self.lead());
                    }
                }
                Ok(Vec::new())
            }
            Message::Heartbeat { .. } => {
                if their < mine {
                    return answer(Message::HeartbeatResponse { term: mine });
                }
                if let Phase::Leader { .. } = self.phase {
                    return Ok(Vec::new());
                }
                self.phase = Phase::Follower { leader: Some(from) };
                self.arm();
                answer(Message::HeartbeatResponse { term: mine })
            }
            Message::HeartbeatResponse { .. } => Ok(Vec::new()),
        }
    }

    /// A fresh election timeout from now: min + (span + 1) * r / 2^64, in
    /// [min, max] both included (Lemire's multiply-shift, no modulo).
    fn arm(&mut self) {
        let min = self.config.election_timeout_min;
        let span = (self.config.election_timeout_max - min).as_nanos();
        let r = u128::from(self.rng.next_u64());
        let extra = (span + 1).checked_mul(r).map_or(span, |x| x >> 64); // in [0, span]
        let extra = Duration::from_nanos(u64::try_from(extra).unwrap_or(u64::MAX));
        self.election_at = self.clock.saturating_add(min.saturating_add(extra));
    }

    fn won(&self) -> bool {
        let Phase::Candidate { granted } = &self.phase else {
            return false;
        };
        let votes = 1 + granted.iter().filter(|g| **g).count();
        2 * votes > self.peers.len() + 1
    }

    fn lead(&mut self) -> Vec<Outgoing> {
        self.phase = Phase::Leader {
            next_beat: self.clock.saturating_add(self.config.heartbeat_interval),
        };
        self.to_all(Message::Heartbeat {
            term: self.hard.term,
        })
    }

    fn to_all(&self, message: Message) -> Vec<Outgoing> {
        self.peers
            .iter()
            .map(|&to| Outgoing { to, message })
            .collect()
    }
}
