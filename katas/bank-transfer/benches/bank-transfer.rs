//! Operations per second: your code (`bank_transfer`) and the reference
//! (`bank_transfer_solution`) side by side in each group.
//!
//! ```text
//! cargo bench -p bank-transfer --features solution
//! ```
//!
//! `in memory` measures what SQLite itself costs (statements, B-tree
//! lookups, a transaction); `file` commits every transfer to a database file
//! in a temporary directory, as the service would. A part of your code that
//! still panics (`todo!()`) is skipped with a note, and only the reference is
//! measured.

use std::hint::black_box;
use std::panic::{self, AssertUnwindSafe};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rusqlite::Connection;

/// Accounts the transfers move money between.
const ACCOUNTS: usize = 1_000;

/// A bank of `$krate` with `ACCOUNTS` accounts, on `$conn`.
macro_rules! populated {
    ($krate:ident, $bank:expr) => {{
        let mut bank = $bank;
        let accounts: Vec<$krate::AccountId> = (0..ACCOUNTS)
            .map(|_| bank.open_account(1_000_000_000).expect("open_account"))
            .collect();
        (bank, accounts)
    }};
}

macro_rules! transfer_in_memory {
    ($krate:ident) => {{
        let conn = Connection::open_in_memory().expect("an in-memory database");
        let (mut bank, accounts) = populated!(
            $krate,
            $krate::Bank::with_connection(conn).expect("a bank in memory")
        );
        let mut i = 0;
        move || {
            i = (i + 7919) % ACCOUNTS;
            let to = (i + 1) % ACCOUNTS;
            bank.transfer(accounts[i], accounts[to], 1).ok()
        }
    }};
}

macro_rules! transfer_file {
    ($krate:ident) => {{
        let dir = tempfile::tempdir().expect("a temporary directory");
        let (mut bank, accounts) = populated!(
            $krate,
            $krate::Bank::open(dir.path().join("bank.db")).expect("a bank on a file")
        );
        let mut i = 0;
        move || {
            let _keep = &dir;
            i = (i + 7919) % ACCOUNTS;
            let to = (i + 1) % ACCOUNTS;
            bank.transfer(accounts[i], accounts[to], 1).ok()
        }
    }};
}

macro_rules! balance {
    ($krate:ident) => {{
        let conn = Connection::open_in_memory().expect("an in-memory database");
        let (bank, accounts) = populated!(
            $krate,
            $krate::Bank::with_connection(conn).expect("a bank in memory")
        );
        let mut i = 0;
        move || {
            i = (i + 7919) % ACCOUNTS;
            bank.balance(accounts[i]).ok()
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
            let mut operation = $operation!(bank_transfer);
            operation();
        }) {
            group.bench_function(BenchmarkId::new("yours", $parameter), |b| {
                #[allow(unused_mut)] // some operations count calls (FnMut), some do not
                let mut operation = $operation!(bank_transfer);
                b.iter(|| black_box(operation()));
            });
        }
        group.bench_function(BenchmarkId::new("reference", $parameter), |b| {
            #[allow(unused_mut)] // some operations count calls (FnMut), some do not
            let mut operation = $operation!(bank_transfer_solution);
            b.iter(|| black_box(operation()));
        });
        group.finish();
    }};
}

fn operations_per_second(c: &mut Criterion) {
    side_by_side!(c, "Bank::transfer", "in memory", transfer_in_memory);
    side_by_side!(c, "Bank::transfer", "file", transfer_file);
    side_by_side!(c, "Bank::balance", format!("{ACCOUNTS} accounts"), balance);
}

criterion_group!(benches, operations_per_second);
criterion_main!(benches);
