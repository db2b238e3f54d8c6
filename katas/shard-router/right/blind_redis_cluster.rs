//! Right, written blind (from the README and the stub alone): per-client highest ids, keys in a
//! `BTreeMap` per slot, the map checked by a sorted sweep, timeouts as `now - sent_at >= timeout`.
//!
//! # Shard router (Redis Cluster slots, `MOVED` and `ASK`)
//!
//! A key-value store split over several nodes the way Redis Cluster splits
//! it: every key hashes to one of 16384 **slots** (CRC16 of the key, or of
//! its `{hash tag}`), every slot belongs to one node, and a slot can move
//! from one node to another while clients keep reading and writing. Read
//! `README.md` beside this file for the problem, then make the
//! specification pass:
//!
//! ```text
//! cargo xtask kata shard-router
//! ```
//!
//! You write three things:
//!
//! - [`crc16`], [`hash_tag`] and [`slot`]: which slot a key lives in,
//!   exactly as Redis computes it.
//! - [`Node`]: one shard. It serves the keys of the slots it owns, answers
//!   `MOVED` for a slot it does not own and `ASK` for a key that has already
//!   left a slot it is migrating, and serves a request sent with `ASKING`
//!   for a slot it is importing. The migration itself (Redis'
//!   `CLUSTER SETSLOT` and `MIGRATE`) is driven by an operator through
//!   [`Node::set_slot`], [`Node::migrate`] and [`Node::import`].
//! - [`Client`]: caches the slot map, sends each command to the node its
//!   map names, follows `MOVED` (and updates its map) and `ASK` (and does
//!   not), at most `max_redirects` times per command.
//!
//! Both are **sans-IO**: no clock, no socket, no task. The caller (the
//! spec's driver, which runs nodes and clients as hosts of a
//! [turmoil](https://docs.rs/turmoil) simulated network) hands each node the
//! requests that arrive and sends back its replies, and hands each client
//! its replies and the time. Everything on the wire ([`Request`],
//! [`Command`], [`Reply`], [`Outcome`], [`Answer`]) and every error type is
//! given; the behaviour of the three functions, [`Node`] and [`Client`],
//! and their fields, are yours.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

/// A hash slot: `0..SLOTS`.
pub type Slot = u16;

/// How many slots there are: 16384, slots `0` to `16383`.
pub const SLOTS: u16 = 16384;

/// Identifies a node of the cluster. The cluster's membership is fixed and
/// known to every node and client.
pub type NodeId = u64;

/// Identifies a client. Nodes do not know the clients in advance: any id
/// may send them requests.
pub type ClientId = u64;

/// The id of one request a client sends (the first try of a command, and
/// each redirect followed, are requests of their own).
pub type RequestId = u64;

/// The CRC16 that Redis Cluster hashes keys with: CRC16-CCITT in its
/// XMODEM variant (polynomial `0x1021`, initial value 0, no reflection, no
/// final xor). `crc16(b"123456789") == 0x31C3`; the CRC of nothing is 0.
pub fn crc16(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &byte in bytes {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// The part of `key` that is hashed, by Redis' rule: if `key` has a `{`,
/// and after the first `{` a `}`, and at least one byte between the two,
/// that is only those bytes; otherwise the whole key.
///
/// `"{user1000}.following"` hashes `"user1000"`; `"foo{}{bar}"` hashes the
/// whole key (the first `{` is followed at once by `}`); `"foo{{bar}}"`
/// hashes `"{bar"`; `"foo{bar}{zap}"` hashes `"bar"`.
pub fn hash_tag(key: &[u8]) -> &[u8] {
    if let Some(open) = key.iter().position(|&b| b == b'{') {
        let rest = &key[open + 1..];
        if let Some(len) = rest.iter().position(|&b| b == b'}') {
            if len > 0 {
                return &rest[..len];
            }
        }
    }
    key
}

/// The slot of `key`: `crc16(hash_tag(key)) % 16384`, always below
/// [`SLOTS`]. `slot(b"foo") == 12182`, `slot(b"bar") == 5061`; keys that
/// share a hash tag share a slot. The empty key is slot 0, as in Redis
/// (but clients and nodes refuse it, see [`RequestError::EmptyKey`]).
pub fn slot(key: &[u8]) -> Slot {
    crc16(hash_tag(key)) % SLOTS
}

/// Slots `first..=last` belong to `node`: one line of Redis'
/// `CLUSTER SLOTS`. A slot map is a list of these that covers every slot
/// from 0 to 16383 exactly once, in any order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SlotRange {
    /// The first slot of the range.
    pub first: Slot,
    /// The last slot of the range, included.
    pub last: Slot,
    /// The node that owns them.
    pub node: NodeId,
}

/// What a client asks a node to do with one key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Command {
    /// `GET key`: its value, or `None` if it has none.
    Get {
        /// The key.
        key: Vec<u8>,
    },
    /// `SET key value`.
    Set {
        /// The key.
        key: Vec<u8>,
        /// Its new value.
        value: Vec<u8>,
    },
}

impl Command {
    /// The key the command is about.
    pub fn key(&self) -> &[u8] {
        match self {
            Command::Get { key } | Command::Set { key, .. } => key,
        }
    }
}

/// A request, from a client to a node.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Request {
    /// Chosen by the client: every request a client sends has an id
    /// greater than any it sent before. The node's [`Reply`] carries it
    /// back.
    pub id: RequestId,
    /// Redis' `ASKING`, sent just before the command on the same
    /// connection: "the node that owns this slot sent me here with `ASK`".
    /// It holds for this request only.
    pub asking: bool,
    /// What to do.
    pub command: Command,
}

/// The result of a command a node served.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Answer {
    /// The answer to `GET`: the key's value, `None` if it has none.
    Value(Option<Vec<u8>>),
    /// The answer to `SET`: stored.
    Stored,
}

/// What a node says to a request.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The node served the command.
    Served(Answer),
    /// `-MOVED slot node`: `slot` belongs to `node`, now and from now on:
    /// ask it, and remember it.
    Moved {
        /// The slot of the request's key.
        slot: Slot,
        /// The node that owns it, as far as the answering node knows.
        node: NodeId,
    },
    /// `-ASK slot node`: `slot` is migrating to `node` and this key is no
    /// longer here: ask `node` (with `asking`), this once. The slot still
    /// belongs to the answering node.
    Ask {
        /// The slot of the request's key.
        slot: Slot,
        /// The node the slot is migrating to.
        node: NodeId,
    },
}

/// A node's reply to one request.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Reply {
    /// The id of the request it answers.
    pub id: RequestId,
    /// What the node says.
    pub outcome: Outcome,
}

/// A request for the caller to send.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Outgoing {
    /// The node it goes to.
    pub to: NodeId,
    /// The request.
    pub request: Request,
}

/// What an operator tells a node about one slot: Redis'
/// `CLUSTER SETSLOT <slot> MIGRATING|IMPORTING|NODE <node>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SlotState {
    /// `MIGRATING <to>`, told to the slot's owner: its keys are moving to
    /// `to`. The node still owns the slot.
    Migrating {
        /// The node the keys go to.
        to: NodeId,
    },
    /// `IMPORTING <from>`, told to the node the slot moves to: its keys are
    /// arriving from `from`, which still owns it.
    Importing {
        /// The node the keys come from.
        from: NodeId,
    },
    /// `NODE <by>`: the slot belongs to `by` from now on. Ends any
    /// migration or import of the slot on the node told.
    Owned {
        /// The slot's owner.
        by: NodeId,
    },
}

/// A step of the caller's: what a [`Client`] wants done after a reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Send this request (the client follows a redirect).
    Send(Outgoing),
    /// The command is over, with this result.
    Done(Result<Answer, OpError>),
}

/// The timing and bounds of a [`Client`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientConfig {
    /// How many redirects (`MOVED` or `ASK`) one command may follow. The
    /// reply that would make it follow one more ends the command with
    /// [`OpError::TooManyRedirects`]. Zero: no redirect is followed.
    pub max_redirects: u32,
    /// How long the client waits for the reply to each request it sends;
    /// a request still unanswered `timeout` after it was sent ends the
    /// command with [`OpError::TimedOut`] (see [`Client::tick`]).
    pub timeout: Duration,
}

impl Default for ClientConfig {
    /// Five redirects (as many Redis Cluster clients allow), 100 ms per
    /// request.
    fn default() -> Self {
        ClientConfig {
            max_redirects: 5,
            timeout: Duration::from_millis(100),
        }
    }
}

/// Why [`Node::new`] or [`Client::new`] refused its configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// A node is listed twice in `nodes`.
    DuplicateNode(NodeId),
    /// The node being built is not in `nodes` (a [`Node`] only).
    NotInCluster(NodeId),
    /// A range of the map names a node that is not in `nodes`.
    UnknownNode(NodeId),
    /// A range whose `first` is above its `last`, or whose `last` is not
    /// below [`SLOTS`].
    BadRange(SlotRange),
    /// This slot (the lowest such) is in two ranges of the map.
    Overlap(Slot),
    /// This slot (the lowest such) is in no range of the map.
    Gap(Slot),
}

/// Why a [`Node`] or a [`Client`] refused a message. A refused message
/// changes nothing at all and is never answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReceiveError {
    /// A client got a reply from a node that is not in the cluster, or a
    /// redirect naming one.
    UnknownNode(NodeId),
    /// A message that can be no answer to anything:
    /// - to a node: a request whose id is not above the highest it has
    ///   taken from that client (a duplicate, or a copy delivered late);
    /// - to a client: a reply that is not from the node its outstanding
    ///   request went to, or not to that request's id (a duplicate, a late
    ///   reply to an earlier request, or no request outstanding).
    Stale,
    /// A message that makes no sense: a request with an empty key; a reply
    /// whose answer does not fit the command (`Stored` to a `GET`), or a
    /// redirect whose slot is not the key's slot (slots 16384 and above
    /// included).
    Malformed,
}

/// Why a [`Client`] refused to start a command. Nothing is sent and
/// nothing changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestError {
    /// The key is empty.
    EmptyKey,
    /// A command is already outstanding: a client runs one at a time.
    Busy,
}

/// Why a command ended without an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpError {
    /// It would have followed more than `max_redirects` redirects.
    TooManyRedirects,
    /// A request went unanswered for `timeout`. The command may or may not
    /// have taken effect.
    TimedOut,
}

/// Why a [`Node`] refused an operator's command. A refused command changes
/// nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdminError {
    /// The slot is not below [`SLOTS`].
    SlotOutOfRange(Slot),
    /// The node named is not in the cluster.
    UnknownNode(NodeId),
    /// The command does not fit the slot's state on this node: `Migrating`
    /// a slot it does not own or to itself, `Importing` a slot it owns or
    /// from itself, `Owned` by another node while this node still holds
    /// keys of the slot (they would be lost), `migrate` of a slot it is not
    /// migrating, `import` into a slot it is not importing.
    WrongState(Slot),
    /// An imported key does not hash to the slot being imported.
    KeyNotInSlot(Slot),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::DuplicateNode(id) => write!(f, "node {id} is listed twice"),
            ConfigError::NotInCluster(id) => write!(f, "node {id} is not in its own cluster"),
            ConfigError::UnknownNode(id) => {
                write!(f, "the map names node {id}, not in the cluster")
            }
            ConfigError::BadRange(r) => write!(f, "bad slot range {}..={}", r.first, r.last),
            ConfigError::Overlap(s) => write!(f, "slot {s} is in two ranges"),
            ConfigError::Gap(s) => write!(f, "slot {s} is in no range"),
        }
    }
}

impl fmt::Display for ReceiveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReceiveError::UnknownNode(id) => write!(f, "node {id} is not in the cluster"),
            ReceiveError::Stale => write!(f, "a duplicate, late or unexpected message"),
            ReceiveError::Malformed => write!(f, "a malformed message"),
        }
    }
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::EmptyKey => write!(f, "the key is empty"),
            RequestError::Busy => write!(f, "a command is already outstanding"),
        }
    }
}

impl fmt::Display for OpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpError::TooManyRedirects => write!(f, "too many redirects"),
            OpError::TimedOut => write!(f, "no reply in time"),
        }
    }
}

impl fmt::Display for AdminError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AdminError::SlotOutOfRange(s) => write!(f, "slot {s} is not below 16384"),
            AdminError::UnknownNode(id) => write!(f, "node {id} is not in the cluster"),
            AdminError::WrongState(s) => write!(f, "not in slot {s}'s current state"),
            AdminError::KeyNotInSlot(s) => write!(f, "a key that is not in slot {s}"),
        }
    }
}

impl std::error::Error for ConfigError {}
impl std::error::Error for ReceiveError {}
impl std::error::Error for RequestError {}
impl std::error::Error for OpError {}
impl std::error::Error for AdminError {}

/// Checks `nodes` (no duplicate) and `map` (good ranges, known nodes, every
/// slot exactly once) and returns the owner of every slot.
fn build_map(nodes: &[NodeId], map: &[SlotRange]) -> Result<Vec<NodeId>, ConfigError> {
    for range in map {
        if range.first > range.last || range.last >= SLOTS {
            return Err(ConfigError::BadRange(*range));
        }
        if !nodes.contains(&range.node) {
            return Err(ConfigError::UnknownNode(range.node));
        }
    }
    // Sweep the ranges in order of their first slot: O(m log m), whatever
    // the ranges cover.
    let mut sorted: Vec<SlotRange> = map.to_vec();
    sorted.sort_by_key(|r| (r.first, r.last));
    let mut overlap: Option<Slot> = None;
    let mut gap: Option<Slot> = None;
    // Every slot below `covered` is in some range seen so far.
    let mut covered: u32 = 0;
    for range in &sorted {
        let (first, last) = (u32::from(range.first), u32::from(range.last));
        if first > covered && gap.is_none() {
            gap = Some(covered as Slot);
        }
        if first < covered && overlap.is_none() {
            overlap = Some(range.first);
        }
        covered = covered.max(last + 1);
    }
    if covered < u32::from(SLOTS) && gap.is_none() {
        gap = Some(covered as Slot);
    }
    match (overlap, gap) {
        (Some(o), Some(g)) if g < o => return Err(ConfigError::Gap(g)),
        (Some(o), _) => return Err(ConfigError::Overlap(o)),
        (None, Some(g)) => return Err(ConfigError::Gap(g)),
        (None, None) => {}
    }
    let mut owners = vec![0; usize::from(SLOTS)];
    for range in &sorted {
        for s in range.first..=range.last {
            owners[usize::from(s)] = range.node;
        }
    }
    Ok(owners)
}

fn check_nodes(nodes: &[NodeId]) -> Result<(), ConfigError> {
    let mut seen = BTreeSet::new();
    for &node in nodes {
        if !seen.insert(node) {
            return Err(ConfigError::DuplicateNode(node));
        }
    }
    Ok(())
}

/// What a node is doing with a slot besides owning it or not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Transfer {
    Migrating(NodeId),
    Importing(NodeId),
}

/// One shard of the cluster: the keys of the slots it owns, its view of
/// who owns every other slot, and the state of any slot it is migrating or
/// importing.
///
/// ```no_run
/// use shard_router::{Answer, Command, Node, Outcome, Request, SlotRange, SlotState, slot};
///
/// // Two nodes: 1 owns slots 0..=8191, 2 owns 8192..=16383.
/// let map = [
///     SlotRange { first: 0, last: 8191, node: 1 },
///     SlotRange { first: 8192, last: 16383, node: 2 },
/// ];
/// let mut one = Node::new(1, &[1, 2], &map)?;
/// let set = |id, key: &str| Request {
///     id,
///     asking: false,
///     command: Command::Set { key: key.into(), value: b"v".to_vec() },
/// };
/// assert_eq!(slot(b"bar"), 5061);
/// assert_eq!(one.receive(7, set(1, "bar"))?.outcome, Outcome::Served(Answer::Stored));
/// assert_eq!(slot(b"foo"), 12182);
/// assert_eq!(one.receive(7, set(2, "foo"))?.outcome, Outcome::Moved { slot: 12182, node: 2 });
///
/// // Slot 5061 starts moving to node 2: "bar" is still here, a new key is not.
/// one.set_slot(5061, SlotState::Migrating { to: 2 })?;
/// assert_eq!(one.receive(7, set(3, "bar"))?.outcome, Outcome::Served(Answer::Stored));
/// assert_eq!(slot(b"{bar}.new"), 5061);
/// assert_eq!(one.receive(7, set(4, "{bar}.new"))?.outcome, Outcome::Ask { slot: 5061, node: 2 });
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Node {
    id: NodeId,
    nodes: Vec<NodeId>,
    /// The owner of every slot, as this node knows it.
    owners: Vec<NodeId>,
    /// The slots being migrated away or imported here.
    transfers: BTreeMap<Slot, Transfer>,
    /// The keys held, by slot (no empty inner map is kept). Ordered, so
    /// that `migrate` hands over the same keys on every run.
    keys: BTreeMap<Slot, BTreeMap<Vec<u8>, Vec<u8>>>,
    /// The highest request id taken from each client.
    highest: BTreeMap<ClientId, RequestId>,
}

impl Node {
    /// Builds node `id` of the cluster `nodes` (every node, `id` included),
    /// with the slot map `map` (which covers every slot exactly once), and
    /// no keys.
    pub fn new(id: NodeId, nodes: &[NodeId], map: &[SlotRange]) -> Result<Node, ConfigError> {
        check_nodes(nodes)?;
        if !nodes.contains(&id) {
            return Err(ConfigError::NotInCluster(id));
        }
        let owners = build_map(nodes, map)?;
        Ok(Node {
            id,
            nodes: nodes.to_vec(),
            owners,
            transfers: BTreeMap::new(),
            keys: BTreeMap::new(),
            highest: BTreeMap::new(),
        })
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// The owner of `slot` as this node knows it. `None` for a slot not
    /// below [`SLOTS`].
    pub fn owner(&self, slot: Slot) -> Option<NodeId> {
        self.owners.get(usize::from(slot)).copied()
    }

    fn holds(&self, slot: Slot, key: &[u8]) -> bool {
        self.keys
            .get(&slot)
            .is_some_and(|keys| keys.contains_key(key))
    }

    fn holds_any(&self, slot: Slot) -> bool {
        self.keys.get(&slot).is_some_and(|keys| !keys.is_empty())
    }

    fn serve(&mut self, slot: Slot, command: Command) -> Outcome {
        Outcome::Served(match command {
            Command::Get { key } => Answer::Value(
                self.keys
                    .get(&slot)
                    .and_then(|keys| keys.get(&key))
                    .cloned(),
            ),
            Command::Set { key, value } => {
                self.keys.entry(slot).or_default().insert(key, value);
                Answer::Stored
            }
        })
    }

    /// Handles `request` from client `from` and returns the reply.
    pub fn receive(&mut self, from: ClientId, request: Request) -> Result<Reply, ReceiveError> {
        let key = request.command.key();
        if key.is_empty() {
            return Err(ReceiveError::Malformed);
        }
        if let Some(&highest) = self.highest.get(&from) {
            if request.id <= highest {
                return Err(ReceiveError::Stale);
            }
        }
        // Taken, whatever the answer: a late copy of a request answered
        // MOVED or ASK must not be served later either.
        self.highest.insert(from, request.id);
        let s = slot(key);
        let owner = self.owners[usize::from(s)];
        let outcome = match self.transfers.get(&s).copied() {
            Some(Transfer::Migrating(to)) => {
                if self.holds(s, key) {
                    self.serve(s, request.command)
                } else {
                    Outcome::Ask { slot: s, node: to }
                }
            }
            Some(Transfer::Importing(_)) if request.asking => self.serve(s, request.command),
            _ if owner == self.id => self.serve(s, request.command),
            _ => Outcome::Moved {
                slot: s,
                node: owner,
            },
        };
        Ok(Reply {
            id: request.id,
            outcome,
        })
    }

    /// The operator's `CLUSTER SETSLOT <slot> ...` (see [`SlotState`]).
    pub fn set_slot(&mut self, slot: Slot, state: SlotState) -> Result<(), AdminError> {
        if slot >= SLOTS {
            return Err(AdminError::SlotOutOfRange(slot));
        }
        let named = match state {
            SlotState::Migrating { to } => to,
            SlotState::Importing { from } => from,
            SlotState::Owned { by } => by,
        };
        if !self.nodes.contains(&named) {
            return Err(AdminError::UnknownNode(named));
        }
        let index = usize::from(slot);
        match state {
            SlotState::Migrating { to } => {
                if self.owners[index] != self.id || to == self.id {
                    return Err(AdminError::WrongState(slot));
                }
                self.transfers.insert(slot, Transfer::Migrating(to));
            }
            SlotState::Importing { from } => {
                if self.owners[index] == self.id || from == self.id {
                    return Err(AdminError::WrongState(slot));
                }
                self.transfers.insert(slot, Transfer::Importing(from));
                self.owners[index] = from;
            }
            SlotState::Owned { by } => {
                if by != self.id && self.holds_any(slot) {
                    return Err(AdminError::WrongState(slot));
                }
                self.transfers.remove(&slot);
                self.owners[index] = by;
            }
        }
        Ok(())
    }

    /// The source side of Redis' `MIGRATE`: removes up to `count` keys of
    /// `slot`, which this node is migrating, and returns them.
    pub fn migrate(
        &mut self,
        slot: Slot,
        count: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, AdminError> {
        if slot >= SLOTS {
            return Err(AdminError::SlotOutOfRange(slot));
        }
        if !matches!(self.transfers.get(&slot), Some(Transfer::Migrating(_))) {
            return Err(AdminError::WrongState(slot));
        }
        let mut out = Vec::new();
        if let Some(keys) = self.keys.get_mut(&slot) {
            while out.len() < count {
                match keys.pop_first() {
                    Some(entry) => out.push(entry),
                    None => break,
                }
            }
            if keys.is_empty() {
                self.keys.remove(&slot);
            }
        }
        Ok(out)
    }

    /// The target side of `MIGRATE`: stores `entries`, keys of `slot`,
    /// which this node is importing; all of them or none.
    pub fn import(
        &mut self,
        slot: Slot,
        entries: Vec<(Vec<u8>, Vec<u8>)>,
    ) -> Result<(), AdminError> {
        if slot >= SLOTS {
            return Err(AdminError::SlotOutOfRange(slot));
        }
        if !matches!(self.transfers.get(&slot), Some(Transfer::Importing(_))) {
            return Err(AdminError::WrongState(slot));
        }
        if entries.iter().any(|(key, _)| crate::slot(key) != slot) {
            return Err(AdminError::KeyNotInSlot(slot));
        }
        if !entries.is_empty() {
            let keys = self.keys.entry(slot).or_default();
            for (key, value) in entries {
                keys.insert(key, value);
            }
        }
        Ok(())
    }
}

/// The command a client has outstanding, and its request in flight.
#[derive(Debug)]
struct Pending {
    command: Command,
    slot: Slot,
    /// The node the request in flight went to, and its id.
    to: NodeId,
    id: RequestId,
    /// When that request was sent.
    sent_at: Duration,
    /// How many redirects the command has followed.
    redirects: u32,
}

/// A cluster client: routes each command by its cached slot map and
/// follows redirects.
///
/// ```no_run
/// use std::time::Duration;
/// use shard_router::{Answer, Client, ClientConfig, Command, Outcome, Reply, SlotRange, Step};
///
/// let ms = Duration::from_millis;
/// // The client believes node 1 owns every slot; slot 12182 has moved to node 2.
/// let map = [SlotRange { first: 0, last: 16383, node: 1 }];
/// let mut client = Client::new(7, &[1, 2], &map, ClientConfig::default())?;
///
/// let first = client.start(Command::Get { key: b"foo".to_vec() }, ms(0))?;
/// assert_eq!(first.to, 1);
/// let moved = Reply { id: first.request.id, outcome: Outcome::Moved { slot: 12182, node: 2 } };
/// let Step::Send(second) = client.receive(1, moved, ms(1))? else { panic!() };
/// assert_eq!((second.to, second.request.asking), (2, false));
/// assert_eq!(client.node_for(12182), Some(2)); // MOVED updates the map
///
/// let value = Reply { id: second.request.id, outcome: Outcome::Served(Answer::Value(None)) };
/// assert_eq!(client.receive(2, value, ms(2))?, Step::Done(Ok(Answer::Value(None))));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Client {
    id: ClientId,
    nodes: Vec<NodeId>,
    /// The cached slot map: the node each slot is sent to.
    map: Vec<NodeId>,
    config: ClientConfig,
    /// The id of the next request (every id sent so far is below it).
    next_id: RequestId,
    /// The latest time seen: time never goes back.
    now: Duration,
    pending: Option<Pending>,
}

impl Client {
    /// Builds client `id` of the cluster `nodes` (every node), whose cached
    /// slot map starts as `map` (which covers every slot exactly once).
    pub fn new(
        id: ClientId,
        nodes: &[NodeId],
        map: &[SlotRange],
        config: ClientConfig,
    ) -> Result<Client, ConfigError> {
        check_nodes(nodes)?;
        let map = build_map(nodes, map)?;
        Ok(Client {
            id,
            nodes: nodes.to_vec(),
            map,
            config,
            next_id: 1,
            now: Duration::ZERO,
            pending: None,
        })
    }

    /// This client's id.
    pub fn id(&self) -> ClientId {
        self.id
    }

    /// The node the cached map sends `slot` to; `None` for a slot not below
    /// [`SLOTS`].
    pub fn node_for(&self, slot: Slot) -> Option<NodeId> {
        self.map.get(usize::from(slot)).copied()
    }

    fn fresh_id(&mut self) -> RequestId {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Starts `command` at time `now`: returns the request to send.
    pub fn start(&mut self, command: Command, now: Duration) -> Result<Outgoing, RequestError> {
        if command.key().is_empty() {
            return Err(RequestError::EmptyKey);
        }
        if self.pending.is_some() {
            return Err(RequestError::Busy);
        }
        self.now = self.now.max(now);
        let s = slot(command.key());
        let to = self.map[usize::from(s)];
        let id = self.fresh_id();
        let request = Request {
            id,
            asking: false,
            command: command.clone(),
        };
        self.pending = Some(Pending {
            command,
            slot: s,
            to,
            id,
            sent_at: self.now,
            redirects: 0,
        });
        Ok(Outgoing { to, request })
    }

    /// Handles `reply` from node `from` at time `now`.
    pub fn receive(
        &mut self,
        from: NodeId,
        reply: Reply,
        now: Duration,
    ) -> Result<Step, ReceiveError> {
        if !self.nodes.contains(&from) {
            return Err(ReceiveError::UnknownNode(from));
        }
        let pending = self.pending.as_ref().ok_or(ReceiveError::Stale)?;
        if from != pending.to || reply.id != pending.id {
            return Err(ReceiveError::Stale);
        }
        let (slot, node, asking) = match reply.outcome {
            Outcome::Served(answer) => {
                let fits = matches!(
                    (&pending.command, &answer),
                    (Command::Get { .. }, Answer::Value(_)) | (Command::Set { .. }, Answer::Stored)
                );
                if !fits {
                    return Err(ReceiveError::Malformed);
                }
                self.now = self.now.max(now);
                self.pending = None;
                return Ok(Step::Done(Ok(answer)));
            }
            Outcome::Moved { slot, node } => (slot, node, false),
            Outcome::Ask { slot, node } => (slot, node, true),
        };
        if !self.nodes.contains(&node) {
            return Err(ReceiveError::UnknownNode(node));
        }
        if slot != pending.slot {
            return Err(ReceiveError::Malformed);
        }
        self.now = self.now.max(now);
        if !asking {
            self.map[usize::from(slot)] = node;
        }
        if pending.redirects >= self.config.max_redirects {
            self.pending = None;
            return Ok(Step::Done(Err(OpError::TooManyRedirects)));
        }
        let id = self.fresh_id();
        let now = self.now;
        let pending = self.pending.as_mut().expect("checked above");
        pending.redirects += 1;
        pending.to = node;
        pending.id = id;
        pending.sent_at = now;
        let request = Request {
            id,
            asking,
            command: pending.command.clone(),
        };
        Ok(Step::Send(Outgoing { to: node, request }))
    }

    /// Lets time pass up to `now`: ends the outstanding command with
    /// `TimedOut` if its request was sent `timeout` or longer ago.
    pub fn tick(&mut self, now: Duration) -> Option<Result<Answer, OpError>> {
        self.now = self.now.max(now);
        let pending = self.pending.as_ref()?;
        // `sent_at` is never after `self.now`; a difference cannot overflow
        // where a deadline `sent_at + timeout` could.
        if self.now.saturating_sub(pending.sent_at) >= self.config.timeout {
            self.pending = None;
            return Some(Err(OpError::TimedOut));
        }
        None
    }
}
