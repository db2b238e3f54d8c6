//! Reference solution of the bank-transfer kata.
//!
//! Accounts and a ledger in SQLite. A transfer is one `BEGIN IMMEDIATE`
//! transaction: it takes the database's write lock before reading the
//! balance, so no other connection can change the balance between the check
//! and the debit, and a second connection waits (busy timeout) instead of
//! failing. The debit, the credit and the ledger row commit together or not
//! at all.
//!
//! The statements of `balance` and `transfer` go through the connection's
//! statement cache (`prepare_cached`): SQLite compiles each one once per
//! connection instead of on every call.

use std::error::Error;
use std::fmt;
use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

/// How long a connection waits for another connection's write lock before
/// giving up with "database is locked".
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The schema. `ledger` is the table of transfers; the spec relies on its
/// name (it installs a failing trigger on it to simulate a failed write).
const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS accounts (
        id      INTEGER PRIMARY KEY,
        balance INTEGER NOT NULL CHECK (balance >= 0)
    );
    CREATE TABLE IF NOT EXISTS ledger (
        id           INTEGER PRIMARY KEY,
        from_account INTEGER NOT NULL REFERENCES accounts (id),
        to_account   INTEGER NOT NULL REFERENCES accounts (id),
        amount       INTEGER NOT NULL CHECK (amount > 0)
    );
";

/// The id of an account, as the database issued it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountId(pub i64);

/// The id of a transfer: its row in the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TransferId(pub i64);

/// One row of the ledger: a transfer that happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transfer {
    /// The id [`Bank::transfer`] returned for it.
    pub id: TransferId,
    /// The account debited.
    pub from: AccountId,
    /// The account credited.
    pub to: AccountId,
    /// How much moved, in cents; always positive.
    pub amount: i64,
}

/// Why a transfer (or a lookup) did not happen. A transfer that returns an
/// error changed nothing: no balance moved and the ledger has no row for it.
#[derive(Debug)]
pub enum TransferError {
    /// No account has this id.
    UnknownAccount(AccountId),
    /// The source and the destination are the same account.
    SameAccount,
    /// The amount is zero or negative.
    NonPositiveAmount,
    /// The source account holds less than the amount.
    InsufficientFunds,
    /// SQLite failed (for example a full disk or a lock it waited for in
    /// vain).
    Database(rusqlite::Error),
}

impl fmt::Display for TransferError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownAccount(id) => write!(f, "no account has id {}", id.0),
            Self::SameAccount => f.write_str("cannot transfer from an account to itself"),
            Self::NonPositiveAmount => f.write_str("the amount must be positive"),
            Self::InsufficientFunds => f.write_str("insufficient funds"),
            Self::Database(e) => write!(f, "database error: {e}"),
        }
    }
}

impl Error for TransferError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            Self::Database(e) => Some(e),
            _ => None,
        }
    }
}

impl From<rusqlite::Error> for TransferError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Database(e)
    }
}

/// A bank: accounts and a ledger, stored through one SQLite connection.
/// Several banks (several connections, on several threads) may share one
/// database file.
#[derive(Debug)]
pub struct Bank {
    conn: Connection,
}

impl Bank {
    /// Opens (creating it if needed) the database file at `path`.
    pub fn open(path: impl AsRef<Path>) -> rusqlite::Result<Self> {
        Self::with_connection(Connection::open(path)?)
    }

    /// A bank on an open connection (for example an in-memory database):
    /// sets the connection up and creates the schema if it is not there.
    pub fn with_connection(conn: Connection) -> rusqlite::Result<Self> {
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // WAL: readers do not block the writer, and with synchronous=NORMAL
        // a commit appends to the log without waiting for the disk. (An
        // in-memory database answers "memory" and keeps its own mode.)
        let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
        conn.execute_batch("PRAGMA synchronous = NORMAL;")?;
        conn.execute_batch(SCHEMA)?;
        Ok(Self { conn })
    }

    /// Opens an account holding `initial` cents. (More than `i64::MAX` cents
    /// does not fit in SQLite and is a `Database` error.)
    pub fn open_account(&mut self, initial: u64) -> Result<AccountId, TransferError> {
        let initial = i64::try_from(initial)
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        self.conn
            .execute("INSERT INTO accounts (balance) VALUES (?1)", [initial])?;
        Ok(AccountId(self.conn.last_insert_rowid()))
    }

    /// The balance of `account`, in cents.
    pub fn balance(&self, account: AccountId) -> Result<i64, TransferError> {
        self.conn
            .prepare_cached("SELECT balance FROM accounts WHERE id = ?1")?
            .query_row([account.0], |row| row.get(0))
            .optional()?
            .ok_or(TransferError::UnknownAccount(account))
    }

    /// Moves `amount` cents from `from` to `to` and records it in the
    /// ledger, all in one transaction; returns the ledger id.
    pub fn transfer(
        &mut self,
        from: AccountId,
        to: AccountId,
        amount: i64,
    ) -> Result<TransferId, TransferError> {
        if amount <= 0 {
            return Err(TransferError::NonPositiveAmount);
        }
        if from == to {
            return Err(TransferError::SameAccount);
        }
        // IMMEDIATE: take the write lock now, before reading the balance.
        // Dropping the transaction without commit rolls it back.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let balance_of = |id: AccountId| {
            tx.prepare_cached("SELECT balance FROM accounts WHERE id = ?1")?
                .query_row([id.0], |row| row.get::<_, i64>(0))
                .optional()
        };
        let available = balance_of(from)?.ok_or(TransferError::UnknownAccount(from))?;
        balance_of(to)?.ok_or(TransferError::UnknownAccount(to))?;
        if available < amount {
            return Err(TransferError::InsufficientFunds);
        }
        tx.prepare_cached("UPDATE accounts SET balance = balance - ?1 WHERE id = ?2")?
            .execute(params![amount, from.0])?;
        tx.prepare_cached("UPDATE accounts SET balance = balance + ?1 WHERE id = ?2")?
            .execute(params![amount, to.0])?;
        tx.prepare_cached(
            "INSERT INTO ledger (from_account, to_account, amount) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![from.0, to.0, amount])?;
        let id = TransferId(tx.last_insert_rowid());
        tx.commit()?;
        Ok(id)
    }

    /// Every transfer that happened, oldest first.
    pub fn ledger(&self) -> Result<Vec<Transfer>, TransferError> {
        let mut statement = self
            .conn
            .prepare("SELECT id, from_account, to_account, amount FROM ledger ORDER BY id")?;
        let rows = statement.query_map([], |row| {
            Ok(Transfer {
                id: TransferId(row.get(0)?),
                from: AccountId(row.get(1)?),
                to: AccountId(row.get(2)?),
                amount: row.get(3)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}
