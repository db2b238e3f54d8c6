//! # Load balancer
//!
//! The upstream picker of a reverse proxy. Read `README.md` beside this file
//! for the problem, then make the specification pass:
//!
//! ```text
//! cargo xtask kata load-balancer
//! ```
//!
//! `pick` takes `&self`: the balancer is shared by every request handler, so
//! it must be `Send + Sync` (the spec holds leases in spawned tokio tasks).
//! A `std::sync::Mutex` around the state that changes is the simple answer;
//! never hold it across an `.await`. Time, in the health-check loop, is
//! tokio's (`tokio::time::{interval, timeout}`): the spec pauses that clock
//! and advances it, so never read the wall clock.

// The bodies below are `todo!()`, so their arguments go unused until you
// write them. Delete this line when you are done.
#![allow(unused_variables)]

use std::error::Error;
use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

/// One upstream server: a name the proxy resolves (`"10.0.0.7:8080"`) and a
/// weight, its share of the traffic under [`Strategy::SmoothWeighted`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Backend {
    /// Unique among the balancer's backends.
    pub name: String,
    /// At least 1. Only [`Strategy::SmoothWeighted`] reads it.
    pub weight: u32,
}

impl Backend {
    /// A backend called `name` with `weight`.
    pub fn new(name: impl Into<String>, weight: u32) -> Self {
        Backend {
            name: name.into(),
            weight,
        }
    }
}

/// How [`LoadBalancer::pick`] chooses among the up backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Strategy {
    /// Each up backend in turn, in list order; weights are ignored.
    RoundRobin,
    /// nginx's smooth weighted round-robin: over every `W` picks (the sum of
    /// the up backends' weights) each up backend is chosen exactly `weight`
    /// times, interleaved rather than in bursts.
    SmoothWeighted,
    /// The up backend holding the fewest leases right now.
    LeastConnections,
    /// Two distinct up backends drawn at random from an RNG seeded with
    /// `seed`; the one holding fewer leases wins.
    PowerOfTwoChoices {
        /// The same seed and the same calls give the same picks.
        seed: u64,
    },
}

/// When health reports change a backend's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HealthThresholds {
    /// Consecutive failed checks that take an up backend down (at least 1).
    pub down_after: u32,
    /// Consecutive successful checks that bring a down backend back up (at
    /// least 1).
    pub up_after: u32,
}

impl Default for HealthThresholds {
    /// HAProxy's defaults: down after 3 failures in a row (`fall 3`), up
    /// after 2 successes in a row (`rise 2`).
    fn default() -> Self {
        HealthThresholds {
            down_after: 3,
            up_after: 2,
        }
    }
}

/// Whether a backend may be chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Health {
    /// In rotation.
    Up,
    /// Out of rotation until it passes `up_after` checks in a row.
    Down,
}

/// [`LoadBalancer::pick`] found no backend up (or there are none): the proxy
/// answers `502 Bad Gateway` or `503 Service Unavailable` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NoBackend;

impl fmt::Display for NoBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no backend is up")
    }
}

impl Error for NoBackend {}

/// A health report named a backend the balancer does not have.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UnknownBackend(pub String);

impl fmt::Display for UnknownBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no backend is called {:?}", self.0)
    }
}

impl Error for UnknownBackend {}

/// Chooses a backend for each request, by one [`Strategy`], among the
/// backends that are up. Shared by every request handler through `&self`.
#[derive(Debug)]
pub struct LoadBalancer {
    // Your fields here: what must the balancer remember between picks, and
    // which of it changes while it is shared?
}

impl LoadBalancer {
    /// A balancer over `backends`, all initially up, with
    /// [`HealthThresholds::default`].
    ///
    /// # Panics
    /// If a weight is zero or two backends share a name.
    pub fn new(backends: Vec<Backend>, strategy: Strategy) -> Self {
        todo!("LoadBalancer::new: every backend up, no connections, the RNG seeded")
    }

    /// The same balancer with other health thresholds.
    ///
    /// # Panics
    /// If either threshold is zero.
    pub fn with_thresholds(self, thresholds: HealthThresholds) -> Self {
        todo!("LoadBalancer::with_thresholds")
    }

    /// Chooses an up backend for one request and counts one more active
    /// connection on it until the returned [`Lease`] is dropped.
    ///
    /// # Errors
    /// [`NoBackend`] if no backend is up.
    pub fn pick(&self) -> Result<Lease<'_>, NoBackend> {
        todo!("LoadBalancer::pick: the strategy's choice among the up backends, counted")
    }

    /// Records one health check of `name` and returns its state afterwards:
    /// an up backend goes down on its `down_after`-th failure in a row, a
    /// down backend comes back on its `up_after`-th success in a row.
    ///
    /// # Errors
    /// [`UnknownBackend`] if no backend is called `name`.
    pub fn report_health(&self, name: &str, ok: bool) -> Result<Health, UnknownBackend> {
        todo!("LoadBalancer::report_health: a streak of results that disagree with the state")
    }

    /// The state of `name`, or `None` if there is no such backend.
    pub fn health(&self, name: &str) -> Option<Health> {
        todo!("LoadBalancer::health")
    }

    /// Leases of `name` not yet dropped, or `None` if there is no such
    /// backend.
    pub fn active_connections(&self, name: &str) -> Option<usize> {
        todo!("LoadBalancer::active_connections")
    }

    /// Probes every backend now and then every `interval`, for ever, and
    /// reports each result as [`report_health`](Self::report_health) does.
    /// A probe that has not answered within `timeout` counts as a failure.
    /// Run it in a task beside the proxy; drop or abort it to stop.
    ///
    /// Rounds start on a fixed schedule (`0`, `interval`, `2 × interval`,
    /// ...) whatever the probes do; within a round, the backends may be
    /// probed one after another or together.
    ///
    /// # Panics
    /// If `interval` is zero.
    pub async fn run_health_checks(
        &self,
        interval: Duration,
        timeout: Duration,
        probe: impl AsyncFn(&str) -> bool,
    ) {
        todo!("LoadBalancer::run_health_checks: tokio::time::interval, and a timeout per probe")
    }
}

/// One request's hold on a backend, from [`LoadBalancer::pick`]: it counts as
/// one active connection on that backend until it is dropped (on every path
/// out of the request, errors and panics included).
#[derive(Debug)]
pub struct Lease<'a> {
    // Your fields here: how does a lease find its backend's count again when
    // it is dropped? (`PhantomData` only lets the stub compile: replace it.)
    _balancer: PhantomData<&'a LoadBalancer>,
}

impl Lease<'_> {
    /// The name of the chosen backend.
    pub fn backend(&self) -> &str {
        todo!("Lease::backend")
    }
}

impl Drop for Lease<'_> {
    /// Gives the connection back: the backend's active count goes down by one.
    fn drop(&mut self) {
        todo!("Lease::drop: one connection fewer on the backend")
    }
}
