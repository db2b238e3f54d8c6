//! # Shard router: the reference solution
//!
//! Redis Cluster's routing: CRC16-XMODEM hash slots with hash tags, a shard
//! [`Node`] that serves its slots and answers `MOVED` and `ASK` during a
//! live migration, and a [`Client`] that caches the slot map and follows
//! redirects within a bound. Both are sans-IO; see the kata's README.
//!
//! The node keeps its keys grouped by slot (a map of per-slot maps), so
//! that `MIGRATE` and "does this node still hold keys of the slot" cost
//! nothing but the keys of that slot. Each slot's keys are ordered (a
//! `BTreeMap`): `migrate` hands them over smallest first, the same in
//! every run, where a `HashMap`'s randomly seeded order would make a
//! simulation seed impossible to replay. Slot ownership is one flat table of
//! 16384 node ids, shared in shape by the node and the client.

use std::collections::{BTreeMap, HashMap};
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
    let Some(open) = key.iter().position(|&b| b == b'{') else {
        return key;
    };
    let rest = &key[open + 1..];
    match rest.iter().position(|&b| b == b'}') {
        Some(close) if close > 0 => &rest[..close],
        _ => key,
    }
}

/// The slot of `key`: `crc16(hash_tag(key)) % 16384`, always below
/// [`SLOTS`]. `slot(b"foo") == 12182`, `slot(b"bar") == 5061`; keys that
/// share a hash tag share a slot. The empty key is slot 0, as in Redis
/// (but clients and nodes refuse it, see [`RequestError::EmptyKey`]).
pub fn slot(key: &[u8]) -> Slot {
    crc16(hash_tag(key)) % SLOTS
}

/// Checks a cluster's node list and slot map, and returns the owner of
/// every slot (index = slot).
fn owners_from(nodes: &[NodeId], map: &[SlotRange]) -> Result<Vec<NodeId>, ConfigError> {
    for (i, node) in nodes.iter().enumerate() {
        if nodes[..i].contains(node) {
            return Err(ConfigError::DuplicateNode(*node));
        }
    }
    let mut owners: Vec<Option<NodeId>> = vec![None; usize::from(SLOTS)];
    let mut overlap: Option<Slot> = None;
    for range in map {
        if range.first > range.last || range.last >= SLOTS {
            return Err(ConfigError::BadRange(*range));
        }
        if !nodes.contains(&range.node) {
            return Err(ConfigError::UnknownNode(range.node));
        }
        for slot in range.first..=range.last {
            let owner = &mut owners[usize::from(slot)];
            if owner.is_some() {
                overlap = Some(overlap.map_or(slot, |o| o.min(slot)));
            }
            *owner = Some(range.node);
        }
    }
    if let Some(slot) = overlap {
        return Err(ConfigError::Overlap(slot));
    }
    owners
        .iter()
        .zip(0..SLOTS)
        .map(|(owner, slot)| owner.ok_or(ConfigError::Gap(slot)))
        .collect()
}

/// Whether `answer` is what `command` can be answered.
fn fits(command: &Command, answer: &Answer) -> bool {
    matches!(
        (command, answer),
        (Command::Get { .. }, Answer::Value(_)) | (Command::Set { .. }, Answer::Stored)
    )
}

/// A key and its value, as [`Node::migrate`] hands them over and
/// [`Node::import`] takes them.
pub type Entry = (Vec<u8>, Vec<u8>);

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

/// One shard of the cluster: the keys of the slots it owns, its view of
/// who owns every other slot, and the state of any slot it is migrating or
/// importing.
///
/// ```
/// use shard_router_solution::{Answer, Command, Node, Outcome, Request, SlotRange, SlotState, slot};
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
    /// Slots this node owns and is migrating, to their target.
    migrating: HashMap<Slot, NodeId>,
    /// Slots this node is importing, from their source.
    importing: HashMap<Slot, NodeId>,
    /// The keys, by slot; a slot with no key has no entry.
    keys: HashMap<Slot, BTreeMap<Vec<u8>, Vec<u8>>>,
    /// The highest request id taken from each client.
    highest: HashMap<ClientId, RequestId>,
}

impl Node {
    /// Builds node `id` of the cluster `nodes` (every node, `id` included),
    /// with the slot map `map` (which covers every slot exactly once), and
    /// no keys.
    ///
    /// Refuses a node listed twice, an `id` not in `nodes`, a map naming a
    /// node not in `nodes`, a bad range, and a map that covers some slot
    /// twice or not at all ([`ConfigError`]; the lowest such slot).
    pub fn new(id: NodeId, nodes: &[NodeId], map: &[SlotRange]) -> Result<Node, ConfigError> {
        let owners = owners_from(nodes, map)?;
        if !nodes.contains(&id) {
            return Err(ConfigError::NotInCluster(id));
        }
        Ok(Node {
            id,
            nodes: nodes.to_vec(),
            owners,
            migrating: HashMap::new(),
            importing: HashMap::new(),
            keys: HashMap::new(),
            highest: HashMap::new(),
        })
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// The owner of `slot` as this node knows it (itself while it migrates
    /// the slot away; the source while it imports it). `None` for a slot
    /// not below [`SLOTS`].
    pub fn owner(&self, slot: Slot) -> Option<NodeId> {
        self.owners.get(usize::from(slot)).copied()
    }

    /// Handles `request` from client `from` and returns the reply.
    ///
    /// With `s` the slot of the request's key:
    /// - `s` is this node's and not migrating: served;
    /// - `s` is this node's and migrating to `t`: served if the key is
    ///   here, else `Ask { slot: s, node: t }` (a `SET` of a new key too);
    /// - `s` is being imported here and the request is `asking`: served;
    /// - anything else: `Moved { slot: s, node: <owner of s> }`.
    ///
    /// Refused, changing nothing: a request whose key is empty
    /// ([`ReceiveError::Malformed`]); a request whose id is not above the
    /// highest id this node has taken from `from` ([`ReceiveError::Stale`]:
    /// a duplicate or a late copy, which must not be applied twice).
    pub fn receive(&mut self, from: ClientId, request: Request) -> Result<Reply, ReceiveError> {
        let Request {
            id,
            asking,
            command,
        } = request;
        if command.key().is_empty() {
            return Err(ReceiveError::Malformed);
        }
        if self.highest.get(&from).is_some_and(|&seen| id <= seen) {
            return Err(ReceiveError::Stale);
        }
        self.highest.insert(from, id);
        let slot = slot(command.key());
        let owner = self.owners[usize::from(slot)];
        let outcome = if owner == self.id {
            match self.migrating.get(&slot) {
                Some(&to) if !self.holds(slot, command.key()) => Outcome::Ask { slot, node: to },
                _ => Outcome::Served(self.serve(slot, command)),
            }
        } else if asking && self.importing.contains_key(&slot) {
            Outcome::Served(self.serve(slot, command))
        } else {
            Outcome::Moved { slot, node: owner }
        };
        Ok(Reply { id, outcome })
    }

    fn holds(&self, slot: Slot, key: &[u8]) -> bool {
        self.keys
            .get(&slot)
            .is_some_and(|keys| keys.contains_key(key))
    }

    fn serve(&mut self, slot: Slot, command: Command) -> Answer {
        match command {
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
        }
    }

    fn check(&self, slot: Slot, node: Option<NodeId>) -> Result<(), AdminError> {
        if slot >= SLOTS {
            return Err(AdminError::SlotOutOfRange(slot));
        }
        match node {
            Some(node) if !self.nodes.contains(&node) => Err(AdminError::UnknownNode(node)),
            _ => Ok(()),
        }
    }

    /// The operator's `CLUSTER SETSLOT <slot> ...` (see [`SlotState`]).
    ///
    /// `Migrating { to }` needs this node to own `slot` and `to` to be
    /// another node; `Importing { from }` needs `slot` not to be this
    /// node's and `from` to be another node; `Owned { by }` sets the owner
    /// and ends any migration or import of `slot` here, but a node that
    /// still holds keys of `slot` refuses to hand it to another node.
    /// Refused, changing nothing: a slot not below [`SLOTS`], a node not in
    /// the cluster, a state that does not fit ([`AdminError`]).
    pub fn set_slot(&mut self, slot: Slot, state: SlotState) -> Result<(), AdminError> {
        let named = match state {
            SlotState::Migrating { to } => to,
            SlotState::Importing { from } => from,
            SlotState::Owned { by } => by,
        };
        self.check(slot, Some(named))?;
        let mine = self.owners[usize::from(slot)] == self.id;
        match state {
            SlotState::Migrating { to } => {
                if !mine || to == self.id {
                    return Err(AdminError::WrongState(slot));
                }
                self.migrating.insert(slot, to);
            }
            SlotState::Importing { from } => {
                if mine || from == self.id {
                    return Err(AdminError::WrongState(slot));
                }
                self.importing.insert(slot, from);
            }
            SlotState::Owned { by } => {
                if by != self.id && self.keys.contains_key(&slot) {
                    return Err(AdminError::WrongState(slot));
                }
                self.owners[usize::from(slot)] = by;
                self.migrating.remove(&slot);
                self.importing.remove(&slot);
            }
        }
        Ok(())
    }

    /// The source side of Redis' `MIGRATE`: removes up to `count` keys of
    /// `slot`, which this node is migrating, and returns them with their
    /// values, for the operator to [`import`](Node::import) into the
    /// target at once. Fewer than `count` (for a `count` above zero): no
    /// key of `slot` is left here.
    ///
    /// Refused, changing nothing: a slot not below [`SLOTS`], or one this
    /// node is not migrating ([`AdminError::WrongState`]).
    pub fn migrate(&mut self, slot: Slot, count: usize) -> Result<Vec<Entry>, AdminError> {
        self.check(slot, None)?;
        if !self.migrating.contains_key(&slot) {
            return Err(AdminError::WrongState(slot));
        }
        let Some(keys) = self.keys.get_mut(&slot) else {
            return Ok(Vec::new());
        };
        let mut moved = Vec::with_capacity(count.min(keys.len()));
        while moved.len() < count {
            let Some(entry) = keys.pop_first() else { break };
            moved.push(entry);
        }
        if keys.is_empty() {
            self.keys.remove(&slot);
        }
        Ok(moved)
    }

    /// The target side of `MIGRATE` (Redis' `RESTORE-ASKING`): stores
    /// `entries`, keys of `slot`, which this node is importing.
    ///
    /// Refused as a whole, changing nothing: a slot not below [`SLOTS`],
    /// one this node is not importing ([`AdminError::WrongState`]), or an
    /// entry whose key is not in `slot` ([`AdminError::KeyNotInSlot`]).
    pub fn import(&mut self, slot: Slot, entries: Vec<Entry>) -> Result<(), AdminError> {
        self.check(slot, None)?;
        if !self.importing.contains_key(&slot) {
            return Err(AdminError::WrongState(slot));
        }
        if entries.iter().any(|(key, _)| self::slot(key) != slot) {
            return Err(AdminError::KeyNotInSlot(slot));
        }
        if !entries.is_empty() {
            self.keys.entry(slot).or_default().extend(entries);
        }
        Ok(())
    }
}

/// A cluster client: routes each command by its cached slot map and
/// follows redirects.
///
/// ```
/// use std::time::Duration;
/// use shard_router_solution::{Answer, Client, ClientConfig, Command, Outcome, Reply, SlotRange, Step};
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
    /// The cached owner of every slot.
    map: Vec<NodeId>,
    config: ClientConfig,
    /// The id of the next request.
    next_id: RequestId,
    /// The latest `now` seen.
    now: Duration,
    outstanding: Option<Outstanding>,
}

/// The command a client is running, and its request in flight.
#[derive(Debug)]
struct Outstanding {
    command: Command,
    slot: Slot,
    /// The request in flight: its id and the node it went to.
    id: RequestId,
    to: NodeId,
    /// When the request in flight was sent.
    sent_at: Duration,
    redirects: u32,
}

impl Client {
    /// Builds client `id` of the cluster `nodes` (every node), whose cached
    /// slot map starts as `map` (which covers every slot exactly once).
    ///
    /// Refuses a node listed twice, a map naming a node not in `nodes`, a
    /// bad range, and a map that covers some slot twice or not at all
    /// ([`ConfigError`]; the lowest such slot).
    pub fn new(
        id: ClientId,
        nodes: &[NodeId],
        map: &[SlotRange],
        config: ClientConfig,
    ) -> Result<Client, ConfigError> {
        Ok(Client {
            id,
            nodes: nodes.to_vec(),
            map: owners_from(nodes, map)?,
            config,
            next_id: 1,
            now: Duration::ZERO,
            outstanding: None,
        })
    }

    /// This client's id.
    pub fn id(&self) -> ClientId {
        self.id
    }

    fn advance(&mut self, now: Duration) -> Duration {
        self.now = self.now.max(now);
        self.now
    }

    /// A fresh request for the outstanding command, to `to`.
    fn send(&mut self, to: NodeId, asking: bool) -> Option<Outgoing> {
        let id = self.next_id;
        self.next_id = self.next_id.saturating_add(1);
        let now = self.now;
        let outstanding = self.outstanding.as_mut()?;
        outstanding.id = id;
        outstanding.to = to;
        outstanding.sent_at = now;
        Some(Outgoing {
            to,
            request: Request {
                id,
                asking,
                command: outstanding.command.clone(),
            },
        })
    }

    /// The node the cached map sends `slot` to; `None` for a slot not below
    /// [`SLOTS`].
    pub fn node_for(&self, slot: Slot) -> Option<NodeId> {
        self.map.get(usize::from(slot)).copied()
    }

    /// Starts `command` at time `now`: returns the request to send, to the
    /// node the cached map names for the key's slot, not `asking`, with a
    /// fresh id (above every id this client sent before).
    ///
    /// Refused, sending nothing: an empty key, or a command already
    /// outstanding ([`RequestError`]).
    pub fn start(&mut self, command: Command, now: Duration) -> Result<Outgoing, RequestError> {
        if self.outstanding.is_some() {
            return Err(RequestError::Busy);
        }
        if command.key().is_empty() {
            return Err(RequestError::EmptyKey);
        }
        self.advance(now);
        let slot = slot(command.key());
        let to = self.map[usize::from(slot)];
        self.outstanding = Some(Outstanding {
            command,
            slot,
            id: 0,
            to,
            sent_at: Duration::ZERO,
            redirects: 0,
        });
        self.send(to, false).ok_or(RequestError::Busy)
    }

    /// Handles `reply` from node `from` at time `now`:
    /// - `Served(answer)`: the command is done, `Step::Done(Ok(answer))`;
    /// - `Moved { slot, node }`: the cached map now sends `slot` to `node`;
    ///   the command is sent again to `node` (`Step::Send`, a fresh id, not
    ///   `asking`);
    /// - `Ask { slot, node }`: the command is sent again to `node`, once,
    ///   with `asking`; the map does not change.
    ///
    /// A redirect that would be the command's `max_redirects + 1`th ends it
    /// with `Step::Done(Err(OpError::TooManyRedirects))` instead (a `MOVED`
    /// still updates the map).
    ///
    /// Refused, changing nothing (the command stays outstanding): a reply
    /// from a node not in the cluster, or a redirect naming one
    /// ([`ReceiveError::UnknownNode`]); a reply that is not from the node
    /// the outstanding request went to, or not to its id
    /// ([`ReceiveError::Stale`]); an answer that does not fit the command,
    /// a redirect for another slot than the key's ([`ReceiveError::Malformed`]).
    pub fn receive(
        &mut self,
        from: NodeId,
        reply: Reply,
        now: Duration,
    ) -> Result<Step, ReceiveError> {
        if !self.nodes.contains(&from) {
            return Err(ReceiveError::UnknownNode(from));
        }
        let Some(outstanding) = &self.outstanding else {
            return Err(ReceiveError::Stale);
        };
        if reply.id != outstanding.id || from != outstanding.to {
            return Err(ReceiveError::Stale);
        }
        let (slot, node, asking) = match reply.outcome {
            Outcome::Served(answer) => {
                if !fits(&outstanding.command, &answer) {
                    return Err(ReceiveError::Malformed);
                }
                self.advance(now);
                self.outstanding = None;
                return Ok(Step::Done(Ok(answer)));
            }
            Outcome::Moved { slot, node } => (slot, node, false),
            Outcome::Ask { slot, node } => (slot, node, true),
        };
        if slot != outstanding.slot {
            return Err(ReceiveError::Malformed);
        }
        if !self.nodes.contains(&node) {
            return Err(ReceiveError::UnknownNode(node));
        }
        let redirects = outstanding.redirects;
        self.advance(now);
        if !asking {
            self.map[usize::from(slot)] = node;
        }
        if redirects >= self.config.max_redirects {
            self.outstanding = None;
            return Ok(Step::Done(Err(OpError::TooManyRedirects)));
        }
        if let Some(outstanding) = self.outstanding.as_mut() {
            outstanding.redirects = redirects + 1;
        }
        self.send(node, asking)
            .map(Step::Send)
            .ok_or(ReceiveError::Stale)
    }

    /// Lets time pass up to `now`: if the outstanding request was sent
    /// `timeout` or longer ago, the command ends, and this returns
    /// `Some(Err(OpError::TimedOut))`; otherwise `None`. A `now` earlier
    /// than one seen before is no time passing; nothing overflows, even at
    /// a `now` near `Duration::MAX`.
    pub fn tick(&mut self, now: Duration) -> Option<Result<Answer, OpError>> {
        // Time waited, not a deadline: `sent_at + timeout` may lie beyond
        // `Duration::MAX`, and a saturated deadline would end a request at
        // `Duration::MAX` long before it waited `timeout`.
        let now = self.advance(now);
        let sent_at = self.outstanding.as_ref()?.sent_at;
        if now.saturating_sub(sent_at) < self.config.timeout {
            return None;
        }
        self.outstanding = None;
        Some(Err(OpError::TimedOut))
    }
}
