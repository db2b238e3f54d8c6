//! Sagas run per second: your code (`saga`), the reference (`saga_solution`)
//! and the naive orchestrator side by side in each group.
//!
//! ```text
//! cargo bench -p saga --features solution
//! ```
//!
//! No crate orchestrates sagas in process over SQLite, so the yardstick is
//! the code the orchestrator replaces: the naive orchestrator (`naive`) runs
//! the same steps through the same participant in one function, compensating
//! in reverse order on a refusal, with no log and no idempotency keys (every
//! key is `""`). It is what the checkout handler did before the incidents in
//! the README: as fast as the participant, and it forgets everything in a
//! crash. The gap is what durability costs: the log's commits, each one
//! flushed to disk before the next call.
//!
//! Each benchmark works on a SQLite file in a temporary directory, and starts
//! a new saga (a new id) per iteration; the participant does nothing. A part
//! of your code that still panics (`todo!()`) is skipped with a note, and only
//! the reference is measured.

use std::hint::black_box;
use std::panic::{self, AssertUnwindSafe};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// Reserve the stock, charge the card (the pivot), create the shipment.
const STEPS: [&str; 3] = ["reserve_stock", "charge_card", "create_shipment"];

/// One saga per iteration; `$declined` makes the card be declined (one
/// step, a refusal, one compensation).
macro_rules! saga {
    ($krate:ident, $b:expr, $declined:expr) => {{
        struct Services {
            declined: bool,
            work: u64,
        }
        impl $krate::Participant for Services {
            fn execute(&mut self, call: &$krate::Call<'_>) -> Result<(), $krate::Failure> {
                self.work = self
                    .work
                    .wrapping_add(black_box(call.idempotency_key.len()) as u64);
                if self.declined && call.step == "charge_card" {
                    return Err($krate::Failure("card declined".into()));
                }
                Ok(())
            }
            fn compensate(&mut self, call: &$krate::Call<'_>) -> Result<(), $krate::Failure> {
                self.work = self
                    .work
                    .wrapping_add(black_box(call.idempotency_key.len()) as u64);
                Ok(())
            }
        }
        let dir = tempfile::TempDir::new().expect("temporary directory");
        let definition = $krate::SagaDefinition::new(&STEPS, 1).expect("definition");
        let mut orchestrator =
            $krate::Orchestrator::open(dir.path().join("bench.db"), definition).expect("open");
        let mut services = Services {
            declined: $declined,
            work: 0,
        };
        let mut n = 0_u64;
        $b.iter(|| {
            n += 1;
            let status = orchestrator
                .start(&format!("order-{n}"), &mut services)
                .expect("start");
            black_box(status)
        });
        black_box(services.work);
    }};
}

/// The naive orchestrator, behind the kata's API: the steps in a row, the
/// compensations in reverse on a refusal; no log, no keys, no recovery.
mod naive {
    use std::path::Path;

    pub use saga_solution::{Call, Failure, Participant, SagaDefinition, SagaError, SagaStatus};

    pub struct Orchestrator {
        definition: SagaDefinition,
    }

    impl Orchestrator {
        pub fn open(
            _path: impl AsRef<Path>,
            definition: SagaDefinition,
        ) -> Result<Self, SagaError> {
            Ok(Self { definition })
        }

        pub fn start(
            &mut self,
            saga_id: &str,
            participant: &mut impl Participant,
        ) -> Result<SagaStatus, SagaError> {
            let steps = self.definition.steps();
            for (i, step) in steps.iter().enumerate() {
                let call = Call {
                    saga_id,
                    step,
                    idempotency_key: "",
                };
                if let Err(Failure(reason)) = participant.execute(&call) {
                    if i > self.definition.pivot() {
                        // No log to retry from: the handler gives up.
                        return Ok(SagaStatus::Running);
                    }
                    for done in steps[..i].iter().rev() {
                        let call = Call {
                            saga_id,
                            step: done,
                            idempotency_key: "",
                        };
                        // Best effort: nothing remembers a failed undo.
                        let _ = participant.compensate(&call);
                    }
                    return Ok(SagaStatus::Compensated {
                        failed_step: step.clone(),
                        reason,
                    });
                }
            }
            Ok(SagaStatus::Completed)
        }
    }
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

fn sagas(c: &mut Criterion) {
    let probe = || {
        struct Null;
        impl saga::Participant for Null {
            fn execute(&mut self, _: &saga::Call<'_>) -> Result<(), saga::Failure> {
                Ok(())
            }
            fn compensate(&mut self, _: &saga::Call<'_>) -> Result<(), saga::Failure> {
                Ok(())
            }
        }
        let dir = tempfile::TempDir::new().expect("temporary directory");
        let definition = saga::SagaDefinition::new(&STEPS, 1).expect("definition");
        let mut o =
            saga::Orchestrator::open(dir.path().join("probe.db"), definition).expect("open");
        o.start("probe", &mut Null).expect("start");
    };
    let yours = implemented("orchestrator", probe);

    for (group_name, declined) in [
        ("a saga of three steps that all succeed", false),
        ("a saga whose card is declined (one compensation)", true),
    ] {
        let mut group = c.benchmark_group(group_name);
        group.throughput(Throughput::Elements(1));
        if yours {
            group.bench_function("yours", |b| saga!(saga, b, declined));
        }
        group.bench_function("reference", |b| saga!(saga_solution, b, declined));
        group.bench_function("naive orchestrator", |b| saga!(naive, b, declined));
        group.finish();
    }
}

criterion_group!(benches, sagas);
criterion_main!(benches);
