//! The specification of the gossip-membership kata, whole clusters on a
//! simulated network.
//!
//! Every node runs as a host of a [turmoil] simulation: a small driver loop
//! on a simulated UDP socket hands each datagram to `Node::receive`, calls
//! `Node::tick` every 10 ms of simulated time and sends what the node
//! returned, sometimes twice (the network duplicates). The spec owns the
//! network: it loses a share of the messages, reorders them, partitions and
//! repairs it, crashes nodes and restarts them (with a higher incarnation,
//! kept on the node's "disk"), and lets a stranger host send junk and
//! malformed messages to everyone. Everything comes from one seed.
//!
//! After every call, the driver records each node's view (`members()`) and
//! every message it sent. The verdicts are judged on that history: who saw
//! whom in which state and when, how many updates each message carried and
//! how often each update was sent.
//!
//! A failing spec names its seed and the command that replays it
//! (`KATA_SIM_SEED=<seed> cargo xtask check gossip-membership`).
//!
//! `cargo test -p gossip-membership` judges your code;
//! `cargo test -p gossip-membership --features solution` judges the reference.

// The workspace's loom build (`--cfg kata_loom`) skips this file.
#![cfg(not(kata_loom))]

#[cfg(not(feature = "solution"))]
use gossip_membership as subject;
#[cfg(feature = "solution")]
use gossip_membership_solution as subject;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::rc::Rc;
use std::time::Duration;

use spec_probes::sim::{Dice, Replay, check_seeds, derive};
use subject::{Config, Incarnation, Member, Message, Node, NodeId, State};
use turmoil::net::UdpSocket;
use turmoil::{Builder, Sim};

// ─────────────────────────── the network ───────────────────────────

const PORT: u16 = 7000;
/// The id the driver gives a sender that is not a node of the cluster.
const STRANGER: NodeId = 666;
/// One step of the simulation.
const STEP: Duration = Duration::from_millis(5);
/// Nodes tick every `NODE_TICK`.
const NODE_TICK: Duration = Duration::from_millis(10);

/// The replay commands name the kata the learner checks.
fn replay() -> Replay {
    Replay::new("gossip-membership", "sim")
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn host(id: NodeId) -> String {
    format!("n{id}")
}

/// `Config::default()`, with each update retransmitted twice as often
/// (`λ = 6`): under 10% loss, a suspicion must reach the suspect, whose
/// refutation must then reach everyone, within one suspicion timeout.
fn config() -> Config {
    Config {
        retransmit_mult: 6,
        ..Config::default()
    }
}

fn period() -> Duration {
    config().protocol_period
}

/// `⌈log2 n⌉`, at least 1.
fn log2_ceil(n: u64) -> u32 {
    (64 - n.saturating_sub(1).leading_zeros()).max(1)
}

fn state_tag(state: State) -> u8 {
    match state {
        State::Alive => 0,
        State::Suspect => 1,
        State::Dead => 2,
    }
}

/// The wire format: a tag, `seq`, `target`, a count of updates, then each
/// update as `id`, a state byte and `incarnation` (integers big-endian).
fn encode(message: &Message) -> Vec<u8> {
    let (tag, seq, target, updates) = match message {
        Message::Ping { seq, updates } => (1, *seq, 0, updates),
        Message::PingReq {
            seq,
            target,
            updates,
        } => (2, *seq, *target, updates),
        Message::Ack { seq, updates } => (3, *seq, 0, updates),
    };
    let mut out = vec![tag];
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(&target.to_be_bytes());
    out.push(u8::try_from(updates.len()).unwrap_or(u8::MAX));
    for u in updates.iter().take(255) {
        out.extend_from_slice(&u.id.to_be_bytes());
        out.push(state_tag(u.state));
        out.extend_from_slice(&u.incarnation.to_be_bytes());
    }
    out
}

fn decode(bytes: &[u8]) -> Option<Message> {
    let word = |i: usize| -> Option<u64> {
        Some(u64::from_be_bytes(bytes.get(i..i + 8)?.try_into().ok()?))
    };
    let (tag, seq, target) = (*bytes.first()?, word(1)?, word(9)?);
    let count = usize::from(*bytes.get(17)?);
    if bytes.len() != 18 + 17 * count {
        return None;
    }
    let mut updates = Vec::with_capacity(count);
    for i in 0..count {
        let at = 18 + 17 * i;
        let state = match bytes[at + 8] {
            0 => State::Alive,
            1 => State::Suspect,
            2 => State::Dead,
            _ => return None,
        };
        updates.push(Member {
            id: word(at)?,
            state,
            incarnation: word(at + 9)?,
        });
    }
    Some(match tag {
        1 => Message::Ping { seq, updates },
        2 => Message::PingReq {
            seq,
            target,
            updates,
        },
        3 => Message::Ack { seq, updates },
        _ => return None,
    })
}

// ─────────────────────────── the history ───────────────────────────

/// What a node's view said about a member, from a simulated instant on.
#[derive(Clone, Copy, Debug)]
struct Seen {
    at: Duration,
    observer: NodeId,
    member: NodeId,
    state: State,
    incarnation: Incarnation,
}

/// An update as an ordered key: member, state, incarnation.
type Claim = (NodeId, u8, Incarnation);

fn claim(m: Member) -> Claim {
    (m.id, state_tag(m.state), m.incarnation)
}

type View = BTreeMap<NodeId, (State, Incarnation)>;

struct Shared {
    seed: u64,
    /// The seeds each node joins through.
    seeds_of: BTreeMap<NodeId, Vec<NodeId>>,
    /// Each node's disk: the highest incarnation it has used.
    disk: BTreeMap<NodeId, Incarnation>,
    /// How many times each node has started.
    lives: BTreeMap<NodeId, u64>,
    up: BTreeSet<NodeId>,
    /// Every node that has a host.
    hosts: BTreeSet<NodeId>,
    views: BTreeMap<NodeId, View>,
    history: Vec<Seen>,
    /// What broke a rule on the way (the first few).
    violations: Vec<String>,
    /// How many messages carried each update, per node and life.
    sent: BTreeMap<(NodeId, u64, Claim), u32>,
    /// The largest view of each node and life.
    largest_view: BTreeMap<(NodeId, u64), usize>,
    dice: Dice,
    duplicate_per_mille: u64,
}

impl Shared {
    fn violation(&mut self, text: String) {
        if self.violations.len() < 5 {
            self.violations.push(text);
        }
    }

    /// After every call to `node`: its disk, its view, the history, and
    /// the messages it sent.
    fn record(&mut self, node: &Node, at: Duration, out: &[subject::Outgoing]) {
        let id = node.id();
        let life = self.lives.get(&id).copied().unwrap_or_default();
        let incarnation = node.incarnation();
        let disk = self.disk.entry(id).or_default();
        *disk = (*disk).max(incarnation);
        let members = node.members();
        let largest = self.largest_view.entry((id, life)).or_default();
        *largest = (*largest).max(members.len());
        let mut view = self.views.remove(&id).unwrap_or_default();
        for m in &members {
            if m.id == id {
                if (m.state, m.incarnation) != (State::Alive, incarnation) {
                    self.violation(format!(
                        "at {at:?} node {id} listed itself as {:?} at incarnation {} (its incarnation is {incarnation}); a node never suspects itself",
                        m.state, m.incarnation
                    ));
                }
                continue;
            }
            let now = (m.state, m.incarnation);
            let before = view.insert(m.id, now);
            if before == Some(now) {
                continue;
            }
            if let Some((state, inc)) = before
                && (m.incarnation, m.state) < (inc, state)
            {
                self.violation(format!(
                    "at {at:?} node {id}'s view of member {} went back from {state:?} at incarnation {inc} to {:?} at incarnation {}: an older claim never overrides a newer one",
                    m.id, m.state, m.incarnation
                ));
            }
            self.history.push(Seen {
                at,
                observer: id,
                member: m.id,
                state: m.state,
                incarnation: m.incarnation,
            });
        }
        if view.len() + 1 != members.len()
            || view.keys().any(|k| !members.iter().any(|m| m.id == *k))
        {
            self.violation(format!(
                "at {at:?} node {id} forgot a member: its view went from {view:?} to {members:?}"
            ));
            view = members
                .iter()
                .filter(|m| m.id != id)
                .map(|m| (m.id, (m.state, m.incarnation)))
                .collect();
        }
        self.views.insert(id, view);
        let max = config().max_piggyback;
        for o in out {
            let updates = o.message.updates();
            if updates.len() > max {
                self.violation(format!(
                    "at {at:?} node {id} sent {} updates in one message to {}, more than max_piggyback = {max}",
                    updates.len(),
                    o.to
                ));
            }
            for &u in updates {
                *self.sent.entry((id, life, claim(u))).or_default() += 1;
            }
        }
    }

    /// Each update carried by at most `λ·⌈log2(n + 1)⌉` messages of one
    /// node (`n` its largest view), then dropped.
    fn gossip_bounds(&self) -> Result<(), String> {
        for (&(id, life, update), &count) in &self.sent {
            let n = self.largest_view.get(&(id, life)).copied().unwrap_or(1) as u64;
            let limit = config().retransmit_mult * log2_ceil(n + 1);
            if count > limit {
                return Err(format!(
                    "node {id} piggybacked the update (member, state 0/1/2 = alive/suspect/dead, incarnation) {update:?} on {count} messages; with at most {n} members in its view, λ·⌈log2(n + 1)⌉ = {limit} is the most"
                ));
            }
        }
        Ok(())
    }
}

type World = Rc<RefCell<Shared>>;

fn now() -> Duration {
    turmoil::sim_elapsed().unwrap_or_default()
}

/// One node's software: bound to its socket, built with its seeds and the
/// incarnation after the last one on its disk, then receive, tick, record,
/// send, for ever.
async fn run_node(world: World, id: NodeId) -> turmoil::Result {
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, PORT)).await?;
    let (seeds, seed, incarnation) = {
        let mut w = world.borrow_mut();
        let life = w.lives.entry(id).or_insert(0);
        *life += 1;
        let life = *life;
        let seed = derive(w.seed, id.wrapping_mul(1_000).wrapping_add(life));
        // A restart rejoins with a higher incarnation than it ever used.
        let incarnation = w.disk.get(&id).map_or(0, |i| i + 1);
        w.disk.insert(id, incarnation);
        w.up.insert(id);
        w.views.remove(&id);
        (
            w.seeds_of.get(&id).cloned().unwrap_or_default(),
            seed,
            incarnation,
        )
    };
    let mut node = Node::new(id, &seeds, config(), seed, incarnation, now())
        .map_err(|e| format!("node {id}: Node::new refused a valid configuration: {e:?}"))?;
    world.borrow_mut().record(&node, now(), &[]);
    let mut ticks = tokio::time::interval(NODE_TICK);
    let mut buf = [0u8; 8192];
    loop {
        // `biased`: the branches are polled in order, not at random, so that
        // a seed replays exactly.
        let out = tokio::select! {
            biased;
            got = socket.recv_from(&mut buf) => {
                let (len, from) = got?;
                let Some(message) = decode(&buf[..len]) else { continue };
                let from = turmoil::reverse_lookup(from.ip())
                    .and_then(|name| name.strip_prefix('n')?.parse().ok())
                    .unwrap_or(STRANGER);
                // A refused message is the node's business: it must change nothing.
                node.receive(from, message, now()).unwrap_or_default()
            }
            _ = ticks.tick() => node.tick(now()),
        };
        let copies = {
            let mut w = world.borrow_mut();
            w.record(&node, now(), &out);
            let dup = w.duplicate_per_mille;
            1 + u64::from(w.dice.chance(dup))
        };
        for o in &out {
            let bytes = encode(&o.message);
            // The nodes only ever talk to nodes (a stranger's messages are
            // all refused), but a wrong answer might not: skip the rest.
            if !world.borrow().hosts.contains(&o.to) {
                continue;
            }
            let to = turmoil::lookup(host(o.to));
            for _ in 0..copies {
                socket.send_to(&bytes, (to, PORT)).await?;
            }
        }
    }
}

/// A host that is no node of the cluster and sends junk to every node:
/// garbage bytes, `PingReq`s about their own sender, and messages carrying
/// too many updates, all of them claiming that live members are dead.
async fn run_stranger(ids: Vec<NodeId>, seed: u64) -> turmoil::Result {
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, PORT)).await?;
    let mut dice = Dice(derive(seed, 0x57a));
    let mut ticks = tokio::time::interval(ms(37));
    let max = config().max_piggyback;
    loop {
        ticks.tick().await;
        let victim = ids[dice.below(ids.len() as u64) as usize];
        let lie = Member {
            id: victim,
            state: State::Dead,
            incarnation: u64::MAX,
        };
        let message = match dice.below(3) {
            0 => Message::PingReq {
                seq: dice.roll(),
                target: STRANGER,
                updates: vec![lie],
            },
            1 => Message::Ping {
                seq: dice.roll(),
                updates: vec![lie; max + 1],
            },
            _ => Message::Ack {
                seq: dice.roll(),
                updates: vec![lie; max + 1 + dice.below(8) as usize],
            },
        };
        let to = turmoil::lookup(host(ids[dice.below(ids.len() as u64) as usize]));
        socket.send_to(&encode(&message), (to, PORT)).await?;
        socket.send_to(&[9, 9, 9], (to, PORT)).await?;
    }
}

struct Cluster {
    sim: Sim<'static>,
    world: World,
    ids: Vec<NodeId>,
    dice: Dice,
}

impl Cluster {
    /// Nodes `1..=size`, started together: node 1 with no seeds, each
    /// other node through one seed among the nodes before it.
    fn new(seed: u64, size: u64, stranger: bool) -> Cluster {
        let sim = Builder::new()
            .rng_seed(seed)
            .tick_duration(STEP)
            .simulation_duration(Duration::from_secs(3_600))
            .min_message_latency(ms(1))
            .max_message_latency(ms(10))
            .enable_random_order()
            .build();
        let mut dice = Dice(derive(seed, 0xfa17));
        let ids: Vec<NodeId> = (1..=size).collect();
        let mut seeds_of = BTreeMap::new();
        for &id in &ids[1..] {
            seeds_of.insert(id, vec![1 + dice.below(id - 1)]);
        }
        let world = Rc::new(RefCell::new(Shared {
            seed,
            seeds_of,
            disk: BTreeMap::new(),
            lives: BTreeMap::new(),
            up: BTreeSet::new(),
            hosts: BTreeSet::new(),
            views: BTreeMap::new(),
            history: Vec::new(),
            violations: Vec::new(),
            sent: BTreeMap::new(),
            largest_view: BTreeMap::new(),
            dice: Dice(derive(seed, 0xd0b)),
            duplicate_per_mille: 50,
        }));
        let mut cluster = Cluster {
            sim,
            world,
            ids: Vec::new(),
            dice,
        };
        for &id in &ids {
            cluster.start(id);
        }
        if stranger {
            let ids = ids.clone();
            cluster
                .sim
                .host("x", move || run_stranger(ids.clone(), seed));
        }
        cluster
    }

    /// Starts node `id` as a new host (its seeds set beforehand).
    fn start(&mut self, id: NodeId) {
        let world = self.world.clone();
        self.world.borrow_mut().hosts.insert(id);
        self.sim.host(host(id), move || run_node(world.clone(), id));
        self.ids.push(id);
    }

    fn elapsed(&self) -> Duration {
        self.sim.elapsed()
    }

    /// Runs the simulation for `span`, calling `check` after every step;
    /// stops early with `Ok(true)` when `check` says so.
    fn run_until(
        &mut self,
        span: Duration,
        mut check: impl FnMut(&Cluster) -> bool,
    ) -> Result<bool, String> {
        let end = self.elapsed() + span;
        while self.elapsed() < end {
            self.sim
                .step()
                .map_err(|e| format!("the simulation stopped at {:?}: {e}", self.elapsed()))?;
            if let Some(v) = self.world.borrow().violations.first() {
                return Err(v.clone());
            }
            if check(self) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn run(&mut self, span: Duration) -> Result<(), String> {
        self.run_until(span, |_| false).map(|_| ())
    }

    fn crash(&mut self, id: NodeId) {
        self.sim.crash(host(id));
        let mut w = self.world.borrow_mut();
        w.up.remove(&id);
        w.views.remove(&id);
    }

    fn restart(&mut self, id: NodeId) {
        self.sim.bounce(host(id));
    }

    /// Cuts every link between `side` and the other nodes.
    fn partition(&mut self, side: &[NodeId]) {
        for &a in side {
            for &b in &self.ids {
                if !side.contains(&b) {
                    self.sim.partition(host(a), host(b));
                }
            }
        }
    }

    fn heal(&mut self) {
        for &a in &self.ids {
            for &b in &self.ids {
                if a < b {
                    self.sim.repair(host(a), host(b));
                }
            }
        }
    }

    fn up(&self) -> Vec<NodeId> {
        self.world.borrow().up.iter().copied().collect()
    }

    /// What `observer` currently says about `member`.
    fn seen(&self, observer: NodeId, member: NodeId) -> Option<(State, Incarnation)> {
        self.world
            .borrow()
            .views
            .get(&observer)?
            .get(&member)
            .copied()
    }

    /// Every live node other than `member` says `member` is in `state`
    /// (at least at `incarnation`).
    fn everyone_sees(&self, member: NodeId, state: State, incarnation: Incarnation) -> bool {
        self.up().into_iter().filter(|&o| o != member).all(|o| {
            self.seen(o, member)
                .is_some_and(|(s, i)| s == state && i >= incarnation)
        })
    }

    /// Every live node sees every other live node `Alive`.
    fn converged(&self) -> bool {
        let up = self.up();
        up.iter().all(|&m| self.everyone_sees(m, State::Alive, 0))
    }

    fn views(&self) -> String {
        let w = self.world.borrow();
        let mut out = String::new();
        for (id, view) in &w.views {
            out.push_str(&format!("\n  node {id}: {view:?}"));
        }
        out
    }

    /// Waits until every live node sees every other alive.
    fn settle(&mut self, size: u64) -> Result<(), String> {
        if !self.run_until(ms(5_000), Cluster::converged)? {
            return Err(format!(
                "{size} nodes started together, each through one seed, no faults: after 5 s not every node sees every other alive; the views:{}",
                self.views()
            ));
        }
        Ok(())
    }

    /// The first time any node saw `member` dead, from `since` on.
    fn dead_since(&self, since: Duration, members: &[NodeId]) -> Option<Seen> {
        self.world
            .borrow()
            .history
            .iter()
            .find(|s| s.at >= since && s.state == State::Dead && members.contains(&s.member))
            .copied()
    }

    fn gossip_bounds(&self) -> Result<(), String> {
        self.world.borrow().gossip_bounds()
    }
}

fn size_for(seed: u64) -> u64 {
    4 + derive(seed, 0x5a5e) % 5
}

// ─────────────────────────── 11. the cluster ───────────────────────────

#[test]
fn a_join_reaches_every_live_member_within_a_log_n_bound() {
    check_seeds(replay(), 8, |seed| {
        let size = size_for(seed);
        let mut cluster = Cluster::new(seed, size, true);
        cluster.settle(size)?;
        cluster.run(ms(500))?;
        let joiner = size + 1;
        let through = 1 + cluster.dice.below(size);
        cluster
            .world
            .borrow_mut()
            .seeds_of
            .insert(joiner, vec![through]);
        cluster.start(joiner);
        let started = cluster.elapsed();
        let periods = 4 * log2_ceil(size + 1) + 6;
        let bound = period() * periods;
        let joined = cluster.run_until(bound, |c| c.everyone_sees(joiner, State::Alive, 0))?;
        if !joined {
            return Err(format!(
                "{size} nodes, node {joiner} joined through node {through} at {started:?}: within {periods} periods (4·⌈log2 n⌉ + 6, {bound:?}) every live member should list it alive; the views:{}",
                cluster.views()
            ));
        }
        cluster.gossip_bounds()
    });
}

#[test]
fn a_crashed_member_is_declared_dead_everywhere_within_a_bound() {
    check_seeds(replay(), 6, |seed| {
        let size = size_for(seed);
        let mut cluster = Cluster::new(seed, size, true);
        cluster.settle(size)?;
        cluster.run(ms(300))?;
        let victim = 1 + cluster.dice.below(size);
        cluster.crash(victim);
        let crashed = cluster.elapsed();
        let bound = period() * (2 * size as u32 + 5) + config().suspicion_timeout;
        let dead = cluster.run_until(bound, |c| c.everyone_sees(victim, State::Dead, 0))?;
        if !dead {
            return Err(format!(
                "{size} nodes, node {victim} crashed at {crashed:?}: within 2n + 5 periods plus the suspicion timeout ({bound:?}) every live member should list it dead; the views:{}",
                cluster.views()
            ));
        }
        let others: Vec<NodeId> = (1..=size).filter(|&m| m != victim).collect();
        if let Some(s) = cluster.dead_since(Duration::ZERO, &others) {
            return Err(format!(
                "{size} nodes, node {victim} crashed: at {:?} node {} declared the live node {} dead",
                s.at, s.observer, s.member
            ));
        }
        cluster.gossip_bounds()
    });
}

#[test]
fn with_ten_percent_loss_no_live_member_is_declared_dead() {
    check_seeds(replay(), 6, |seed| {
        let size = size_for(seed);
        let mut cluster = Cluster::new(seed, size, true);
        cluster.settle(size)?;
        cluster.sim.set_fail_rate(0.1);
        let from = cluster.elapsed();
        cluster.run(ms(8_000))?;
        let all: Vec<NodeId> = (1..=size).collect();
        if let Some(s) = cluster.dead_since(Duration::ZERO, &all) {
            return Err(format!(
                "{size} nodes, every one alive, 10% of messages lost from {from:?}: at {:?} node {} declared node {} dead (incarnation {})",
                s.at, s.observer, s.member, s.incarnation
            ));
        }
        cluster.gossip_bounds()
    });
}

#[test]
fn a_suspected_member_that_is_alive_refutes_in_the_cluster() {
    check_seeds(replay(), 10, |seed| {
        let size = size_for(seed);
        let mut cluster = Cluster::new(seed, size, false);
        cluster.settle(size)?;
        cluster.run(ms(200))?;
        let victim = 1 + cluster.dice.below(size);
        cluster.partition(&[victim]);
        let cut = cluster.elapsed();
        let bound = period() * (2 * size as u32 + 2);
        let suspected = cluster.run_until(bound, |c| {
            c.up()
                .into_iter()
                .any(|o| c.seen(o, victim).is_some_and(|(s, _)| s == State::Suspect))
        })?;
        if !suspected {
            return Err(format!(
                "{size} nodes, node {victim} cut off from the others at {cut:?}: within {bound:?} someone should suspect it; the views:{}",
                cluster.views()
            ));
        }
        cluster.heal();
        let healed = cluster.elapsed();
        let refuted = cluster.run_until(config().suspicion_timeout * 3, |c| {
            c.everyone_sees(victim, State::Alive, 1)
        })?;
        let all: Vec<NodeId> = (1..=size).collect();
        if let Some(s) = cluster.dead_since(Duration::ZERO, &all) {
            return Err(format!(
                "{size} nodes, node {victim} cut off at {cut:?}, suspected, reconnected at {healed:?} (before any suspicion could time out): at {:?} node {} declared node {} dead; a suspected member that is alive refutes with a higher incarnation",
                s.at, s.observer, s.member
            ));
        }
        if !refuted {
            return Err(format!(
                "{size} nodes, node {victim} cut off at {cut:?}, suspected, reconnected at {healed:?}: every member should list it alive at incarnation 1 or more (its refutation) within three suspicion timeouts; the views:{}",
                cluster.views()
            ));
        }
        cluster.gossip_bounds()
    });
}

#[test]
fn a_crashed_node_that_restarts_with_a_higher_incarnation_rejoins_everywhere() {
    check_seeds(replay(), 5, |seed| {
        let size = size_for(seed);
        let mut cluster = Cluster::new(seed, size, true);
        cluster.settle(size)?;
        // Not node 1: it has no seed to rejoin through.
        let victim = 2 + cluster.dice.below(size - 1);
        cluster.crash(victim);
        let bound = period() * (2 * size as u32 + 5) + config().suspicion_timeout;
        if !cluster.run_until(bound, |c| c.everyone_sees(victim, State::Dead, 0))? {
            return Err(format!(
                "{size} nodes, node {victim} crashed: not dead everywhere within {bound:?}; the views:{}",
                cluster.views()
            ));
        }
        cluster.run(ms(500))?;
        cluster.restart(victim);
        let restarted = cluster.elapsed();
        let periods = 4 * log2_ceil(size) + 6;
        let back = cluster.run_until(period() * periods, |c| {
            c.everyone_sees(victim, State::Alive, 1)
        })?;
        if !back {
            return Err(format!(
                "{size} nodes, node {victim} crashed, was declared dead, and restarted at {restarted:?} with incarnation 1: within {periods} periods every member should list it alive again; the views:{}",
                cluster.views()
            ));
        }
        cluster.gossip_bounds()
    });
}

#[test]
fn views_only_move_forward_under_loss_duplicates_crashes_and_restarts() {
    check_seeds(replay(), 5, |seed| {
        let size = size_for(seed);
        let mut cluster = Cluster::new(seed, size, true);
        let end = ms(5_000);
        while cluster.elapsed() < end {
            let gap = ms(100 + cluster.dice.below(600));
            cluster.run(gap)?;
            match cluster.dice.below(5) {
                0 => {
                    let id = 2 + cluster.dice.below(size - 1);
                    if cluster.up().contains(&id) {
                        cluster.crash(id);
                    } else {
                        cluster.restart(id);
                    }
                }
                1 => {
                    let rate = [0.0, 0.1, 0.3][cluster.dice.below(3) as usize];
                    cluster.sim.set_fail_rate(rate);
                }
                2 => {
                    let side = [1 + cluster.dice.below(size)];
                    cluster.partition(&side);
                }
                _ => cluster.heal(),
            }
        }
        cluster.gossip_bounds()
    });
}
