//! Bug: the claim has no batch limit: one run claims every claimable event at once (and loads them
//! all into memory). A second relay finds nothing to do while the first works through a backlog of
//! millions, and a relay that crashes strands the entire backlog until its lease expires, instead
//! of at most one batch. The README: "Claims in batches ... so two relays share a large backlog and
//! a crashed relay strands at most one batch".
//!
//! Why candidates write it: claiming everything in one statement is simpler and fewer round trips;
//! with a handful of events per test, a batch and "everything" are the same thing.
//!
//! Symptom: after a 2-hour broker outage the backlog is 3M events: one relay claims them all and takes 10 minutes and 2 GB of RAM to work through them, its twin sits idle, and when the busy one is OOM-killed nothing is published for a full lease.
//!
//! Whole file: written blind from the README and the stub by the red team; a design of its own,
//! not a change to the reference.
//!
//! Caught by: `a_crashed_relay_strands_at_most_one_batch_of_a_hundred_events`
//! (relay-a's crash strands all 300 events).

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

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS orders (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    customer  TEXT    NOT NULL,
    item      TEXT    NOT NULL,
    quantity  INTEGER NOT NULL,
    cancelled INTEGER NOT NULL DEFAULT 0
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
CREATE INDEX IF NOT EXISTS outbox_unpublished ON outbox (id) WHERE published_at IS NULL;
";

/// Opens `path` for sharing with other connections, and creates the tables.
fn connect(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
    conn.execute_batch("PRAGMA synchronous = NORMAL;")?;
    conn.execute_batch(&format!("BEGIN IMMEDIATE; {SCHEMA} COMMIT;"))?;
    Ok(conn)
}

fn kind_name(kind: EventKind) -> &'static str {
    match kind {
        EventKind::OrderPlaced => "OrderPlaced",
        EventKind::OrderCancelled => "OrderCancelled",
    }
}

fn kind_of(name: &str) -> EventKind {
    if name == "OrderCancelled" {
        EventKind::OrderCancelled
    } else {
        EventKind::OrderPlaced
    }
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
        tx.execute(
            "INSERT INTO orders (customer, item, quantity) VALUES (?1, ?2, ?3)",
            params![order.customer, order.item, order.quantity],
        )?;
        let id = tx.last_insert_rowid();
        let payload = format!(
            "{{\"order\":{id},\"customer\":{:?},\"item\":{:?},\"quantity\":{}}}",
            order.customer, order.item, order.quantity
        );
        tx.execute(
            "INSERT INTO outbox (aggregate_id, sequence, kind, payload) VALUES (?1, 1, ?2, ?3)",
            params![id, kind_name(EventKind::OrderPlaced), payload],
        )?;
        tx.commit()?;
        Ok(id)
    }

    /// Cancels an order and writes its `OrderCancelled` event in ONE transaction.
    pub fn cancel_order(&mut self, id: OrderId) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let cancelled: Option<bool> = tx
            .query_row("SELECT cancelled FROM orders WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()?;
        match cancelled {
            None => return Err(Error::UnknownOrder(id)),
            Some(true) => return Err(Error::AlreadyCancelled(id)),
            Some(false) => {}
        }
        tx.execute("UPDATE orders SET cancelled = 1 WHERE id = ?1", [id])?;
        let sequence: i64 = tx.query_row(
            "SELECT COALESCE(MAX(sequence), 0) + 1 FROM outbox WHERE aggregate_id = ?1",
            [id],
            |r| r.get(0),
        )?;
        tx.execute(
            "INSERT INTO outbox (aggregate_id, sequence, kind, payload) VALUES (?1, ?2, ?3, ?4)",
            params![
                id,
                sequence,
                kind_name(EventKind::OrderCancelled),
                format!("{{\"order\":{id}}}")
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The status of an order.
    pub fn status(&self, id: OrderId) -> Result<OrderStatus> {
        let cancelled: Option<bool> = self
            .conn
            .query_row("SELECT cancelled FROM orders WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()?;
        match cancelled {
            None => Err(Error::UnknownOrder(id)),
            Some(true) => Ok(OrderStatus::Cancelled),
            Some(false) => Ok(OrderStatus::Placed),
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

    /// Claims up to a batch of events at `now`, in id order: unpublished, not
    /// leased by another relay, and with no earlier unpublished event of the
    /// same order leased by another relay.
    fn claim(&mut self, now: i64) -> Result<Vec<Event>> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut events = {
            let mut stmt = tx.prepare(
                "UPDATE outbox SET claimed_by = ?1, lease_until = ?2
                 WHERE id IN (
                     SELECT o.id FROM outbox o
                     WHERE o.published_at IS NULL
                       AND (o.claimed_by IS NULL OR o.claimed_by = ?1 OR o.lease_until <= ?3)
                       AND NOT EXISTS (
                           SELECT 1 FROM outbox p
                           WHERE p.aggregate_id = o.aggregate_id AND p.id < o.id
                             AND p.published_at IS NULL
                             AND p.claimed_by IS NOT NULL AND p.claimed_by <> ?1
                             AND p.lease_until > ?3)
                     ORDER BY o.id)
                 RETURNING id, aggregate_id, sequence, kind, payload",
            )?;
            let rows = stmt.query_map(
                params![self.name, now.saturating_add(self.lease), now],
                |r| {
                    Ok(Event {
                        id: r.get(0)?,
                        aggregate_id: r.get(1)?,
                        sequence: r.get(2)?,
                        kind: kind_of(&r.get::<_, String>(3)?),
                        payload: r.get(4)?,
                    })
                },
            )?;
            rows.collect::<rusqlite::Result<Vec<_>>>()?
        };
        tx.commit()?;
        events.sort_by_key(|e| e.id);
        Ok(events)
    }

    /// Gives back every claim this relay still holds.
    fn release(&mut self) -> Result<()> {
        self.conn.execute(
            "UPDATE outbox SET claimed_by = NULL, lease_until = NULL
             WHERE claimed_by = ?1 AND published_at IS NULL",
            [&self.name],
        )?;
        Ok(())
    }

    /// Publishes every event it can claim at `now`, in order, until none is
    /// left or the publisher fails.
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
                self.conn.execute(
                    "UPDATE outbox SET published_at = ?2, claimed_by = NULL, lease_until = NULL
                     WHERE id = ?1",
                    params![event.id, now],
                )?;
                report.published += 1;
            }
        }
    }
}
