//! Reference solution of the load-balancer kata: the upstream picker of a
//! reverse proxy.
//!
//! One [`LoadBalancer`] holds the backends, their health and their active
//! connections behind one short `std::sync::Mutex` (never held across an
//! `.await`), so `pick` takes `&self` and the balancer can be shared by every
//! request handler. Each strategy is O(n) per pick in the number of backends,
//! with no allocation:
//!
//! - round-robin keeps a cursor and scans forward from it to the next up
//!   backend, then moves the cursor past the one it chose;
//! - smooth weighted round-robin is nginx's `ngx_http_upstream_get_peer`:
//!   every up backend's current weight grows by its weight, the largest
//!   (first on ties) is chosen and pays back the total;
//! - least-connections takes the up backend with the fewest leases, scanning
//!   from the round-robin cursor so that ties rotate;
//! - power of two choices draws two distinct up backends from a seeded
//!   SplitMix64 and keeps the less loaded (the first drawn on a tie).
//!
//! Health is a per-backend streak of results that disagree with the current
//! state: `down_after` failures in a row take an up backend down,
//! `up_after` successes in a row bring a down one back, and any result that
//! agrees with the state resets the streak.

mod rng;

use std::error::Error;
use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::MissedTickBehavior;

use crate::rng::SplitMix64;

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
    /// Fixed at construction; `Lease::backend` borrows from it.
    backends: Vec<Backend>,
    strategy: Strategy,
    thresholds: HealthThresholds,
    state: Mutex<State>,
}

/// Everything that changes, under one lock.
#[derive(Debug)]
struct State {
    /// Per backend, in list order.
    peers: Vec<Peer>,
    /// Round-robin (and least-connections' tie-break): where the next scan
    /// starts.
    cursor: usize,
    /// Power of two choices.
    rng: SplitMix64,
}

#[derive(Debug, Clone, Copy)]
struct Peer {
    up: bool,
    /// Consecutive health results that disagree with `up`.
    streak: u32,
    /// Leases held.
    active: usize,
    /// Smooth weighted round-robin's running weight. Frozen while down, as
    /// in nginx.
    current: i64,
}

impl LoadBalancer {
    /// A balancer over `backends`, all initially up, with
    /// [`HealthThresholds::default`].
    ///
    /// # Panics
    /// If a weight is zero or two backends share a name.
    pub fn new(backends: Vec<Backend>, strategy: Strategy) -> Self {
        for (i, backend) in backends.iter().enumerate() {
            assert!(
                backend.weight > 0,
                "backend {:?} has weight 0; weights start at 1",
                backend.name
            );
            assert!(
                backends[..i].iter().all(|b| b.name != backend.name),
                "two backends are called {:?}",
                backend.name
            );
        }
        let seed = match strategy {
            Strategy::PowerOfTwoChoices { seed } => seed,
            _ => 0,
        };
        let peers = vec![
            Peer {
                up: true,
                streak: 0,
                active: 0,
                current: 0,
            };
            backends.len()
        ];
        LoadBalancer {
            backends,
            strategy,
            thresholds: HealthThresholds::default(),
            state: Mutex::new(State {
                peers,
                cursor: 0,
                rng: SplitMix64::new(seed),
            }),
        }
    }

    /// The same balancer with other health thresholds.
    ///
    /// # Panics
    /// If either threshold is zero.
    pub fn with_thresholds(mut self, thresholds: HealthThresholds) -> Self {
        assert!(
            thresholds.down_after > 0 && thresholds.up_after > 0,
            "health thresholds start at 1, got {thresholds:?}"
        );
        self.thresholds = thresholds;
        self
    }

    /// Chooses an up backend for one request and counts one more active
    /// connection on it until the returned [`Lease`] is dropped.
    ///
    /// # Errors
    /// [`NoBackend`] if no backend is up.
    pub fn pick(&self) -> Result<Lease<'_>, NoBackend> {
        let mut state = self.lock();
        let index = match self.strategy {
            Strategy::RoundRobin => state.round_robin(),
            Strategy::SmoothWeighted => state.smooth_weighted(&self.backends),
            Strategy::LeastConnections => state.least_connections(),
            Strategy::PowerOfTwoChoices { .. } => state.power_of_two(),
        }
        .ok_or(NoBackend)?;
        state.peers[index].active += 1;
        Ok(Lease {
            balancer: self,
            index,
        })
    }

    /// Records one health check of `name` and returns its state afterwards:
    /// an up backend goes down on its `down_after`-th failure in a row, a
    /// down backend comes back on its `up_after`-th success in a row.
    ///
    /// # Errors
    /// [`UnknownBackend`] if no backend is called `name`.
    pub fn report_health(&self, name: &str, ok: bool) -> Result<Health, UnknownBackend> {
        let index = self
            .index_of(name)
            .ok_or_else(|| UnknownBackend(name.to_owned()))?;
        Ok(self.record(index, ok))
    }

    /// The state of `name`, or `None` if there is no such backend.
    pub fn health(&self, name: &str) -> Option<Health> {
        let index = self.index_of(name)?;
        Some(health_of(self.lock().peers[index].up))
    }

    /// Leases of `name` not yet dropped, or `None` if there is no such
    /// backend.
    pub fn active_connections(&self, name: &str) -> Option<usize> {
        let index = self.index_of(name)?;
        Some(self.lock().peers[index].active)
    }

    /// Probes every backend now and then every `interval`, for ever, and
    /// reports each result as [`report_health`](Self::report_health) does.
    /// A probe that has not answered within `timeout` counts as a failure.
    /// Run it in a task beside the proxy; drop or abort it to stop.
    ///
    /// Rounds start on a fixed schedule (`0`, `interval`, `2 × interval`,
    /// ...) whatever the probes do; within a round, the backends are probed
    /// one after another, each cut off at `timeout`.
    ///
    /// # Panics
    /// If `interval` is zero.
    pub async fn run_health_checks(
        &self,
        interval: Duration,
        timeout: Duration,
        probe: impl AsyncFn(&str) -> bool,
    ) {
        let mut rounds = tokio::time::interval(interval);
        // A round slower than `interval` delays the next one instead of
        // starting a burst of rounds to catch up.
        rounds.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            rounds.tick().await;
            for (index, backend) in self.backends.iter().enumerate() {
                let ok = matches!(
                    tokio::time::timeout(timeout, probe(&backend.name)).await,
                    Ok(true)
                );
                self.record(index, ok);
            }
        }
    }

    fn index_of(&self, name: &str) -> Option<usize> {
        self.backends.iter().position(|b| b.name == name)
    }

    fn record(&self, index: usize, ok: bool) -> Health {
        let mut state = self.lock();
        let peer = &mut state.peers[index];
        if ok == peer.up {
            peer.streak = 0;
        } else {
            peer.streak += 1;
            let threshold = if peer.up {
                self.thresholds.down_after
            } else {
                self.thresholds.up_after
            };
            if peer.streak >= threshold {
                peer.up = !peer.up;
                peer.streak = 0;
            }
        }
        health_of(peer.up)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing under the lock can panic half-way through an update, so
        // the state behind a poisoned lock is still consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    /// The first up backend at or after the cursor; the cursor moves past it.
    fn round_robin(&mut self) -> Option<usize> {
        let n = self.peers.len();
        let index = (0..n)
            .map(|offset| (self.cursor + offset) % n)
            .find(|&i| self.peers[i].up)?;
        self.cursor = (index + 1) % n;
        Some(index)
    }

    /// nginx's smooth weighted round-robin over the up backends.
    fn smooth_weighted(&mut self, backends: &[Backend]) -> Option<usize> {
        let mut total = 0i64;
        // (index, current weight) of the best so far: the first on ties.
        let mut best: Option<(usize, i64)> = None;
        for (i, (peer, backend)) in self.peers.iter_mut().zip(backends).enumerate() {
            if !peer.up {
                continue;
            }
            peer.current += i64::from(backend.weight);
            total += i64::from(backend.weight);
            if best.is_none_or(|(_, current)| peer.current > current) {
                best = Some((i, peer.current));
            }
        }
        let (index, _) = best?;
        self.peers[index].current -= total;
        Some(index)
    }

    /// The up backend with the fewest leases; ties go to the first at or
    /// after the cursor, so that idle backends share the load.
    fn least_connections(&mut self) -> Option<usize> {
        let n = self.peers.len();
        let index = (0..n)
            .map(|offset| (self.cursor + offset) % n)
            .filter(|&i| self.peers[i].up)
            .min_by_key(|&i| self.peers[i].active)?;
        self.cursor = (index + 1) % n;
        Some(index)
    }

    /// Two distinct up backends at random; the less loaded one (the first
    /// drawn on a tie).
    fn power_of_two(&mut self) -> Option<usize> {
        let up = self.peers.iter().filter(|p| p.up).count();
        match up {
            0 => None,
            1 => self.nth_up(0),
            _ => {
                let first = self.rng.below(up);
                // A second draw among the other `up - 1`: distinct by
                // construction, no retry loop.
                let mut second = self.rng.below(up - 1);
                if second >= first {
                    second += 1;
                }
                let (a, b) = (self.nth_up(first)?, self.nth_up(second)?);
                Some(if self.peers[b].active < self.peers[a].active {
                    b
                } else {
                    a
                })
            }
        }
    }

    /// The index of the `rank`-th up backend in list order.
    fn nth_up(&self, rank: usize) -> Option<usize> {
        self.peers
            .iter()
            .enumerate()
            .filter(|(_, p)| p.up)
            .nth(rank)
            .map(|(i, _)| i)
    }
}

fn health_of(up: bool) -> Health {
    if up { Health::Up } else { Health::Down }
}

/// One request's hold on a backend, from [`LoadBalancer::pick`]: it counts as
/// one active connection on that backend until it is dropped (on every path
/// out of the request, errors and panics included).
#[derive(Debug)]
pub struct Lease<'a> {
    balancer: &'a LoadBalancer,
    index: usize,
}

impl Lease<'_> {
    /// The name of the chosen backend.
    pub fn backend(&self) -> &str {
        &self.balancer.backends[self.index].name
    }
}

impl Drop for Lease<'_> {
    /// Gives the connection back: the backend's active count goes down by one.
    fn drop(&mut self) {
        let mut state = self.balancer.lock();
        let peer = &mut state.peers[self.index];
        peer.active = peer.active.saturating_sub(1);
    }
}
