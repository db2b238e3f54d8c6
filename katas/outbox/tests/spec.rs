//! The specification of the outbox kata.
//!
//! Every test name is a requirement; read the failing names first. Each test
//! works on a fresh SQLite file in a temporary directory, removed when the
//! test ends. Time is the `now` argument (unix seconds): nothing here sleeps
//! or reads the clock. The broker is a recording [`Broker`] that follows a
//! script: deliver, fail, or "crash" (record the event, then panic as if the
//! relay's process died before it could mark the event published; the spec
//! catches the panic).
//!
//! `cargo test -p outbox` judges your code;
//! `cargo test -p outbox --features solution` judges the reference.

// The loom build (`--cfg kata_loom`) runs tests/loom.rs only.
#![cfg(not(kata_loom))]

#[cfg(not(feature = "solution"))]
use outbox as subject;
#[cfg(feature = "solution")]
use outbox_solution as subject;

use std::collections::{HashMap, HashSet, VecDeque};
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, Once};
use std::thread;
use std::time::Duration;

use proptest::prelude::*;
use rusqlite::Connection;
use subject::{
    Error, Event, EventKind, Order, OrderId, OrderStatus, PublishError, Publisher, Relay,
    RelayReport, Shop,
};
use tempfile::TempDir;

// ───────────────────────────── helpers ─────────────────────────────

/// A lease of 30 seconds.
const LEASE: i64 = 30;
/// Some instant, in unix seconds.
const T0: i64 = 1_700_000_000;

/// A fresh database file in a temporary directory (removed on drop).
struct Db {
    _dir: TempDir,
    path: PathBuf,
}

fn db() -> Db {
    let dir = TempDir::new().expect("create a temporary directory");
    let path = dir.path().join("shop.db");
    Db { _dir: dir, path }
}

impl Db {
    fn shop(&self) -> Shop {
        Shop::open(&self.path).expect("Shop::open on a fresh file should succeed")
    }

    fn relay(&self, id: &str) -> Relay {
        Relay::new(&self.path, id, LEASE).expect("Relay::new should succeed")
    }

    /// A connection of the spec's own, to inject failures and look at rows.
    fn raw(&self) -> Connection {
        let conn = Connection::open(&self.path).expect("open the database file");
        conn.busy_timeout(Duration::from_secs(5))
            .expect("set a busy timeout");
        conn
    }
}

fn order(n: usize) -> Order {
    Order {
        customer: format!("customer-{n}"),
        item: format!("item-{}", n % 7),
        quantity: u32::try_from(n % 5 + 1).expect("small quantity"),
    }
}

/// What the scripted broker does with one publish call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Accept the event.
    Deliver,
    /// Refuse the event (the broker is down).
    Fail,
    /// Accept the event, then the relay's process dies before it marks it.
    Crash,
}

/// The panic payload of a simulated crash.
struct RelayCrashed;

/// A broker that records what it accepted and follows a script of steps
/// (delivering everything once the script runs out).
#[derive(Default)]
struct Broker {
    delivered: Vec<Event>,
    script: VecDeque<Step>,
}

impl Broker {
    fn scripted(steps: &[Step]) -> Self {
        Self {
            delivered: Vec::new(),
            script: steps.iter().copied().collect(),
        }
    }

    fn ids(&self) -> Vec<i64> {
        self.delivered.iter().map(|e| e.id).collect()
    }
}

impl Publisher for Broker {
    fn publish(&mut self, event: &Event) -> Result<(), PublishError> {
        match self.script.pop_front().unwrap_or(Step::Deliver) {
            Step::Deliver => {
                self.delivered.push(event.clone());
                Ok(())
            }
            Step::Fail => Err(PublishError("broker unavailable".into())),
            Step::Crash => {
                self.delivered.push(event.clone());
                panic::panic_any(RelayCrashed)
            }
        }
    }
}

/// Silences the panic message of simulated crashes (and only those).
fn quiet_crashes() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<RelayCrashed>().is_none() {
                default(info);
            }
        }));
    });
}

/// Runs the relay; `None` if it "crashed" (the broker panicked).
fn run_catching(relay: &mut Relay, now: i64, broker: &mut Broker) -> Option<RelayReport> {
    quiet_crashes();
    match panic::catch_unwind(AssertUnwindSafe(|| relay.run_once(now, broker))) {
        Ok(report) => Some(report.expect("run_once should not fail with a database error")),
        Err(payload) => {
            if payload.downcast_ref::<RelayCrashed>().is_some() {
                None
            } else {
                panic::resume_unwind(payload)
            }
        }
    }
}

fn run(relay: &mut Relay, now: i64, broker: &mut Broker) -> RelayReport {
    relay
        .run_once(now, broker)
        .expect("run_once should not fail with a database error")
}

/// Places `n` orders and then cancels every `cancel_every`-th one; returns
/// the order ids.
fn fill(shop: &mut Shop, n: usize, cancel_every: usize) -> Vec<OrderId> {
    let ids: Vec<OrderId> = (0..n)
        .map(|i| {
            shop.place_order(&order(i))
                .expect("place_order should succeed")
        })
        .collect();
    for id in ids.iter().step_by(cancel_every) {
        shop.cancel_order(*id)
            .expect("cancelling a placed order should succeed");
    }
    ids
}

/// Asserts that, in `log`, every event of an aggregate comes after all the
/// earlier events of that aggregate (duplicates allowed), and that
/// sequences are 1, 2, 3... with no gap.
fn assert_per_aggregate_order(log: &[Event]) {
    let mut highest: HashMap<OrderId, u32> = HashMap::new();
    for (position, event) in log.iter().enumerate() {
        let seen = highest.entry(event.aggregate_id).or_insert(0);
        assert!(
            event.sequence <= *seen + 1,
            "order {}: event sequence {} (id {}) was published at position {position} before \
             sequence {} of the same order: per-order order must hold in what the broker sees; \
             published so far: {:?}",
            event.aggregate_id,
            event.sequence,
            event.id,
            *seen + 1,
            summary(&log[..position])
        );
        *seen = (*seen).max(event.sequence);
    }
}

/// `(id, aggregate, sequence)` of each event, for messages.
fn summary(log: &[Event]) -> Vec<(i64, OrderId, u32)> {
    log.iter()
        .map(|e| (e.id, e.aggregate_id, e.sequence))
        .collect()
}

/// The first delivery of each id, in order: what a consumer that
/// deduplicates by event id processes.
fn dedup(log: &[Event]) -> Vec<Event> {
    let mut seen = HashSet::new();
    log.iter().filter(|e| seen.insert(e.id)).cloned().collect()
}

fn count_orders(conn: &Connection) -> i64 {
    conn.query_row("SELECT COUNT(*) FROM orders", [], |row| row.get(0))
        .expect("the shop keeps its orders in a table named `orders`")
}

/// Makes every insert into `outbox` fail, as a full disk or a constraint
/// would, until [`heal`] is called.
fn break_outbox(conn: &Connection) {
    conn.execute_batch(
        "CREATE TRIGGER spec_injected_failure BEFORE INSERT ON outbox
         BEGIN SELECT RAISE(ABORT, 'injected failure: the event insert fails'); END;",
    )
    .expect("the shop keeps its events in a table named `outbox`");
}

fn heal(conn: &Connection) {
    conn.execute_batch("DROP TRIGGER spec_injected_failure")
        .expect("drop the injected failure");
}

// ───────────────────────── the shop writes events ─────────────────────────

#[test]
fn placing_an_order_writes_its_order_placed_event() {
    let db = db();
    let mut shop = db.shop();
    let id = shop
        .place_order(&order(1))
        .expect("place_order should succeed");
    assert_eq!(
        shop.status(id).expect("a placed order has a status"),
        OrderStatus::Placed
    );
    let mut broker = Broker::default();
    let report = run(&mut db.relay("relay-a"), T0, &mut broker);
    assert_eq!(report.published, 1, "one order placed: one event published");
    assert_eq!(report.failure, None);
    let event = &broker.delivered[0];
    assert_eq!(
        (event.aggregate_id, event.sequence, event.kind),
        (id, 1, EventKind::OrderPlaced),
        "placing order {id} should write an OrderPlaced event of aggregate {id}, sequence 1"
    );
}

#[test]
fn cancelling_an_order_appends_the_next_event_of_its_aggregate() {
    let db = db();
    let mut shop = db.shop();
    let first = shop.place_order(&order(1)).expect("place_order");
    let second = shop.place_order(&order(2)).expect("place_order");
    shop.cancel_order(first).expect("cancel a placed order");
    assert_eq!(shop.status(first).expect("status"), OrderStatus::Cancelled);
    assert_eq!(shop.status(second).expect("status"), OrderStatus::Placed);
    let mut broker = Broker::default();
    run(&mut db.relay("relay-a"), T0, &mut broker);
    let seen: Vec<(OrderId, u32, EventKind)> = broker
        .delivered
        .iter()
        .map(|e| (e.aggregate_id, e.sequence, e.kind))
        .collect();
    assert_eq!(
        seen,
        vec![
            (first, 1, EventKind::OrderPlaced),
            (second, 1, EventKind::OrderPlaced),
            (first, 2, EventKind::OrderCancelled),
        ],
        "place {first}, place {second}, cancel {first}: the broker should see the three events \
         in that order, the cancellation as sequence 2 of order {first}"
    );
}

#[test]
fn cancelling_an_unknown_or_cancelled_order_is_a_typed_error_and_writes_no_event() {
    let db = db();
    let mut shop = db.shop();
    let id = shop.place_order(&order(1)).expect("place_order");
    assert!(
        matches!(shop.cancel_order(id + 100), Err(Error::UnknownOrder(bad)) if bad == id + 100),
        "cancelling order {} that was never placed should be Error::UnknownOrder",
        id + 100
    );
    shop.cancel_order(id).expect("cancel a placed order");
    assert!(
        matches!(shop.cancel_order(id), Err(Error::AlreadyCancelled(bad)) if bad == id),
        "cancelling order {id} twice should be Error::AlreadyCancelled"
    );
    assert!(
        matches!(shop.status(id + 100), Err(Error::UnknownOrder(_))),
        "the status of an unknown order should be Error::UnknownOrder"
    );
    let mut broker = Broker::default();
    run(&mut db.relay("relay-a"), T0, &mut broker);
    assert_eq!(
        broker.delivered.len(),
        2,
        "only the placement and the one successful cancellation are events; got {:?}",
        summary(&broker.delivered)
    );
}

#[test]
fn an_order_is_never_written_without_its_event() {
    let db = db();
    let mut shop = db.shop();
    let raw = db.raw();
    break_outbox(&raw);
    assert!(
        shop.place_order(&order(1)).is_err(),
        "place_order should fail when its event cannot be written"
    );
    assert_eq!(
        count_orders(&raw),
        0,
        "the event insert failed, so the order must not be there either: write the order and \
         its event in ONE transaction"
    );
    heal(&raw);
    let id = shop
        .place_order(&order(2))
        .expect("place_order should work again once the database is healthy");
    let mut broker = Broker::default();
    run(&mut db.relay("relay-a"), T0, &mut broker);
    assert_eq!(
        summary(&broker.delivered)
            .iter()
            .map(|e| e.1)
            .collect::<Vec<_>>(),
        vec![id],
        "only the order that was written has an event"
    );
    assert_eq!(count_orders(&raw), 1);
}

#[test]
fn a_cancellation_is_never_written_without_its_event() {
    let db = db();
    let mut shop = db.shop();
    let raw = db.raw();
    let id = shop.place_order(&order(1)).expect("place_order");
    break_outbox(&raw);
    assert!(
        shop.cancel_order(id).is_err(),
        "cancel_order should fail when its event cannot be written"
    );
    heal(&raw);
    assert_eq!(
        shop.status(id).expect("status"),
        OrderStatus::Placed,
        "the OrderCancelled event could not be written, so order {id} must still be placed"
    );
    shop.cancel_order(id)
        .expect("the cancellation can be retried once the database is healthy");
    let mut broker = Broker::default();
    run(&mut db.relay("relay-a"), T0, &mut broker);
    let sequences: Vec<u32> = broker.delivered.iter().map(|e| e.sequence).collect();
    assert_eq!(
        sequences,
        vec![1, 2],
        "the failed cancellation used no sequence number"
    );
}

// ───────────────────────── the relay ─────────────────────────

#[test]
fn the_relay_publishes_every_event_once_in_the_order_they_were_written() {
    let db = db();
    let mut shop = db.shop();
    fill(&mut shop, 40, 3);
    let mut relay = db.relay("relay-a");
    let mut broker = Broker::default();
    let report = run(&mut relay, T0, &mut broker);
    let ids = broker.ids();
    assert_eq!(report.published, ids.len());
    assert_eq!(
        ids.len(),
        54,
        "40 placements and 14 cancellations: one run should publish all 54 events"
    );
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "events should be published in the order they were written (by id), once each: {ids:?}"
    );
    assert_per_aggregate_order(&broker.delivered);
    let again = run(&mut relay, T0 + 1, &mut broker);
    assert_eq!(
        again.published, 0,
        "a second run should find nothing left to publish"
    );
}

#[test]
fn a_failing_publisher_loses_no_event() {
    let db = db();
    let mut shop = db.shop();
    fill(&mut shop, 10, 2);
    let mut relay = db.relay("relay-a");
    let mut broker = Broker::scripted(&[Step::Deliver, Step::Deliver, Step::Fail]);
    let report = run(&mut relay, T0, &mut broker);
    assert_eq!(
        report.published, 2,
        "the broker took two events and refused the third"
    );
    assert!(
        report.failure.is_some(),
        "the run stopped by the broker's failure should report it"
    );
    broker.script = [Step::Fail].into();
    let report = run(&mut relay, T0 + 1, &mut broker);
    assert_eq!(report.published, 0, "the broker is still down");
    let report = run(&mut relay, T0 + 2, &mut broker);
    assert_eq!(
        report.failure, None,
        "the broker has recovered: the run should succeed"
    );
    let ids = broker.ids();
    assert_eq!(
        ids.len(),
        15,
        "every one of the 15 events should be delivered exactly once after the broker recovered \
         (no crash, so no duplicate): delivered {ids:?}"
    );
    assert_eq!(
        ids.iter().collect::<HashSet<_>>().len(),
        15,
        "no event should be delivered twice without a crash: {ids:?}"
    );
    assert_per_aggregate_order(&broker.delivered);
}

#[test]
fn the_relay_stops_at_the_first_failure() {
    let db = db();
    let mut shop = db.shop();
    fill(&mut shop, 6, 1);
    let mut relay = db.relay("relay-a");
    let mut all = Broker::default();
    let mut broker = Broker::scripted(&[Step::Deliver, Step::Deliver, Step::Fail]);
    let report = run(&mut relay, T0, &mut broker);
    assert_eq!(
        broker.delivered.len(),
        2,
        "the broker refused the third event: the run must stop there and publish nothing after \
         it (a later event of the same order would overtake it); delivered {:?}",
        summary(&broker.delivered)
    );
    assert_eq!(report.published, 2);
    assert!(report.failure.is_some());
    run(&mut relay, T0 + 1, &mut all);
    let mut log = broker.delivered.clone();
    log.extend(all.delivered.iter().cloned());
    let ids: Vec<i64> = log.iter().map(|e| e.id).collect();
    assert!(
        ids.len() == 12 && ids.windows(2).all(|w| w[0] < w[1]),
        "after the retry the broker should have seen all 12 events once each, in write order: \
         {ids:?}"
    );
    assert_per_aggregate_order(&log);
}

#[test]
fn a_crash_after_publishing_redelivers_the_same_event_so_consumers_can_deduplicate_by_id() {
    let db = db();
    let mut shop = db.shop();
    fill(&mut shop, 5, 1);
    let mut broker = Broker::scripted(&[Step::Deliver, Step::Crash]);
    let mut relay = db.relay("relay-a");
    assert!(
        run_catching(&mut relay, T0, &mut broker).is_none(),
        "the scripted broker crashes the relay"
    );
    // The crashed relay is never used again.
    let crashed = broker.delivered[1].clone();
    // The relay's process restarts under the same name.
    let mut restarted = db.relay("relay-a");
    let report = run(&mut restarted, T0 + 1, &mut broker);
    assert_eq!(report.failure, None);
    assert_eq!(
        broker.delivered.get(2),
        Some(&crashed),
        "the event published just before the crash was never marked: the restarted relay \
         should deliver it again first, with the same id and payload, so consumers can \
         deduplicate it; delivered {:?}",
        summary(&broker.delivered)
    );
    let unique = dedup(&broker.delivered);
    assert_eq!(
        unique.len(),
        10,
        "after deduplicating by id the consumer sees all 10 events"
    );
    assert_eq!(
        broker.delivered.len(),
        11,
        "exactly one duplicate: the event in flight at the crash"
    );
    assert_per_aggregate_order(&broker.delivered);
}

#[test]
fn another_relay_takes_over_a_crashed_relays_events_once_its_lease_expires() {
    let db = db();
    let mut shop = db.shop();
    fill(&mut shop, 4, 1);
    let mut crashing = db.relay("relay-a");
    let mut broker = Broker::scripted(&[Step::Crash]);
    assert!(run_catching(&mut crashing, T0, &mut broker).is_none());
    // The crashed relay is never used again.
    let mut other = db.relay("relay-b");
    let mut second = Broker::default();
    let report = run(&mut other, T0 + LEASE - 1, &mut second);
    assert_eq!(
        report.published,
        0,
        "relay-a claimed the events at {T0} for {LEASE}s: relay-b must not publish them at \
         {} while the lease holds; it published {:?}",
        T0 + LEASE - 1,
        summary(&second.delivered)
    );
    let report = run(&mut other, T0 + LEASE, &mut second);
    assert_eq!(
        report.published,
        8,
        "at {} relay-a's lease has expired: relay-b should take over and publish all 8 events \
         (the one in flight at the crash again); it published {:?}",
        T0 + LEASE,
        summary(&second.delivered)
    );
    assert_eq!(second.delivered[0], broker.delivered[0]);
}

#[test]
fn a_redelivered_event_keeps_its_payload_though_the_order_changed_since() {
    let db = db();
    let mut shop = db.shop();
    let id = shop.place_order(&order(1)).expect("place_order");
    let mut broker = Broker::scripted(&[Step::Crash]);
    assert!(
        run_catching(&mut db.relay("relay-a"), T0, &mut broker).is_none(),
        "the scripted broker crashes the relay"
    );
    let first = broker.delivered[0].clone();
    // While the relay is down, the customer cancels.
    shop.cancel_order(id).expect("cancel a placed order");
    let mut restarted = db.relay("relay-a");
    run(&mut restarted, T0 + 1, &mut broker);
    assert_eq!(
        broker.delivered.get(1),
        Some(&first),
        "order {id}'s OrderPlaced was delivered, then the relay crashed, then the order was \
         cancelled: the redelivered OrderPlaced must be the same event, same id and same \
         payload (write the payload with the event, when it happens, not at publish time); \
         delivered {:?}",
        broker.delivered
    );
    assert_eq!(
        broker
            .delivered
            .get(2)
            .map(|e| (e.aggregate_id, e.sequence, e.kind)),
        Some((id, 2, EventKind::OrderCancelled)),
        "then the cancellation"
    );
}

#[test]
fn a_crashed_relay_strands_at_most_one_batch_of_a_hundred_events() {
    let db = db();
    let mut shop = db.shop();
    for n in 0..300 {
        shop.place_order(&order(n)).expect("place_order");
    }
    let mut crashing = db.relay("relay-a");
    let mut broker = Broker::scripted(&[Step::Crash]);
    assert!(
        run_catching(&mut crashing, T0, &mut broker).is_none(),
        "the scripted broker crashes the relay"
    );
    // The crashed relay is never used again; its lease holds until T0 + 30.
    let mut other = db.relay("relay-b");
    let mut second = Broker::default();
    run(&mut other, T0 + 1, &mut second);
    let stranded = 300 - second.delivered.len();
    assert!(
        stranded <= 100,
        "relay-a crashed on the first event of a backlog of 300 placements (300 orders, one \
         event each); at T0 + 1, within its lease, relay-b published {} and {stranded} stay \
         stranded until the lease expires: a run claims a bounded batch (at most 100) and \
         loops, so a crash strands at most one batch",
        second.delivered.len()
    );
    run(&mut other, T0 + LEASE, &mut second);
    assert_eq!(
        dedup(&second.delivered).len(),
        300,
        "once relay-a's lease has expired, relay-b publishes the rest"
    );
}

/// A broker for relay-a that, on its first call, has new orders placed,
/// runs relay-b against a broker that refuses everything, then runs relay-c
/// against a healthy one: all while relay-a holds its claims.
struct FailureNextDoor<'a> {
    shop: &'a mut Shop,
    others: Option<(&'a mut Relay, &'a mut Relay)>,
    log: Vec<(&'static str, Event)>,
}

impl Publisher for FailureNextDoor<'_> {
    fn publish(&mut self, event: &Event) -> Result<(), PublishError> {
        self.log.push(("relay-a", event.clone()));
        if let Some((failing, healthy)) = self.others.take() {
            for n in 100..103 {
                self.shop
                    .place_order(&order(n))
                    .expect("place_order while relay-a publishes");
            }
            let mut down = Broker::scripted(&[Step::Fail; 200]);
            let report = failing
                .run_once(T0, &mut down)
                .expect("relay-b's run should not fail with a database error");
            assert!(
                report.failure.is_some(),
                "relay-b had new events to claim and its broker refused the first one"
            );
            let mut up = Broker::default();
            healthy
                .run_once(T0, &mut up)
                .expect("relay-c's run should not fail with a database error");
            self.log
                .extend(up.delivered.into_iter().map(|e| ("relay-c", e)));
        }
        Ok(())
    }
}

#[test]
fn a_relays_failure_releases_its_own_claims_only() {
    let db = db();
    let mut shop = db.shop();
    fill(&mut shop, 5, 1);
    let mut first = db.relay("relay-a");
    let mut failing = db.relay("relay-b");
    let mut healthy = db.relay("relay-c");
    let mut shop2 = db.shop();
    let mut broker = FailureNextDoor {
        shop: &mut shop2,
        others: Some((&mut failing, &mut healthy)),
        log: Vec::new(),
    };
    first
        .run_once(T0, &mut broker)
        .expect("run_once should not fail with a database error");
    let mut by_id: HashMap<i64, Vec<&str>> = HashMap::new();
    for (relay, event) in &broker.log {
        by_id.entry(event.id).or_default().push(relay);
    }
    let twice: Vec<_> = by_id.iter().filter(|(_, r)| r.len() > 1).collect();
    assert!(
        twice.is_empty(),
        "while relay-a published its claimed events, relay-b failed (and gave back its own \
         claims) and relay-c ran, all at T0 within relay-a's lease: relay-c must not publish \
         what relay-a still holds, but these were published twice (event id, relays): {twice:?}"
    );
    assert_eq!(
        by_id.len(),
        13,
        "the 10 events and the 3 placed meanwhile are all published"
    );
    let log: Vec<Event> = broker.log.into_iter().map(|(_, e)| e).collect();
    assert_per_aggregate_order(&log);
}

/// A broker that, the first time it is called, runs a second relay (its own
/// connection) while the first relay is in the middle of publishing.
struct Meddler<'a> {
    log: Vec<(&'static str, Event)>,
    other: Option<(&'a mut Relay, i64)>,
}

impl Publisher for Meddler<'_> {
    fn publish(&mut self, event: &Event) -> Result<(), PublishError> {
        self.log.push(("relay-a", event.clone()));
        if let Some((relay, now)) = self.other.take() {
            let mut inner = Broker::default();
            relay
                .run_once(now, &mut inner)
                .expect("the second relay's run should not fail with a database error");
            self.log
                .extend(inner.delivered.into_iter().map(|e| ("relay-b", e)));
        }
        Ok(())
    }
}

#[test]
fn a_second_relay_never_publishes_what_the_first_has_claimed() {
    let db = db();
    let mut shop = db.shop();
    // Ten placements, then ten cancellations of the same orders.
    fill(&mut shop, 10, 1);
    let mut first = db.relay("relay-a");
    let mut second = db.relay("relay-b");
    let mut meddler = Meddler {
        log: Vec::new(),
        other: Some((&mut second, T0)),
    };
    first
        .run_once(T0, &mut meddler)
        .expect("run_once should not fail with a database error");
    let mut by_id: HashMap<i64, Vec<&str>> = HashMap::new();
    for (relay, event) in &meddler.log {
        by_id.entry(event.id).or_default().push(relay);
    }
    let twice: Vec<_> = by_id
        .iter()
        .filter(|(_, relays)| relays.len() > 1)
        .collect();
    assert!(
        twice.is_empty(),
        "relay-b ran while relay-a was publishing (same instant, relay-a's lease holds): no \
         event may be published twice; published twice: {twice:?}"
    );
    assert_eq!(by_id.len(), 20, "all 20 events should be published");
    let log: Vec<Event> = meddler.log.into_iter().map(|(_, e)| e).collect();
    assert_per_aggregate_order(&log);
}

#[test]
fn followup_orders_can_be_placed_while_a_relay_is_publishing() {
    struct PlacesAnOrder<'a> {
        shop: &'a mut Shop,
        placed: Option<Result<OrderId, Error>>,
        delivered: usize,
    }
    impl Publisher for PlacesAnOrder<'_> {
        fn publish(&mut self, _event: &Event) -> Result<(), PublishError> {
            if self.placed.is_none() {
                self.placed = Some(self.shop.place_order(&order(99)));
            }
            self.delivered += 1;
            Ok(())
        }
    }
    let db = db();
    fill(&mut db.shop(), 3, 1);
    let mut shop = db.shop();
    let mut relay = db.relay("relay-a");
    let mut broker = PlacesAnOrder {
        shop: &mut shop,
        placed: None,
        delivered: 0,
    };
    relay
        .run_once(T0, &mut broker)
        .expect("run_once should not fail with a database error");
    let placed = broker.placed.take().expect("the broker was called");
    assert!(
        placed.is_ok(),
        "place_order during a publish call should succeed: the relay must not hold a \
         transaction (and SQLite's write lock) while it waits on the broker; got {placed:?}"
    );
    let mut rest = Broker::default();
    relay
        .run_once(T0 + 1, &mut rest)
        .expect("run_once should not fail");
    assert_eq!(
        broker.delivered + rest.delivered.len(),
        7,
        "the six events and the one placed while publishing are all published, once"
    );
}

#[test]
fn followup_two_relays_in_two_threads_never_publish_one_event_twice() {
    let db = db();
    let mut shop = db.shop();
    fill(&mut shop, 60, 1);
    let total = 120;
    let log: Arc<Mutex<Vec<(usize, Event)>>> = Arc::default();

    struct Shared {
        relay: usize,
        log: Arc<Mutex<Vec<(usize, Event)>>>,
    }
    impl Publisher for Shared {
        fn publish(&mut self, event: &Event) -> Result<(), PublishError> {
            self.log
                .lock()
                .map_err(|_| PublishError("log poisoned".into()))?
                .push((self.relay, event.clone()));
            thread::yield_now();
            Ok(())
        }
    }

    let (done, results) = mpsc::channel();
    for r in 0..2 {
        let path = db.path.clone();
        let log = Arc::clone(&log);
        let done = done.clone();
        thread::spawn(move || {
            let outcome = (|| -> Result<(), String> {
                let mut relay = Relay::new(&path, &format!("relay-{r}"), LEASE)
                    .map_err(|e| format!("Relay::new: {e}"))?;
                let mut publisher = Shared {
                    relay: r,
                    log: Arc::clone(&log),
                };
                for _ in 0..200 {
                    relay
                        .run_once(T0, &mut publisher)
                        .map_err(|e| format!("run_once: {e}"))?;
                    let seen: HashSet<i64> = log
                        .lock()
                        .map_err(|_| "log poisoned".to_owned())?
                        .iter()
                        .map(|(_, e)| e.id)
                        .collect();
                    if seen.len() >= total {
                        break;
                    }
                }
                Ok(())
            })();
            let _ = done.send((r, outcome));
        });
    }
    for _ in 0..2 {
        let (r, outcome) = results
            .recv_timeout(Duration::from_secs(20))
            .expect("both relays should finish within 20 seconds");
        if let Err(e) = outcome {
            panic!("relay-{r} failed: {e}");
        }
    }
    let log = log.lock().expect("log").clone();
    let mut counts: HashMap<i64, Vec<usize>> = HashMap::new();
    for (relay, event) in &log {
        counts.entry(event.id).or_default().push(*relay);
    }
    let twice: Vec<_> = counts.iter().filter(|(_, r)| r.len() > 1).collect();
    assert!(
        twice.is_empty(),
        "two relays ran at the same instant, well within each other's leases: no event may be \
         published twice, but these were (event id, relays): {twice:?}"
    );
    assert_eq!(counts.len(), total, "every event should be published");
    let events: Vec<Event> = log.into_iter().map(|(_, e)| e).collect();
    assert_per_aggregate_order(&events);
}

// ───────────────────────── random failures ─────────────────────────

#[derive(Debug, Clone)]
enum Op {
    Place,
    Cancel(usize),
    Run(Vec<Step>),
}

fn op() -> impl Strategy<Value = Op> {
    let step = prop_oneof![
        6 => Just(Step::Deliver),
        2 => Just(Step::Fail),
        1 => Just(Step::Crash),
    ];
    prop_oneof![
        3 => Just(Op::Place),
        2 => any::<usize>().prop_map(Op::Cancel),
        2 => proptest::collection::vec(step, 0..6).prop_map(Op::Run),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn followup_random_failures_and_crashes_deliver_every_event_at_least_once_in_order(
        ops in proptest::collection::vec(op(), 1..24),
    ) {
        let db = db();
        let mut shop = db.shop();
        let mut relay = db.relay("relay-a");
        let mut broker = Broker::default();
        // The model: each order's events, in order.
        let mut expected: Vec<(OrderId, Vec<EventKind>)> = Vec::new();
        let mut crashed = false;
        let mut now = T0;
        for op in &ops {
            match op {
                Op::Place => {
                    let id = shop.place_order(&order(expected.len())).expect("place_order");
                    expected.push((id, vec![EventKind::OrderPlaced]));
                }
                Op::Cancel(pick) => {
                    if expected.is_empty() {
                        continue;
                    }
                    let k = pick % expected.len();
                    let (id, kinds) = &mut expected[k];
                    let result = shop.cancel_order(*id);
                    if kinds.len() == 1 {
                        prop_assert!(result.is_ok(), "cancel order {}: {:?}", id, result);
                        kinds.push(EventKind::OrderCancelled);
                    } else {
                        prop_assert!(matches!(result, Err(Error::AlreadyCancelled(_))));
                    }
                }
                Op::Run(steps) => {
                    now += 1;
                    broker.script = steps.iter().copied().collect();
                    if run_catching(&mut relay, now, &mut broker).is_none() {
                        crashed = true;
                        // The process restarts under the same name.
                        relay = db.relay("relay-a");
                    }
                }
            }
        }
        broker.script.clear();
        let report = run(&mut relay, now + 1, &mut broker);
        prop_assert_eq!(report.failure, None);

        assert_per_aggregate_order(&broker.delivered);
        let unique = dedup(&broker.delivered);
        let mut seen: HashMap<OrderId, Vec<EventKind>> = HashMap::new();
        for event in &unique {
            seen.entry(event.aggregate_id).or_default().push(event.kind);
        }
        for (id, kinds) in &expected {
            prop_assert_eq!(
                seen.get(id),
                Some(kinds),
                "after recovery the broker should have seen every event of order {} in order \
                 (deduplicated by id); delivered {:?}",
                id,
                summary(&broker.delivered)
            );
        }
        prop_assert_eq!(unique.len(), expected.iter().map(|(_, k)| k.len()).sum::<usize>());
        if !crashed {
            prop_assert_eq!(
                unique.len(),
                broker.delivered.len(),
                "no relay crashed, so no event should be delivered twice (failures alone must \
                 not cause redelivery); delivered {:?}",
                summary(&broker.delivered)
            );
        }
    }
}
