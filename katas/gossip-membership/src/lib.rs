//! # SWIM gossip membership
//!
//! One node of a SWIM cluster: periodic probes in a shuffled round-robin
//! order, indirect probes (`PingReq`) through `k` other members, suspicion
//! with a timeout, incarnation numbers that let a live member refute a false
//! suspicion, and membership updates piggybacked on the protocol's own
//! messages. Read `README.md` beside this file for the problem and the exact
//! rules, then make the specification pass:
//!
//! ```text
//! cargo xtask kata gossip-membership
//! ```
//!
//! The node is **sans-IO**: it never reads a clock, opens a socket or spawns
//! a task. The caller (the spec's driver, which runs every node as a host of
//! a simulated network) hands it the time in every call, delivers the
//! messages that arrive with [`Node::receive`], calls [`Node::tick`] often,
//! and sends whatever [`Outgoing`] messages the node returns. Timers fire in
//! `tick` only.
//!
//! Everything but the behaviour of [`Node`] is given: the wire vocabulary
//! ([`Message`], [`Member`], [`State`], [`Outgoing`]), the configuration and
//! the errors.

// The bodies below are `todo!()`, so their arguments go unused until you
// write them. Delete this line when you are done.
#![allow(unused_variables)]

use std::fmt;
use std::time::Duration;

/// Identifies a node. The membership is open: any node may join by sending
/// a message to a member it knows (a seed).
pub type NodeId = u64;

/// A member's incarnation number: only the member itself raises it, to
/// refute a suspicion (or a death notice) about itself. Higher is newer.
pub type Incarnation = u64;

/// A member's state in a node's view.
///
/// Precedence between two claims about the same member: the one with the
/// higher incarnation wins; at equal incarnations, `Dead` beats `Suspect`
/// beats `Alive` (the order of the variants).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum State {
    /// Answering probes, as far as the node knows.
    Alive,
    /// Failed a probe (direct and indirect); declared `Dead` unless it
    /// refutes within the suspicion timeout.
    Suspect,
    /// Declared failed. Final for its incarnation: only an `Alive` at a
    /// higher incarnation brings the member back (a rejoin).
    Dead,
}

/// A member as a node knows it: an entry of its view ([`Node::members`]),
/// and the update that gossip carries about it (piggybacked on
/// [`Message`]s).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Member {
    /// The member the claim is about.
    pub id: NodeId,
    /// Its state.
    pub state: State,
    /// The incarnation the state is claimed at.
    pub incarnation: Incarnation,
}

/// The messages nodes send one another. The sender is not in the message:
/// the network tells the receiver who sent it (`from` in [`Node::receive`]).
///
/// Every message piggybacks `updates`: at most
/// [`Config::max_piggyback`] gossip updates, each a [`Member`] claim.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Message {
    /// A probe: "are you there?". Answered with an `Ack` carrying the same
    /// `seq`.
    Ping {
        /// The prober's sequence number for this probe (or relay).
        seq: u64,
        /// Piggybacked gossip.
        updates: Vec<Member>,
    },
    /// An indirect probe request: "ping `target` for me, and send me an
    /// `Ack` with this `seq` if it answers you".
    PingReq {
        /// The requester's sequence number of the probe it is trying.
        seq: u64,
        /// The member to probe, never the requester nor the receiver.
        target: NodeId,
        /// Piggybacked gossip.
        updates: Vec<Member>,
    },
    /// The answer to a `Ping`, or a relayed answer to a `PingReq`: the
    /// `seq` of the probe it acknowledges.
    Ack {
        /// The sequence number of the probe acknowledged.
        seq: u64,
        /// Piggybacked gossip.
        updates: Vec<Member>,
    },
}

impl Message {
    /// The gossip the message carries.
    pub fn updates(&self) -> &[Member] {
        match self {
            Message::Ping { updates, .. }
            | Message::PingReq { updates, .. }
            | Message::Ack { updates, .. } => updates,
        }
    }
}

/// A message for the caller to send.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Outgoing {
    /// The node it goes to.
    pub to: NodeId,
    /// What it says.
    pub message: Message,
}

/// The protocol's parameters, the same for every node of a cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// The protocol period: one probe starts per period.
    pub protocol_period: Duration,
    /// How long a probe waits for a direct `Ack` before it asks
    /// `indirect_probes` other members to probe the target (`PingReq`).
    /// Shorter than `protocol_period`.
    pub ack_timeout: Duration,
    /// `k`: how many members a node asks to probe a silent target for it
    /// (fewer if it knows fewer candidates).
    pub indirect_probes: usize,
    /// How long a member stays `Suspect` in a node's view, unrefuted,
    /// before that node declares it `Dead`.
    pub suspicion_timeout: Duration,
    /// `λ`: each update is piggybacked on at most
    /// `retransmit_mult * ⌈log2(n + 1)⌉` messages by a node, `n` the number
    /// of members in its view (itself included), then dropped.
    pub retransmit_mult: u32,
    /// The most updates one message may carry.
    pub max_piggyback: usize,
}

impl Default for Config {
    /// A 100 ms period, a 40 ms ack timeout, `k = 3`, a 1 s suspicion
    /// timeout, `λ = 3`, at most 8 updates per message.
    fn default() -> Self {
        Config {
            protocol_period: Duration::from_millis(100),
            ack_timeout: Duration::from_millis(40),
            indirect_probes: 3,
            suspicion_timeout: Duration::from_millis(1_000),
            retransmit_mult: 3,
            max_piggyback: 8,
        }
    }
}

/// Why [`Node::new`] refused to build a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// The node's own id is among its seeds.
    SeedIsSelf,
    /// The parameters cannot work: `protocol_period` is zero,
    /// `ack_timeout` is zero or not shorter than `protocol_period`,
    /// `suspicion_timeout` is zero, or `retransmit_mult` or
    /// `max_piggyback` is zero.
    InvalidConfig,
}

/// Why [`Node::receive`] refused a message. A refused message changes
/// nothing in the node (view, incarnation, probes, clock, gossip queue), and
/// is never a panic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReceiveError {
    /// `from` is the node's own id: a node never sends to itself.
    FromSelf,
    /// The message breaks the protocol: it carries more than
    /// `max_piggyback` updates, or it is a `PingReq` whose target is its
    /// sender or its receiver.
    Malformed,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::SeedIsSelf => write!(f, "a node cannot be its own seed"),
            ConfigError::InvalidConfig => write!(
                f,
                "need 0 < ack_timeout < protocol_period, 0 < suspicion_timeout, \
                 0 < retransmit_mult, 0 < max_piggyback"
            ),
        }
    }
}

impl fmt::Display for ReceiveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReceiveError::FromSelf => write!(f, "a node never receives from itself"),
            ReceiveError::Malformed => write!(f, "the message breaks the protocol"),
        }
    }
}

impl std::error::Error for ConfigError {}
impl std::error::Error for ReceiveError {}

/// One node of the cluster.
///
/// ```no_run
/// use std::time::Duration;
/// use gossip_membership::{Config, Member, Message, Node, State};
///
/// let ms = Duration::from_millis;
/// // Node 1 joins through seed 2 at t = 0, at incarnation 0.
/// let mut node = Node::new(1, &[2], Config::default(), 42, 0, ms(0))?;
/// let me = Member { id: 1, state: State::Alive, incarnation: 0 };
/// let seed = Member { id: 2, state: State::Alive, incarnation: 0 };
/// assert_eq!(node.members(), vec![me, seed]);
///
/// // The first tick starts the first probe: a Ping to 2, carrying the news
/// // (1 and 2 are alive at incarnation 0).
/// let out = node.tick(ms(0));
/// assert_eq!(out.len(), 1);
/// assert_eq!(out[0].to, 2);
/// let Message::Ping { seq, updates } = &out[0].message else { panic!() };
/// assert!(updates.contains(&me));
///
/// // 2 answers in time: the probe succeeded; 2 also tells of member 3.
/// let three = Member { id: 3, state: State::Alive, incarnation: 0 };
/// let ack = Message::Ack { seq: *seq, updates: vec![three] };
/// assert!(node.receive(2, ack, ms(5))?.is_empty());
/// assert_eq!(node.members(), vec![me, seed, three]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Node {
    // Your fields here: the view (state, incarnation, suspicion start per
    // member), your incarnation, the probe order and the probe in progress,
    // the relays you owe, the gossip queue, the rng, the last `now` seen.
}

impl Node {
    /// Builds node `id` at `incarnation`, knowing `seeds` (as `Alive` at
    /// incarnation 0), at time `now`. Its first probe is due at `now`.
    ///
    /// `seed` seeds the node's random number generator, from which it draws
    /// its probe order and its indirect probers: the same seed and the same
    /// calls give the same behaviour; different seeds give different
    /// orders. Every seed works, 0 and `u64::MAX` included.
    ///
    /// A node that restarts after a crash rejoins with an incarnation
    /// higher than any it used before (the caller keeps it), so that its
    /// `Alive` overrides the `Dead` the others may hold about it.
    ///
    /// Refuses its own id among the seeds and parameters that cannot work
    /// ([`ConfigError`]). A seed listed twice is one seed; no seeds is a
    /// one-node cluster, until someone joins it.
    pub fn new(
        id: NodeId,
        seeds: &[NodeId],
        config: Config,
        seed: u64,
        incarnation: Incarnation,
        now: Duration,
    ) -> Result<Node, ConfigError> {
        todo!("Node::new: validate, then a view of itself and its seeds, gossip queued")
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        todo!("Node::id")
    }

    /// This node's own incarnation.
    pub fn incarnation(&self) -> Incarnation {
        todo!("Node::incarnation")
    }

    /// The node's view: every member it knows, itself included (always
    /// `Alive` at its own incarnation), sorted by id.
    pub fn members(&self) -> Vec<Member> {
        todo!("Node::members")
    }

    /// Lets time pass up to `now`, and returns what the node sends because
    /// of it:
    ///
    /// - when a probe is due: first the previous probe is judged (its
    ///   target, if still `Alive` and unacknowledged, becomes `Suspect`),
    ///   then a `Ping` goes to the next member of the probe order, and the
    ///   next probe is due one `protocol_period` after this tick;
    /// - `ack_timeout` after a probe started with no `Ack` yet: a
    ///   `PingReq` to up to `indirect_probes` other members;
    /// - a member `Suspect` for `suspicion_timeout` becomes `Dead`.
    ///
    /// A `now` earlier than one seen before is taken as no time passing.
    pub fn tick(&mut self, now: Duration) -> Vec<Outgoing> {
        todo!("Node::tick: judge and start probes, indirect probes, suspicion timeouts")
    }

    /// Handles `message` from node `from` at time `now`, and returns what
    /// the node sends in answer (possibly nothing).
    ///
    /// A message from the node itself, or one that breaks the protocol, is
    /// refused with a [`ReceiveError`] and changes nothing. Anything else,
    /// however stale, duplicated, reordered or from a node it has never
    /// heard of, is handled by the rules of the README and never panics.
    pub fn receive(
        &mut self,
        from: NodeId,
        message: Message,
        now: Duration,
    ) -> Result<Vec<Outgoing>, ReceiveError> {
        todo!("Node::receive: apply the updates, then answer a Ping, relay a PingReq, match an Ack")
    }
}
