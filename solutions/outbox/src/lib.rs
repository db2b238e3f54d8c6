//! # Transactional outbox: the reference solution
//!
//! [`Shop`] writes an order and the event that announces it in one SQLite
//! transaction, so there is never an order without its event or an event
//! without its order. [`Relay`] reads the `outbox` table and hands the events
//! to a [`Publisher`] (the message broker): it claims them under a lease,
//! publishes them in order, and marks each one published only after the
//! broker accepted it. Delivery is at least once; consumers deduplicate by
//! [`Event::id`].
//!
//! Several shops and relays share one database file, each through its own
//! connection: every connection runs in WAL mode with a busy timeout, and
//! every write transaction starts with `BEGIN IMMEDIATE`, so that a writer
//! takes the write lock before it reads what it will write instead of failing
//! with `SQLITE_BUSY` when it upgrades a read. The statements of every order
//! and every event are prepared once per connection and cached
//! (`prepare_cached`) rather than parsed again on each call.

use std::error::Error as StdError;
use std::fmt;
use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

/// The id of an order; also the aggregate id of its events.
pub type OrderId = i64;

/// How long a connection waits for another connection's write lock before it
/// gives up with `SQLITE_BUSY`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How many events a relay claims at a time.
const BATCH: i64 = 16;

/// An order as the customer placed it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Order {
    /// Who ordered.
    pub customer: String,
    /// What they ordered.
    pub item: String,
    /// How many.
    pub quantity: u32,
}

/// Where an order stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderStatus {
    /// Placed and not cancelled.
    Placed,
    /// Cancelled.
    Cancelled,
}

/// What happened to an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// The order was placed (always sequence 1 of its aggregate).
    OrderPlaced,
    /// The order was cancelled.
    OrderCancelled,
}

impl EventKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::OrderPlaced => "OrderPlaced",
            Self::OrderCancelled => "OrderCancelled",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "OrderPlaced" => Some(Self::OrderPlaced),
            "OrderCancelled" => Some(Self::OrderCancelled),
            _ => None,
        }
    }
}

/// One event of the outbox, as the relay hands it to the publisher.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Event {
    /// Unique and stable: a redelivered event has the same id, so consumers
    /// deduplicate by it. Ids grow in the order events were written.
    pub id: i64,
    /// The order the event is about.
    pub aggregate_id: OrderId,
    /// 1, 2, 3, ... within its aggregate, in the order the events happened.
    pub sequence: u32,
    /// What happened.
    pub kind: EventKind,
    /// The message body (its format is the shop's choice).
    pub payload: String,
}

/// Why the publisher refused an event (the broker was down, a timeout...).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PublishError(pub String);

impl fmt::Display for PublishError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "publish failed: {}", self.0)
    }
}

impl StdError for PublishError {}

/// The message broker, as the relay sees it.
pub trait Publisher {
    /// Publishes one event. `Ok` means the broker has it durably; an error
    /// means it may or may not have it, and the relay must try again later.
    fn publish(&mut self, event: &Event) -> Result<(), PublishError>;
}

/// Why a shop or relay operation failed.
#[derive(Debug)]
pub enum Error {
    /// No order has this id.
    UnknownOrder(OrderId),
    /// The order was already cancelled.
    AlreadyCancelled(OrderId),
    /// The database failed (including an injected failure); nothing of the
    /// operation was written.
    Database(rusqlite::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownOrder(id) => write!(f, "no order has id {id}"),
            Self::AlreadyCancelled(id) => write!(f, "order {id} is already cancelled"),
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

/// The result of shop and relay operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What one [`Relay::run_once`] did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RelayReport {
    /// Events published (and marked) by this run.
    pub published: usize,
    /// The publisher's error that stopped the run, if one did.
    pub failure: Option<PublishError>,
}

/// Opens a connection to the shared file, ready for several writers, and
/// creates the schema if it is not there.
fn connect(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // WAL: readers do not block the writer; NORMAL: no fsync per commit in
    // WAL mode, still durable against a process crash.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS orders (
             id       INTEGER PRIMARY KEY,
             customer TEXT    NOT NULL,
             item     TEXT    NOT NULL,
             quantity INTEGER NOT NULL,
             status   TEXT    NOT NULL
         );
         CREATE TABLE IF NOT EXISTS outbox (
             id           INTEGER PRIMARY KEY AUTOINCREMENT,
             aggregate_id INTEGER NOT NULL,
             sequence     INTEGER NOT NULL,
             kind         TEXT    NOT NULL,
             payload      TEXT    NOT NULL,
             claimed_by   TEXT,
             lease_until  INTEGER,
             published_at INTEGER,
             UNIQUE (aggregate_id, sequence)
         );
         CREATE INDEX IF NOT EXISTS outbox_unpublished
             ON outbox (id) WHERE published_at IS NULL;",
    )?;
    Ok(conn)
}

/// The order service: writes orders and their events atomically.
#[derive(Debug)]
pub struct Shop {
    conn: Connection,
}

impl Shop {
    /// Opens (creating if needed) the shop's database at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Ok(Self {
            conn: connect(path.as_ref())?,
        })
    }

    /// Places an order: writes the order and its `OrderPlaced` event
    /// (sequence 1) in one transaction, and returns the new order's id.
    pub fn place_order(&mut self, order: &Order) -> Result<OrderId> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.prepare_cached(
            "INSERT INTO orders (customer, item, quantity, status) VALUES (?1, ?2, ?3, 'placed')",
        )?
        .execute(params![order.customer, order.item, order.quantity])?;
        let id = tx.last_insert_rowid();
        let payload = format!(
            "{{\"order_id\":{id},\"customer\":{:?},\"item\":{:?},\"quantity\":{}}}",
            order.customer, order.item, order.quantity
        );
        append_event(&tx, id, EventKind::OrderPlaced, &payload)?;
        tx.commit()?;
        Ok(id)
    }

    /// Cancels an order: updates it and writes its `OrderCancelled` event
    /// (the next sequence of its aggregate) in one transaction.
    pub fn cancel_order(&mut self, id: OrderId) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let status: Option<String> = tx
            .query_row("SELECT status FROM orders WHERE id = ?1", [id], |row| {
                row.get(0)
            })
            .optional()?;
        match status.as_deref() {
            None => return Err(Error::UnknownOrder(id)),
            Some("cancelled") => return Err(Error::AlreadyCancelled(id)),
            Some(_) => {}
        }
        tx.execute("UPDATE orders SET status = 'cancelled' WHERE id = ?1", [id])?;
        append_event(
            &tx,
            id,
            EventKind::OrderCancelled,
            &format!("{{\"order_id\":{id}}}"),
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The status of an order.
    pub fn status(&self, id: OrderId) -> Result<OrderStatus> {
        let status: Option<String> = self
            .conn
            .query_row("SELECT status FROM orders WHERE id = ?1", [id], |row| {
                row.get(0)
            })
            .optional()?;
        match status.as_deref() {
            None => Err(Error::UnknownOrder(id)),
            Some("cancelled") => Ok(OrderStatus::Cancelled),
            Some(_) => Ok(OrderStatus::Placed),
        }
    }
}

/// Appends the next event of `aggregate_id` inside the caller's transaction.
fn append_event(
    tx: &rusqlite::Transaction<'_>,
    aggregate_id: OrderId,
    kind: EventKind,
    payload: &str,
) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO outbox (aggregate_id, sequence, kind, payload)
         SELECT ?1, COALESCE(MAX(sequence), 0) + 1, ?2, ?3
         FROM outbox WHERE aggregate_id = ?1",
    )?
    .execute(params![aggregate_id, kind.as_str(), payload])?;
    Ok(())
}

/// Publishes the outbox's events to a broker, at least once and in order.
#[derive(Debug)]
pub struct Relay {
    conn: Connection,
    relay_id: String,
    lease: i64,
}

impl Relay {
    /// Opens a relay named `relay_id` on the database at `path`. Its claims
    /// last `lease` seconds; a relay restarted under the same id takes its
    /// own claims back at once.
    pub fn new(path: impl AsRef<Path>, relay_id: &str, lease: i64) -> Result<Self> {
        Ok(Self {
            conn: connect(path.as_ref())?,
            relay_id: relay_id.to_owned(),
            lease,
        })
    }

    /// Publishes every event it can claim at `now` (unix seconds), in order,
    /// batch after batch, until none is left or the publisher fails. Each
    /// event is marked published right after the publisher accepted it; on
    /// the first failure the run stops and releases its remaining claims.
    pub fn run_once(&mut self, now: i64, publisher: &mut impl Publisher) -> Result<RelayReport> {
        let mut report = RelayReport::default();
        loop {
            let batch = self.claim(now)?;
            if batch.is_empty() {
                return Ok(report);
            }
            for event in &batch {
                if let Err(e) = publisher.publish(event) {
                    self.release()?;
                    report.failure = Some(e);
                    return Ok(report);
                }
                self.conn
                    .prepare_cached(
                        "UPDATE outbox SET published_at = ?2, claimed_by = NULL, lease_until = NULL
                         WHERE id = ?1",
                    )?
                    .execute(params![event.id, now])?;
                report.published += 1;
            }
        }
    }

    /// Claims the next batch: unpublished events whose lease is free or
    /// ours, none behind an earlier event of its aggregate that another
    /// relay holds, in id order. One short transaction; nothing stays locked
    /// while the events are published.
    fn claim(&mut self, now: i64) -> Result<Vec<Event>> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let events = {
            let mut select = tx.prepare_cached(
                "SELECT e.id, e.aggregate_id, e.sequence, e.kind, e.payload
                 FROM outbox e
                 WHERE e.published_at IS NULL
                   AND (e.lease_until IS NULL OR e.lease_until <= ?1 OR e.claimed_by = ?2)
                   AND NOT EXISTS (
                       SELECT 1 FROM outbox p
                       WHERE p.aggregate_id = e.aggregate_id
                         AND p.sequence < e.sequence
                         AND p.published_at IS NULL
                         AND p.lease_until > ?1
                         AND p.claimed_by <> ?2)
                 ORDER BY e.id
                 LIMIT ?3",
            )?;
            let rows = select.query_map(params![now, self.relay_id, BATCH], |row| {
                let kind: String = row.get(3)?;
                Ok(Event {
                    id: row.get(0)?,
                    aggregate_id: row.get(1)?,
                    sequence: row.get(2)?,
                    kind: EventKind::parse(&kind).ok_or_else(|| {
                        rusqlite::Error::FromSqlConversionFailure(
                            3,
                            rusqlite::types::Type::Text,
                            format!("unknown event kind {kind:?}").into(),
                        )
                    })?,
                    payload: row.get(4)?,
                })
            })?;
            rows.collect::<rusqlite::Result<Vec<_>>>()?
        };
        {
            let mut lease = tx.prepare_cached(
                "UPDATE outbox SET claimed_by = ?2, lease_until = ?3 WHERE id = ?1",
            )?;
            let until = now.saturating_add(self.lease);
            for event in &events {
                lease.execute(params![event.id, self.relay_id, until])?;
            }
        }
        tx.commit()?;
        Ok(events)
    }

    /// Gives back this relay's unpublished claims, so that a retry (by any
    /// relay) can take them at once.
    fn release(&mut self) -> Result<()> {
        self.conn.execute(
            "UPDATE outbox SET claimed_by = NULL, lease_until = NULL
             WHERE claimed_by = ?1 AND published_at IS NULL",
            [&self.relay_id],
        )?;
        Ok(())
    }
}
