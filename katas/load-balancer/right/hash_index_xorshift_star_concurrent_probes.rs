//! Right: built differently from the one-loop-per-strategy scan with a linear name search and
//! sequential probes. Names resolve through a `HashMap` built once in `new` (O(1) `report_health`,
//! `health`, `active_connections`); the RNG is xorshift64* whose state comes from SplitMix64 of the
//! seed (so seed 0 and `u64::MAX` are seeds like any other) and bounded draws use Lemire's
//! multiply-shift instead of `%`; power of two draws its second choice as `first + 1 + below(k-1)`
//! modulo `k` (two distinct backends, no retry). The health loop probes every backend of a round
//! AT ONCE: one future per backend, each under its own `tokio::time::timeout`, driven together by
//! a hand-written `poll_fn` join that reports each result the moment it arrives, so a hanging probe
//! delays nobody else's report; rounds still tick on `tokio::time::interval`. No lock is held
//! across an `.await`; `pick` scans the backends once under one short lock and never allocates.

use std::error::Error;
use std::fmt;
use std::collections::HashMap;
use std::future::poll_fn;
use std::pin::Pin;
use std::sync::{Mutex, MutexGuard};
use std::task::Poll;
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

/// xorshift64*, its state drawn from SplitMix64 of the seed: xorshift's
/// state must never be 0, and SplitMix64 maps exactly one seed to 0.
#[derive(Debug)]
struct Rng(u64);

impl Rng {
    fn seeded(seed: u64) -> Self {
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Rng(if z == 0 { 0x2545_F491_4F6C_DD1D } else { z })
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (`n > 0`): Lemire's multiply-shift.
    fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next()) * n as u128) >> 64) as usize
    }
}

/// What changes about one backend while the balancer runs.
#[derive(Debug, Default)]
struct Node {
    down: bool,
    /// Health results in a row that disagree with the state.
    streak: u32,
    /// Leases not yet dropped.
    active: usize,
    /// nginx's current weight.
    current: i64,
}

/// Everything that changes, behind one short lock.
#[derive(Debug)]
struct Inner {
    nodes: Vec<Node>,
    /// Round-robin: the position to try first.
    next: usize,
    rng: Rng,
}

/// Chooses a backend for each request, by one [`Strategy`], among the
/// backends that are up. Shared by every request handler through `&self`.
#[derive(Debug)]
pub struct LoadBalancer {
    backends: Vec<Backend>,
    by_name: HashMap<String, usize>,
    strategy: Strategy,
    thresholds: HealthThresholds,
    inner: Mutex<Inner>,
}

impl LoadBalancer {
    /// A balancer over `backends`, all initially up, with
    /// [`HealthThresholds::default`].
    ///
    /// # Panics
    /// If a weight is zero or two backends share a name.
    pub fn new(backends: Vec<Backend>, strategy: Strategy) -> Self {
        let mut by_name = HashMap::with_capacity(backends.len());
        for (index, backend) in backends.iter().enumerate() {
            assert_ne!(backend.weight, 0, "backend {:?} has a weight of zero", backend.name);
            let earlier = by_name.insert(backend.name.clone(), index);
            assert!(earlier.is_none(), "two backends are called {:?}", backend.name);
        }
        let seed = match strategy {
            Strategy::PowerOfTwoChoices { seed } => seed,
            _ => 0,
        };
        LoadBalancer {
            inner: Mutex::new(Inner {
                nodes: backends.iter().map(|_| Node::default()).collect(),
                next: 0,
                rng: Rng::seeded(seed),
            }),
            backends,
            by_name,
            strategy,
            thresholds: HealthThresholds::default(),
        }
    }

    /// The same balancer with other health thresholds.
    ///
    /// # Panics
    /// If either threshold is zero.
    pub fn with_thresholds(mut self, thresholds: HealthThresholds) -> Self {
        assert!(thresholds.down_after >= 1, "down_after threshold must be at least 1");
        assert!(thresholds.up_after >= 1, "up_after threshold must be at least 1");
        self.thresholds = thresholds;
        self
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Nothing panics under this lock; recover the state even so.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Chooses an up backend for one request and counts one more active
    /// connection on it until the returned [`Lease`] is dropped.
    ///
    /// # Errors
    /// [`NoBackend`] if no backend is up.
    pub fn pick(&self) -> Result<Lease<'_>, NoBackend> {
        let mut inner = self.lock();
        let inner = &mut *inner;
        let nodes = &mut inner.nodes;
        let n = nodes.len();
        let index = match self.strategy {
            Strategy::RoundRobin => {
                let mut found = None;
                for step in 0..n {
                    let i = (inner.next + step) % n;
                    if !nodes[i].down {
                        found = Some(i);
                        break;
                    }
                }
                let i = found.ok_or(NoBackend)?;
                inner.next = (i + 1) % n;
                i
            }
            Strategy::SmoothWeighted => {
                let mut total = 0i64;
                let mut best: Option<usize> = None;
                for i in 0..n {
                    if nodes[i].down {
                        continue;
                    }
                    let weight = i64::from(self.backends[i].weight);
                    nodes[i].current += weight;
                    total += weight;
                    match best {
                        Some(b) if nodes[b].current >= nodes[i].current => {}
                        _ => best = Some(i),
                    }
                }
                let best = best.ok_or(NoBackend)?;
                nodes[best].current -= total;
                best
            }
            Strategy::LeastConnections => {
                let mut best: Option<usize> = None;
                for i in 0..n {
                    if nodes[i].down {
                        continue;
                    }
                    match best {
                        Some(b) if nodes[b].active <= nodes[i].active => {}
                        _ => best = Some(i),
                    }
                }
                best.ok_or(NoBackend)?
            }
            Strategy::PowerOfTwoChoices { .. } => {
                let up = nodes.iter().filter(|node| !node.down).count();
                let ordinal = |k: usize| {
                    (0..n)
                        .filter(|&i| !nodes[i].down)
                        .nth(k)
                        .expect("k is below the number of up backends")
                };
                match up {
                    0 => return Err(NoBackend),
                    1 => ordinal(0),
                    _ => {
                        let a = inner.rng.below(up);
                        let b = (a + 1 + inner.rng.below(up - 1)) % up;
                        let (a, b) = (ordinal(a), ordinal(b));
                        // The first drawn wins a tie.
                        if nodes[b].active < nodes[a].active { b } else { a }
                    }
                }
            }
        };
        nodes[index].active += 1;
        Ok(Lease {
            balancer: self,
            index,
        })
    }

    /// One health result for the backend at `index`; its state afterwards.
    fn record(&self, index: usize, ok: bool) -> Health {
        let mut inner = self.lock();
        let node = &mut inner.nodes[index];
        if ok != node.down {
            // Agrees with the state (up and ok, or down and failing).
            node.streak = 0;
        } else {
            node.streak += 1;
            let needed = if node.down {
                self.thresholds.up_after
            } else {
                self.thresholds.down_after
            };
            if node.streak >= needed {
                node.down = !node.down;
                node.streak = 0;
            }
        }
        if node.down { Health::Down } else { Health::Up }
    }

    /// Records one health check of `name` and returns its state afterwards:
    /// an up backend goes down on its `down_after`-th failure in a row, a
    /// down backend comes back on its `up_after`-th success in a row.
    ///
    /// # Errors
    /// [`UnknownBackend`] if no backend is called `name`.
    pub fn report_health(&self, name: &str, ok: bool) -> Result<Health, UnknownBackend> {
        match self.by_name.get(name) {
            Some(&index) => Ok(self.record(index, ok)),
            None => Err(UnknownBackend(name.to_owned())),
        }
    }

    /// The state of `name`, or `None` if there is no such backend.
    pub fn health(&self, name: &str) -> Option<Health> {
        let &index = self.by_name.get(name)?;
        Some(if self.lock().nodes[index].down { Health::Down } else { Health::Up })
    }

    /// Leases of `name` not yet dropped, or `None` if there is no such
    /// backend.
    pub fn active_connections(&self, name: &str) -> Option<usize> {
        let &index = self.by_name.get(name)?;
        Some(self.lock().nodes[index].active)
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
        assert!(interval > Duration::ZERO, "the health-check interval must not be zero");
        let probe = &probe;
        let mut rounds = tokio::time::interval(interval);
        loop {
            rounds.tick().await;
            // Every backend at once: one future each, each with its own
            // timeout, reported as soon as it settles.
            let mut checks: Vec<_> = self
                .backends
                .iter()
                .map(|backend| {
                    let name = backend.name.as_str();
                    Some(Box::pin(async move {
                        matches!(tokio::time::timeout(timeout, probe(name)).await, Ok(true))
                    }))
                })
                .collect();
            poll_fn(|cx| {
                let mut waiting = false;
                for (index, slot) in checks.iter_mut().enumerate() {
                    let Some(check) = slot else { continue };
                    match Pin::as_mut(check).poll(cx) {
                        Poll::Ready(ok) => {
                            self.record(index, ok);
                            *slot = None;
                        }
                        Poll::Pending => waiting = true,
                    }
                }
                if waiting { Poll::Pending } else { Poll::Ready(()) }
            })
            .await;
        }
    }
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
        self.balancer.lock().nodes[self.index].active -= 1;
    }
}
