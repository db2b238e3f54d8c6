//! Right: not the README's hinted design of per-event `claimed_by`/`lease_until` columns with a `NOT EXISTS` guard
//! against earlier events of the same order. Leases live in their own table, one row per ORDER
//! (`relay_leases(aggregate_id PRIMARY KEY, relay, lease_until)`): a relay leases the orders of the
//! batch it takes, so no other relay publishes any event of those orders, earlier or later, while the
//! lease holds; per-order order across relays follows from the lease itself. The claim is a
//! `LEFT JOIN` of the unpublished events (walked along the partial index in id order) with the lease
//! table, then an UPSERT of the leases, in one short IMMEDIATE transaction; the run deletes its leases
//! when it finishes or fails (a crash leaves them to expire, or to the same name's restart). The
//! per-order sequence is a counter on the order row, bumped by the same guarded
//! `UPDATE ... WHERE status = 'placed' RETURNING last_seq` that cancels the order.
//!
//! # Transactional outbox

use std::error::Error as StdError;
use std::fmt;
use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

/// The id of an order; also the aggregate id of its events.
pub type OrderId = i64;

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

/// How many events one claim takes.
const BATCH: i64 = 16;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS orders (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    customer  TEXT    NOT NULL,
    item      TEXT    NOT NULL,
    quantity  INTEGER NOT NULL,
    status    TEXT    NOT NULL DEFAULT 'placed',
    -- the sequence of the order's last event: the per-aggregate counter
    last_seq  INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS outbox (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    aggregate_id INTEGER NOT NULL,
    sequence     INTEGER NOT NULL,
    kind         TEXT    NOT NULL,
    payload      TEXT    NOT NULL,
    published_at INTEGER
);
CREATE INDEX IF NOT EXISTS outbox_unpublished ON outbox (id) WHERE published_at IS NULL;
-- Leases are per order, not per event: while a relay holds an order, no
-- other relay publishes any of its events, earlier or later.
CREATE TABLE IF NOT EXISTS relay_leases (
    aggregate_id INTEGER PRIMARY KEY,
    relay        TEXT    NOT NULL,
    lease_until  INTEGER NOT NULL
);
";

fn connect(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
    conn.execute_batch("PRAGMA synchronous = NORMAL;")?;
    conn.execute_batch(&format!("BEGIN IMMEDIATE; {SCHEMA} COMMIT;"))?;
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
        Ok(Shop {
            conn: connect(path.as_ref())?,
        })
    }

    /// Places an order and writes its `OrderPlaced` event in ONE transaction.
    pub fn place_order(&mut self, order: &Order) -> Result<OrderId> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let id: OrderId = tx.query_row(
            "INSERT INTO orders (customer, item, quantity) VALUES (?1, ?2, ?3) RETURNING id",
            params![order.customer, order.item, order.quantity],
            |r| r.get(0),
        )?;
        let payload = format!(
            "placed order={id} customer={} item={} quantity={}",
            order.customer.escape_default(),
            order.item.escape_default(),
            order.quantity
        );
        tx.execute(
            "INSERT INTO outbox (aggregate_id, sequence, kind, payload)
             VALUES (?1, 1, 'placed', ?2)",
            params![id, payload],
        )?;
        tx.commit()?;
        Ok(id)
    }

    /// Cancels an order and writes its `OrderCancelled` event in ONE
    /// transaction: the status check and the sequence bump are one guarded
    /// UPDATE of the order row.
    pub fn cancel_order(&mut self, id: OrderId) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let sequence: Option<i64> = tx
            .query_row(
                "UPDATE orders SET status = 'cancelled', last_seq = last_seq + 1
                 WHERE id = ?1 AND status = 'placed'
                 RETURNING last_seq",
                [id],
                |r| r.get(0),
            )
            .optional()?;
        let Some(sequence) = sequence else {
            let known: Option<i64> = tx
                .query_row("SELECT id FROM orders WHERE id = ?1", [id], |r| r.get(0))
                .optional()?;
            return Err(match known {
                Some(_) => Error::AlreadyCancelled(id),
                None => Error::UnknownOrder(id),
            });
        };
        tx.execute(
            "INSERT INTO outbox (aggregate_id, sequence, kind, payload)
             VALUES (?1, ?2, 'cancelled', ?3)",
            params![id, sequence, format!("cancelled order={id}")],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The status of an order.
    pub fn status(&self, id: OrderId) -> Result<OrderStatus> {
        let status: Option<String> = self
            .conn
            .query_row("SELECT status FROM orders WHERE id = ?1", [id], |r| r.get(0))
            .optional()?;
        match status.as_deref() {
            None => Err(Error::UnknownOrder(id)),
            Some("cancelled") => Ok(OrderStatus::Cancelled),
            Some(_) => Ok(OrderStatus::Placed),
        }
    }
}

/// Publishes the outbox's events to a broker, at least once and in order.
#[derive(Debug)]
pub struct Relay {
    conn: Connection,
    name: String,
    lease: i64,
}

impl Relay {
    /// Opens a relay named `relay_id` on the database at `path`.
    pub fn new(path: impl AsRef<Path>, relay_id: &str, lease: i64) -> Result<Self> {
        Ok(Relay {
            conn: connect(path.as_ref())?,
            name: relay_id.to_owned(),
            lease,
        })
    }

    /// Takes the next batch at `now`: the first unpublished events, by id,
    /// of orders no other relay holds a live lease on; then leases (or
    /// re-leases) their orders to this relay. One short IMMEDIATE transaction.
    fn claim(&mut self, now: i64) -> Result<Vec<Event>> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let batch = {
            let mut stmt = tx.prepare_cached(
                "SELECT o.id, o.aggregate_id, o.sequence, o.kind, o.payload
                 FROM outbox o
                 LEFT JOIN relay_leases l ON l.aggregate_id = o.aggregate_id
                 WHERE o.published_at IS NULL
                   AND (l.aggregate_id IS NULL OR l.relay = ?1 OR l.lease_until <= ?2)
                 ORDER BY o.id
                 LIMIT ?3",
            )?;
            let rows = stmt.query_map(params![self.name, now, BATCH], |r| {
                let kind: String = r.get(3)?;
                Ok(Event {
                    id: r.get(0)?,
                    aggregate_id: r.get(1)?,
                    sequence: r.get(2)?,
                    kind: if kind == "cancelled" {
                        EventKind::OrderCancelled
                    } else {
                        EventKind::OrderPlaced
                    },
                    payload: r.get(4)?,
                })
            })?;
            rows.collect::<rusqlite::Result<Vec<_>>>()?
        };
        {
            let mut lease = tx.prepare_cached(
                "INSERT INTO relay_leases (aggregate_id, relay, lease_until) VALUES (?1, ?2, ?3)
                 ON CONFLICT (aggregate_id) DO UPDATE
                 SET relay = excluded.relay, lease_until = excluded.lease_until",
            )?;
            let until = now.saturating_add(self.lease);
            for event in &batch {
                lease.execute(params![event.aggregate_id, self.name, until])?;
            }
        }
        tx.commit()?;
        Ok(batch)
    }

    /// Gives back every order this relay holds.
    fn release(&mut self) -> Result<()> {
        self.conn
            .execute("DELETE FROM relay_leases WHERE relay = ?1", [&self.name])?;
        Ok(())
    }

    /// Publishes every event it can claim at `now`, in order, until none is
    /// left or the publisher fails.
    pub fn run_once(&mut self, now: i64, publisher: &mut impl Publisher) -> Result<RelayReport> {
        let mut report = RelayReport::default();
        loop {
            let batch = self.claim(now)?;
            if batch.is_empty() {
                self.release()?;
                return Ok(report);
            }
            for event in &batch {
                if let Err(error) = publisher.publish(event) {
                    self.release()?;
                    report.failure = Some(error);
                    return Ok(report);
                }
                self.conn.execute(
                    "UPDATE outbox SET published_at = ?2 WHERE id = ?1",
                    params![event.id, now],
                )?;
                report.published += 1;
            }
        }
    }
}
