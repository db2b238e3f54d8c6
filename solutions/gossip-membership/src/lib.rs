//! # SWIM gossip membership: the reference solution
//!
//! One sans-IO SWIM node. The caller owns the clock and the network: it
//! passes the time in every call, delivers messages with [`Node::receive`],
//! calls [`Node::tick`] often, and sends what each call returns. See the
//! kata's README for the rules.
//!
//! The node keeps its view (one entry per member it has heard of), the
//! rest of the current probe pass, the probe in progress, the relays it
//! owes (each forgotten a period after it started), a gossip queue with at
//! most one update per member, and a splitmix64 generator: its memory grows
//! with the number of members, never with time.

use std::collections::BTreeMap;
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

/// A splitmix64 generator: every seed works, 0 and `u64::MAX` included.
#[derive(Clone, Debug)]
struct SplitMix(u64);

impl SplitMix {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    fn below(&mut self, n: usize) -> usize {
        // n is at most the number of members, far below 2^64.
        (self.next_u64() % n as u64) as usize
    }

    /// Fisher-Yates.
    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

/// A member of the view, other than the node itself.
#[derive(Clone, Copy, Debug)]
struct Entry {
    state: State,
    incarnation: Incarnation,
    /// When the member last became `Suspect` in this view.
    suspected_at: Duration,
}

/// The probe in progress.
#[derive(Clone, Copy, Debug)]
struct Probe {
    seq: u64,
    target: NodeId,
    started: Duration,
    acked: bool,
    asked_others: bool,
}

/// A `PingReq` this node is relaying.
#[derive(Clone, Copy, Debug)]
struct Relay {
    /// The seq of this node's own `Ping` to the target.
    seq: u64,
    requester: NodeId,
    requester_seq: u64,
    started: Duration,
}

/// An update waiting in the gossip queue.
#[derive(Clone, Copy, Debug)]
struct Queued {
    update: Member,
    sent: u32,
}

/// One node of the cluster.
///
/// ```
/// use std::time::Duration;
/// use gossip_membership_solution::{Config, Member, Message, Node, State};
///
/// let ms = Duration::from_millis;
/// let mut node = Node::new(1, &[2], Config::default(), 42, 0, ms(0))?;
/// let out = node.tick(ms(0));
/// let Message::Ping { seq, .. } = &out[0].message else { unreachable!() };
/// let three = Member { id: 3, state: State::Alive, incarnation: 0 };
/// node.receive(2, Message::Ack { seq: *seq, updates: vec![three] }, ms(5))?;
/// assert!(node.members().contains(&three));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Node {
    id: NodeId,
    config: Config,
    incarnation: Incarnation,
    /// Every member heard of, the node itself excepted.
    view: BTreeMap<NodeId, Entry>,
    /// The rest of the current probe pass, next at the end.
    pass: Vec<NodeId>,
    probe: Option<Probe>,
    next_probe_at: Duration,
    relays: Vec<Relay>,
    /// At most one update per member, oldest first.
    queue: Vec<Queued>,
    rng: SplitMix,
    next_seq: u64,
    last_now: Duration,
}

impl Node {
    /// Builds node `id` at `incarnation`, knowing `seeds` (as `Alive` at
    /// incarnation 0), at time `now`. Its first probe is due at `now`.
    ///
    /// Refuses its own id among the seeds and parameters that cannot work
    /// ([`ConfigError`]).
    pub fn new(
        id: NodeId,
        seeds: &[NodeId],
        config: Config,
        seed: u64,
        incarnation: Incarnation,
        now: Duration,
    ) -> Result<Node, ConfigError> {
        if seeds.contains(&id) {
            return Err(ConfigError::SeedIsSelf);
        }
        if config.protocol_period.is_zero()
            || config.ack_timeout.is_zero()
            || config.ack_timeout >= config.protocol_period
            || config.suspicion_timeout.is_zero()
            || config.retransmit_mult == 0
            || config.max_piggyback == 0
        {
            return Err(ConfigError::InvalidConfig);
        }
        let mut node = Node {
            id,
            config,
            incarnation,
            view: BTreeMap::new(),
            pass: Vec::new(),
            probe: None,
            next_probe_at: now,
            relays: Vec::new(),
            queue: Vec::new(),
            rng: SplitMix(seed),
            next_seq: 0,
            last_now: now,
        };
        node.enqueue(node.me());
        for &s in seeds {
            node.apply(
                Member {
                    id: s,
                    state: State::Alive,
                    incarnation: 0,
                },
                now,
            );
        }
        Ok(node)
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// This node's own incarnation.
    pub fn incarnation(&self) -> Incarnation {
        self.incarnation
    }

    /// The node's view: every member it knows, itself included (always
    /// `Alive` at its own incarnation), sorted by id.
    pub fn members(&self) -> Vec<Member> {
        let mut out: Vec<Member> = self
            .view
            .iter()
            .map(|(&id, e)| Member {
                id,
                state: e.state,
                incarnation: e.incarnation,
            })
            .collect();
        let at = out.partition_point(|m| m.id < self.id);
        out.insert(at, self.me());
        out
    }

    /// Lets time pass up to `now`: judges and starts probes, sends the
    /// indirect probes that are due, declares timed-out suspects `Dead`.
    /// A `now` earlier than one seen before is taken as no time passing.
    pub fn tick(&mut self, now: Duration) -> Vec<Outgoing> {
        let now = self.observe(now);
        let mut out = Vec::new();
        let period = self.config.protocol_period;
        self.relays
            .retain(|r| now < r.started.checked_add(period).unwrap_or(Duration::MAX));
        if now >= self.next_probe_at {
            self.judge_probe(now);
            self.start_probe(now, &mut out);
            self.next_probe_at = now.checked_add(period).unwrap_or(Duration::MAX);
        } else {
            self.ask_others(now, &mut out);
        }
        self.time_out_suspects(now);
        out
    }

    /// Handles `message` from node `from` at time `now`: applies its
    /// updates, then answers a `Ping`, relays a `PingReq`, or matches an
    /// `Ack` with the probe in progress or a relay.
    pub fn receive(
        &mut self,
        from: NodeId,
        message: Message,
        now: Duration,
    ) -> Result<Vec<Outgoing>, ReceiveError> {
        if from == self.id {
            return Err(ReceiveError::FromSelf);
        }
        if message.updates().len() > self.config.max_piggyback {
            return Err(ReceiveError::Malformed);
        }
        if let Message::PingReq { target, .. } = message
            && (target == from || target == self.id)
        {
            return Err(ReceiveError::Malformed);
        }
        let now = self.observe(now);
        if !self.view.contains_key(&from) {
            let joiner = Member {
                id: from,
                state: State::Alive,
                incarnation: 0,
            };
            self.apply(joiner, now);
        }
        for &update in message.updates() {
            self.apply(update, now);
        }
        let mut out = Vec::new();
        match message {
            Message::Ping { seq, .. } => {
                let updates = self.gossip();
                out.push(Outgoing {
                    to: from,
                    message: Message::Ack { seq, updates },
                });
            }
            Message::PingReq { seq, target, .. } => {
                let own = self.fresh_seq();
                self.relays.push(Relay {
                    seq: own,
                    requester: from,
                    requester_seq: seq,
                    started: now,
                });
                let updates = self.gossip();
                out.push(Outgoing {
                    to: target,
                    message: Message::Ping { seq: own, updates },
                });
            }
            Message::Ack { seq, .. } => {
                if let Some(probe) = self.probe.as_mut().filter(|p| p.seq == seq) {
                    probe.acked = true;
                } else if let Some(i) = self.relays.iter().position(|r| r.seq == seq) {
                    let relay = self.relays.swap_remove(i);
                    let expires = relay
                        .started
                        .checked_add(self.config.protocol_period)
                        .unwrap_or(Duration::MAX);
                    if now < expires {
                        let updates = self.gossip();
                        out.push(Outgoing {
                            to: relay.requester,
                            message: Message::Ack {
                                seq: relay.requester_seq,
                                updates,
                            },
                        });
                    }
                }
            }
        }
        Ok(out)
    }

    fn me(&self) -> Member {
        Member {
            id: self.id,
            state: State::Alive,
            incarnation: self.incarnation,
        }
    }

    fn observe(&mut self, now: Duration) -> Duration {
        self.last_now = self.last_now.max(now);
        self.last_now
    }

    fn fresh_seq(&mut self) -> u64 {
        self.next_seq = self.next_seq.wrapping_add(1);
        self.next_seq
    }

    /// Applies a claim about a member: the newer of the claim and the view
    /// wins (higher incarnation, then `Alive < Suspect < Dead`).
    fn apply(&mut self, claim: Member, now: Duration) {
        if claim.id == self.id {
            if claim.state != State::Alive && claim.incarnation >= self.incarnation {
                // At u64::MAX there is no higher incarnation to refute with.
                if let Some(next) = claim.incarnation.checked_add(1) {
                    self.incarnation = next;
                    self.enqueue(self.me());
                }
            }
            return;
        }
        let was_probed = match self.view.get(&claim.id) {
            Some(e) if (claim.incarnation, claim.state) <= (e.incarnation, e.state) => return,
            Some(e) => e.state != State::Dead,
            None => false,
        };
        self.view.insert(
            claim.id,
            Entry {
                state: claim.state,
                incarnation: claim.incarnation,
                suspected_at: now,
            },
        );
        self.enqueue(claim);
        if !was_probed && claim.state != State::Dead && !self.pass.contains(&claim.id) {
            // A new member (or one back from the dead) goes somewhere in the
            // rest of the pass.
            let at = self.rng.below(self.pass.len() + 1);
            self.pass.insert(at, claim.id);
        }
    }

    fn enqueue(&mut self, update: Member) {
        self.queue.retain(|q| q.update.id != update.id);
        self.queue.push(Queued { update, sent: 0 });
    }

    /// Up to `max_piggyback` updates for one message, those sent the
    /// fewest times first (the newest first among equals); an update sent
    /// `λ·⌈log2(n + 1)⌉` times leaves the queue.
    fn gossip(&mut self) -> Vec<Member> {
        let n = self.view.len() as u64 + 1;
        let log = 64 - n.leading_zeros(); // ⌈log2(n + 1)⌉
        let limit = self.config.retransmit_mult.saturating_mul(log);
        let mut order: Vec<usize> = (0..self.queue.len()).rev().collect();
        order.sort_by_key(|&i| self.queue[i].sent);
        order.truncate(self.config.max_piggyback);
        let mut updates = Vec::with_capacity(order.len());
        for &i in &order {
            let q = &mut self.queue[i];
            q.sent += 1;
            updates.push(q.update);
        }
        self.queue.retain(|q| q.sent < limit);
        updates
    }

    /// The end of a period: an unacknowledged target still `Alive` becomes
    /// `Suspect`.
    fn judge_probe(&mut self, now: Duration) {
        let Some(probe) = self.probe.take() else {
            return;
        };
        if probe.acked {
            return;
        }
        if let Some(e) = self.view.get(&probe.target)
            && e.state == State::Alive
        {
            let claim = Member {
                id: probe.target,
                state: State::Suspect,
                incarnation: e.incarnation,
            };
            self.apply(claim, now);
        }
    }

    /// The next member of the pass that is still in the view and not
    /// `Dead`; a new shuffled pass when this one is over.
    fn next_target(&mut self) -> Option<NodeId> {
        for refilled in [false, true] {
            if refilled {
                self.pass = self
                    .view
                    .iter()
                    .filter(|(_, e)| e.state != State::Dead)
                    .map(|(&id, _)| id)
                    .collect();
                self.rng.shuffle(&mut self.pass);
            }
            while let Some(id) = self.pass.pop() {
                if self.view.get(&id).is_some_and(|e| e.state != State::Dead) {
                    return Some(id);
                }
            }
        }
        None
    }

    fn start_probe(&mut self, now: Duration, out: &mut Vec<Outgoing>) {
        let Some(target) = self.next_target() else {
            return;
        };
        let seq = self.fresh_seq();
        self.probe = Some(Probe {
            seq,
            target,
            started: now,
            acked: false,
            asked_others: false,
        });
        let updates = self.gossip();
        out.push(Outgoing {
            to: target,
            message: Message::Ping { seq, updates },
        });
    }

    /// `ack_timeout` into a probe with no `Ack`: a `PingReq` to up to `k`
    /// other `Alive` members, chosen at random.
    fn ask_others(&mut self, now: Duration, out: &mut Vec<Outgoing>) {
        let Some(probe) = self.probe else {
            return;
        };
        let due = probe
            .started
            .checked_add(self.config.ack_timeout)
            .unwrap_or(Duration::MAX);
        if probe.acked || probe.asked_others || now < due {
            return;
        }
        if let Some(p) = self.probe.as_mut() {
            p.asked_others = true;
        }
        let mut candidates: Vec<NodeId> = self
            .view
            .iter()
            .filter(|&(&id, e)| id != probe.target && e.state == State::Alive)
            .map(|(&id, _)| id)
            .collect();
        let k = self.config.indirect_probes.min(candidates.len());
        for i in 0..k {
            let j = i + self.rng.below(candidates.len() - i);
            candidates.swap(i, j);
            let updates = self.gossip();
            out.push(Outgoing {
                to: candidates[i],
                message: Message::PingReq {
                    seq: probe.seq,
                    target: probe.target,
                    updates,
                },
            });
        }
    }

    fn time_out_suspects(&mut self, now: Duration) {
        let timeout = self.config.suspicion_timeout;
        let expired: Vec<Member> = self
            .view
            .iter()
            .filter(|(_, e)| {
                e.state == State::Suspect
                    && now >= e.suspected_at.checked_add(timeout).unwrap_or(Duration::MAX)
            })
            .map(|(&id, e)| Member {
                id,
                state: State::Dead,
                incarnation: e.incarnation,
            })
            .collect();
        for dead in expired {
            self.apply(dead, now);
        }
    }
}
