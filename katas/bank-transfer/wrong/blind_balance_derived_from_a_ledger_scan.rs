//! Bug: no stored balance: an account keeps only its opening amount, and every balance (in
//! `balance` and in `transfer`'s funds check) is derived as opening + SUM(credits) - SUM(debits)
//! over the `ledger`, which has no index on `from_account`/`to_account`. Every lookup and every
//! transfer scans the whole ledger: O(ledger size) instead of a primary-key lookup. Results are
//! correct, and the funds check still runs inside the IMMEDIATE transaction.
//!
//! Why candidates write it: double-entry bookkeeping says "the ledger is the truth, derive the
//! balance"; it removes the lost-update problem on a balance column and passes every functional
//! test on small ledgers.
//!
//! Symptom: transfers and balance lookups get slower every day; after a year of traffic each takes seconds
//!
//! Whole file: written blind from the README and the stub by the red team; its design has no
//! balance column: each balance is derived from the opening amount and a scan of the ledger,
//! instead of the reference's stored `accounts.balance` updated by each transfer.
//!
//! Caught by: `followup_a_balance_and_a_transfer_cost_the_same_however_long_the_ledger` (tests/complexity.rs:
//! the SQLite steps of one balance and one transfer grow with the ledger).

use std::error::Error;
use std::fmt;
use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

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

/// The balance of one account: its opening amount plus what the ledger credits minus what it debits.
const BALANCE_SQL: &str = "SELECT a.opening
        + COALESCE((SELECT SUM(amount) FROM ledger WHERE to_account = a.id), 0)
        - COALESCE((SELECT SUM(amount) FROM ledger WHERE from_account = a.id), 0)
    FROM accounts AS a WHERE a.id = ?1";

fn out_of_range(value: i128) -> rusqlite::Error {
    rusqlite::Error::IntegralValueOutOfRange(0, value as i64)
}

impl Bank {
    /// Opens (creating it if needed) the database file at `path`: a
    /// connection, set up as [`Bank::with_connection`] does.
    pub fn open(path: impl AsRef<Path>) -> rusqlite::Result<Self> {
        Self::with_connection(Connection::open(path)?)
    }

    /// A bank on an open connection (for example an in-memory database):
    /// sets the connection up (busy handling, journal mode) and creates the
    /// schema if it is not there. Opening a bank on a database that already
    /// has accounts keeps them.
    pub fn with_connection(conn: Connection) -> rusqlite::Result<Self> {
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             CREATE TABLE IF NOT EXISTS accounts (
                 id      INTEGER PRIMARY KEY,
                 opening INTEGER NOT NULL CHECK (opening >= 0)
             );
             CREATE TABLE IF NOT EXISTS ledger (
                 id           INTEGER PRIMARY KEY,
                 from_account INTEGER NOT NULL,
                 to_account   INTEGER NOT NULL,
                 amount       INTEGER NOT NULL
             );",
        )?;
        Ok(Self { conn })
    }

    /// Opens an account holding `initial` cents and returns its id. Ids are
    /// issued by the database: distinct across every bank on the file.
    pub fn open_account(&mut self, initial: u64) -> Result<AccountId, TransferError> {
        let initial = i64::try_from(initial).map_err(|_| out_of_range(initial as i128))?;
        self.conn
            .execute("INSERT INTO accounts (opening) VALUES (?1)", [initial])?;
        Ok(AccountId(self.conn.last_insert_rowid()))
    }

    /// The balance of `account`, in cents; `UnknownAccount(account)` if no
    /// account has that id.
    pub fn balance(&self, account: AccountId) -> Result<i64, TransferError> {
        self.conn
            .query_row(BALANCE_SQL, [account.0], |row| row.get(0))
            .optional()?
            .ok_or(TransferError::UnknownAccount(account))
    }

    /// Moves `amount` cents from `from` to `to` and records the transfer in
    /// the ledger, all or nothing; returns the transfer's ledger id.
    ///
    /// Errors, each of which changes nothing: `NonPositiveAmount` for an
    /// amount of zero or less, `SameAccount` if `from == to`,
    /// `UnknownAccount(id)` naming the account that does not exist,
    /// `InsufficientFunds` if `from` holds less than `amount` (transferring
    /// the whole balance is fine), `Database` if SQLite fails. Another bank
    /// on the same file may be transferring at the same moment: wait for it,
    /// never fail because of it.
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
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let lookup = |id: AccountId| -> Result<i64, TransferError> {
            tx.query_row(BALANCE_SQL, [id.0], |row| row.get(0))
            .optional()?
            .ok_or(TransferError::UnknownAccount(id))
        };
        let available = lookup(from)?;
        let credited = lookup(to)?;
        if available < amount {
            return Err(TransferError::InsufficientFunds);
        }
        credited
            .checked_add(amount)
            .ok_or_else(|| out_of_range(credited as i128 + amount as i128))?;
        tx.execute(
            "INSERT INTO ledger (from_account, to_account, amount) VALUES (?1, ?2, ?3)",
            params![from.0, to.0, amount],
        )?;
        let id = TransferId(tx.last_insert_rowid());
        tx.commit()?;
        Ok(id)
    }

    /// Every transfer that happened, oldest (smallest id) first.
    pub fn ledger(&self) -> Result<Vec<Transfer>, TransferError> {
        let mut stmt = self.conn.prepare(
            "SELECT id, from_account, to_account, amount FROM ledger ORDER BY id",
        )?;
        let rows = stmt.query_map([], |row| {
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
