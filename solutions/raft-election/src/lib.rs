//! # Raft leader election: the reference solution
//!
//! One sans-IO Raft node, leader election only. The caller owns the clock
//! and the network: it passes the time in every call, delivers messages
//! with [`Node::receive`], calls [`Node::tick`] often, and sends what each
//! call returns. See the kata's README for the rules.
//!
//! The node keeps its persistent state (term, vote, log position), its
//! role, the voters of its current election, two deadlines and a splitmix64
//! generator; nothing grows with time or with the messages received.

use std::collections::BTreeSet;
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

/// splitmix64 (Steele, Lea and Flood): one add and three xor-shift-multiply
/// steps per draw, a full period of 2^64, and no bad seeds (0 included),
/// unlike a bare xorshift, which is stuck at 0 for seed 0.
#[derive(Clone, Debug)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A duration in `[min, max]`, both included (`min <= max`).
    fn between(&mut self, min: Duration, max: Duration) -> Duration {
        let span = (max - min).as_nanos();
        let offset = u128::from(self.next_u64()) % (span + 1);
        // `offset` came from a u64, so it fits one.
        min.saturating_add(Duration::from_nanos(
            u64::try_from(offset).unwrap_or(u64::MAX),
        ))
    }
}

/// One node of the cluster.
///
/// ```
/// use std::time::Duration;
/// use raft_election_solution::{Config, Message, Node, Persistent, Role};
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
    id: NodeId,
    /// The other members, sorted, so that broadcasts go out in a fixed order.
    peers: Vec<NodeId>,
    config: Config,
    rng: SplitMix64,
    state: Persistent,
    role: Role,
    leader: Option<NodeId>,
    /// The peers that granted this candidate a vote in its current term
    /// (its own vote is implied). A set: the network duplicates messages.
    votes: BTreeSet<NodeId>,
    /// When a follower or candidate starts the next election.
    election_deadline: Duration,
    /// When a leader sends the next round of heartbeats.
    heartbeat_due: Duration,
    /// The latest `now` seen: time never goes back.
    now: Duration,
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
        if peers.contains(&id) {
            return Err(ConfigError::PeerIsSelf);
        }
        let mut sorted = peers.to_vec();
        sorted.sort_unstable();
        if let Some(pair) = sorted.windows(2).find(|pair| pair[0] == pair[1]) {
            return Err(ConfigError::DuplicatePeer(pair[0]));
        }
        let Config {
            election_timeout_min: min,
            election_timeout_max: max,
            heartbeat_interval: beat,
        } = config;
        if min.is_zero() || min > max || beat.is_zero() || beat >= min {
            return Err(ConfigError::InvalidTimeouts);
        }
        let mut node = Node {
            id,
            peers: sorted,
            config,
            rng: SplitMix64(seed),
            state,
            role: Role::Follower,
            leader: None,
            votes: BTreeSet::new(),
            election_deadline: now,
            heartbeat_due: now,
            now,
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

    /// The leader of the current term as far as this node knows: itself if
    /// it leads, the sender of a heartbeat of the current term if it
    /// follows, `None` if it knows of none (a candidate, or a follower that
    /// has heard no heartbeat in this term).
    pub fn leader(&self) -> Option<NodeId> {
        self.leader
    }

    /// What the caller must keep on stable storage now, before sending what
    /// the last call returned.
    pub fn persistent(&self) -> Persistent {
        self.state
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
        self.observe(now);
        match self.role {
            Role::Leader if self.now >= self.heartbeat_due => {
                self.heartbeat_due = self.now.saturating_add(self.config.heartbeat_interval);
                self.broadcast(Message::Heartbeat {
                    term: self.state.term,
                })
            }
            Role::Follower | Role::Candidate if self.now >= self.election_deadline => {
                self.start_election()
            }
            _ => Vec::new(),
        }
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
        if self.peers.binary_search(&from).is_err() {
            return Err(ReceiveError::UnknownNode(from));
        }
        if message.term() == 0 {
            return Err(ReceiveError::Malformed);
        }
        self.observe(now);
        if message.term() > self.state.term {
            self.become_follower(message.term());
        }
        let term = self.state.term;
        let reply = |message| vec![Outgoing { to: from, message }];
        Ok(match message {
            Message::RequestVote {
                term: asked,
                last_log_index,
                last_log_term,
            } => {
                let granted = asked == term
                    && self.state.voted_for.is_none_or(|voted| voted == from)
                    && (last_log_term, last_log_index)
                        >= (self.state.last_log_term, self.state.last_log_index);
                if granted {
                    self.state.voted_for = Some(from);
                    self.restart_election_timer();
                }
                reply(Message::Vote { term, granted })
            }
            Message::Vote {
                term: voted,
                granted,
            } => {
                if self.role == Role::Candidate && voted == term && granted {
                    self.votes.insert(from);
                    if self.has_majority() {
                        return Ok(self.become_leader());
                    }
                }
                Vec::new()
            }
            Message::Heartbeat { term: beat } if beat < term => {
                reply(Message::HeartbeatResponse { term })
            }
            Message::Heartbeat { .. } => {
                // Two leaders of one term cannot exist; a leader ignores the
                // impossible rather than abdicating to it.
                if self.role == Role::Leader {
                    return Ok(Vec::new());
                }
                self.role = Role::Follower;
                self.leader = Some(from);
                self.votes.clear();
                self.restart_election_timer();
                reply(Message::HeartbeatResponse { term })
            }
            Message::HeartbeatResponse { .. } => Vec::new(),
        })
    }

    fn observe(&mut self, now: Duration) {
        self.now = self.now.max(now);
    }

    fn restart_election_timer(&mut self) {
        let timeout = self.rng.between(
            self.config.election_timeout_min,
            self.config.election_timeout_max,
        );
        self.election_deadline = self.now.saturating_add(timeout);
    }

    /// A newer term: follow it, with no vote and no known leader yet.
    fn become_follower(&mut self, term: Term) {
        let was_leader = self.role == Role::Leader;
        self.state.term = term;
        self.state.voted_for = None;
        self.role = Role::Follower;
        self.leader = None;
        self.votes.clear();
        if was_leader {
            // A leader had no election timer running.
            self.restart_election_timer();
        }
    }

    fn start_election(&mut self) -> Vec<Outgoing> {
        self.restart_election_timer();
        let Some(term) = self.state.term.checked_add(1) else {
            // No next term to stand in: wait for ever, as a follower.
            self.role = Role::Follower;
            return Vec::new();
        };
        self.state.term = term;
        self.state.voted_for = Some(self.id);
        self.role = Role::Candidate;
        self.leader = None;
        self.votes.clear();
        if self.has_majority() {
            return self.become_leader();
        }
        self.broadcast(Message::RequestVote {
            term,
            last_log_index: self.state.last_log_index,
            last_log_term: self.state.last_log_term,
        })
    }

    /// Its own vote and the peers' reach a majority of the whole cluster.
    fn has_majority(&self) -> bool {
        let cluster = self.peers.len() + 1;
        self.votes.len() + 1 > cluster / 2
    }

    fn become_leader(&mut self) -> Vec<Outgoing> {
        self.role = Role::Leader;
        self.leader = Some(self.id);
        self.votes.clear();
        self.heartbeat_due = self.now.saturating_add(self.config.heartbeat_interval);
        self.broadcast(Message::Heartbeat {
            term: self.state.term,
        })
    }

    fn broadcast(&self, message: Message) -> Vec<Outgoing> {
        self.peers
            .iter()
            .map(|&to| Outgoing { to, message })
            .collect()
    }
}
