//! The specification of the service-registry kata, whole systems on a
//! simulated network.
//!
//! The registry, every instance agent and every discovery client run as
//! hosts of a [turmoil] simulation: a small driver loop on a simulated UDP
//! socket hands each datagram to `receive`, calls `tick` every 10 ms of
//! simulated time and sends what the component returned, sometimes twice
//! (the network duplicates). The spec owns the network: it partitions and
//! repairs links, holds messages and releases them late, loses a share of
//! them, crashes and restarts instances, has instances deregister, and lets
//! a stranger host send junk to everyone. Everything comes from one seed.
//!
//! The driver records every message the registry sends and receives, the
//! registry's set after every call, and every client's set after every
//! call. Safety is judged on that history (what the registry said on the
//! wire, what each client served), never on a component's internals.
//!
//! A failing spec names its seed and the command that replays it
//! (`KATA_SIM_SEED=<seed> cargo xtask check service-registry`).
//!
//! `cargo test -p service-registry` judges your code;
//! `cargo test -p service-registry --features solution` judges the reference.

// The workspace's loom build (`--cfg kata_loom`) skips this file.
#![cfg(not(kata_loom))]

#[cfg(not(feature = "solution"))]
use service_registry as subject;
#[cfg(feature = "solution")]
use service_registry_solution as subject;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::rc::Rc;
use std::time::Duration;

use spec_probes::sim::{Dice, Replay, check_seeds, derive};
use subject::{
    Client, ClientConfig, Entry, Instance, InstanceConfig, LeaseId, Message, NodeId, Outgoing,
    Registry, RegistryConfig, Version,
};
use turmoil::net::UdpSocket;
use turmoil::{Builder, Sim};

// ─────────────────────────── the network ───────────────────────────

const PORT: u16 = 7000;
/// The registry's host.
const REG: NodeId = 1;
/// The id the driver gives a sender that is not a host of the system.
const STRANGER: NodeId = 666;
/// One step of the simulation; every component ticks every `TICK`.
const TICK: Duration = Duration::from_millis(10);
/// Requirement 12's grace: one registry tick and a round trip and a half.
const GRACE: Duration = Duration::from_millis(100);
/// Requirement 15: `HERD` instances; at most `HERD_BOUND` registrations in
/// any `HERD_WINDOW` after a partition heals (100 a second; instances
/// retrying in step all arrive within one 10 ms step).
const HERD: u64 = 30;
const HERD_WINDOW: Duration = Duration::from_millis(100);
const HERD_BOUND: usize = 10;

/// The registry grants at most 900 ms; instances ask for 3 s, so they must
/// heartbeat every third of what they were granted (300 ms), not of what
/// they asked for.
fn registry_config() -> RegistryConfig {
    RegistryConfig {
        max_ttl: ms(900),
        watch_hold: ms(1_000),
    }
}

fn instance_config() -> InstanceConfig {
    InstanceConfig {
        ttl: ms(3_000),
        ..InstanceConfig::default() // timeout 200 ms, backoff 100 ms to 2 s
    }
}

fn client_config() -> ClientConfig {
    ClientConfig::default() // watch_timeout 1.5 s
}

/// The replay commands name the kata the learner checks.
fn replay() -> Replay {
    Replay::new("service-registry", "sim")
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn host(id: NodeId) -> String {
    format!("h{id}")
}

// ─────────────────────────── the wire ───────────────────────────

fn put(out: &mut Vec<u8>, word: u64) {
    out.extend_from_slice(&word.to_be_bytes());
}

fn put_duration(out: &mut Vec<u8>, d: Duration) {
    put(out, d.as_secs());
    put(out, u64::from(d.subsec_nanos()));
}

/// A tag, then big-endian u64 words (a duration is two: seconds, nanos).
fn encode(message: &Message) -> Vec<u8> {
    let mut out = Vec::with_capacity(32);
    match message {
        Message::Register { request, ttl } => {
            out.push(1);
            put(&mut out, *request);
            put_duration(&mut out, *ttl);
        }
        Message::Heartbeat { request, lease } => {
            out.push(2);
            put(&mut out, *request);
            put(&mut out, *lease);
        }
        Message::Deregister { request, lease } => {
            out.push(3);
            put(&mut out, *request);
            put(&mut out, *lease);
        }
        Message::Registered {
            request,
            lease,
            ttl,
        } => {
            out.push(4);
            put(&mut out, *request);
            put(&mut out, *lease);
            put_duration(&mut out, *ttl);
        }
        Message::InvalidTtl { request } => {
            out.push(5);
            put(&mut out, *request);
        }
        Message::Renewed { request, lease } => {
            out.push(6);
            put(&mut out, *request);
            put(&mut out, *lease);
        }
        Message::UnknownLease { request, lease } => {
            out.push(7);
            put(&mut out, *request);
            put(&mut out, *lease);
        }
        Message::Deregistered { request, lease } => {
            out.push(8);
            put(&mut out, *request);
            put(&mut out, *lease);
        }
        Message::Watch { known } => {
            out.push(9);
            put(&mut out, *known);
        }
        Message::Snapshot { version, instances } => {
            out.push(10);
            put(&mut out, *version);
            for e in instances {
                put(&mut out, e.instance);
                put(&mut out, e.lease);
            }
        }
    }
    out
}

fn decode(bytes: &[u8]) -> Option<Message> {
    let (&tag, rest) = bytes.split_first()?;
    if rest.len() % 8 != 0 {
        return None;
    }
    let w: Vec<u64> = rest
        .chunks(8)
        .map(|c| u64::from_be_bytes(c.try_into().unwrap_or_default()))
        .collect();
    let duration = |s: u64, n: u64| {
        Some(Duration::new(
            s,
            u32::try_from(n).ok().filter(|&n| n < 1_000_000_000)?,
        ))
    };
    Some(match (tag, &w[..]) {
        (1, &[request, s, n]) => Message::Register {
            request,
            ttl: duration(s, n)?,
        },
        (2, &[request, lease]) => Message::Heartbeat { request, lease },
        (3, &[request, lease]) => Message::Deregister { request, lease },
        (4, &[request, lease, s, n]) => Message::Registered {
            request,
            lease,
            ttl: duration(s, n)?,
        },
        (5, &[request]) => Message::InvalidTtl { request },
        (6, &[request, lease]) => Message::Renewed { request, lease },
        (7, &[request, lease]) => Message::UnknownLease { request, lease },
        (8, &[request, lease]) => Message::Deregistered { request, lease },
        (9, &[known]) => Message::Watch { known },
        (10, [version, pairs @ ..]) if pairs.len() % 2 == 0 => Message::Snapshot {
            version: *version,
            instances: pairs
                .chunks(2)
                .map(|p| Entry {
                    instance: p[0],
                    lease: p[1],
                })
                .collect(),
        },
        _ => return None,
    })
}

// ─────────────────────────── the history ───────────────────────────

/// A state of a set: when, the version, the entries.
type State = (Duration, Version, Vec<Entry>);

struct Shared {
    seed: u64,
    starts: BTreeMap<NodeId, u64>,
    /// Every message the registry sent, in order, with when and to whom.
    sent: Vec<(Duration, NodeId, Message)>,
    /// When the registry received each `Register` from an instance.
    registers: Vec<(Duration, NodeId)>,
    /// The registry's set after every call that changed it.
    registry: Vec<State>,
    /// Each client's set after every call that changed it.
    client: BTreeMap<NodeId, Vec<State>>,
    /// Instances told to deregister at (or after) an instant.
    stop_at: BTreeMap<NodeId, Duration>,
    /// When each instance deregistered.
    stopped: BTreeMap<NodeId, Duration>,
    dice: Dice,
    duplicate_per_mille: u64,
}

type World = Rc<RefCell<Shared>>;

fn now() -> Duration {
    turmoil::sim_elapsed().unwrap_or_default()
}

fn sender(from: std::net::SocketAddr) -> NodeId {
    turmoil::reverse_lookup(from.ip())
        .and_then(|name| name.strip_prefix('h')?.parse().ok())
        .unwrap_or(STRANGER)
}

/// Sends `out`, each message once or (sometimes) twice.
async fn send_all(world: &World, socket: &UdpSocket, out: &[Outgoing]) -> turmoil::Result {
    for o in out {
        let copies = {
            let mut w = world.borrow_mut();
            let dup = w.duplicate_per_mille;
            1 + u64::from(w.dice.chance(dup))
        };
        let bytes = encode(&o.message);
        let to = (turmoil::lookup(host(o.to)), PORT);
        for _ in 0..copies {
            socket.send_to(&bytes, to).await?;
        }
    }
    Ok(())
}

async fn run_registry(world: World) -> turmoil::Result {
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, PORT)).await?;
    let mut registry = Registry::new(registry_config())
        .map_err(|e| format!("Registry::new refused a valid configuration: {e:?}"))?;
    world
        .borrow_mut()
        .registry
        .push((now(), registry.version(), registry.instances()));
    let mut ticks = tokio::time::interval(TICK);
    let mut buf = vec![0u8; 65_536];
    loop {
        let out = tokio::select! {
            // Without `biased`, tokio picks among ready branches at random
            // (from an rng no seed controls): a seed would not replay.
            biased;
            got = socket.recv_from(&mut buf) => {
                let (len, from) = got?;
                let Some(message) = decode(&buf[..len]) else { continue };
                let from = sender(from);
                if matches!(message, Message::Register { .. }) {
                    world.borrow_mut().registers.push((now(), from));
                }
                // A refused message is the registry's business: it must change nothing.
                registry.receive(from, message, now()).unwrap_or_default()
            }
            _ = ticks.tick() => registry.tick(now()),
        };
        {
            let mut w = world.borrow_mut();
            let at = now();
            // Within one call the order of the answers is the registry's
            // business: the history takes grants, renewals and ends first,
            // then the snapshots of the same call.
            let (snapshots, answers): (Vec<&Outgoing>, Vec<&Outgoing>) = out
                .iter()
                .partition(|o| matches!(o.message, Message::Snapshot { .. }));
            for o in answers.into_iter().chain(snapshots) {
                w.sent.push((at, o.to, o.message.clone()));
            }
            let (version, set) = (registry.version(), registry.instances());
            if w.registry
                .last()
                .is_none_or(|s| (s.1, &s.2) != (version, &set))
            {
                w.registry.push((at, version, set));
            }
        }
        send_all(&world, &socket, &out).await?;
    }
}

async fn run_instance(world: World, id: NodeId) -> turmoil::Result {
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, PORT)).await?;
    let seed = {
        let mut w = world.borrow_mut();
        let start = w.starts.entry(id).or_insert(0);
        *start += 1;
        let start = *start;
        derive(w.seed, id.wrapping_mul(1_000).wrapping_add(start))
    };
    let mut agent = Instance::new(id, REG, instance_config(), seed, now()).map_err(|e| {
        format!("instance {id}: Instance::new refused a valid configuration: {e:?}")
    })?;
    let mut ticks = tokio::time::interval(TICK);
    let mut buf = vec![0u8; 65_536];
    loop {
        let out = tokio::select! {
            // Without `biased`, tokio picks among ready branches at random
            // (from an rng no seed controls): a seed would not replay.
            biased;
            got = socket.recv_from(&mut buf) => {
                let (len, from) = got?;
                let Some(message) = decode(&buf[..len]) else { continue };
                agent.receive(sender(from), message, now()).unwrap_or_default()
            }
            _ = ticks.tick() => {
                let stop = world.borrow().stop_at.get(&id).is_some_and(|&at| now() >= at);
                if stop {
                    let mut w = world.borrow_mut();
                    w.stop_at.remove(&id);
                    w.stopped.insert(id, now());
                    drop(w);
                    agent.deregister(now())
                } else {
                    agent.tick(now())
                }
            }
        };
        send_all(&world, &socket, &out).await?;
    }
}

async fn run_client(world: World, id: NodeId) -> turmoil::Result {
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, PORT)).await?;
    let mut client = Client::new(id, REG, client_config(), now())
        .map_err(|e| format!("client {id}: Client::new refused a valid configuration: {e:?}"))?;
    let mut ticks = tokio::time::interval(TICK);
    let mut buf = vec![0u8; 65_536];
    loop {
        let out = tokio::select! {
            // Without `biased`, tokio picks among ready branches at random
            // (from an rng no seed controls): a seed would not replay.
            biased;
            got = socket.recv_from(&mut buf) => {
                let (len, from) = got?;
                let Some(message) = decode(&buf[..len]) else { continue };
                client.receive(sender(from), message, now()).unwrap_or_default()
            }
            _ = ticks.tick() => client.tick(now()),
        };
        {
            let mut w = world.borrow_mut();
            let (version, set) = (client.version(), client.instances().to_vec());
            let states = w.client.entry(id).or_default();
            if states.last().is_none_or(|s| (s.1, &s.2) != (version, &set)) {
                states.push((now(), version, set));
            }
        }
        send_all(&world, &socket, &out).await?;
    }
}

/// A host that is none of the system's and sends junk to everyone:
/// heartbeats and deregistrations of other hosts' leases, registrations
/// with TTLs of zero and `Duration::MAX`, snapshots to clients and answers
/// to instances, garbage bytes.
async fn run_stranger(targets: Vec<NodeId>, seed: u64) -> turmoil::Result {
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, PORT)).await?;
    let mut dice = Dice(derive(seed, 0x57a));
    let mut ticks = tokio::time::interval(ms(23));
    loop {
        ticks.tick().await;
        let lease = 1 + dice.below(12);
        let request = dice.roll();
        let (to, message) = match dice.below(8) {
            0 => (REG, Message::Heartbeat { request, lease }),
            1 => (REG, Message::Deregister { request, lease }),
            2 => {
                let ttl = [Duration::ZERO, Duration::MAX, ms(1)][dice.below(3) as usize];
                (REG, Message::Register { request, ttl })
            }
            3 => (
                REG,
                Message::Snapshot {
                    version: 1,
                    instances: vec![],
                },
            ),
            4 | 5 => {
                let to = targets[dice.below(targets.len() as u64) as usize];
                let version = [1, 1_000, u64::MAX][dice.below(3) as usize];
                let instances = vec![Entry {
                    instance: STRANGER,
                    lease: 99,
                }];
                (to, Message::Snapshot { version, instances })
            }
            _ => {
                let to = targets[dice.below(targets.len() as u64) as usize];
                let message = match dice.below(3) {
                    0 => Message::UnknownLease { request, lease },
                    1 => Message::Registered {
                        request,
                        lease: 99,
                        ttl: ms(900),
                    },
                    _ => Message::Renewed { request, lease },
                };
                (to, message)
            }
        };
        let to = (turmoil::lookup(host(to)), PORT);
        socket.send_to(&encode(&message), to).await?;
        socket.send_to(&[9, 9, 9], to).await?;
    }
}

struct System {
    sim: Sim<'static>,
    world: World,
    instances: Vec<NodeId>,
    clients: Vec<NodeId>,
    dice: Dice,
}

#[derive(Clone)]
struct Setup {
    instances: u64,
    clients: u64,
    max_latency: Duration,
    stranger: bool,
    duplicate_per_mille: u64,
}

impl Setup {
    fn calm(instances: u64, clients: u64) -> Setup {
        Setup {
            instances,
            clients,
            max_latency: ms(20),
            stranger: true,
            duplicate_per_mille: 0,
        }
    }
}

impl System {
    fn new(seed: u64, setup: &Setup) -> System {
        let sim = Builder::new()
            .rng_seed(seed)
            .tick_duration(TICK)
            .simulation_duration(Duration::from_secs(3_600))
            .min_message_latency(ms(1))
            .max_message_latency(setup.max_latency)
            .enable_random_order()
            .build();
        let instances: Vec<NodeId> = (0..setup.instances).map(|i| 10 + i).collect();
        let clients: Vec<NodeId> = (0..setup.clients).map(|i| 200 + i).collect();
        let world = Rc::new(RefCell::new(Shared {
            seed,
            starts: BTreeMap::new(),
            sent: Vec::new(),
            registers: Vec::new(),
            registry: Vec::new(),
            client: BTreeMap::new(),
            stop_at: BTreeMap::new(),
            stopped: BTreeMap::new(),
            dice: Dice(derive(seed, 0xd0b)),
            duplicate_per_mille: setup.duplicate_per_mille,
        }));
        let mut system = System {
            sim,
            world,
            instances: instances.clone(),
            clients: clients.clone(),
            dice: Dice(derive(seed, 0xfa17)),
        };
        let w = system.world.clone();
        system.sim.host(host(REG), move || run_registry(w.clone()));
        for &id in &instances {
            let w = system.world.clone();
            system
                .sim
                .host(host(id), move || run_instance(w.clone(), id));
        }
        for &id in &clients {
            let w = system.world.clone();
            system.sim.host(host(id), move || run_client(w.clone(), id));
        }
        if setup.stranger {
            let targets: Vec<NodeId> = instances.iter().chain(&clients).copied().collect();
            system
                .sim
                .host(host(STRANGER), move || run_stranger(targets.clone(), seed));
        }
        system
    }

    fn elapsed(&self) -> Duration {
        self.sim.elapsed()
    }

    fn run(&mut self, span: Duration) -> Result<(), String> {
        let end = self.elapsed() + span;
        while self.elapsed() < end {
            self.sim
                .step()
                .map_err(|e| format!("the simulation stopped at {:?}: {e}", self.elapsed()))?;
        }
        Ok(())
    }

    /// Cuts the links between the registry and `hosts`.
    fn cut(&mut self, hosts: &[NodeId]) {
        for &h in hosts {
            self.sim.partition(host(REG), host(h));
        }
    }

    fn repair(&mut self, hosts: &[NodeId]) {
        for &h in hosts {
            self.sim.repair(host(REG), host(h));
        }
    }

    fn everyone(&self) -> Vec<NodeId> {
        self.instances
            .iter()
            .chain(&self.clients)
            .copied()
            .collect()
    }

    fn heal(&mut self) {
        for h in self.everyone() {
            self.sim.repair(host(REG), host(h));
            self.sim.release(host(REG), host(h));
            self.sim.release(host(h), host(REG));
        }
        self.sim.set_fail_rate(0.0);
    }

    fn stop_instance_at(&mut self, id: NodeId, at: Duration) {
        self.world.borrow_mut().stop_at.insert(id, at);
    }

    /// One random fault: a partition, a repair, a crash, a restart, a
    /// deregistration, held messages, released ones, a loss rate.
    fn random_fault(&mut self) {
        let everyone = self.everyone();
        let pick = |dice: &mut Dice, from: &[NodeId]| from[dice.below(from.len() as u64) as usize];
        match self.dice.below(10) {
            0 | 1 => {
                let side: Vec<NodeId> = everyone
                    .iter()
                    .copied()
                    .filter(|_| self.dice.chance(300))
                    .collect();
                self.cut(&side);
            }
            2 => self.heal(),
            3 => {
                let id = pick(&mut self.dice, &self.instances);
                if self.sim.is_host_running(host(id)) {
                    self.sim.crash(host(id));
                }
            }
            4 => {
                let id = pick(&mut self.dice, &self.instances);
                self.sim.bounce(host(id));
            }
            5 => {
                let id = pick(&mut self.dice, &self.instances);
                let at = self.elapsed();
                self.stop_instance_at(id, at);
            }
            6 => {
                let id = pick(&mut self.dice, &everyone);
                if self.dice.chance(500) {
                    self.sim.hold(host(REG), host(id));
                } else {
                    self.sim.hold(host(id), host(REG));
                }
            }
            7 => {
                for h in &everyone {
                    self.sim.release(host(REG), host(*h));
                    self.sim.release(host(*h), host(REG));
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
}

// ─────────────────────────── the checkers ───────────────────────────

/// What the registry's own words say about one lease.
#[derive(Clone, Copy, Debug)]
struct LeaseRecord {
    holder: NodeId,
    ttl: Duration,
    /// When the registry last granted or renewed it (the answer's instant).
    renewed: Duration,
    /// Why and when it ended, as far as the wire tells.
    ended: Option<(&'static str, Duration)>,
}

impl LeaseRecord {
    fn deadline(&self) -> Duration {
        self.renewed.saturating_add(self.ttl)
    }
}

/// Requirement 11, on what the registry sent: no snapshot lists a lease it
/// did not grant or renew less than its TTL before, that it answered
/// `Deregistered` or `UnknownLease` for to its holder, or that an earlier
/// snapshot left out; no lease is renewed or granted again once over; one
/// version is one set; versions never go down.
fn no_ended_lease_listed(
    sent: &[(Duration, NodeId, Message)],
) -> Result<BTreeMap<LeaseId, LeaseRecord>, String> {
    let mut leases: BTreeMap<LeaseId, LeaseRecord> = BTreeMap::new();
    let mut listed: BTreeSet<LeaseId> = BTreeSet::new();
    let mut dropped: BTreeMap<LeaseId, Duration> = BTreeMap::new();
    let mut versions: BTreeMap<Version, Vec<Entry>> = BTreeMap::new();
    let mut last_version: Version = 0;
    for (at, to, message) in sent {
        let (at, to) = (*at, *to);
        let over = |r: &LeaseRecord| -> Option<String> {
            if let Some((why, when)) = r.ended {
                return Some(format!("it ended at {when:?} ({why})"));
            }
            if at >= r.deadline() {
                return Some(format!(
                    "it ran out at {:?} (last granted or renewed at {:?}, TTL {:?})",
                    r.deadline(),
                    r.renewed,
                    r.ttl
                ));
            }
            None
        };
        match message {
            Message::Registered { lease, ttl, .. } => {
                if let Some(r) = leases.get(lease) {
                    if r.holder != to {
                        return Err(format!(
                            "lease {lease} granted to host {to} at {at:?}, but it was host {}'s",
                            r.holder
                        ));
                    }
                    if let Some(why) = over(r) {
                        return Err(format!(
                            "lease {lease} of host {to} granted again at {at:?}, but {why}: an ended lease never comes back"
                        ));
                    }
                    if let Some(when) = dropped.get(lease) {
                        return Err(format!(
                            "lease {lease} of host {to} granted again at {at:?}, but a snapshot at {when:?} had already left it out"
                        ));
                    }
                }
                leases.insert(
                    *lease,
                    LeaseRecord {
                        holder: to,
                        ttl: *ttl,
                        renewed: at,
                        ended: None,
                    },
                );
            }
            Message::Renewed { lease, .. } => {
                let Some(r) = leases.get_mut(lease) else {
                    return Err(format!(
                        "lease {lease} renewed for host {to} at {at:?}, but it was never granted"
                    ));
                };
                if r.holder != to {
                    return Err(format!(
                        "host {}'s lease {lease} renewed for host {to} at {at:?}: only its holder may renew it",
                        r.holder
                    ));
                }
                let snapshot = *r;
                if let Some(why) = over(&snapshot) {
                    return Err(format!(
                        "lease {lease} of host {to} renewed at {at:?}, but {why}: a late heartbeat must be answered UnknownLease, never revive it"
                    ));
                }
                if let Some(when) = dropped.get(lease) {
                    return Err(format!(
                        "lease {lease} of host {to} renewed at {at:?}, but a snapshot at {when:?} had already left it out"
                    ));
                }
                r.renewed = at;
            }
            Message::UnknownLease { lease, .. } => {
                if let Some(r) = leases.get_mut(lease)
                    && r.holder == to
                    && r.ended.is_none()
                {
                    r.ended = Some(("answered UnknownLease", at));
                }
            }
            Message::Deregistered { lease, .. } => {
                if let Some(r) = leases.get_mut(lease)
                    && r.holder == to
                    && r.ended.is_none()
                {
                    r.ended = Some(("deregistered", at));
                }
            }
            Message::Snapshot { version, instances } => {
                if *version < last_version {
                    return Err(format!(
                        "a snapshot of version {version} sent at {at:?} after one of version {last_version}: versions never go down"
                    ));
                }
                last_version = *version;
                if let Some(earlier) = versions.get(version)
                    && earlier != instances
                {
                    return Err(format!(
                        "two snapshots of version {version} with different sets: {earlier:?}, then {instances:?} at {at:?}; every change of the set makes the version go up"
                    ));
                }
                versions.insert(*version, instances.clone());
                for e in instances {
                    let Some(r) = leases.get(&e.lease) else {
                        return Err(format!(
                            "the snapshot of version {version} sent at {at:?} lists lease {} of host {}, which the registry never granted",
                            e.lease, e.instance
                        ));
                    };
                    if r.holder != e.instance {
                        return Err(format!(
                            "the snapshot of version {version} sent at {at:?} lists lease {} under host {}, but it was granted to host {}",
                            e.lease, e.instance, r.holder
                        ));
                    }
                    if let Some(why) = over(r) {
                        return Err(format!(
                            "the snapshot of version {version} sent at {at:?} lists lease {} of host {}, but {why}",
                            e.lease, e.instance
                        ));
                    }
                    if let Some(when) = dropped.get(&e.lease) {
                        return Err(format!(
                            "the snapshot of version {version} sent at {at:?} lists lease {} of host {}, which a snapshot at {when:?} had left out: an ended lease never comes back",
                            e.lease, e.instance
                        ));
                    }
                }
                let now_listed: BTreeSet<LeaseId> = instances.iter().map(|e| e.lease).collect();
                for gone in listed.difference(&now_listed) {
                    dropped.entry(*gone).or_insert(at);
                }
                listed = now_listed;
            }
            _ => {}
        }
    }
    Ok(leases)
}

/// Every set a client served is one the registry sent under that version,
/// and a client's version never goes down.
fn clients_serve_only_what_the_registry_sent(w: &Shared) -> Result<(), String> {
    let mut versions: BTreeMap<Version, &Vec<Entry>> = BTreeMap::new();
    for (_, _, m) in &w.sent {
        if let Message::Snapshot { version, instances } = m {
            versions.insert(*version, instances);
        }
    }
    for (&client, states) in &w.client {
        let mut last = 0;
        for (at, version, set) in states {
            if *version < last {
                return Err(format!(
                    "client {client}'s version went down from {last} to {version} at {at:?}: a late snapshot must never take the set back"
                ));
            }
            last = *version;
            let expected = if *version == 0 {
                Some(&Vec::new())
            } else {
                versions.get(version).copied()
            };
            if expected != Some(set) {
                return Err(format!(
                    "client {client} served {set:?} at version {version} from {at:?}, but the registry sent {expected:?} under that version"
                ));
            }
        }
    }
    Ok(())
}

fn safety(system: &System) -> Result<(), String> {
    let w = system.world.borrow();
    no_ended_lease_listed(&w.sent)?;
    clients_serve_only_what_the_registry_sent(&w)
}

/// A client's state at `at`: the last one recorded at or before it.
fn state_at(states: &[State], at: Duration) -> Option<&State> {
    states.iter().take_while(|s| s.0 <= at).last()
}

// ─────────────────────────── 11. safety ───────────────────────────

#[test]
fn no_ended_lease_is_ever_listed_over_many_seeds_with_partitions_loss_and_crashes() {
    check_seeds(replay(), 10, |seed| {
        let setup = Setup {
            max_latency: ms(50),
            duplicate_per_mille: 50,
            ..Setup::calm(6, 3)
        };
        let mut system = System::new(seed, &setup);
        system.chaos(ms(5_000))?;
        safety(&system)
    });
}

// ─────────────────────────── 12. clients follow ───────────────────────────

#[test]
fn a_client_in_touch_with_the_registry_drops_an_ended_instance_within_ttl_plus_grace() {
    check_seeds(replay(), 8, |seed| {
        let mut system = System::new(seed, &Setup::calm(6, 3));
        // Clients cut off for a while: (client, from, until, repaired at).
        let mut cut: Vec<(NodeId, Duration, Duration, Option<Duration>)> = Vec::new();
        let end = ms(7_000);
        while system.elapsed() < end {
            let gap = ms(100 + system.dice.below(400));
            system.run(gap)?;
            let at = system.elapsed();
            for c in cut.iter_mut().filter(|c| c.3.is_none() && c.2 <= at) {
                system.sim.repair(host(REG), host(c.0));
                c.3 = Some(at);
            }
            let instance = system.instances[system.dice.below(6) as usize];
            match system.dice.below(6) {
                0 => {
                    if system.sim.is_host_running(host(instance)) {
                        system.sim.crash(host(instance));
                    } else {
                        system.sim.bounce(host(instance));
                    }
                }
                1 => system.stop_instance_at(instance, at),
                2 => system.sim.bounce(host(instance)),
                3 => {
                    let id = system.clients[system.dice.below(3) as usize];
                    if cut.iter().all(|c| c.0 != id || c.3.is_some()) {
                        let span = ms(300 + system.dice.below(1_500));
                        system.cut(&[id]);
                        cut.push((id, at, at + span, None));
                    }
                }
                _ => {}
            }
        }
        let end = system.elapsed();
        let w = system.world.borrow();
        let leases = no_ended_lease_listed(&w.sent)?;
        for (&lease, r) in &leases {
            let ended = match r.ended {
                Some((_, when)) => when.min(r.deadline()),
                None => r.deadline(),
            };
            let due = ended + GRACE;
            if due + ms(10) >= end {
                continue;
            }
            for (&client, states) in &w.client {
                // In touch: not cut off at any time from watch_timeout and a
                // round trip before the end to the deadline (a client cut off
                // may still wait on a watch lost in the partition).
                let since = ended.saturating_sub(client_config().watch_timeout + GRACE);
                let in_touch = cut.iter().all(|&(c, from, _, repaired)| {
                    c != client || from > due || repaired.is_some_and(|r| r < since)
                });
                if !in_touch {
                    continue;
                }
                if let Some((at, version, set)) = state_at(states, due)
                    && set.iter().any(|e| e.lease == lease)
                {
                    return Err(format!(
                        "lease {lease} of host {} ended at {ended:?}; client {client}, in touch with the registry, still served it at {due:?} (version {version}, since {at:?}): it should be gone within TTL plus {GRACE:?}",
                        r.holder
                    ));
                }
            }
        }
        drop(w);
        safety(&system)
    });
}

// ─────────────────────────── 13. outages ───────────────────────────

#[test]
fn no_client_is_left_empty_handed_while_the_registry_is_partitioned_away() {
    check_seeds(replay(), 6, |seed| {
        let mut system = System::new(seed, &Setup::calm(5, 3));
        system.run(ms(1_500))?;
        let clients = system.clients.clone();
        let before: BTreeMap<NodeId, (Version, Vec<Entry>)> = {
            let w = system.world.borrow();
            clients
                .iter()
                .map(|c| {
                    let s = w
                        .client
                        .get(c)
                        .and_then(|s| s.last())
                        .cloned()
                        .unwrap_or_default();
                    (*c, (s.1, s.2))
                })
                .collect()
        };
        for (c, (version, set)) in &before {
            let missing: Vec<NodeId> = system
                .instances
                .iter()
                .copied()
                .filter(|&i| !set.iter().any(|e| e.instance == i))
                .collect();
            if !missing.is_empty() {
                return Err(format!(
                    "five healthy instances, calm network: after 1.5 s client {c} served {set:?} (version {version}), without instances {missing:?}"
                ));
            }
        }
        // The registry is cut off from every client for 4 s; instances come
        // and go meanwhile.
        system.cut(&clients);
        let cut_at = system.elapsed();
        system.run(ms(500))?;
        system.stop_instance_at(10, system.elapsed());
        system.sim.crash(host(11));
        system.run(ms(3_500))?;
        let healed = system.elapsed();
        {
            let w = system.world.borrow();
            for (c, (version, set)) in &before {
                for (at, v, s) in w.client.get(c).map(Vec::as_slice).unwrap_or_default() {
                    if *at > cut_at + ms(50) && *at <= healed && (v, s) != (version, set) {
                        return Err(format!(
                            "client {c} was cut off from the registry from {cut_at:?} to {healed:?}: it should have kept serving version {version} ({} instances), but at {at:?} it served version {v}: {s:?}",
                            set.len()
                        ));
                    }
                }
            }
        }
        system.repair(&clients);
        let registry_version = system
            .world
            .borrow()
            .registry
            .last()
            .map(|s| s.1)
            .unwrap_or(0);
        let bound = client_config().watch_timeout + GRACE;
        system.run(bound)?;
        let w = system.world.borrow();
        for c in &clients {
            let version = w
                .client
                .get(c)
                .and_then(|s| s.last())
                .map(|s| s.1)
                .unwrap_or(0);
            if version < registry_version {
                return Err(format!(
                    "the partition between the registry (at version {registry_version}) and client {c} healed at {healed:?}; {bound:?} later the client is still at version {version}: a watch that goes unanswered is sent again after watch_timeout"
                ));
            }
        }
        drop(w);
        safety(&system)
    });
}

// ─────────────────────────── 14. healthy instances ───────────────────────────

#[test]
fn healthy_instances_are_registered_at_once_and_stay_listed_while_the_network_is_calm() {
    check_seeds(replay(), 6, |seed| {
        let mut system = System::new(seed, &Setup::calm(8, 1));
        // Two instances shut down cleanly on the way; the rest run throughout.
        system.stop_instance_at(10, ms(2_000));
        system.stop_instance_at(11, ms(3_500));
        system.run(ms(6_000))?;
        let w = system.world.borrow();
        let first_grant = |id: NodeId| {
            w.sent.iter().find_map(|(at, to, m)| {
                (*to == id && matches!(m, Message::Registered { .. })).then_some(*at)
            })
        };
        for &id in &system.instances {
            let Some(granted) = first_grant(id) else {
                return Err(format!(
                    "instance {id} was never registered in 6 s of calm network"
                ));
            };
            if granted > instance_config().request_timeout {
                return Err(format!(
                    "instance {id} started at 0 was first registered at {granted:?}: with latency at most 20 ms, its first Register is answered within request_timeout (200 ms)"
                ));
            }
            let stop = w.stopped.get(&id).copied().unwrap_or(Duration::MAX);
            let after = granted + ms(50);
            for (at, version, set) in &w.registry {
                if *at > after && *at < stop && !set.iter().any(|e| e.instance == id) {
                    return Err(format!(
                        "instance {id}, registered at {granted:?} and heartbeating on a calm network, dropped out of the registry's set at {at:?} (version {version}): it heartbeats every third of the TTL it was granted (900 ms / 3), not of the 3 s it asked for"
                    ));
                }
            }
            if let Some(stopped) = w.stopped.get(&id)
                && let Some((at, _, _)) = w
                    .registry
                    .iter()
                    .find(|s| s.0 > *stopped + ms(60) && s.2.iter().any(|e| e.instance == id))
            {
                return Err(format!(
                    "instance {id} deregistered at {stopped:?}, yet the registry listed it at {at:?}: a deregistered instance is gone at once"
                ));
            }
        }
        drop(w);
        safety(&system)
    });
}

// ─────────────────────────── 15. follow-up: no herd ───────────────────────────

#[test]
fn followup_no_thundering_herd_when_a_partition_heals() {
    check_seeds(replay(), 2, |seed| {
        let setup = Setup {
            stranger: false,
            ..Setup::calm(HERD, 0)
        };
        let mut system = System::new(seed, &setup);
        system.run(ms(1_000))?;
        let instances = system.instances.clone();
        system.cut(&instances);
        system.run(ms(4_000))?;
        system.repair(&instances);
        let healed = system.elapsed();
        system.run(ms(2_500))?;
        let w = system.world.borrow();
        let arrivals: Vec<Duration> = w
            .registers
            .iter()
            .filter(|(at, from)| *at >= healed && *from != STRANGER)
            .map(|(at, _)| *at)
            .collect();
        let worst = arrivals
            .iter()
            .map(|&from| {
                (
                    from,
                    arrivals
                        .iter()
                        .filter(|&&a| a >= from && a < from + HERD_WINDOW)
                        .count(),
                )
            })
            .max_by_key(|&(_, n)| n);
        if let Some((from, n)) = worst
            && n > HERD_BOUND
        {
            return Err(format!(
                "{HERD} instances cut off from the registry for 4 s (every lease ran out); after the heal at {healed:?}, {n} registrations reached the registry in the {HERD_WINDOW:?} from {from:?}: at most {HERD_BOUND} (retries with full jitter spread over the backoff; without jitter they arrive together)"
            ));
        }
        for &id in &instances {
            let back = w.sent.iter().find(|(at, to, m)| {
                *at >= healed && *to == id && matches!(m, Message::Registered { .. })
            });
            match back {
                Some((at, _, _)) if *at <= healed + ms(2_500) => {}
                other => {
                    return Err(format!(
                        "instance {id} lost its lease in a 4 s partition healed at {healed:?}; it should hold a lease again within 2.5 s, got {:?}",
                        other.map(|s| s.0)
                    ));
                }
            }
        }
        drop(w);
        safety(&system)
    });
}
