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

// ---------------------------------------------------------------------------
// The node.
// ---------------------------------------------------------------------------

use std::collections::BTreeMap;

/// splitmix64: every seed, 0 and `u64::MAX` included, gives a good stream.
#[derive(Clone, Debug)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform enough in `0..n`, `n > 0`.
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

/// A member of the view other than the node itself.
#[derive(Clone, Copy, Debug)]
struct Entry {
    state: State,
    incarnation: Incarnation,
    /// When it last became `Suspect` in this view (meaningful while Suspect).
    suspect_since: Duration,
}

/// The probe in progress.
#[derive(Clone, Copy, Debug)]
struct Probe {
    seq: u64,
    target: NodeId,
    started: Duration,
    acked: bool,
    asked: bool,
}

/// A `PingReq` this node is serving: it pinged `target` with `seq`.
#[derive(Clone, Copy, Debug)]
struct Relay {
    seq: u64,
    requester: NodeId,
    requester_seq: u64,
    started: Duration,
}

/// A queued gossip update.
#[derive(Clone, Copy, Debug)]
struct Queued {
    member: Member,
    sent: u64,
    /// Queue order, for ties between updates sent as often.
    order: u64,
}

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
    id: NodeId,
    incarnation: Incarnation,
    config: Config,
    rng: Rng,
    /// The latest `now` seen: an earlier one is taken as this.
    now: Duration,
    /// Every member known but the node itself.
    view: BTreeMap<NodeId, Entry>,
    /// The rest of the current probe pass; the next target is at the end.
    pass: Vec<NodeId>,
    next_probe: Duration,
    probe: Option<Probe>,
    relays: Vec<Relay>,
    queue: BTreeMap<NodeId, Queued>,
    queue_order: u64,
    next_seq: u64,
}

impl Node {
    /// Builds node `id` at `incarnation`, knowing `seeds` (as `Alive` at
    /// incarnation 0), at time `now`. Its first probe is due at `now`.
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
        let c = &config;
        if c.protocol_period.is_zero()
            || c.ack_timeout.is_zero()
            || c.ack_timeout >= c.protocol_period
            || c.suspicion_timeout.is_zero()
            || c.retransmit_mult == 0
            || c.max_piggyback == 0
        {
            return Err(ConfigError::InvalidConfig);
        }
        let mut rng = Rng(seed);
        let next_seq = rng.next();
        let mut node = Node {
            id,
            incarnation,
            config,
            rng,
            now,
            view: BTreeMap::new(),
            pass: Vec::new(),
            next_probe: now,
            probe: None,
            relays: Vec::new(),
            queue: BTreeMap::new(),
            queue_order: 0,
            next_seq,
        };
        node.enqueue(Member { id, state: State::Alive, incarnation });
        let mut seeds = seeds.to_vec();
        seeds.sort_unstable();
        seeds.dedup();
        for s in seeds {
            node.apply(Member { id: s, state: State::Alive, incarnation: 0 }, now);
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
            .map(|(&id, e)| Member { id, state: e.state, incarnation: e.incarnation })
            .collect();
        let me = Member { id: self.id, state: State::Alive, incarnation: self.incarnation };
        let at = out.partition_point(|m| m.id < self.id);
        out.insert(at, me);
        out
    }

    /// Lets time pass up to `now`, and returns what the node sends because
    /// of it.
    pub fn tick(&mut self, now: Duration) -> Vec<Outgoing> {
        let now = self.advance(now);
        let mut out = Vec::new();

        // Suspicions that time out.
        let timeout = self.config.suspicion_timeout;
        let expired: Vec<NodeId> = self
            .view
            .iter()
            .filter(|(_, e)| {
                e.state == State::Suspect
                    && e.suspect_since.checked_add(timeout).is_some_and(|at| now >= at)
            })
            .map(|(&id, _)| id)
            .collect();
        for id in expired {
            let e = self.view.get_mut(&id).expect("listed above");
            e.state = State::Dead;
            let m = Member { id, state: State::Dead, incarnation: e.incarnation };
            self.enqueue(m);
        }

        // Relays older than a period are forgotten.
        let period = self.config.protocol_period;
        self.relays.retain(|r| r.started.checked_add(period).is_none_or(|end| now < end));

        // The end of a period: judge the probe, start the next one.
        if now >= self.next_probe {
            if let Some(p) = self.probe.take() {
                if !p.acked {
                    self.suspect_after_probe(p.target, now);
                }
            }
            if let Some(target) = self.next_target() {
                let seq = self.fresh_seq();
                let msg = self.message(|updates| Message::Ping { seq, updates });
                out.push(Outgoing { to: target, message: msg });
                self.probe = Some(Probe { seq, target, started: now, acked: false, asked: false });
                self.next_probe = now.saturating_add(period);
            }
        }

        // No direct Ack within the ack timeout: ask k others.
        if let Some(p) = self.probe {
            let due = p.started.checked_add(self.config.ack_timeout);
            if !p.acked && !p.asked && due.is_some_and(|at| now >= at) {
                if let Some(probe) = self.probe.as_mut() {
                    probe.asked = true;
                }
                let mut candidates: Vec<NodeId> = self
                    .view
                    .iter()
                    .filter(|&(&id, e)| id != p.target && e.state == State::Alive)
                    .map(|(&id, _)| id)
                    .collect();
                let k = self.config.indirect_probes.min(candidates.len());
                for i in 0..k {
                    let j = i + self.rng.below(candidates.len() - i);
                    candidates.swap(i, j);
                }
                for &relay in &candidates[..k] {
                    let (seq, target) = (p.seq, p.target);
                    let msg = self.message(|updates| Message::PingReq { seq, target, updates });
                    out.push(Outgoing { to: relay, message: msg });
                }
            }
        }
        out
    }

    /// Handles `message` from node `from` at time `now`, and returns what
    /// the node sends in answer (possibly nothing).
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
        if let Message::PingReq { target, .. } = &message {
            if *target == from || *target == self.id {
                return Err(ReceiveError::Malformed);
            }
        }
        let now = self.advance(now);

        if !self.view.contains_key(&from) {
            self.apply(Member { id: from, state: State::Alive, incarnation: 0 }, now);
        }
        for &u in message.updates() {
            self.apply(u, now);
        }

        let mut out = Vec::new();
        match message {
            Message::Ping { seq, .. } => {
                let msg = self.message(|updates| Message::Ack { seq, updates });
                out.push(Outgoing { to: from, message: msg });
            }
            Message::PingReq { seq, target, .. } => {
                let relay_seq = self.fresh_seq();
                self.relays.push(Relay { seq: relay_seq, requester: from, requester_seq: seq, started: now });
                let msg = self.message(|updates| Message::Ping { seq: relay_seq, updates });
                out.push(Outgoing { to: target, message: msg });
            }
            Message::Ack { seq, .. } => {
                if let Some(p) = self.probe.as_mut().filter(|p| p.seq == seq) {
                    p.acked = true;
                } else if let Some(i) = self.relays.iter().position(|r| r.seq == seq) {
                    let r = self.relays.swap_remove(i);
                    let period = self.config.protocol_period;
                    if r.started.checked_add(period).is_none_or(|end| now < end) {
                        let rs = r.requester_seq;
                        let msg = self.message(|updates| Message::Ack { seq: rs, updates });
                        out.push(Outgoing { to: r.requester, message: msg });
                    }
                }
            }
        }
        Ok(out)
    }

    // -- helpers ------------------------------------------------------------

    fn advance(&mut self, now: Duration) -> Duration {
        if now > self.now {
            self.now = now;
        }
        self.now
    }

    fn fresh_seq(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        seq
    }

    /// Applies one claim under the precedence rules.
    fn apply(&mut self, m: Member, now: Duration) {
        if m.id == self.id {
            if m.state != State::Alive && m.incarnation >= self.incarnation {
                if let Some(next) = m.incarnation.checked_add(1) {
                    self.incarnation = next;
                    self.enqueue(Member { id: self.id, state: State::Alive, incarnation: next });
                }
            }
            return;
        }
        match self.view.get_mut(&m.id) {
            None => {
                self.view.insert(
                    m.id,
                    Entry { state: m.state, incarnation: m.incarnation, suspect_since: now },
                );
                if m.state != State::Dead {
                    self.add_to_pass(m.id);
                }
                self.enqueue(m);
            }
            Some(e) => {
                let newer = m.incarnation > e.incarnation
                    || (m.incarnation == e.incarnation && m.state > e.state);
                if !newer {
                    return;
                }
                let was_dead = e.state == State::Dead;
                e.state = m.state;
                e.incarnation = m.incarnation;
                if m.state == State::Suspect {
                    e.suspect_since = now;
                }
                if was_dead && m.state != State::Dead {
                    self.add_to_pass(m.id);
                }
                self.enqueue(m);
            }
        }
    }

    /// The judgement of a probe that got no Ack.
    fn suspect_after_probe(&mut self, target: NodeId, now: Duration) {
        if let Some(e) = self.view.get(&target) {
            if e.state == State::Alive {
                let m = Member { id: target, state: State::Suspect, incarnation: e.incarnation };
                self.apply(m, now);
            }
        }
    }

    /// A member added during a pass goes to a random place in its rest.
    fn add_to_pass(&mut self, id: NodeId) {
        if self.pass.is_empty() || self.pass.contains(&id) {
            return;
        }
        let at = self.rng.below(self.pass.len() + 1);
        self.pass.insert(at, id);
    }

    fn next_target(&mut self) -> Option<NodeId> {
        let mut rebuilt = false;
        loop {
            while let Some(id) = self.pass.pop() {
                if self.view.get(&id).is_some_and(|e| e.state != State::Dead) {
                    return Some(id);
                }
            }
            if rebuilt {
                return None;
            }
            rebuilt = true;
            let mut pass: Vec<NodeId> = self
                .view
                .iter()
                .filter(|(_, e)| e.state != State::Dead)
                .map(|(&id, _)| id)
                .collect();
            self.rng.shuffle(&mut pass);
            self.pass = pass;
        }
    }

    fn enqueue(&mut self, member: Member) {
        self.queue_order += 1;
        self.queue.insert(member.id, Queued { member, sent: 0, order: self.queue_order });
    }

    /// How many messages may carry one update: `λ·⌈log2(n + 1)⌉`.
    fn retransmit_limit(&self) -> u64 {
        let n = self.view.len() as u64 + 1;
        let x = n + 1; // >= 2
        let ceil_log2 = u64::from(64 - (x - 1).leading_zeros());
        u64::from(self.config.retransmit_mult).saturating_mul(ceil_log2)
    }

    /// Builds a message carrying up to `max_piggyback` updates, the least
    /// sent first; an update sent `retransmit_limit` times is dropped.
    fn message(&mut self, build: impl FnOnce(Vec<Member>) -> Message) -> Message {
        let limit = self.retransmit_limit();
        let mut picked: Vec<(u64, u64, NodeId)> =
            self.queue.values().map(|q| (q.sent, q.order, q.member.id)).collect();
        picked.sort_unstable();
        picked.truncate(self.config.max_piggyback);
        let mut updates = Vec::with_capacity(picked.len());
        for (_, _, id) in picked {
            let q = self.queue.get_mut(&id).expect("picked from the queue");
            updates.push(q.member);
            q.sent += 1;
            if q.sent >= limit {
                self.queue.remove(&id);
            }
        }
        build(updates)
    }
}
