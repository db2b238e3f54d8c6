//! A right answer built differently from the reference:
//!
//! - **The unique index decides conflicts.** `append` takes no lock before
//!   it writes: its first statement is the INSERT of version
//!   `expected + 1`, which the `PRIMARY KEY (stream, version)` refuses if
//!   the stream is already there (a conflict); since the first statement of
//!   the transaction is a write, it holds the write lock from then on, and
//!   it checks that version `expected` exists (the stream is not behind).
//! - **Every snapshot is kept**, keyed by (stream, version); a load takes
//!   the one with the highest version.
//! - **Upcasting without arithmetic on euros**: `"12.50"` is checked for
//!   its shape, the dot removed, and `"1250"` parsed as a `u64` (which
//!   rejects what does not fit).
//! - **Snapshots are length-prefixed**: `<status>:<balance>:<owner length>:<owner>`.
//! - **Idempotent views, at-least-once checkpoint**: the projection applies
//!   each event in its own autocommit statement, guarded by the version of
//!   the last event applied to that account's view, and moves the
//!   checkpoint afterwards in another statement. A crash between the two
//!   makes the next run see the event again, and the guard skips it.
//!   Balances are stored as decimal text.

#![allow(clippy::missing_errors_doc)]

use std::collections::BTreeMap;
use std::error::Error as StdError;
use std::fmt;

use rusqlite::{Connection, ErrorCode, OptionalExtension, params};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EventData {
    pub kind: String,
    pub schema: u32,
    pub payload: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RecordedEvent {
    pub stream: String,
    pub version: u64,
    pub position: u64,
    pub data: EventData,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Snapshot {
    pub version: u64,
    pub state: String,
}

const TABLES: &str = "
    CREATE TABLE IF NOT EXISTS log (
        seq     INTEGER PRIMARY KEY,
        stream  TEXT NOT NULL,
        version INTEGER NOT NULL,
        kind    TEXT NOT NULL,
        schema  INTEGER NOT NULL,
        body    TEXT NOT NULL
    );
    CREATE UNIQUE INDEX IF NOT EXISTS log_stream_version ON log (stream, version);
    CREATE TABLE IF NOT EXISTS snaps (
        stream  TEXT NOT NULL,
        version INTEGER NOT NULL,
        state   TEXT NOT NULL,
        PRIMARY KEY (stream, version)
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS views (
        account      TEXT PRIMARY KEY,
        owner        TEXT NOT NULL,
        balance      TEXT NOT NULL,
        closed       INTEGER NOT NULL,
        last_version INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS cursor (
        id       INTEGER PRIMARY KEY CHECK (id = 1),
        position INTEGER NOT NULL
    );
";

fn int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn uint(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn named(stream: &str) -> Result<()> {
    if stream.is_empty() {
        return Err(Error::EmptyStreamName);
    }
    Ok(())
}

fn head(conn: &Connection, stream: &str) -> Result<u64> {
    let v: Option<i64> = conn
        .prepare_cached("SELECT version FROM log WHERE stream = ?1 ORDER BY version DESC LIMIT 1")?
        .query_row([stream], |r| r.get(0))
        .optional()?;
    Ok(v.map_or(0, uint))
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == ErrorCode::ConstraintViolation)
}

fn row_to_event(r: &rusqlite::Row<'_>) -> rusqlite::Result<RecordedEvent> {
    Ok(RecordedEvent {
        position: uint(r.get(0)?),
        stream: r.get(1)?,
        version: uint(r.get(2)?),
        data: EventData {
            kind: r.get(3)?,
            schema: r.get(4)?,
            payload: r.get(5)?,
        },
    })
}

fn page(conn: &Connection, after: u64, limit: usize) -> Result<Vec<RecordedEvent>> {
    if limit == 0 {
        return Err(Error::ZeroArgument("limit"));
    }
    let mut stmt = conn.prepare_cached(
        "SELECT seq, stream, version, kind, schema, body FROM log WHERE seq > ?1 ORDER BY seq LIMIT ?2",
    )?;
    let rows = stmt.query_map(
        params![int(after), i64::try_from(limit).unwrap_or(i64::MAX)],
        row_to_event,
    )?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

#[derive(Debug)]
pub struct EventStore {
    db: Connection,
}

impl EventStore {
    pub fn new(conn: Connection) -> Result<Self> {
        conn.execute_batch(TABLES)?;
        Ok(Self { db: conn })
    }

    pub fn append(
        &mut self,
        stream: &str,
        expected_version: u64,
        events: &[EventData],
    ) -> Result<u64> {
        named(stream)?;
        if events.is_empty() {
            return Err(Error::NoEvents);
        }
        let tx = self.db.transaction()?;
        let conflict = |tx: &Connection| -> Result<Error> {
            Ok(Error::Conflict {
                stream: stream.to_owned(),
                expected: expected_version,
                actual: head(tx, stream)?,
            })
        };
        let Some(first) = expected_version
            .checked_add(1)
            .filter(|v| *v <= i64::MAX as u64)
        else {
            return Err(conflict(&tx)?);
        };
        let mut version = first;
        for event in events {
            let inserted = tx
                .prepare_cached(
                    "INSERT INTO log (stream, version, kind, schema, body) VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![stream, int(version), event.kind, event.schema, event.payload]);
            match inserted {
                Ok(_) => {}
                Err(e) if is_unique_violation(&e) => return Err(conflict(&tx)?),
                Err(e) => return Err(e.into()),
            }
            version += 1;
        }
        // The first insert holds the write lock: nobody else moves the
        // stream now. Is it not behind?
        if expected_version > 0 {
            let present: bool = tx
                .prepare_cached(
                    "SELECT EXISTS (SELECT 1 FROM log WHERE stream = ?1 AND version = ?2)",
                )?
                .query_row(params![stream, int(expected_version)], |r| r.get(0))?;
            if !present {
                // The stream is behind: undo the inserts, then report the
                // version it really has.
                tx.rollback()?;
                return Err(Error::Conflict {
                    stream: stream.to_owned(),
                    expected: expected_version,
                    actual: head(&self.db, stream)?,
                });
            }
        }
        tx.commit()?;
        Ok(version - 1)
    }

    pub fn version(&self, stream: &str) -> Result<u64> {
        named(stream)?;
        head(&self.db, stream)
    }

    pub fn read_stream(&self, stream: &str, after_version: u64) -> Result<Vec<RecordedEvent>> {
        named(stream)?;
        let current = head(&self.db, stream)?;
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
        let mut stmt = self.db.prepare_cached(
            "SELECT seq, stream, version, kind, schema, body FROM log
             WHERE stream = ?1 AND version > ?2 ORDER BY version",
        )?;
        let rows = stmt.query_map(params![stream, int(after_version)], row_to_event)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn read_all(&self, after_position: u64, limit: usize) -> Result<Vec<RecordedEvent>> {
        page(&self.db, after_position, limit)
    }

    pub fn save_snapshot(&mut self, stream: &str, snapshot: &Snapshot) -> Result<()> {
        named(stream)?;
        let current = head(&self.db, stream)?;
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
        self.db
            .prepare_cached(
                "INSERT OR REPLACE INTO snaps (stream, version, state) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![stream, int(snapshot.version), snapshot.state])?;
        Ok(())
    }

    pub fn load_snapshot(&self, stream: &str) -> Result<Option<Snapshot>> {
        named(stream)?;
        Ok(self
            .db
            .prepare_cached(
                "SELECT version, state FROM snaps WHERE stream = ?1 ORDER BY version DESC LIMIT 1",
            )?
            .query_row([stream], |r| {
                Ok(Snapshot {
                    version: uint(r.get(0)?),
                    state: r.get(1)?,
                })
            })
            .optional()?)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AccountEvent {
    Opened { owner: String },
    Deposited { cents: u64 },
    Withdrawn { cents: u64 },
    Closed,
}

fn plain_u64(s: &str) -> Option<u64> {
    if s.is_empty() || !s.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn legacy_cents(s: &str) -> Option<u64> {
    let dot = s.find('.')?;
    let (euros, rest) = (&s[..dot], &s[dot + 1..]);
    if euros.is_empty() || rest.len() != 2 {
        return None;
    }
    plain_u64(&format!("{euros}{rest}"))
}

impl AccountEvent {
    pub fn encode(&self) -> EventData {
        let (kind, schema, payload) = match self {
            AccountEvent::Opened { owner } => ("AccountOpened", 1, owner.clone()),
            AccountEvent::Deposited { cents } => ("MoneyDeposited", 2, format!("{cents}")),
            AccountEvent::Withdrawn { cents } => ("MoneyWithdrawn", 2, format!("{cents}")),
            AccountEvent::Closed => ("AccountClosed", 1, String::new()),
        };
        EventData {
            kind: kind.into(),
            schema,
            payload,
        }
    }

    pub fn decode(data: &EventData) -> std::result::Result<Self, DecodeError> {
        let bad = || DecodeError::BadPayload {
            kind: data.kind.clone(),
            schema: data.schema,
            payload: data.payload.clone(),
        };
        let unknown_schema = || DecodeError::UnknownSchema {
            kind: data.kind.clone(),
            schema: data.schema,
        };
        let amount = || match data.schema {
            1 => legacy_cents(&data.payload).ok_or_else(bad),
            2 => plain_u64(&data.payload).ok_or_else(bad),
            _ => Err(unknown_schema()),
        };
        match data.kind.as_str() {
            "AccountOpened" if data.schema == 1 => Ok(AccountEvent::Opened {
                owner: data.payload.clone(),
            }),
            "AccountClosed" if data.schema == 1 => {
                if data.payload.is_empty() {
                    Ok(AccountEvent::Closed)
                } else {
                    Err(bad())
                }
            }
            "AccountOpened" | "AccountClosed" => Err(unknown_schema()),
            "MoneyDeposited" => Ok(AccountEvent::Deposited { cents: amount()? }),
            "MoneyWithdrawn" => Ok(AccountEvent::Withdrawn { cents: amount()? }),
            other => Err(DecodeError::UnknownKind(other.to_owned())),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Command {
    Open { owner: String },
    Deposit { cents: u64 },
    Withdraw { cents: u64 },
    Close,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Status {
    #[default]
    New,
    Open,
    Closed,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Account {
    pub status: Status,
    pub owner: String,
    pub balance: u64,
}

impl Account {
    pub fn decide(&self, command: &Command) -> std::result::Result<Vec<AccountEvent>, Rejection> {
        if let Command::Open { owner } = command {
            return match (self.status, owner.is_empty()) {
                (Status::New, true) => Err(Rejection::EmptyOwner),
                (Status::New, false) => Ok(vec![AccountEvent::Opened {
                    owner: owner.clone(),
                }]),
                _ => Err(Rejection::AlreadyOpened),
            };
        }
        match self.status {
            Status::New => return Err(Rejection::NotOpen),
            Status::Closed => return Err(Rejection::Closed),
            Status::Open => {}
        }
        match *command {
            Command::Deposit { cents: 0 } | Command::Withdraw { cents: 0 } => {
                Err(Rejection::ZeroAmount)
            }
            Command::Deposit { cents } => match self.balance.checked_add(cents) {
                Some(_) => Ok(vec![AccountEvent::Deposited { cents }]),
                None => Err(Rejection::BalanceOverflow {
                    balance: self.balance,
                    deposit: cents,
                }),
            },
            Command::Withdraw { cents } => match self.balance.checked_sub(cents) {
                Some(_) => Ok(vec![AccountEvent::Withdrawn { cents }]),
                None => Err(Rejection::InsufficientFunds {
                    balance: self.balance,
                    requested: cents,
                }),
            },
            Command::Close if self.balance == 0 => Ok(vec![AccountEvent::Closed]),
            Command::Close => Err(Rejection::BalanceNotZero {
                balance: self.balance,
            }),
            Command::Open { .. } => unreachable!("handled above"),
        }
    }

    pub fn apply(&mut self, event: &AccountEvent) {
        match event {
            AccountEvent::Opened { owner } => {
                self.status = Status::Open;
                self.owner = owner.clone();
            }
            AccountEvent::Deposited { cents } => {
                self.balance = self.balance.checked_add(*cents).unwrap_or(u64::MAX);
            }
            AccountEvent::Withdrawn { cents } => {
                self.balance = self.balance.checked_sub(*cents).unwrap_or(0);
            }
            AccountEvent::Closed => self.status = Status::Closed,
        }
    }

    pub fn to_snapshot(&self) -> String {
        let status = match self.status {
            Status::New => "new",
            Status::Open => "open",
            Status::Closed => "closed",
        };
        format!(
            "{status}:{}:{}:{}",
            self.balance,
            self.owner.len(),
            self.owner
        )
    }

    pub fn from_snapshot(state: &str) -> std::result::Result<Self, DecodeError> {
        let bad = || DecodeError::BadSnapshot(state.to_owned());
        let mut parts = state.splitn(4, ':');
        let status = match parts.next() {
            Some("new") => Status::New,
            Some("open") => Status::Open,
            Some("closed") => Status::Closed,
            _ => return Err(bad()),
        };
        let balance = parts.next().and_then(plain_u64).ok_or_else(bad)?;
        let len = parts.next().and_then(plain_u64).ok_or_else(bad)?;
        let owner = parts.next().ok_or_else(bad)?;
        if owner.len() as u64 != len {
            return Err(bad());
        }
        Ok(Account {
            status,
            owner: owner.to_owned(),
            balance,
        })
    }
}

fn decoded(event: &RecordedEvent) -> Result<AccountEvent> {
    AccountEvent::decode(&event.data).map_err(|error| Error::Decode {
        stream: event.stream.clone(),
        version: event.version,
        error,
    })
}

#[derive(Debug)]
pub struct Accounts {
    store: EventStore,
    every: u64,
}

impl Accounts {
    pub fn new(store: EventStore, snapshot_every: u64) -> Result<Self> {
        if snapshot_every == 0 {
            return Err(Error::ZeroArgument("snapshot_every"));
        }
        Ok(Accounts {
            store,
            every: snapshot_every,
        })
    }

    pub fn execute(&mut self, account: &str, command: &Command) -> Result<u64> {
        named(account)?;
        let (mut state, version) = if self.store.version(account)? == 0 {
            (Account::default(), 0)
        } else {
            self.load(account)?
        };
        let events = state.decide(command)?;
        let encoded: Vec<EventData> = events.iter().map(AccountEvent::encode).collect();
        let new_version = self.store.append(account, version, &encoded)?;
        for event in &events {
            state.apply(event);
        }
        if new_version % self.every == 0 {
            // The events are committed: a failed snapshot only costs a
            // longer tail next time, so it is not the command's error.
            let _ = self.store.save_snapshot(
                account,
                &Snapshot {
                    version: new_version,
                    state: state.to_snapshot(),
                },
            );
        }
        Ok(new_version)
    }

    fn fold(&self, account: &str, mut state: Account, after: u64) -> Result<(Account, u64)> {
        let mut version = after;
        for event in self.store.read_stream(account, after)? {
            state.apply(&decoded(&event)?);
            version = event.version;
        }
        Ok((state, version))
    }

    pub fn load(&self, account: &str) -> Result<(Account, u64)> {
        let Some(snapshot) = self.store.load_snapshot(account)? else {
            return self.replay(account);
        };
        let state = Account::from_snapshot(&snapshot.state).map_err(|error| Error::Decode {
            stream: account.to_owned(),
            version: snapshot.version,
            error,
        })?;
        self.fold(account, state, snapshot.version)
    }

    pub fn replay(&self, account: &str) -> Result<(Account, u64)> {
        self.fold(account, Account::default(), 0)
    }

    pub fn store(&self) -> &EventStore {
        &self.store
    }

    pub fn store_mut(&mut self) -> &mut EventStore {
        &mut self.store
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct AccountView {
    pub owner: String,
    pub balance: u64,
    pub closed: bool,
}

#[derive(Debug)]
pub struct BalanceProjection {
    db: Connection,
}

impl BalanceProjection {
    pub fn new(conn: Connection) -> Result<Self> {
        conn.execute_batch(TABLES)?;
        conn.execute(
            "INSERT OR IGNORE INTO cursor (id, position) VALUES (1, 0)",
            [],
        )?;
        Ok(BalanceProjection { db: conn })
    }

    /// Applies one event to its account's view unless the view has seen
    /// it (its version is not above the view's last one). One statement, so
    /// one atomic step.
    fn apply(&self, event: &RecordedEvent, decoded: &AccountEvent) -> Result<()> {
        let version = int(event.version);
        match decoded {
            AccountEvent::Opened { owner } => {
                self.db
                    .prepare_cached(
                        "INSERT INTO views (account, owner, balance, closed, last_version)
                         VALUES (?1, ?2, '0', 0, ?3)
                         ON CONFLICT (account) DO UPDATE SET owner = excluded.owner,
                             balance = '0', closed = 0, last_version = excluded.last_version
                         WHERE views.last_version < excluded.last_version",
                    )?
                    .execute(params![event.stream, owner, version])?;
            }
            AccountEvent::Deposited { cents } | AccountEvent::Withdrawn { cents } => {
                let Some((balance, last)) = self
                    .db
                    .prepare_cached("SELECT balance, last_version FROM views WHERE account = ?1")?
                    .query_row([&event.stream], |r| {
                        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
                    })
                    .optional()?
                else {
                    return Ok(());
                };
                if last >= version {
                    return Ok(());
                }
                let balance: u64 = balance.parse().unwrap_or(0);
                let balance = if matches!(decoded, AccountEvent::Deposited { .. }) {
                    balance.saturating_add(*cents)
                } else {
                    balance.saturating_sub(*cents)
                };
                self.db
                    .prepare_cached(
                        "UPDATE views SET balance = ?2, last_version = ?3
                         WHERE account = ?1 AND last_version < ?3",
                    )?
                    .execute(params![event.stream, balance.to_string(), version])?;
            }
            AccountEvent::Closed => {
                self.db
                    .prepare_cached(
                        "UPDATE views SET closed = 1, last_version = ?2
                         WHERE account = ?1 AND last_version < ?2",
                    )?
                    .execute(params![event.stream, version])?;
            }
        }
        Ok(())
    }

    fn advance(&self, position: u64) -> Result<()> {
        self.db
            .prepare_cached("UPDATE cursor SET position = ?1 WHERE id = 1")?
            .execute([int(position)])?;
        Ok(())
    }

    pub fn catch_up(&mut self, batch: usize) -> Result<usize> {
        if batch == 0 {
            return Err(Error::ZeroArgument("batch"));
        }
        let mut done = 0;
        let mut at = self.checkpoint()?;
        loop {
            let events = page(&self.db, at, batch)?;
            if events.is_empty() {
                return Ok(done);
            }
            for event in &events {
                let decoded = decoded(event)?;
                self.apply(event, &decoded)?;
                self.advance(event.position)?;
                at = event.position;
                done += 1;
            }
        }
    }

    pub fn checkpoint(&self) -> Result<u64> {
        let p: Option<i64> = self
            .db
            .query_row("SELECT position FROM cursor WHERE id = 1", [], |r| r.get(0))
            .optional()?;
        Ok(p.map_or(0, uint))
    }

    pub fn view(&self, account: &str) -> Result<Option<AccountView>> {
        named(account)?;
        let row = self
            .db
            .prepare_cached("SELECT owner, balance, closed FROM views WHERE account = ?1")?
            .query_row([account], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, bool>(2)?,
                ))
            })
            .optional()?;
        Ok(row.map(|(owner, balance, closed)| AccountView {
            owner,
            balance: balance.parse().unwrap_or(0),
            closed,
        }))
    }

    pub fn views(&self) -> Result<BTreeMap<String, AccountView>> {
        let mut stmt = self
            .db
            .prepare_cached("SELECT account, owner, balance, closed FROM views")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                AccountView {
                    owner: r.get(1)?,
                    balance: r.get::<_, String>(2)?.parse().unwrap_or(0),
                    closed: r.get(3)?,
                },
            ))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn rebuild(&mut self, batch: usize) -> Result<usize> {
        if batch == 0 {
            return Err(Error::ZeroArgument("batch"));
        }
        self.db.execute_batch(
            "BEGIN IMMEDIATE; DELETE FROM views; UPDATE cursor SET position = 0; COMMIT;",
        )?;
        self.catch_up(batch)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rejection {
    NotOpen,
    AlreadyOpened,
    Closed,
    EmptyOwner,
    ZeroAmount,
    InsufficientFunds { balance: u64, requested: u64 },
    BalanceOverflow { balance: u64, deposit: u64 },
    BalanceNotZero { balance: u64 },
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DecodeError {
    UnknownKind(String),
    UnknownSchema {
        kind: String,
        schema: u32,
    },
    BadPayload {
        kind: String,
        schema: u32,
        payload: String,
    },
    BadSnapshot(String),
}

#[derive(Debug)]
pub enum Error {
    Conflict {
        stream: String,
        expected: u64,
        actual: u64,
    },
    EmptyStreamName,
    NoEvents,
    UnknownStream(String),
    VersionOutOfRange {
        stream: String,
        version: u64,
        current: u64,
    },
    ZeroArgument(&'static str),
    Rejected(Rejection),
    Decode {
        stream: String,
        version: u64,
        error: DecodeError,
    },
    Database(rusqlite::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

impl StdError for Error {}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::Database(e)
    }
}

impl From<Rejection> for Error {
    fn from(r: Rejection) -> Self {
        Error::Rejected(r)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
