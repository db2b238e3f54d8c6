//! # Cursor pagination
//!
//! Keyset pagination over the `items` table of a SQLite database, ordered by
//! `(created_at, id)`, in both directions, with an opaque cursor that a
//! client cannot alter undetected. Read `README.md` beside this file for the
//! problem, then make the specification pass:
//!
//! ```text
//! cargo xtask kata cursor-pagination
//! ```
//!
//! The schema the spec relies on (`open` creates it if it is missing, and
//! the spec writes rows into it directly with its own connection):
//!
//! ```sql
//! CREATE TABLE IF NOT EXISTS items (
//!     id         INTEGER PRIMARY KEY,
//!     created_at INTEGER NOT NULL,
//!     body       TEXT    NOT NULL
//! );
//! CREATE INDEX IF NOT EXISTS items_created_at_id ON items (created_at, id);
//! ```

// The bodies below are `todo!()`, so their arguments go unused until you
// write them. Delete this line when you are done.
#![allow(unused_variables)]

use std::fmt;
use std::path::Path;

/// Which way to walk from the cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Towards newer rows: the rows after the cursor (from the oldest row
    /// without one).
    Forward,
    /// Towards older rows: the rows before the cursor (the newest rows
    /// without one).
    Backward,
}

/// One row of `items`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Item {
    /// The row's primary key.
    pub id: i64,
    /// When the row was created (any unit; only the order matters).
    pub created_at: i64,
    /// The row's payload.
    pub body: String,
}

/// One page of rows, oldest first, and the cursors around it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// At most `limit` rows in ascending `(created_at, id)` order, whichever
    /// the direction.
    pub items: Vec<Item>,
    /// A cursor for the rows after the last item: `Some` exactly when such
    /// a row existed when the page was read; `None` for an empty page.
    pub next: Option<String>,
    /// A cursor for the rows before the first item: `Some` exactly when such
    /// a row existed when the page was read; `None` for an empty page.
    pub prev: Option<String>,
}

/// Why a page could not be read.
#[derive(Debug)]
pub enum PageError {
    /// The cursor is not something this pager could have issued (wrong
    /// length, wrong characters, not decodable).
    MalformedCursor,
    /// The cursor is well-formed but fails its integrity check: it was
    /// altered, or issued under another secret.
    TamperedCursor,
    /// SQLite failed.
    Database(rusqlite::Error),
}

impl fmt::Display for PageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        todo!("a one-line description of each error")
    }
}

impl std::error::Error for PageError {}

impl From<rusqlite::Error> for PageError {
    fn from(e: rusqlite::Error) -> Self {
        PageError::Database(e)
    }
}

/// Pages through the `items` table of one SQLite database.
#[derive(Debug)]
pub struct Pager {
    // Your fields here (a connection, whatever the cursor's key needs).
    _todo: (),
}

impl Pager {
    /// Opens the database at `path`, creates `items` and an index on
    /// `(created_at, id)` if they are missing (see the schema above), and
    /// keys cursors with `secret`. Pagers opened with the same secret accept
    /// each other's cursors; a cursor issued under another secret is
    /// `TamperedCursor`.
    pub fn open(path: &Path, secret: &[u8]) -> Result<Pager, PageError> {
        todo!(
            "open the connection, create the table and the (created_at, id) index, keep the secret"
        )
    }

    /// Reads at most `limit` rows (a `limit` of 0 is treated as 1) strictly
    /// after (`Forward`) or strictly before (`Backward`) the cursor's
    /// position, or from the matching end of the table without a cursor:
    /// the oldest rows forward, the newest rows backward. The items are
    /// always oldest first. `next` continues after the last item, `prev`
    /// before the first, whatever was inserted or deleted in between.
    pub fn page(
        &self,
        cursor: Option<&str>,
        limit: u32,
        direction: Direction,
    ) -> Result<Page, PageError> {
        todo!(
            "decode and verify the cursor, run a keyset query on (created_at, id), build next and prev"
        )
    }

    /// The `EXPLAIN QUERY PLAN` lines (the `detail` column) of the query
    /// `page` runs with a cursor in `direction`, for example
    /// `SEARCH items USING COVERING INDEX items_created_at_id ((created_at,id)>(?,?))`.
    pub fn page_query_plan(&self, direction: Direction) -> Result<Vec<String>, PageError> {
        todo!("prepare `EXPLAIN QUERY PLAN <your page query>` and collect column 3 of its rows")
    }
}
