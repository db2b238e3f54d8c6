//! # Event sourcing: the reference solution
//!
//! - The log is one table, `events`, whose `INTEGER PRIMARY KEY` is the
//!   global position and whose `UNIQUE (stream, version)` index is both the
//!   guard against a forked stream and the index every stream read walks.
//! - An append checks the stream's version and inserts its events in one
//!   `BEGIN IMMEDIATE` transaction: the write lock is taken before the check,
//!   so no other connection can commit in between (a `DEFERRED` transaction
//!   would read first and fail with `SQLITE_BUSY_SNAPSHOT` at its first
//!   write instead of reporting a conflict).
//! - `Accounts::execute` writes a snapshot in the same transaction as the
//!   event that reaches a multiple of `snapshot_every`, so a snapshot never
//!   exists without its events, and a committed command never reports an
//!   error.
//! - The projection applies each batch and moves its checkpoint in one
//!   transaction: a crash loses whole batches, which the next run redoes.
//!
//! Versions and positions are stored as SQLite integers (`i64`); balances
//! in the read model can reach `u64::MAX` cents, so they are stored as the
//! `i64` with the same bits.

use std::collections::BTreeMap;
use std::error::Error as StdError;
use std::fmt;

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

// ───────────────────────────── the event store ─────────────────────────────

/// One event as it is stored: the wire format that every reader of the log
/// (this service, the projections, other teams' services) agrees on. See
/// [`AccountEvent`] for the account's kinds, schemas and payloads.
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
    /// The stream it belongs to (for the account aggregate: the account id).
    pub stream: String,
    /// Its place in its stream: 1 for the stream's first event, then 2, 3,
    /// ... without gaps.
    pub version: u64,
    /// Its place in the whole log, over every stream: at least 1, strictly
    /// increasing in the order appends committed, never reused.
    pub position: u64,
    /// The event as appended.
    pub data: EventData,
}

/// The state of a stream's aggregate at one version, as
/// [`Account::to_snapshot`] encodes it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Snapshot {
    /// The stream version this state includes: every event up to and
    /// including it, none after.
    pub version: u64,
    /// The encoded state.
    pub state: String,
}

/// The log, the snapshots and the read model. `IF NOT EXISTS` everywhere:
/// every store and projection on a file runs it.
const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS events (
        position INTEGER PRIMARY KEY AUTOINCREMENT,
        stream   TEXT    NOT NULL,
        version  INTEGER NOT NULL,
        kind     TEXT    NOT NULL,
        schema   INTEGER NOT NULL,
        payload  TEXT    NOT NULL,
        UNIQUE (stream, version)
    );
    CREATE TABLE IF NOT EXISTS snapshots (
        stream  TEXT    PRIMARY KEY,
        version INTEGER NOT NULL,
        state   TEXT    NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS balance_views (
        account TEXT    PRIMARY KEY,
        owner   TEXT    NOT NULL,
        balance INTEGER NOT NULL,
        closed  INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS projection_checkpoints (
        projection TEXT    PRIMARY KEY,
        position   INTEGER NOT NULL
    ) WITHOUT ROWID;
";

/// The name of the balances projection's checkpoint row.
const BALANCES: &str = "balances";

/// A `u64` as a SQLite integer, for versions and positions (which never
/// reach `i64::MAX`: a caller's larger value matches nothing).
fn to_sql(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A SQLite integer this code stored from a `u64` (a version or position:
/// never negative).
fn from_sql(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn check_stream(stream: &str) -> Result<()> {
    if stream.is_empty() {
        Err(Error::EmptyStreamName)
    } else {
        Ok(())
    }
}

/// The stream's current version, 0 without events.
fn current_version(conn: &Connection, stream: &str) -> Result<u64> {
    let version: Option<i64> = conn
        .prepare_cached("SELECT MAX(version) FROM events WHERE stream = ?1")?
        .query_row([stream], |row| row.get(0))?;
    Ok(version.map_or(0, from_sql))
}

/// Appends inside `tx` (a write transaction): checks the version, inserts.
fn append_in(
    tx: &Transaction<'_>,
    stream: &str,
    expected_version: u64,
    events: &[EventData],
) -> Result<u64> {
    check_stream(stream)?;
    if events.is_empty() {
        return Err(Error::NoEvents);
    }
    let actual = current_version(tx, stream)?;
    if actual != expected_version {
        return Err(Error::Conflict {
            stream: stream.to_owned(),
            expected: expected_version,
            actual,
        });
    }
    let mut insert = tx.prepare_cached(
        "INSERT INTO events (stream, version, kind, schema, payload) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    let mut version = actual;
    for event in events {
        version += 1;
        insert.execute(params![
            stream,
            to_sql(version),
            event.kind,
            event.schema,
            event.payload
        ])?;
    }
    Ok(version)
}

/// Stores a snapshot inside `tx`, unless a newer one is there.
fn save_snapshot_in(conn: &Connection, stream: &str, snapshot: &Snapshot) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO snapshots (stream, version, state) VALUES (?1, ?2, ?3)
         ON CONFLICT (stream) DO UPDATE SET version = excluded.version, state = excluded.state
         WHERE excluded.version >= snapshots.version",
    )?
    .execute(params![stream, to_sql(snapshot.version), snapshot.state])?;
    Ok(())
}

fn recorded(
    stream: String,
    row: &rusqlite::Row<'_>,
    first: usize,
) -> rusqlite::Result<RecordedEvent> {
    Ok(RecordedEvent {
        stream,
        version: from_sql(row.get(first)?),
        position: from_sql(row.get(first + 1)?),
        data: EventData {
            kind: row.get(first + 2)?,
            schema: row.get(first + 3)?,
            payload: row.get(first + 4)?,
        },
    })
}

/// At most `limit` events after `after_position`, on any connection.
fn read_all_on(conn: &Connection, after_position: u64, limit: usize) -> Result<Vec<RecordedEvent>> {
    if limit == 0 {
        return Err(Error::ZeroArgument("limit"));
    }
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut stmt = conn.prepare_cached(
        "SELECT stream, version, position, kind, schema, payload FROM events
         WHERE position > ?1 ORDER BY position LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![to_sql(after_position), limit], |row| {
        recorded(row.get(0)?, row, 1)
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// An append-only log of events in streams, on SQLite.
#[derive(Debug)]
pub struct EventStore {
    conn: Connection,
}

impl EventStore {
    /// A store on `conn`: creates its tables and indexes if they are missing
    /// (another store, or a [`BalanceProjection`], may have created them
    /// already on the same file) and keeps the connection.
    pub fn new(conn: Connection) -> Result<Self> {
        conn.execute_batch(SCHEMA)?;
        Ok(Self { conn })
    }

    /// Appends `events` to `stream` as versions `expected_version + 1`,
    /// `expected_version + 2`, ..., all or none, if and only if the stream's
    /// version is `expected_version` when they are written (0: the stream has
    /// no events yet). Returns the stream's new version.
    ///
    /// # Errors
    ///
    /// [`Error::Conflict`] (with the version the stream really has) when it
    /// is not at `expected_version`, even if another connection moved it an
    /// instant ago; [`Error::EmptyStreamName`], [`Error::NoEvents`]. Nothing
    /// is written on any error.
    pub fn append(
        &mut self,
        stream: &str,
        expected_version: u64,
        events: &[EventData],
    ) -> Result<u64> {
        check_stream(stream)?;
        if events.is_empty() {
            return Err(Error::NoEvents);
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let version = append_in(&tx, stream, expected_version, events)?;
        tx.commit()?;
        Ok(version)
    }

    /// The stream's current version: the version of its last event, 0 if it
    /// has none.
    ///
    /// # Errors
    ///
    /// [`Error::EmptyStreamName`].
    pub fn version(&self, stream: &str) -> Result<u64> {
        check_stream(stream)?;
        current_version(&self.conn, stream)
    }

    /// The events of `stream` with a version greater than `after_version`,
    /// oldest first (`after_version` 0: the whole stream; the stream's
    /// current version: none).
    ///
    /// # Errors
    ///
    /// [`Error::UnknownStream`] if the stream has no events,
    /// [`Error::VersionOutOfRange`] if `after_version` is beyond its current
    /// version, [`Error::EmptyStreamName`].
    pub fn read_stream(&self, stream: &str, after_version: u64) -> Result<Vec<RecordedEvent>> {
        check_stream(stream)?;
        let current = current_version(&self.conn, stream)?;
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
            "SELECT version, position, kind, schema, payload FROM events
             WHERE stream = ?1 AND version > ?2 ORDER BY version",
        )?;
        let rows = stmt.query_map(params![stream, to_sql(after_version)], |row| {
            recorded(stream.to_owned(), row, 0)
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// At most `limit` events of the whole log with a position greater than
    /// `after_position`, in position order (none once the reader is at the
    /// end).
    ///
    /// # Errors
    ///
    /// [`Error::ZeroArgument`]`("limit")` if `limit` is 0.
    pub fn read_all(&self, after_position: u64, limit: usize) -> Result<Vec<RecordedEvent>> {
        read_all_on(&self.conn, after_position, limit)
    }

    /// Stores `snapshot` as the snapshot of `stream`, unless the stream
    /// already has one at a higher version (then it keeps that one, and this
    /// is still `Ok`).
    ///
    /// # Errors
    ///
    /// [`Error::UnknownStream`] if the stream has no events,
    /// [`Error::VersionOutOfRange`] if the snapshot's version is 0 or beyond
    /// the stream's current version, [`Error::EmptyStreamName`]. Nothing is
    /// written on an error.
    pub fn save_snapshot(&mut self, stream: &str, snapshot: &Snapshot) -> Result<()> {
        check_stream(stream)?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let current = current_version(&tx, stream)?;
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
        save_snapshot_in(&tx, stream, snapshot)?;
        tx.commit()?;
        Ok(())
    }

    /// The stream's snapshot with the highest version, if it has one.
    ///
    /// # Errors
    ///
    /// [`Error::EmptyStreamName`].
    pub fn load_snapshot(&self, stream: &str) -> Result<Option<Snapshot>> {
        check_stream(stream)?;
        let snapshot = self
            .conn
            .prepare_cached("SELECT version, state FROM snapshots WHERE stream = ?1")?
            .query_row([stream], |row| {
                Ok(Snapshot {
                    version: from_sql(row.get(0)?),
                    state: row.get(1)?,
                })
            })
            .optional()?;
        Ok(snapshot)
    }
}

// ───────────────────────────── the aggregate ─────────────────────────────

const OPENED: &str = "AccountOpened";
const DEPOSITED: &str = "MoneyDeposited";
const WITHDRAWN: &str = "MoneyWithdrawn";
const CLOSED: &str = "AccountClosed";

/// A non-empty string of ASCII digits as a `u64`; `None` if it is anything
/// else or does not fit.
fn digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.bytes().try_fold(0u64, |n, b| {
        n.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    })
}

/// Schema 1's euros with exactly two decimals, as cents, exactly.
fn euros_to_cents(s: &str) -> Option<u64> {
    let (euros, cents) = s.split_once('.')?;
    if cents.len() != 2 {
        return None;
    }
    digits(euros)?.checked_mul(100)?.checked_add(digits(cents)?)
}

/// An event of the account aggregate, in the current schema.
///
/// Its wire format ([`EventData`]) is fixed, because other services read
/// the same log:
///
/// | event | `kind` | `schema` | `payload` |
/// | --- | --- | --- | --- |
/// | `Opened { owner }` | `AccountOpened` | 1 | the owner's name, verbatim (any characters) |
/// | `Deposited { cents }` | `MoneyDeposited` | 2 | the amount in cents, in decimal: `"1250"` |
/// | `Withdrawn { cents }` | `MoneyWithdrawn` | 2 | the amount in cents, in decimal |
/// | `Closed` | `AccountClosed` | 1 | empty |
///
/// Until last year the service wrote `MoneyDeposited` and `MoneyWithdrawn`
/// with **schema 1**, whose payload is the amount in euros with exactly two
/// decimals: `"12.50"` is 1250 cents, `"0.07"` is 7 cents. Those events are
/// still in the log, and are never rewritten: reading one must give the
/// same event as its schema-2 twin (upcasting).
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

impl AccountEvent {
    /// The event in the wire format, always the current schema (see the
    /// table above).
    pub fn encode(&self) -> EventData {
        let (kind, schema, payload) = match self {
            Self::Opened { owner } => (OPENED, 1, owner.clone()),
            Self::Deposited { cents } => (DEPOSITED, 2, cents.to_string()),
            Self::Withdrawn { cents } => (WITHDRAWN, 2, cents.to_string()),
            Self::Closed => (CLOSED, 1, String::new()),
        };
        EventData {
            kind: kind.to_owned(),
            schema,
            payload,
        }
    }

    /// The event a stored one stands for, upcasting old schemas to the
    /// current event (a schema-1 `"12.50"` deposit is `Deposited { cents:
    /// 1250 }`), exactly, for every amount that fits in a `u64` of cents.
    ///
    /// # Errors
    ///
    /// [`DecodeError::UnknownKind`], [`DecodeError::UnknownSchema`], or
    /// [`DecodeError::BadPayload`] for a payload that is not in its schema's
    /// format or whose amount does not fit in a `u64` of cents. Never a
    /// panic, whatever the payload.
    pub fn decode(data: &EventData) -> std::result::Result<Self, DecodeError> {
        let payload = data.payload.as_str();
        let amount = match data.schema {
            2 => digits(payload),
            1 => euros_to_cents(payload),
            _ => None,
        };
        let event = match (data.kind.as_str(), data.schema) {
            (OPENED, 1) => Some(Self::Opened {
                owner: payload.to_owned(),
            }),
            (DEPOSITED, 1 | 2) => amount.map(|cents| Self::Deposited { cents }),
            (WITHDRAWN, 1 | 2) => amount.map(|cents| Self::Withdrawn { cents }),
            (CLOSED, 1) => payload.is_empty().then_some(Self::Closed),
            (OPENED | DEPOSITED | WITHDRAWN | CLOSED, schema) => {
                return Err(DecodeError::UnknownSchema {
                    kind: data.kind.clone(),
                    schema,
                });
            }
            (kind, _) => return Err(DecodeError::UnknownKind(kind.to_owned())),
        };
        event.ok_or_else(|| DecodeError::BadPayload {
            kind: data.kind.clone(),
            schema: data.schema,
            payload: data.payload.clone(),
        })
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
    fn require_open(&self) -> std::result::Result<(), Rejection> {
        match self.status {
            Status::New => Err(Rejection::NotOpen),
            Status::Closed => Err(Rejection::Closed),
            Status::Open => Ok(()),
        }
    }

    /// The events `command` produces on this state (exactly one for every
    /// command accepted), or why the account refuses it. Changes nothing:
    /// the state moves only by [`apply`](Self::apply).
    ///
    /// # Errors
    ///
    /// The [`Rejection`] for the first rule the command breaks, checked in
    /// this order: the status (`Open` on an account that is not `New` is
    /// [`Rejection::AlreadyOpened`]; any other command on a `New` account is
    /// [`Rejection::NotOpen`], on a `Closed` one [`Rejection::Closed`]);
    /// then the argument ([`Rejection::EmptyOwner`],
    /// [`Rejection::ZeroAmount`]); then the balance
    /// ([`Rejection::BalanceOverflow`], [`Rejection::InsufficientFunds`],
    /// [`Rejection::BalanceNotZero`]).
    pub fn decide(&self, command: &Command) -> std::result::Result<Vec<AccountEvent>, Rejection> {
        let event = match command {
            Command::Open { owner } => {
                if self.status != Status::New {
                    return Err(Rejection::AlreadyOpened);
                }
                if owner.is_empty() {
                    return Err(Rejection::EmptyOwner);
                }
                AccountEvent::Opened {
                    owner: owner.clone(),
                }
            }
            &Command::Deposit { cents } => {
                self.require_open()?;
                if cents == 0 {
                    return Err(Rejection::ZeroAmount);
                }
                if self.balance.checked_add(cents).is_none() {
                    return Err(Rejection::BalanceOverflow {
                        balance: self.balance,
                        deposit: cents,
                    });
                }
                AccountEvent::Deposited { cents }
            }
            &Command::Withdraw { cents } => {
                self.require_open()?;
                if cents == 0 {
                    return Err(Rejection::ZeroAmount);
                }
                if cents > self.balance {
                    return Err(Rejection::InsufficientFunds {
                        balance: self.balance,
                        requested: cents,
                    });
                }
                AccountEvent::Withdrawn { cents }
            }
            Command::Close => {
                self.require_open()?;
                if self.balance != 0 {
                    return Err(Rejection::BalanceNotZero {
                        balance: self.balance,
                    });
                }
                AccountEvent::Closed
            }
        };
        Ok(vec![event])
    }

    /// Folds one event into the state. Never fails and never panics: an
    /// event in the log is a fact.
    pub fn apply(&mut self, event: &AccountEvent) {
        match event {
            AccountEvent::Opened { owner } => {
                self.status = Status::Open;
                self.owner.clone_from(owner);
            }
            AccountEvent::Deposited { cents } => {
                self.balance = self.balance.saturating_add(*cents);
            }
            AccountEvent::Withdrawn { cents } => {
                self.balance = self.balance.saturating_sub(*cents);
            }
            AccountEvent::Closed => self.status = Status::Closed,
        }
    }

    /// The state encoded for a [`Snapshot`]; the format is yours, as long as
    /// [`from_snapshot`](Self::from_snapshot) gives back exactly this state,
    /// whatever characters the owner's name holds.
    ///
    /// Here: `v1;<status>;<balance>;<owner>`, the owner last, so that it may
    /// hold any character (`;` and newlines included).
    pub fn to_snapshot(&self) -> String {
        let status = match self.status {
            Status::New => 'N',
            Status::Open => 'O',
            Status::Closed => 'C',
        };
        format!("v1;{status};{};{}", self.balance, self.owner)
    }

    /// The state [`to_snapshot`](Self::to_snapshot) encoded.
    ///
    /// # Errors
    ///
    /// [`DecodeError::BadSnapshot`] if `state` is not one of your encodings.
    pub fn from_snapshot(state: &str) -> std::result::Result<Self, DecodeError> {
        let bad = || DecodeError::BadSnapshot(state.to_owned());
        let mut fields = state.strip_prefix("v1;").ok_or_else(bad)?.splitn(3, ';');
        let status = match fields.next() {
            Some("N") => Status::New,
            Some("O") => Status::Open,
            Some("C") => Status::Closed,
            _ => return Err(bad()),
        };
        let balance = fields.next().and_then(digits).ok_or_else(bad)?;
        let owner = fields.next().ok_or_else(bad)?.to_owned();
        Ok(Self {
            status,
            owner,
            balance,
        })
    }
}

/// Decodes a recorded event of `stream`, naming it on failure.
fn decode_recorded(event: &RecordedEvent) -> Result<AccountEvent> {
    AccountEvent::decode(&event.data).map_err(|error| Error::Decode {
        stream: event.stream.clone(),
        version: event.version,
        error,
    })
}

/// The account aggregate on an event store: commands in, events appended,
/// state loaded back, with a snapshot every `snapshot_every` events.
#[derive(Debug)]
pub struct Accounts {
    store: EventStore,
    snapshot_every: u64,
}

impl Accounts {
    /// The aggregate on `store`, saving a snapshot every `snapshot_every`
    /// events of a stream.
    ///
    /// # Errors
    ///
    /// [`Error::ZeroArgument`]`("snapshot_every")` if it is 0.
    pub fn new(store: EventStore, snapshot_every: u64) -> Result<Self> {
        if snapshot_every == 0 {
            return Err(Error::ZeroArgument("snapshot_every"));
        }
        Ok(Self {
            store,
            snapshot_every,
        })
    }

    /// Runs `command` on the account (the stream named `account`): loads
    /// it, decides, and appends the event at the version it loaded, so that
    /// a concurrent change in between is an [`Error::Conflict`], never a lost
    /// update. When the new version is a multiple of `snapshot_every`, saves
    /// a snapshot of the state at that version. Returns the new version.
    ///
    /// # Errors
    ///
    /// [`Error::Rejected`] (nothing appended), [`Error::Conflict`] (nothing
    /// appended: the caller may retry), [`Error::EmptyStreamName`],
    /// [`Error::Decode`] if the stream holds an event or snapshot that
    /// cannot be read.
    pub fn execute(&mut self, account: &str, command: &Command) -> Result<u64> {
        check_stream(account)?;
        let (mut state, loaded) = match self.load(account) {
            Err(Error::UnknownStream(_)) => (Account::default(), 0),
            other => other?,
        };
        let events = state.decide(command)?;
        let data: Vec<EventData> = events.iter().map(AccountEvent::encode).collect();
        let tx = self
            .store
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let version = append_in(&tx, account, loaded, &data)?;
        if version / self.snapshot_every > loaded / self.snapshot_every {
            for event in &events {
                state.apply(event);
            }
            let snapshot = Snapshot {
                version,
                state: state.to_snapshot(),
            };
            save_snapshot_in(&tx, account, &snapshot)?;
        }
        tx.commit()?;
        Ok(version)
    }

    /// Applies the events of `account` after `from` to `state`.
    fn fold_tail(&self, account: &str, mut state: Account, from: u64) -> Result<(Account, u64)> {
        let mut version = from;
        for event in self.store.read_stream(account, from)? {
            state.apply(&decode_recorded(&event)?);
            version = event.version;
        }
        Ok((state, version))
    }

    /// The account's state and version: its newest snapshot, if it has one,
    /// with the events after the snapshot's version applied; otherwise every
    /// event from version 1.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownStream`] if the account has no events,
    /// [`Error::EmptyStreamName`], [`Error::Decode`].
    pub fn load(&self, account: &str) -> Result<(Account, u64)> {
        match self.store.load_snapshot(account)? {
            None => self.replay(account),
            Some(snapshot) => {
                let state =
                    Account::from_snapshot(&snapshot.state).map_err(|error| Error::Decode {
                        stream: account.to_owned(),
                        version: snapshot.version,
                        error,
                    })?;
                self.fold_tail(account, state, snapshot.version)
            }
        }
    }

    /// The account's state and version from every one of its events,
    /// ignoring snapshots (what an auditor recomputes).
    ///
    /// # Errors
    ///
    /// As [`load`](Self::load).
    pub fn replay(&self, account: &str) -> Result<(Account, u64)> {
        self.fold_tail(account, Account::default(), 0)
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

/// A balance as stored: the `i64` with the same bits.
fn balance_to_sql(balance: u64) -> i64 {
    i64::from_ne_bytes(balance.to_ne_bytes())
}

fn balance_from_sql(stored: i64) -> u64 {
    u64::from_ne_bytes(stored.to_ne_bytes())
}

/// Applies one event to the views, inside the batch's transaction.
fn project(tx: &Transaction<'_>, account: &str, event: &AccountEvent) -> Result<()> {
    match event {
        AccountEvent::Opened { owner } => {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO balance_views (account, owner, balance, closed)
                 VALUES (?1, ?2, 0, 0)",
            )?
            .execute(params![account, owner])?;
        }
        AccountEvent::Deposited { cents } | AccountEvent::Withdrawn { cents } => {
            let stored: Option<i64> = tx
                .prepare_cached("SELECT balance FROM balance_views WHERE account = ?1")?
                .query_row([account], |row| row.get(0))
                .optional()?;
            if let Some(stored) = stored {
                let balance = balance_from_sql(stored);
                let balance = if matches!(event, AccountEvent::Deposited { .. }) {
                    balance.saturating_add(*cents)
                } else {
                    balance.saturating_sub(*cents)
                };
                tx.prepare_cached("UPDATE balance_views SET balance = ?2 WHERE account = ?1")?
                    .execute(params![account, balance_to_sql(balance)])?;
            }
        }
        AccountEvent::Closed => {
            tx.prepare_cached("UPDATE balance_views SET closed = 1 WHERE account = ?1")?
                .execute([account])?;
        }
    }
    Ok(())
}

fn stored_checkpoint(conn: &Connection) -> Result<u64> {
    let position: Option<i64> = conn
        .prepare_cached("SELECT position FROM projection_checkpoints WHERE projection = ?1")?
        .query_row([BALANCES], |row| row.get(0))
        .optional()?;
    Ok(position.map_or(0, from_sql))
}

fn store_checkpoint(conn: &Connection, position: u64) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO projection_checkpoints (projection, position) VALUES (?1, ?2)
         ON CONFLICT (projection) DO UPDATE SET position = excluded.position",
    )?
    .execute(params![BALANCES, to_sql(position)])?;
    Ok(())
}

/// The balances page's read model: one [`AccountView`] per opened account,
/// kept in SQLite tables of its own beside the log, fed by the whole log in
/// position order, from a checkpoint that survives restarts.
#[derive(Debug)]
pub struct BalanceProjection {
    conn: Connection,
}

impl BalanceProjection {
    /// The projection on `conn` (a connection to the store's database
    /// file): creates its tables (and the store's, if missing) and resumes
    /// from the checkpoint stored there, 0 the first time.
    pub fn new(conn: Connection) -> Result<Self> {
        conn.execute_batch(SCHEMA)?;
        Ok(Self { conn })
    }

    /// One batch in one transaction: the events after the stored
    /// checkpoint, applied, and the checkpoint moved past them. Returns how
    /// many it applied; a decode error commits the events before the bad
    /// one, then reports it.
    fn step(&mut self, batch: usize) -> Result<usize> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let checkpoint = stored_checkpoint(&tx)?;
        let events = read_all_on(&tx, checkpoint, batch)?;
        let mut applied = 0;
        let mut failure = None;
        for event in &events {
            match decode_recorded(event) {
                Ok(decoded) => project(&tx, &event.stream, &decoded)?,
                Err(error) => {
                    failure = Some(error);
                    break;
                }
            }
            applied += 1;
        }
        if applied > 0 {
            store_checkpoint(&tx, events[applied - 1].position)?;
        }
        tx.commit()?;
        match failure {
            Some(error) => Err(error),
            None => Ok(applied),
        }
    }

    /// Processes every event after the checkpoint, oldest first, reading the
    /// log `batch` events at a time, until it reaches the end of the log;
    /// returns how many events it processed. The views and the checkpoint
    /// move together: whatever point a crash stops this call at, a new
    /// projection on a new connection catches up to exactly the views of a
    /// run without the crash (each event counted once).
    ///
    /// # Errors
    ///
    /// [`Error::ZeroArgument`]`("batch")` if `batch` is 0; [`Error::Decode`]
    /// at an event it cannot read, with everything before it processed and
    /// checkpointed, and neither it nor anything after it.
    pub fn catch_up(&mut self, batch: usize) -> Result<usize> {
        if batch == 0 {
            return Err(Error::ZeroArgument("batch"));
        }
        let mut total = 0;
        loop {
            let applied = self.step(batch)?;
            total += applied;
            if applied < batch {
                return Ok(total);
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
        let view = self
            .conn
            .prepare_cached("SELECT owner, balance, closed FROM balance_views WHERE account = ?1")?
            .query_row([account], |row| {
                Ok(AccountView {
                    owner: row.get(0)?,
                    balance: balance_from_sql(row.get(1)?),
                    closed: row.get(2)?,
                })
            })
            .optional()?;
        Ok(view)
    }

    /// Every account's view, by account id.
    pub fn views(&self) -> Result<BTreeMap<String, AccountView>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT account, owner, balance, closed FROM balance_views")?;
        let rows = stmt.query_map([], |row| {
            Ok((
                row.get(0)?,
                AccountView {
                    owner: row.get(1)?,
                    balance: balance_from_sql(row.get(2)?),
                    closed: row.get(3)?,
                },
            ))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Forgets the views and the checkpoint, then catches up from the start
    /// of the log as [`catch_up`](Self::catch_up) does; returns how many
    /// events it processed.
    ///
    /// # Errors
    ///
    /// As [`catch_up`](Self::catch_up).
    pub fn rebuild(&mut self, batch: usize) -> Result<usize> {
        if batch == 0 {
            return Err(Error::ZeroArgument("batch"));
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute("DELETE FROM balance_views", [])?;
        store_checkpoint(&tx, 0)?;
        tx.commit()?;
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
