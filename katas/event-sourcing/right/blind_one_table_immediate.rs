//! # Event sourcing (blind right answer)
//!
//! One `events` table: the position is its `INTEGER PRIMARY KEY`, and a
//! `UNIQUE (stream, version)` index serves the version check and every
//! stream read. An append is one `BEGIN IMMEDIATE` transaction (check, then
//! insert); `execute` writes its snapshot inside the same transaction as its
//! event. The projection applies one batch and moves its checkpoint in one
//! `BEGIN IMMEDIATE` transaction that also reads the checkpoint and the batch.

use std::collections::BTreeMap;
use std::error::Error as StdError;
use std::fmt;

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

// ───────────────────────────── the event store ─────────────────────────────

/// One event as it is stored.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EventData {
    /// What happened, e.g. `"MoneyDeposited"`.
    pub kind: String,
    /// The version of this kind's payload format (1, 2, ...).
    pub schema: u32,
    /// The body, in the format `kind` and `schema` say.
    pub payload: String,
}

/// An event read back from the store.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RecordedEvent {
    /// The stream it belongs to.
    pub stream: String,
    /// Its place in its stream, from 1, without gaps.
    pub version: u64,
    /// Its place in the whole log.
    pub position: u64,
    /// The event as appended.
    pub data: EventData,
}

/// The state of a stream's aggregate at one version.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Snapshot {
    /// The stream version this state includes.
    pub version: u64,
    /// The encoded state.
    pub state: String,
}

const STORE_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS es_events (
    position INTEGER PRIMARY KEY,
    stream   TEXT NOT NULL,
    version  INTEGER NOT NULL,
    kind     TEXT NOT NULL,
    schema   INTEGER NOT NULL,
    payload  TEXT NOT NULL,
    UNIQUE (stream, version)
);
CREATE TABLE IF NOT EXISTS es_snapshots (
    stream  TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    state   TEXT NOT NULL
);
";

const PROJECTION_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS es_balance_views (
    account TEXT PRIMARY KEY,
    owner   TEXT NOT NULL,
    balance INTEGER NOT NULL,
    closed  INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS es_balance_checkpoint (
    one      INTEGER PRIMARY KEY CHECK (one = 0),
    position INTEGER NOT NULL
);
";

/// u64 <-> SQLite's i64, for values the log produced itself (versions,
/// positions): they start at 1 and grow by 1, so they fit.
fn to_sql(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn from_sql(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn check_stream(stream: &str) -> Result<()> {
    if stream.is_empty() { Err(Error::EmptyStreamName) } else { Ok(()) }
}

fn stream_version(conn: &Connection, stream: &str) -> Result<u64> {
    let v: Option<i64> = conn
        .prepare_cached(
            "SELECT version FROM es_events WHERE stream = ?1 ORDER BY version DESC LIMIT 1",
        )?
        .query_row(params![stream], |r| r.get(0))
        .optional()?;
    Ok(v.map_or(0, from_sql))
}

fn recorded(r: &rusqlite::Row<'_>) -> rusqlite::Result<RecordedEvent> {
    Ok(RecordedEvent {
        stream: r.get(0)?,
        version: from_sql(r.get(1)?),
        position: from_sql(r.get(2)?),
        data: EventData { kind: r.get(3)?, schema: r.get(4)?, payload: r.get(5)? },
    })
}

fn read_after(conn: &Connection, after_position: u64, limit: usize) -> Result<Vec<RecordedEvent>> {
    if after_position > i64::MAX as u64 {
        return Ok(Vec::new());
    }
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut stmt = conn.prepare_cached(
        "SELECT stream, version, position, kind, schema, payload FROM es_events \
         WHERE position > ?1 ORDER BY position LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![to_sql(after_position), limit], recorded)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Inside the caller's write transaction: checks the version, inserts the
/// events (and the snapshot, if any). Returns the new version.
fn append_in(
    tx: &Transaction<'_>,
    stream: &str,
    expected_version: u64,
    events: &[EventData],
) -> Result<u64> {
    let actual = stream_version(tx, stream)?;
    if actual != expected_version {
        return Err(Error::Conflict { stream: stream.to_owned(), expected: expected_version, actual });
    }
    let mut stmt = tx.prepare_cached(
        "INSERT INTO es_events (stream, version, kind, schema, payload) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    let mut version = expected_version;
    for e in events {
        version += 1;
        match stmt.execute(params![stream, to_sql(version), e.kind, e.schema, e.payload]) {
            Ok(_) => {}
            Err(rusqlite::Error::SqliteFailure(f, _))
                if f.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                // Cannot happen under the write lock; if it does, it is still
                // someone else's version.
                let actual = stream_version(tx, stream)?;
                return Err(Error::Conflict { stream: stream.to_owned(), expected: expected_version, actual });
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(version)
}

/// An append-only log of events in streams, on SQLite.
#[derive(Debug)]
pub struct EventStore {
    conn: Connection,
}

impl EventStore {
    /// A store on `conn`: creates its tables and indexes if they are missing.
    pub fn new(conn: Connection) -> Result<Self> {
        conn.execute_batch(STORE_SCHEMA)?;
        Ok(Self { conn })
    }

    /// Appends `events` to `stream` as versions `expected_version + 1..`,
    /// all or none, iff the stream is at `expected_version`.
    ///
    /// # Errors
    ///
    /// [`Error::Conflict`], [`Error::EmptyStreamName`], [`Error::NoEvents`].
    pub fn append(
        &mut self,
        stream: &str,
        expected_version: u64,
        events: &[EventData],
    ) -> Result<u64> {
        self.append_with_snapshot(stream, expected_version, events, None)
    }

    fn append_with_snapshot(
        &mut self,
        stream: &str,
        expected_version: u64,
        events: &[EventData],
        snapshot: Option<&Snapshot>,
    ) -> Result<u64> {
        check_stream(stream)?;
        if events.is_empty() {
            return Err(Error::NoEvents);
        }
        // IMMEDIATE: the write lock before the check, so nobody appends
        // between the check and the insert; a lock that cannot be had is a
        // database error (busy), not a conflict.
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let version = append_in(&tx, stream, expected_version, events)?;
        if let Some(s) = snapshot {
            upsert_snapshot(&tx, stream, s)?;
        }
        tx.commit()?;
        Ok(version)
    }

    /// The stream's current version, 0 if it has no events.
    ///
    /// # Errors
    ///
    /// [`Error::EmptyStreamName`].
    pub fn version(&self, stream: &str) -> Result<u64> {
        check_stream(stream)?;
        stream_version(&self.conn, stream)
    }

    /// The events of `stream` with a version greater than `after_version`.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownStream`], [`Error::VersionOutOfRange`],
    /// [`Error::EmptyStreamName`].
    pub fn read_stream(&self, stream: &str, after_version: u64) -> Result<Vec<RecordedEvent>> {
        let current = self.version(stream)?;
        if current == 0 {
            return Err(Error::UnknownStream(stream.to_owned()));
        }
        if after_version > current {
            return Err(Error::VersionOutOfRange {
                stream: stream.to_owned(),
                version: after_version,
                current,
            });
        }
        let mut stmt = self.conn.prepare_cached(
            "SELECT stream, version, position, kind, schema, payload FROM es_events \
             WHERE stream = ?1 AND version > ?2 ORDER BY version",
        )?;
        let rows = stmt.query_map(params![stream, to_sql(after_version)], recorded)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// At most `limit` events of the log after `after_position`.
    ///
    /// # Errors
    ///
    /// [`Error::ZeroArgument`]`("limit")`.
    pub fn read_all(&self, after_position: u64, limit: usize) -> Result<Vec<RecordedEvent>> {
        if limit == 0 {
            return Err(Error::ZeroArgument("limit"));
        }
        read_after(&self.conn, after_position, limit)
    }

    /// Stores `snapshot` unless the stream has one at a higher version.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownStream`], [`Error::VersionOutOfRange`],
    /// [`Error::EmptyStreamName`].
    pub fn save_snapshot(&mut self, stream: &str, snapshot: &Snapshot) -> Result<()> {
        check_stream(stream)?;
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let current = stream_version(&tx, stream)?;
        if current == 0 {
            return Err(Error::UnknownStream(stream.to_owned()));
        }
        if snapshot.version == 0 || snapshot.version > current {
            return Err(Error::VersionOutOfRange {
                stream: stream.to_owned(),
                version: snapshot.version,
                current,
            });
        }
        upsert_snapshot(&tx, stream, snapshot)?;
        tx.commit()?;
        Ok(())
    }

    /// The stream's snapshot with the highest version, if any.
    ///
    /// # Errors
    ///
    /// [`Error::EmptyStreamName`].
    pub fn load_snapshot(&self, stream: &str) -> Result<Option<Snapshot>> {
        check_stream(stream)?;
        Ok(self
            .conn
            .prepare_cached("SELECT version, state FROM es_snapshots WHERE stream = ?1")?
            .query_row(params![stream], |r| {
                Ok(Snapshot { version: from_sql(r.get(0)?), state: r.get(1)? })
            })
            .optional()?)
    }
}

fn upsert_snapshot(tx: &Transaction<'_>, stream: &str, s: &Snapshot) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO es_snapshots (stream, version, state) VALUES (?1, ?2, ?3) \
         ON CONFLICT (stream) DO UPDATE SET version = excluded.version, state = excluded.state \
         WHERE excluded.version >= es_snapshots.version",
    )?
    .execute(params![stream, to_sql(s.version), s.state])?;
    Ok(())
}

// ───────────────────────────── the aggregate ─────────────────────────────

/// An event of the account aggregate, in the current schema.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AccountEvent {
    /// The account was opened for `owner`; its balance is 0.
    Opened {
        /// The owner's name.
        owner: String,
    },
    /// Money came in.
    Deposited {
        /// How much, in cents.
        cents: u64,
    },
    /// Money went out.
    Withdrawn {
        /// How much, in cents.
        cents: u64,
    },
    /// The account was closed.
    Closed,
}

const OPENED: &str = "AccountOpened";
const DEPOSITED: &str = "MoneyDeposited";
const WITHDRAWN: &str = "MoneyWithdrawn";
const CLOSED: &str = "AccountClosed";

/// A non-empty run of ASCII digits as a u64; `None` for anything else
/// (signs, spaces, other digits) or an overflow.
fn digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Schema 1: euros, a dot, exactly two digits of cents.
fn euros_to_cents(s: &str) -> Option<u64> {
    let (euros, cents) = s.split_once('.')?;
    if cents.len() != 2 {
        return None;
    }
    let cents = digits(cents)?;
    digits(euros)?.checked_mul(100)?.checked_add(cents)
}

impl AccountEvent {
    /// The event in the wire format, always the current schema.
    pub fn encode(&self) -> EventData {
        let (kind, schema, payload) = match self {
            Self::Opened { owner } => (OPENED, 1, owner.clone()),
            Self::Deposited { cents } => (DEPOSITED, 2, cents.to_string()),
            Self::Withdrawn { cents } => (WITHDRAWN, 2, cents.to_string()),
            Self::Closed => (CLOSED, 1, String::new()),
        };
        EventData { kind: kind.to_owned(), schema, payload }
    }

    /// The event a stored one stands for, upcasting schema 1.
    ///
    /// # Errors
    ///
    /// [`DecodeError::UnknownKind`], [`DecodeError::UnknownSchema`],
    /// [`DecodeError::BadPayload`].
    pub fn decode(data: &EventData) -> std::result::Result<Self, DecodeError> {
        let bad = || DecodeError::BadPayload {
            kind: data.kind.clone(),
            schema: data.schema,
            payload: data.payload.clone(),
        };
        let amount = |schema: u32| -> std::result::Result<u64, DecodeError> {
            match schema {
                1 => euros_to_cents(&data.payload).ok_or_else(bad),
                2 => digits(&data.payload).ok_or_else(bad),
                _ => unreachable!(),
            }
        };
        let unknown_schema =
            || DecodeError::UnknownSchema { kind: data.kind.clone(), schema: data.schema };
        match (data.kind.as_str(), data.schema) {
            (OPENED, 1) => Ok(Self::Opened { owner: data.payload.clone() }),
            (DEPOSITED, s @ (1 | 2)) => Ok(Self::Deposited { cents: amount(s)? }),
            (WITHDRAWN, s @ (1 | 2)) => Ok(Self::Withdrawn { cents: amount(s)? }),
            (CLOSED, 1) => {
                if data.payload.is_empty() { Ok(Self::Closed) } else { Err(bad()) }
            }
            (OPENED | DEPOSITED | WITHDRAWN | CLOSED, _) => Err(unknown_schema()),
            (other, _) => Err(DecodeError::UnknownKind(other.to_owned())),
        }
    }
}

/// What a caller asks of an account.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Command {
    /// Open the account for `owner` (a non-empty name).
    Open {
        /// The owner's name.
        owner: String,
    },
    /// Put `cents` (at least 1) into the account.
    Deposit {
        /// How much, in cents.
        cents: u64,
    },
    /// Take `cents` (at least 1, at most the balance) out of the account.
    Withdraw {
        /// How much, in cents.
        cents: u64,
    },
    /// Close the account (its balance must be 0).
    Close,
}

/// Where an account is in its life.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Status {
    /// No event yet.
    #[default]
    New,
    /// Opened, not closed.
    Open,
    /// Closed, for good.
    Closed,
}

/// The state of one account: what its events fold into.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Account {
    /// Where it is in its life.
    pub status: Status,
    /// The owner's name (empty while `New`).
    pub owner: String,
    /// The balance, in cents.
    pub balance: u64,
}

impl Account {
    /// The events `command` produces on this state, or the rejection.
    ///
    /// # Errors
    ///
    /// The [`Rejection`] for the first rule the command breaks.
    pub fn decide(&self, command: &Command) -> std::result::Result<Vec<AccountEvent>, Rejection> {
        // The status first.
        match (command, self.status) {
            (Command::Open { .. }, Status::New) => {}
            (Command::Open { .. }, _) => return Err(Rejection::AlreadyOpened),
            (_, Status::New) => return Err(Rejection::NotOpen),
            (_, Status::Closed) => return Err(Rejection::Closed),
            (_, Status::Open) => {}
        }
        match command {
            Command::Open { owner } => {
                if owner.is_empty() {
                    return Err(Rejection::EmptyOwner);
                }
                Ok(vec![AccountEvent::Opened { owner: owner.clone() }])
            }
            Command::Deposit { cents } => {
                if *cents == 0 {
                    return Err(Rejection::ZeroAmount);
                }
                if self.balance.checked_add(*cents).is_none() {
                    return Err(Rejection::BalanceOverflow { balance: self.balance, deposit: *cents });
                }
                Ok(vec![AccountEvent::Deposited { cents: *cents }])
            }
            Command::Withdraw { cents } => {
                if *cents == 0 {
                    return Err(Rejection::ZeroAmount);
                }
                if *cents > self.balance {
                    return Err(Rejection::InsufficientFunds { balance: self.balance, requested: *cents });
                }
                Ok(vec![AccountEvent::Withdrawn { cents: *cents }])
            }
            Command::Close => {
                if self.balance != 0 {
                    return Err(Rejection::BalanceNotZero { balance: self.balance });
                }
                Ok(vec![AccountEvent::Closed])
            }
        }
    }

    /// Folds one event into the state. Never fails, never panics.
    pub fn apply(&mut self, event: &AccountEvent) {
        match event {
            AccountEvent::Opened { owner } => {
                self.status = Status::Open;
                self.owner.clone_from(owner);
            }
            AccountEvent::Deposited { cents } => self.balance = self.balance.saturating_add(*cents),
            AccountEvent::Withdrawn { cents } => self.balance = self.balance.saturating_sub(*cents),
            AccountEvent::Closed => self.status = Status::Closed,
        }
    }

    /// The state encoded for a [`Snapshot`]: `acct1;<status>;<balance>;<owner>`,
    /// the owner last and verbatim, so no character in it is ambiguous.
    pub fn to_snapshot(&self) -> String {
        let status = match self.status {
            Status::New => 'N',
            Status::Open => 'O',
            Status::Closed => 'C',
        };
        format!("acct1;{status};{};{}", self.balance, self.owner)
    }

    /// The state [`to_snapshot`](Self::to_snapshot) encoded.
    ///
    /// # Errors
    ///
    /// [`DecodeError::BadSnapshot`].
    pub fn from_snapshot(state: &str) -> std::result::Result<Self, DecodeError> {
        let bad = || DecodeError::BadSnapshot(state.to_owned());
        let rest = state.strip_prefix("acct1;").ok_or_else(bad)?;
        let (status, rest) = rest.split_once(';').ok_or_else(bad)?;
        let (balance, owner) = rest.split_once(';').ok_or_else(bad)?;
        let status = match status {
            "N" => Status::New,
            "O" => Status::Open,
            "C" => Status::Closed,
            _ => return Err(bad()),
        };
        let balance = digits(balance).ok_or_else(bad)?;
        Ok(Self { status, owner: owner.to_owned(), balance })
    }
}

fn decode_at(event: &RecordedEvent) -> Result<AccountEvent> {
    AccountEvent::decode(&event.data).map_err(|error| Error::Decode {
        stream: event.stream.clone(),
        version: event.version,
        error,
    })
}

/// The account aggregate on an event store.
#[derive(Debug)]
pub struct Accounts {
    store: EventStore,
    snapshot_every: u64,
}

impl Accounts {
    /// The aggregate on `store`, a snapshot every `snapshot_every` events.
    ///
    /// # Errors
    ///
    /// [`Error::ZeroArgument`]`("snapshot_every")`.
    pub fn new(store: EventStore, snapshot_every: u64) -> Result<Self> {
        if snapshot_every == 0 {
            return Err(Error::ZeroArgument("snapshot_every"));
        }
        Ok(Self { store, snapshot_every })
    }

    /// Runs `command` on the account: load, decide, append at the loaded
    /// version (with the snapshot, in the same transaction, on a multiple).
    ///
    /// # Errors
    ///
    /// [`Error::Rejected`], [`Error::Conflict`], [`Error::EmptyStreamName`],
    /// [`Error::Decode`].
    pub fn execute(&mut self, account: &str, command: &Command) -> Result<u64> {
        check_stream(account)?;
        let (mut state, version) = match self.load(account) {
            Ok(loaded) => loaded,
            Err(Error::UnknownStream(_)) => (Account::default(), 0),
            Err(e) => return Err(e),
        };
        let events = state.decide(command)?;
        let new_version = version + events.len() as u64;
        let snapshot = if new_version / self.snapshot_every > version / self.snapshot_every {
            for e in &events {
                state.apply(e);
            }
            // One event per command: the multiple crossed is the new version.
            Some(Snapshot { version: new_version, state: state.to_snapshot() })
        } else {
            None
        };
        let data: Vec<EventData> = events.iter().map(AccountEvent::encode).collect();
        self.store.append_with_snapshot(account, version, &data, snapshot.as_ref())
    }

    /// The account's state and version: newest snapshot + tail.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownStream`], [`Error::EmptyStreamName`], [`Error::Decode`].
    pub fn load(&self, account: &str) -> Result<(Account, u64)> {
        check_stream(account)?;
        let Some(snapshot) = self.store.load_snapshot(account)? else {
            return self.replay(account);
        };
        let mut state = Account::from_snapshot(&snapshot.state).map_err(|error| Error::Decode {
            stream: account.to_owned(),
            version: snapshot.version,
            error,
        })?;
        let mut version = snapshot.version;
        for event in self.store.read_stream(account, snapshot.version)? {
            state.apply(&decode_at(&event)?);
            version = event.version;
        }
        Ok((state, version))
    }

    /// The account's state and version from every event.
    ///
    /// # Errors
    ///
    /// As [`load`](Self::load).
    pub fn replay(&self, account: &str) -> Result<(Account, u64)> {
        let mut state = Account::default();
        let mut version = 0;
        for event in self.store.read_stream(account, 0)? {
            state.apply(&decode_at(&event)?);
            version = event.version;
        }
        Ok((state, version))
    }

    /// The store underneath.
    pub fn store(&self) -> &EventStore {
        &self.store
    }

    /// The store underneath, mutably.
    pub fn store_mut(&mut self) -> &mut EventStore {
        &mut self.store
    }
}

// ───────────────────────────── the read model ─────────────────────────────

/// One account in the read model.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct AccountView {
    /// The owner's name.
    pub owner: String,
    /// The balance, in cents.
    pub balance: u64,
    /// Whether the account was closed.
    pub closed: bool,
}

/// The balances page's read model.
#[derive(Debug)]
pub struct BalanceProjection {
    conn: Connection,
}

fn get_view(conn: &Connection, account: &str) -> Result<Option<AccountView>> {
    Ok(conn
        .prepare_cached("SELECT owner, balance, closed FROM es_balance_views WHERE account = ?1")?
        .query_row(params![account], |r| {
            Ok(AccountView {
                owner: r.get(0)?,
                // Stored as the i64 with the same bits: u64::MAX fits.
                balance: r.get::<_, i64>(1)? as u64,
                closed: r.get(2)?,
            })
        })
        .optional()?)
}

fn put_view(conn: &Connection, account: &str, view: &AccountView) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO es_balance_views (account, owner, balance, closed) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (account) DO UPDATE SET owner = excluded.owner, balance = excluded.balance, \
         closed = excluded.closed",
    )?
    .execute(params![account, view.owner, view.balance as i64, view.closed])?;
    Ok(())
}

fn stored_checkpoint(conn: &Connection) -> Result<u64> {
    let p: Option<i64> = conn
        .prepare_cached("SELECT position FROM es_balance_checkpoint WHERE one = 0")?
        .query_row([], |r| r.get(0))
        .optional()?;
    Ok(p.map_or(0, from_sql))
}

fn apply_to_view(conn: &Connection, account: &str, event: &AccountEvent) -> Result<()> {
    let view = get_view(conn, account)?;
    let next = match (event, view) {
        (AccountEvent::Opened { owner }, v) => {
            let mut v = v.unwrap_or_default();
            v.owner.clone_from(owner);
            v.closed = false;
            v
        }
        // Only opened accounts have a view.
        (_, None) => return Ok(()),
        (AccountEvent::Deposited { cents }, Some(mut v)) => {
            v.balance = v.balance.saturating_add(*cents);
            v
        }
        (AccountEvent::Withdrawn { cents }, Some(mut v)) => {
            v.balance = v.balance.saturating_sub(*cents);
            v
        }
        (AccountEvent::Closed, Some(mut v)) => {
            v.closed = true;
            v
        }
    };
    put_view(conn, account, &next)
}

impl BalanceProjection {
    /// The projection on `conn`: creates its tables (and the store's).
    pub fn new(conn: Connection) -> Result<Self> {
        conn.execute_batch(STORE_SCHEMA)?;
        conn.execute_batch(PROJECTION_SCHEMA)?;
        Ok(Self { conn })
    }

    /// Processes every event after the checkpoint, `batch` at a time: each
    /// batch's views and checkpoint in one transaction.
    ///
    /// # Errors
    ///
    /// [`Error::ZeroArgument`]`("batch")`, [`Error::Decode`].
    pub fn catch_up(&mut self, batch: usize) -> Result<usize> {
        if batch == 0 {
            return Err(Error::ZeroArgument("batch"));
        }
        let mut total = 0;
        loop {
            let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let from = stored_checkpoint(&tx)?;
            let events = read_after(&tx, from, batch)?;
            if events.is_empty() {
                return Ok(total);
            }
            let mut done = from;
            let mut failure = None;
            for event in &events {
                match decode_at(event) {
                    Ok(e) => {
                        apply_to_view(&tx, &event.stream, &e)?;
                        done = event.position;
                        total += 1;
                    }
                    Err(e) => {
                        failure = Some(e);
                        break;
                    }
                }
            }
            if done != from {
                tx.prepare_cached(
                    "INSERT INTO es_balance_checkpoint (one, position) VALUES (0, ?1) \
                     ON CONFLICT (one) DO UPDATE SET position = excluded.position",
                )?
                .execute(params![to_sql(done)])?;
            }
            tx.commit()?;
            if let Some(e) = failure {
                return Err(e);
            }
        }
    }

    /// The position of the last event processed: 0 before any.
    pub fn checkpoint(&self) -> Result<u64> {
        stored_checkpoint(&self.conn)
    }

    /// One account's view, if the projection has seen it opened.
    ///
    /// # Errors
    ///
    /// [`Error::EmptyStreamName`].
    pub fn view(&self, account: &str) -> Result<Option<AccountView>> {
        check_stream(account)?;
        get_view(&self.conn, account)
    }

    /// Every account's view, by account id.
    pub fn views(&self) -> Result<BTreeMap<String, AccountView>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT account, owner, balance, closed FROM es_balance_views")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                AccountView { owner: r.get(1)?, balance: r.get::<_, i64>(2)? as u64, closed: r.get(3)? },
            ))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Forgets the views and the checkpoint, then catches up from the start.
    ///
    /// # Errors
    ///
    /// As [`catch_up`](Self::catch_up).
    pub fn rebuild(&mut self, batch: usize) -> Result<usize> {
        if batch == 0 {
            return Err(Error::ZeroArgument("batch"));
        }
        {
            let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute("DELETE FROM es_balance_views", [])?;
            tx.execute("DELETE FROM es_balance_checkpoint", [])?;
            tx.commit()?;
        }
        self.catch_up(batch)
    }
}

// ───────────────────────────── errors ─────────────────────────────

/// Why an account refused a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rejection {
    /// The account has not been opened.
    NotOpen,
    /// The account was opened already (it may since have been closed).
    AlreadyOpened,
    /// The account is closed.
    Closed,
    /// `Open` with an empty owner's name.
    EmptyOwner,
    /// A deposit or withdrawal of 0 cents.
    ZeroAmount,
    /// The withdrawal is more than the balance.
    InsufficientFunds {
        /// The balance, in cents.
        balance: u64,
        /// The withdrawal, in cents.
        requested: u64,
    },
    /// The deposit would take the balance past `u64::MAX` cents.
    BalanceOverflow {
        /// The balance, in cents.
        balance: u64,
        /// The deposit, in cents.
        deposit: u64,
    },
    /// `Close` while money is still in the account.
    BalanceNotZero {
        /// The balance, in cents.
        balance: u64,
    },
}

/// Why a stored event or snapshot could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DecodeError {
    /// No account event has this kind.
    UnknownKind(String),
    /// The kind is known, this schema of it is not.
    UnknownSchema {
        /// The event's kind.
        kind: String,
        /// Its schema.
        schema: u32,
    },
    /// The payload is not in its schema's format, or its amount does not fit
    /// in a `u64` of cents.
    BadPayload {
        /// The event's kind.
        kind: String,
        /// Its schema.
        schema: u32,
        /// The payload.
        payload: String,
    },
    /// A snapshot's state that [`Account::from_snapshot`] cannot read.
    BadSnapshot(String),
}

/// Why a store, aggregate or projection call failed. Whatever the error,
/// the call wrote nothing (except what [`BalanceProjection::catch_up`]
/// says it keeps).
#[derive(Debug)]
pub enum Error {
    /// The stream was not at the expected version.
    Conflict {
        /// The stream.
        stream: String,
        /// The version the caller expected.
        expected: u64,
        /// The version the stream had.
        actual: u64,
    },
    /// A stream name (account id) was empty.
    EmptyStreamName,
    /// `append` was given no events.
    NoEvents,
    /// The stream has no events.
    UnknownStream(String),
    /// A version outside what the stream has: `read_stream`'s
    /// `after_version` beyond its current version, or a snapshot's version 0
    /// or beyond it.
    VersionOutOfRange {
        /// The stream.
        stream: String,
        /// The version asked for.
        version: u64,
        /// The stream's current version.
        current: u64,
    },
    /// An argument that must be at least 1 was 0; its name.
    ZeroArgument(&'static str),
    /// The account refused the command; nothing was appended.
    Rejected(Rejection),
    /// A stored event (at `version` of `stream`) or a snapshot (at its
    /// version) could not be decoded.
    Decode {
        /// The stream.
        stream: String,
        /// The event's or the snapshot's version.
        version: u64,
        /// Why.
        error: DecodeError,
    },
    /// SQLite failed.
    Database(rusqlite::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Conflict {
                stream,
                expected,
                actual,
            } => write!(
                f,
                "stream {stream:?} is at version {actual}, not the expected {expected}"
            ),
            Self::EmptyStreamName => write!(f, "a stream name must not be empty"),
            Self::NoEvents => write!(f, "an append needs at least one event"),
            Self::UnknownStream(stream) => write!(f, "stream {stream:?} has no events"),
            Self::VersionOutOfRange {
                stream,
                version,
                current,
            } => write!(
                f,
                "version {version} is out of range for stream {stream:?} (at version {current})"
            ),
            Self::ZeroArgument(name) => write!(f, "{name} must be at least 1"),
            Self::Rejected(rejection) => write!(f, "command rejected: {rejection:?}"),
            Self::Decode {
                stream,
                version,
                error,
            } => write!(
                f,
                "cannot decode {stream:?} at version {version}: {error:?}"
            ),
            Self::Database(e) => write!(f, "database error: {e}"),
        }
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            Self::Database(e) => Some(e),
            _ => None,
        }
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Self::Database(e)
    }
}

impl From<Rejection> for Error {
    fn from(rejection: Rejection) -> Self {
        Self::Rejected(rejection)
    }
}

/// The result of store, aggregate and projection calls.
pub type Result<T, E = Error> = std::result::Result<T, E>;
