//! # Service registry with leases
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

// The bodies below are `todo!()`, so their arguments go unused until you
// write them. Delete this line when you are done.
#![allow(unused_variables)]

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

/// The registry: one lease per instance, expiry, and discovery by watch.
///
/// ```no_run
/// use std::time::Duration;
/// use service_registry::{Entry, Message, Registry, RegistryConfig};
///
/// let ms = Duration::from_millis;
/// let mut registry = Registry::new(RegistryConfig::default())?;
/// assert_eq!(registry.version(), 1);
///
/// // Host 7 registers with a 1 s lease at t = 0.
/// let out = registry.receive(7, Message::Register { request: 1, ttl: ms(1_000) }, ms(0))?;
/// assert_eq!(out[0].message, Message::Registered { request: 1, lease: 1, ttl: ms(1_000) });
/// assert_eq!(registry.instances(), vec![Entry { instance: 7, lease: 1 }]);
/// assert_eq!(registry.version(), 2);
///
/// // A client that knows version 1 gets the new set at once.
/// let out = registry.receive(50, Message::Watch { known: 1 }, ms(10))?;
/// assert_eq!(
///     out[0].message,
///     Message::Snapshot { version: 2, instances: vec![Entry { instance: 7, lease: 1 }] }
/// );
///
/// // No heartbeat: at exactly t = 1 s the lease is over.
/// registry.tick(ms(1_000));
/// assert!(registry.instances().is_empty());
/// let out = registry.receive(7, Message::Heartbeat { request: 2, lease: 1 }, ms(1_001))?;
/// assert_eq!(out[0].message, Message::UnknownLease { request: 2, lease: 1 });
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Registry {
    // Your fields here: the live leases, the next lease id, the version,
    // the watches it holds, the latest time seen.
}

impl Registry {
    /// A registry with no instances, at version 1.
    ///
    /// Refuses a zero `max_ttl` ([`ConfigError::ZeroTtl`]) and a zero
    /// `watch_hold` ([`ConfigError::ZeroTimeout`]).
    pub fn new(config: RegistryConfig) -> Result<Registry, ConfigError> {
        todo!("Registry::new: validate, then an empty registry at version 1")
    }

    /// The version of the set of live instances, as of the last call.
    pub fn version(&self) -> Version {
        todo!("Registry::version")
    }

    /// The live instances as of the last call, in increasing order of
    /// instance: what a `Snapshot` sent now would list.
    pub fn instances(&self) -> Vec<Entry> {
        todo!("Registry::instances")
    }

    /// Lets time pass up to `now`: ends every lease whose TTL has run out
    /// (a lease renewed at `t` with TTL `ttl` is over at `t + ttl` exactly),
    /// and answers the watches that are due: every held watch if the set
    /// changed, and those held for `watch_hold` with the unchanged set.
    ///
    /// A `now` earlier than one seen before is taken as no time passing.
    pub fn tick(&mut self, now: Duration) -> Vec<Outgoing> {
        todo!("Registry::tick: expire leases, answer the watches that are due")
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
        todo!("Registry::receive: Register, Heartbeat, Deregister, Watch")
    }
}

/// The agent beside each instance of the service: registers its host,
/// heartbeats, retries with jittered backoff when the registry does not
/// answer, registers again when its lease is lost.
///
/// ```no_run
/// use std::time::Duration;
/// use service_registry::{Instance, InstanceConfig, Message};
///
/// let ms = Duration::from_millis;
/// // The agent of host 7, whose registry is host 1, seeded with 42.
/// let mut agent = Instance::new(7, 1, InstanceConfig::default(), 42, ms(0))?;
/// let out = agent.tick(ms(0));
/// let Message::Register { request, ttl } = out[0].message else { panic!() };
/// assert_eq!((out[0].to, ttl), (1, ms(1_000)));
///
/// agent.receive(1, Message::Registered { request, lease: 5, ttl }, ms(20))?;
/// assert_eq!(agent.lease(), Some(5));
/// // A third of the TTL later, it heartbeats.
/// let out = agent.tick(ms(360));
/// assert!(matches!(out[0].message, Message::Heartbeat { lease: 5, .. }));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Instance {
    // Your fields here: the lease held and its TTL, the request in flight
    // and when it was sent, the next heartbeat or retry, the failures in a
    // row, the rng.
}

impl Instance {
    /// The agent of host `id`, whose registry is host `registry`, at time
    /// `now`; its first `tick` sends a `Register`.
    ///
    /// `seed` seeds its random number generator, from which it draws every
    /// backoff: the same seed and calls give the same behaviour; different
    /// seeds give different backoffs. Every seed works, 0 and `u64::MAX`
    /// included.
    ///
    /// Refuses a zero `ttl` ([`ConfigError::ZeroTtl`]), a zero
    /// `request_timeout` ([`ConfigError::ZeroTimeout`]), and a zero
    /// `retry_base` or one above `retry_cap` ([`ConfigError::InvalidBackoff`]).
    /// A `ttl` of `Duration::MAX` is fine: the registry grants less.
    pub fn new(
        id: NodeId,
        registry: NodeId,
        config: InstanceConfig,
        seed: u64,
        now: Duration,
    ) -> Result<Instance, ConfigError> {
        todo!("Instance::new: validate, then an agent about to register")
    }

    /// This agent's host.
    pub fn id(&self) -> NodeId {
        todo!("Instance::id")
    }

    /// The lease the agent holds as far as it knows: `Some` once a
    /// `Registered` answered its latest request, `None` before, after an
    /// `UnknownLease`, and after [`Instance::deregister`].
    pub fn lease(&self) -> Option<LeaseId> {
        todo!("Instance::lease")
    }

    /// Lets time pass up to `now`, and returns what the agent sends because
    /// of it: the first `Register`, a `Heartbeat` every third of the granted
    /// TTL, and, when a request went unanswered for `request_timeout`, the
    /// retry once its jittered backoff has passed. Nothing once stopped.
    ///
    /// A `now` earlier than one seen before is taken as no time passing.
    pub fn tick(&mut self, now: Duration) -> Vec<Outgoing> {
        todo!("Instance::tick: register, heartbeat, time out, back off, retry")
    }

    /// Handles `message` from host `from` at time `now`, and returns what
    /// the agent sends in answer (a `Register` after an `UnknownLease`).
    ///
    /// A message from any host but the registry is refused
    /// ([`ReceiveError::UnknownNode`]), one an agent is never sent
    /// ([`ReceiveError::Unexpected`]); an answer to any request but the
    /// agent's latest is ignored (`Ok(vec![])`).
    pub fn receive(
        &mut self,
        from: NodeId,
        message: Message,
        now: Duration,
    ) -> Result<Vec<Outgoing>, ReceiveError> {
        todo!("Instance::receive: Registered, Renewed, UnknownLease, ...")
    }

    /// Shuts the agent down at time `now`: returns a `Deregister` for the
    /// lease it holds (nothing if it holds none), and from then on the
    /// agent sends nothing and ignores every answer.
    pub fn deregister(&mut self, now: Duration) -> Vec<Outgoing> {
        todo!("Instance::deregister")
    }
}

/// A discovery client: watches the registry, caches the set of instances
/// with its version, and serves the last set it knew while the registry
/// cannot be reached.
///
/// ```no_run
/// use std::time::Duration;
/// use service_registry::{Client, ClientConfig, Entry, Message};
///
/// let ms = Duration::from_millis;
/// // Client host 50, whose registry is host 1.
/// let mut client = Client::new(50, 1, ClientConfig::default(), ms(0))?;
/// let out = client.tick(ms(0));
/// assert_eq!(out[0].message, Message::Watch { known: 0 });
///
/// let set = vec![Entry { instance: 7, lease: 1 }];
/// let out = client.receive(1, Message::Snapshot { version: 2, instances: set.clone() }, ms(10))?;
/// assert_eq!((client.version(), client.instances()), (2, &set[..]));
/// assert_eq!(out[0].message, Message::Watch { known: 2 }); // the next long poll
///
/// // The registry goes silent: the client keeps what it knew.
/// client.tick(ms(10_000));
/// assert_eq!(client.instances(), &set[..]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Client {
    // Your fields here: the cached set and its version, when the watch in
    // flight was sent.
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
        todo!("Client::new: validate, then a client that knows nothing yet")
    }

    /// This client's host.
    pub fn id(&self) -> NodeId {
        todo!("Client::id")
    }

    /// The version of the cached set; 0 before the first snapshot.
    pub fn version(&self) -> Version {
        todo!("Client::version")
    }

    /// The cached set of instances: the newest snapshot received, kept
    /// whatever happens to the registry or the network.
    pub fn instances(&self) -> &[Entry] {
        todo!("Client::instances")
    }

    /// Lets time pass up to `now`: sends a `Watch` with the cached version
    /// if none is in flight (the first tick), or if the one in flight has
    /// gone unanswered for `watch_timeout`. Never drops the cached set.
    pub fn tick(&mut self, now: Duration) -> Vec<Outgoing> {
        todo!("Client::tick: (re)send the watch")
    }

    /// Handles `message` from host `from` at time `now`: a newer
    /// `Snapshot` replaces the cached set, an older one is ignored, and an
    /// answer at or above the cached version is followed by the next
    /// `Watch`.
    ///
    /// A message from any host but the registry is refused
    /// ([`ReceiveError::UnknownNode`]), one a client is never sent
    /// ([`ReceiveError::Unexpected`]), a `Snapshot` at version 0
    /// ([`ReceiveError::Malformed`]).
    pub fn receive(
        &mut self,
        from: NodeId,
        message: Message,
        now: Duration,
    ) -> Result<Vec<Outgoing>, ReceiveError> {
        todo!("Client::receive: adopt newer snapshots, then watch again")
    }
}
