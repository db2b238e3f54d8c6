//! Operations per second: your code (`url_shortener`), the reference
//! (`url_shortener_solution`) and a peer or a floor side by side in each
//! group.
//!
//! ```text
//! cargo bench -p url-shortener --features solution
//! ```
//!
//! `base62` is pure arithmetic; its peer is the `base62` crate (2), the one
//! people ship, behind the kata's API (module [`crate_base62`]: the same
//! alphabet, padded to 7 digits, `None` past `u64::MAX`).
//!
//! The shortener runs on an in-memory SQLite database (what SQLite itself
//! costs: statements, B-tree lookups), except `shorten (file)`, which commits
//! every shortening to a database file in a temporary directory, as the
//! service would. The redirect path (`resolve`) is measured over 10,000
//! codes. No crate shortens URLs on SQLite, so the yardstick is a floor,
//! `bare SQL` (module [`bare_sql`]): the same schema and pragmas, and for
//! each operation only the one statement that stores or reads the data,
//! without what the kata adds for correctness: no URL validation, no
//! `IMMEDIATE` transaction, counter codes from an in-memory counter (wrong
//! with a second connection), hash codes by `INSERT OR IGNORE` (no collision
//! handling), clicks recorded without checking the code exists, and counted
//! without the empty buckets. What the reference spends above the floor is
//! the price of those safeguards.
//!
//! A part of your code that still panics (`todo!()`) is skipped with a note,
//! and only the reference and the yardstick are measured.

use std::hint::black_box;
use std::panic::{self, AssertUnwindSafe};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rusqlite::Connection;

/// The `base62` crate (2) behind the kata's `base62` module.
mod crate_base62 {
    pub mod base62 {
        /// The crate's standard alphabet is the kata's (`0-9A-Za-z`); it
        /// does not pad, so the digits are written after the padding.
        pub fn encode(n: u64) -> String {
            let mut digits = [0u8; 22];
            let len = base62::encode_bytes(n, &mut digits).expect("22 bytes hold any u128");
            let mut code = String::with_capacity(len.max(7));
            code.extend(std::iter::repeat_n('0', 7usize.saturating_sub(len)));
            code.push_str(std::str::from_utf8(&digits[..len]).expect("base62 digits are ASCII"));
            code
        }

        pub fn decode(s: &str) -> Option<u64> {
            base62::decode(s).ok().and_then(|n| u64::try_from(n).ok())
        }
    }
}

/// The floor: the bare statements of each operation, on the reference's
/// schema and pragmas, without the kata's safeguards.
mod bare_sql {
    use std::path::Path;

    use rusqlite::{Connection, params};

    use super::crate_base62::base62;

    const SCHEMA: &str = "
        CREATE TABLE IF NOT EXISTS urls (
            id   INTEGER PRIMARY KEY AUTOINCREMENT,
            code TEXT UNIQUE,
            url  TEXT NOT NULL
        );
        CREATE TABLE IF NOT EXISTS clicks (
            code TEXT NOT NULL,
            at   INTEGER NOT NULL
        );
        CREATE INDEX IF NOT EXISTS clicks_by_code_and_time ON clicks (code, at);
    ";

    #[derive(Clone, Copy)]
    pub enum Strategy {
        Counter,
        Hash,
    }

    pub struct Shortener {
        conn: Connection,
        strategy: Strategy,
        /// The counter strategy's last number, in memory: one statement per
        /// shortening, but two connections would issue the same codes.
        issued: u64,
    }

    impl Shortener {
        pub fn open(path: impl AsRef<Path>, strategy: Strategy) -> rusqlite::Result<Self> {
            Self::with_connection(Connection::open(path)?, strategy)
        }

        pub fn with_connection(conn: Connection, strategy: Strategy) -> rusqlite::Result<Self> {
            let _mode: String =
                conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            conn.execute_batch(SCHEMA)?;
            Ok(Shortener {
                conn,
                strategy,
                issued: 0,
            })
        }

        /// One `INSERT`: no validation, no transaction, no collision check.
        pub fn shorten(&mut self, url: &str) -> rusqlite::Result<String> {
            let (code, insert) = match self.strategy {
                Strategy::Counter => {
                    self.issued += 1;
                    (
                        base62::encode(self.issued),
                        "INSERT INTO urls (code, url) VALUES (?1, ?2)",
                    )
                }
                Strategy::Hash => (
                    base62::encode(
                        url_shortener_solution::fnv1a_64(url.as_bytes())
                            % url_shortener_solution::CODE_SPACE,
                    ),
                    "INSERT OR IGNORE INTO urls (code, url) VALUES (?1, ?2)",
                ),
            };
            self.conn
                .prepare_cached(insert)?
                .execute(params![code, url])?;
            Ok(code)
        }

        pub fn resolve(&self, code: &str) -> rusqlite::Result<String> {
            self.conn
                .prepare_cached("SELECT url FROM urls WHERE code = ?1")?
                .query_row([code], |row| row.get(0))
        }

        /// One `INSERT`, whether the code exists or not.
        pub fn click(&mut self, code: &str, at: u64) -> rusqlite::Result<()> {
            self.conn
                .prepare_cached("INSERT INTO clicks (code, at) VALUES (?1, ?2)")?
                .execute(params![code, at.cast_signed()])?;
            Ok(())
        }

        /// The reference's `GROUP BY` query, its rows as they come: only the
        /// buckets that have clicks.
        pub fn clicks(
            &self,
            code: &str,
            from: u64,
            to: u64,
            bucket_seconds: u64,
        ) -> rusqlite::Result<Vec<(i64, i64)>> {
            let mut statement = self.conn.prepare_cached(
                "SELECT (at - ?2) / ?4, COUNT(*) FROM clicks
                 WHERE code = ?1 AND at >= ?2 AND at <= ?3
                 GROUP BY 1",
            )?;
            let rows = statement.query_map(
                params![
                    code,
                    from.cast_signed(),
                    (to - 1).cast_signed(),
                    bucket_seconds.cast_signed()
                ],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )?;
            rows.collect()
        }
    }
}

/// URLs in the database that `resolve` and `clicks` read.
const URLS: u64 = 10_000;

macro_rules! encode {
    ($krate:ident) => {{
        let mut n = 0u64;
        move || {
            n = n.wrapping_add(0x9e37_79b9_7f4a_7c15);
            $krate::base62::encode(n % 3_521_614_606_208)
        }
    }};
}

macro_rules! decode {
    ($krate:ident) => {{
        let codes: Vec<String> = (0..1024u64)
            .map(|i| $krate::base62::encode(i * 3_438_000_000))
            .collect();
        let mut i = 0;
        move || {
            i = (i + 1) % codes.len();
            $krate::base62::decode(&codes[i])
        }
    }};
}

/// A shortener of `$krate` on a fresh in-memory database.
macro_rules! in_memory {
    ($krate:ident, $strategy:expr) => {{
        let conn = Connection::open_in_memory().expect("an in-memory database");
        $krate::Shortener::with_connection(conn, $strategy).expect("a shortener")
    }};
}

macro_rules! shorten_counter {
    ($krate:ident) => {{
        let mut shortener = in_memory!($krate, $krate::Strategy::Counter);
        let mut tick = 0u64;
        move || {
            tick += 1;
            shortener
                .shorten(&format!("https://example.com/{tick}"))
                .map(|code| code.as_str().len())
                .ok()
        }
    }};
}

macro_rules! shorten_hash {
    ($krate:ident) => {{
        let mut shortener = in_memory!($krate, $krate::Strategy::Hash);
        let mut tick = 0u64;
        move || {
            tick += 1;
            // One in four is a URL shortened before: deduplicated.
            let n = if tick % 4 == 0 { tick / 2 } else { tick };
            shortener
                .shorten(&format!("https://example.com/{n}"))
                .map(|code| code.as_str().len())
                .ok()
        }
    }};
}

macro_rules! shorten_file {
    ($krate:ident) => {{
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut shortener =
            $krate::Shortener::open(dir.path().join("links.db"), $krate::Strategy::Counter)
                .expect("a shortener on a file");
        let mut tick = 0u64;
        move || {
            let _keep = &dir;
            tick += 1;
            shortener
                .shorten(&format!("https://example.com/{tick}"))
                .map(|code| code.as_str().len())
                .ok()
        }
    }};
}

/// A database of `URLS` counter codes, with a click on each.
macro_rules! populated {
    ($krate:ident) => {{
        let mut shortener = in_memory!($krate, $krate::Strategy::Counter);
        let codes: Vec<String> = (0..URLS)
            .map(|i| {
                let code = shortener
                    .shorten(&format!("https://example.com/{i}"))
                    .expect("shorten");
                code.as_str().to_owned()
            })
            .collect();
        for (i, code) in codes.iter().enumerate() {
            shortener.click(code, i as u64).expect("click");
        }
        (shortener, codes)
    }};
}

macro_rules! resolve {
    ($krate:ident) => {{
        let (shortener, codes) = populated!($krate);
        let mut i = 0;
        move || {
            i = (i + 7919) % codes.len();
            shortener.resolve(&codes[i]).map(|url| url.len()).ok()
        }
    }};
}

macro_rules! click {
    ($krate:ident) => {{
        let (mut shortener, codes) = populated!($krate);
        let mut i = 0;
        move || {
            i = (i + 7919) % codes.len();
            shortener.click(&codes[i], 1_700_000_000 + i as u64).ok()
        }
    }};
}

/// A day of clicks on one code, one a minute, counted per hour.
macro_rules! clicks {
    ($krate:ident) => {{
        let mut shortener = in_memory!($krate, $krate::Strategy::Counter);
        let code = shortener
            .shorten("https://example.com/popular")
            .expect("shorten")
            .as_str()
            .to_owned();
        for minute in 0..24 * 60u64 {
            shortener.click(&code, minute * 60).expect("click");
        }
        move || {
            shortener
                .clicks(&code, 0, 24 * 3600, 3600)
                .map(|buckets| buckets.len())
                .ok()
        }
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
        eprintln!(
            "note: your {what} panics (still todo!()?): measuring only the reference and the yardstick"
        );
    }
    ok
}

/// Times one contender.
macro_rules! contender {
    ($group:expr, $name:expr, $parameter:expr, $operation:ident, $krate:ident) => {
        $group.bench_function(BenchmarkId::new($name, $parameter), |b| {
            #[allow(unused_mut)] // some operations count calls (FnMut), some do not
            let mut operation = $operation!($krate);
            b.iter(|| black_box(operation()));
        });
    };
}

/// Benchmarks one operation of your code, the reference and the yardstick
/// (`$peer`, named `$peer_name`) in one group.
macro_rules! side_by_side {
    ($c:expr, $group:literal, $parameter:expr, $operation:ident, $peer_name:literal => $peer:ident) => {{
        let parameter = $parameter;
        let mut group = $c.benchmark_group($group);
        group.throughput(Throughput::Elements(1));
        if implemented($group, || {
            #[allow(unused_mut)] // some operations count calls (FnMut), some do not
            let mut operation = $operation!(url_shortener);
            operation();
        }) {
            contender!(group, "yours", &parameter, $operation, url_shortener);
        }
        contender!(
            group,
            "reference",
            &parameter,
            $operation,
            url_shortener_solution
        );
        contender!(group, $peer_name, &parameter, $operation, $peer);
        group.finish();
    }};
}

fn operations_per_second(c: &mut Criterion) {
    side_by_side!(c, "base62::encode", "7 digits", encode, "base62 2" => crate_base62);
    side_by_side!(c, "base62::decode", "7 digits", decode, "base62 2" => crate_base62);
    side_by_side!(
        c,
        "Shortener::shorten",
        "counter, in memory",
        shorten_counter,
        "bare SQL" => bare_sql
    );
    side_by_side!(
        c,
        "Shortener::shorten",
        "hash, in memory",
        shorten_hash,
        "bare SQL" => bare_sql
    );
    side_by_side!(
        c,
        "Shortener::shorten",
        "counter, file",
        shorten_file,
        "bare SQL" => bare_sql
    );
    side_by_side!(
        c,
        "Shortener::resolve",
        format!("{URLS} codes"),
        resolve,
        "bare SQL" => bare_sql
    );
    side_by_side!(
        c,
        "Shortener::click",
        format!("{URLS} codes"),
        click,
        "bare SQL" => bare_sql
    );
    side_by_side!(
        c,
        "Shortener::clicks",
        "24 hourly buckets",
        clicks,
        "bare SQL" => bare_sql
    );
}

criterion_group!(benches, operations_per_second);
criterion_main!(benches);
