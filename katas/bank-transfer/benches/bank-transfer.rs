//! Operations per second: your code (`bank_transfer`), the reference
//! (`bank_transfer_solution`) and a floor (`bare SQL`) side by side in each
//! group.
//!
//! ```text
//! cargo bench -p bank-transfer --features solution
//! ```
//!
//! `in memory` measures what SQLite itself costs (statements, B-tree
//! lookups, a transaction); `file` commits every transfer to a database file
//! in a temporary directory, as the service would. A part of your code that
//! still panics (`todo!()`) is skipped with a note, and only the reference
//! and the floor are measured.
//!
//! No crate does this kata's job (it is a schema and a transaction), so the
//! yardstick is the floor SQLite itself sets: [`bare_sql`], the debit and
//! credit `UPDATE`s in one transaction on the same table and connection
//! settings, with none of the checks (no balance or account lookup, no
//! ledger row) and cached prepared statements. A transfer cannot cost less
//! and still move money atomically; what the reference costs above it is the
//! price of the checks and the ledger. For `balance` the floor is the same
//! single `SELECT` by primary key.

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

/// The floor: the bare `UPDATE` pair of a transfer in one transaction, with
/// none of the kata's checks and no ledger, behind the kata's API so the
/// bench's operations run on it unchanged.
mod bare_sql {
    use std::path::Path;

    use rusqlite::{Connection, params};

    /// The id of an account, as the database issued it.
    #[derive(Debug, Clone, Copy)]
    pub struct AccountId(i64);

    /// Accounts in SQLite, and nothing else.
    pub struct Bank {
        conn: Connection,
    }

    impl Bank {
        pub fn open(path: impl AsRef<Path>) -> rusqlite::Result<Self> {
            Self::with_connection(Connection::open(path)?)
        }

        /// The reference's connection settings and `accounts` table.
        pub fn with_connection(conn: Connection) -> rusqlite::Result<Self> {
            conn.busy_timeout(std::time::Duration::from_secs(10))?;
            let _mode: String =
                conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
            conn.execute_batch(
                "PRAGMA synchronous = NORMAL;
                 CREATE TABLE IF NOT EXISTS accounts (
                     id      INTEGER PRIMARY KEY,
                     balance INTEGER NOT NULL CHECK (balance >= 0)
                 );",
            )?;
            Ok(Self { conn })
        }

        pub fn open_account(&mut self, initial: u64) -> rusqlite::Result<AccountId> {
            let initial = i64::try_from(initial).expect("an opening balance within i64");
            self.conn
                .execute("INSERT INTO accounts (balance) VALUES (?1)", [initial])?;
            Ok(AccountId(self.conn.last_insert_rowid()))
        }

        pub fn balance(&self, account: AccountId) -> rusqlite::Result<i64> {
            self.conn
                .prepare_cached("SELECT balance FROM accounts WHERE id = ?1")?
                .query_row([account.0], |row| row.get(0))
        }

        /// Debit and credit in one transaction: no lookup, no balance check,
        /// no ledger row.
        pub fn transfer(
            &mut self,
            from: AccountId,
            to: AccountId,
            amount: i64,
        ) -> rusqlite::Result<()> {
            let tx = self.conn.transaction()?;
            tx.prepare_cached("UPDATE accounts SET balance = balance - ?1 WHERE id = ?2")?
                .execute(params![amount, from.0])?;
            tx.prepare_cached("UPDATE accounts SET balance = balance + ?1 WHERE id = ?2")?
                .execute(params![amount, to.0])?;
            tx.commit()
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
        group.bench_function(BenchmarkId::new("bare SQL", $parameter), |b| {
            #[allow(unused_mut)] // some operations count calls (FnMut), some do not
            let mut operation = $operation!(bare_sql);
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
