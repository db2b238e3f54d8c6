//! Operations per second: your code (`job_queue`) and the reference
//! (`job_queue_solution`) side by side in each group.
//!
//! ```text
//! cargo bench -p job-queue --features solution
//! ```
//!
//! The queues run on an in-memory SQLite database (what SQLite itself
//! costs: statements, B-tree lookups), except `claim + ack (file)`, which
//! commits to a database file in a temporary directory, as a worker would.
//! `claim + ack` and `stats` run over a queue of 10,000 jobs, half of them
//! done. A part of your code that still panics (`todo!()`) is skipped with a
//! note, and only the reference is measured.

use std::hint::black_box;
use std::panic::{self, AssertUnwindSafe};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rusqlite::Connection;

/// Jobs in the queue that `claim + ack` and `stats` work over.
const JOBS: i64 = 10_000;

/// An instant to start from (unix seconds).
const T: i64 = 1_700_000_000;

/// A queue of `$krate` on a fresh in-memory database.
macro_rules! in_memory {
    ($krate:ident) => {{
        let conn = Connection::open_in_memory().expect("an in-memory database");
        $krate::Queue::with_connection(conn, $krate::Config::default()).expect("a queue")
    }};
}

/// A queue of `$krate` holding `JOBS` jobs of three priorities, the first
/// half of them claimed and acked.
macro_rules! populated {
    ($krate:ident, $queue:expr) => {{
        let mut queue = $queue;
        for i in 0..JOBS {
            queue
                .enqueue(&format!("job {i}"), i % 3, T - i)
                .expect("enqueue");
        }
        for _ in 0..JOBS / 2 {
            let job = queue
                .claim("w", T, 30)
                .expect("claim")
                .expect("a ready job");
            queue.ack(job.id, "w", T).expect("ack");
        }
        queue
    }};
}

macro_rules! enqueue {
    ($krate:ident) => {{
        let mut queue = in_memory!($krate);
        let mut tick = 0i64;
        move || {
            tick += 1;
            queue.enqueue("send email", tick % 3, T + tick).ok()
        }
    }};
}

/// Claims and acks one job, enqueueing one to keep the depth constant.
macro_rules! claim_ack {
    ($krate:ident, $queue:expr) => {{
        let mut queue = populated!($krate, $queue);
        let mut tick = 0i64;
        move || {
            tick += 1;
            queue.enqueue("send email", tick % 3, T).ok()?;
            let job = queue.claim("w", T, 30).ok()??;
            queue.ack(job.id, "w", T).ok()
        }
    }};
}

macro_rules! claim_ack_memory {
    ($krate:ident) => {
        claim_ack!($krate, in_memory!($krate))
    };
}

macro_rules! claim_ack_file {
    ($krate:ident) => {{
        let dir = tempfile::tempdir().expect("a temporary directory");
        let queue = $krate::Queue::open(dir.path().join("jobs.db")).expect("a queue on a file");
        let mut operation = claim_ack!($krate, queue);
        // The directory lives as long as the operation.
        move || {
            let _ = &dir;
            operation()
        }
    }};
}

macro_rules! stats {
    ($krate:ident) => {{
        let queue = populated!($krate, in_memory!($krate));
        move || queue.stats(T + 10).ok()
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

/// Benchmarks one operation of each crate in one group.
macro_rules! side_by_side {
    ($c:expr, $group:literal, $parameter:expr, $operation:ident) => {{
        let mut group = $c.benchmark_group($group);
        group.throughput(Throughput::Elements(1));
        if implemented($group, || {
            #[allow(unused_mut)] // some operations count calls (FnMut), some do not
            let mut operation = $operation!(job_queue);
            operation();
        }) {
            group.bench_function(BenchmarkId::new("yours", $parameter), |b| {
                #[allow(unused_mut)] // some operations count calls (FnMut), some do not
                let mut operation = $operation!(job_queue);
                b.iter(|| black_box(operation()));
            });
        }
        group.bench_function(BenchmarkId::new("reference", $parameter), |b| {
            #[allow(unused_mut)] // some operations count calls (FnMut), some do not
            let mut operation = $operation!(job_queue_solution);
            b.iter(|| black_box(operation()));
        });
        group.finish();
    }};
}

fn operations_per_second(c: &mut Criterion) {
    side_by_side!(c, "Queue::enqueue", "in memory", enqueue);
    side_by_side!(
        c,
        "Queue::claim + ack",
        format!("{JOBS} jobs, in memory"),
        claim_ack_memory
    );
    side_by_side!(
        c,
        "Queue::claim + ack",
        format!("{JOBS} jobs, file"),
        claim_ack_file
    );
    side_by_side!(c, "Queue::stats", format!("{JOBS} jobs"), stats);
}

criterion_group!(benches, operations_per_second);
criterion_main!(benches);
