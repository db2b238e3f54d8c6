//! Wrong: health counts failures (and successes) in total instead of in a
//! row: a result that agrees with the backend's state does not reset the
//! streak.
//!
//! Why candidates write it: `fails += 1; if fails >= down_after { down }` is
//! what "down after 3 failures" sounds like. But a healthy backend that
//! fails one check a day is then taken down on the third day, and a
//! flapping one that passes every other check comes back as if it had
//! recovered. nginx's `max_fails` counts within `fail_timeout` for the same
//! reason; HAProxy's `fall`/`rise` count in a row.
//!
//! Caught by: `a_good_check_resets_the_failure_streak`,
//! `a_failed_check_resets_the_success_streak` and
//! `picks_leases_and_health_reports_agree_with_a_model`.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

pub use load_balancer_solution::{
    Backend, Health, HealthThresholds, NoBackend, Strategy, UnknownBackend,
};

#[derive(Debug)]
pub struct LoadBalancer {
    backends: Vec<Backend>,
    strategy: Strategy,
    thresholds: HealthThresholds,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    up: Vec<bool>,
    streak: Vec<u32>,
    active: Vec<usize>,
    current: Vec<i64>,
    cursor: usize,
    rng: u64,
}

impl State {
    /// SplitMix64.
    fn next_u64(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    fn ups(&self) -> Vec<usize> {
        (0..self.up.len()).filter(|&i| self.up[i]).collect()
    }

    fn round_robin(&mut self) -> Option<usize> {
        let n = self.up.len();
        let index = (0..n)
            .map(|offset| (self.cursor + offset) % n)
            .find(|&i| self.up[i])?;
        self.cursor = (index + 1) % n;
        Some(index)
    }

    fn smooth_weighted(&mut self, backends: &[Backend]) -> Option<usize> {
        let mut total = 0;
        let mut best: Option<usize> = None;
        for i in 0..backends.len() {
            if !self.up[i] {
                continue;
            }
            self.current[i] += i64::from(backends[i].weight);
            total += i64::from(backends[i].weight);
            if best.is_none_or(|b| self.current[i] > self.current[b]) {
                best = Some(i);
            }
        }
        let best = best?;
        self.current[best] -= total;
        Some(best)
    }

    fn least_connections(&mut self) -> Option<usize> {
        self.ups().into_iter().min_by_key(|&i| self.active[i])
    }

    fn power_of_two(&mut self) -> Option<usize> {
        let ups = self.ups();
        match ups.len() {
            0 => None,
            1 => Some(ups[0]),
            n => {
                let first = self.below(n);
                let mut second = self.below(n - 1);
                if second >= first {
                    second += 1;
                }
                let (a, b) = (ups[first], ups[second]);
                Some(if self.active[b] < self.active[a] {
                    b
                } else {
                    a
                })
            }
        }
    }
}

impl LoadBalancer {
    pub fn new(backends: Vec<Backend>, strategy: Strategy) -> Self {
        let n = backends.len();
        let rng = match strategy {
            Strategy::PowerOfTwoChoices { seed } => seed,
            _ => 0,
        };
        LoadBalancer {
            backends,
            strategy,
            thresholds: HealthThresholds::default(),
            state: Mutex::new(State {
                up: vec![true; n],
                streak: vec![0; n],
                active: vec![0; n],
                current: vec![0; n],
                cursor: 0,
                rng,
            }),
        }
    }

    pub fn with_thresholds(mut self, thresholds: HealthThresholds) -> Self {
        self.thresholds = thresholds;
        self
    }

    pub fn pick(&self) -> Result<Lease<'_>, NoBackend> {
        let mut state = self.lock();
        let index = match self.strategy {
            Strategy::RoundRobin => state.round_robin(),
            Strategy::SmoothWeighted => state.smooth_weighted(&self.backends),
            Strategy::LeastConnections => state.least_connections(),
            Strategy::PowerOfTwoChoices { .. } => state.power_of_two(),
        }
        .ok_or(NoBackend)?;
        state.active[index] += 1;
        Ok(Lease {
            balancer: self,
            index,
        })
    }

    pub fn report_health(&self, name: &str, ok: bool) -> Result<Health, UnknownBackend> {
        let index = self
            .index_of(name)
            .ok_or_else(|| UnknownBackend(name.to_owned()))?;
        Ok(self.record(index, ok))
    }

    pub fn health(&self, name: &str) -> Option<Health> {
        let index = self.index_of(name)?;
        Some(if self.lock().up[index] {
            Health::Up
        } else {
            Health::Down
        })
    }

    pub fn active_connections(&self, name: &str) -> Option<usize> {
        let index = self.index_of(name)?;
        Some(self.lock().active[index])
    }

    pub async fn run_health_checks(
        &self,
        interval: Duration,
        timeout: Duration,
        probe: impl AsyncFn(&str) -> bool,
    ) {
        let mut rounds = tokio::time::interval(interval);
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
        if ok != state.up[index] {
            state.streak[index] += 1;
            let threshold = if state.up[index] {
                self.thresholds.down_after
            } else {
                self.thresholds.up_after
            };
            if state.streak[index] >= threshold {
                state.up[index] = !state.up[index];
                state.streak[index] = 0;
            }
        }
        if state.up[index] {
            Health::Up
        } else {
            Health::Down
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[derive(Debug)]
pub struct Lease<'a> {
    balancer: &'a LoadBalancer,
    index: usize,
}

impl Lease<'_> {
    pub fn backend(&self) -> &str {
        &self.balancer.backends[self.index].name
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        self.balancer.lock().active[self.index] -= 1;
    }
}
