//! Loom model checks of `RwLock`: every interleaving of two or three threads
//! (up to the preemption bound) is run, so the races a stress test hits once
//! in a million runs (a wake-up that finds the lock taken again, a check and
//! an act a thread apart, a notification that wakes too few) fail here every
//! time.
//!
//! Three things fail a model:
//!
//! - an assertion below (each says what was expected);
//! - loom's `UnsafeCell` (from `src/sync.rs`), which fails with "Causality
//!   violation" when a read and a write of the value, or two writes, are not
//!   ordered by the lock: a writer inside together with someone else;
//! - loom itself, which fails with "deadlock" when every thread is blocked:
//!   a lost wake-up, or a waiter nobody notifies.
//!
//! Built only under the project's own cfg, with the lock's `crate::sync`
//! switched to loom's primitives:
//!
//! ```text
//! RUSTFLAGS="--cfg kata_loom" cargo test -p rw-lock --test loom \
//!     --profile loom --target-dir target/loom
//! ```
//!
//! `LOOM_MAX_PREEMPTIONS` overrides the default bound of 3.
#![cfg(kata_loom)]

#[cfg(not(feature = "solution"))]
use rw_lock as subject;
#[cfg(feature = "solution")]
use rw_lock_solution as subject;

// std's `Arc`, not loom's: when loom finds a deadlock it unwinds the blocked
// threads, and a loom `Arc` dropped then aborts the whole test process instead
// of failing the one model with loom's "deadlock" message.
use std::sync::Arc;

use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;
use subject::RwLock;

/// Explores every interleaving of `model` up to the preemption bound (3
/// unless `LOOM_MAX_PREEMPTIONS` says otherwise). No time or permutation
/// limit: a model that stops early would pass without checking.
fn check(model: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound.get_or_insert(3);
    builder.check(model);
}

/// Who is inside the lock, as the model's threads report it once they hold a
/// guard: the number of readers, plus `WRITER` while a writer is inside.
/// Independent of how the lock is built (loom's `UnsafeCell` only sees
/// accesses made through the shim).
struct Occupancy(AtomicUsize);

const WRITER: usize = 1 << 16;

impl Occupancy {
    fn new() -> Arc<Self> {
        Arc::new(Occupancy(AtomicUsize::new(0)))
    }

    fn reader_enters(&self) {
        let before = self.0.fetch_add(1, Ordering::SeqCst);
        assert_eq!(
            before & WRITER,
            0,
            "a reader got in while a writer was inside (never a writer together with anyone)"
        );
    }

    fn reader_leaves(&self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }

    fn writer_enters(&self) {
        if let Err(before) = self
            .0
            .compare_exchange(0, WRITER, Ordering::SeqCst, Ordering::SeqCst)
        {
            panic!(
                "a writer got in while {} writers and {} readers were inside (never a writer \
                 together with anyone)",
                before / WRITER,
                before % WRITER
            );
        }
    }

    fn writer_leaves(&self) {
        self.0.fetch_sub(WRITER, Ordering::SeqCst);
    }
}

/// Takes a write guard, adds `amount` to the value, releases.
fn add(lock: &RwLock<usize>, inside: &Occupancy, amount: usize) {
    let mut guard = lock.write();
    inside.writer_enters();
    *guard += amount;
    inside.writer_leaves();
}

/// Takes a read guard, reads the value, releases.
fn look(lock: &RwLock<usize>, inside: &Occupancy) -> usize {
    let guard = lock.read();
    inside.reader_enters();
    let value = *guard;
    inside.reader_leaves();
    value
}

#[test]
fn a_writer_is_never_inside_together_with_a_reader() {
    check(|| {
        let lock = Arc::new(RwLock::new(0));
        let inside = Occupancy::new();
        let writer = {
            let (lock, inside) = (Arc::clone(&lock), Arc::clone(&inside));
            thread::spawn(move || add(&lock, &inside, 1))
        };
        let reader = {
            let (lock, inside) = (Arc::clone(&lock), Arc::clone(&inside));
            thread::spawn(move || look(&lock, &inside))
        };
        // The main thread writes too: a second writer that can take the lock
        // between a release and the wake-up it caused.
        add(&lock, &inside, 10);
        writer.join().expect("the writer thread panicked");
        let seen = reader.join().expect("the reader thread panicked");
        assert!(
            [0, 1, 10, 11].contains(&seen),
            "a reader racing writers that add 1 and 10 to 0 should see 0, 1, 10 or 11, \
             never a half-done write; it saw {seen}"
        );
        assert_eq!(
            *lock.read(),
            11,
            "writers that added 1 and 10 to 0 should leave 11"
        );
    });
}

#[test]
fn writers_are_never_inside_together_and_no_update_is_lost() {
    check(|| {
        let lock = Arc::new(RwLock::new(0));
        let inside = Occupancy::new();
        let writers: Vec<_> = (0..2)
            .map(|_| {
                let (lock, inside) = (Arc::clone(&lock), Arc::clone(&inside));
                thread::spawn(move || add(&lock, &inside, 1))
            })
            .collect();
        add(&lock, &inside, 1);
        for writer in writers {
            writer.join().expect("a writer thread panicked");
        }
        assert_eq!(
            *lock.read(),
            3,
            "3 writers each adding 1 to 0 should leave 3: no update lost"
        );
    });
}

#[test]
fn try_read_and_try_write_never_let_a_writer_in_beside_anyone() {
    check(|| {
        let lock = Arc::new(RwLock::new(0));
        let inside = Occupancy::new();
        let writer = {
            let (lock, inside) = (Arc::clone(&lock), Arc::clone(&inside));
            thread::spawn(move || add(&lock, &inside, 1))
        };
        let reader = {
            let (lock, inside) = (Arc::clone(&lock), Arc::clone(&inside));
            thread::spawn(move || {
                lock.try_read().map(|guard| {
                    inside.reader_enters();
                    let value = *guard;
                    inside.reader_leaves();
                    value
                })
            })
        };
        let wrote = match lock.try_write() {
            Some(mut guard) => {
                inside.writer_enters();
                *guard += 10;
                inside.writer_leaves();
                10
            }
            None => 0,
        };
        writer.join().expect("the writer thread panicked");
        let seen = reader.join().expect("the reader thread panicked");
        assert!(
            seen.is_none_or(|value| [0, 1, 10, 11].contains(&value)),
            "a try_read racing writers that add 1 and 10 to 0 should see 0, 1, 10 or 11 (or \
             fail), never a half-done write; it saw {seen:?}"
        );
        assert_eq!(
            *lock.read(),
            1 + wrote,
            "a write of 1 and a try_write that {} should leave {}",
            if wrote > 0 { "added 10" } else { "failed" },
            1 + wrote
        );
    });
}

#[test]
fn a_released_writer_wakes_every_waiting_reader() {
    check(|| {
        let lock = Arc::new(RwLock::new(0));
        let inside = Occupancy::new();
        let mut guard = lock.write();
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let (lock, inside) = (Arc::clone(&lock), Arc::clone(&inside));
                thread::spawn(move || look(&lock, &inside))
            })
            .collect();
        *guard = 1;
        drop(guard);
        // If the release woke only one of two waiting readers, the other
        // waits for ever and loom reports a deadlock here.
        for reader in readers {
            let seen = reader.join().expect("a reader thread panicked");
            assert_eq!(
                seen, 1,
                "readers that waited for the writer should see its write of 1"
            );
        }
    });
}

#[test]
fn writers_waiting_behind_a_reader_all_get_in() {
    check(|| {
        let lock = Arc::new(RwLock::new(0));
        let inside = Occupancy::new();
        let reader = lock.read();
        let writers: Vec<_> = (0..2)
            .map(|_| {
                let (lock, inside) = (Arc::clone(&lock), Arc::clone(&inside));
                thread::spawn(move || add(&lock, &inside, 1))
            })
            .collect();
        drop(reader);
        // The last reader out must wake a waiting writer, and that writer's
        // release the next one: a lost wake-up is a deadlock here.
        for writer in writers {
            writer.join().expect("a writer thread panicked");
        }
        assert_eq!(
            *lock.read(),
            2,
            "2 writers that waited behind a reader, each adding 1 to 0, should leave 2"
        );
    });
}

#[test]
fn a_writer_waiting_behind_a_reader_goes_before_readers_that_arrive_after_it() {
    // Counts, across all interleavings, those in which `try_read` saw the
    // writer waiting. (A plain std atomic: it lives outside the model.)
    let saw_writer_waiting = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = Arc::clone(&saw_writer_waiting);
    check(move || {
        let lock = Arc::new(RwLock::new(0));
        let first = lock.read();
        let writer = {
            let lock = Arc::clone(&lock);
            thread::spawn(move || {
                *lock.write() = 1;
            })
        };
        // With a reader inside, only a waiting writer can make try_read fail.
        let probe = lock.try_read();
        if probe.is_some() {
            // The writer has not started waiting yet in this interleaving: a
            // new reader may still get in.
            drop(probe);
            drop(first);
            writer.join().expect("the writer thread panicked");
            return;
        }
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // The writer waits: a reader arriving now must queue behind it.
        let late_reader = {
            let lock = Arc::clone(&lock);
            thread::spawn(move || *lock.read())
        };
        drop(first);
        writer.join().expect("the writer thread panicked");
        let seen = late_reader.join().expect("the late reader thread panicked");
        assert_eq!(
            seen, 1,
            "a reader that arrived while a writer waited (try_read had just failed) should get \
             in after the writer and see its write of 1, not pass it"
        );
    });
    assert!(
        saw_writer_waiting.load(std::sync::atomic::Ordering::Relaxed) > 0,
        "in no interleaving did try_read fail while a reader held the lock and a writer waited \
         for it: once a writer waits, new readers (try_read included) must wait behind it"
    );
}
