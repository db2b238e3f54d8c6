//! # Bank transfer
//!
//! The transfer service of a bank, as a library on SQLite: accounts, a
//! ledger, and transfers that are atomic, never overdraw, and are recorded
//! exactly once. Read `README.md` beside this file for the problem, then make
//! the specification pass:
//!
//! ```text
//! cargo xtask kata bank-transfer
//! ```
//!
//! Everything is stored through the [`rusqlite::Connection`] a [`Bank`]
//! owns. The schema is yours, with one exception: the table of transfers is
//! called `ledger` (the spec installs a failing trigger on it to simulate a
//! failed write). Several banks, each with its own connection, may share one
//! database file (the spec runs them on several threads).
//!
//! The types [`AccountId`], [`TransferId`], [`Transfer`] and
//! [`TransferError`] are written for you; the `todo!()`s are yours.

// The bodies below are `todo!()`, so their arguments go unused until you
// write them. Delete this line when you are done.
#![allow(unused_variables)]

use std::error::Error;
use std::fmt;
use std::path::Path;

use rusqlite::Connection;

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
    // Your fields here: the connection, and what else?
}

impl Bank {
    /// Opens (creating it if needed) the database file at `path`: a
    /// connection, set up as [`Bank::with_connection`] does.
    pub fn open(path: impl AsRef<Path>) -> rusqlite::Result<Self> {
        todo!("Bank::open: open a Connection on the file and hand it to with_connection")
    }

    /// A bank on an open connection (for example an in-memory database):
    /// sets the connection up (busy handling, journal mode) and creates the
    /// schema if it is not there. Opening a bank on a database that already
    /// has accounts keeps them.
    pub fn with_connection(conn: Connection) -> rusqlite::Result<Self> {
        todo!(
            "Bank::with_connection: busy timeout, WAL, CREATE TABLE IF NOT EXISTS accounts and ledger"
        )
    }

    /// Opens an account holding `initial` cents and returns its id. Ids are
    /// issued by the database: distinct across every bank on the file.
    pub fn open_account(&mut self, initial: u64) -> Result<AccountId, TransferError> {
        todo!("Bank::open_account: insert the account, return the id SQLite gave it")
    }

    /// The balance of `account`, in cents; `UnknownAccount(account)` if no
    /// account has that id.
    pub fn balance(&self, account: AccountId) -> Result<i64, TransferError> {
        todo!("Bank::balance: one lookup by id")
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
        todo!(
            "Bank::transfer: validate, then check and move the money and write the ledger row in ONE transaction"
        )
    }

    /// Every transfer that happened, oldest (smallest id) first.
    pub fn ledger(&self) -> Result<Vec<Transfer>, TransferError> {
        todo!("Bank::ledger: SELECT every ledger row ORDER BY id")
    }
}
