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

// The bodies below are `todo!()`, so their arguments go unused until you
// write them. Delete this line when you are done.
#![allow(unused_variables)]

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
    todo!("crc16: CRC16-XMODEM, bit by bit (a table is optional)")
}

/// The part of `key` that is hashed, by Redis' rule: if `key` has a `{`,
/// and after the first `{` a `}`, and at least one byte between the two,
/// that is only those bytes; otherwise the whole key.
///
/// `"{user1000}.following"` hashes `"user1000"`; `"foo{}{bar}"` hashes the
/// whole key (the first `{` is followed at once by `}`); `"foo{{bar}}"`
/// hashes `"{bar"`; `"foo{bar}{zap}"` hashes `"bar"`.
pub fn hash_tag(key: &[u8]) -> &[u8] {
    todo!("hash_tag: the bytes between the first `{{` and the first `}}` after it, if any")
}

/// The slot of `key`: `crc16(hash_tag(key)) % 16384`, always below
/// [`SLOTS`]. `slot(b"foo") == 12182`, `slot(b"bar") == 5061`; keys that
/// share a hash tag share a slot. The empty key is slot 0, as in Redis
/// (but clients and nodes refuse it, see [`RequestError::EmptyKey`]).
pub fn slot(key: &[u8]) -> Slot {
    todo!("slot: CRC16 of the hash tag, modulo 16384")
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
    // Your fields here: the node's id and the cluster's, who owns each
    // slot, the slots being migrated or imported, the keys, and the highest
    // request id taken from each client.
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
        todo!("Node::new: validate, then remember who owns each slot")
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        todo!("Node::id")
    }

    /// The owner of `slot` as this node knows it (itself while it migrates
    /// the slot away; the source while it imports it). `None` for a slot
    /// not below [`SLOTS`].
    pub fn owner(&self, slot: Slot) -> Option<NodeId> {
        todo!("Node::owner")
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
        todo!("Node::receive: serve, MOVED or ASK, by the slot's state here")
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
        todo!("Node::set_slot: MIGRATING, IMPORTING or NODE")
    }

    /// The source side of Redis' `MIGRATE`: removes up to `count` keys of
    /// `slot`, which this node is migrating, and returns them with their
    /// values, for the operator to [`import`](Node::import) into the
    /// target at once. Fewer than `count` (for a `count` above zero): no
    /// key of `slot` is left here. Which keys is yours to choose, but the
    /// same calls must hand over the same keys (no randomness, not even a
    /// `HashMap`'s iteration order: the simulation replays a seed).
    ///
    /// Refused, changing nothing: a slot not below [`SLOTS`], or one this
    /// node is not migrating ([`AdminError::WrongState`]).
    pub fn migrate(&mut self, slot: Slot, count: usize) -> Result<Vec<Entry>, AdminError> {
        todo!("Node::migrate: hand over up to `count` keys of a migrating slot")
    }

    /// The target side of `MIGRATE` (Redis' `RESTORE-ASKING`): stores
    /// `entries`, keys of `slot`, which this node is importing.
    ///
    /// Refused as a whole, changing nothing: a slot not below [`SLOTS`],
    /// one this node is not importing ([`AdminError::WrongState`]), or an
    /// entry whose key is not in `slot` ([`AdminError::KeyNotInSlot`]).
    pub fn import(&mut self, slot: Slot, entries: Vec<Entry>) -> Result<(), AdminError> {
        todo!("Node::import: store keys of an importing slot")
    }
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
    // Your fields here: the id, the cluster's nodes, the cached map, the
    // config, the next request id, and the command outstanding (if any):
    // its command, the request sent (id, node), when it was sent, how many
    // redirects it has followed.
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
        todo!("Client::new: validate, then cache the map")
    }

    /// This client's id.
    pub fn id(&self) -> ClientId {
        todo!("Client::id")
    }

    /// The node the cached map sends `slot` to; `None` for a slot not below
    /// [`SLOTS`].
    pub fn node_for(&self, slot: Slot) -> Option<NodeId> {
        todo!("Client::node_for")
    }

    /// Starts `command` at time `now`: returns the request to send, to the
    /// node the cached map names for the key's slot, not `asking`, with a
    /// fresh id (above every id this client sent before).
    ///
    /// Refused, sending nothing: an empty key, or a command already
    /// outstanding ([`RequestError`]).
    pub fn start(&mut self, command: Command, now: Duration) -> Result<Outgoing, RequestError> {
        todo!("Client::start: route by the cached map")
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
        todo!("Client::receive: done, or follow MOVED / ASK within the bound")
    }

    /// Lets time pass up to `now`: if the outstanding request was sent
    /// `timeout` or longer ago, the command ends, and this returns
    /// `Some(Err(OpError::TimedOut))`; otherwise `None`. A `now` earlier
    /// than one seen before is no time passing; nothing overflows, even at
    /// a `now` near `Duration::MAX`.
    pub fn tick(&mut self, now: Duration) -> Option<Result<Answer, OpError>> {
        todo!("Client::tick: the outstanding request's timeout")
    }
}
