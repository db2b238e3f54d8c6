//! # Fenced lock: a right answer built differently
//!
//! Each client keeps one answer slot per server (its position in the
//! server list) instead of two sets, and decides an attempt by counting
//! what is still possible; lock servers keep the holder, token and expiry
//! as separate fields and a restart's wait as an `Option`; the storage
//! keeps its value and token as one pair. Same public API.
//!
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

fn timings_ok(config: &Config) -> bool {
    !config.ttl.is_zero() && config.drift_margin < config.ttl
}

fn first_repeat(ids: &[NodeId]) -> Option<NodeId> {
    let mut sorted = ids.to_vec();
    sorted.sort_unstable();
    sorted.windows(2).find(|w| w[0] == w[1]).map(|w| w[0])
}

/// One of the lock servers.
#[derive(Debug)]
pub struct LockServer {
    id: NodeId,
    clients: Vec<NodeId>,
    ttl: Duration,
    highest: Token,
    holder: Option<NodeId>,
    token: Token,
    expires_at: Duration,
    waiting_until: Option<Duration>,
    clock: Duration,
}

impl LockServer {
    /// See the kata's stub.
    pub fn new(
        id: NodeId,
        clients: &[NodeId],
        config: Config,
        state: Persistent,
        now: Duration,
    ) -> Result<LockServer, ConfigError> {
        if !timings_ok(&config) {
            return Err(ConfigError::InvalidTimings);
        }
        let mut all = clients.to_vec();
        all.push(id);
        if let Some(twice) = first_repeat(&all) {
            return Err(ConfigError::DuplicateNode(twice));
        }
        Ok(LockServer {
            id,
            clients: clients.to_vec(),
            ttl: config.ttl,
            highest: state.highest_token,
            holder: None,
            token: 0,
            expires_at: Duration::ZERO,
            waiting_until: (state.highest_token != 0).then(|| now.saturating_add(config.ttl)),
            clock: now,
        })
    }

    /// See the kata's stub.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// See the kata's stub.
    pub fn grant(&self, now: Duration) -> Option<Grant> {
        let holder = self.holder?;
        (now.max(self.clock) < self.expires_at).then_some(Grant {
            holder,
            token: self.token,
            expires_at: self.expires_at,
        })
    }

    /// See the kata's stub.
    pub fn persistent(&self) -> Persistent {
        Persistent {
            highest_token: self.highest,
        }
    }

    /// See the kata's stub.
    pub fn receive(
        &mut self,
        from: NodeId,
        message: Message,
        now: Duration,
    ) -> Result<Vec<Outgoing>, ReceiveError> {
        if !self.clients.contains(&from) {
            return Err(ReceiveError::UnknownNode(from));
        }
        let (is_acquire, token) = match message {
            Message::Acquire { token } => (true, token),
            Message::Release { token } => (false, token),
            _ => return Err(ReceiveError::Malformed),
        };
        if token == 0 {
            return Err(ReceiveError::Malformed);
        }
        if now > self.clock {
            self.clock = now;
        }
        if !is_acquire {
            if self.holder == Some(from) && self.token == token {
                self.holder = None;
            }
            return Ok(vec![]);
        }
        let live = self.grant(self.clock);
        let ok = if let Some(g) = live {
            g.holder == from && g.token == token
        } else {
            let waiting = self.waiting_until.is_some_and(|w| self.clock < w);
            let fresh = token > self.highest;
            if !waiting && fresh {
                self.holder = Some(from);
                self.token = token;
                self.expires_at = self.clock.saturating_add(self.ttl);
                self.highest = token;
            }
            !waiting && fresh
        };
        let answer = if ok {
            Message::Granted { token }
        } else {
            Message::Denied {
                token,
                highest: self.highest,
            }
        };
        Ok(vec![Outgoing {
            to: from,
            message: answer,
        }])
    }
}

/// The storage node.
#[derive(Debug)]
pub struct Storage {
    id: NodeId,
    clients: Vec<NodeId>,
    last: Option<(Token, u64)>,
}

impl Storage {
    /// See the kata's stub.
    pub fn new(id: NodeId, clients: &[NodeId]) -> Result<Storage, ConfigError> {
        let mut all = clients.to_vec();
        all.push(id);
        if let Some(twice) = first_repeat(&all) {
            return Err(ConfigError::DuplicateNode(twice));
        }
        Ok(Storage {
            id,
            clients: clients.to_vec(),
            last: None,
        })
    }

    /// See the kata's stub.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// See the kata's stub.
    pub fn value(&self) -> Option<u64> {
        self.last.map(|(_, v)| v)
    }

    /// See the kata's stub.
    pub fn highest_token(&self) -> Token {
        self.last.map_or(0, |(t, _)| t)
    }

    /// See the kata's stub.
    pub fn receive(
        &mut self,
        from: NodeId,
        message: Message,
    ) -> Result<Vec<Outgoing>, ReceiveError> {
        if !self.clients.contains(&from) {
            return Err(ReceiveError::UnknownNode(from));
        }
        match message {
            Message::Write { token, value } if token > 0 => {
                let highest = self.highest_token();
                let answer = if token < highest {
                    Message::WriteRejected { token, highest }
                } else {
                    self.last = Some((token, value));
                    Message::WriteAck { token }
                };
                Ok(vec![Outgoing {
                    to: from,
                    message: answer,
                }])
            }
            _ => Err(ReceiveError::Malformed),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Answer {
    None,
    Yes,
    No,
}

/// A worker that takes the lock before it writes to the storage.
#[derive(Debug)]
pub struct Client {
    id: NodeId,
    servers: Vec<NodeId>,
    storage: NodeId,
    ttl: Duration,
    margin: Duration,
    seen: Token,
    /// The attempt in flight: its token, its send instant, one answer slot
    /// per server.
    attempt: Option<(Token, Duration, Vec<Answer>)>,
    lease: Option<Lease>,
    clock: Duration,
}

impl Client {
    /// See the kata's stub.
    pub fn new(
        id: NodeId,
        servers: &[NodeId],
        storage: NodeId,
        config: Config,
        now: Duration,
    ) -> Result<Client, ConfigError> {
        if !timings_ok(&config) {
            return Err(ConfigError::InvalidTimings);
        }
        if servers.is_empty() {
            return Err(ConfigError::NoServers);
        }
        let mut all = vec![id, storage];
        all.extend_from_slice(servers);
        if let Some(twice) = first_repeat(&all) {
            return Err(ConfigError::DuplicateNode(twice));
        }
        Ok(Client {
            id,
            servers: servers.to_vec(),
            storage,
            ttl: config.ttl,
            margin: config.drift_margin,
            seen: 0,
            attempt: None,
            lease: None,
            clock: now,
        })
    }

    /// See the kata's stub.
    pub fn id(&self) -> NodeId {
        self.id
    }

    fn tick_clock(&mut self, now: Duration) -> Duration {
        if now > self.clock {
            self.clock = now;
        }
        self.clock
    }

    fn end_of(&self, sent: Duration) -> Duration {
        sent.saturating_add(self.ttl - self.margin)
    }

    fn all(&self, message: Message) -> Vec<Outgoing> {
        let mut out = Vec::with_capacity(self.servers.len());
        for &to in &self.servers {
            out.push(Outgoing { to, message });
        }
        out
    }

    fn give_up(&mut self) -> Vec<Outgoing> {
        match self.attempt.take() {
            Some((token, _, _)) => self.all(Message::Release { token }),
            None => vec![],
        }
    }

    /// See the kata's stub.
    pub fn acquire(&mut self, now: Duration) -> Result<Vec<Outgoing>, ClientError> {
        let now = self.tick_clock(now);
        if self.attempt.is_some() || self.lease(now).is_some() {
            return Err(ClientError::Busy);
        }
        if self.seen == u64::MAX {
            return Err(ClientError::TokensExhausted);
        }
        self.seen += 1;
        self.lease = None;
        self.attempt = Some((self.seen, now, vec![Answer::None; self.servers.len()]));
        Ok(self.all(Message::Acquire { token: self.seen }))
    }

    /// See the kata's stub.
    pub fn tick(&mut self, now: Duration) -> Vec<Outgoing> {
        let now = self.tick_clock(now);
        match self.attempt {
            Some((_, sent, _)) if now >= self.end_of(sent) => self.give_up(),
            _ => vec![],
        }
    }

    /// See the kata's stub.
    pub fn receive(
        &mut self,
        from: NodeId,
        message: Message,
        now: Duration,
    ) -> Result<Vec<Outgoing>, ReceiveError> {
        let slot = self.servers.iter().position(|&s| s == from);
        if slot.is_none() && from != self.storage {
            return Err(ReceiveError::UnknownNode(from));
        }
        if message.token() == 0 {
            return Err(ReceiveError::Malformed);
        }
        let (token, answer, highest) = match (slot, message) {
            (Some(_), Message::Granted { token }) => (token, Answer::Yes, token),
            (Some(_), Message::Denied { token, highest }) => (token, Answer::No, highest),
            (None, Message::WriteAck { .. }) => {
                self.tick_clock(now);
                return Ok(vec![]);
            }
            (None, Message::WriteRejected { token, highest }) => {
                self.tick_clock(now);
                self.seen = self.seen.max(token).max(highest);
                if self.lease.is_some_and(|l| l.token == token) {
                    self.lease = None;
                }
                return Ok(vec![]);
            }
            _ => return Err(ReceiveError::Malformed),
        };
        let now = self.tick_clock(now);
        self.seen = self.seen.max(token).max(highest);
        let Some(i) = slot else { return Ok(vec![]) };
        let n = self.servers.len();
        let Some((current, sent, answers)) = self.attempt.as_mut() else {
            return Ok(vec![]);
        };
        if *current != token {
            return Ok(vec![]);
        }
        if answers[i] == Answer::None {
            answers[i] = answer;
        }
        let yes = answers.iter().filter(|&&a| a == Answer::Yes).count();
        let open = answers.iter().filter(|&&a| a == Answer::None).count();
        let sent = *sent;
        let needed = n / 2 + 1;
        if yes >= needed {
            let valid_until = self.end_of(sent);
            if now < valid_until {
                self.attempt = None;
                self.lease = Some(Lease { token, valid_until });
                return Ok(vec![]);
            }
            return Ok(self.give_up());
        }
        if yes + open < needed {
            return Ok(self.give_up());
        }
        Ok(vec![])
    }

    /// See the kata's stub.
    pub fn lease(&self, now: Duration) -> Option<Lease> {
        let now = now.max(self.clock);
        self.lease.filter(|l| now < l.valid_until)
    }

    /// See the kata's stub.
    pub fn is_acquiring(&self) -> bool {
        self.attempt.is_some()
    }

    /// See the kata's stub.
    pub fn write(&mut self, value: u64, now: Duration) -> Result<Outgoing, ClientError> {
        let now = self.tick_clock(now);
        match self.lease(now) {
            Some(Lease { token, .. }) => Ok(Outgoing {
                to: self.storage,
                message: Message::Write { token, value },
            }),
            None => Err(ClientError::NotHolding),
        }
    }

    /// See the kata's stub.
    pub fn release(&mut self, now: Duration) -> Vec<Outgoing> {
        self.tick_clock(now);
        if let Some(Lease { token, .. }) = self.lease.take() {
            return self.all(Message::Release { token });
        }
        self.give_up()
    }
}
