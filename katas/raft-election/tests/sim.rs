//! The specification of the raft-election kata, whole clusters on a
//! simulated network.
//!
//! Every node runs as a host of a [turmoil] simulation: a small driver loop
//! on a simulated UDP socket hands each datagram to `Node::receive`, calls
//! `Node::tick` every 10 ms of simulated time, saves `Node::persistent()`
//! (the node's disk, which survives a crash) and sends what the node
//! returned, sometimes twice (the network duplicates). The spec owns the
//! network: it partitions and repairs it, holds messages between two nodes
//! and releases them late, loses a share of them, crashes and restarts
//! nodes, and lets a stranger host send junk to everyone. Everything comes
//! from one seed.
//!
//! After every call, the driver records what each node is (role, term,
//! leader) and every vote it grants on the wire. Safety is judged on that
//! history; liveness by when a majority first follows one leader.
//!
//! A failing spec names its seed and the command that replays it
//! (`KATA_SIM_SEED=<seed> cargo xtask check raft-election`).
//!
//! `cargo test -p raft-election` judges your code;
//! `cargo test -p raft-election --features solution` judges the reference.

// The workspace's loom build (`--cfg kata_loom`) skips this file.
#![cfg(not(kata_loom))]

#[cfg(not(feature = "solution"))]
use raft_election as subject;
#[cfg(feature = "solution")]
use raft_election_solution as subject;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::rc::Rc;
use std::time::Duration;

use spec_probes::sim::{Dice, Replay, check_seeds, derive};
use subject::{Config, Message, Node, NodeId, Persistent, Role, Term};
use turmoil::net::UdpSocket;
use turmoil::{Builder, Sim};

// ─────────────────────────── the network ───────────────────────────

const PORT: u16 = 7000;
/// The id the driver gives a sender that is not a node of the cluster.
const STRANGER: NodeId = 666;
/// One step of the simulation; nodes tick every `NODE_TICK`.
const TICK: Duration = Duration::from_millis(10);
const NODE_TICK: Duration = Duration::from_millis(10);
/// Ten of the longest election timeouts of `Config::default()`.
const LIVENESS_BOUND: Duration = Duration::from_millis(3_000);

/// The replay commands name the kata the learner checks.
fn replay() -> Replay {
    Replay::new("raft-election", "sim")
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn host(id: NodeId) -> String {
    format!("n{id}")
}

/// The wire format: a tag, then three big-endian u64s.
fn encode(message: &Message) -> [u8; 25] {
    let (tag, a, b, c) = match *message {
        Message::RequestVote {
            term,
            last_log_index,
            last_log_term,
        } => (1, term, last_log_index, last_log_term),
        Message::Vote { term, granted } => (2, term, u64::from(granted), 0),
        Message::Heartbeat { term } => (3, term, 0, 0),
        Message::HeartbeatResponse { term } => (4, term, 0, 0),
    };
    let mut out = [0; 25];
    out[0] = tag;
    out[1..9].copy_from_slice(&a.to_be_bytes());
    out[9..17].copy_from_slice(&b.to_be_bytes());
    out[17..25].copy_from_slice(&c.to_be_bytes());
    out
}

fn decode(bytes: &[u8]) -> Option<Message> {
    if bytes.len() != 25 {
        return None;
    }
    let word = |i: usize| u64::from_be_bytes(bytes[i..i + 8].try_into().unwrap_or_default());
    let (a, b, c) = (word(1), word(9), word(17));
    Some(match bytes[0] {
        1 => Message::RequestVote {
            term: a,
            last_log_index: b,
            last_log_term: c,
        },
        2 if b <= 1 => Message::Vote {
            term: a,
            granted: b == 1,
        },
        3 => Message::Heartbeat { term: a },
        4 => Message::HeartbeatResponse { term: a },
        _ => return None,
    })
}

// ─────────────────────────── the history ───────────────────────────

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Status {
    role: Role,
    term: Term,
    leader: Option<NodeId>,
    up: bool,
}

#[derive(Clone, Copy, Debug)]
enum Event {
    /// What a node was after a call (recorded when it changed).
    Became {
        at: Duration,
        node: NodeId,
        role: Role,
        term: Term,
    },
    /// A `Vote { granted: true }` the node sent.
    Granted {
        at: Duration,
        voter: NodeId,
        candidate: NodeId,
        term: Term,
    },
}

struct Shared {
    ids: Vec<NodeId>,
    seed: u64,
    /// Each node's disk.
    saved: BTreeMap<NodeId, Persistent>,
    starts: BTreeMap<NodeId, u64>,
    status: BTreeMap<NodeId, Status>,
    history: Vec<Event>,
    dice: Dice,
    duplicate_per_mille: u64,
}

impl Shared {
    fn peers_of(&self, id: NodeId) -> Vec<NodeId> {
        self.ids.iter().copied().filter(|&p| p != id).collect()
    }

    /// After every call to `node`: its disk, its status, the history.
    fn record(&mut self, node: &Node, at: Duration, out: &[subject::Outgoing]) {
        let id = node.id();
        self.saved.insert(id, node.persistent());
        let status = Status {
            role: node.role(),
            term: node.term(),
            leader: node.leader(),
            up: true,
        };
        let old = self.status.insert(id, status);
        if old.is_none_or(|o| (o.role, o.term, o.up) != (status.role, status.term, true)) {
            self.history.push(Event::Became {
                at,
                node: id,
                role: status.role,
                term: status.term,
            });
        }
        for o in out {
            if let Message::Vote {
                term,
                granted: true,
            } = o.message
            {
                self.history.push(Event::Granted {
                    at,
                    voter: id,
                    candidate: o.to,
                    term,
                });
            }
        }
    }
}

type World = Rc<RefCell<Shared>>;

fn now() -> Duration {
    turmoil::sim_elapsed().unwrap_or_default()
}

/// One node's software: bound to its socket, built from its disk, then
/// receive, tick, save, send, for ever.
async fn run_node(world: World, id: NodeId) -> turmoil::Result {
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, PORT)).await?;
    let (peers, seed, state) = {
        let mut w = world.borrow_mut();
        let start = w.starts.entry(id).or_insert(0);
        *start += 1;
        let start = *start;
        let seed = derive(w.seed, id.wrapping_mul(1_000).wrapping_add(start));
        (
            w.peers_of(id),
            seed,
            w.saved.get(&id).copied().unwrap_or_default(),
        )
    };
    let mut node = Node::new(id, &peers, Config::default(), seed, state, now())
        .map_err(|e| format!("node {id}: Node::new refused a valid configuration: {e:?}"))?;
    world.borrow_mut().record(&node, now(), &[]);
    let mut ticks = tokio::time::interval(NODE_TICK);
    let mut buf = [0u8; 64];
    loop {
        let out = tokio::select! {
            // Without `biased`, tokio picks among ready branches at random
            // (from an rng no seed controls): a seed would not replay.
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
            let to = (turmoil::lookup(host(o.to)), PORT);
            for _ in 0..copies {
                socket.send_to(&bytes, to).await?;
            }
        }
    }
}

/// A host that is no node of the cluster and sends junk to every node:
/// requests and heartbeats of huge terms, term 0, garbage bytes.
async fn run_stranger(ids: Vec<NodeId>, seed: u64) -> turmoil::Result {
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, PORT)).await?;
    let mut dice = Dice(derive(seed, 0x57a));
    let mut ticks = tokio::time::interval(ms(37));
    loop {
        ticks.tick().await;
        let term = match dice.below(4) {
            0 => 0,
            1 => u64::MAX,
            _ => 1 + dice.below(8),
        };
        let message = match dice.below(4) {
            0 => Message::RequestVote {
                term,
                last_log_index: u64::MAX,
                last_log_term: term,
            },
            1 => Message::Vote {
                term,
                granted: true,
            },
            2 => Message::Heartbeat { term },
            _ => Message::HeartbeatResponse { term },
        };
        let to = (
            turmoil::lookup(host(ids[dice.below(ids.len() as u64) as usize])),
            PORT,
        );
        socket.send_to(&encode(&message), to).await?;
        socket.send_to(&[9, 9, 9], to).await?;
    }
}

struct Cluster {
    sim: Sim<'static>,
    world: World,
    ids: Vec<NodeId>,
    dice: Dice,
}

#[derive(Clone)]
struct Setup {
    size: u64,
    /// Each node's log position (index, term), node 1 first; empty logs if
    /// `None`.
    logs: Option<Vec<(u64, Term)>>,
    max_latency: Duration,
    stranger: bool,
    duplicate_per_mille: u64,
}

impl Setup {
    fn of(size: u64) -> Setup {
        Setup {
            size,
            logs: None,
            max_latency: ms(20),
            stranger: true,
            duplicate_per_mille: 50,
        }
    }
}

impl Cluster {
    fn new(seed: u64, setup: &Setup) -> Cluster {
        let sim = Builder::new()
            .rng_seed(seed)
            .tick_duration(TICK)
            .simulation_duration(Duration::from_secs(3_600))
            .min_message_latency(ms(1))
            .max_message_latency(setup.max_latency)
            .enable_random_order()
            .build();
        let ids: Vec<NodeId> = (1..=setup.size).collect();
        let mut saved = BTreeMap::new();
        for (i, &(index, term)) in setup.logs.iter().flatten().enumerate() {
            let state = Persistent {
                term,
                voted_for: None,
                last_log_index: index,
                last_log_term: term,
            };
            saved.insert(ids[i], state);
        }
        let world = Rc::new(RefCell::new(Shared {
            ids: ids.clone(),
            seed,
            saved,
            starts: BTreeMap::new(),
            status: BTreeMap::new(),
            history: Vec::new(),
            dice: Dice(derive(seed, 0xd0b)),
            duplicate_per_mille: setup.duplicate_per_mille,
        }));
        let mut cluster = Cluster {
            sim,
            world,
            ids: ids.clone(),
            dice: Dice(derive(seed, 0xfa17)),
        };
        for &id in &ids {
            let world = cluster.world.clone();
            cluster
                .sim
                .host(host(id), move || run_node(world.clone(), id));
        }
        if setup.stranger {
            let ids = ids.clone();
            cluster
                .sim
                .host("x", move || run_stranger(ids.clone(), seed));
        }
        cluster
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
        if let Some(s) = self.world.borrow_mut().status.get_mut(&id) {
            s.up = false;
            s.role = Role::Follower;
        }
    }

    fn restart(&mut self, id: NodeId) {
        self.sim.bounce(host(id));
    }

    fn is_up(&mut self, id: NodeId) -> bool {
        self.sim.is_host_running(host(id))
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
                    self.sim.release(host(a), host(b));
                }
            }
        }
        self.sim.set_fail_rate(0.0);
    }

    /// One random fault: a partition, a repair, a crash, a restart, held
    /// messages, released ones, a loss rate.
    fn random_fault(&mut self) {
        let n = self.ids.len() as u64;
        match self.dice.below(8) {
            0 | 1 => {
                let side: Vec<NodeId> = self
                    .ids
                    .iter()
                    .copied()
                    .filter(|_| self.dice.chance(500))
                    .collect();
                self.partition(&side);
            }
            2 => self.heal(),
            3 => {
                let id = 1 + self.dice.below(n);
                if self.is_up(id) {
                    self.crash(id);
                }
            }
            4 => {
                let id = 1 + self.dice.below(n);
                self.restart(id);
            }
            5 => {
                let (a, b) = (1 + self.dice.below(n), 1 + self.dice.below(n));
                if a != b {
                    self.sim.hold(host(a), host(b));
                }
            }
            6 => {
                for &a in &self.ids {
                    for &b in &self.ids {
                        if a < b {
                            self.sim.release(host(a), host(b));
                        }
                    }
                }
            }
            _ => {
                let rate = [0.0, 0.05, 0.3][self.dice.below(3) as usize];
                self.sim.set_fail_rate(rate);
            }
        }
    }

    /// Random faults, one every 50 to 400 ms, for `span`.
    fn chaos(&mut self, span: Duration) -> Result<(), String> {
        let end = self.elapsed() + span;
        while self.elapsed() < end {
            let gap = ms(50 + self.dice.below(350)).min(end - self.elapsed());
            self.run(gap)?;
            self.random_fault();
        }
        Ok(())
    }

    /// The leader a majority of the whole cluster follows (itself included)
    /// in its current term, if there is one.
    fn settled_leader(&self) -> Option<(NodeId, Term)> {
        let w = self.world.borrow();
        let majority = self.ids.len() / 2 + 1;
        w.status.iter().find_map(|(&id, s)| {
            if !(s.up && s.role == Role::Leader) {
                return None;
            }
            let following = w
                .status
                .values()
                .filter(|f| f.up && f.term == s.term && f.leader == Some(id))
                .count();
            (following >= majority).then_some((id, s.term))
        })
    }

    /// The leader every node follows in one term, if there is one.
    fn all_follow_one_leader(&self) -> Option<(NodeId, Term)> {
        let w = self.world.borrow();
        let first = w.status.values().next()?;
        let (leader, term) = (first.leader?, first.term);
        let all = w.status.len() == self.ids.len()
            && w.status
                .values()
                .all(|s| s.term == term && s.leader == Some(leader));
        all.then_some((leader, term))
    }

    fn status(&self, id: NodeId) -> Status {
        self.world.borrow().status[&id]
    }

    fn history(&self) -> Vec<Event> {
        self.world.borrow().history.clone()
    }
}

// ─────────────────────────── the checkers ───────────────────────────

/// Never two leaders of one term.
fn one_leader_per_term(history: &[Event]) -> Result<(), String> {
    let mut leaders: BTreeMap<Term, (NodeId, Duration)> = BTreeMap::new();
    for e in history {
        if let Event::Became {
            at,
            node,
            role: Role::Leader,
            term,
        } = *e
        {
            let (first, since) = *leaders.entry(term).or_insert((node, at));
            if first != node {
                return Err(format!(
                    "two leaders in term {term}: node {first} (from {since:?}) and node {node} (at {at:?})"
                ));
            }
        }
    }
    Ok(())
}

/// Never two candidates given one node's vote in one term, restarts or not.
fn one_vote_per_term(history: &[Event]) -> Result<(), String> {
    let mut votes: BTreeMap<(NodeId, Term), (NodeId, Duration)> = BTreeMap::new();
    for e in history {
        if let Event::Granted {
            at,
            voter,
            candidate,
            term,
        } = *e
        {
            let (first, since) = *votes.entry((voter, term)).or_insert((candidate, at));
            if first != candidate {
                return Err(format!(
                    "node {voter} voted twice in term {term}: for node {first} (at {since:?}) and for node {candidate} (at {at:?})"
                ));
            }
        }
    }
    Ok(())
}

/// A node's term never goes down, across restarts too.
fn terms_never_go_down(history: &[Event]) -> Result<(), String> {
    let mut terms: BTreeMap<NodeId, (Term, Duration)> = BTreeMap::new();
    for e in history {
        if let Event::Became { at, node, term, .. } = *e {
            if let Some(&(before, since)) = terms.get(&node)
                && term < before
            {
                return Err(format!(
                    "node {node}'s term went down from {before} (at {since:?}) to {term} (at {at:?})"
                ));
            }
            terms.insert(node, (term, at));
        }
    }
    Ok(())
}

fn safety(cluster: &Cluster) -> Result<(), String> {
    let history = cluster.history();
    one_leader_per_term(&history)?;
    one_vote_per_term(&history)?;
    terms_never_go_down(&history)
}

fn size_for(seed: u64) -> u64 {
    3 + derive(seed, 0x512e) % 3
}

// ─────────────────────────── 9. safety ───────────────────────────

#[test]
fn no_two_leaders_in_one_term_over_many_seeds_with_partitions_loss_and_crashes() {
    check_seeds(replay(), 16, |seed| {
        let size = size_for(seed);
        let mut cluster = Cluster::new(seed, &Setup::of(size));
        cluster.chaos(ms(3_000))?;
        safety(&cluster).map_err(|e| format!("{size} nodes: {e}"))
    });
}

#[test]
fn no_node_votes_twice_in_a_term_even_across_restarts() {
    check_seeds(replay(), 10, |seed| {
        let size = size_for(seed);
        let mut cluster = Cluster::new(seed, &Setup::of(size));
        let end = ms(2_500);
        while cluster.elapsed() < end {
            // Restart a random node every 20 to 150 ms: often between a
            // vote and the next request of the same term.
            let gap = ms(20 + cluster.dice.below(130));
            cluster.run(gap)?;
            let id = 1 + cluster.dice.below(size);
            cluster.restart(id);
            if cluster.dice.chance(200) {
                cluster.random_fault();
            }
        }
        safety(&cluster).map_err(|e| format!("{size} nodes, restarted often: {e}"))
    });
}

// ─────────────────────────── 10. liveness ───────────────────────────

#[test]
fn once_a_majority_can_talk_a_leader_is_elected_within_ten_election_timeouts() {
    check_seeds(replay(), 10, |seed| {
        let size = size_for(seed);
        let mut cluster = Cluster::new(seed, &Setup::of(size));
        cluster.chaos(ms(1_500))?;
        // Heal, but leave a minority out: crashed or cut off.
        cluster.heal();
        let out = (size - 1) / 2;
        let mut left_out = Vec::new();
        for id in 1..=size {
            if (left_out.len() as u64) < out && cluster.dice.chance(500) {
                left_out.push(id);
            } else if !cluster.is_up(id) {
                cluster.restart(id);
            }
        }
        if cluster.dice.chance(500) {
            cluster.partition(&left_out);
        } else {
            for &id in &left_out {
                if cluster.is_up(id) {
                    cluster.crash(id);
                }
            }
        }
        let healed = cluster.elapsed();
        let elected = cluster.run_until(LIVENESS_BOUND, |c| c.settled_leader().is_some())?;
        if !elected {
            let status = cluster.world.borrow().status.clone();
            return Err(format!(
                "{size} nodes, healed at {healed:?} with nodes {left_out:?} left out: no leader followed by a majority within {LIVENESS_BOUND:?} (10 election timeouts); the nodes: {status:?}"
            ));
        }
        safety(&cluster)
    });
}

#[test]
fn a_cluster_that_can_talk_keeps_one_leader_and_one_term() {
    check_seeds(replay(), 8, |seed| {
        let size = size_for(seed);
        let setup = Setup {
            stranger: false,
            ..Setup::of(size)
        };
        let mut cluster = Cluster::new(seed, &setup);
        if !cluster.run_until(LIVENESS_BOUND, |c| c.all_follow_one_leader().is_some())? {
            let status = cluster.world.borrow().status.clone();
            return Err(format!(
                "{size} nodes, no faults: not every node followed one leader within {LIVENESS_BOUND:?}: {status:?}"
            ));
        }
        let (leader, term) = cluster.all_follow_one_leader().unwrap_or_default();
        let since = cluster.elapsed();
        let mut change = None;
        cluster.run_until(ms(2_000), |c| {
            let w = c.world.borrow();
            change = w
                .status
                .iter()
                .find(|(_, s)| s.term != term || s.leader != Some(leader))
                .map(|(&id, &s)| (id, s, c.elapsed()));
            change.is_some()
        })?;
        match change {
            Some((id, s, at)) => Err(format!(
                "{size} nodes, no faults: node {leader} led term {term} from {since:?}, but at {at:?} node {id} was {s:?}; with heartbeats every 50 ms and messages taking at most 20 ms, nobody should stand again"
            )),
            None => Ok(()),
        }
    });
}

#[test]
fn a_cluster_of_four_split_two_and_two_elects_no_one_until_it_heals() {
    check_seeds(replay(), 5, |seed| {
        let mut cluster = Cluster::new(seed, &Setup::of(4));
        cluster.partition(&[1, 2]);
        let split = cluster.run_until(ms(3_000), |c| {
            c.world
                .borrow()
                .status
                .values()
                .any(|s| s.role == Role::Leader)
        })?;
        if split {
            return Err(format!(
                "four nodes split 2 and 2: a node became leader at {:?}, but a majority of four is three",
                cluster.elapsed()
            ));
        }
        cluster.heal();
        if !cluster.run_until(LIVENESS_BOUND, |c| c.settled_leader().is_some())? {
            return Err(format!(
                "four nodes healed at 3 s: no leader within {LIVENESS_BOUND:?}"
            ));
        }
        safety(&cluster)
    });
}

#[test]
fn only_a_node_whose_log_is_as_up_to_date_as_a_majority_can_lead() {
    // (index, term) of the last log entry of nodes 1 to 5. Node 5 has the
    // longest log but the oldest last term: it must never lead. Nodes 3 and
    // 4 are at least as up to date as themselves and node 5: they may.
    let logs = vec![(5, 3), (4, 3), (9, 2), (9, 2), (20, 1)];
    let setup = Setup {
        logs: Some(logs.clone()),
        ..Setup::of(5)
    };
    check_seeds(replay(), 8, |seed| {
        let mut cluster = Cluster::new(seed, &setup);
        let mut leaders = BTreeSet::new();
        let end = ms(3_000);
        while cluster.elapsed() < end {
            // Depose whoever leads, so that many nodes get their chance.
            let settled = cluster.run_until(ms(600), |c| c.settled_leader().is_some())?;
            if let (true, Some((leader, _))) = (settled, cluster.settled_leader()) {
                leaders.insert(leader);
                cluster.crash(leader);
                cluster.run(ms(100))?;
                cluster.restart(leader);
            }
        }
        for e in cluster.history() {
            if let Event::Became {
                at,
                node,
                role: Role::Leader,
                term,
            } = e
            {
                let mine = logs[node as usize - 1];
                let behind = logs
                    .iter()
                    .filter(|&&(i, t)| (t, i) <= (mine.1, mine.0))
                    .count();
                if behind < 3 {
                    return Err(format!(
                        "node {node} (log ending at index {}, term {}) led term {term} at {at:?}, but only {behind} of 5 logs are as far behind as its own; the logs (index, term) of nodes 1 to 5: {logs:?}",
                        mine.0, mine.1
                    ));
                }
            }
        }
        if leaders.is_empty() {
            return Err(format!(
                "no leader in 3 s; the logs of nodes 1 to 5: {logs:?}"
            ));
        }
        safety(&cluster)
    });
}

// ─────────────────────────── 11. follow-up ───────────────────────────

#[test]
fn followup_a_partitioned_old_leader_that_rejoins_steps_down() {
    check_seeds(replay(), 10, |seed| {
        let setup = Setup {
            stranger: false,
            duplicate_per_mille: 0,
            ..Setup::of(5)
        };
        let mut cluster = Cluster::new(seed, &setup);
        if !cluster.run_until(LIVENESS_BOUND, |c| c.settled_leader().is_some())? {
            return Err(format!(
                "five nodes, no faults: no leader within {LIVENESS_BOUND:?}"
            ));
        }
        let (old, old_term) = cluster.settled_leader().unwrap_or_default();
        cluster.partition(&[old]);
        let others = cluster.run_until(LIVENESS_BOUND, |c| {
            c.settled_leader()
                .is_some_and(|(l, t)| l != old && t > old_term)
        })?;
        if !others {
            return Err(format!(
                "node {old} led term {old_term} and was cut off: the other four did not elect a new leader within {LIVENESS_BOUND:?}"
            ));
        }
        let (new, new_term) = cluster.settled_leader().unwrap_or_default();
        cluster.heal();
        let healed = cluster.elapsed();
        let bound = ms(300);
        let stepped_down = cluster.run_until(bound, |c| {
            let s = c.status(old);
            s.role == Role::Follower && s.term >= new_term
        })?;
        if !stepped_down {
            return Err(format!(
                "node {old} led term {old_term}, was cut off while node {new} was elected for term {new_term}, and rejoined at {healed:?}: within {bound:?} it should have stepped down to follow term {new_term} or later; it is {:?}",
                cluster.status(old)
            ));
        }
        safety(&cluster)
    });
}
