//! # Service registry with leases: the blind red team's right answer
//!
//! Written from the README and the stub alone: a BTreeMap of leases by host
//! with a BTreeSet expiry index, checked deadlines (`None` past
//! `Duration::MAX`, never due), splitmix64, full jitter in nanoseconds.
//!
//! A service registry and its two kinds of users, each a **sans-IO**
//! component: the [`Registry`] keeps one lease per registered instance and
//! answers discovery; the [`Instance`] agent registers its host, heartbeats
//! and, after an outage, retries with jittered backoff; the discovery
//! [`Client`] watches the registry and keeps serving the last set it knew
//! while the registry cannot be reached. Read `README.md` beside this file
//! for the problem, then make the specification pass:
//!
//! ```text
//! cargo xtask kata service-registry
//! ```
//!
//! None of the three reads a clock, opens a socket or spawns a task. The
//! caller (the spec's driver, which runs each one as a host of a simulated
//! network) passes the time in every call, hands over each message that
//! arrives with `receive`, calls `tick` often, and sends whatever
//! [`Outgoing`] messages a call returns. Timers fire in `tick` only.
//!
//! Everything but the behaviour of [`Registry`], [`Instance`] and [`Client`]
//! is given: the wire vocabulary ([`Message`], [`Entry`], [`Outgoing`]), the
//! configurations and the errors.


use std::fmt;
use std::time::Duration;

/// The address of a host on the network: the registry, an instance of the
/// service, or a client. An instance is known by its host's id (one
/// instance per host).
pub type NodeId = u64;

/// A lease, named by the registry that granted it. Lease ids start at 1 and
/// are never reused by one registry; 0 is never a lease.
pub type LeaseId = u64;

/// The version of the registry's set of instances. A new registry is at
/// version 1 (the empty set); every change of the set (a new lease, a
/// deregistration, an expiry) makes it go up. Renewing a lease is no change.
/// A client that knows nothing yet is at version 0.
pub type Version = u64;

/// An instance's own number for a request, echoed by the registry's answer
/// so the instance can tell the answer to its latest request from a stale
/// or duplicated one.
pub type RequestId = u64;

/// The registry's settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegistryConfig {
    /// The longest lease the registry grants: a registration asking for more
    /// (up to `Duration::MAX`) is granted `max_ttl`.
    pub max_ttl: Duration,
    /// How long the registry holds a watch whose version is current before
    /// answering it anyway, with the unchanged set (a long poll).
    pub watch_hold: Duration,
}

impl Default for RegistryConfig {
    /// Leases of at most 30 s; watches held for at most 1 s.
    fn default() -> Self {
        RegistryConfig {
            max_ttl: Duration::from_secs(30),
            watch_hold: Duration::from_secs(1),
        }
    }
}

/// An instance agent's settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InstanceConfig {
    /// The lease the instance asks for. The registry may grant less (its
    /// `max_ttl`); the instance heartbeats every third of the TTL it was
    /// granted.
    pub ttl: Duration,
    /// How long the instance waits for the answer to a request before it
    /// takes the request as failed.
    pub request_timeout: Duration,
    /// The backoff after the first failure of a row; it doubles with each
    /// further failure, up to `retry_cap`.
    pub retry_base: Duration,
    /// The longest backoff.
    pub retry_cap: Duration,
}

impl Default for InstanceConfig {
    /// A 1 s lease (a heartbeat every 333 ms), answers awaited 200 ms,
    /// backoff from 100 ms up to 2 s.
    fn default() -> Self {
        InstanceConfig {
            ttl: Duration::from_secs(1),
            request_timeout: Duration::from_millis(200),
            retry_base: Duration::from_millis(100),
            retry_cap: Duration::from_secs(2),
        }
    }
}

/// A discovery client's settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientConfig {
    /// How long the client waits for the answer to a watch before it sends
    /// the watch again. Longer than the registry's `watch_hold` plus a round
    /// trip, or the client re-sends watches the registry is still holding.
    pub watch_timeout: Duration,
}

impl Default for ClientConfig {
    /// Watches re-sent after 1.5 s without an answer.
    fn default() -> Self {
        ClientConfig {
            watch_timeout: Duration::from_millis(1_500),
        }
    }
}

/// One registered instance, as discovery lists it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Entry {
    /// The instance's host.
    pub instance: NodeId,
    /// The lease it is registered under.
    pub lease: LeaseId,
}

/// The messages between the registry, the instances and the clients. The
/// sender is not in the message: the network tells the receiver who sent it
/// (`from` in `receive`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Message {
    // ── instance → registry ──
    /// "Register my host with a lease of `ttl`."
    Register {
        /// The instance's number for this request.
        request: RequestId,
        /// The lease asked for; 0 is refused, more than the registry's
        /// `max_ttl` is granted `max_ttl`.
        ttl: Duration,
    },
    /// "Renew my lease `lease`."
    Heartbeat {
        /// The instance's number for this request.
        request: RequestId,
        /// The lease to renew.
        lease: LeaseId,
    },
    /// "I am shutting down: end my lease `lease` now."
    Deregister {
        /// The instance's number for this request.
        request: RequestId,
        /// The lease to end.
        lease: LeaseId,
    },

    // ── registry → instance ──
    /// The answer to `Register`: the sender holds `lease` for `ttl` from
    /// now.
    Registered {
        /// The request answered.
        request: RequestId,
        /// The lease the instance holds.
        lease: LeaseId,
        /// The TTL granted: what was asked for, at most the registry's
        /// `max_ttl`.
        ttl: Duration,
    },
    /// The answer to a `Register` asking for a TTL of zero: refused,
    /// nothing registered.
    InvalidTtl {
        /// The request answered.
        request: RequestId,
    },
    /// The answer to a `Heartbeat` that renewed `lease` for its TTL from
    /// now.
    Renewed {
        /// The request answered.
        request: RequestId,
        /// The lease renewed.
        lease: LeaseId,
    },
    /// The answer to a `Heartbeat` for a lease the registry does not hold
    /// for the sender (expired, deregistered, never granted, or another
    /// host's): nothing was renewed, the instance must register again.
    UnknownLease {
        /// The request answered.
        request: RequestId,
        /// The lease the heartbeat named.
        lease: LeaseId,
    },
    /// The answer to `Deregister`: the lease is over (whether it ended now
    /// or had ended before).
    Deregistered {
        /// The request answered.
        request: RequestId,
        /// The lease the request named.
        lease: LeaseId,
    },

    // ── client → registry ──
    /// "Send me the set of instances once it is newer than `known`" (a long
    /// poll).
    Watch {
        /// The version the client already has; 0 if it has none.
        known: Version,
    },

    // ── registry → client ──
    /// The answer to `Watch`: the live instances at `version`, in
    /// increasing order of instance.
    Snapshot {
        /// The registry's version of this set; never 0.
        version: Version,
        /// Every live instance, each once, in increasing order of instance.
        instances: Vec<Entry>,
    },
}

/// A message for the caller to send.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Outgoing {
    /// The host it goes to.
    pub to: NodeId,
    /// What it says.
    pub message: Message,
}

/// Why a constructor refused its configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// A TTL of zero (`InstanceConfig::ttl` or `RegistryConfig::max_ttl`):
    /// a lease that is over as soon as it is granted.
    ZeroTtl,
    /// A zero `request_timeout`, `watch_hold` or `watch_timeout`.
    ZeroTimeout,
    /// A zero `retry_base`, or a `retry_base` above `retry_cap`.
    InvalidBackoff,
}

/// Why `receive` refused a message. A refused message changes nothing, is
/// answered with nothing, and is never a panic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReceiveError {
    /// An instance or a client got a message from a host that is not its
    /// registry.
    UnknownNode(NodeId),
    /// A message this component is never sent (a `Snapshot` to the
    /// registry, a `Register` to a client, ...).
    Unexpected,
    /// A message no registry ever sends: a `Snapshot` at version 0.
    Malformed,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::ZeroTtl => write!(f, "a TTL of zero is over as soon as it is granted"),
            ConfigError::ZeroTimeout => write!(f, "timeouts and holds must be above zero"),
            ConfigError::InvalidBackoff => write!(f, "need 0 < retry_base <= retry_cap"),
        }
    }
}

impl fmt::Display for ReceiveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReceiveError::UnknownNode(id) => write!(f, "node {id} is not the registry"),
            ReceiveError::Unexpected => write!(f, "a message this component is never sent"),
            ReceiveError::Malformed => write!(f, "a snapshot never has version 0"),
        }
    }
}

impl std::error::Error for ConfigError {}
impl std::error::Error for ReceiveError {}

use std::collections::{BTreeMap, BTreeSet};

/// A lease the registry holds for one host.
#[derive(Clone, Copy, Debug)]
struct Lease {
    id: LeaseId,
    ttl: Duration,
    /// `None`: the end lies past `Duration::MAX`, so no `now` ever reaches it.
    deadline: Option<Duration>,
}

/// A watch the registry holds (a long poll not answered yet).
#[derive(Clone, Copy, Debug)]
struct HeldWatch {
    known: Version,
    since: Duration,
}

/// The registry: one lease per instance, expiry, and discovery by watch.
#[derive(Debug)]
pub struct Registry {
    config: RegistryConfig,
    /// The live leases, by host: at most one per host, in order of host.
    leases: BTreeMap<NodeId, Lease>,
    /// `(deadline, host)` of every live lease with a deadline, soonest first.
    expiries: BTreeSet<(Duration, NodeId)>,
    /// One held watch per client.
    watches: BTreeMap<NodeId, HeldWatch>,
    version: Version,
    next_lease: LeaseId,
    now: Duration,
}

impl Registry {
    /// A registry with no instances, at version 1.
    pub fn new(config: RegistryConfig) -> Result<Registry, ConfigError> {
        if config.max_ttl.is_zero() {
            return Err(ConfigError::ZeroTtl);
        }
        if config.watch_hold.is_zero() {
            return Err(ConfigError::ZeroTimeout);
        }
        Ok(Registry {
            config,
            leases: BTreeMap::new(),
            expiries: BTreeSet::new(),
            watches: BTreeMap::new(),
            version: 1,
            next_lease: 1,
            now: Duration::ZERO,
        })
    }

    /// The version of the set of live instances, as of the last call.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The live instances as of the last call, in increasing order of
    /// instance.
    pub fn instances(&self) -> Vec<Entry> {
        self.leases
            .iter()
            .map(|(&instance, lease)| Entry { instance, lease: lease.id })
            .collect()
    }

    fn snapshot(&self) -> Message {
        Message::Snapshot { version: self.version, instances: self.instances() }
    }

    /// Moves the clock to `now` (never back) and ends every lease due.
    fn expire(&mut self, now: Duration) {
        if now > self.now {
            self.now = now;
        }
        let now = self.now;
        while let Some(&(deadline, host)) = self.expiries.first() {
            if deadline > now {
                break;
            }
            self.expiries.pop_first();
            self.leases.remove(&host);
            self.version = self.version.saturating_add(1);
        }
    }

    /// Grants or renews `host`'s lease `id` for `ttl` from now.
    fn put(&mut self, host: NodeId, id: LeaseId, ttl: Duration) {
        if let Some(old) = self.leases.get(&host) {
            if let Some(deadline) = old.deadline {
                self.expiries.remove(&(deadline, host));
            }
        }
        let deadline = self.now.checked_add(ttl);
        if let Some(deadline) = deadline {
            self.expiries.insert((deadline, host));
        }
        self.leases.insert(host, Lease { id, ttl, deadline });
    }

    fn end(&mut self, host: NodeId) {
        if let Some(old) = self.leases.remove(&host) {
            if let Some(deadline) = old.deadline {
                self.expiries.remove(&(deadline, host));
            }
            self.version = self.version.saturating_add(1);
        }
    }

    /// Answers every held watch that is behind the current version.
    fn flush_watches(&mut self, out: &mut Vec<Outgoing>) {
        let version = self.version;
        let behind: Vec<NodeId> = self
            .watches
            .iter()
            .filter(|(_, w)| w.known < version)
            .map(|(&client, _)| client)
            .collect();
        if behind.is_empty() {
            return;
        }
        let snapshot = self.snapshot();
        for client in behind {
            self.watches.remove(&client);
            out.push(Outgoing { to: client, message: snapshot.clone() });
        }
    }

    /// Lets time pass up to `now`: ends the leases due, answers the watches
    /// that are due.
    pub fn tick(&mut self, now: Duration) -> Vec<Outgoing> {
        self.expire(now);
        let mut out = Vec::new();
        self.flush_watches(&mut out);
        let now = self.now;
        let hold = self.config.watch_hold;
        let due: Vec<NodeId> = self
            .watches
            .iter()
            .filter(|(_, w)| w.since.checked_add(hold).is_some_and(|end| now >= end))
            .map(|(&client, _)| client)
            .collect();
        if !due.is_empty() {
            let snapshot = self.snapshot();
            for client in due {
                self.watches.remove(&client);
                out.push(Outgoing { to: client, message: snapshot.clone() });
            }
        }
        out
    }

    /// Handles `message` from host `from` at time `now`.
    pub fn receive(
        &mut self,
        from: NodeId,
        message: Message,
        now: Duration,
    ) -> Result<Vec<Outgoing>, ReceiveError> {
        match message {
            Message::Register { .. }
            | Message::Heartbeat { .. }
            | Message::Deregister { .. }
            | Message::Watch { .. } => {}
            _ => return Err(ReceiveError::Unexpected),
        }
        self.expire(now);
        let mut out = Vec::new();
        let reply = match message {
            Message::Register { request, ttl } => {
                if ttl.is_zero() {
                    Some(Message::InvalidTtl { request })
                } else {
                    let granted = ttl.min(self.config.max_ttl);
                    let lease = match self.leases.get(&from) {
                        Some(live) => live.id,
                        None => {
                            let id = self.next_lease;
                            self.next_lease = self.next_lease.saturating_add(1);
                            self.version = self.version.saturating_add(1);
                            id
                        }
                    };
                    self.put(from, lease, granted);
                    Some(Message::Registered { request, lease, ttl: granted })
                }
            }
            Message::Heartbeat { request, lease } => match self.leases.get(&from) {
                Some(live) if live.id == lease => {
                    let ttl = live.ttl;
                    self.put(from, lease, ttl);
                    Some(Message::Renewed { request, lease })
                }
                _ => Some(Message::UnknownLease { request, lease }),
            },
            Message::Deregister { request, lease } => {
                if self.leases.get(&from).is_some_and(|live| live.id == lease) {
                    self.end(from);
                }
                Some(Message::Deregistered { request, lease })
            }
            Message::Watch { known } => {
                self.watches.remove(&from);
                if self.version > known {
                    out.push(Outgoing { to: from, message: self.snapshot() });
                } else {
                    self.watches.insert(from, HeldWatch { known, since: self.now });
                }
                None
            }
            _ => unreachable!("refused above"),
        };
        if let Some(message) = reply {
            out.push(Outgoing { to: from, message });
        }
        self.flush_watches(&mut out);
        Ok(out)
    }
}

/// splitmix64: every seed, 0 and `u64::MAX` included, gives a full stream.
#[derive(Clone, Debug)]
struct Rng {
    state: u64,
}

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng { state: seed }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A duration drawn uniformly from `[0, max]`.
    fn up_to(&mut self, max: Duration) -> Duration {
        let n = max.as_nanos();
        let r = if n < u64::MAX as u128 {
            ((self.next_u64() as u128) * (n + 1)) >> 64
        } else {
            let wide = ((self.next_u64() as u128) << 64) | self.next_u64() as u128;
            wide % (n + 1)
        };
        Duration::new((r / 1_000_000_000) as u64, (r % 1_000_000_000) as u32)
    }
}

/// What the agent's latest request was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Register,
    Heartbeat { lease: LeaseId, ttl: Duration },
}

/// The agent's latest request.
#[derive(Clone, Copy, Debug)]
struct Pending {
    request: RequestId,
    kind: Kind,
    sent_at: Duration,
    answered: bool,
    timed_out: bool,
}

/// The lease the agent believes it holds.
#[derive(Clone, Copy, Debug)]
struct Held {
    id: LeaseId,
    ttl: Duration,
    /// When it sent the request that last granted or renewed the lease.
    renewed_at: Duration,
}

impl Held {
    fn may_be_live(&self, now: Duration) -> bool {
        self.renewed_at.checked_add(self.ttl).is_none_or(|end| now < end)
    }
}

/// The agent beside each instance of the service.
#[derive(Debug)]
pub struct Instance {
    id: NodeId,
    registry: NodeId,
    config: InstanceConfig,
    rng: Rng,
    now: Duration,
    lease: Option<Held>,
    latest: Option<Pending>,
    next_request: RequestId,
    /// When the next request (heartbeat or retry) is due, while none is in
    /// flight.
    next_send: Option<Duration>,
    failures: u32,
    stopped: bool,
}

impl Instance {
    /// The agent of host `id`, whose registry is host `registry`.
    pub fn new(
        id: NodeId,
        registry: NodeId,
        config: InstanceConfig,
        seed: u64,
        now: Duration,
    ) -> Result<Instance, ConfigError> {
        if config.ttl.is_zero() {
            return Err(ConfigError::ZeroTtl);
        }
        if config.request_timeout.is_zero() {
            return Err(ConfigError::ZeroTimeout);
        }
        if config.retry_base.is_zero() || config.retry_base > config.retry_cap {
            return Err(ConfigError::InvalidBackoff);
        }
        Ok(Instance {
            id,
            registry,
            config,
            rng: Rng::new(seed),
            now,
            lease: None,
            latest: None,
            next_request: 1,
            next_send: Some(now),
            failures: 0,
            stopped: false,
        })
    }

    /// This agent's host.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// The lease the agent holds as far as it knows.
    pub fn lease(&self) -> Option<LeaseId> {
        self.lease.map(|held| held.id)
    }

    fn advance(&mut self, now: Duration) {
        if now > self.now {
            self.now = now;
        }
    }

    fn in_flight(&self) -> bool {
        self.latest.is_some_and(|p| !p.answered && !p.timed_out)
    }

    /// The full-jitter backoff after `self.failures` failures in a row.
    fn backoff(&mut self) -> Duration {
        let cap = self.config.retry_cap;
        let mut bound = self.config.retry_base;
        for _ in 1..self.failures.max(1) {
            if bound >= cap {
                break;
            }
            bound = bound.saturating_mul(2);
        }
        self.rng.up_to(bound.min(cap))
    }

    /// Sends the next request: a heartbeat while the lease may be live, a
    /// registration otherwise.
    fn send(&mut self) -> Outgoing {
        let now = self.now;
        let request = self.next_request;
        self.next_request = self.next_request.saturating_add(1);
        let (kind, message) = match self.lease {
            Some(held) if held.may_be_live(now) => (
                Kind::Heartbeat { lease: held.id, ttl: held.ttl },
                Message::Heartbeat { request, lease: held.id },
            ),
            _ => {
                self.lease = None;
                (Kind::Register, Message::Register { request, ttl: self.config.ttl })
            }
        };
        self.latest =
            Some(Pending { request, kind, sent_at: now, answered: false, timed_out: false });
        self.next_send = None;
        Outgoing { to: self.registry, message }
    }

    /// Lets time pass up to `now`: registers, heartbeats, times out, backs
    /// off, retries.
    pub fn tick(&mut self, now: Duration) -> Vec<Outgoing> {
        if self.stopped {
            return Vec::new();
        }
        self.advance(now);
        let now = self.now;
        if let Some(pending) = self.latest {
            let failed_at = pending.sent_at.saturating_add(self.config.request_timeout);
            if !pending.answered && !pending.timed_out && now >= failed_at {
                if let Some(p) = self.latest.as_mut() {
                    p.timed_out = true;
                }
                self.failures = self.failures.saturating_add(1);
                let delay = self.backoff();
                self.next_send = Some(failed_at.saturating_add(delay));
            }
        }
        if !self.in_flight() && self.next_send.is_some_and(|due| now >= due) {
            return vec![self.send()];
        }
        Vec::new()
    }

    /// Handles `message` from host `from` at time `now`.
    pub fn receive(
        &mut self,
        from: NodeId,
        message: Message,
        now: Duration,
    ) -> Result<Vec<Outgoing>, ReceiveError> {
        if from != self.registry {
            return Err(ReceiveError::UnknownNode(from));
        }
        let request = match message {
            Message::Registered { request, .. }
            | Message::InvalidTtl { request }
            | Message::Renewed { request, .. }
            | Message::UnknownLease { request, .. }
            | Message::Deregistered { request, .. } => request,
            _ => return Err(ReceiveError::Unexpected),
        };
        if self.stopped {
            return Ok(Vec::new());
        }
        self.advance(now);
        let Some(pending) = self.latest else {
            return Ok(Vec::new());
        };
        if pending.answered || pending.request != request {
            return Ok(Vec::new());
        }
        let sent_at = pending.sent_at;
        let answered = match (message, pending.kind) {
            (Message::Registered { lease, ttl, .. }, Kind::Register) => {
                self.lease = Some(Held { id: lease, ttl, renewed_at: sent_at });
                self.next_send = Some(sent_at.saturating_add(ttl / 3));
                None
            }
            (Message::Renewed { lease, .. }, Kind::Heartbeat { lease: asked, ttl })
                if lease == asked =>
            {
                self.lease = Some(Held { id: lease, ttl, renewed_at: sent_at });
                self.next_send = Some(sent_at.saturating_add(ttl / 3));
                None
            }
            (Message::UnknownLease { lease, .. }, Kind::Heartbeat { lease: asked, .. })
                if lease == asked =>
            {
                self.lease = None;
                Some(true)
            }
            (Message::InvalidTtl { .. }, Kind::Register) => {
                // Never for a valid configuration: try again after a while.
                self.lease = None;
                self.next_send = Some(self.now.saturating_add(self.config.retry_base));
                None
            }
            _ => return Ok(Vec::new()),
        };
        if let Some(p) = self.latest.as_mut() {
            p.answered = true;
        }
        self.failures = 0;
        if answered.is_some() {
            // The lease is lost: register again at once.
            return Ok(vec![self.send()]);
        }
        Ok(Vec::new())
    }

    /// Shuts the agent down at time `now`.
    pub fn deregister(&mut self, now: Duration) -> Vec<Outgoing> {
        if self.stopped {
            return Vec::new();
        }
        self.advance(now);
        self.stopped = true;
        self.latest = None;
        self.next_send = None;
        match self.lease.take() {
            Some(held) => {
                let request = self.next_request;
                self.next_request = self.next_request.saturating_add(1);
                vec![Outgoing {
                    to: self.registry,
                    message: Message::Deregister { request, lease: held.id },
                }]
            }
            None => Vec::new(),
        }
    }
}

/// A discovery client.
#[derive(Debug)]
pub struct Client {
    id: NodeId,
    registry: NodeId,
    config: ClientConfig,
    now: Duration,
    version: Version,
    instances: Vec<Entry>,
    /// When the watch in flight was sent; `None` before the first.
    watch_sent_at: Option<Duration>,
}

impl Client {
    /// Client host `id`, whose registry is host `registry`.
    pub fn new(
        id: NodeId,
        registry: NodeId,
        config: ClientConfig,
        now: Duration,
    ) -> Result<Client, ConfigError> {
        if config.watch_timeout.is_zero() {
            return Err(ConfigError::ZeroTimeout);
        }
        Ok(Client {
            id,
            registry,
            config,
            now,
            version: 0,
            instances: Vec::new(),
            watch_sent_at: None,
        })
    }

    /// This client's host.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// The version of the cached set; 0 before the first snapshot.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The cached set of instances.
    pub fn instances(&self) -> &[Entry] {
        &self.instances
    }

    fn advance(&mut self, now: Duration) {
        if now > self.now {
            self.now = now;
        }
    }

    fn watch(&mut self) -> Outgoing {
        self.watch_sent_at = Some(self.now);
        Outgoing { to: self.registry, message: Message::Watch { known: self.version } }
    }

    /// Lets time pass up to `now`: (re)sends the watch.
    pub fn tick(&mut self, now: Duration) -> Vec<Outgoing> {
        self.advance(now);
        let now = self.now;
        let due = match self.watch_sent_at {
            None => true,
            Some(sent) => sent
                .checked_add(self.config.watch_timeout)
                .is_some_and(|end| now >= end),
        };
        if due {
            return vec![self.watch()];
        }
        Vec::new()
    }

    /// Handles `message` from host `from` at time `now`.
    pub fn receive(
        &mut self,
        from: NodeId,
        message: Message,
        now: Duration,
    ) -> Result<Vec<Outgoing>, ReceiveError> {
        if from != self.registry {
            return Err(ReceiveError::UnknownNode(from));
        }
        let Message::Snapshot { version, instances } = message else {
            return Err(ReceiveError::Unexpected);
        };
        if version == 0 {
            return Err(ReceiveError::Malformed);
        }
        self.advance(now);
        if version < self.version {
            return Ok(Vec::new());
        }
        if version > self.version {
            self.version = version;
            self.instances = instances;
        }
        Ok(vec![self.watch()])
    }
}
