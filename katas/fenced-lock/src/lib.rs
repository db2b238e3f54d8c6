//! # Fenced lock
//!
//! A lock for a fleet of workers, built from leases granted by five lock
//! servers (a majority of them makes a holder), with **fencing tokens** that
//! a storage node checks on every write, so that a holder that was paused
//! past its lease cannot corrupt what the next holder wrote. Read
//! `README.md` beside this file for the problem, then make the
//! specification pass:
//!
//! ```text
//! cargo xtask kata fenced-lock
//! ```
//!
//! Three components, all **sans-IO**: none reads a clock, opens a socket or
//! spawns a task. The caller (the spec's driver, which runs each one as a
//! host of a simulated network) hands them the time in every call, delivers
//! the messages that arrive with `receive`, calls `tick` often, and sends
//! whatever [`Outgoing`] messages they return.
//!
//! - [`LockServer`]: one of the five lock servers. Grants a lease for
//!   [`Config::ttl`] under a token above every token it has granted.
//! - [`Storage`]: the storage node. Accepts a write only if its token is at
//!   least the highest token it has accepted.
//! - [`Client`]: a worker that wants the lock. Asks every lock server,
//!   holds the lock once a majority granted it, and trusts its lease only
//!   for `ttl - drift_margin` from when it *sent* the request.
//!
//! Everything but their behaviour is given: the wire vocabulary
//! ([`Message`], [`Outgoing`]), the configuration, what a lock server
//! persists ([`Persistent`]), the lease a client holds ([`Lease`]), the grant
//! a server holds ([`Grant`]) and the errors.

// The bodies below are `todo!()`, so their arguments go unused until you
// write them. Delete this line when you are done.
#![allow(unused_variables)]

use std::fmt;
use std::time::Duration;

/// Identifies a node: a lock server, a client or the storage node. Every
/// node is told, when it is built, the ids of the nodes it talks to.
pub type NodeId = u64;

/// A fencing token. Tokens start at 1; no message ever carries token 0 (see
/// [`ReceiveError::Malformed`]). `u64::MAX` is a token like any other, the
/// last one there is.
pub type Token = u64;

/// The timing of the lock, the same for every node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// How long a lock server keeps a lease it granted, on its own clock,
    /// from the instant it granted it.
    pub ttl: Duration,
    /// What a client takes off its lease for the clocks of the lock servers
    /// running at another rate than its own (Redlock's "clock drift"): a
    /// client trusts a lease until `sent + ttl - drift_margin`, where `sent`
    /// is when it sent its `Acquire`. Lock servers ignore it.
    pub drift_margin: Duration,
}

impl Default for Config {
    /// A one-second lease, 30 ms of it kept as a margin for clock drift.
    fn default() -> Self {
        Config {
            ttl: Duration::from_millis(1_000),
            drift_margin: Duration::from_millis(30),
        }
    }
}

/// What a lock server keeps on stable storage, and is built from again
/// after a crash.
///
/// The caller saves [`LockServer::persistent`] after every call to the
/// server, before it sends what the call returned, and hands the last saved
/// value to [`LockServer::new`] when the server restarts.
/// `Persistent::default()` is a server that has never granted a lease.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Persistent {
    /// The highest token this server has ever granted; 0 if none.
    pub highest_token: Token,
}

/// The lease a lock server holds for a client (see [`LockServer::grant`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Grant {
    /// The client it was granted to.
    pub holder: NodeId,
    /// The token it was granted under.
    pub token: Token,
    /// When it expires, on the server's clock: the instant it was granted
    /// plus `ttl`. From this instant on, the server holds no lease.
    pub expires_at: Duration,
}

/// The lock as a client holds it (see [`Client::lease`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Lease {
    /// The fencing token the client writes with.
    pub token: Token,
    /// Until when the client may trust it, on its own clock: `sent + ttl -
    /// drift_margin`, where `sent` is when the client sent the `Acquire`
    /// requests that won it. The lease is valid while `now < valid_until`.
    pub valid_until: Duration,
}

/// The messages the nodes send one another. The sender is not in the
/// message: the network tells the receiver who sent it (`from` in
/// `receive`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Message {
    /// Client → lock server: "grant me the lease under `token`".
    Acquire {
        /// The token the client proposes: above every token it has seen.
        token: Token,
    },
    /// Lock server → client: the lease is the client's under `token`.
    Granted {
        /// The token of the `Acquire` this answers.
        token: Token,
    },
    /// Lock server → client: no lease under `token`.
    Denied {
        /// The token of the `Acquire` this answers.
        token: Token,
        /// The highest token the server has ever granted (0 if none), so
        /// that the client proposes a higher one next time.
        highest: Token,
    },
    /// Client → lock server: "I give back the lease I hold under `token`".
    /// Never answered.
    Release {
        /// The token of the lease given back.
        token: Token,
    },
    /// Client → storage: "store `value`", fenced by `token`.
    Write {
        /// The token of the writer's lease.
        token: Token,
        /// What to store.
        value: u64,
    },
    /// Storage → client: the write under `token` is stored.
    WriteAck {
        /// The token of the write this answers.
        token: Token,
    },
    /// Storage → client: the write under `token` was refused, because the
    /// storage has accepted a write under a higher token.
    WriteRejected {
        /// The token of the write this answers.
        token: Token,
        /// The highest token the storage has accepted.
        highest: Token,
    },
}

impl Message {
    /// The token the message carries (for `Denied` and `WriteRejected`, the
    /// token of the request it answers).
    pub fn token(&self) -> Token {
        match *self {
            Message::Acquire { token }
            | Message::Granted { token }
            | Message::Denied { token, .. }
            | Message::Release { token }
            | Message::Write { token, .. }
            | Message::WriteAck { token }
            | Message::WriteRejected { token, .. } => token,
        }
    }
}

/// A message for the caller to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Outgoing {
    /// The node it goes to.
    pub to: NodeId,
    /// What it says.
    pub message: Message,
}

/// Why a constructor refused to build a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// `ttl` is zero, or `drift_margin` is not shorter than `ttl` (a lease
    /// that is never valid).
    InvalidTimings,
    /// A node id appears twice among the node itself and the nodes it is
    /// told about (a client's servers and storage; a server's or the
    /// storage's clients).
    DuplicateNode(NodeId),
    /// A client was given no lock server.
    NoServers,
}

/// Why a `receive` refused a message. A refused message changes nothing in
/// the node, and is never a panic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReceiveError {
    /// `from` is not a node this one talks to (a lock server and the
    /// storage hear from their clients only; a client from its servers and
    /// its storage only).
    UnknownNode(NodeId),
    /// The message carries token 0, or is not one this node handles from
    /// that sender (a lock server handles `Acquire` and `Release`; the
    /// storage `Write`; a client `Granted` and `Denied` from a server,
    /// `WriteAck` and `WriteRejected` from the storage).
    Malformed,
}

/// Why a [`Client`] refused a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientError {
    /// `acquire` while an attempt is in flight or the lease is valid.
    Busy,
    /// `write` without a valid lease.
    NotHolding,
    /// `acquire` after the client has seen token `u64::MAX`: there is no
    /// higher token to propose.
    TokensExhausted,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::InvalidTimings => write!(f, "need 0 <= drift_margin < ttl"),
            ConfigError::DuplicateNode(id) => write!(f, "node {id} is listed twice"),
            ConfigError::NoServers => write!(f, "a client needs at least one lock server"),
        }
    }
}

impl fmt::Display for ReceiveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReceiveError::UnknownNode(id) => write!(f, "node {id} is unknown here"),
            ReceiveError::Malformed => {
                write!(f, "a malformed message (token 0, or the wrong kind)")
            }
        }
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Busy => write!(f, "an attempt is in flight or the lease is valid"),
            ClientError::NotHolding => write!(f, "no valid lease"),
            ClientError::TokensExhausted => write!(f, "token u64::MAX has been seen"),
        }
    }
}

impl std::error::Error for ConfigError {}
impl std::error::Error for ReceiveError {}
impl std::error::Error for ClientError {}

/// One of the lock servers.
///
/// ```no_run
/// use std::time::Duration;
/// use fenced_lock::{Config, LockServer, Message, Persistent};
///
/// let ms = Duration::from_millis;
/// // Server 1, whose clients are 10 and 11, never run before.
/// let mut server = LockServer::new(1, &[10, 11], Config::default(), Persistent::default(), ms(0))?;
/// let out = server.receive(10, Message::Acquire { token: 1 }, ms(5))?;
/// assert_eq!(out[0].message, Message::Granted { token: 1 });
/// // Held by 10 until 5 ms + ttl, on this server's clock.
/// let out = server.receive(11, Message::Acquire { token: 2 }, ms(500))?;
/// assert_eq!(out[0].message, Message::Denied { token: 2, highest: 1 });
/// let out = server.receive(11, Message::Acquire { token: 2 }, ms(1_005))?;
/// assert_eq!(out[0].message, Message::Granted { token: 2 });
/// assert_eq!(server.persistent().highest_token, 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct LockServer {
    // Your fields here: the persistent state, the lease held (if any), when
    // the server may grant again after a restart, the latest `now` seen.
}

impl LockServer {
    /// Builds lock server `id`, serving `clients`, from its persisted
    /// `state` (`Persistent::default()` for a server that has never run),
    /// at time `now` on its own clock.
    ///
    /// A server whose `state` shows it has granted before
    /// (`highest_token > 0`) may have crashed holding a lease it no longer
    /// remembers: it grants nothing before `now + ttl`.
    ///
    /// Refuses `InvalidTimings` and `DuplicateNode` (its own id among the
    /// clients, or a client listed twice).
    pub fn new(
        id: NodeId,
        clients: &[NodeId],
        config: Config,
        state: Persistent,
        now: Duration,
    ) -> Result<LockServer, ConfigError> {
        todo!("LockServer::new: validate, then no lease held (and a wait of ttl after a restart)")
    }

    /// This server's id.
    pub fn id(&self) -> NodeId {
        todo!("LockServer::id")
    }

    /// The lease this server holds at `now` on its clock, if any: `None`
    /// once it expired or was released.
    pub fn grant(&self, now: Duration) -> Option<Grant> {
        todo!("LockServer::grant")
    }

    /// What the caller must keep on stable storage now, before sending what
    /// the last call returned.
    pub fn persistent(&self) -> Persistent {
        todo!("LockServer::persistent")
    }

    /// Handles `message` from client `from` at `now` on this server's
    /// clock, and returns the answer (possibly nothing).
    ///
    /// - `Acquire { token }` is `Granted { token }` if the server holds no
    ///   lease, is not waiting out a restart, and `token` is above every
    ///   token it has granted: the lease is then `from`'s until `now + ttl`.
    ///   The same `Acquire` again from the holder while its lease lasts (a
    ///   duplicate) is granted again and changes nothing. Anything else is
    ///   `Denied { token, highest }`.
    /// - `Release { token }` frees the lease if `from` holds it under
    ///   `token`, and does nothing otherwise. No answer.
    ///
    /// A message from a node that is not a client, with token 0, or of
    /// another kind is refused with a [`ReceiveError`] and changes nothing.
    /// A `now` earlier than one seen before is taken as no time passing.
    pub fn receive(
        &mut self,
        from: NodeId,
        message: Message,
        now: Duration,
    ) -> Result<Vec<Outgoing>, ReceiveError> {
        todo!(
            "LockServer::receive: Acquire (grant, re-grant or deny) and Release (the holder's, with its token)"
        )
    }
}

/// The storage node: one value, fenced by tokens.
///
/// ```no_run
/// use fenced_lock::{Message, Storage};
///
/// let mut storage = Storage::new(100, &[10, 11])?;
/// let out = storage.receive(11, Message::Write { token: 7, value: 1 })?;
/// assert_eq!(out[0].message, Message::WriteAck { token: 7 });
/// let out = storage.receive(10, Message::Write { token: 6, value: 2 })?;
/// assert_eq!(out[0].message, Message::WriteRejected { token: 6, highest: 7 });
/// assert_eq!((storage.value(), storage.highest_token()), (Some(1), 7));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Storage {
    // Your fields here: the value and the highest token accepted.
}

impl Storage {
    /// Builds storage node `id`, written to by `clients`. Refuses
    /// `DuplicateNode` (its own id among the clients, or a client listed
    /// twice).
    pub fn new(id: NodeId, clients: &[NodeId]) -> Result<Storage, ConfigError> {
        todo!("Storage::new")
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        todo!("Storage::id")
    }

    /// The value of the last write accepted; `None` before the first.
    pub fn value(&self) -> Option<u64> {
        todo!("Storage::value")
    }

    /// The highest token of a write accepted; 0 before the first.
    pub fn highest_token(&self) -> Token {
        todo!("Storage::highest_token")
    }

    /// Handles `message` from client `from`: a `Write { token, value }` is
    /// accepted, stored and answered `WriteAck { token }` if `token` is at
    /// least the highest token accepted so far (equal tokens are accepted:
    /// the same holder writing twice); otherwise it changes nothing and is
    /// answered `WriteRejected { token, highest }`.
    ///
    /// A message from a node that is not a client, with token 0, or of
    /// another kind is refused with a [`ReceiveError`] and changes nothing.
    pub fn receive(
        &mut self,
        from: NodeId,
        message: Message,
    ) -> Result<Vec<Outgoing>, ReceiveError> {
        todo!("Storage::receive: accept a write iff its token is at least the highest accepted")
    }
}

/// A worker that takes the lock before it writes to the storage.
///
/// ```no_run
/// use std::time::Duration;
/// use fenced_lock::{Client, Config, Lease, Message};
///
/// let ms = Duration::from_millis;
/// // Client 10 of the lock servers 1..=5, writing to storage 100.
/// let mut client = Client::new(10, &[1, 2, 3, 4, 5], 100, Config::default(), ms(0))?;
/// let asks = client.acquire(ms(100))?;
/// assert_eq!(asks.len(), 5); // Acquire { token: 1 } to each server
/// client.receive(1, Message::Granted { token: 1 }, ms(104))?;
/// client.receive(2, Message::Granted { token: 1 }, ms(105))?;
/// assert_eq!(client.lease(ms(105)), None); // 2 of 5 is no majority
/// client.receive(4, Message::Granted { token: 1 }, ms(107))?;
/// // Valid from 107 ms until 100 ms (sent) + 1000 ms (ttl) - 30 ms (drift margin).
/// assert_eq!(client.lease(ms(107)), Some(Lease { token: 1, valid_until: ms(1_070) }));
/// let write = client.write(42, ms(200))?;
/// assert_eq!((write.to, write.message), (100, Message::Write { token: 1, value: 42 }));
/// assert_eq!(client.lease(ms(1_070)), None);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Client {
    // Your fields here: the servers and the storage, the highest token
    // seen, the attempt in flight (its token, when it was sent, who granted
    // and who denied it), the lease held, the latest `now` seen.
}

impl Client {
    /// Builds client `id` of the lock servers `servers`, writing to
    /// `storage`, at time `now`. It holds no lease and has seen no token.
    ///
    /// Refuses `InvalidTimings`, `NoServers`, and `DuplicateNode` (an id
    /// listed twice among the client itself, its servers and its storage).
    pub fn new(
        id: NodeId,
        servers: &[NodeId],
        storage: NodeId,
        config: Config,
        now: Duration,
    ) -> Result<Client, ConfigError> {
        todo!("Client::new: validate, then idle")
    }

    /// This client's id.
    pub fn id(&self) -> NodeId {
        todo!("Client::id")
    }

    /// Starts an attempt to take the lock at `now`: proposes a token above
    /// every token the client has seen (its own, and those in `Granted`,
    /// `Denied` and `WriteRejected`) and returns an `Acquire` of it for
    /// every server.
    ///
    /// `Err(Busy)` while an attempt is in flight or the lease is valid;
    /// `Err(TokensExhausted)` once the client has seen token `u64::MAX`.
    pub fn acquire(&mut self, now: Duration) -> Result<Vec<Outgoing>, ClientError> {
        todo!("Client::acquire: a token above any seen, to every server")
    }

    /// Lets time pass up to `now`: an attempt that has not won a majority
    /// by `sent + ttl - drift_margin` fails, and the client sends a
    /// `Release` of its token to every server.
    pub fn tick(&mut self, now: Duration) -> Vec<Outgoing> {
        todo!("Client::tick: give up an attempt whose time ran out")
    }

    /// Handles `message` from `from` at `now`, and returns what the client
    /// sends because of it (possibly nothing).
    ///
    /// - `Granted` and `Denied` of the attempt in flight count once per
    ///   server. Once a majority of the servers (more than half) granted
    ///   it, and if `now < sent + ttl - drift_margin`, the client holds the
    ///   lease until then. Once a majority can no longer grant it, or a
    ///   majority arrives too late, the attempt fails and the client sends
    ///   a `Release` of its token to every server. Answers to anything else
    ///   (an earlier attempt) change nothing but the highest token seen.
    /// - `WriteAck` changes nothing; `WriteRejected` means a later holder
    ///   has written: the client drops the lease it wrote under.
    ///
    /// A message from a node that is neither one of its servers nor its
    /// storage, with token 0, or of another kind is refused with a
    /// [`ReceiveError`] and changes nothing. A `now` earlier than one seen
    /// before is taken as no time passing.
    pub fn receive(
        &mut self,
        from: NodeId,
        message: Message,
        now: Duration,
    ) -> Result<Vec<Outgoing>, ReceiveError> {
        todo!("Client::receive: count grants per server, time the lease from the send")
    }

    /// The lease the client holds and may trust at `now`: `None` while it
    /// holds none, and from `valid_until` on.
    pub fn lease(&self, now: Duration) -> Option<Lease> {
        todo!("Client::lease")
    }

    /// Whether an attempt is in flight (neither won nor failed yet).
    pub fn is_acquiring(&self) -> bool {
        todo!("Client::is_acquiring")
    }

    /// A `Write { token, value }` for the storage, under the lease's token,
    /// if the lease is valid at `now`; `Err(NotHolding)` otherwise.
    pub fn write(&mut self, value: u64, now: Duration) -> Result<Outgoing, ClientError> {
        todo!("Client::write: only while the lease is valid")
    }

    /// Gives the lock back: if the client holds a lease (valid or not) or
    /// has an attempt in flight, returns a `Release` of its token for every
    /// server, and holds nothing from then on. Otherwise returns nothing.
    pub fn release(&mut self, now: Duration) -> Vec<Outgoing> {
        todo!("Client::release: tell every server, forget the lease")
    }
}
