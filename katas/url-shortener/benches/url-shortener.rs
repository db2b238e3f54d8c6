//! Operations per second: your code (`url_shortener`) and the reference
//! (`url_shortener_solution`) side by side in each group.
//!
//! ```text
//! cargo bench -p url-shortener --features solution
//! ```
//!
//! `base62` is pure arithmetic. The shortener runs on an in-memory SQLite
//! database (what SQLite itself costs: statements, B-tree lookups), except
//! `shorten (file)`, which commits every shortening to a database file in a
//! temporary directory, as the service would. The redirect path (`resolve`)
//! is measured over 10,000 codes. A part of your code that still panics
//! (`todo!()`) is skipped with a note, and only the reference is measured.

use std::hint::black_box;
use std::panic::{self, AssertUnwindSafe};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rusqlite::Connection;

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
            let mut operation = $operation!(url_shortener);
            operation();
        }) {
            group.bench_function(BenchmarkId::new("yours", $parameter), |b| {
                #[allow(unused_mut)] // some operations count calls (FnMut), some do not
                let mut operation = $operation!(url_shortener);
                b.iter(|| black_box(operation()));
            });
        }
        group.bench_function(BenchmarkId::new("reference", $parameter), |b| {
            #[allow(unused_mut)] // some operations count calls (FnMut), some do not
            let mut operation = $operation!(url_shortener_solution);
            b.iter(|| black_box(operation()));
        });
        group.finish();
    }};
}

fn operations_per_second(c: &mut Criterion) {
    side_by_side!(c, "base62::encode", "7 digits", encode);
    side_by_side!(c, "base62::decode", "7 digits", decode);
    side_by_side!(
        c,
        "Shortener::shorten",
        "counter, in memory",
        shorten_counter
    );
    side_by_side!(c, "Shortener::shorten", "hash, in memory", shorten_hash);
    side_by_side!(c, "Shortener::shorten", "counter, file", shorten_file);
    side_by_side!(c, "Shortener::resolve", format!("{URLS} codes"), resolve);
    side_by_side!(c, "Shortener::click", format!("{URLS} codes"), click);
    side_by_side!(c, "Shortener::clicks", "24 hourly buckets", clicks);
}

criterion_group!(benches, operations_per_second);
criterion_main!(benches);
