//! # Service registry with leases: a right answer built differently
//!
//! The registry keeps its leases in a `Vec` and scans it (expiry, lookup by
//! lease id then holder check); lease ids come from a counter shared with
//! nothing. The agent schedules heartbeats from the instant it sent the
//! renewing request, draws its jitter from xorshift64* over a mixed seed,
//! and gives its lease up itself once the TTL has passed without a
//! renewal. The client keeps an explicit deadline for its watch. Held
//! watches are answered from `tick` only when the hold runs out.
//!
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

// ─────────────────────────────── registry ───────────────────────────────

#[derive(Clone, Copy, Debug)]
struct Slot {
    host: NodeId,
    lease: LeaseId,
    ttl: Duration,
    until: Duration,
}

/// The registry: a vector of live leases, scanned.
#[derive(Debug)]
pub struct Registry {
    max_ttl: Duration,
    hold: Duration,
    slots: Vec<Slot>,
    /// (client, known, held since)
    held: Vec<(NodeId, Version, Duration)>,
    version: Version,
    issued: LeaseId,
    clock: Duration,
}

impl Registry {
    /// A registry with no instances, at version 1.
    pub fn new(config: RegistryConfig) -> Result<Registry, ConfigError> {
        match (config.max_ttl.is_zero(), config.watch_hold.is_zero()) {
            (true, _) => Err(ConfigError::ZeroTtl),
            (_, true) => Err(ConfigError::ZeroTimeout),
            _ => Ok(Registry {
                max_ttl: config.max_ttl,
                hold: config.watch_hold,
                slots: Vec::new(),
                held: Vec::new(),
                version: 1,
                issued: 0,
                clock: Duration::ZERO,
            }),
        }
    }

    /// The version of the live set.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The live set, in order of instance.
    pub fn instances(&self) -> Vec<Entry> {
        let mut all: Vec<Entry> = self
            .slots
            .iter()
            .map(|s| Entry {
                instance: s.host,
                lease: s.lease,
            })
            .collect();
        all.sort();
        all
    }

    fn snapshot(&self) -> Message {
        Message::Snapshot {
            version: self.version,
            instances: self.instances(),
        }
    }

    /// Expires, then flushes the watches that are behind.
    fn catch_up(&mut self, now: Duration) {
        if now > self.clock {
            self.clock = now;
        }
        let clock = self.clock;
        let before = self.slots.len();
        self.slots.retain(|s| s.until > clock);
        if self.slots.len() < before {
            self.version += 1;
        }
    }

    fn flush(&mut self, out: &mut Vec<Outgoing>, hold_too: bool) {
        let mut i = 0;
        while i < self.held.len() {
            let (client, known, since) = self.held[i];
            let due = known < self.version || (hold_too && self.clock - since >= self.hold);
            if due {
                self.held.swap_remove(i);
                out.push(Outgoing {
                    to: client,
                    message: self.snapshot(),
                });
            } else {
                i += 1;
            }
        }
        out.sort_by_key(|o| o.to);
    }

    /// Expires and answers due watches.
    pub fn tick(&mut self, now: Duration) -> Vec<Outgoing> {
        self.catch_up(now);
        let mut out = Vec::new();
        self.flush(&mut out, true);
        out
    }

    /// Handles one message.
    pub fn receive(
        &mut self,
        from: NodeId,
        message: Message,
        now: Duration,
    ) -> Result<Vec<Outgoing>, ReceiveError> {
        let reply = |message| Outgoing { to: from, message };
        let mut out = Vec::new();
        match message {
            Message::Register { request, ttl } => {
                self.catch_up(now);
                if ttl == Duration::ZERO {
                    out.push(reply(Message::InvalidTtl { request }));
                } else {
                    let ttl = if ttl > self.max_ttl { self.max_ttl } else { ttl };
                    let until = self.clock.checked_add(ttl).unwrap_or(Duration::MAX);
                    let lease = match self.slots.iter_mut().find(|s| s.host == from) {
                        Some(slot) => {
                            slot.ttl = ttl;
                            slot.until = until;
                            slot.lease
                        }
                        None => {
                            self.issued += 1;
                            self.slots.push(Slot {
                                host: from,
                                lease: self.issued,
                                ttl,
                                until,
                            });
                            self.version += 1;
                            self.issued
                        }
                    };
                    out.push(reply(Message::Registered {
                        request,
                        lease,
                        ttl,
                    }));
                }
            }
            Message::Heartbeat { request, lease } => {
                self.catch_up(now);
                let clock = self.clock;
                let renewed = self
                    .slots
                    .iter_mut()
                    .find(|s| s.lease == lease)
                    .filter(|s| s.host == from)
                    .map(|s| s.until = clock.checked_add(s.ttl).unwrap_or(Duration::MAX))
                    .is_some();
                out.push(reply(if renewed {
                    Message::Renewed { request, lease }
                } else {
                    Message::UnknownLease { request, lease }
                }));
            }
            Message::Deregister { request, lease } => {
                self.catch_up(now);
                let before = self.slots.len();
                self.slots.retain(|s| !(s.lease == lease && s.host == from));
                if self.slots.len() < before {
                    self.version += 1;
                }
                out.push(reply(Message::Deregistered { request, lease }));
            }
            Message::Watch { known } => {
                self.catch_up(now);
                self.held.retain(|h| h.0 != from);
                let clock = self.clock;
                self.held.push((from, known, clock));
            }
            _ => return Err(ReceiveError::Unexpected),
        }
        self.flush(&mut out, false);
        Ok(out)
    }
}

// ─────────────────────────────── agent ───────────────────────────────

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Next request due at the instant; registered or not.
    Idle(Duration),
    /// Request `id` sent at the instant; `Some(lease)` for a heartbeat.
    Waiting(RequestId, Option<LeaseId>, Duration),
    Stopped,
}

/// The agent.
#[derive(Debug)]
pub struct Instance {
    me: NodeId,
    registry: NodeId,
    config: InstanceConfig,
    state: u64,
    phase: Phase,
    /// (lease, ttl, sent instant of the renewing request)
    holding: Option<(LeaseId, Duration, Duration)>,
    streak: u32,
    counter: RequestId,
    clock: Duration,
}

impl Instance {
    /// The agent of host `id`.
    pub fn new(
        id: NodeId,
        registry: NodeId,
        config: InstanceConfig,
        seed: u64,
        now: Duration,
    ) -> Result<Instance, ConfigError> {
        if config.ttl == Duration::ZERO {
            return Err(ConfigError::ZeroTtl);
        }
        if config.request_timeout == Duration::ZERO {
            return Err(ConfigError::ZeroTimeout);
        }
        if config.retry_base == Duration::ZERO || config.retry_cap < config.retry_base {
            return Err(ConfigError::InvalidBackoff);
        }
        // Mix the seed so that 0 is not xorshift's fixed point.
        let mut state = seed ^ 0x6A09_E667_F3BC_C908;
        state = state.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (state >> 29);
        if state == 0 {
            state = 0xBB67_AE85_84CA_A73B;
        }
        Ok(Instance {
            me: id,
            registry,
            config,
            state,
            phase: Phase::Idle(now),
            holding: None,
            streak: 0,
            counter: 0,
            clock: now,
        })
    }

    /// This agent's host.
    pub fn id(&self) -> NodeId {
        self.me
    }

    /// The lease held as far as it knows.
    pub fn lease(&self) -> Option<LeaseId> {
        self.holding.map(|h| h.0)
    }

    fn random(&mut self) -> u64 {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn request(&mut self) -> Outgoing {
        self.counter += 1;
        if let Some((_, ttl, renewed)) = self.holding
            && self.clock.saturating_sub(renewed) >= ttl
        {
            self.holding = None;
        }
        let lease = self.holding.map(|h| h.0);
        self.phase = Phase::Waiting(self.counter, lease, self.clock);
        let message = match lease {
            Some(lease) => Message::Heartbeat {
                request: self.counter,
                lease,
            },
            None => Message::Register {
                request: self.counter,
                ttl: self.config.ttl,
            },
        };
        Outgoing {
            to: self.registry,
            message,
        }
    }

    /// Timers.
    pub fn tick(&mut self, now: Duration) -> Vec<Outgoing> {
        self.clock = self.clock.max(now);
        if let Phase::Waiting(_, _, sent) = self.phase
            && self.clock - sent >= self.config.request_timeout
        {
            self.streak = self.streak.saturating_add(1);
            let shift = (self.streak - 1).min(40);
            let nanos = self.config.retry_base.as_nanos().saturating_mul(1u128 << shift);
            let ceiling = nanos.min(self.config.retry_cap.as_nanos()).min(u128::from(u64::MAX));
            let ceiling = ceiling as u64;
            let draw = if ceiling == u64::MAX {
                self.random()
            } else {
                self.random() % (ceiling + 1)
            };
            let timed_out = sent.saturating_add(self.config.request_timeout);
            self.phase = Phase::Idle(timed_out.saturating_add(Duration::from_nanos(draw)));
        }
        match self.phase {
            Phase::Idle(due) if self.clock >= due => vec![self.request()],
            _ => Vec::new(),
        }
    }

    /// Answers.
    pub fn receive(
        &mut self,
        from: NodeId,
        message: Message,
        now: Duration,
    ) -> Result<Vec<Outgoing>, ReceiveError> {
        if from != self.registry {
            return Err(ReceiveError::UnknownNode(from));
        }
        let answered = match &message {
            Message::Registered { request, .. }
            | Message::InvalidTtl { request }
            | Message::Renewed { request, .. }
            | Message::UnknownLease { request, .. }
            | Message::Deregistered { request, .. } => *request,
            _ => return Err(ReceiveError::Unexpected),
        };
        let Phase::Waiting(id, asked, sent) = self.phase else {
            return Ok(Vec::new());
        };
        if id != answered {
            return Ok(Vec::new());
        }
        self.clock = self.clock.max(now);
        match (asked, message) {
            (None, Message::Registered { lease, ttl, .. }) if ttl > Duration::ZERO => {
                self.holding = Some((lease, ttl, sent));
            }
            (Some(mine), Message::Renewed { lease, .. }) if mine == lease => {
                if let Some(h) = self.holding.as_mut() {
                    h.2 = sent;
                }
            }
            (Some(mine), Message::UnknownLease { lease, .. }) if mine == lease => {
                self.holding = None;
                self.streak = 0;
                return Ok(vec![self.request()]);
            }
            _ => return Ok(Vec::new()),
        }
        self.streak = 0;
        let ttl = self.holding.map_or(self.config.ttl, |h| h.1);
        self.phase = Phase::Idle(sent.saturating_add(ttl / 3));
        Ok(Vec::new())
    }

    /// Shuts down.
    pub fn deregister(&mut self, now: Duration) -> Vec<Outgoing> {
        self.clock = self.clock.max(now);
        if self.phase == Phase::Stopped {
            return Vec::new();
        }
        self.phase = Phase::Stopped;
        match self.holding.take() {
            None => Vec::new(),
            Some((lease, _, _)) => {
                self.counter += 1;
                vec![Outgoing {
                    to: self.registry,
                    message: Message::Deregister {
                        request: self.counter,
                        lease,
                    },
                }]
            }
        }
    }
}

// ─────────────────────────────── client ───────────────────────────────

/// The client.
#[derive(Debug)]
pub struct Client {
    me: NodeId,
    registry: NodeId,
    patience: Duration,
    known: Version,
    set: Vec<Entry>,
    /// When the watch in flight is overdue; `None` before the first.
    overdue: Option<Duration>,
    clock: Duration,
}

impl Client {
    /// A client that knows nothing yet.
    pub fn new(
        id: NodeId,
        registry: NodeId,
        config: ClientConfig,
        now: Duration,
    ) -> Result<Client, ConfigError> {
        if config.watch_timeout == Duration::ZERO {
            return Err(ConfigError::ZeroTimeout);
        }
        Ok(Client {
            me: id,
            registry,
            patience: config.watch_timeout,
            known: 0,
            set: Vec::new(),
            overdue: None,
            clock: now,
        })
    }

    /// This client's host.
    pub fn id(&self) -> NodeId {
        self.me
    }

    /// The cached version.
    pub fn version(&self) -> Version {
        self.known
    }

    /// The cached set.
    pub fn instances(&self) -> &[Entry] {
        &self.set
    }

    fn watch(&mut self) -> Vec<Outgoing> {
        self.overdue = Some(self.clock.saturating_add(self.patience));
        vec![Outgoing {
            to: self.registry,
            message: Message::Watch { known: self.known },
        }]
    }

    /// Re-sends an overdue watch.
    pub fn tick(&mut self, now: Duration) -> Vec<Outgoing> {
        self.clock = self.clock.max(now);
        match self.overdue {
            Some(at) if self.clock < at => Vec::new(),
            _ => self.watch(),
        }
    }

    /// Takes a snapshot.
    pub fn receive(
        &mut self,
        from: NodeId,
        message: Message,
        now: Duration,
    ) -> Result<Vec<Outgoing>, ReceiveError> {
        if from != self.registry {
            return Err(ReceiveError::UnknownNode(from));
        }
        match message {
            Message::Snapshot { version: 0, .. } => Err(ReceiveError::Malformed),
            Message::Snapshot { version, instances } => {
                self.clock = self.clock.max(now);
                if version < self.known {
                    return Ok(Vec::new());
                }
                if version > self.known {
                    self.known = version;
                    self.set = instances;
                }
                Ok(self.watch())
            }
            _ => Err(ReceiveError::Unexpected),
        }
    }
}
