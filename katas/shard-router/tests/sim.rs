//! The specification of the shard-router kata, whole clusters on a
//! simulated network.
//!
//! Every node and every client runs as a host of a [turmoil] simulation,
//! on a simulated UDP socket: a node's driver hands each request that
//! arrives to `Node::receive` and sends the reply back; a client's driver
//! runs one command after another (`GET` or `SET` of a handful of keys,
//! some sharing a hash tag), sends what `Client::start` and
//! `Client::receive` return, and calls `Client::tick` every millisecond.
//! The network delays (1 to 8 ms), reorders, loses and duplicates
//! datagrams, holds the messages between a client and a node for a while,
//! and a stranger host sends nodes and clients junk.
//!
//! The spec is the operator: while the clients run, it moves slots from
//! node to node the way `redis-cli --cluster reshard` does (IMPORTING on
//! the target, MIGRATING on the source, `migrate` then `import` of one
//! key at a time, then `NODE` to the target, the source, and the others
//! one by one, some late).
//!
//! Everything is recorded in one history: every command (call, return,
//! answer), every command a node served, every operator step. Safety is
//! judged on it with the spec's own slot function, never the subject's
//! internals: each key's commands are linearizable, and no node serves a
//! key it does not hold in a slot it migrates, or a slot it does not own
//! unless it imports it and the request is ASKING.
//!
//! A failing spec names its seed and the command that replays it
//! (`KATA_SIM_SEED=<seed> cargo xtask check shard-router`).
//!
//! `cargo test -p shard-router` judges your code;
//! `cargo test -p shard-router --features solution` judges the reference.

// The workspace's loom build (`--cfg kata_loom`) skips this file.
#![cfg(not(kata_loom))]

#[cfg(not(feature = "solution"))]
use shard_router as subject;
#[cfg(feature = "solution")]
use shard_router_solution as subject;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::rc::Rc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use spec_probes::history::{Operation, Register, RegisterOp, linearizable_per_key};
use spec_probes::sim::{Dice, Replay, check_seeds, derive};
use subject::{
    Answer, Client, ClientConfig, Command, Node, NodeId, OpError, Outcome, Reply, Request, SLOTS,
    Slot, SlotRange, SlotState, Step,
};
use turmoil::net::UdpSocket;
use turmoil::{Builder, Sim};

// ─────────────────────────── the network ───────────────────────────

const PORT: u16 = 7000;
/// The client id a node sees for the stranger host.
const STRANGER: u64 = 666;
const TICK: Duration = Duration::from_millis(2);
const NODES: [NodeId; 4] = [1, 2, 3, 4];
const CLIENTS: [u64; 4] = [101, 102, 103, 104];
const CONFIG: ClientConfig = ClientConfig {
    max_redirects: 5,
    timeout: Duration::from_millis(40),
};

fn replay() -> Replay {
    Replay::new("shard-router", "sim")
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn node_host(id: NodeId) -> String {
    format!("n{id}")
}

fn client_host(id: u64) -> String {
    format!("c{id}")
}

/// Redis' three-node layout; node 4 owns nothing at first.
fn initial_map() -> Vec<SlotRange> {
    vec![
        SlotRange {
            first: 0,
            last: 5460,
            node: 1,
        },
        SlotRange {
            first: 5461,
            last: 10922,
            node: 2,
        },
        SlotRange {
            first: 10923,
            last: 16383,
            node: 3,
        },
    ]
}

fn initial_owner(s: Slot) -> NodeId {
    match s {
        0..=5460 => 1,
        5461..=10922 => 2,
        _ => 3,
    }
}

// ─────────────────────────── the spec's own slot function ───────────────────────────

fn oracle_slot(key: &[u8]) -> Slot {
    let hashed = match key.iter().position(|&b| b == b'{') {
        Some(s) => match key[s + 1..].iter().position(|&b| b == b'}') {
            Some(e) if e > 0 => &key[s + 1..s + 1 + e],
            _ => key,
        },
        None => key,
    };
    let mut crc = 0u16;
    for &b in hashed {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 == 0 {
                crc << 1
            } else {
                (crc << 1) ^ 0x1021
            };
        }
    }
    crc & 0x3FFF
}

/// A key of slot `s`: `"k<n>"`, the first that hashes there.
fn key_in(s: Slot) -> String {
    (0u64..)
        .map(|n| format!("k{n}"))
        .find(|k| oracle_slot(k.as_bytes()) == s)
        .unwrap_or_default()
}

/// The keys the clients use: groups sharing a hash tag, keys of the first
/// and last slots and of both sides of a boundary between two nodes.
fn keys() -> &'static [Vec<u8>] {
    static KEYS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    KEYS.get_or_init(|| {
        let mut keys: Vec<String> = [
            "{user1}.cart",
            "{user1}.wishlist",
            "{user1}.seen",
            "{user2}.cart",
            "{user2}.wishlist",
            "foo",
            "bar",
            "{bar}.more",
            "hello",
        ]
        .iter()
        .map(|k| (*k).to_owned())
        .collect();
        for s in [0, 5460, 5461, SLOTS - 1] {
            keys.push(key_in(s));
        }
        keys.into_iter().map(String::into_bytes).collect()
    })
}

fn show(key: &[u8]) -> String {
    String::from_utf8_lossy(key).into_owned()
}

// ─────────────────────────── the wire ───────────────────────────

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend((bytes.len() as u16).to_be_bytes());
    out.extend(bytes);
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2)?.try_into().ok().map(u16::from_be_bytes)
    }
    fn u64(&mut self) -> Option<u64> {
        self.take(8)?.try_into().ok().map(u64::from_be_bytes)
    }
    fn bytes(&mut self) -> Option<Vec<u8>> {
        let n = usize::from(self.u16()?);
        self.take(n).map(<[u8]>::to_vec)
    }
}

fn encode_request(r: &Request) -> Vec<u8> {
    let mut out = vec![1];
    out.extend(r.id.to_be_bytes());
    out.push(u8::from(r.asking));
    match &r.command {
        Command::Get { key } => {
            out.push(0);
            put_bytes(&mut out, key);
        }
        Command::Set { key, value } => {
            out.push(1);
            put_bytes(&mut out, key);
            put_bytes(&mut out, value);
        }
    }
    out
}

fn decode_request(bytes: &[u8]) -> Option<Request> {
    let mut r = Reader(bytes);
    if r.u8()? != 1 {
        return None;
    }
    let id = r.u64()?;
    let asking = r.u8()? == 1;
    let command = match r.u8()? {
        0 => Command::Get { key: r.bytes()? },
        1 => Command::Set {
            key: r.bytes()?,
            value: r.bytes()?,
        },
        _ => return None,
    };
    Some(Request {
        id,
        asking,
        command,
    })
}

fn encode_reply(r: &Reply) -> Vec<u8> {
    let mut out = vec![2];
    out.extend(r.id.to_be_bytes());
    let (kind, slot, node, value): (u8, Slot, NodeId, &[u8]) = match &r.outcome {
        Outcome::Served(Answer::Value(None)) => (0, 0, 0, &[]),
        Outcome::Served(Answer::Value(Some(v))) => (1, 0, 0, v),
        Outcome::Served(Answer::Stored) => (2, 0, 0, &[]),
        Outcome::Moved { slot, node } => (3, *slot, *node, &[]),
        Outcome::Ask { slot, node } => (4, *slot, *node, &[]),
    };
    out.push(kind);
    out.extend(slot.to_be_bytes());
    out.extend(node.to_be_bytes());
    put_bytes(&mut out, value);
    out
}

fn decode_reply(bytes: &[u8]) -> Option<Reply> {
    let mut r = Reader(bytes);
    if r.u8()? != 2 {
        return None;
    }
    let id = r.u64()?;
    let kind = r.u8()?;
    let slot = r.u16()?;
    let node = r.u64()?;
    let value = r.bytes()?;
    let outcome = match kind {
        0 => Outcome::Served(Answer::Value(None)),
        1 => Outcome::Served(Answer::Value(Some(value))),
        2 => Outcome::Served(Answer::Stored),
        3 => Outcome::Moved { slot, node },
        4 => Outcome::Ask { slot, node },
        _ => return None,
    };
    Some(Reply { id, outcome })
}

// ─────────────────────────── the history ───────────────────────────

#[derive(Clone, Debug)]
enum Event {
    /// The operator told `node` `state` for `slot` (and it accepted).
    Told {
        at: Duration,
        node: NodeId,
        slot: Slot,
        state: SlotState,
    },
    /// `migrate` on `from` handed `key` over, and `import` on `to` took it.
    HandedOver {
        at: Duration,
        from: NodeId,
        to: NodeId,
        key: Vec<u8>,
    },
    /// `node` served a command of `client`.
    Served {
        at: Duration,
        node: NodeId,
        client: u64,
        asking: bool,
        command: Command,
        answer: Answer,
    },
}

/// One client command, from its start to its end.
#[derive(Clone, Debug)]
struct Done {
    client: u64,
    command: Command,
    call: Duration,
    ret: Duration,
    result: Result<Answer, OpError>,
    /// The requests the driver sent for it, in order: (to, asking).
    sent: Vec<(NodeId, bool)>,
    /// The redirects the client received: (slot, node, is ASK).
    redirects: Vec<(Slot, NodeId, bool)>,
}

#[derive(Default)]
struct Shared {
    seed: u64,
    nodes: BTreeMap<NodeId, Node>,
    /// Each node's slot map at start (the disagreeing scenario gives them
    /// different ones).
    maps: BTreeMap<NodeId, Vec<SlotRange>>,
    client_map: Vec<SlotRange>,
    events: Vec<Event>,
    done: Vec<Done>,
    /// Commands started and not ended: client -> (command, call).
    open: BTreeMap<u64, (Command, Duration)>,
    /// Whether clients start new commands.
    running: bool,
    duplicate_per_mille: u64,
    dice: Option<Dice>,
}

type World = Rc<RefCell<Shared>>;

fn now() -> Duration {
    turmoil::sim_elapsed().unwrap_or_default()
}

fn sender_id(addr: std::net::IpAddr, prefix: char) -> Option<u64> {
    turmoil::reverse_lookup(addr).and_then(|name| name.strip_prefix(prefix)?.parse().ok())
}

async fn send_maybe_twice(
    world: &World,
    socket: &UdpSocket,
    bytes: &[u8],
    to: String,
) -> turmoil::Result {
    let copies = {
        let mut w = world.borrow_mut();
        let p = w.duplicate_per_mille;
        1 + u64::from(w.dice.as_mut().is_some_and(|d| d.chance(p)))
    };
    let to = (turmoil::lookup(to), PORT);
    for _ in 0..copies {
        // A datagram the network refuses is lost, like any other.
        let _ = socket.send_to(bytes, to).await;
    }
    Ok(())
}

/// A node's software: receive, record, reply.
async fn run_node(world: World, id: NodeId) -> turmoil::Result {
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, PORT)).await?;
    let mut buf = vec![0u8; 4096];
    loop {
        let (len, from) = socket.recv_from(&mut buf).await?;
        let Some(request) = decode_request(&buf[..len]) else {
            continue;
        };
        let client = sender_id(from.ip(), 'c').unwrap_or(STRANGER);
        let reply = {
            let mut w = world.borrow_mut();
            let Some(node) = w.nodes.get_mut(&id) else {
                continue;
            };
            let (asking, command) = (request.asking, request.command.clone());
            let Ok(reply) = node.receive(client, request) else {
                continue;
            };
            if let Outcome::Served(answer) = &reply.outcome {
                w.events.push(Event::Served {
                    at: now(),
                    node: id,
                    client,
                    asking,
                    command,
                    answer: answer.clone(),
                });
            }
            reply
        };
        send_maybe_twice(&world, &socket, &encode_reply(&reply), client_host(client)).await?;
    }
}

/// A client's software: one command after another, for ever.
async fn run_client(world: World, id: u64) -> turmoil::Result {
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, PORT)).await?;
    let (map, seed) = {
        let w = world.borrow();
        (w.client_map.clone(), w.seed)
    };
    let mut client = Client::new(id, &NODES, &map, CONFIG)
        .map_err(|e| format!("client {id}: Client::new refused a valid map: {e:?}"))?;
    let mut dice = Dice(derive(seed, id));
    let mut buf = vec![0u8; 4096];
    let mut ticks = tokio::time::interval(TICK);
    let mut n = 0u64;
    loop {
        tokio::time::sleep(ms(1 + dice.below(4))).await;
        if !world.borrow().running {
            continue;
        }
        n += 1;
        let key = keys()[dice.below(keys().len() as u64) as usize].clone();
        let command = if dice.chance(450) {
            Command::Set {
                key,
                value: format!("{id}.{n}").into_bytes(),
            }
        } else {
            Command::Get { key }
        };
        let call = now();
        let mut out = client
            .start(command.clone(), call)
            .map_err(|e| format!("client {id} refused to start {command:?}: {e:?}"))?;
        world.borrow_mut().open.insert(id, (command.clone(), call));
        let mut sent = Vec::new();
        let mut redirects = Vec::new();
        let result = loop {
            sent.push((out.to, out.request.asking));
            send_maybe_twice(
                &world,
                &socket,
                &encode_request(&out.request),
                node_host(out.to),
            )
            .await?;
            let step = loop {
                tokio::select! {
                    // Without `biased`, tokio picks among ready branches at random
                    // (from an rng no seed controls): a seed would not replay.
                    biased;
                    got = socket.recv_from(&mut buf) => {
                        let (len, from) = got?;
                        let Some(reply) = decode_reply(&buf[..len]) else { continue };
                        let from = sender_id(from.ip(), 'n').unwrap_or(STRANGER);
                        let outcome = reply.outcome.clone();
                        if let Ok(step) = client.receive(from, reply, now()) {
                            match outcome {
                                Outcome::Moved { slot, node } => redirects.push((slot, node, false)),
                                Outcome::Ask { slot, node } => redirects.push((slot, node, true)),
                                Outcome::Served(_) => {}
                            }
                            break step;
                        }
                    }
                    _ = ticks.tick() => {
                        if let Some(result) = client.tick(now()) {
                            break Step::Done(result);
                        }
                    }
                }
            };
            match step {
                Step::Send(next) => out = next,
                Step::Done(result) => break result,
            }
        };
        let mut w = world.borrow_mut();
        w.open.remove(&id);
        w.done.push(Done {
            client: id,
            command,
            call,
            ret: now(),
            result,
            sent,
            redirects,
        });
    }
}

/// A host that is neither node nor client: requests with an empty key,
/// GETs with huge ids to nodes; bogus replies (small ids, redirects to
/// unknown nodes and slot 16384) to clients; garbage bytes to both.
async fn run_stranger(seed: u64) -> turmoil::Result {
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, PORT)).await?;
    let mut dice = Dice(derive(seed, 0x57a));
    let mut ticks = tokio::time::interval(ms(3));
    loop {
        ticks.tick().await;
        let key = keys()[dice.below(keys().len() as u64) as usize].clone();
        let to_node = (turmoil::lookup(node_host(1 + dice.below(4))), PORT);
        let request = match dice.below(3) {
            0 => Request {
                id: dice.roll(),
                asking: dice.chance(500),
                command: Command::Get { key: vec![] },
            },
            1 => Request {
                id: dice.roll(),
                asking: true,
                command: Command::Set {
                    key: vec![],
                    value: b"junk".to_vec(),
                },
            },
            _ => Request {
                id: dice.roll(),
                asking: dice.chance(500),
                command: Command::Get { key },
            },
        };
        let _ = socket.send_to(&encode_request(&request), to_node).await;
        let _ = socket.send_to(&[1, 2, 3], to_node).await;
        let to_client = (
            turmoil::lookup(client_host(CLIENTS[dice.below(4) as usize])),
            PORT,
        );
        let outcome = match dice.below(4) {
            0 => Outcome::Served(Answer::Value(Some(b"junk".to_vec()))),
            1 => Outcome::Served(Answer::Stored),
            2 => Outcome::Moved {
                slot: 16384,
                node: 1,
            },
            _ => Outcome::Ask {
                slot: dice.below(16384) as Slot,
                node: 9,
            },
        };
        let reply = Reply {
            id: 1 + dice.below(400),
            outcome,
        };
        let _ = socket.send_to(&encode_reply(&reply), to_client).await;
    }
}

// ─────────────────────────── the operator ───────────────────────────

#[derive(Clone, Debug)]
enum Action {
    Tell(NodeId, Slot, SlotState),
    /// One `migrate(slot, 1)` on the source, `import` on the target.
    MoveOne(NodeId, NodeId, Slot),
    /// Every key left, one at a time.
    MoveRest(NodeId, NodeId, Slot),
}

/// A resharding: which slots move where, each step at its instant.
fn plan(seed: u64, start: Duration, spread: u64) -> Vec<(Duration, Action)> {
    let mut dice = Dice(derive(seed, 0x0e7a));
    let mut slots: Vec<Slot> = keys()
        .iter()
        .map(|k| oracle_slot(k))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut owner: BTreeMap<Slot, NodeId> = slots.iter().map(|&s| (s, initial_owner(s))).collect();
    let mut at = start;
    let mut steps = Vec::new();
    let gap = |dice: &mut Dice| ms(dice.below(spread + 1));
    // Distinct slots, so that one slot's late news never crosses its next
    // migration.
    for i in (1..slots.len()).rev() {
        slots.swap(i, dice.below(i as u64 + 1) as usize);
    }
    let migrations = 4 + dice.below(3) as usize;
    for &s in slots.iter().take(migrations) {
        let from = owner[&s];
        let to = if dice.chance(500) {
            4
        } else {
            1 + dice.below(4)
        };
        let to = if to == from { 1 + from % 4 } else { to };
        owner.insert(s, to);
        let mut push = |at: &mut Duration, dice: &mut Dice, action| {
            *at += gap(dice);
            steps.push((*at, action));
        };
        push(
            &mut at,
            &mut dice,
            Action::Tell(to, s, SlotState::Importing { from }),
        );
        push(
            &mut at,
            &mut dice,
            Action::Tell(from, s, SlotState::Migrating { to }),
        );
        for _ in 0..dice.below(3) {
            push(&mut at, &mut dice, Action::MoveOne(from, to, s));
        }
        push(&mut at, &mut dice, Action::MoveRest(from, to, s));
        push(
            &mut at,
            &mut dice,
            Action::Tell(to, s, SlotState::Owned { by: to }),
        );
        push(
            &mut at,
            &mut dice,
            Action::Tell(from, s, SlotState::Owned { by: to }),
        );
        let mut others: Vec<NodeId> = NODES
            .iter()
            .copied()
            .filter(|&n| n != to && n != from)
            .collect();
        if dice.chance(500) {
            others.reverse();
        }
        for n in others {
            // Some nodes hear of the new owner late: they send clients to
            // the old one, which sends them on.
            let late = if dice.chance(300) {
                ms(200)
            } else {
                Duration::ZERO
            };
            steps.push((
                at + late + gap(&mut dice),
                Action::Tell(n, s, SlotState::Owned { by: to }),
            ));
        }
    }
    steps.sort_by_key(|(at, _)| *at);
    steps
}

fn act(world: &World, at: Duration, action: &Action) -> Result<(), String> {
    let mut w = world.borrow_mut();
    match *action {
        Action::Tell(node, slot, state) => {
            let n = w.nodes.get_mut(&node).ok_or("no such node")?;
            n.set_slot(slot, state).map_err(|e| {
                format!("at {at:?}, node {node} refused {state:?} for slot {slot}: {e:?}")
            })?;
            w.events.push(Event::Told {
                at,
                node,
                slot,
                state,
            });
        }
        Action::MoveOne(from, to, slot) | Action::MoveRest(from, to, slot) => {
            let rounds = if matches!(action, Action::MoveOne(..)) {
                1
            } else {
                10_000
            };
            for _ in 0..rounds {
                let batch = w
                    .nodes
                    .get_mut(&from)
                    .ok_or("no such node")?
                    .migrate(slot, 1)
                    .map_err(|e| {
                        format!(
                            "at {at:?}, node {from}, migrating slot {slot}, refused migrate: {e:?}"
                        )
                    })?;
                if batch.is_empty() {
                    break;
                }
                if batch.len() > 1 {
                    return Err(format!(
                        "at {at:?}, node {from}'s migrate({slot}, 1) handed over {} keys",
                        batch.len()
                    ));
                }
                for (key, _) in &batch {
                    if oracle_slot(key) != slot {
                        return Err(format!(
                            "at {at:?}, node {from}'s migrate({slot}, 1) handed over {:?}, a key of slot {}",
                            show(key),
                            oracle_slot(key)
                        ));
                    }
                    w.events.push(Event::HandedOver {
                        at,
                        from,
                        to,
                        key: key.clone(),
                    });
                }
                w.nodes
                    .get_mut(&to)
                    .ok_or("no such node")?
                    .import(slot, batch)
                    .map_err(|e| {
                        format!(
                            "at {at:?}, node {to}, importing slot {slot}, refused import: {e:?}"
                        )
                    })?;
            }
        }
    }
    Ok(())
}

// ─────────────────────────── the cluster ───────────────────────────

struct Setup {
    /// Each node's own initial map (all the same but in the disagreeing scenario).
    maps: BTreeMap<NodeId, Vec<SlotRange>>,
    client_map: Vec<SlotRange>,
    stranger: bool,
    duplicate_per_mille: u64,
    faults: bool,
}

impl Setup {
    fn normal() -> Setup {
        Setup {
            maps: NODES.iter().map(|&n| (n, initial_map())).collect(),
            client_map: initial_map(),
            stranger: true,
            duplicate_per_mille: 50,
            faults: true,
        }
    }
}

struct Cluster {
    sim: Sim<'static>,
    world: World,
    dice: Dice,
    faults: bool,
}

impl Cluster {
    fn new(seed: u64, setup: &Setup) -> Result<Cluster, String> {
        let sim = Builder::new()
            .rng_seed(seed)
            .tick_duration(TICK)
            .simulation_duration(Duration::from_secs(3_600))
            .min_message_latency(ms(1))
            .max_message_latency(ms(8))
            .enable_random_order()
            .build();
        let mut nodes = BTreeMap::new();
        for (&id, map) in &setup.maps {
            let node = Node::new(id, &NODES, map)
                .map_err(|e| format!("Node::new({id}) refused a valid map: {e:?}"))?;
            nodes.insert(id, node);
        }
        let world = Rc::new(RefCell::new(Shared {
            seed,
            nodes,
            maps: setup.maps.clone(),
            client_map: setup.client_map.clone(),
            running: true,
            duplicate_per_mille: setup.duplicate_per_mille,
            dice: Some(Dice(derive(seed, 0xd0b))),
            ..Shared::default()
        }));
        let mut cluster = Cluster {
            sim,
            world,
            dice: Dice(derive(seed, 0xfa17)),
            faults: setup.faults,
        };
        for &id in &NODES {
            let world = cluster.world.clone();
            cluster
                .sim
                .host(node_host(id), move || run_node(world.clone(), id));
        }
        for &id in &CLIENTS {
            let world = cluster.world.clone();
            cluster
                .sim
                .host(client_host(id), move || run_client(world.clone(), id));
        }
        if setup.stranger {
            cluster.sim.host("x", move || run_stranger(seed));
        }
        Ok(cluster)
    }

    fn elapsed(&self) -> Duration {
        self.sim.elapsed()
    }

    fn step(&mut self) -> Result<(), String> {
        self.sim
            .step()
            .map(|_| ())
            .map_err(|e| format!("the simulation stopped at {:?}: {e}", self.elapsed()))
    }

    /// A network fault between a random client and a random node, now and
    /// then: held messages, released ones, a loss rate.
    fn maybe_fault(&mut self) {
        if !self.faults || !self.dice.chance(20) {
            return;
        }
        let c = client_host(CLIENTS[self.dice.below(4) as usize]);
        let n = node_host(1 + self.dice.below(4));
        match self.dice.below(4) {
            0 => self.sim.hold(c, n),
            1 => self.sim.release(c, n),
            2 => {
                let rate = [0.0, 0.02, 0.1][self.dice.below(3) as usize];
                self.sim.set_fail_rate(rate);
            }
            _ => {
                for &c in &CLIENTS {
                    for &n in &NODES {
                        self.sim.release(client_host(c), node_host(n));
                    }
                }
            }
        }
    }

    fn calm(&mut self) {
        for &c in &CLIENTS {
            for &n in &NODES {
                self.sim.release(client_host(c), node_host(n));
            }
        }
        self.sim.set_fail_rate(0.0);
    }

    /// Runs the operator's `plan` to its end, then `tail` more.
    fn run(&mut self, plan: &[(Duration, Action)], tail: Duration) -> Result<(), String> {
        let end = plan.last().map_or(Duration::ZERO, |(at, _)| *at) + tail;
        let mut next = 0;
        while self.elapsed() < end {
            while let Some((at, action)) = plan.get(next) {
                if *at > self.elapsed() {
                    break;
                }
                act(&self.world, self.elapsed(), action)?;
                next += 1;
            }
            self.step()?;
            self.maybe_fault();
        }
        Ok(())
    }

    /// Stops the clients starting commands and lets the ones running end.
    fn drain(&mut self) -> Result<(), String> {
        self.world.borrow_mut().running = false;
        self.calm();
        let bound = CONFIG.timeout * (CONFIG.max_redirects + 1) + ms(20);
        let until = self.elapsed() + bound;
        while self.elapsed() < until && !self.world.borrow().open.is_empty() {
            self.step()?;
        }
        let w = self.world.borrow();
        if let Some((client, (command, call))) = w.open.iter().next() {
            return Err(format!(
                "client {client}'s command {command:?}, started at {call:?}, had not ended at {:?}: with a timeout of {:?} per request and at most {} redirects, every command ends within {bound:?}",
                self.elapsed(),
                CONFIG.timeout,
                CONFIG.max_redirects
            ));
        }
        Ok(())
    }
}

/// What one run of the migration scenario recorded.
#[derive(Clone)]
struct Run {
    events: Vec<Event>,
    done: Vec<Done>,
    maps: BTreeMap<NodeId, Vec<SlotRange>>,
    outcome: Result<(), String>,
}

fn record(cluster: &Cluster, outcome: Result<(), String>) -> Run {
    let w = cluster.world.borrow();
    Run {
        events: w.events.clone(),
        done: w.done.clone(),
        maps: w.maps.clone(),
        outcome,
    }
}

/// The migration scenario of a seed: four clients, a resharding of four
/// to six slots, faults. Run once per seed and shared by the specs that
/// judge it.
fn migration_run(seed: u64) -> Arc<Run> {
    static RUNS: OnceLock<Mutex<HashMap<u64, Arc<Run>>>> = OnceLock::new();
    let runs = RUNS.get_or_init(Mutex::default);
    let mut runs = runs.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    runs.entry(seed)
        .or_insert_with(|| {
            let setup = Setup::normal();
            let mut cluster = match Cluster::new(seed, &setup) {
                Ok(c) => c,
                Err(e) => {
                    return Arc::new(Run {
                        events: vec![],
                        done: vec![],
                        maps: BTreeMap::new(),
                        outcome: Err(e),
                    });
                }
            };
            let steps = plan(seed, ms(30), 25);
            let outcome = cluster.run(&steps, ms(120)).and_then(|()| cluster.drain());
            Arc::new(record(&cluster, outcome))
        })
        .clone()
}

// ─────────────────────────── the judges ───────────────────────────

type History = Vec<(
    Vec<u8>,
    Operation<RegisterOp<Vec<u8>>, Option<Vec<u8>>, Duration>,
)>;

fn history(done: &[Done]) -> History {
    let mut out = Vec::new();
    for d in done {
        let (key, input) = match &d.command {
            Command::Get { key } => (key.clone(), RegisterOp::Read),
            Command::Set { key, value } => (key.clone(), RegisterOp::Write(value.clone())),
        };
        let (output, ret) = match &d.result {
            Ok(Answer::Value(v)) => (Some(v.clone()), Some(d.ret)),
            Ok(Answer::Stored) => (Some(None), Some(d.ret)),
            // It may or may not have taken effect.
            Err(OpError::TimedOut) => (None, None),
            // Every request of it was redirected: it did not happen.
            Err(OpError::TooManyRedirects) => continue,
        };
        out.push((
            key,
            Operation {
                input,
                output,
                call: d.call,
                ret,
            },
        ));
    }
    out
}

fn linearizable(run: &Run) -> Result<(), String> {
    linearizable_per_key(|_| Register(None), &history(&run.done)).map_err(|(key, violation)| {
        let ops: Vec<String> = run
            .done
            .iter()
            .filter(|d| d.command.key() == key.as_slice())
            .map(|d| {
                format!(
                    "client {} {:?} {:?}..{:?} -> {:?} via {:?}",
                    d.client,
                    short(&d.command),
                    d.call,
                    d.ret,
                    d.result,
                    d.sent
                )
            })
            .collect();
        format!(
            "key {:?}: {violation}\nits commands:\n  {}",
            show(&key),
            ops.join("\n  ")
        )
    })
}

fn short(c: &Command) -> String {
    match c {
        Command::Get { key } => format!("GET {}", show(key)),
        Command::Set { key, value } => format!("SET {} {}", show(key), show(value)),
    }
}

/// What each node was told and holds, replayed from the history: no node
/// serves a key it does not hold in a slot it migrates, nor a slot it does
/// not own unless it imports it and the request is ASKING.
fn served_only_what_it_should(run: &Run) -> Result<(), String> {
    let mut owner: BTreeMap<NodeId, Vec<NodeId>> = BTreeMap::new();
    for (&n, map) in &run.maps {
        let mut table = vec![0; usize::from(SLOTS)];
        for r in map {
            for s in r.first..=r.last {
                table[usize::from(s)] = r.node;
            }
        }
        owner.insert(n, table);
    }
    let mut migrating: BTreeSet<(NodeId, Slot)> = BTreeSet::new();
    let mut importing: BTreeSet<(NodeId, Slot)> = BTreeSet::new();
    let mut holds: BTreeSet<(NodeId, Vec<u8>)> = BTreeSet::new();
    let mut handed: BTreeMap<(NodeId, Vec<u8>), Duration> = BTreeMap::new();
    let mut told_at: BTreeMap<(NodeId, Slot), Duration> = BTreeMap::new();
    for e in &run.events {
        match e {
            Event::Told {
                at,
                node,
                slot,
                state,
            } => match *state {
                SlotState::Migrating { .. } => {
                    migrating.insert((*node, *slot));
                }
                SlotState::Importing { .. } => {
                    importing.insert((*node, *slot));
                }
                SlotState::Owned { by } => {
                    if let Some(t) = owner.get_mut(node) {
                        t[usize::from(*slot)] = by;
                    }
                    told_at.insert((*node, *slot), *at);
                    migrating.remove(&(*node, *slot));
                    importing.remove(&(*node, *slot));
                }
            },
            Event::HandedOver { at, from, to, key } => {
                holds.remove(&(*from, key.clone()));
                holds.insert((*to, key.clone()));
                handed.insert((*from, key.clone()), *at);
            }
            Event::Served {
                at,
                node,
                client,
                asking,
                command,
                answer,
            } => {
                let key = command.key().to_vec();
                let s = oracle_slot(&key);
                let mine = owner.get(node).is_some_and(|t| t[usize::from(s)] == *node);
                let what = format!(
                    "node {node} served client {client}'s {} (slot {s}{}) at {at:?}, answering {answer:?}",
                    short(command),
                    if *asking { ", ASKING" } else { "" }
                );
                if mine {
                    if migrating.contains(&(*node, s)) && !holds.contains(&(*node, key.clone())) {
                        let why = match handed.get(&(*node, key.clone())) {
                            Some(when) => format!("it had handed that key over at {when:?}"),
                            None => "it did not hold that key".to_owned(),
                        };
                        return Err(format!(
                            "{what}, while migrating slot {s}, but {why}: it should have answered ASK"
                        ));
                    }
                } else if !(*asking && importing.contains(&(*node, s))) {
                    let owner = owner.get(node).map_or(0, |t| t[usize::from(s)]);
                    let why = if importing.contains(&(*node, s)) {
                        "it was importing the slot, and the request was not ASKING".to_owned()
                    } else {
                        match told_at.get(&(*node, s)) {
                            Some(when) => format!(
                                "it had been told at {when:?} that slot {s} is node {owner}'s"
                            ),
                            None => format!("slot {s} is node {owner}'s in its map"),
                        }
                    };
                    return Err(format!("{what}, but {why}: it should have answered MOVED"));
                }
                if let Command::Set { .. } = command {
                    holds.insert((*node, key));
                }
            }
        }
    }
    Ok(())
}

fn completed(run: &Run) -> Result<(), String> {
    let limit = CONFIG.max_redirects as usize + 1;
    for d in &run.done {
        if d.sent.len() > limit {
            return Err(format!(
                "client {}'s {} sent {} requests {:?}: at most max_redirects + 1 = {limit}",
                d.client,
                short(&d.command),
                d.sent.len(),
                d.sent
            ));
        }
        if d.result == Err(OpError::TooManyRedirects) {
            return Err(format!(
                "client {}'s {} (slot {}) at {:?} ended with TooManyRedirects after the redirects {:?} (slot, node, is ASK) and the requests {:?} (node, ASKING); during a migration a command needs at most three",
                d.client,
                short(&d.command),
                oracle_slot(d.command.key()),
                d.call,
                d.redirects,
                d.sent
            ));
        }
    }
    let ok = run.done.iter().filter(|d| d.result.is_ok()).count();
    if ok * 2 < run.done.len() {
        return Err(format!(
            "only {ok} of {} commands succeeded",
            run.done.len()
        ));
    }
    Ok(())
}

fn judge(seed: u64, check: fn(&Run) -> Result<(), String>) -> Result<(), String> {
    let run = migration_run(seed);
    run.outcome.clone()?;
    check(&run)
}

// ─────────────────────────── 12. safety ───────────────────────────

#[test]
fn no_write_is_lost_and_no_read_is_stale_while_slots_migrate() {
    check_seeds(replay(), 12, |seed| judge(seed, linearizable));
}

#[test]
fn no_node_serves_a_key_it_handed_over_or_a_slot_it_does_not_own() {
    check_seeds(replay(), 12, |seed| judge(seed, served_only_what_it_should));
}

#[test]
fn commands_end_within_a_few_redirects_while_slots_migrate() {
    check_seeds(replay(), 12, |seed| judge(seed, completed));
}

// ─────────────────────────── 13. hash tags ───────────────────────────

#[test]
fn keys_sharing_a_hash_tag_are_served_by_one_node_outside_a_migration() {
    check_seeds(replay(), 12, |seed| {
        judge(seed, |run| {
            // The slot each node is migrating or importing, while it is.
            let mut moving: BTreeSet<Slot> = BTreeSet::new();
            let mut told: BTreeMap<Slot, BTreeSet<NodeId>> = BTreeMap::new();
            let mut last: BTreeMap<Vec<u8>, (NodeId, Vec<u8>, Duration)> = BTreeMap::new();
            for e in &run.events {
                match e {
                    Event::Told {
                        node, slot, state, ..
                    } => match state {
                        SlotState::Migrating { .. } | SlotState::Importing { .. } => {
                            moving.insert(*slot);
                            told.remove(slot);
                        }
                        SlotState::Owned { .. } => {
                            let t = told.entry(*slot).or_default();
                            t.insert(*node);
                            if t.len() == NODES.len() {
                                moving.remove(slot);
                                last.retain(|tag, _| oracle_slot(tag) != *slot);
                            }
                        }
                    },
                    Event::Served {
                        at, node, command, ..
                    } => {
                        let key = command.key();
                        let s = oracle_slot(key);
                        if moving.contains(&s) || !key.starts_with(b"{") {
                            continue;
                        }
                        let tag: Vec<u8> = key
                            .iter()
                            .take_while(|&&b| b != b'}')
                            .copied()
                            .skip(1)
                            .collect();
                        if let Some((other, other_key, when)) = last.get(&tag)
                            && *other != *node
                        {
                            return Err(format!(
                                "keys with the hash tag {{{}}}: {:?} was served by node {other} at {when:?}, {:?} by node {node} at {at:?}, and no migration of their slot {s} was under way",
                                show(&tag),
                                show(other_key),
                                show(key)
                            ));
                        }
                        last.insert(tag, (*node, key.to_vec(), *at));
                    }
                    Event::HandedOver { .. } => {}
                }
            }
            Ok(())
        })
    });
}

// ─────────────────────────── 9. bounded redirects ───────────────────────────

#[test]
fn redirects_are_bounded_between_nodes_that_disagree_for_ever() {
    check_seeds(replay(), 4, |seed| {
        // Nodes 1 and 2 each believe the other owns 0..=8191; node 3 and 4
        // believe it is node 1's.
        let swapped = |a: NodeId, b: NodeId| {
            vec![
                SlotRange {
                    first: 0,
                    last: 8191,
                    node: a,
                },
                SlotRange {
                    first: 8192,
                    last: 16383,
                    node: b,
                },
            ]
        };
        let mut setup = Setup::normal();
        setup.maps = BTreeMap::from([
            (1, swapped(2, 3)),
            (2, swapped(1, 3)),
            (3, swapped(1, 3)),
            (4, swapped(1, 3)),
        ]);
        setup.client_map = swapped(1, 3);
        setup.stranger = false;
        let mut cluster = Cluster::new(seed, &setup)?;
        cluster.run(&[], ms(300))?;
        cluster.drain()?;
        let run = record(&cluster, Ok(()));
        let limit = CONFIG.max_redirects as usize + 1;
        let mut looping = 0;
        for d in &run.done {
            let s = oracle_slot(d.command.key());
            if d.sent.len() > limit {
                return Err(format!(
                    "client {}'s {} (slot {s}) sent {} requests {:?}: at most max_redirects + 1 = {limit}",
                    d.client,
                    short(&d.command),
                    d.sent.len(),
                    d.sent
                ));
            }
            if s <= 8191 {
                match d.result {
                    Err(OpError::TooManyRedirects) => {
                        looping += 1;
                        if d.sent.len() != limit {
                            return Err(format!(
                                "client {}'s {} (slot {s}) ended TooManyRedirects after {} requests {:?}: it should follow max_redirects = {} redirects first",
                                d.client,
                                short(&d.command),
                                d.sent.len(),
                                d.sent,
                                CONFIG.max_redirects
                            ));
                        }
                    }
                    Err(OpError::TimedOut) => {}
                    Ok(ref answer) => {
                        return Err(format!(
                            "client {}'s {} (slot {s}) got {answer:?}, but nodes 1 and 2 send each other every command of that slot",
                            d.client,
                            short(&d.command)
                        ));
                    }
                }
            }
        }
        if looping == 0 {
            return Err("no command of slots 0..=8191 ended with TooManyRedirects".to_owned());
        }
        Ok(())
    });
}

// ─────────────────────────── 14. follow-up ───────────────────────────

#[test]
fn followup_a_client_with_a_stale_map_needs_one_moved_per_moved_slot() {
    check_seeds(replay(), 4, |seed| {
        let mut setup = Setup::normal();
        setup.faults = false;
        setup.stranger = false;
        setup.duplicate_per_mille = 0;
        let mut cluster = Cluster::new(seed, &setup)?;
        cluster.world.borrow_mut().running = false;
        // The whole resharding first, no client running: every node knows
        // the new owners at the end.
        let steps: Vec<(Duration, Action)> = plan(seed, ms(1), 0)
            .into_iter()
            .map(|(_, a)| (ms(1), a))
            .collect();
        cluster.run(&steps, ms(5))?;
        cluster.world.borrow_mut().running = true;
        cluster.run(&[], ms(400))?;
        cluster.drain()?;
        let run = record(&cluster, Ok(()));
        for &c in &CLIENTS {
            let mut moved: BTreeMap<Slot, usize> = BTreeMap::new();
            for d in run.done.iter().filter(|d| d.client == c) {
                if let Err(e) = d.result {
                    return Err(format!(
                        "client {c}'s {} ended with {e:?} on a calm network",
                        short(&d.command)
                    ));
                }
                for &(s, node, ask) in &d.redirects {
                    if ask {
                        return Err(format!(
                            "client {c}'s {} was answered ASK (slot {s}, node {node}) after the resharding was over",
                            short(&d.command)
                        ));
                    }
                    let n = moved.entry(s).or_default();
                    *n += 1;
                    if *n > 1 {
                        return Err(format!(
                            "client {c} got a second MOVED for slot {s} (to node {node}, for {} at {:?}): after the first, its map should send the slot's commands straight to the new owner",
                            short(&d.command),
                            d.call
                        ));
                    }
                }
            }
        }
        Ok(())
    });
}
