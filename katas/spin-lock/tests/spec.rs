//! The specification of the spin-lock kata.
//!
//! Every test name is a requirement; read the failing names first. A lock
//! that is never released makes the next `lock()` spin for ever, so every
//! call that could wait runs on a thread of its own and the spec fails (it
//! does not hang) if the call has not returned within a few seconds. Nothing
//! here sleeps to wait for a result.
//!
//! The orderings (`Acquire`/`Release` against `Relaxed`) and the races of a
//! check-then-set are judged by the loom models in `tests/loom.rs`: a stress
//! test on x86 cannot see them.
//!
//! `cargo test -p spin-lock` judges your code;
//! `cargo test -p spin-lock --features solution` judges the reference.

// The loom build (`--cfg kata_loom`) runs tests/loom.rs only.
#![cfg(not(kata_loom))]

#[cfg(not(feature = "solution"))]
use spin_lock as subject;
#[cfg(feature = "solution")]
use spin_lock_solution as subject;

use std::cell::{Cell, RefCell};
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, MutexGuard};
use std::thread;
use std::time::Duration;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use subject::{SpinLock, SpinLockGuard};

// ───────────────────────────── helpers ─────────────────────────────

/// How long a call that should return promptly may take before the spec
/// calls it stuck. Generous: the machine may be busy.
const PATIENCE: Duration = Duration::from_secs(3);

/// How long a thread gets to (wrongly) get past a lock that is held before
/// the spec concludes that it waits. Only ever used to give a thread the
/// chance to block, never to wait for a result.
const GRACE: Duration = Duration::from_millis(100);

/// Runs `f` on a thread of its own and returns what it returns, or fails the
/// spec if it has not returned within `PATIENCE`: a `lock()` of a lock that
/// was never released spins for ever, and must fail the spec, not hang it.
/// A panic inside `f` (an assertion, a `todo!()`) fails the spec as it is.
fn within<R: Send + 'static>(what: &str, f: impl FnOnce() -> R + Send + 'static) -> R {
    let (done, result) = mpsc::channel();
    let worker = thread::spawn(move || {
        // The receiver is gone only if the spec already failed on time.
        let _ = done.send(f());
    });
    match result.recv_timeout(PATIENCE) {
        Ok(value) => value,
        Err(RecvTimeoutError::Timeout) => panic!(
            "{what}: still not done after {PATIENCE:?}. Something waits for a lock that is \
             held (a try_lock() or a Debug that waits instead of returning) or that was never \
             released (a guard whose drop did not give it back)"
        ),
        Err(RecvTimeoutError::Disconnected) => match worker.join() {
            Err(payload) => panic::resume_unwind(payload),
            Ok(()) => unreachable!("the worker returned without sending its result"),
        },
    }
}

/// Whether a type is `Send` and `Sync`, asked at run time so that a wrong
/// answer fails one spec instead of the whole file failing to compile. The
/// inherent functions exist only when the bound holds, and then shadow the
/// trait's, which answer `false`.
struct Is<T: ?Sized>(PhantomData<T>);

trait Otherwise {
    fn send() -> bool {
        false
    }

    fn sync() -> bool {
        false
    }
}

impl<T: ?Sized> Otherwise for Is<T> {}

impl<T: ?Sized + Send> Is<T> {
    fn send() -> bool {
        true
    }
}

impl<T: ?Sized + Sync> Is<T> {
    fn sync() -> bool {
        true
    }
}

// ─────────────── One holder at a time, and the value it sees ───────────────

#[test]
fn a_new_lock_is_free_and_holds_the_value_it_was_given() {
    let seen = within("try_lock() on a new lock", || {
        let lock = SpinLock::new(String::from("config v1"));
        let guard = lock.try_lock();
        guard.map(|guard| guard.clone())
    });
    assert_eq!(
        seen.as_deref(),
        Some("config v1"),
        "try_lock() on SpinLock::new(\"config v1\") should take the free lock and show the value"
    );
}

#[test]
fn dropping_the_guard_releases_the_lock() {
    let (again, relocked) = within("lock(), drop the guard, then take the lock again", || {
        let lock = SpinLock::new(0u32);
        drop(lock.lock());
        let again = lock.try_lock().is_some();
        drop(lock.lock());
        (again, lock.try_lock().is_some())
    });
    assert!(
        again,
        "try_lock() right after the guard of lock() was dropped should take the lock"
    );
    assert!(
        relocked,
        "the lock should be free again after a second lock() and its guard dropped"
    );
}

#[test]
fn writes_through_the_guard_are_seen_by_the_next_holder() {
    let (seen, value) = within("lock(), write, drop, lock() again", || {
        let lock = SpinLock::new(vec![1, 2]);
        lock.lock().push(3);
        {
            let mut guard = lock.lock();
            guard.push(4);
        }
        let seen = lock.lock().clone();
        (seen, lock.into_inner())
    });
    assert_eq!(
        seen,
        [1, 2, 3, 4],
        "SpinLock::new(vec![1, 2]) after pushing 3 and 4 under two guards: the next holder \
         should see every write"
    );
    assert_eq!(
        value,
        [1, 2, 3, 4],
        "into_inner() should hand back the value with every write made under the lock"
    );
}

#[test]
fn get_mut_and_into_inner_reach_the_value_without_locking() {
    let value = within("get_mut() and into_inner()", || {
        let mut lock = SpinLock::new(vec![1]);
        lock.get_mut().push(2);
        lock.lock().push(3);
        lock.get_mut().push(4);
        lock.into_inner()
    });
    assert_eq!(
        value,
        [1, 2, 3, 4],
        "get_mut() and lock() reach the same value: pushing 2 (get_mut), 3 (lock), \
         4 (get_mut) onto vec![1] should give [1, 2, 3, 4]"
    );
}

#[test]
fn try_lock_returns_none_while_the_lock_is_held() {
    let (second, after) = within("try_lock() while this thread holds the guard", || {
        let lock = SpinLock::new(0u32);
        let guard = lock.lock();
        let second = lock.try_lock().is_some();
        drop(guard);
        (second, lock.try_lock().is_some())
    });
    assert!(
        !second,
        "try_lock() while a guard exists should return None: one holder at a time"
    );
    assert!(
        after,
        "try_lock() once the guard is dropped should take the lock"
    );
}

#[test]
fn try_lock_returns_at_once_while_another_thread_holds_the_lock() {
    let lock = Arc::new(SpinLock::new(0u32));
    let guard = lock.lock();
    let (answered, answer) = mpsc::channel();
    let contender = {
        let lock = Arc::clone(&lock);
        thread::spawn(move || {
            let taken = lock.try_lock().is_some();
            let _ = answered.send(taken);
        })
    };
    let answer = answer.recv_timeout(PATIENCE);
    // Release, so that a try_lock() that waits can finish and be joined.
    drop(guard);
    let _ = contender.join();
    match answer {
        Ok(taken) => assert!(
            !taken,
            "try_lock() while another thread holds the lock should return None"
        ),
        Err(_) => panic!(
            "try_lock() while another thread held the lock did not return within \
             {PATIENCE:?}: it must make one attempt and return None, never wait"
        ),
    }
}

#[test]
fn lock_waits_for_the_holder_and_then_sees_its_writes() {
    let lock = Arc::new(SpinLock::new(0u32));
    let mut guard = lock.lock();
    let (seen, value) = mpsc::channel();
    let waiter = {
        let lock = Arc::clone(&lock);
        thread::spawn(move || {
            let value = *lock.lock();
            let _ = seen.send(value);
        })
    };
    // Give the waiter a chance to get past the held lock, which it must not.
    let early = value.recv_timeout(GRACE);
    *guard = 42;
    drop(guard);
    let late = value.recv_timeout(PATIENCE);
    if let Ok(early) = early {
        panic!("lock() returned (and read {early}) while another thread held the lock");
    }
    assert_eq!(
        late,
        Ok(42),
        "lock() should return once the holder drops its guard, and see the 42 it wrote"
    );
    waiter.join().expect("the waiting thread panicked");
}

#[test]
fn no_increment_is_lost_when_threads_race_for_the_lock() {
    const THREADS: usize = 3;
    const ROUNDS: usize = 5_000;
    let (count, overlaps) = within("threads incrementing under the lock", || {
        let lock = Arc::new(SpinLock::new(0usize));
        let inside = Arc::new(AtomicUsize::new(0));
        let overlaps = Arc::new(AtomicUsize::new(0));
        let workers: Vec<_> = (0..THREADS)
            .map(|_| {
                let (lock, inside, overlaps) = (
                    Arc::clone(&lock),
                    Arc::clone(&inside),
                    Arc::clone(&overlaps),
                );
                thread::spawn(move || {
                    for _ in 0..ROUNDS {
                        let mut guard = lock.lock();
                        if inside.fetch_add(1, Ordering::SeqCst) != 0 {
                            overlaps.fetch_add(1, Ordering::SeqCst);
                        }
                        *guard += 1;
                        inside.fetch_sub(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.join().expect("an incrementing thread panicked");
        }
        let count = *lock.lock();
        (count, overlaps.load(Ordering::SeqCst))
    });
    assert_eq!(
        overlaps, 0,
        "{THREADS} threads × {ROUNDS} locked increments: a thread found another one already \
         holding the lock {overlaps} times (taking the lock must be one atomic step)"
    );
    assert_eq!(
        count,
        THREADS * ROUNDS,
        "{THREADS} threads × {ROUNDS} increments under the lock should count {}: \
         increments were lost",
        THREADS * ROUNDS
    );
}

// ──────────────────── Release on every path, panics included ────────────────────

#[test]
fn get_mut_and_into_inner_reach_the_value_even_after_a_guard_was_leaked() {
    let value = within(
        "get_mut() and into_inner() after mem::forget(guard)",
        || {
            let mut lock = SpinLock::new(vec![1]);
            std::mem::forget(lock.lock());
            lock.get_mut().push(2);
            lock.into_inner()
        },
    );
    assert_eq!(
        value,
        [1, 2],
        "after a guard was leaked with mem::forget, get_mut() should still reach the value at \
         once: `&mut self` already proves nobody else has it, so it must not take the lock \
         (which a leaked guard keeps held for ever)"
    );
}

#[test]
fn releases_the_lock_when_the_holder_panics() {
    let (panicked, after) = within("lock(), panic while holding it, then try_lock()", || {
        let lock = SpinLock::new(0u32);
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
            let mut guard = lock.lock();
            *guard = 7;
            panic!("the holder panics with the lock held");
        }));
        (outcome.is_err(), lock.try_lock().map(|guard| *guard))
    });
    assert!(
        panicked,
        "the closure holding the guard should have panicked"
    );
    assert_eq!(
        after,
        Some(7),
        "after a holder wrote 7 and panicked, the unwinding should have dropped its guard and \
         released the lock: try_lock() should take it and see the 7 (there is no poisoning)"
    );
}

#[test]
fn a_thread_that_panics_while_holding_the_lock_does_not_block_the_others() {
    let lock = Arc::new(SpinLock::new(Vec::<u32>::new()));
    let doomed = {
        let lock = Arc::clone(&lock);
        thread::spawn(move || {
            let mut guard = lock.lock();
            guard.push(1);
            panic!("a worker dies holding the lock");
        })
    };
    assert!(
        doomed.join().is_err(),
        "the worker holding the lock should have panicked"
    );
    let seen = within(
        "lock() after a worker panicked holding the lock",
        move || {
            let mut guard = lock.lock();
            guard.push(2);
            guard.clone()
        },
    );
    assert_eq!(
        seen,
        [1, 2],
        "the next lock() after a worker pushed 1 and panicked should take the lock and see [1]"
    );
}

// ─────────────────────────── Send and Sync ───────────────────────────

#[test]
fn a_lock_is_send_and_sync_exactly_when_its_value_is_send() {
    assert!(
        Is::<SpinLock<u64>>::sync() && Is::<SpinLock<u64>>::send(),
        "SpinLock<u64> should be Send and Sync (write `unsafe impl Sync`: the cell inside is \
         not Sync on its own)"
    );
    assert!(
        Is::<SpinLock<Cell<u32>>>::sync() && Is::<SpinLock<RefCell<Vec<u32>>>>::sync(),
        "SpinLock<Cell<u32>> and SpinLock<RefCell<Vec<u32>>> should be Sync: the lock gives the \
         value to one thread at a time, so it needs `T: Send`, not `T: Sync`"
    );
    assert!(
        Is::<SpinLock<Cell<u32>>>::send(),
        "SpinLock<Cell<u32>> should be Send: Cell<u32> is"
    );
    assert!(
        !Is::<SpinLock<Rc<u32>>>::sync() && !Is::<SpinLock<Rc<u32>>>::send(),
        "SpinLock<Rc<u32>> should be neither Sync nor Send: an Rc's count is not atomic, so it \
         must never reach another thread, lock or no lock (`unsafe impl<T> Sync` needs `T: Send`)"
    );
    assert!(
        !Is::<SpinLock<MutexGuard<'static, u32>>>::sync(),
        "SpinLock<MutexGuard<u32>> should not be Sync: a MutexGuard is Sync but not Send, and \
         sharing the lock sends the value to whichever thread takes it"
    );
    // The spec cannot fail on the stub through traits alone: use the lock too.
    let value = within("lock() of a SpinLock<Cell<u32>>", || {
        let lock = SpinLock::new(Cell::new(1));
        lock.lock().set(2);
        lock.into_inner().get()
    });
    assert_eq!(value, 2, "a Cell set to 2 under the lock should read 2");
}

#[test]
fn followup_a_guard_is_sync_only_when_its_value_is_sync() {
    let value = within("lock() of a SpinLock<u32>", || *SpinLock::new(5u32).lock());
    assert_eq!(value, 5, "the guard of SpinLock::new(5) should show 5");
    assert!(
        Is::<SpinLockGuard<'static, u32>>::sync(),
        "SpinLockGuard<u32> should be Sync, as std's MutexGuard<u32> is: threads sharing \
         &guard only read a u32"
    );
    assert!(
        !Is::<SpinLockGuard<'static, Cell<u32>>>::sync(),
        "SpinLockGuard<Cell<u32>> must not be Sync: two threads sharing &guard would both get \
         &Cell<u32> and set it at once. A guard holding `&SpinLock<T>` is Sync whenever the lock \
         is (T: Send); it needs `unsafe impl<T: Sync> Sync` of its own (std's MutexGuard had \
         this very bug until Rust 1.19)"
    );
}

// ───────────────────────────── Debug ─────────────────────────────

#[test]
fn followup_debug_shows_the_value_or_locked_without_waiting() {
    let (free, held, guard) = within("formatting a lock this thread holds", || {
        let lock = SpinLock::new(vec![7, 8]);
        let free = format!("{lock:?}");
        let guard = lock.lock();
        let held = format!("{lock:?}");
        let shown = format!("{guard:?}");
        drop(guard);
        (free, held, shown)
    });
    assert!(
        free.contains("[7, 8]"),
        "{{:?}} of a free SpinLock::new(vec![7, 8]) should show the value, got {free:?}"
    );
    assert!(
        held.contains("<locked>") && !held.contains("[7, 8]"),
        "{{:?}} of a held lock should say <locked> (and return at once: it cannot wait for a \
         lock that may be held by the very thread formatting it), got {held:?}"
    );
    assert_eq!(
        guard, "[7, 8]",
        "{{:?}} of a guard should be the value's own Debug"
    );
}

/// A value whose `Debug` panics: a bug in a value's own formatting must not
/// cost the lock around it.
struct PanicsWhenFormatted;

impl std::fmt::Debug for PanicsWhenFormatted {
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        panic!("this value's Debug panics");
    }
}

/// A writer that refuses every write, as a log sink on a closed pipe does.
struct ClosedPipe;

impl std::fmt::Write for ClosedPipe {
    fn write_str(&mut self, _: &str) -> std::fmt::Result {
        Err(std::fmt::Error)
    }
}

#[test]
fn followup_debug_gives_the_lock_back_when_formatting_fails_or_panics() {
    let (failed, after_error, panicked, after_panic) = within(
        "formatting a lock into a failing writer, and a value whose Debug panics",
        || {
            use std::fmt::Write as _;
            let lock = SpinLock::new(vec![7u32]);
            let failed = write!(ClosedPipe, "{lock:?}").is_err();
            let after_error = lock.try_lock().map(|guard| guard.clone());
            let panicking = SpinLock::new(PanicsWhenFormatted);
            let panicked =
                panic::catch_unwind(AssertUnwindSafe(|| format!("{panicking:?}"))).is_err();
            let after_panic = panicking.try_lock().is_some();
            (failed, after_error, panicked, after_panic)
        },
    );
    assert!(
        failed,
        "{{:?}} of a lock into a writer that refuses every write should report the error"
    );
    assert_eq!(
        after_error,
        Some(vec![7]),
        "after {{:?}} of a free lock failed on its writer (a log line to a closed pipe), the \
         lock should be free again: Debug must give the lock back on the error path too"
    );
    assert!(
        panicked,
        "formatting a value whose Debug panics should panic"
    );
    assert!(
        after_panic,
        "after the value's own Debug panicked while the lock was being formatted, the lock \
         should be free again: take it with a guard, whose drop runs while the panic unwinds"
    );
}

// ─────────────────── Model-based: one flag and one value ───────────────────

/// One step of a single thread driving a lock and at most one guard.
#[derive(Debug, Clone)]
enum Step {
    /// `try_lock()`, keeping the guard if one is returned.
    TryLock,
    /// `lock()`, only taken when the model says the lock is free (otherwise
    /// it would rightly spin for ever on this thread).
    Lock,
    /// Write through the held guard, if any.
    Write(u8),
    /// Read through the held guard, if any.
    Read,
    /// Drop the held guard, if any.
    Release,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => Just(Step::TryLock),
        1 => Just(Step::Lock),
        2 => any::<u8>().prop_map(Step::Write),
        1 => Just(Step::Read),
        2 => Just(Step::Release),
    ]
}

/// Runs `steps` against a `SpinLock<u8>` and a model of it (is it held, and
/// what value), failing on the first disagreement.
fn agrees_with_the_model(steps: &[Step]) -> Result<(), TestCaseError> {
    let lock = SpinLock::new(0u8);
    let mut guard: Option<SpinLockGuard<'_, u8>> = None;
    let mut model_value = 0u8;
    for (i, step) in steps.iter().enumerate() {
        let held = guard.is_some();
        match step {
            Step::TryLock => {
                let taken = lock.try_lock();
                prop_assert_eq!(
                    taken.is_some(),
                    !held,
                    "step {} ({:?}): try_lock() should take the lock exactly when no guard \
                     exists (a guard exists: {})",
                    i,
                    step,
                    held
                );
                if let Some(taken) = taken {
                    guard = Some(taken);
                }
            }
            Step::Lock if !held => guard = Some(lock.lock()),
            Step::Write(value) => {
                if let Some(guard) = guard.as_mut() {
                    **guard = *value;
                    model_value = *value;
                }
            }
            Step::Read => {
                if let Some(guard) = guard.as_ref() {
                    prop_assert_eq!(
                        **guard,
                        model_value,
                        "step {}: the guard should show the last value written under the lock",
                        i
                    );
                }
            }
            Step::Release => guard = None,
            Step::Lock => {}
        }
    }
    drop(guard);
    prop_assert_eq!(
        lock.into_inner(),
        model_value,
        "into_inner() should return the last value written under the lock"
    );
    Ok(())
}

#[test]
fn try_lock_lock_and_release_agree_with_a_model_of_one_holder() {
    // The whole property runs on a thread of its own, so that a try_lock()
    // that waits fails the spec instead of hanging it.
    let outcome = within(
        "random sequences of try_lock, lock, writes and releases",
        || {
            let mut runner = TestRunner::new(Config {
                cases: 128,
                failure_persistence: None,
                ..Config::default()
            });
            runner
                .run(&vec(step(), 1..40), |steps| agrees_with_the_model(&steps))
                .map_err(|failure| failure.to_string())
        },
    );
    if let Err(failure) = outcome {
        panic!("{failure}");
    }
}
