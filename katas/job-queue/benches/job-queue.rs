//! Operations per second: your code (`job_queue`), the reference
//! (`job_queue_solution`) and the bare SQL under it (`bare`) side by side in
//! each group.
//!
//! ```text
//! cargo bench -p job-queue --features solution
//! ```
//!
//! No crate runs a job queue in-process on SQLite, so the yardstick is the
//! floor: `bare SQL` is the same `jobs` table and claim index, on a
//! connection set up the same way (WAL, `synchronous = NORMAL`), driven by
//! the naive statements the kata improves on, each prepared once and cached:
//! a bare `INSERT`; a claim that SELECTs the first due job and then UPDATEs
//! it by id, with no transaction around the two and no expired leases
//! considered (the race the kata exists to prevent); an ack that sets the
//! job done by id without checking the lease or recording an event; and
//! stats as one `GROUP BY state` count. What the reference costs above it is
//! the price of the guarantees.
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

/// The floor: the bare statements under a queue, behind the kata's method
/// names so that the benchmark's macros drive it like the others. Not a
/// correct queue: two workers can claim the same job.
mod bare {
    use std::path::Path;

    use rusqlite::{Connection, OptionalExtension, params};

    /// The job a claim returns: read whole, as a worker would, though the
    /// benchmark uses only its id.
    #[allow(dead_code)]
    pub struct Job {
        pub id: i64,
        pub payload: String,
        pub priority: i64,
        pub attempt: u32,
    }

    /// No retry policy: the floor never retries.
    #[derive(Default)]
    pub struct Config;

    pub struct Queue(Connection);

    impl Queue {
        pub fn open(path: impl AsRef<Path>) -> rusqlite::Result<Queue> {
            Queue::with_connection(Connection::open(path)?, Config)
        }

        pub fn with_connection(conn: Connection, _config: Config) -> rusqlite::Result<Queue> {
            let _mode: String =
                conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            conn.execute_batch(
                "CREATE TABLE jobs (
                     id          INTEGER PRIMARY KEY AUTOINCREMENT,
                     payload     TEXT    NOT NULL,
                     priority    INTEGER NOT NULL,
                     not_before  INTEGER NOT NULL,
                     state       TEXT    NOT NULL DEFAULT 'queued',
                     worker      TEXT,
                     lease_until INTEGER,
                     attempts    INTEGER NOT NULL DEFAULT 0
                 );
                 CREATE INDEX jobs_claim ON jobs (state, priority DESC, not_before, id);",
            )?;
            Ok(Queue(conn))
        }

        pub fn enqueue(
            &mut self,
            payload: &str,
            priority: i64,
            not_before: i64,
        ) -> rusqlite::Result<i64> {
            self.0
                .prepare_cached(
                    "INSERT INTO jobs (payload, priority, not_before) VALUES (?1, ?2, ?3)",
                )?
                .execute(params![payload, priority, not_before])?;
            Ok(self.0.last_insert_rowid())
        }

        /// SELECT, then UPDATE by id: two autocommit statements.
        pub fn claim(
            &mut self,
            worker: &str,
            now: i64,
            lease_secs: i64,
        ) -> rusqlite::Result<Option<Job>> {
            let job = self
                .0
                .prepare_cached(
                    "SELECT id, payload, priority, attempts FROM jobs
                      WHERE state = 'queued' AND not_before <= ?1
                      ORDER BY priority DESC, not_before, id
                      LIMIT 1",
                )?
                .query_row([now], |row| {
                    Ok(Job {
                        id: row.get(0)?,
                        payload: row.get(1)?,
                        priority: row.get(2)?,
                        attempt: row.get::<_, u32>(3)? + 1,
                    })
                })
                .optional()?;
            if let Some(job) = &job {
                self.0
                    .prepare_cached(
                        "UPDATE jobs
                            SET state = 'running', worker = ?2, lease_until = ?3 + ?4,
                                attempts = attempts + 1
                          WHERE id = ?1",
                    )?
                    .execute(params![job.id, worker, now, lease_secs])?;
            }
            Ok(job)
        }

        /// Done by id: no lease check, no event.
        pub fn ack(&mut self, job: i64, _worker: &str, _now: i64) -> rusqlite::Result<()> {
            self.0
                .prepare_cached(
                    "UPDATE jobs SET state = 'done', worker = NULL, lease_until = NULL
                      WHERE id = ?1",
                )?
                .execute([job])?;
            Ok(())
        }

        /// Jobs per state: one scan, no split by time, no rates.
        pub fn stats(&self, _now: i64) -> rusqlite::Result<Vec<(String, i64)>> {
            self.0
                .prepare_cached("SELECT state, COUNT(*) FROM jobs GROUP BY state")?
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect()
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

/// Benchmarks one operation of each crate, and of the bare SQL, in one group.
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
        group.bench_function(BenchmarkId::new("bare SQL", $parameter), |b| {
            #[allow(unused_mut)] // some operations count calls (FnMut), some do not
            let mut operation = $operation!(bare);
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
