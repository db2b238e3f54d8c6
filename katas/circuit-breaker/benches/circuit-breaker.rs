//! Calls per second through a breaker: your code (`circuit_breaker`), the
//! reference (`circuit_breaker_solution`) and `failsafe` 1, the circuit
//! breaker crate Rust services ship, side by side in each group.
//!
//! ```text
//! cargo bench -p circuit-breaker --features solution
//! ```
//!
//! `Breaker` is the state machine alone: one `try_acquire` and one `record`
//! per call, under traffic with a failure in every eight calls and a
//! failure-rate window of 100, so the window turns over and the breaker stays
//! closed. `CircuitBreaker::call` is the same traffic through the async
//! breaker on a current-thread tokio runtime, with a dependency that answers
//! at once: what the breaker adds to every call. A part of your code that
//! still panics (`todo!()`) is skipped with a note, and only the reference
//! (and failsafe) is measured.
//!
//! How failsafe is compared fairly: [`failsafe_peer`] wraps it behind the
//! kata's API with both of its triggers on, as the kata's `Config` has them:
//! five failures in a row, or a success rate below 50% after 20 calls. Its
//! failure rate is an exponential moving average over a time window (here
//! 1s, its shortest) rather than the last 100 calls, and its half-open state
//! admits every call rather than a few probes; under this traffic neither
//! trips, and both admit every call (checked on 100,000 calls before the
//! state machines are measured). failsafe reads the time from its own clock:
//! for the state machine, whose time the kata passes in, the bench freezes
//! that clock (`failsafe::clock::freeze`, its test hook) and advances it by
//! the same 100ns per call; through `call`, both read the real clock.
//! failsafe's breaker has no transition channel and no guard for a cancelled
//! call; its state sits under a `parking_lot` mutex behind an `Arc` that
//! every call clones.

use std::hint::black_box;
use std::panic::{self, AssertUnwindSafe};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// Trips only at 50% failures over the last 100 calls: never, under this
/// traffic.
macro_rules! config {
    ($krate:ident) => {
        $krate::Config {
            consecutive_failures: 5,
            failure_rate_percent: 50,
            window: 100,
            minimum_calls: 20,
            open_timeout: Duration::from_secs(30),
            half_open_probes: 3,
        }
    };
}

/// One call through the state machine of `$krate`: admit, then record.
macro_rules! state_machine {
    ($krate:ident) => {{
        let t0 = Instant::now();
        let mut breaker = $krate::Breaker::new(config!($krate));
        let mut tick = 0u64;
        move || {
            tick += 1;
            let now = t0 + Duration::from_nanos(tick * 100);
            let admitted = breaker.try_acquire(now);
            if let Ok(permit) = admitted {
                let outcome = if tick % 8 == 0 {
                    $krate::Outcome::Failure
                } else {
                    $krate::Outcome::Success
                };
                breaker.record(permit, outcome, now);
                true
            } else {
                false
            }
        }
    }};
}

/// `calls` calls through the async breaker of `$krate` on `runtime`.
macro_rules! async_calls {
    ($krate:ident, $runtime:expr, $calls:expr) => {{
        let breaker = $krate::CircuitBreaker::new(config!($krate));
        $runtime.block_on(async {
            let mut ok = 0u64;
            for tick in 0..$calls {
                let result = breaker
                    .call(|| async move { if tick % 8 == 0 { Err(tick) } else { Ok(tick) } })
                    .await;
                ok += u64::from(result.is_ok());
            }
            ok
        })
    }};
}

/// Whether `probe` runs without panicking, with the panic message silenced:
/// your code may still be `todo!()`.
fn implemented(what: &str, probe: impl FnOnce()) -> bool {
    let hook = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let ok = panic::catch_unwind(AssertUnwindSafe(probe)).is_ok();
    panic::set_hook(hook);
    if !ok {
        eprintln!("note: your {what} panics (still todo!()?): measuring only the reference");
    }
    ok
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a current-thread tokio runtime")
}

fn calls_per_second(c: &mut Criterion) {
    let mut group = c.benchmark_group("Breaker::try_acquire+record");
    group.throughput(Throughput::Elements(1));
    if implemented("Breaker", || {
        let mut call = state_machine!(circuit_breaker);
        call();
    }) {
        group.bench_function("yours", |b| {
            let mut call = state_machine!(circuit_breaker);
            b.iter(|| black_box(call()));
        });
    }
    group.bench_function("reference", |b| {
        let mut call = state_machine!(circuit_breaker_solution);
        b.iter(|| black_box(call()));
    });
    failsafe::clock::freeze(|clock| {
        let (mut reference, mut peer) = (
            state_machine!(circuit_breaker_solution),
            state_machine!(failsafe_peer),
        );
        for call in 0..CHECKED {
            clock.advance(Duration::from_nanos(100));
            let (ours, theirs) = (reference(), peer());
            assert!(
                ours && theirs,
                "Breaker: failsafe or the reference rejected call {call}: the traffic should trip neither"
            );
        }
        group.bench_function(failsafe_peer::NAME, |b| {
            let mut call = state_machine!(failsafe_peer);
            b.iter(|| {
                clock.advance(Duration::from_nanos(100));
                black_box(call())
            });
        });
    });
    group.finish();

    let runtime = runtime();
    let mut group = c.benchmark_group("CircuitBreaker::call");
    group.throughput(Throughput::Elements(1));
    if implemented("CircuitBreaker", || {
        black_box(async_calls!(circuit_breaker, runtime, 1u64));
    }) {
        group.bench_function("yours", |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                black_box(async_calls!(circuit_breaker, runtime, iters));
                start.elapsed()
            });
        });
    }
    group.bench_function("reference", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            black_box(async_calls!(circuit_breaker_solution, runtime, iters));
            start.elapsed()
        });
    });
    group.bench_function(failsafe_peer::NAME, |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            black_box(async_calls!(failsafe_peer, runtime, iters));
            start.elapsed()
        });
    });
    group.finish();
}

/// Calls checked admitted by both breakers before the state machines are
/// measured.
const CHECKED: usize = 100_000;

/// failsafe 1 behind the kata's API, so that the bench's macros drive it
/// exactly as they drive the reference.
mod failsafe_peer {
    use std::future::Future;
    use std::time::{Duration, Instant};

    use failsafe::backoff::{self, Constant};
    use failsafe::failure_policy::{self, ConsecutiveFailures, OrElse, SuccessRateOverTimeWindow};
    use failsafe::futures::CircuitBreaker as _;
    use failsafe::{Error, FailurePolicy as _, StateMachine};

    pub use circuit_breaker_solution::{CallError, Config, Outcome, Rejected};

    /// The contender's name in the report.
    pub const NAME: &str = "failsafe 1";

    /// failsafe counts its success rate over whole seconds.
    const RATE_WINDOW: Duration = Duration::from_secs(1);

    type Policy = OrElse<SuccessRateOverTimeWindow<Constant>, ConsecutiveFailures<Constant>>;

    /// Both triggers of `config`, open for `open_timeout`, in failsafe's
    /// terms (as its default `Config::new()` combines them).
    fn state_machine(config: Config) -> StateMachine<Policy, ()> {
        let open_for = backoff::constant(config.open_timeout);
        let required_success_rate = 1.0 - f64::from(config.failure_rate_percent) / 100.0;
        let policy = failure_policy::success_rate_over_time_window(
            required_success_rate,
            config.minimum_calls,
            RATE_WINDOW,
            open_for.clone(),
        )
        .or_else(failure_policy::consecutive_failures(
            config.consecutive_failures,
            open_for,
        ));
        failsafe::Config::new().failure_policy(policy).build()
    }

    /// failsafe's permission carries nothing: a result always counts.
    pub struct Permit;

    /// failsafe's state machine, with the time it reads from its own clock.
    pub struct Breaker(StateMachine<Policy, ()>);

    impl Breaker {
        pub fn new(config: Config) -> Self {
            Breaker(state_machine(config))
        }

        pub fn try_acquire(&mut self, _now: Instant) -> Result<Permit, Rejected> {
            if self.0.is_call_permitted() {
                Ok(Permit)
            } else {
                Err(Rejected)
            }
        }

        pub fn record(&mut self, _permit: Permit, outcome: Outcome, _now: Instant) {
            match outcome {
                Outcome::Success => self.0.on_success(),
                Outcome::Failure => self.0.on_error(),
            }
        }
    }

    /// failsafe's future-aware breaker: `call` wraps the dependency's future.
    pub struct CircuitBreaker(StateMachine<Policy, ()>);

    impl CircuitBreaker {
        pub fn new(config: Config) -> Self {
            CircuitBreaker(state_machine(config))
        }

        /// failsafe takes the future, not the function that makes it: `f`
        /// runs even when the call is rejected (the future is then dropped
        /// unpolled).
        pub async fn call<F, Fut, T, E>(&self, f: F) -> Result<T, CallError<E>>
        where
            F: FnOnce() -> Fut,
            Fut: Future<Output = Result<T, E>>,
        {
            self.0.call(f()).await.map_err(|error| match error {
                Error::Rejected => CallError::Rejected,
                Error::Inner(error) => CallError::Failed(error),
            })
        }
    }
}

criterion_group!(benches, calls_per_second);
criterion_main!(benches);
