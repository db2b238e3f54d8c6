//! # Event sourcing
//!
//! A bank account whose only record is its history: an event store on
//! SQLite ([`EventStore`]) with optimistic concurrency, the account
//! aggregate ([`Account`], [`Accounts`]) that folds its events into state and
//! takes a snapshot every N events, a read model ([`BalanceProjection`])
//! that catches up from a checkpoint after a crash, and the upcasting of
//! last year's event schema ([`AccountEvent::decode`]). Read `README.md`
//! beside this file for the problem, then make the specification pass:
//!
//! ```text
//! cargo xtask kata event-sourcing
//! ```
//!
//! Everything is stored through the [`rusqlite::Connection`]s you are
//! handed; the schema (tables, columns, indexes) is yours. Several
//! connections, each with its own store, may share one database file (the
//! spec opens two and makes them interleave): a stream's versions must never
//! fork. The spec hands you connections already in WAL mode with a busy
//! timeout.
//!
//! The types of events, commands, states and errors are written for you;
//! the `todo!()`s are yours.

// The bodies below are `todo!()`, so their arguments go unused until you
// write them. Delete this line when you are done.
#![allow(unused_variables)]

use std::collections::BTreeMap;
use std::error::Error as StdError;
use std::fmt;

use rusqlite::Connection;

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

/// An append-only log of events in streams, on SQLite.
#[derive(Debug)]
pub struct EventStore {
    // Your state here: the connection, most likely.
}

impl EventStore {
    /// A store on `conn`: creates its tables and indexes if they are missing
    /// (another store, or a [`BalanceProjection`], may have created them
    /// already on the same file) and keeps the connection.
    pub fn new(conn: Connection) -> Result<Self> {
        todo!("create the tables and indexes if missing, keep the connection")
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
        todo!("check the version and insert the events in one write transaction")
    }

    /// The stream's current version: the version of its last event, 0 if it
    /// has none.
    ///
    /// # Errors
    ///
    /// [`Error::EmptyStreamName`].
    pub fn version(&self, stream: &str) -> Result<u64> {
        todo!("the highest version of the stream")
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
        todo!("the stream's events after a version, through an index")
    }

    /// At most `limit` events of the whole log with a position greater than
    /// `after_position`, in position order (none once the reader is at the
    /// end).
    ///
    /// # Errors
    ///
    /// [`Error::ZeroArgument`]`("limit")` if `limit` is 0.
    pub fn read_all(&self, after_position: u64, limit: usize) -> Result<Vec<RecordedEvent>> {
        todo!("the log's events after a position, in position order")
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
        todo!("keep the newest snapshot of the stream")
    }

    /// The stream's snapshot with the highest version, if it has one.
    ///
    /// # Errors
    ///
    /// [`Error::EmptyStreamName`].
    pub fn load_snapshot(&self, stream: &str) -> Result<Option<Snapshot>> {
        todo!("the stream's newest snapshot")
    }
}

// ───────────────────────────── the aggregate ─────────────────────────────

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
        todo!("kind, current schema, payload")
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
        todo!("match on (kind, schema), parse the payload, upcast schema 1")
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
        todo!("check the rules in order, then return the one event")
    }

    /// Folds one event into the state. Never fails and never panics: an
    /// event in the log is a fact.
    pub fn apply(&mut self, event: &AccountEvent) {
        todo!("move the state by one event")
    }

    /// The state encoded for a [`Snapshot`]; the format is yours, as long as
    /// [`from_snapshot`](Self::from_snapshot) gives back exactly this state,
    /// whatever characters the owner's name holds.
    pub fn to_snapshot(&self) -> String {
        todo!("encode the state")
    }

    /// The state [`to_snapshot`](Self::to_snapshot) encoded.
    ///
    /// # Errors
    ///
    /// [`DecodeError::BadSnapshot`] if `state` is not one of your encodings.
    pub fn from_snapshot(state: &str) -> std::result::Result<Self, DecodeError> {
        todo!("decode the state")
    }
}

/// The account aggregate on an event store: commands in, events appended,
/// state loaded back, with a snapshot every `snapshot_every` events.
#[derive(Debug)]
pub struct Accounts {
    // Your state here: the store and the snapshot interval, most likely.
}

impl Accounts {
    /// The aggregate on `store`, saving a snapshot every `snapshot_every`
    /// events of a stream.
    ///
    /// # Errors
    ///
    /// [`Error::ZeroArgument`]`("snapshot_every")` if it is 0.
    pub fn new(store: EventStore, snapshot_every: u64) -> Result<Self> {
        todo!("keep the store and the interval")
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
        todo!("load, decide, append at the loaded version, snapshot on a multiple")
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
        todo!("the newest snapshot, then the tail after it")
    }

    /// The account's state and version from every one of its events,
    /// ignoring snapshots (what an auditor recomputes).
    ///
    /// # Errors
    ///
    /// As [`load`](Self::load).
    pub fn replay(&self, account: &str) -> Result<(Account, u64)> {
        todo!("fold every event from version 1")
    }

    /// The store underneath.
    pub fn store(&self) -> &EventStore {
        todo!("the store")
    }

    /// The store underneath, mutably.
    pub fn store_mut(&mut self) -> &mut EventStore {
        todo!("the store")
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

/// The balances page's read model: one [`AccountView`] per opened account,
/// kept in SQLite tables of its own beside the log, fed by the whole log in
/// position order, from a checkpoint that survives restarts.
#[derive(Debug)]
pub struct BalanceProjection {
    // Your state here.
}

impl BalanceProjection {
    /// The projection on `conn` (a connection to the store's database
    /// file): creates its tables (and the store's, if missing) and resumes
    /// from the checkpoint stored there, 0 the first time.
    pub fn new(conn: Connection) -> Result<Self> {
        todo!("create the tables if missing, keep the connection")
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
        todo!("read a batch after the checkpoint, apply it, move the checkpoint; repeat")
    }

    /// The position of the last event processed: 0 before any.
    pub fn checkpoint(&self) -> Result<u64> {
        todo!("the stored checkpoint")
    }

    /// One account's view, if the projection has seen it opened.
    ///
    /// # Errors
    ///
    /// [`Error::EmptyStreamName`].
    pub fn view(&self, account: &str) -> Result<Option<AccountView>> {
        todo!("one row of the read model")
    }

    /// Every account's view, by account id.
    pub fn views(&self) -> Result<BTreeMap<String, AccountView>> {
        todo!("the whole read model")
    }

    /// Forgets the views and the checkpoint, then catches up from the start
    /// of the log as [`catch_up`](Self::catch_up) does; returns how many
    /// events it processed.
    ///
    /// # Errors
    ///
    /// As [`catch_up`](Self::catch_up).
    pub fn rebuild(&mut self, batch: usize) -> Result<usize> {
        todo!("clear the views and the checkpoint, then catch up")
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
