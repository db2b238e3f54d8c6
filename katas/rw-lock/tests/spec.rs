//! The specification of the rw-lock kata.
//!
//! Every test name is a requirement; read the failing names first.
//!
//! Blocking is checked with real threads, and every wait is bounded: a thread
//! that should get the lock reports through a channel, and the spec waits for
//! that report with `recv_timeout(PATIENCE)`, so a lock that deadlocks or
//! loses a wake-up fails here within seconds instead of hanging. A short
//! sleep (`SETTLE`) appears only where a thread must be given the chance to
//! reach its wait before the spec checks that it is still waiting; it never
//! stands in for a result. The threads are detached (never joined), so a
//! thread stuck for ever in a wrong answer cannot hang the spec either.
//!
//! The interleavings a stress test rarely hits are in `tests/loom.rs`.
//!
//! `cargo test -p rw-lock` judges your code;
//! `cargo test -p rw-lock --features solution` judges the reference.

// The loom build (`--cfg kata_loom`) runs tests/loom.rs only.
#![cfg(not(kata_loom))]

#[cfg(not(feature = "solution"))]
use rw_lock as subject;
#[cfg(feature = "solution")]
use rw_lock_solution as subject;

use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, TryRecvError};
use std::thread;
use std::time::{Duration, Instant};

use proptest::collection::vec;
use proptest::prelude::*;
use rstest::rstest;
use subject::{RwLock, RwLockReadGuard, RwLockWriteGuard};

// ───────────────────────────── helpers ─────────────────────────────

/// How long the spec waits for something that must happen (a thread getting
/// the lock, a `try_` call returning). Generous: the reference takes
/// microseconds, and a wrong answer that never gets there fails after it.
const PATIENCE: Duration = Duration::from_secs(2);

/// How long the spec lets a thread run so that it reaches its wait, before
/// checking that it is still waiting. Only ever used that way.
const SETTLE: Duration = Duration::from_millis(50);

/// Runs `f` on a detached thread; its result arrives on the returned channel.
/// A thread blocked for ever by a wrong answer stays blocked, and the spec
/// fails on `recv_timeout` instead of hanging on a join.
fn on_thread<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> Receiver<R> {
    let (report, reports) = mpsc::channel();
    thread::spawn(move || {
        // The spec may have given up on this thread already.
        let _ = report.send(f());
    });
    reports
}

/// The thread's report, which must arrive within `PATIENCE`.
fn arrives<R>(reports: &Receiver<R>, what: &str) -> R {
    match reports.recv_timeout(PATIENCE) {
        Ok(report) => report,
        Err(RecvTimeoutError::Timeout) => panic!("{what}: still blocked after {PATIENCE:?}"),
        Err(RecvTimeoutError::Disconnected) => {
            panic!("{what}: the thread panicked instead (see its message above)")
        }
    }
}

/// Checks that the thread has not reported: it should still be waiting.
fn still_waiting<R: std::fmt::Debug>(reports: &Receiver<R>, what: &str) {
    // Give the thread the chance to run and reach its wait; if the lock lets
    // it through wrongly, it reports within this time.
    thread::sleep(SETTLE);
    match reports.try_recv() {
        Err(TryRecvError::Empty) => {}
        Ok(report) => panic!("{what}, but it did not wait (it reported {report:?})"),
        Err(TryRecvError::Disconnected) => {
            panic!("{what}, but the thread panicked instead (see its message above)")
        }
    }
}

/// Polls `try_read` until it fails, which with a reader holding the lock
/// means that a writer has started waiting. Returns whether that happened
/// within `PATIENCE`. (This polls the lock's own answer; it is bounded and
/// does not assume how long the writer's thread takes to start.)
fn try_read_fails_within_patience<T>(lock: &RwLock<T>) -> bool {
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        if lock.try_read().is_none() {
            return true;
        }
        thread::sleep(Duration::from_millis(1));
    }
    false
}

/// Runs `f`, which panics while holding a guard, and checks that it did.
fn panics_while_holding(f: impl FnOnce()) {
    let outcome = panic::catch_unwind(AssertUnwindSafe(f));
    assert!(
        outcome.is_err(),
        "the closure should have panicked (it panics on purpose, to unwind through a guard)"
    );
}

// ───────────── Guards give access to the value ─────────────

#[test]
fn a_write_guard_changes_what_later_guards_see() {
    let lock = RwLock::new(vec![1, 2]);
    assert_eq!(
        *lock.read(),
        [1, 2],
        "a read guard of RwLock::new(vec![1, 2]) should deref to [1, 2]"
    );
    {
        let mut writer = lock.write();
        writer.push(3);
        assert_eq!(
            *writer,
            [1, 2, 3],
            "a write guard should see its own push of 3"
        );
    }
    assert_eq!(
        *lock.read(),
        [1, 2, 3],
        "a read guard taken after a write guard pushed 3 should see [1, 2, 3]"
    );
    lock.try_write()
        .expect("try_write on a lock nobody holds should succeed")
        .push(4);
    assert_eq!(
        *lock
            .try_read()
            .expect("try_read on a lock nobody holds should succeed"),
        [1, 2, 3, 4],
        "a guard from try_read should see the push of 4 made through a guard from try_write"
    );
}

#[test]
fn get_mut_and_into_inner_reach_the_value_without_a_guard() {
    let mut lock = RwLock::new(String::from("draft"));
    lock.get_mut().push_str(" v2");
    assert_eq!(
        *lock.read(),
        "draft v2",
        "a read guard should see what was changed through get_mut"
    );
    *lock.write() += " final";
    assert_eq!(
        lock.into_inner(),
        "draft v2 final",
        "into_inner should give back the value as the last write guard left it"
    );
}

// ───────────── Many readers, or one writer ─────────────

#[test]
fn many_read_guards_are_held_at_once() {
    let lock = RwLock::new(7);
    let first = lock.read();
    let second = lock.read();
    let third = lock
        .try_read()
        .expect("try_read should succeed while only readers hold the lock (2 read guards held)");
    assert_eq!(
        (*first, *second, *third),
        (7, 7, 7),
        "3 read guards held at once should all see 7"
    );
    assert!(
        lock.try_write().is_none(),
        "try_write should fail while 3 read guards are held"
    );
}

#[test]
fn readers_on_different_threads_are_inside_at_the_same_time() {
    const READERS: usize = 3;
    let lock = Arc::new(RwLock::new(5));
    let (inside, insiders) = mpsc::channel();
    let mut releases = Vec::new();
    for _ in 0..READERS {
        let lock = Arc::clone(&lock);
        let inside = inside.clone();
        let (release, released) = mpsc::channel::<()>();
        releases.push(release);
        thread::spawn(move || {
            let guard = lock.read();
            let _ = inside.send(*guard);
            // Hold the guard until the spec lets go (or gives up).
            let _ = released.recv_timeout(PATIENCE);
        });
    }
    for reader in 1..=READERS {
        let seen = arrives(
            &insiders,
            &format!(
                "reader {reader} of {READERS} on their own threads should get in while the \
                 others hold their read guards (readers do not exclude readers)"
            ),
        );
        assert_eq!(seen, 5, "every reader should see 5");
    }
    drop(releases);
}

#[rstest]
#[case::nothing_held(Held::Nothing, true, true)]
#[case::a_reader_holds(Held::Reader, true, false)]
#[case::a_writer_holds(Held::Writer, false, false)]
fn try_variants_grant_exactly_what_the_held_guards_allow(
    #[case] held: Held,
    #[case] read_granted: bool,
    #[case] write_granted: bool,
) {
    let lock = RwLock::new(0);
    let _guard = held.take(&lock);
    assert_eq!(
        lock.try_read().is_some(),
        read_granted,
        "with {held:?}, try_read should {} (many readers, or one writer)",
        if read_granted { "succeed" } else { "fail" }
    );
    assert_eq!(
        lock.try_write().is_some(),
        write_granted,
        "with {held:?}, try_write should {} (many readers, or one writer)",
        if write_granted { "succeed" } else { "fail" }
    );
}

#[derive(Debug, Clone, Copy)]
enum Held {
    Nothing,
    Reader,
    Writer,
}

/// A guard of either kind, held for the length of a test.
#[allow(dead_code)] // held only to be dropped
enum Guard<'a, T> {
    Read(RwLockReadGuard<'a, T>),
    Write(RwLockWriteGuard<'a, T>),
}

impl Held {
    fn take<T>(self, lock: &RwLock<T>) -> Option<Guard<'_, T>> {
        match self {
            Held::Nothing => None,
            Held::Reader => Some(Guard::Read(lock.read())),
            Held::Writer => Some(Guard::Write(lock.write())),
        }
    }
}

#[rstest]
#[case::a_reader_holds(Held::Reader)]
#[case::a_writer_holds(Held::Writer)]
fn try_read_and_try_write_return_at_once_while_the_lock_is_held(#[case] held: Held) {
    let lock = Arc::new(RwLock::new(0));
    let _guard = held.take(&lock);
    let tried = {
        let lock = Arc::clone(&lock);
        on_thread(move || {
            let read = lock.try_read().is_some();
            let write = lock.try_write().is_some();
            (read, write)
        })
    };
    let (read, write) = arrives(
        &tried,
        &format!(
            "with {held:?} on another thread, try_read then try_write should each return at \
             once (they never wait)"
        ),
    );
    assert!(
        !write,
        "with {held:?} on another thread, try_write should fail"
    );
    assert_eq!(
        read,
        matches!(held, Held::Reader),
        "with {held:?} on another thread, try_read should succeed only if the holder is a reader"
    );
}

#[test]
fn a_writer_waits_until_every_reader_has_left() {
    let lock = Arc::new(RwLock::new(0));
    let first = lock.read();
    let second = lock.read();
    let writer = {
        let lock = Arc::clone(&lock);
        on_thread(move || {
            *lock.write() = 1;
        })
    };
    still_waiting(&writer, "a writer should wait while 2 read guards are held");
    drop(first);
    still_waiting(
        &writer,
        "a writer should keep waiting while 1 of 2 read guards is still held",
    );
    drop(second);
    arrives(
        &writer,
        "a writer waiting for 2 readers should get in once the last of them drops its guard",
    );
    assert_eq!(*lock.read(), 1, "the writer's write of 1 should be seen");
}

#[test]
fn readers_wait_until_the_writer_has_left() {
    let lock = Arc::new(RwLock::new(0));
    let mut writer = lock.write();
    let reader = {
        let lock = Arc::clone(&lock);
        on_thread(move || *lock.read())
    };
    still_waiting(&reader, "a reader should wait while a write guard is held");
    *writer = 7;
    drop(writer);
    let seen = arrives(
        &reader,
        "a reader waiting for a writer should get in once the write guard is dropped",
    );
    assert_eq!(
        seen, 7,
        "a reader that waited for a writer should see the writer's 7"
    );
}

#[test]
fn a_writer_release_wakes_every_waiting_reader() {
    const READERS: usize = 4;
    let lock = Arc::new(RwLock::new(0));
    let mut writer = lock.write();
    let (seen, reports) = mpsc::channel();
    for _ in 0..READERS {
        let lock = Arc::clone(&lock);
        let seen = seen.clone();
        thread::spawn(move || {
            let value = *lock.read();
            let _ = seen.send(value);
        });
    }
    still_waiting(&reports, "readers should wait while a write guard is held");
    *writer = 3;
    drop(writer);
    for reader in 1..=READERS {
        let value = arrives(
            &reports,
            &format!(
                "all {READERS} readers waiting for a writer should get in once it drops its \
                 guard (every waiting reader must be woken, not one), but reader {reader} of \
                 {READERS} was not woken"
            ),
        );
        assert_eq!(value, 3, "every reader should see the writer's 3");
    }
}

#[test]
fn no_update_is_lost_when_writers_and_readers_race() {
    const WRITERS: usize = 2;
    const READERS: usize = 2;
    const ROUNDS: usize = 500;
    // Two fields a writer updates one after the other: a reader inside
    // together with a writer could see them differ.
    let lock = Arc::new(RwLock::new((0usize, 0usize)));
    let readers_inside = Arc::new(AtomicUsize::new(0));
    let writers_inside = Arc::new(AtomicUsize::new(0));
    let (done, finished) = mpsc::channel::<Vec<String>>();
    for _ in 0..WRITERS {
        let (lock, readers_inside, writers_inside, done) = (
            Arc::clone(&lock),
            Arc::clone(&readers_inside),
            Arc::clone(&writers_inside),
            done.clone(),
        );
        thread::spawn(move || {
            let mut breaches = Vec::new();
            for _ in 0..ROUNDS {
                let mut guard = lock.write();
                let writers = writers_inside.fetch_add(1, Ordering::SeqCst) + 1;
                let readers = readers_inside.load(Ordering::SeqCst);
                if writers != 1 || readers != 0 {
                    breaches.push(format!(
                        "a writer got in with {} other writers and {readers} readers inside",
                        writers - 1
                    ));
                }
                guard.0 += 1;
                thread::yield_now();
                guard.1 += 1;
                writers_inside.fetch_sub(1, Ordering::SeqCst);
            }
            let _ = done.send(breaches);
        });
    }
    for _ in 0..READERS {
        let (lock, readers_inside, writers_inside, done) = (
            Arc::clone(&lock),
            Arc::clone(&readers_inside),
            Arc::clone(&writers_inside),
            done.clone(),
        );
        thread::spawn(move || {
            let mut breaches = Vec::new();
            for _ in 0..ROUNDS {
                let guard = lock.read();
                readers_inside.fetch_add(1, Ordering::SeqCst);
                let writers = writers_inside.load(Ordering::SeqCst);
                if writers != 0 {
                    breaches.push(format!("a reader got in with {writers} writers inside"));
                }
                let (first, second) = *guard;
                if first != second {
                    breaches.push(format!(
                        "a reader saw a half-finished write: ({first}, {second})"
                    ));
                }
                readers_inside.fetch_sub(1, Ordering::SeqCst);
            }
            let _ = done.send(breaches);
        });
    }
    let deadline = Instant::now() + PATIENCE * 3;
    for worker in 1..=WRITERS + READERS {
        let left = deadline.saturating_duration_since(Instant::now());
        let breaches = finished.recv_timeout(left).unwrap_or_else(|_| {
            panic!(
                "{WRITERS} writers and {READERS} readers doing {ROUNDS} rounds each should all \
                 finish, but only {} did within {:?} (a lost wake-up or a deadlock)",
                worker - 1,
                PATIENCE * 3
            )
        });
        assert!(
            breaches.is_empty(),
            "a writer must never be inside together with anyone: {} breaches, the first: {}",
            breaches.len(),
            breaches[0]
        );
    }
    assert_eq!(
        *lock.read(),
        (WRITERS * ROUNDS, WRITERS * ROUNDS),
        "{WRITERS} writers each adding 1 to both fields {ROUNDS} times should leave \
         ({0}, {0}): no update lost",
        WRITERS * ROUNDS
    );
}

// ───────────── Writer preference ─────────────

#[test]
fn a_waiting_writer_makes_try_read_fail() {
    let lock = Arc::new(RwLock::new(0));
    let reader = lock.read();
    let writer = {
        let lock = Arc::clone(&lock);
        on_thread(move || {
            *lock.write() = 1;
        })
    };
    assert!(
        try_read_fails_within_patience(&lock),
        "a reader holds the lock and a writer has started waiting for it: try_read should \
         fail (a new reader must not pass a waiting writer), but it kept succeeding for \
         {PATIENCE:?}"
    );
    drop(reader);
    arrives(
        &writer,
        "the waiting writer should get in once the reader drops its guard",
    );
}

#[test]
fn a_new_reader_waits_behind_a_waiting_writer() {
    let lock = Arc::new(RwLock::new(0));
    let first = lock.read();
    let writer = {
        let lock = Arc::clone(&lock);
        on_thread(move || {
            *lock.write() = 1;
        })
    };
    assert!(
        try_read_fails_within_patience(&lock),
        "a reader holds the lock and a writer has started waiting for it: try_read should \
         fail (a new reader must not pass a waiting writer), but it kept succeeding for \
         {PATIENCE:?}"
    );
    let late_reader = {
        let lock = Arc::clone(&lock);
        on_thread(move || *lock.read())
    };
    still_waiting(
        &late_reader,
        "a reader that arrives while a writer waits (behind a reader who still holds the lock) \
         should wait behind the writer",
    );
    drop(first);
    arrives(
        &writer,
        "the waiting writer should get in once the first reader drops its guard",
    );
    let seen = arrives(
        &late_reader,
        "the reader queued behind the writer should get in once the writer is done",
    );
    assert_eq!(
        seen, 1,
        "the reader that arrived after the writer started waiting should get in after it, and \
         see its write of 1"
    );
}

#[test]
fn followup_a_stream_of_overlapping_readers_does_not_starve_a_writer() {
    let lock = Arc::new(RwLock::new(0u32));
    let stop = Arc::new(AtomicBool::new(false));
    let (to_b, from_a) = mpsc::channel();
    let (to_a, from_b) = mpsc::channel();
    for (holds_first, to_peer, from_peer) in [(true, to_b, from_b), (false, to_a, from_a)] {
        let (lock, stop) = (Arc::clone(&lock), Arc::clone(&stop));
        thread::spawn(move || relay(&lock, &stop, holds_first, &to_peer, &from_peer));
    }
    // Let the relay get going before the writer arrives.
    thread::sleep(SETTLE);
    let writer = {
        let lock = Arc::clone(&lock);
        on_thread(move || {
            *lock.write() += 1;
        })
    };
    let outcome = writer.recv_timeout(PATIENCE);
    stop.store(true, Ordering::SeqCst);
    assert!(
        outcome.is_ok(),
        "a writer should get in within {PATIENCE:?} while two readers pass the lock back and \
         forth so that one of them always holds it: once the writer waits, new readers must \
         queue behind it (writer preference), or the writer starves"
    );
}

/// What one relay reader tells the other.
#[derive(Debug, PartialEq)]
enum Baton {
    /// "I hold the lock: take a read guard too."
    Go,
    /// "I have my read guard: you may let go of yours."
    In,
}

/// One of two readers that pass the lock back and forth with overlap: the
/// holder invites the other in and lets go of its guard only once the other
/// is in (or after `HOLD`, which only happens if the other is kept waiting,
/// as behind a waiting writer); then it waits for its own invitation.
fn relay(
    lock: &RwLock<u32>,
    stop: &AtomicBool,
    holds_first: bool,
    to_peer: &mpsc::Sender<Baton>,
    from_peer: &Receiver<Baton>,
) {
    const HOLD: Duration = Duration::from_millis(100);
    let mut guard = holds_first.then(|| lock.read());
    while !stop.load(Ordering::SeqCst) {
        match guard.take() {
            Some(held) => {
                // A late `In` from a round that timed out is stale.
                while from_peer.try_recv().is_ok() {}
                if to_peer.send(Baton::Go).is_err() {
                    return;
                }
                let _ = from_peer.recv_timeout(HOLD);
                drop(held);
            }
            None => match from_peer.recv_timeout(PATIENCE) {
                Ok(Baton::Go) => {
                    guard = Some(lock.read());
                    if to_peer.send(Baton::In).is_err() {
                        return;
                    }
                }
                Ok(Baton::In) => {}
                Err(_) => return,
            },
        }
    }
}

#[test]
fn followup_several_waiting_writers_all_get_in() {
    const WRITERS: usize = 3;
    let lock = Arc::new(RwLock::new(0));
    let reader = lock.read();
    let (done, finished) = mpsc::channel();
    for _ in 0..WRITERS {
        let lock = Arc::clone(&lock);
        let done = done.clone();
        thread::spawn(move || {
            *lock.write() += 1;
            let _ = done.send(());
        });
    }
    still_waiting(
        &finished,
        &format!("{WRITERS} writers should wait while a read guard is held"),
    );
    drop(reader);
    for writer in 1..=WRITERS {
        arrives(
            &finished,
            &format!(
                "all {WRITERS} writers waiting behind a reader should get in, one after the \
                 other, once it drops its guard, but writer {writer} of {WRITERS} never did \
                 (count the waiting writers: a flag forgets all but one)"
            ),
        );
    }
    let total = arrives(
        &on_thread({
            let lock = Arc::clone(&lock);
            move || *lock.read()
        }),
        "a reader should get in once every writer is done",
    );
    assert_eq!(total, WRITERS, "each of the {WRITERS} writers added 1");
}

// ───────────── Guards release on drop, even while unwinding ─────────────

#[test]
fn a_read_guard_is_released_when_its_holder_panics() {
    let lock = RwLock::new(0);
    panics_while_holding(|| {
        let _guard = lock.read();
        panic!("a reader crashed while holding the lock (on purpose)");
    });
    assert!(
        lock.try_write().is_some(),
        "a reader panicked while holding its read guard, which unwinding drops: try_write \
         should succeed afterwards (a guard must release on every path out)"
    );
}

#[test]
fn a_write_guard_is_released_when_its_holder_panics() {
    let lock = RwLock::new(0);
    panics_while_holding(|| {
        let mut guard = lock.write();
        *guard = 5;
        panic!("a writer crashed while holding the lock (on purpose)");
    });
    let seen = lock.try_read().map(|guard| *guard);
    assert_eq!(
        seen,
        Some(5),
        "a writer set 5 then panicked while holding its write guard, which unwinding drops: \
         try_read should succeed afterwards and see the 5 it left"
    );
    assert!(
        lock.try_write().is_some(),
        "try_write should succeed after a writer panicked while holding its guard"
    );
}

#[test]
fn followup_a_panicking_reader_releases_only_its_own_share() {
    let lock = RwLock::new(0);
    let survivor = lock.read();
    panics_while_holding(|| {
        let _guard = lock.read();
        panic!("one of two readers crashed while holding the lock (on purpose)");
    });
    assert!(
        lock.try_write().is_none(),
        "one of two readers panicked: the other still holds its read guard, so try_write \
         should still fail"
    );
    drop(survivor);
    assert!(
        lock.try_write().is_some(),
        "both readers are gone (one panicked, one dropped its guard): try_write should succeed"
    );
}

#[test]
fn a_writer_waiting_behind_a_reader_that_panics_gets_in() {
    let lock = Arc::new(RwLock::new(0));
    let (holding, held) = mpsc::channel();
    let (panic_now, go) = mpsc::channel::<()>();
    let reader = {
        let lock = Arc::clone(&lock);
        on_thread(move || {
            let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
                let _guard = lock.read();
                let _ = holding.send(());
                let _ = go.recv_timeout(PATIENCE);
                panic!("a reader crashed while a writer waited for it (on purpose)");
            }));
            outcome.is_err()
        })
    };
    arrives(&held, "a reader taking the lock on a free lock");
    let writer = {
        let lock = Arc::clone(&lock);
        on_thread(move || *lock.write() += 1)
    };
    assert!(
        try_read_fails_within_patience(&lock),
        "a writer blocked behind a reader should start waiting (try_read should then fail) \
         within {PATIENCE:?}"
    );
    let _ = panic_now.send(());
    assert!(
        arrives(&reader, "the reader that panics"),
        "the reader should have panicked (on purpose) while holding its guard"
    );
    arrives(
        &writer,
        "a writer waiting behind the only reader, which then panicked while holding its read \
         guard: the guard, dropped by the unwinding, is the last reader out and should wake the \
         writer",
    );
    assert_eq!(*lock.read(), 1, "the writer should have added 1");
}

// ───────────── Marker traits: Sync exactly when sound ─────────────

/// Whether a type implements `Sync` or `Send`, decided at compile time: the
/// inherent constants of `Probe<T>` exist only when `T` has the trait, and
/// take precedence over the trait's `false` defaults that every type has.
struct Probe<T: ?Sized>(std::marker::PhantomData<T>);

trait NotSync {
    const SYNC: bool = false;
}
impl<T: ?Sized> NotSync for T {}

trait NotSend {
    const SEND: bool = false;
}
impl<T: ?Sized> NotSend for T {}

impl<T: ?Sized + Sync> Probe<T> {
    const SYNC: bool = true;
}

impl<T: ?Sized + Send> Probe<T> {
    const SEND: bool = true;
}

#[test]
fn rw_lock_is_sync_exactly_when_its_value_is_send_and_sync() {
    use std::cell::Cell;
    use std::rc::Rc;
    use std::sync::MutexGuard;

    let lock = RwLock::new(5u32);
    let seen = thread::scope(|s| {
        let a = s.spawn(|| *lock.read());
        let b = s.spawn(|| *lock.read());
        (a.join(), b.join())
    });
    assert!(
        matches!(seen, (Ok(5), Ok(5))),
        "two threads sharing a RwLock<u32> by reference should each read 5"
    );
    let sync = [
        ("u32", Probe::<RwLock<u32>>::SYNC, true),
        ("Vec<String>", Probe::<RwLock<Vec<String>>>::SYNC, true),
        ("Cell<u32>", Probe::<RwLock<Cell<u32>>>::SYNC, false),
        (
            "MutexGuard<'static, u32>",
            Probe::<RwLock<MutexGuard<'static, u32>>>::SYNC,
            false,
        ),
        ("Rc<u32>", Probe::<RwLock<Rc<u32>>>::SYNC, false),
    ];
    for (value, is, should) in sync {
        assert_eq!(
            is,
            should,
            "RwLock<{value}> should {}be Sync: read guards on several threads share &T (T must \
             be Sync: two readers of a Cell would race), and a write guard can move a T in or \
             out from any thread (T must be Send); your `unsafe impl Sync` needs both bounds",
            if should { "" } else { "not " }
        );
    }
    let send = [
        ("Cell<u32>", Probe::<RwLock<Cell<u32>>>::SEND, true),
        ("Rc<u32>", Probe::<RwLock<Rc<u32>>>::SEND, false),
    ];
    for (value, is, should) in send {
        assert_eq!(
            is,
            should,
            "RwLock<{value}> should {}be Send, exactly as {value} is: moving the lock moves \
             its value",
            if should { "" } else { "not " }
        );
    }
}

// ───────────── The single-threaded contract, model-based ─────────────

#[derive(Debug, Clone)]
enum Op {
    TryRead,
    TryWrite,
    /// Drop the read guard at this index (modulo the number held).
    DropRead(usize),
    DropWrite,
    /// Set the value through the write guard, if one is held.
    Set(u32),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => Just(Op::TryRead),
        2 => Just(Op::TryWrite),
        2 => any::<usize>().prop_map(Op::DropRead),
        2 => Just(Op::DropWrite),
        2 => any::<u32>().prop_map(Op::Set),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Random `try_read`/`try_write`/drops on one thread against a model that
    /// only counts the guards held: `try_read` succeeds exactly when no write
    /// guard is held, `try_write` exactly when no guard at all is, and every
    /// guard sees the last value set.
    #[test]
    fn try_read_and_try_write_agree_with_a_model_of_held_guards(ops in vec(op(), 1..40)) {
        let lock = RwLock::new(0u32);
        let mut readers: Vec<RwLockReadGuard<'_, u32>> = Vec::new();
        let mut writer: Option<RwLockWriteGuard<'_, u32>> = None;
        let mut value = 0u32;
        for (step, op) in ops.iter().enumerate() {
            match *op {
                Op::TryRead => {
                    let granted = lock.try_read();
                    let expected = writer.is_none();
                    prop_assert_eq!(
                        granted.is_some(), expected,
                        "step {} ({:?}) with {} read guards and {} write guards held: try_read \
                         should {}", step, op, readers.len(), u8::from(writer.is_some()),
                        if expected { "succeed" } else { "fail" }
                    );
                    readers.extend(granted);
                }
                Op::TryWrite => {
                    let granted = lock.try_write();
                    let expected = writer.is_none() && readers.is_empty();
                    prop_assert_eq!(
                        granted.is_some(), expected,
                        "step {} ({:?}) with {} read guards and {} write guards held: try_write \
                         should {}", step, op, readers.len(), u8::from(writer.is_some()),
                        if expected { "succeed" } else { "fail" }
                    );
                    if granted.is_some() {
                        writer = granted;
                    }
                }
                Op::DropRead(index) => {
                    if !readers.is_empty() {
                        let index = index % readers.len();
                        drop(readers.swap_remove(index));
                    }
                }
                Op::DropWrite => writer = None,
                Op::Set(new) => {
                    if let Some(guard) = writer.as_mut() {
                        **guard = new;
                        value = new;
                    }
                }
            }
            for reader in &readers {
                prop_assert_eq!(
                    **reader, value,
                    "step {} ({:?}): every read guard should see the last value set", step, op
                );
            }
            if let Some(guard) = writer.as_ref() {
                prop_assert_eq!(
                    **guard, value,
                    "step {} ({:?}): the write guard should see the last value set", step, op
                );
            }
        }
    }
}
