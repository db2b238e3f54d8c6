//! Loom model checks of `SpinLock`: every interleaving of a few threads (up
//! to the preemption bound) is run, and loom's memory model lets a `Relaxed`
//! load see any value the C++/Rust memory model allows, not just the one an
//! x86 machine would show. So a check-then-set race that a stress test hits
//! once in a million runs, and an ordering too weak to publish the data,
//! which x86 never shows at all, fail here every time.
//!
//! Built only under the project's own cfg, with the lock's `crate::sync`
//! switched to loom's primitives:
//!
//! ```text
//! RUSTFLAGS="--cfg kata_loom" cargo test -p spin-lock --test loom \
//!     --profile loom --target-dir target/loom
//! ```
//!
//! A "Causality violation" panic is loom's `UnsafeCell` reporting a data
//! race: a holder reached the value without the previous holder's accesses
//! being ordered before its own (two holders at once, or taking the lock is
//! not `Acquire`, or giving it back not `Release`); `LOOM_LOCATION=1` shows
//! where. "Model exceeded maximum number of branches" means a thread spun
//! without calling `crate::sync::spin_loop()`, or waited for a lock that was
//! never released.
//!
//! Each model has two threads contending for the lock: loom cannot finish
//! exploring three threads that spin on one lock, whatever the lock.
//! `LOOM_MAX_PREEMPTIONS` overrides the default bound of 3.
#![cfg(kata_loom)]

#[cfg(not(feature = "solution"))]
use spin_lock as subject;
#[cfg(feature = "solution")]
use spin_lock_solution as subject;

use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use loom::thread;
use subject::SpinLock;

/// Explores every interleaving of `model` up to the preemption bound (3
/// unless `LOOM_MAX_PREEMPTIONS` says otherwise). No time or permutation
/// limit: a model that stops early would pass without checking.
fn check(model: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound.get_or_insert(3);
    builder.check(model);
}

#[test]
fn two_threads_never_hold_the_lock_at_once() {
    check(|| {
        let lock = Arc::new(SpinLock::new(0usize));
        let holders = Arc::new(AtomicUsize::new(0));
        let hold = {
            let (lock, holders) = (Arc::clone(&lock), Arc::clone(&holders));
            move || {
                let mut guard = lock.lock();
                let others = holders.fetch_add(1, Ordering::SeqCst);
                assert_eq!(
                    others, 0,
                    "a thread took the lock while another thread held it: checking that the \
                     lock is free and taking it must be one atomic step (swap or \
                     compare_exchange), not a load followed by a store"
                );
                *guard += 1;
                holders.fetch_sub(1, Ordering::SeqCst);
            }
        };
        let other = {
            let hold = hold.clone();
            thread::spawn(hold)
        };
        hold();
        other.join().expect("the other thread panicked");
        assert_eq!(
            *lock.lock(),
            2,
            "two threads each incremented once under the lock"
        );
    });
}

#[test]
fn no_increment_is_lost_when_two_threads_race_for_the_lock() {
    check(|| {
        let lock = Arc::new(SpinLock::new(0usize));
        // A second counter outside the lock's cell, read and written with
        // Relaxed loads and stores under the lock: only the lock's own
        // Acquire and Release order them, whatever the lock keeps its value in.
        let shadow = Arc::new(AtomicUsize::new(0));
        let increment = {
            let (lock, shadow) = (Arc::clone(&lock), Arc::clone(&shadow));
            move || {
                let mut guard = lock.lock();
                *guard += 1;
                let seen = shadow.load(Ordering::Relaxed);
                shadow.store(seen + 1, Ordering::Relaxed);
            }
        };
        let other = thread::spawn(increment.clone());
        increment();
        other.join().expect("the other thread panicked");
        assert_eq!(
            *lock.lock(),
            2,
            "two threads each incremented the locked value once: an increment was lost"
        );
        assert_eq!(
            shadow.load(Ordering::Relaxed),
            2,
            "two threads each incremented a counter once while holding the lock, but the \
             second read a stale count: taking the lock must be Acquire and giving it back \
             Release, so that each holder sees what the previous one wrote"
        );
    });
}

#[test]
fn a_value_written_under_the_lock_is_seen_by_the_next_holder() {
    check(|| {
        let lock = Arc::new(SpinLock::new(String::new()));
        let writer = {
            let lock = Arc::clone(&lock);
            thread::spawn(move || lock.lock().push_str("ready"))
        };
        let seen = lock.lock().clone();
        assert!(
            seen.is_empty() || seen == "ready",
            "the next holder should see the value before the write or after it, never torn: \
             got {seen:?}"
        );
        writer.join().expect("the writing thread panicked");
        assert_eq!(*lock.lock(), "ready", "the write under the lock was lost");
    });
}

#[test]
fn writes_to_other_memory_under_the_lock_are_published_with_it() {
    check(|| {
        // The lock guards two plain flags: whoever sees `ready` set under the
        // lock must also see the `data` written before it under the lock.
        let lock = Arc::new(SpinLock::new(()));
        let data = Arc::new(AtomicUsize::new(0));
        let ready = Arc::new(AtomicBool::new(false));
        let writer = {
            let (lock, data, ready) = (Arc::clone(&lock), Arc::clone(&data), Arc::clone(&ready));
            thread::spawn(move || {
                let _guard = lock.lock();
                data.store(42, Ordering::Relaxed);
                ready.store(true, Ordering::Relaxed);
            })
        };
        {
            let _guard = lock.lock();
            if ready.load(Ordering::Relaxed) {
                assert_eq!(
                    data.load(Ordering::Relaxed),
                    42,
                    "the previous holder wrote 42 and then set `ready` under the lock: a holder \
                     that sees `ready` must see 42. Taking the lock must be Acquire and giving \
                     it back Release"
                );
            }
        }
        writer.join().expect("the writing thread panicked");
    });
}

#[test]
fn try_lock_takes_a_free_lock_and_never_shares_it() {
    check(|| {
        let lock = Arc::new(SpinLock::new(0usize));
        let holders = Arc::new(AtomicUsize::new(0));
        let attempt = {
            let (lock, holders) = (Arc::clone(&lock), Arc::clone(&holders));
            move || -> bool {
                let Some(mut guard) = lock.try_lock() else {
                    return false;
                };
                let others = holders.fetch_add(1, Ordering::SeqCst);
                assert_eq!(
                    others, 0,
                    "try_lock() returned a guard while another thread held the lock"
                );
                *guard += 1;
                holders.fetch_sub(1, Ordering::SeqCst);
                true
            }
        };
        let other = {
            let attempt = attempt.clone();
            thread::spawn(attempt)
        };
        let mine = attempt();
        let theirs = other.join().expect("the other thread panicked");
        assert!(
            mine || theirs,
            "two threads each called try_lock() once on a free lock and neither got it: \
             whichever tried first found it free"
        );
        assert_eq!(
            *lock.lock(),
            usize::from(mine) + usize::from(theirs),
            "each successful try_lock() incremented once under the lock"
        );
    });
}

#[test]
fn followup_lock_and_try_lock_exclude_each_other() {
    check(|| {
        let lock = Arc::new(SpinLock::new(0usize));
        let holders = Arc::new(AtomicUsize::new(0));
        let enter = {
            let holders = Arc::clone(&holders);
            move |guard: &mut usize| {
                let others = holders.fetch_add(1, Ordering::SeqCst);
                assert_eq!(
                    others, 0,
                    "lock() and try_lock() handed out the lock to two threads at once"
                );
                *guard += 1;
                holders.fetch_sub(1, Ordering::SeqCst);
            }
        };
        let blocking = {
            let (lock, enter) = (Arc::clone(&lock), enter.clone());
            thread::spawn(move || enter(&mut lock.lock()))
        };
        let tried = match lock.try_lock() {
            Some(mut guard) => {
                enter(&mut guard);
                true
            }
            None => false,
        };
        blocking.join().expect("the locking thread panicked");
        assert_eq!(
            *lock.lock(),
            1 + usize::from(tried),
            "lock() always gets the lock eventually, try_lock() when it is free; each holder \
             incremented once"
        );
    });
}

#[test]
fn followup_debug_never_reads_the_value_while_another_thread_holds_the_lock() {
    check(|| {
        let lock = Arc::new(SpinLock::new(0usize));
        let writer = {
            let lock = Arc::clone(&lock);
            thread::spawn(move || *lock.lock() += 1)
        };
        // Loom reports a "Causality violation" if Debug reads the value
        // while the other thread may be writing it: Debug must take the lock
        // (try_lock) to read it, not check the flag and then read.
        let shown = format!("{lock:?}");
        assert!(
            shown.contains("<locked>") || shown.contains('0') || shown.contains('1'),
            "{{:?}} of a lock should show its value or <locked>, got {shown:?}"
        );
        writer.join().expect("the writing thread panicked");
    });
}
