//! # Transactional outbox
//!
//! An order service that never loses an event: [`Shop`] writes an order and
//! the event announcing it in one SQLite transaction, and [`Relay`] publishes
//! the events of the `outbox` table to a broker, in order, at least once,
//! under a lease. Read `README.md` beside this file for the problem, then
//! make the specification pass:
//!
//! ```text
//! cargo xtask kata outbox
//! ```
//!
//! Time is passed in (`now`, unix seconds): never read the clock here. The
//! tables must be named `orders` and `outbox` (the spec injects failures into
//! them); their columns are yours.

// The bodies below are `todo!()`, so their arguments go unused until you
// write them. Delete this line when you are done.
#![allow(unused_variables)]

use std::error::Error as StdError;
use std::fmt;
use std::path::Path;

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

/// The order service: writes orders and their events atomically. Several
/// shops (and relays) may use one database file at once, each through its
/// own connection.
#[derive(Debug)]
pub struct Shop {
    // Your fields here: a `rusqlite::Connection`, most likely.
}

impl Shop {
    /// Opens (creating if needed) the shop's database at `path`: the
    /// `orders` and `outbox` tables, and a connection ready to share the
    /// file with other writers (WAL, a busy timeout).
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        todo!("open the file, set the pragmas, create the tables if missing")
    }

    /// Places an order: writes the order and its `OrderPlaced` event
    /// (sequence 1 of the new order's aggregate) in ONE transaction, and
    /// returns the new order's id. If either write fails, neither is kept.
    pub fn place_order(&mut self, order: &Order) -> Result<OrderId> {
        todo!("one IMMEDIATE transaction: insert the order, insert its event, commit")
    }

    /// Cancels an order: marks it cancelled and writes its `OrderCancelled`
    /// event (the next sequence of its aggregate) in ONE transaction.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownOrder`] if no order has this id,
    /// [`Error::AlreadyCancelled`] if it was cancelled before; no event is
    /// written then.
    pub fn cancel_order(&mut self, id: OrderId) -> Result<()> {
        todo!("one IMMEDIATE transaction: check the order, update it, append its next event")
    }

    /// The status of an order ([`Error::UnknownOrder`] if there is none).
    pub fn status(&self, id: OrderId) -> Result<OrderStatus> {
        todo!("read the order's status")
    }
}

/// Publishes the outbox's events to a broker, at least once and in order.
#[derive(Debug)]
pub struct Relay {
    // Your fields here: its own connection, its name, its lease.
}

impl Relay {
    /// Opens a relay named `relay_id` on the database at `path` (creating
    /// the tables if missing). Its claims last `lease` seconds: a claim made
    /// at `now` holds until `now + lease`, exclusive. A relay restarted under
    /// the same name (after a crash) takes its own claims back at once.
    pub fn new(path: impl AsRef<Path>, relay_id: &str, lease: i64) -> Result<Self> {
        todo!("open your own connection to the file")
    }

    /// Publishes every event it can claim at `now` (unix seconds), in the
    /// order they were written, until none is left or the publisher fails:
    ///
    /// - claim before publishing: an event leased by another relay (its
    ///   lease not yet expired at `now`) is not published, nor is any later
    ///   event of the same order;
    /// - mark each event published only after `publish` returned `Ok`;
    /// - stop at the first failure, report it in [`RelayReport::failure`],
    ///   and leave the failed event and everything after it for a later run;
    /// - hold no transaction open while `publish` runs.
    ///
    /// # Errors
    ///
    /// Only database errors; a publisher's failure is in the report.
    pub fn run_once(&mut self, now: i64, publisher: &mut impl Publisher) -> Result<RelayReport> {
        todo!("claim a batch under a lease, publish each in order, mark each after its success")
    }
}
