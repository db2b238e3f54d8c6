//! # Service registry with leases: the reference solution
//!
//! A service registry and its two kinds of users, each a **sans-IO**
//! component: the [`Registry`] keeps one lease per registered instance and
//! answers discovery; the [`Instance`] agent registers its host, heartbeats
//! and, after an outage, retries with jittered backoff; the discovery
//! [`Client`] watches the registry and keeps serving the last set it knew
//! while the registry cannot be reached. Read `katas/service-registry/README.md`
//! for the problem.
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

use std::collections::{BTreeMap, BTreeSet};
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

// ─────────────────────────────── the registry ───────────────────────────────

/// A live lease, kept under the host that holds it.
#[derive(Clone, Copy, Debug)]
struct Lease {
    id: LeaseId,
    ttl: Duration,
    /// The instant the lease is over: its last renewal plus its TTL.
    deadline: Duration,
}

/// A watch the registry holds until the set changes or `watch_hold` passes.
#[derive(Clone, Copy, Debug)]
struct HeldWatch {
    known: Version,
    since: Duration,
}

/// The registry: one lease per instance, expiry, and discovery by watch.
///
/// Leases live in a map by host (so a snapshot is the map in order) and in
/// a set ordered by deadline (so ending the leases that are due costs one
/// step per lease that ends, not a scan). Nothing of an ended lease is kept:
/// it cannot come back because nothing remembers it, and a heartbeat naming
/// it finds no live lease of that id for its sender.
#[derive(Debug)]
pub struct Registry {
    config: RegistryConfig,
    leases: BTreeMap<NodeId, Lease>,
    deadlines: BTreeSet<(Duration, NodeId)>,
    watches: BTreeMap<NodeId, HeldWatch>,
    version: Version,
    next_lease: LeaseId,
    now: Duration,
}

impl Registry {
    /// A registry with no instances, at version 1.
    ///
    /// Refuses a zero `max_ttl` ([`ConfigError::ZeroTtl`]) and a zero
    /// `watch_hold` ([`ConfigError::ZeroTimeout`]).
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
            deadlines: BTreeSet::new(),
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
    /// instance: what a `Snapshot` sent now would list.
    pub fn instances(&self) -> Vec<Entry> {
        self.leases
            .iter()
            .map(|(&instance, lease)| Entry {
                instance,
                lease: lease.id,
            })
            .collect()
    }

    /// Lets time pass up to `now`: ends every lease whose TTL has run out
    /// (a lease renewed at `t` with TTL `ttl` is over at `t + ttl` exactly),
    /// and answers the watches that are due: every held watch if the set
    /// changed, and those held for `watch_hold` with the unchanged set.
    ///
    /// A `now` earlier than one seen before is taken as no time passing.
    pub fn tick(&mut self, now: Duration) -> Vec<Outgoing> {
        self.advance(now);
        let mut out = Vec::new();
        self.answer_watches(&mut out);
        out
    }

    /// Handles `message` from host `from` at time `now` (after letting time
    /// pass to `now`, as [`Registry::tick`] does), and returns the answers
    /// (to `from`, and to every held watch if the set changed).
    ///
    /// Messages only a registry receives are handled by the README's rules;
    /// anything else is refused with [`ReceiveError::Unexpected`] and
    /// changes nothing. Duplicated, reordered and stale messages never
    /// panic and never bring an ended lease back.
    pub fn receive(
        &mut self,
        from: NodeId,
        message: Message,
        now: Duration,
    ) -> Result<Vec<Outgoing>, ReceiveError> {
        if !matches!(
            message,
            Message::Register { .. }
                | Message::Heartbeat { .. }
                | Message::Deregister { .. }
                | Message::Watch { .. }
        ) {
            return Err(ReceiveError::Unexpected);
        }
        let mut changed = self.advance(now);
        let mut out = Vec::new();
        let answer = match message {
            Message::Register { request, ttl } => {
                if ttl.is_zero() {
                    Some(Message::InvalidTtl { request })
                } else {
                    let ttl = ttl.min(self.config.max_ttl);
                    let lease = match self.leases.get(&from) {
                        Some(live) => live.id,
                        None => {
                            changed = true;
                            let id = self.next_lease;
                            self.next_lease = self.next_lease.saturating_add(1);
                            id
                        }
                    };
                    self.grant(from, lease, ttl);
                    Some(Message::Registered {
                        request,
                        lease,
                        ttl,
                    })
                }
            }
            Message::Heartbeat { request, lease } => match self.leases.get(&from) {
                Some(live) if live.id == lease => {
                    let ttl = live.ttl;
                    self.grant(from, lease, ttl);
                    Some(Message::Renewed { request, lease })
                }
                _ => Some(Message::UnknownLease { request, lease }),
            },
            Message::Deregister { request, lease } => {
                if self.leases.get(&from).is_some_and(|live| live.id == lease) {
                    self.end(from);
                    changed = true;
                }
                Some(Message::Deregistered { request, lease })
            }
            Message::Watch { known } => {
                self.watches.insert(
                    from,
                    HeldWatch {
                        known,
                        since: self.now,
                    },
                );
                None
            }
            _ => None,
        };
        if changed {
            self.version += 1;
        }
        if let Some(message) = answer {
            out.push(Outgoing { to: from, message });
        }
        // A watch behind the version (the one just received included) is
        // answered now; so are all the others if the set changed.
        self.answer_watches(&mut out);
        Ok(out)
    }

    /// Moves the clock to `now` (never back) and ends the leases due by
    /// then; bumps the version if any ended. Returns whether one did.
    fn advance(&mut self, now: Duration) -> bool {
        self.now = self.now.max(now);
        let mut ended = false;
        while let Some(&(deadline, host)) = self.deadlines.first() {
            if deadline > self.now {
                break;
            }
            self.end(host);
            ended = true;
        }
        if ended {
            self.version += 1;
        }
        ended
    }

    /// (Re)starts `host`'s lease `id` for `ttl` from now.
    fn grant(&mut self, host: NodeId, id: LeaseId, ttl: Duration) {
        if let Some(old) = self.leases.get(&host) {
            self.deadlines.remove(&(old.deadline, host));
        }
        let deadline = self.now.saturating_add(ttl);
        self.leases.insert(host, Lease { id, ttl, deadline });
        self.deadlines.insert((deadline, host));
    }

    /// Forgets `host`'s lease.
    fn end(&mut self, host: NodeId) {
        if let Some(old) = self.leases.remove(&host) {
            self.deadlines.remove(&(old.deadline, host));
        }
    }

    /// Answers every held watch that is behind the version (all of them
    /// once the set changed) and those held for `watch_hold` already.
    fn answer_watches(&mut self, out: &mut Vec<Outgoing>) {
        let (version, now, hold) = (self.version, self.now, self.config.watch_hold);
        let due: Vec<NodeId> = self
            .watches
            .iter()
            .filter(|(_, w)| w.known < version || now.saturating_sub(w.since) >= hold)
            .map(|(&client, _)| client)
            .collect();
        if due.is_empty() {
            return;
        }
        let instances = self.instances();
        for client in due {
            self.watches.remove(&client);
            out.push(Outgoing {
                to: client,
                message: Message::Snapshot {
                    version,
                    instances: instances.clone(),
                },
            });
        }
    }
}

// ──────────────────────────────── the agent ─────────────────────────────────

/// A splitmix64 generator: every seed, 0 included, gives a full-period
/// stream.
#[derive(Clone, Debug)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A duration drawn uniformly from `[0, max]`, both included (`max`
    /// counted in nanoseconds, at most `u64::MAX` of them).
    fn up_to(&mut self, max: Duration) -> Duration {
        let max = u64::try_from(max.as_nanos()).unwrap_or(u64::MAX);
        let span = u128::from(max) + 1;
        let draw = (u128::from(self.next()) * span) >> 64;
        Duration::from_nanos(u64::try_from(draw).unwrap_or(max))
    }
}

/// What the agent's request in flight asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Asked {
    Register,
    Heartbeat(LeaseId),
}

#[derive(Clone, Copy, Debug)]
struct InFlight {
    request: RequestId,
    asked: Asked,
    sent: Duration,
}

/// A lease the agent holds.
#[derive(Clone, Copy, Debug)]
struct Held {
    id: LeaseId,
    ttl: Duration,
    /// When the agent sent the request that last granted or renewed it: the
    /// registry's deadline is no earlier than this plus `ttl`.
    renewed_by: Duration,
}

/// The agent beside each instance of the service: registers its host,
/// heartbeats, retries with jittered backoff when the registry does not
/// answer, registers again when its lease is lost.
///
/// One request at a time: either one is in flight, or the next one is due
/// at `next_send` (a heartbeat, a retry after backoff, or the first
/// registration).
#[derive(Debug)]
pub struct Instance {
    id: NodeId,
    registry: NodeId,
    config: InstanceConfig,
    rng: SplitMix64,
    lease: Option<Held>,
    in_flight: Option<InFlight>,
    next_send: Duration,
    next_request: RequestId,
    failures: u32,
    stopped: bool,
    now: Duration,
}

impl Instance {
    /// The agent of host `id`, whose registry is host `registry`, at time
    /// `now`; its first `tick` sends a `Register`.
    ///
    /// Refuses a zero `ttl` ([`ConfigError::ZeroTtl`]), a zero
    /// `request_timeout` ([`ConfigError::ZeroTimeout`]), and a zero
    /// `retry_base` or one above `retry_cap` ([`ConfigError::InvalidBackoff`]).
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
            rng: SplitMix64(seed),
            lease: None,
            in_flight: None,
            next_send: now,
            next_request: 1,
            failures: 0,
            stopped: false,
            now,
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

    /// Lets time pass up to `now`, and returns what the agent sends because
    /// of it: the first `Register`, a `Heartbeat` every third of the granted
    /// TTL, and, when a request went unanswered for `request_timeout`, the
    /// retry once its jittered backoff has passed. Nothing once stopped.
    pub fn tick(&mut self, now: Duration) -> Vec<Outgoing> {
        if self.stopped {
            return Vec::new();
        }
        self.now = self.now.max(now);
        if let Some(flight) = self.in_flight {
            let timed_out = flight.sent.saturating_add(self.config.request_timeout);
            if self.now < timed_out {
                return Vec::new();
            }
            self.in_flight = None;
            self.failures = self.failures.saturating_add(1);
            self.next_send = timed_out.saturating_add(self.backoff());
        }
        if self.now < self.next_send {
            return Vec::new();
        }
        // A lease not renewed for its TTL is over at the registry too.
        if let Some(held) = self.lease
            && self.now >= held.renewed_by.saturating_add(held.ttl)
        {
            self.lease = None;
        }
        let asked = match self.lease {
            Some(held) => Asked::Heartbeat(held.id),
            None => Asked::Register,
        };
        vec![self.send(asked)]
    }

    /// Handles `message` from host `from` at time `now`, and returns what
    /// the agent sends in answer (a `Register` after an `UnknownLease`).
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
        self.now = self.now.max(now);
        let Some(flight) = self.in_flight.filter(|f| f.request == request) else {
            return Ok(Vec::new()); // stale, duplicated, or for a request given up
        };
        match (flight.asked, message) {
            (Asked::Register, Message::Registered { lease, ttl, .. }) if !ttl.is_zero() => {
                self.renewed(flight, lease, ttl);
                Ok(Vec::new())
            }
            (Asked::Heartbeat(asked), Message::Renewed { lease, .. }) if asked == lease => {
                let ttl = self.lease.map_or(self.config.ttl, |held| held.ttl);
                self.renewed(flight, lease, ttl);
                Ok(Vec::new())
            }
            (Asked::Heartbeat(asked), Message::UnknownLease { lease, .. }) if asked == lease => {
                self.in_flight = None;
                self.failures = 0;
                self.lease = None;
                Ok(vec![self.send(Asked::Register)])
            }
            _ => Ok(Vec::new()), // an answer that does not fit the question
        }
    }

    /// Shuts the agent down at time `now`: returns a `Deregister` for the
    /// lease it holds (nothing if it holds none), and from then on the
    /// agent sends nothing and ignores every answer.
    pub fn deregister(&mut self, now: Duration) -> Vec<Outgoing> {
        if self.stopped {
            return Vec::new();
        }
        self.now = self.now.max(now);
        self.stopped = true;
        self.in_flight = None;
        match self.lease.take() {
            Some(held) => {
                let request = self.take_request();
                vec![Outgoing {
                    to: self.registry,
                    message: Message::Deregister {
                        request,
                        lease: held.id,
                    },
                }]
            }
            None => Vec::new(),
        }
    }

    fn renewed(&mut self, flight: InFlight, lease: LeaseId, ttl: Duration) {
        self.lease = Some(Held {
            id: lease,
            ttl,
            renewed_by: flight.sent,
        });
        self.in_flight = None;
        self.failures = 0;
        self.next_send = self.now.saturating_add(ttl / 3);
    }

    fn take_request(&mut self) -> RequestId {
        let request = self.next_request;
        self.next_request = self.next_request.wrapping_add(1);
        request
    }

    fn send(&mut self, asked: Asked) -> Outgoing {
        let request = self.take_request();
        self.in_flight = Some(InFlight {
            request,
            asked,
            sent: self.now,
        });
        let message = match asked {
            Asked::Register => Message::Register {
                request,
                ttl: self.config.ttl,
            },
            Asked::Heartbeat(lease) => Message::Heartbeat { request, lease },
        };
        Outgoing {
            to: self.registry,
            message,
        }
    }

    /// Full jitter: uniform in `[0, min(cap, base × 2^(failures - 1))]`.
    fn backoff(&mut self) -> Duration {
        let doublings = self.failures.saturating_sub(1);
        let ceiling = self
            .config
            .retry_base
            .saturating_mul(2u32.saturating_pow(doublings))
            .min(self.config.retry_cap);
        self.rng.up_to(ceiling)
    }
}

// ──────────────────────────────── the client ────────────────────────────────

/// A discovery client: watches the registry, caches the set of instances
/// with its version, and serves the last set it knew while the registry
/// cannot be reached.
#[derive(Debug)]
pub struct Client {
    id: NodeId,
    registry: NodeId,
    config: ClientConfig,
    version: Version,
    instances: Vec<Entry>,
    /// When the watch in flight was sent; `None` before the first.
    watch_sent: Option<Duration>,
    now: Duration,
}

impl Client {
    /// Client host `id`, whose registry is host `registry`, at time `now`,
    /// knowing nothing yet (version 0, no instances); its first `tick`
    /// sends a `Watch`.
    ///
    /// Refuses a zero `watch_timeout` ([`ConfigError::ZeroTimeout`]).
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
            version: 0,
            instances: Vec::new(),
            watch_sent: None,
            now,
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

    /// The cached set of instances: the newest snapshot received, kept
    /// whatever happens to the registry or the network.
    pub fn instances(&self) -> &[Entry] {
        &self.instances
    }

    /// Lets time pass up to `now`: sends a `Watch` with the cached version
    /// if none is in flight (the first tick), or if the one in flight has
    /// gone unanswered for `watch_timeout`. Never drops the cached set.
    pub fn tick(&mut self, now: Duration) -> Vec<Outgoing> {
        self.now = self.now.max(now);
        let due = match self.watch_sent {
            None => true,
            Some(sent) => self.now >= sent.saturating_add(self.config.watch_timeout),
        };
        if due { vec![self.watch()] } else { Vec::new() }
    }

    /// Handles `message` from host `from` at time `now`: a newer
    /// `Snapshot` replaces the cached set, an older one is ignored, and an
    /// answer at or above the cached version is followed by the next
    /// `Watch`.
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
        self.now = self.now.max(now);
        if version < self.version {
            return Ok(Vec::new()); // late news: never take the set back
        }
        if version > self.version {
            self.version = version;
            self.instances = instances;
        }
        Ok(vec![self.watch()])
    }

    fn watch(&mut self) -> Outgoing {
        self.watch_sent = Some(self.now);
        Outgoing {
            to: self.registry,
            message: Message::Watch {
                known: self.version,
            },
        }
    }
}
