//! Wrong: the balances move in one `IMMEDIATE` transaction, which commits;
//! the ledger row is written afterwards, in a second step.
//!
//! Why candidates write it: the balance update is "the transfer", and the
//! ledger feels like a log written after the fact. But if the second step
//! fails (a full disk, a crash, a constraint), the money has moved and the
//! ledger does not show it: the books no longer add up, and the caller
//! gets an error for a transfer that happened.
//!
//! Caught by: `followup_a_transfer_whose_ledger_write_fails_moves_no_money`.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

pub use bank_transfer_solution::{AccountId, Transfer, TransferError, TransferId};

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS accounts (
        id      INTEGER PRIMARY KEY,
        balance INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS ledger (
        id           INTEGER PRIMARY KEY,
        from_account INTEGER NOT NULL,
        to_account   INTEGER NOT NULL,
        amount       INTEGER NOT NULL
    );
";

#[derive(Debug)]
pub struct Bank {
    conn: Connection,
}

impl Bank {
    pub fn open(path: impl AsRef<Path>) -> rusqlite::Result<Self> {
        Self::with_connection(Connection::open(path)?)
    }

    pub fn with_connection(conn: Connection) -> rusqlite::Result<Self> {
        conn.busy_timeout(Duration::from_secs(10))?;
        let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
        conn.execute_batch("PRAGMA synchronous = NORMAL;")?;
        conn.execute_batch(SCHEMA)?;
        Ok(Self { conn })
    }

    pub fn open_account(&mut self, initial: u64) -> Result<AccountId, TransferError> {
        let initial = i64::try_from(initial)
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        self.conn
            .execute("INSERT INTO accounts (balance) VALUES (?1)", [initial])?;
        Ok(AccountId(self.conn.last_insert_rowid()))
    }

    pub fn balance(&self, account: AccountId) -> Result<i64, TransferError> {
        self.conn
            .query_row(
                "SELECT balance FROM accounts WHERE id = ?1",
                [account.0],
                |row| row.get(0),
            )
            .optional()?
            .ok_or(TransferError::UnknownAccount(account))
    }

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
        let balance_of = |id: AccountId| {
            tx.query_row("SELECT balance FROM accounts WHERE id = ?1", [id.0], |row| {
                row.get::<_, i64>(0)
            })
            .optional()
        };
        let available = balance_of(from)?.ok_or(TransferError::UnknownAccount(from))?;
        balance_of(to)?.ok_or(TransferError::UnknownAccount(to))?;
        if available < amount {
            return Err(TransferError::InsufficientFunds);
        }
        tx.execute(
            "UPDATE accounts SET balance = balance - ?1 WHERE id = ?2",
            params![amount, from.0],
        )?;
        tx.execute(
            "UPDATE accounts SET balance = balance + ?1 WHERE id = ?2",
            params![amount, to.0],
        )?;
        tx.commit()?;
        // The bug: a second, separate step.
        self.conn.execute(
            "INSERT INTO ledger (from_account, to_account, amount) VALUES (?1, ?2, ?3)",
            params![from.0, to.0, amount],
        )?;
        Ok(TransferId(self.conn.last_insert_rowid()))
    }
}
