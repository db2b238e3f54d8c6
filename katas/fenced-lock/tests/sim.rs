//! The specification of the fenced-lock kata, whole systems on a simulated
//! network.
//!
//! Five lock servers (ids 1 to 5), three clients (10, 11, 12) and the
//! storage (100) each run as a host of a [turmoil] simulation: a small
//! driver loop on a simulated UDP socket hands each datagram to the
//! component's `receive`, ticks clients every millisecond, saves each lock
//! server's `persistent()` (its disk, which survives a crash) and sends
//! what the component returned, sometimes twice (the network duplicates).
//! Each lock server reads its own clock, which starts at its own offset and
//! runs up to 1% fast or slow; clients and the storage read the simulation's
//! clock. A client's driver plays the worker: it asks for the lock, writes
//! while it holds it, and releases it (or lets it expire).
//!
//! The spec owns the network: it partitions and repairs it, holds the
//! messages from one node to another and delivers them late, loses a share
//! of them, crashes and restarts lock servers, and lets a stranger host send
//! junk to everyone. Everything comes from one seed.
//!
//! After every call to a client, the driver records the lease the client
//! says it holds (`lease(now)`) and every write it sends; the storage's
//! driver records every write it accepts. Safety is judged on that history:
//! no two clients hold a valid lease at one instant, lease tokens only go
//! up, every write is sent under a valid lease, and the storage accepts
//! writes in token order.
//!
//! A failing spec names its seed and the command that replays it
//! (`KATA_SIM_SEED=<seed> cargo xtask check fenced-lock`).
//!
//! `cargo test -p fenced-lock` judges your code;
//! `cargo test -p fenced-lock --features solution` judges the reference.

// The workspace's loom build (`--cfg kata_loom`) skips this file.
#![cfg(not(kata_loom))]

#[cfg(not(feature = "solution"))]
use fenced_lock as subject;
#[cfg(feature = "solution")]
use fenced_lock_solution as subject;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::rc::Rc;
use std::time::Duration;

use spec_probes::sim::{Dice, Replay, check_seeds, derive};
use subject::{Client, Config, LockServer, Message, NodeId, Persistent, Storage, Token};
use turmoil::net::UdpSocket;
use turmoil::{Builder, Sim};

// ─────────────────────────── the network ───────────────────────────

const PORT: u16 = 7000;
const SERVERS: [NodeId; 5] = [1, 2, 3, 4, 5];
const CLIENTS: [NodeId; 3] = [10, 11, 12];
const STORAGE: NodeId = 100;
/// The id the driver gives a sender that is not a node of the system.
const STRANGER: NodeId = 666;
/// One step of the simulation, and how often hosts tick.
const TICK: Duration = Duration::from_millis(10);
/// How often a holder writes.
const WRITE_EVERY: Duration = Duration::from_millis(20);

/// The replay commands name the kata the learner checks.
fn replay() -> Replay {
    Replay::new("fenced-lock", "sim")
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn host(id: NodeId) -> String {
    format!("n{id}")
}

/// The wire format: a tag, then two big-endian u64s.
fn encode(message: &Message) -> [u8; 17] {
    let (tag, a, b) = match *message {
        Message::Acquire { token } => (1, token, 0),
        Message::Granted { token } => (2, token, 0),
        Message::Denied { token, highest } => (3, token, highest),
        Message::Release { token } => (4, token, 0),
        Message::Write { token, value } => (5, token, value),
        Message::WriteAck { token } => (6, token, 0),
        Message::WriteRejected { token, highest } => (7, token, highest),
    };
    let mut out = [0; 17];
    out[0] = tag;
    out[1..9].copy_from_slice(&a.to_be_bytes());
    out[9..17].copy_from_slice(&b.to_be_bytes());
    out
}

fn decode(bytes: &[u8]) -> Option<Message> {
    if bytes.len() != 17 {
        return None;
    }
    let word = |i: usize| u64::from_be_bytes(bytes[i..i + 8].try_into().unwrap_or_default());
    let (token, b) = (word(1), word(9));
    Some(match bytes[0] {
        1 => Message::Acquire { token },
        2 => Message::Granted { token },
        3 => Message::Denied { token, highest: b },
        4 => Message::Release { token },
        5 => Message::Write { token, value: b },
        6 => Message::WriteAck { token },
        7 => Message::WriteRejected { token, highest: b },
        _ => return None,
    })
}

// ─────────────────────────── the history ───────────────────────────

/// What happened, as the components said it.
#[derive(Clone, Copy, Debug)]
enum Event {
    /// `client` held a valid lease under `token` (its own view,
    /// `lease(now)`) from `since` until `until`.
    Held {
        client: NodeId,
        token: Token,
        since: Duration,
        until: Duration,
    },
    /// `client` sent a `Write` (what `write` returned) at `at`.
    Wrote {
        client: NodeId,
        token: Token,
        value: u64,
        at: Duration,
    },
    /// The storage accepted a write from `from` at `at`.
    Stored {
        from: NodeId,
        token: Token,
        value: u64,
        at: Duration,
    },
}

/// How a client's driver plays the worker.
#[derive(Clone, Copy, Debug)]
struct Plan {
    /// When it first asks for the lock.
    start: Duration,
    /// Asks again at once after a failed attempt (else after a random
    /// 20-200 ms).
    greedy: bool,
    /// How long it keeps a lease before releasing it; `None`: it lets the
    /// lease expire.
    hold: Option<(Duration, Duration)>,
    /// Writes every `WRITE_EVERY` (tries to, even without a lease: `write`
    /// must refuse).
    writes: bool,
    /// Takes the lock once only.
    once: bool,
}

impl Plan {
    fn worker() -> Plan {
        Plan {
            start: ms(0),
            greedy: false,
            hold: Some((ms(50), ms(1_200))),
            writes: true,
            once: false,
        }
    }

    fn idle() -> Plan {
        Plan {
            start: Duration::MAX,
            ..Plan::worker()
        }
    }
}

/// A lock server's clock: `offset + elapsed * (10_000 + rate) / 10_000`.
#[derive(Clone, Copy, Debug)]
struct Clock {
    offset: Duration,
    /// In units of 0.01%: 100 is 1% fast.
    rate: i64,
}

impl Clock {
    fn read(&self, elapsed: Duration) -> Duration {
        let scaled = elapsed.as_nanos() * (10_000 + self.rate) as u128 / 10_000;
        self.offset + Duration::from_nanos(scaled as u64)
    }
}

struct Shared {
    seed: u64,
    config: Config,
    clocks: BTreeMap<NodeId, Clock>,
    plans: BTreeMap<NodeId, Plan>,
    /// Each lock server's disk.
    saved: BTreeMap<NodeId, Persistent>,
    starts: BTreeMap<NodeId, u64>,
    /// Messages from `a` to `b` sent before the instant are delivered then.
    holds: BTreeMap<(NodeId, NodeId), Duration>,
    /// The lease each client says it holds: token, since, valid until.
    leases: BTreeMap<NodeId, (Token, Duration, Duration)>,
    history: Vec<Event>,
    dice: Dice,
    duplicate_per_mille: u64,
    /// What went wrong inside a host (a component refusing a valid setup,
    /// or saying something impossible).
    broken: Option<String>,
}

impl Shared {
    /// After every call to a client: the lease it says it holds now.
    fn observe(&mut self, client: &Client, at: Duration) {
        let id = client.id();
        let now = client.lease(at).map(|l| (l.token, l.valid_until));
        let open = self.leases.get(&id).copied();
        match (open, now) {
            (Some((token, _, until)), Some(now)) if (token, until) == now => {}
            (open, now) => {
                if let Some((token, since, until)) = open {
                    self.history.push(Event::Held {
                        client: id,
                        token,
                        since,
                        until: at.min(until),
                    });
                    self.leases.remove(&id);
                }
                if let Some((token, until)) = now {
                    self.leases.insert(id, (token, at, until));
                }
            }
        }
    }

    /// Closes every open lease at `at` (the end of the run).
    fn close(&mut self, at: Duration) {
        for (client, (token, since, until)) in std::mem::take(&mut self.leases) {
            self.history.push(Event::Held {
                client,
                token,
                since,
                until: at.min(until),
            });
        }
    }

    fn hold_until(&self, from: NodeId, to: NodeId) -> Option<Duration> {
        self.holds.get(&(from, to)).copied()
    }
}

type World = Rc<RefCell<Shared>>;

fn now() -> Duration {
    turmoil::sim_elapsed().unwrap_or_default()
}

/// The sending half of a host: duplicates some messages, and keeps back
/// those the spec holds until their instant comes.
struct Outbox {
    me: NodeId,
    pending: Vec<(Duration, NodeId, [u8; 17])>,
}

impl Outbox {
    fn new(me: NodeId) -> Outbox {
        Outbox {
            me,
            pending: Vec::new(),
        }
    }

    async fn send(
        &mut self,
        world: &World,
        socket: &UdpSocket,
        out: &[subject::Outgoing],
    ) -> turmoil::Result {
        for o in out {
            let (copies, held) = {
                let mut w = world.borrow_mut();
                let dup = w.duplicate_per_mille;
                (
                    1 + u64::from(w.dice.chance(dup)),
                    w.hold_until(self.me, o.to),
                )
            };
            let bytes = encode(&o.message);
            match held {
                Some(until) if now() < until => self.pending.push((until, o.to, bytes)),
                _ => {
                    for _ in 0..copies {
                        socket
                            .send_to(&bytes, (turmoil::lookup(host(o.to)), PORT))
                            .await?;
                    }
                }
            }
        }
        Ok(())
    }

    /// A sleep until the first held message is due (for ever if none is).
    fn due(&self) -> tokio::time::Sleep {
        let t = now();
        let wait = self
            .pending
            .iter()
            .map(|p| p.0.saturating_sub(t))
            .min()
            .unwrap_or(Duration::from_secs(86_400));
        tokio::time::sleep(wait)
    }

    /// Sends the held messages whose instant has come.
    async fn flush(&mut self, socket: &UdpSocket) -> turmoil::Result {
        let t = now();
        let (due, kept): (Vec<_>, Vec<_>) = self.pending.drain(..).partition(|p| p.0 <= t);
        self.pending = kept;
        for (_, to, bytes) in due {
            socket
                .send_to(&bytes, (turmoil::lookup(host(to)), PORT))
                .await?;
        }
        Ok(())
    }
}

fn sender(from: std::net::SocketAddr) -> NodeId {
    turmoil::reverse_lookup(from.ip())
        .and_then(|name| name.strip_prefix('n')?.parse().ok())
        .unwrap_or(STRANGER)
}

/// One lock server: built from its disk on its own clock, then receive,
/// save, send, for ever.
async fn run_server(world: World, id: NodeId) -> turmoil::Result {
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, PORT)).await?;
    let (clock, config, state) = {
        let mut w = world.borrow_mut();
        *w.starts.entry(id).or_insert(0) += 1;
        (
            w.clocks[&id],
            w.config,
            w.saved.get(&id).copied().unwrap_or_default(),
        )
    };
    let mut server = match LockServer::new(id, &CLIENTS, config, state, clock.read(now())) {
        Ok(server) => server,
        Err(e) => {
            world.borrow_mut().broken = Some(format!(
                "LockServer::new({id}, {CLIENTS:?}, {config:?}, {state:?}) refused: {e:?}"
            ));
            return Ok(());
        }
    };
    let mut outbox = Outbox::new(id);
    let mut buf = [0u8; 64];
    loop {
        tokio::select! {
            // Without `biased`, tokio picks among ready branches at random
            // (from an rng no seed controls): a seed would not replay.
            biased;
            got = socket.recv_from(&mut buf) => {
                let (len, from) = got?;
                let Some(message) = decode(&buf[..len]) else { continue };
                // A refused message is the server's business: it must change nothing.
                let out = server
                    .receive(sender(from), message, clock.read(now()))
                    .unwrap_or_default();
                world.borrow_mut().saved.insert(id, server.persistent());
                outbox.send(&world, &socket, &out).await?;
            }
            _ = outbox.due() => outbox.flush(&socket).await?,
        }
    }
}

/// The storage: receive, record what it accepted, answer.
async fn run_storage(world: World) -> turmoil::Result {
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, PORT)).await?;
    let mut storage = match Storage::new(STORAGE, &CLIENTS) {
        Ok(storage) => storage,
        Err(e) => {
            world.borrow_mut().broken = Some(format!(
                "Storage::new({STORAGE}, {CLIENTS:?}) refused: {e:?}"
            ));
            return Ok(());
        }
    };
    let mut outbox = Outbox::new(STORAGE);
    let mut buf = [0u8; 64];
    loop {
        tokio::select! {
            // Without `biased`, tokio picks among ready branches at random
            // (from an rng no seed controls): a seed would not replay.
            biased;
            got = socket.recv_from(&mut buf) => {
                let (len, from) = got?;
                let Some(message) = decode(&buf[..len]) else { continue };
                let from = sender(from);
                let out = storage.receive(from, message).unwrap_or_default();
                if let (Message::Write { token, value }, Some(answer)) = (message, out.first())
                    && answer.message == (Message::WriteAck { token })
                {
                    let mut w = world.borrow_mut();
                    w.history.push(Event::Stored { from, token, value, at: now() });
                    if storage.value() != Some(value) {
                        w.broken = Some(format!(
                            "the storage acknowledged Write {{ token: {token}, value: {value} }} from {from} at {:?} but holds {:?}",
                            now(),
                            storage.value()
                        ));
                    }
                }
                outbox.send(&world, &socket, &out).await?;
            }
            _ = outbox.due() => outbox.flush(&socket).await?,
        }
    }
}

/// One client and the worker that drives it.
async fn run_client(world: World, id: NodeId) -> turmoil::Result {
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, PORT)).await?;
    let (plan, config, mut dice) = {
        let w = world.borrow();
        (w.plans[&id], w.config, Dice(derive(w.seed, id)))
    };
    let mut client = match Client::new(id, &SERVERS, STORAGE, config, now()) {
        Ok(client) => client,
        Err(e) => {
            world.borrow_mut().broken = Some(format!(
                "Client::new({id}, {SERVERS:?}, {STORAGE}, {config:?}) refused: {e:?}"
            ));
            return Ok(());
        }
    };
    let mut outbox = Outbox::new(id);
    let mut ticks = tokio::time::interval(TICK);
    let mut buf = [0u8; 64];
    let mut next_try = plan.start;
    let mut release_at: Option<Duration> = None;
    let mut next_write = Duration::ZERO;
    let mut writes = 0u64;
    let mut done = false;
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
            _ = ticks.tick() => {
                outbox.flush(&socket).await?;
                let t = now();
                let mut out = client.tick(t);
                world.borrow_mut().observe(&client, t);
                let holding = client.lease(t).is_some();
                if holding {
                    if release_at.is_none() {
                        release_at = Some(match plan.hold {
                            Some((lo, hi)) => t + dice.between(lo, hi),
                            None => Duration::MAX,
                        });
                    }
                    if release_at.is_some_and(|r| t >= r) {
                        out.extend(client.release(t));
                        release_at = None;
                        done = plan.once;
                        next_try = t + dice.between(ms(20), ms(200));
                    }
                } else {
                    if release_at.take().is_some() {
                        done = plan.once;
                        next_try = t + if plan.greedy { Duration::ZERO } else { dice.between(ms(20), ms(200)) };
                    }
                    if !done && !client.is_acquiring() && t >= next_try {
                        if let Ok(asks) = client.acquire(t) {
                            out.extend(asks);
                        }
                        next_try = t + if plan.greedy { Duration::ZERO } else { dice.between(ms(20), ms(200)) };
                    }
                }
                if plan.writes && t >= next_write && t >= plan.start {
                    next_write = t + WRITE_EVERY;
                    writes += 1;
                    let value = (id << 32) | writes;
                    if let Ok(write) = client.write(value, t) {
                        if let Message::Write { token, value } = write.message {
                            world.borrow_mut().history.push(Event::Wrote { client: id, token, value, at: t });
                        }
                        out.push(write);
                    }
                }
                out
            }
        };
        world.borrow_mut().observe(&client, now());
        outbox.send(&world, &socket, &out).await?;
    }
}

/// A host that is no node of the system and sends junk to every node:
/// acquisitions and writes of token `u64::MAX`, token 0, garbage bytes.
async fn run_stranger(seed: u64) -> turmoil::Result {
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, PORT)).await?;
    let mut dice = Dice(derive(seed, 0x57a));
    let mut ticks = tokio::time::interval(ms(37));
    let all: Vec<NodeId> = SERVERS
        .iter()
        .chain(CLIENTS.iter())
        .copied()
        .chain([STORAGE])
        .collect();
    loop {
        ticks.tick().await;
        let token = match dice.below(4) {
            0 => 0,
            1 => u64::MAX,
            _ => 1 + dice.below(8),
        };
        let message = match dice.below(7) {
            0 => Message::Acquire { token },
            1 => Message::Granted { token },
            2 => Message::Denied {
                token,
                highest: u64::MAX,
            },
            3 => Message::Release { token },
            4 => Message::Write { token, value: 666 },
            5 => Message::WriteAck { token },
            _ => Message::WriteRejected {
                token,
                highest: u64::MAX,
            },
        };
        let to = (
            turmoil::lookup(host(all[dice.below(all.len() as u64) as usize])),
            PORT,
        );
        socket.send_to(&encode(&message), to).await?;
        socket.send_to(&[9, 9, 9], to).await?;
    }
}

#[derive(Clone)]
struct Setup {
    config: Config,
    plans: [Plan; 3],
    /// The servers' clock rates (0.01%), server 1 first; random within ±1%
    /// if `None`.
    rates: Option<[i64; 5]>,
    min_latency: Duration,
    max_latency: Duration,
    stranger: bool,
    duplicate_per_mille: u64,
}

impl Setup {
    fn chaos() -> Setup {
        Setup {
            config: Config::default(),
            plans: [Plan::worker(); 3],
            rates: None,
            min_latency: ms(1),
            max_latency: ms(20),
            stranger: true,
            duplicate_per_mille: 50,
        }
    }

    /// A network with a fixed 1 ms latency, no duplicates and no stranger,
    /// true clocks: for the scenarios staged to the millisecond.
    fn staged(plans: [Plan; 3]) -> Setup {
        Setup {
            config: Config::default(),
            plans,
            rates: Some([0; 5]),
            min_latency: ms(1),
            max_latency: ms(1),
            stranger: false,
            duplicate_per_mille: 0,
        }
    }
}

struct System {
    sim: Sim<'static>,
    world: World,
    dice: Dice,
}

fn all_nodes() -> Vec<NodeId> {
    SERVERS
        .iter()
        .chain(CLIENTS.iter())
        .copied()
        .chain([STORAGE])
        .collect()
}

impl System {
    fn new(seed: u64, setup: &Setup) -> System {
        let sim = Builder::new()
            .rng_seed(seed)
            .tick_duration(TICK)
            .simulation_duration(Duration::from_secs(3_600))
            .min_message_latency(setup.min_latency)
            .max_message_latency(setup.max_latency)
            .enable_random_order()
            .build();
        let mut dice = Dice(derive(seed, 0xc10c));
        let clocks = SERVERS
            .iter()
            .enumerate()
            .map(|(i, &id)| {
                let rate = match setup.rates {
                    Some(rates) => rates[i],
                    None => dice.below(201) as i64 - 100,
                };
                let offset = Duration::from_nanos(dice.below(3_600_000_000_000));
                (id, Clock { offset, rate })
            })
            .collect();
        let plans = CLIENTS.iter().copied().zip(setup.plans).collect();
        let world = Rc::new(RefCell::new(Shared {
            seed,
            config: setup.config,
            clocks,
            plans,
            saved: BTreeMap::new(),
            starts: BTreeMap::new(),
            holds: BTreeMap::new(),
            leases: BTreeMap::new(),
            history: Vec::new(),
            dice: Dice(derive(seed, 0xd0b)),
            duplicate_per_mille: setup.duplicate_per_mille,
            broken: None,
        }));
        let mut system = System {
            sim,
            world,
            dice: Dice(derive(seed, 0xfa17)),
        };
        for id in SERVERS {
            let world = system.world.clone();
            system
                .sim
                .host(host(id), move || run_server(world.clone(), id));
        }
        for id in CLIENTS {
            let world = system.world.clone();
            system
                .sim
                .host(host(id), move || run_client(world.clone(), id));
        }
        let world = system.world.clone();
        system
            .sim
            .host(host(STORAGE), move || run_storage(world.clone()));
        if setup.stranger {
            system.sim.host("x", move || run_stranger(seed));
        }
        system
    }

    fn elapsed(&self) -> Duration {
        self.sim.elapsed()
    }

    /// Runs the simulation until `until` (simulated).
    fn run_to(&mut self, until: Duration) -> Result<(), String> {
        while self.elapsed() < until {
            self.sim
                .step()
                .map_err(|e| format!("the simulation stopped at {:?}: {e}", self.elapsed()))?;
            if let Some(broken) = self.world.borrow().broken.clone() {
                return Err(broken);
            }
        }
        Ok(())
    }

    fn run(&mut self, span: Duration) -> Result<(), String> {
        let until = self.elapsed() + span;
        self.run_to(until)
    }

    /// Holds every message from `from` to `to` sent from now until `until`,
    /// and delivers them then.
    fn hold(&mut self, from: NodeId, to: NodeId, until: Duration) {
        self.world.borrow_mut().holds.insert((from, to), until);
    }

    fn partition(&mut self, a: NodeId, b: NodeId) {
        self.sim.partition(host(a), host(b));
    }

    fn crash(&mut self, id: NodeId) {
        self.sim.crash(host(id));
    }

    fn restart(&mut self, id: NodeId) {
        self.sim.bounce(host(id));
    }

    fn heal(&mut self) {
        let nodes = all_nodes();
        for &a in &nodes {
            for &b in &nodes {
                if a < b {
                    self.sim.repair(host(a), host(b));
                }
            }
        }
        self.sim.set_fail_rate(0.0);
        for id in SERVERS {
            if !self.sim.is_host_running(host(id)) {
                self.restart(id);
            }
        }
    }

    /// One random fault: a partition, a repair, a crashed or restarted lock
    /// server, messages held for a while, a loss rate.
    fn random_fault(&mut self) {
        let nodes = all_nodes();
        match self.dice.below(8) {
            0 | 1 => {
                let side: Vec<NodeId> = nodes
                    .iter()
                    .copied()
                    .filter(|_| self.dice.chance(400))
                    .collect();
                for &a in &side {
                    for &b in &nodes {
                        if !side.contains(&b) {
                            self.partition(a, b);
                        }
                    }
                }
            }
            2 => self.heal(),
            3 => {
                let id = SERVERS[self.dice.below(5) as usize];
                if self.sim.is_host_running(host(id)) {
                    self.crash(id);
                }
            }
            4 => {
                let id = SERVERS[self.dice.below(5) as usize];
                self.restart(id);
            }
            5 | 6 => {
                // A paused node: everything it sends (to servers or the
                // storage), or everything one server answers, held for up
                // to two leases.
                let a = nodes[self.dice.below(nodes.len() as u64) as usize];
                let until = self.elapsed() + self.dice.between(ms(100), ms(2_000));
                for &b in &nodes {
                    if a != b {
                        self.hold(a, b, until);
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

    /// The history, every lease still open closed at the current instant.
    fn history(&self) -> Vec<Event> {
        let mut w = self.world.borrow_mut();
        let at = self.sim.elapsed();
        w.close(at);
        w.history.clone()
    }
}

// ─────────────────────────── the checkers ───────────────────────────

struct Held {
    client: NodeId,
    token: Token,
    since: Duration,
    until: Duration,
}

fn leases(history: &[Event]) -> Vec<Held> {
    let mut held: Vec<Held> = history
        .iter()
        .filter_map(|e| match *e {
            Event::Held {
                client,
                token,
                since,
                until,
            } if since < until => Some(Held {
                client,
                token,
                since,
                until,
            }),
            _ => None,
        })
        .collect();
    held.sort_by_key(|h| (h.since, h.until));
    held
}

/// No two clients hold a valid lease at one instant, each by its own view.
fn one_holder_at_a_time(history: &[Event]) -> Result<(), String> {
    let held = leases(history);
    for (i, a) in held.iter().enumerate() {
        for b in &held[i + 1..] {
            if b.since >= a.until {
                break;
            }
            if a.client != b.client {
                return Err(format!(
                    "clients {} and {} both held a valid lease at {:?}: {} under token {} from {:?} until {:?}, {} under token {} from {:?} until {:?}",
                    a.client,
                    b.client,
                    b.since,
                    a.client,
                    a.token,
                    a.since,
                    a.until,
                    b.client,
                    b.token,
                    b.since,
                    b.until
                ));
            }
        }
    }
    Ok(())
}

/// Each new lease's token is above the tokens of every lease before it.
fn tokens_go_up(history: &[Event]) -> Result<(), String> {
    let held = leases(history);
    for pair in held.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        if b.token <= a.token && (b.client, b.token) != (a.client, a.token) {
            return Err(format!(
                "client {} held token {} from {:?}, after client {} held token {} from {:?} until {:?}: a later lease must carry a higher token",
                b.client, b.token, b.since, a.client, a.token, a.since, a.until
            ));
        }
    }
    Ok(())
}

/// Every write a client sent was under the lease it held at that instant.
fn writes_under_a_valid_lease(history: &[Event]) -> Result<(), String> {
    let held = leases(history);
    for e in history {
        if let Event::Wrote {
            client,
            token,
            value,
            at,
        } = *e
        {
            let covered = held
                .iter()
                .any(|h| h.client == client && h.token == token && h.since <= at && at < h.until);
            if !covered {
                return Err(format!(
                    "client {client} sent Write {{ token: {token}, value: {value} }} at {at:?} without a valid lease under token {token} at that instant"
                ));
            }
        }
    }
    Ok(())
}

/// The storage accepts writes in token order only.
fn storage_in_token_order(history: &[Event]) -> Result<(), String> {
    let mut last: Option<(NodeId, Token, Duration)> = None;
    for e in history {
        if let Event::Stored {
            from,
            token,
            value,
            at,
        } = *e
        {
            if let Some((before, highest, since)) = last
                && token < highest
            {
                return Err(format!(
                    "the storage accepted Write {{ token: {token}, value: {value} }} from client {from} at {at:?} after accepting token {highest} from client {before} at {since:?}"
                ));
            }
            last = Some((from, token, at));
        }
    }
    Ok(())
}

fn safety(system: &System) -> Result<(), String> {
    let history = system.history();
    one_holder_at_a_time(&history)?;
    tokens_go_up(&history)?;
    writes_under_a_valid_lease(&history)?;
    storage_in_token_order(&history)
}

fn leases_of(history: &[Event], client: NodeId) -> usize {
    leases(history)
        .iter()
        .filter(|h| h.client == client)
        .count()
}

fn stored_of(history: &[Event], client: NodeId) -> usize {
    history
        .iter()
        .filter(|e| matches!(e, Event::Stored { from, .. } if *from == client))
        .count()
}

// ─────────────────────────── 9. safety ───────────────────────────

#[test]
fn no_two_clients_hold_a_valid_lease_at_once_over_many_seeds_with_loss_partitions_restarts_and_drift()
 {
    check_seeds(replay(), 10, |seed| {
        let mut system = System::new(seed, &Setup::chaos());
        system.chaos(ms(4_000))?;
        safety(&system)
    });
}

#[test]
fn lock_servers_restarted_often_never_let_two_clients_hold_the_lock() {
    check_seeds(replay(), 6, |seed| {
        let mut system = System::new(seed, &Setup::chaos());
        let end = ms(4_000);
        while system.elapsed() < end {
            // Restart a random lock server every 20 to 300 ms: often while
            // it holds a lease.
            let gap = ms(20 + system.dice.below(280));
            system.run(gap)?;
            let id = SERVERS[system.dice.below(5) as usize];
            system.restart(id);
            if system.dice.chance(200) {
                system.random_fault();
            }
        }
        safety(&system)
    });
}

// ─────────────────────────── 10. liveness ───────────────────────────

#[test]
fn while_the_network_is_healthy_clients_take_the_lock_in_turn_and_their_writes_are_stored() {
    check_seeds(replay(), 4, |seed| {
        let setup = Setup {
            plans: [Plan {
                hold: Some((ms(50), ms(300))),
                ..Plan::worker()
            }; 3],
            ..Setup::chaos()
        };
        let mut system = System::new(seed, &setup);
        let bound = ms(6_000);
        system.run_to(bound)?;
        let history = system.history();
        for client in CLIENTS {
            let (held, stored) = (leases_of(&history, client), stored_of(&history, client));
            if held == 0 || stored == 0 {
                return Err(format!(
                    "a healthy network, three clients asking for the lock and holding it 50-300 ms: within {bound:?} client {client} held the lock {held} times and had {stored} writes stored; each should have had its turn"
                ));
            }
        }
        safety(&system)
    });
}

// ───────────────────── staged scenarios (6, 2, 4, 3) ─────────────────────

/// Client 10 takes the lock at 0 and keeps it; client 11 asks again and
/// again from 100 ms on; client 12 stays idle.
fn holder_and_challenger() -> [Plan; 3] {
    let holder = Plan {
        hold: None,
        once: true,
        ..Plan::worker()
    };
    let challenger = Plan {
        start: ms(100),
        greedy: true,
        hold: None,
        once: true,
        ..Plan::worker()
    };
    [holder, challenger, Plan::idle()]
}

/// Runs `system` for 2.5 s, then checks safety, and that client 11 did get
/// the lock (so the scenario really happened).
fn challenger_wins_safely(mut system: System, what: &str) -> Result<(), String> {
    system.run_to(ms(2_500))?;
    let history = system.history();
    one_holder_at_a_time(&history).map_err(|e| format!("{what}: {e}"))?;
    if leases_of(&history, 11) == 0 {
        return Err(format!(
            "{what}: client 11, asking from 100 ms on, never got the lock once client 10's lease was over"
        ));
    }
    safety(&system).map_err(|e| format!("{what}: {e}"))
}

#[test]
fn a_lease_ends_before_the_lock_servers_forget_it_even_when_their_clocks_run_fast() {
    check_seeds(replay(), 2, |seed| {
        // A margin of 100 ms for clocks that run up to 10% fast.
        let setup = Setup {
            config: Config {
                ttl: ms(1_000),
                drift_margin: ms(100),
            },
            rates: Some([1_000; 5]),
            ..Setup::staged(holder_and_challenger())
        };
        challenger_wins_safely(
            System::new(seed, &setup),
            "ttl 1 s, drift margin 100 ms, every lock server's clock runs 10% fast (a lease lasts 909 ms); client 10 took the lock at 0",
        )
    });
}

#[test]
fn a_lease_counts_from_the_request_even_when_the_grants_are_held_up() {
    check_seeds(replay(), 2, |seed| {
        let mut system = System::new(seed, &Setup::staged(holder_and_challenger()));
        for s in SERVERS {
            system.hold(s, 10, ms(500));
        }
        challenger_wins_safely(
            system,
            "client 10 asked at 0 and the servers granted at 1 ms, but their answers were held until 500 ms",
        )
    });
}

#[test]
fn a_lock_server_restarted_while_a_lease_is_held_does_not_hand_the_lock_to_another_client() {
    check_seeds(replay(), 2, |seed| {
        let plans = holder_and_challenger();
        let plans = [
            plans[0],
            Plan {
                start: ms(120),
                ..plans[1]
            },
            plans[2],
        ];
        let mut system = System::new(seed, &Setup::staged(plans));
        // 10 reaches servers 1, 2, 3; 11 reaches 1, 4, 5.
        for (client, server) in [(10, 4), (10, 5), (11, 2), (11, 3)] {
            system.partition(client, server);
        }
        system.run_to(ms(100))?;
        system.crash(1);
        system.run_to(ms(110))?;
        system.restart(1);
        system.run_to(ms(3_500))?;
        let history = system.history();
        one_holder_at_a_time(&history).map_err(|e| {
            format!("client 10 held the lock from servers 1, 2, 3; server 1 restarted at 110 ms; client 11 reaches servers 1, 4, 5: {e}")
        })?;
        safety(&system)
    });
}

#[test]
fn a_late_release_from_an_expired_holder_does_not_free_the_next_holders_lease() {
    check_seeds(replay(), 2, |seed| {
        let releaser = Plan {
            hold: Some((ms(500), ms(500))),
            once: true,
            ..Plan::worker()
        };
        let taker = Plan {
            start: ms(100),
            greedy: true,
            hold: None,
            once: true,
            ..Plan::worker()
        };
        let third = Plan {
            start: ms(1_200),
            greedy: true,
            hold: None,
            once: true,
            ..Plan::worker()
        };
        let mut system = System::new(seed, &Setup::staged([releaser, taker, third]));
        // Client 10 releases at ~500 ms; its releases arrive at 1.5 s.
        for s in SERVERS {
            system.hold(10, s, ms(1_500));
        }
        system.run_to(ms(2_500))?;
        let history = system.history();
        one_holder_at_a_time(&history).map_err(|e| {
            format!("client 10 held the lock from 0, released it at 500 ms but its Release arrived at 1.5 s, after client 11 took the lock: {e}")
        })?;
        safety(&system)
    });
}

// ─────────────────────────── 11. follow-up ───────────────────────────

#[test]
fn followup_a_client_paused_past_its_lease_cannot_corrupt_storage() {
    check_seeds(replay(), 2, |seed| {
        let taker = Plan {
            start: ms(100),
            greedy: true,
            hold: None,
            once: true,
            ..Plan::worker()
        };
        let plans = [holder_and_challenger()[0], taker, Plan::idle()];
        let mut system = System::new(seed, &Setup::staged(plans));
        system.run_to(ms(300))?;
        // From 300 ms, client 10's writes sit in the network until 2.5 s.
        system.hold(10, STORAGE, ms(2_500));
        system.run_to(ms(3_500))?;
        let history = system.history();
        storage_in_token_order(&history).map_err(|e| {
            format!("client 10's writes sent from 300 ms on were held until 2.5 s, after client 11 took the lock and wrote: {e}")
        })?;
        let last = history.iter().rev().find_map(|e| match *e {
            Event::Stored { from, value, .. } => Some((from, value)),
            _ => None,
        });
        match last {
            Some((11, _)) => safety(&system),
            other => Err(format!(
                "client 10's writes sent from 300 ms on were held until 2.5 s, after client 11 took the lock (at ~1 s) and wrote: the storage should keep client 11's last write, but the last write it accepted is {other:?} (client, value)"
            )),
        }
    });
}
