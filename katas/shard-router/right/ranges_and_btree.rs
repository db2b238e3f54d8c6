//! Right: the same API built differently from the reference. CRC16 from a
//! 256-entry table built at compile time; the slot map kept as sorted
//! ranges and searched by bisection (a client's map after many `MOVED`s is
//! split into more ranges); a node's keys in one `BTreeMap` ordered by
//! (slot, key), so a slot's keys are a range of it; the client counts its
//! redirect budget down instead of up, and tracks every sent id in a
//! deadline record.

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
    bytes.iter().fold(0u16, |crc, &b| {
        (crc << 8) ^ TABLE[usize::from((crc >> 8) as u8 ^ b)]
    })
}

const TABLE: [u16; 256] = {
    let mut table = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = (i as u16) << 8;
        let mut bit = 0;
        while bit < 8 {
            c = if c & 0x8000 != 0 { (c << 1) ^ 0x1021 } else { c << 1 };
            bit += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

/// The part of `key` that is hashed, by Redis' rule: if `key` has a `{`,
/// and after the first `{` a `}`, and at least one byte between the two,
/// that is only those bytes; otherwise the whole key.
///
/// `"{user1000}.following"` hashes `"user1000"`; `"foo{}{bar}"` hashes the
/// whole key (the first `{` is followed at once by `}`); `"foo{{bar}}"`
/// hashes `"{bar"`; `"foo{bar}{zap}"` hashes `"bar"`.
pub fn hash_tag(key: &[u8]) -> &[u8] {
    let mut parts = key.splitn(2, |&b| b == b'{');
    let (Some(_), Some(rest)) = (parts.next(), parts.next()) else {
        return key;
    };
    match rest.splitn(2, |&b| b == b'}').collect::<Vec<_>>().as_slice() {
        [tag, _] if !tag.is_empty() => tag,
        _ => key,
    }
}

/// The slot of `key`: `crc16(hash_tag(key)) % 16384`, always below
/// [`SLOTS`]. `slot(b"foo") == 12182`, `slot(b"bar") == 5061`; keys that
/// share a hash tag share a slot. The empty key is slot 0, as in Redis
/// (but clients and nodes refuse it, see [`RequestError::EmptyKey`]).
pub fn slot(key: &[u8]) -> Slot {
    crc16(hash_tag(key)) & (SLOTS - 1)
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

/// A slot map as sorted, disjoint ranges covering every slot.
#[derive(Debug, Clone)]
struct Ranges(Vec<SlotRange>);

impl Ranges {
    fn build(nodes: &[NodeId], map: &[SlotRange]) -> Result<Ranges, ConfigError> {
        let mut seen = BTreeSet::new();
        for &n in nodes {
            if !seen.insert(n) {
                return Err(ConfigError::DuplicateNode(n));
            }
        }
        for r in map {
            if r.first > r.last || r.last >= SLOTS {
                return Err(ConfigError::BadRange(*r));
            }
            if !seen.contains(&r.node) {
                return Err(ConfigError::UnknownNode(r.node));
            }
        }
        let mut sorted = map.to_vec();
        sorted.sort_by_key(|r| (r.first, r.last));
        // The lowest slot in two ranges: the lowest start of a range that
        // begins at or before the furthest end seen so far.
        let mut overlap: Option<Slot> = None;
        let mut end: Option<Slot> = None;
        for r in &sorted {
            if let Some(e) = end
                && r.first <= e
            {
                overlap = Some(overlap.map_or(r.first, |o| o.min(r.first)));
            }
            end = Some(end.map_or(r.last, |e| e.max(r.last)));
        }
        if let Some(s) = overlap {
            return Err(ConfigError::Overlap(s));
        }
        let mut next: u32 = 0;
        for r in &sorted {
            if u32::from(r.first) != next {
                return Err(ConfigError::Gap(next as Slot));
            }
            next = u32::from(r.last) + 1;
        }
        if next != u32::from(SLOTS) {
            return Err(ConfigError::Gap(next as Slot));
        }
        Ok(Ranges(sorted))
    }

    fn get(&self, slot: Slot) -> Option<NodeId> {
        if slot >= SLOTS {
            return None;
        }
        let i = self.0.partition_point(|r| r.last < slot);
        self.0.get(i).map(|r| r.node)
    }

    /// Gives `slot` to `node`, splitting its range.
    fn set(&mut self, slot: Slot, node: NodeId) {
        let i = self.0.partition_point(|r| r.last < slot);
        let Some(r) = self.0.get(i).copied() else { return };
        if r.node == node {
            return;
        }
        let mut pieces = Vec::new();
        if r.first < slot {
            pieces.push(SlotRange { first: r.first, last: slot - 1, node: r.node });
        }
        pieces.push(SlotRange { first: slot, last: slot, node });
        if slot < r.last {
            pieces.push(SlotRange { first: slot + 1, last: r.last, node: r.node });
        }
        self.0.splice(i..=i, pieces);
    }
}

/// One shard of the cluster.
#[derive(Debug)]
pub struct Node {
    id: NodeId,
    members: BTreeSet<NodeId>,
    map: Ranges,
    migrating: BTreeMap<Slot, NodeId>,
    importing: BTreeMap<Slot, NodeId>,
    data: BTreeMap<(Slot, Vec<u8>), Vec<u8>>,
    last_id: BTreeMap<ClientId, RequestId>,
}

impl Node {
    /// See the kata's stub.
    pub fn new(id: NodeId, nodes: &[NodeId], map: &[SlotRange]) -> Result<Node, ConfigError> {
        if !nodes.contains(&id) {
            // The map's own errors come first only where the stub says so;
            // the spec checks one error at a time.
            Ranges::build(nodes, map)?;
            return Err(ConfigError::NotInCluster(id));
        }
        Ok(Node {
            id,
            members: nodes.iter().copied().collect(),
            map: Ranges::build(nodes, map)?,
            migrating: BTreeMap::new(),
            importing: BTreeMap::new(),
            data: BTreeMap::new(),
            last_id: BTreeMap::new(),
        })
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// The owner of `slot` as this node knows it.
    pub fn owner(&self, slot: Slot) -> Option<NodeId> {
        self.map.get(slot)
    }

    fn keys_of(&self, slot: Slot) -> impl Iterator<Item = &Vec<u8>> {
        self.data
            .range((slot, Vec::new())..)
            .take_while(move |((s, _), _)| *s == slot)
            .map(|((_, k), _)| k)
    }

    /// Handles one request.
    pub fn receive(&mut self, from: ClientId, request: Request) -> Result<Reply, ReceiveError> {
        let key = request.command.key();
        if key.is_empty() {
            return Err(ReceiveError::Malformed);
        }
        match self.last_id.get(&from) {
            Some(&last) if request.id <= last => return Err(ReceiveError::Stale),
            _ => {}
        }
        self.last_id.insert(from, request.id);
        let s = slot(key);
        let owner = self.map.get(s).unwrap_or(self.id);
        let here = self.data.contains_key(&(s, key.to_vec()));
        let serve = if owner == self.id {
            match self.migrating.get(&s) {
                Some(&to) if !here => {
                    return Ok(Reply { id: request.id, outcome: Outcome::Ask { slot: s, node: to } });
                }
                _ => true,
            }
        } else {
            request.asking && self.importing.contains_key(&s)
        };
        if !serve {
            return Ok(Reply { id: request.id, outcome: Outcome::Moved { slot: s, node: owner } });
        }
        let answer = match request.command {
            Command::Get { key } => Answer::Value(self.data.get(&(s, key)).cloned()),
            Command::Set { key, value } => {
                self.data.insert((s, key), value);
                Answer::Stored
            }
        };
        Ok(Reply { id: request.id, outcome: Outcome::Served(answer) })
    }

    /// `CLUSTER SETSLOT`.
    pub fn set_slot(&mut self, slot: Slot, state: SlotState) -> Result<(), AdminError> {
        if slot >= SLOTS {
            return Err(AdminError::SlotOutOfRange(slot));
        }
        let (SlotState::Migrating { to: other } | SlotState::Importing { from: other } | SlotState::Owned { by: other }) = state;
        if !self.members.contains(&other) {
            return Err(AdminError::UnknownNode(other));
        }
        let owned = self.map.get(slot) == Some(self.id);
        let fits = match state {
            SlotState::Migrating { to } => owned && to != self.id,
            SlotState::Importing { from } => !owned && from != self.id,
            SlotState::Owned { by } => by == self.id || self.keys_of(slot).next().is_none(),
        };
        if !fits {
            return Err(AdminError::WrongState(slot));
        }
        match state {
            SlotState::Migrating { to } => {
                self.migrating.insert(slot, to);
            }
            SlotState::Importing { from } => {
                self.importing.insert(slot, from);
            }
            SlotState::Owned { by } => {
                self.migrating.remove(&slot);
                self.importing.remove(&slot);
                self.map.set(slot, by);
            }
        }
        Ok(())
    }

    /// The source side of `MIGRATE`.
    pub fn migrate(
        &mut self,
        slot: Slot,
        count: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, AdminError> {
        if slot >= SLOTS {
            return Err(AdminError::SlotOutOfRange(slot));
        }
        if !self.migrating.contains_key(&slot) {
            return Err(AdminError::WrongState(slot));
        }
        let keys: Vec<Vec<u8>> = self.keys_of(slot).take(count).cloned().collect();
        Ok(keys
            .into_iter()
            .filter_map(|k| {
                let v = self.data.remove(&(slot, k.clone()))?;
                Some((k, v))
            })
            .collect())
    }

    /// The target side of `MIGRATE`.
    pub fn import(
        &mut self,
        slot: Slot,
        entries: Vec<(Vec<u8>, Vec<u8>)>,
    ) -> Result<(), AdminError> {
        if slot >= SLOTS {
            return Err(AdminError::SlotOutOfRange(slot));
        }
        if !self.importing.contains_key(&slot) {
            return Err(AdminError::WrongState(slot));
        }
        if entries.iter().any(|(k, _)| self::slot(k) != slot) {
            return Err(AdminError::KeyNotInSlot(slot));
        }
        for (k, v) in entries {
            self.data.insert((slot, k), v);
        }
        Ok(())
    }
}

#[derive(Debug)]
struct InFlight {
    command: Command,
    slot: Slot,
    to: NodeId,
    id: RequestId,
    sent_at: Duration,
    budget: u32,
}

/// A cluster client.
#[derive(Debug)]
pub struct Client {
    id: ClientId,
    members: BTreeSet<NodeId>,
    map: Ranges,
    config: ClientConfig,
    last_id: RequestId,
    clock: Duration,
    in_flight: Option<InFlight>,
}

impl Client {
    /// See the kata's stub.
    pub fn new(
        id: ClientId,
        nodes: &[NodeId],
        map: &[SlotRange],
        config: ClientConfig,
    ) -> Result<Client, ConfigError> {
        let map = Ranges::build(nodes, map)?;
        Ok(Client {
            id,
            members: nodes.iter().copied().collect(),
            map,
            config,
            last_id: 0,
            clock: Duration::ZERO,
            in_flight: None,
        })
    }

    /// This client's id.
    pub fn id(&self) -> ClientId {
        self.id
    }

    /// The node the cached map sends `slot` to.
    pub fn node_for(&self, slot: Slot) -> Option<NodeId> {
        self.map.get(slot)
    }

    fn request(&mut self, asking: bool) -> Option<Outgoing> {
        self.last_id += 1;
        let id = self.last_id;
        let clock = self.clock;
        let f = self.in_flight.as_mut()?;
        f.id = id;
        f.sent_at = clock;
        Some(Outgoing { to: f.to, request: Request { id, asking, command: f.command.clone() } })
    }

    /// Starts a command.
    pub fn start(&mut self, command: Command, now: Duration) -> Result<Outgoing, RequestError> {
        if command.key().is_empty() {
            return Err(RequestError::EmptyKey);
        }
        if self.in_flight.is_some() {
            return Err(RequestError::Busy);
        }
        self.clock = self.clock.max(now);
        let s = slot(command.key());
        let to = self.map.get(s).unwrap_or_default();
        self.in_flight = Some(InFlight {
            command,
            slot: s,
            to,
            id: 0,
            sent_at: self.clock,
            budget: self.config.max_redirects,
        });
        self.request(false).ok_or(RequestError::Busy)
    }

    /// Handles a reply.
    pub fn receive(
        &mut self,
        from: NodeId,
        reply: Reply,
        now: Duration,
    ) -> Result<Step, ReceiveError> {
        if !self.members.contains(&from) {
            return Err(ReceiveError::UnknownNode(from));
        }
        let f = self.in_flight.as_ref().ok_or(ReceiveError::Stale)?;
        if (f.to, f.id) != (from, reply.id) {
            return Err(ReceiveError::Stale);
        }
        let (s, node, ask) = match reply.outcome {
            Outcome::Served(answer) => {
                let fits = matches!(
                    (&f.command, &answer),
                    (Command::Get { .. }, Answer::Value(_)) | (Command::Set { .. }, Answer::Stored)
                );
                if !fits {
                    return Err(ReceiveError::Malformed);
                }
                self.clock = self.clock.max(now);
                self.in_flight = None;
                return Ok(Step::Done(Ok(answer)));
            }
            Outcome::Moved { slot, node } => (slot, node, false),
            Outcome::Ask { slot, node } => (slot, node, true),
        };
        if s != f.slot {
            return Err(ReceiveError::Malformed);
        }
        if !self.members.contains(&node) {
            return Err(ReceiveError::UnknownNode(node));
        }
        self.clock = self.clock.max(now);
        if !ask {
            self.map.set(s, node);
        }
        let Some(f) = self.in_flight.as_mut() else { return Err(ReceiveError::Stale) };
        if f.budget == 0 {
            self.in_flight = None;
            return Ok(Step::Done(Err(OpError::TooManyRedirects)));
        }
        f.budget -= 1;
        f.to = node;
        self.request(ask).map(Step::Send).ok_or(ReceiveError::Stale)
    }

    /// Lets time pass.
    pub fn tick(&mut self, now: Duration) -> Option<Result<Answer, OpError>> {
        self.clock = self.clock.max(now);
        let f = self.in_flight.as_ref()?;
        if self.clock.saturating_sub(f.sent_at) < self.config.timeout {
            return None;
        }
        self.in_flight = None;
        Some(Err(OpError::TimedOut))
    }
}
