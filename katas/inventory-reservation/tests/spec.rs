//! The specification of the inventory-reservation kata.
//!
//! Every test name is a requirement; read the failing names first. Every
//! test runs against both implementations: `…::inventory_1_Locked` judges
//! `LockedInventory`, `…::inventory_2_Atomic` judges `AtomicInventory`.
//! The threaded tests here catch a race only when the scheduler happens to
//! hit it; `tests/loom.rs` checks every interleaving.
//!
//! `cargo test -p inventory-reservation` judges your code;
//! `cargo test -p inventory-reservation --features solution` judges the
//! reference.

// The loom build (`--cfg kata_loom`) runs tests/loom.rs only.
#![cfg(not(kata_loom))]

#[cfg(not(feature = "solution"))]
use inventory_reservation as subject;
#[cfg(feature = "solution")]
use inventory_reservation_solution as subject;

use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Barrier, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use proptest::collection::vec;
use proptest::prelude::*;
use rstest::rstest;
use subject::{AtomicInventory, Inventory, LockedInventory, Reservation, ReserveError, UnknownSku};

// ───────────────────────────── helpers ─────────────────────────────

/// Which implementation a test judges.
#[derive(Debug, Clone, Copy)]
enum Impl {
    Locked,
    Atomic,
}

use Impl::{Atomic, Locked};

impl Impl {
    fn with_stock(self, stock: &[(&str, u32)]) -> Box<dyn Inventory> {
        match self {
            Locked => Box::new(LockedInventory::new(stock)),
            Atomic => Box::new(AtomicInventory::new(stock)),
        }
    }

    fn shared(self, stock: &[(&str, u32)]) -> Arc<dyn Inventory> {
        Arc::from(self.with_stock(stock))
    }
}

impl fmt::Display for Impl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Locked => "LockedInventory",
            Atomic => "AtomicInventory",
        })
    }
}

/// Reserves `qty` of `sku`, failing the spec with `why` if it is refused.
fn reserve(inventory: &dyn Inventory, sku: &str, qty: u32, why: &str) -> Reservation {
    match inventory.reserve(sku, qty) {
        Ok(reservation) => reservation,
        Err(error) => panic!("reserving {qty} of {sku:?} should succeed ({why}), got {error:?}"),
    }
}

/// How long the threaded tests wait for their threads. They finish in
/// milliseconds; a thread that has not finished by then is stuck (a
/// compare-and-swap retried with a value it never reloads spins for ever).
const DEADLINE: Duration = Duration::from_secs(5);

/// Runs `work(i)` for `i` in `0..threads`, each on its own thread, all started
/// together, and returns their results in order. Fails the spec if a thread
/// panics or if they have not all finished within `DEADLINE` (a stuck thread
/// is left behind; the spec's process ends with the test).
fn on_threads<T: Send + 'static>(
    threads: usize,
    work: impl Fn(usize) -> T + Send + Sync + 'static,
) -> Vec<T> {
    let work = Arc::new(work);
    let start = Arc::new(Barrier::new(threads));
    let (done, results) = mpsc::channel();
    for i in 0..threads {
        let (work, start, done) = (Arc::clone(&work), Arc::clone(&start), done.clone());
        thread::spawn(move || {
            start.wait();
            let result = panic::catch_unwind(AssertUnwindSafe(|| work(i)));
            // The receiver is gone only if the spec already failed.
            let _ = done.send((i, result));
        });
    }
    let deadline = Instant::now() + DEADLINE;
    let mut out: Vec<Option<T>> = (0..threads).map(|_| None).collect();
    for _ in 0..threads {
        let left = deadline.saturating_duration_since(Instant::now());
        match results.recv_timeout(left) {
            Ok((i, Ok(result))) => out[i] = Some(result),
            Ok((i, Err(panicked))) => {
                let message = panicked
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| panicked.downcast_ref::<&str>().copied())
                    .unwrap_or("(no message)");
                panic!("thread {i} of {threads} panicked: {message}");
            }
            Err(_) => panic!(
                "{threads} threads sharing the inventory did not all finish within {DEADLINE:?}: \
                 is a thread stuck retrying a compare-and-swap with a value it never reloads, \
                 or waiting for a lock that is never released?"
            ),
        }
    }
    out.into_iter().flatten().collect()
}

/// Whether `T` implements `Clone`, decided at compile time: the inherent
/// method exists only when `T: Clone`, and method lookup prefers it to the
/// trait's fallback.
struct CloneProbe<T>(PhantomData<T>);

trait NotClone {
    fn is_clone(&self) -> bool {
        false
    }
}

impl<T> NotClone for CloneProbe<T> {}

#[allow(dead_code)] // used only when the subject's `Reservation` is (wrongly) `Clone`
impl<T: Clone> CloneProbe<T> {
    fn is_clone(&self) -> bool {
        true
    }
}

// ──────────────── Reserve: all or nothing, never below zero ────────────────

#[rstest]
#[case::fewer_than_in_stock(5, 2, Ok(3))]
#[case::exactly_the_last_units(5, 5, Ok(0))]
#[case::the_single_last_item(1, 1, Ok(0))]
#[case::one_more_than_in_stock(5, 6, Err(5))]
#[case::one_of_a_sold_out_sku(0, 1, Err(0))]
#[case::more_than_ever_stocked(3, u32::MAX, Err(3))]
#[case::zero_units_of_a_sold_out_sku(0, 0, Ok(0))]
fn reserve_takes_all_of_the_request_or_nothing(
    #[values(Locked, Atomic)] inventory: Impl,
    #[case] stock: u32,
    #[case] qty: u32,
    #[case] expected: Result<u64, u64>,
) {
    let shop = inventory.with_stock(&[("mug", stock), ("tee", 7)]);
    let result = shop.reserve("mug", qty);
    match expected {
        Ok(left) => {
            let reservation = result.unwrap_or_else(|error| {
                panic!(
                    "{inventory}: reserving {qty} \"mug\" with {stock} in stock should succeed, \
                     got {error:?}"
                )
            });
            assert_eq!(
                (reservation.sku(), reservation.qty()),
                ("mug", qty),
                "{inventory}: the reservation should say what it holds: {qty} of \"mug\""
            );
            assert_eq!(
                shop.available("mug"),
                left,
                "{inventory}: {stock} \"mug\" in stock, {qty} reserved: {left} should be \
                 available"
            );
        }
        Err(seen) => {
            assert_eq!(
                result,
                Err(ReserveError::OutOfStock {
                    requested: qty,
                    available: seen
                }),
                "{inventory}: reserving {qty} \"mug\" with {stock} in stock should be refused, \
                 saying how many were there"
            );
            assert_eq!(
                shop.available("mug"),
                u64::from(stock),
                "{inventory}: a refused reservation of {qty} should take nothing: all {stock} \
                 \"mug\" should still be available (no underflow, no partial take)"
            );
        }
    }
    assert_eq!(
        shop.available("tee"),
        7,
        "{inventory}: reserving \"mug\" should not touch the stock of \"tee\""
    );
}

#[rstest]
fn reserving_until_sold_out_hands_out_exactly_the_stock(#[values(Locked, Atomic)] inventory: Impl) {
    let shop = inventory.with_stock(&[("mug", 10)]);
    let mut held = Vec::new();
    for i in 1..=10 {
        held.push(reserve(
            &*shop,
            "mug",
            1,
            &format!("{inventory}: unit {i} of 10 in stock"),
        ));
    }
    assert_eq!(
        shop.reserve("mug", 1),
        Err(ReserveError::OutOfStock {
            requested: 1,
            available: 0
        }),
        "{inventory}: the 11th reservation of 1 \"mug\" with 10 in stock should be refused"
    );
    assert_eq!(
        shop.available("mug"),
        0,
        "{inventory}: all 10 \"mug\" are reserved: none should be available"
    );
}

#[rstest]
fn an_unknown_sku_is_refused_and_has_no_stock(#[values(Locked, Atomic)] inventory: Impl) {
    let shop = inventory.with_stock(&[("mug", 3)]);
    assert_eq!(
        shop.reserve("lamp", 1),
        Err(ReserveError::UnknownSku),
        "{inventory}: reserving \"lamp\", which the inventory does not stock, should be refused"
    );
    assert_eq!(
        shop.reserve("lamp", 0),
        Err(ReserveError::UnknownSku),
        "{inventory}: reserving 0 of \"lamp\", which the inventory does not stock, should be \
         refused too"
    );
    assert_eq!(
        shop.restock("lamp", 5),
        Err(UnknownSku),
        "{inventory}: restocking \"lamp\" should be refused: the SKUs are fixed at construction"
    );
    assert_eq!(
        shop.available("lamp"),
        0,
        "{inventory}: an unknown SKU has nothing available, even after a refused restock"
    );
    assert_eq!(
        shop.available("mug"),
        3,
        "{inventory}: requests for an unknown SKU should not touch \"mug\""
    );
}

#[rstest]
fn a_sku_listed_twice_at_construction_holds_the_sum(#[values(Locked, Atomic)] inventory: Impl) {
    let shop = inventory.with_stock(&[("mug", 2), ("tee", 4), ("mug", 3)]);
    assert_eq!(
        shop.available("mug"),
        5,
        "{inventory}: \"mug\" listed with 2 and with 3 units at construction should hold 5"
    );
    assert_eq!(
        shop.available("tee"),
        4,
        "{inventory}: \"tee\" listed once with 4 should hold 4"
    );
    let warehouse = inventory.with_stock(&[("pallet", u32::MAX), ("pallet", u32::MAX)]);
    assert_eq!(
        warehouse.available("pallet"),
        2 * u64::from(u32::MAX),
        "{inventory}: \"pallet\" listed twice with u32::MAX units should hold their sum, \
         counted in u64 (8589934590), not wrapped in u32"
    );
}

#[rstest]
fn skus_are_compared_exactly_as_given(#[values(Locked, Atomic)] inventory: Impl) {
    let shop = inventory.with_stock(&[("mug", 3), ("MUG", 5)]);
    assert_eq!(
        (
            shop.available("mug"),
            shop.available("MUG"),
            shop.available("Mug")
        ),
        (3, 5, 0),
        "{inventory}: \"mug\" and \"MUG\" are two SKUs (3 and 5 units), and \"Mug\" is \
         neither: (mug, MUG, Mug) available"
    );
    assert_eq!(
        shop.reserve("Mug", 1),
        Err(ReserveError::UnknownSku),
        "{inventory}: \"Mug\" is not one of the SKUs (\"mug\" and \"MUG\" are): SKUs are \
         compared exactly as given"
    );
    let big = reserve(&*shop, "MUG", 5, "\"MUG\" has 5");
    assert_eq!(
        (big.sku(), shop.available("mug"), shop.available("MUG")),
        ("MUG", 3, 0),
        "{inventory}: reserving all 5 \"MUG\" should leave \"mug\" alone"
    );
    shop.release(big);
    assert_eq!(
        (shop.available("mug"), shop.available("MUG")),
        (3, 5),
        "{inventory}: releasing the 5 \"MUG\" should bring them back to \"MUG\""
    );
}

// ───────────── Release: back to its own SKU, exactly once ─────────────

#[rstest]
fn releasing_a_reservation_returns_its_units_to_its_own_sku(
    #[values(Locked, Atomic)] inventory: Impl,
) {
    let shop = inventory.with_stock(&[("mug", 5), ("tee", 5), ("cap", 5)]);
    let mugs = reserve(&*shop, "mug", 2, "5 in stock");
    let tees = reserve(&*shop, "tee", 3, "5 in stock");
    shop.release(mugs);
    assert_eq!(
        (
            shop.available("mug"),
            shop.available("tee"),
            shop.available("cap")
        ),
        (5, 2, 5),
        "{inventory}: after reserving 2 \"mug\" and 3 \"tee\" of 5 each and releasing the \
         \"mug\" reservation, (mug, tee, cap) should be available"
    );
    shop.release(tees);
    assert_eq!(
        (
            shop.available("mug"),
            shop.available("tee"),
            shop.available("cap")
        ),
        (5, 5, 5),
        "{inventory}: after releasing the \"tee\" reservation too, everything should be back"
    );
}

#[rstest]
fn a_release_goes_to_the_sku_its_reservation_names_in_the_inventory_that_takes_it(
    #[values(Locked, Atomic)] inventory: Impl,
) {
    let shop = inventory.with_stock(&[("mug", 5), ("lamp", 5)]);
    // The same SKUs, listed the other way round.
    let outlet = inventory.with_stock(&[("lamp", 5), ("mug", 5)]);
    let mugs = reserve(&*shop, "mug", 2, "5 in stock");
    outlet.release(mugs);
    assert_eq!(
        (
            outlet.available("mug"),
            outlet.available("lamp"),
            shop.available("mug")
        ),
        (7, 5, 3),
        "{inventory}: 2 \"mug\" reserved in one inventory and released into another that stocks \
         \"mug\" too should go to that one's \"mug\" (the SKU the reservation names), whatever \
         the order its SKUs were listed in: (outlet's mug, outlet's lamp, first shop's mug)"
    );
    let lamps_only = inventory.with_stock(&[("lamp", 5)]);
    let mug = reserve(&*shop, "mug", 1, "3 left");
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| lamps_only.release(mug)));
    assert!(
        outcome.is_err(),
        "{inventory}: releasing a \"mug\" reservation into an inventory that stocks only \
         \"lamp\" should panic (the reservation was made by another inventory), not credit \
         another SKU"
    );
    assert_eq!(
        lamps_only.available("lamp"),
        5,
        "{inventory}: the refused \"mug\" release should leave \"lamp\" as it was"
    );
    let lamp = lamps_only.reserve("lamp", 2);
    assert!(
        lamp.is_ok() && lamps_only.available("lamp") == 3,
        "{inventory}: after a refused release panicked, the inventory should keep working: \
         reserving 2 of 5 \"lamp\" gave {lamp:?}, leaving {}",
        lamps_only.available("lamp")
    );
    assert!(
        lamps_only.restock("lamp", 1).is_ok() && lamps_only.available("lamp") == 4,
        "{inventory}: after a refused release panicked, restocking should keep working too"
    );
}

#[rstest]
fn released_units_can_be_reserved_again(#[values(Locked, Atomic)] inventory: Impl) {
    let shop = inventory.with_stock(&[("mug", 1)]);
    let first = reserve(&*shop, "mug", 1, "the last item");
    assert!(
        shop.reserve("mug", 1).is_err(),
        "{inventory}: the last \"mug\" is reserved: a second buyer should be refused"
    );
    shop.release(first);
    let second = reserve(
        &*shop,
        "mug",
        1,
        "the first buyer's payment failed and released the last item",
    );
    assert_eq!(
        (second.sku(), second.qty(), shop.available("mug")),
        ("mug", 1, 0),
        "{inventory}: the second buyer should now hold the last \"mug\""
    );
}

#[rstest]
fn a_reservation_cannot_be_copied_so_it_is_released_at_most_once(
    #[values(Locked, Atomic)] inventory: Impl,
) {
    let shop = inventory.with_stock(&[("mug", 4)]);
    let reservation = reserve(&*shop, "mug", 3, "4 in stock");
    shop.release(reservation);
    assert_eq!(
        shop.available("mug"),
        4,
        "{inventory}: releasing a reservation of 3 of 4 \"mug\" should bring the stock back to 4"
    );
    // `release` consumes the reservation; if it were `Clone` (or `Copy`), a
    // retried "payment failed" handler could release the same units twice
    // and conjure stock out of nothing.
    assert!(
        !CloneProbe::<Reservation>(PhantomData).is_clone(),
        "`Reservation` should be neither `Clone` nor `Copy`: a copy could be released a second \
         time, adding units that were never taken"
    );
}

// ───────────────────────────── Restock ─────────────────────────────

#[rstest]
fn restocking_adds_units_that_can_then_be_reserved(#[values(Locked, Atomic)] inventory: Impl) {
    let shop = inventory.with_stock(&[("mug", 0), ("tee", 1)]);
    assert_eq!(
        shop.restock("mug", 3),
        Ok(()),
        "{inventory}: restocking a known SKU should succeed"
    );
    assert_eq!(
        shop.restock("mug", 0),
        Ok(()),
        "{inventory}: restocking 0 units should succeed and change nothing"
    );
    assert_eq!(
        shop.available("mug"),
        3,
        "{inventory}: 3 \"mug\" restocked into an empty SKU should be available"
    );
    let held = reserve(&*shop, "mug", 3, "3 were restocked");
    assert_eq!(
        (held.qty(), shop.available("mug"), shop.available("tee")),
        (3, 0, 1),
        "{inventory}: the 3 restocked \"mug\" should be reservable, and \"tee\" untouched"
    );
}

#[rstest]
fn followup_stock_is_counted_exactly_beyond_u32_max(#[values(Locked, Atomic)] inventory: Impl) {
    let max = u64::from(u32::MAX);
    let shop = inventory.with_stock(&[("screw", u32::MAX)]);
    shop.restock("screw", u32::MAX)
        .expect("restocking a known SKU should succeed");
    shop.restock("screw", 2)
        .expect("restocking a known SKU should succeed");
    assert_eq!(
        shop.available("screw"),
        2 * max + 2,
        "{inventory}: u32::MAX \"screw\" in stock, restocked with u32::MAX and 2 more: the \
         stock is a u64 and should not wrap"
    );
    let big = reserve(&*shop, "screw", u32::MAX, "twice that is in stock");
    assert_eq!(
        shop.available("screw"),
        max + 2,
        "{inventory}: after reserving u32::MAX \"screw\", u32::MAX + 2 should be left"
    );
    shop.release(big);
    assert_eq!(
        shop.available("screw"),
        2 * max + 2,
        "{inventory}: releasing the u32::MAX reservation should give every unit back"
    );
}

// ───────────────── Shared by threads (a sample of schedules) ─────────────────

#[rstest]
fn racing_buyers_never_get_more_than_was_in_stock(#[values(Locked, Atomic)] inventory: Impl) {
    const THREADS: usize = 4;
    const ATTEMPTS: usize = 20_000;
    const STOCK: u32 = 40_000;
    let shop = inventory.shared(&[("console", STOCK)]);
    let buyers = Arc::clone(&shop);
    let results = on_threads(THREADS, move |_| {
        let mut held = Vec::new();
        let mut refusals = Vec::new();
        for _ in 0..ATTEMPTS {
            match buyers.reserve("console", 1) {
                Ok(reservation) => held.push(reservation),
                Err(error) => refusals.push(error),
            }
        }
        (held, refusals)
    });
    let reserved: usize = results.iter().map(|(held, _)| held.len()).sum();
    assert_eq!(
        reserved, STOCK as usize,
        "{inventory}: {THREADS} threads × {ATTEMPTS} reservations of 1 \"console\" with {STOCK} \
         in stock should succeed exactly {STOCK} times: more is overselling (check and take must \
         be one atomic step), fewer is losing stock"
    );
    for (_, refusals) in &results {
        for refusal in refusals {
            assert_eq!(
                *refusal,
                ReserveError::OutOfStock {
                    requested: 1,
                    available: 0
                },
                "{inventory}: a reservation of 1 is refused only when none is available"
            );
        }
    }
    assert_eq!(
        shop.available("console"),
        0,
        "{inventory}: every \"console\" was reserved: none should be available"
    );
}

#[rstest]
fn followup_concurrent_reserves_releases_and_restocks_conserve_the_stock(
    #[values(Locked, Atomic)] inventory: Impl,
) {
    const THREADS: usize = 4;
    const ROUNDS: u32 = 20_000;
    const STOCK: u32 = 5;
    let shop = inventory.shared(&[("mug", STOCK), ("tee", 0)]);
    let workers = Arc::clone(&shop);
    let results = on_threads(THREADS, move |i| {
        // Each thread reserves 1 to 3 units, gives back its oldest hold every
        // other round, and one thread also restocks: a checkout under load.
        let mut held: Vec<Reservation> = Vec::new();
        let mut restocked = 0u64;
        for round in 0..ROUNDS {
            let qty = round % 3 + 1;
            if let Ok(reservation) = workers.reserve("mug", qty) {
                held.push(reservation);
            }
            if round % 2 == 1 && !held.is_empty() {
                workers.release(held.remove(0));
            }
            if i == 0 && round % 4 == 0 {
                workers
                    .restock("mug", 1)
                    .expect("restocking a known SKU should succeed");
                restocked += 1;
            }
        }
        let still_held: u64 = held.iter().map(|r| u64::from(r.qty())).sum();
        (still_held, restocked)
    });
    let still_held: u64 = results.iter().map(|(held, _)| held).sum();
    let restocked: u64 = results.iter().map(|(_, restocked)| restocked).sum();
    let available = shop.available("mug");
    assert!(
        available <= u64::from(STOCK) + restocked,
        "{inventory}: {available} \"mug\" available after {THREADS} threads reserved, released \
         and restocked concurrently, but only {STOCK} + {restocked} restocked were ever there: \
         the stock wrapped below zero (an oversell) or a reservation was undone"
    );
    assert_eq!(
        available + still_held,
        u64::from(STOCK) + restocked,
        "{inventory}: {STOCK} \"mug\" + {restocked} restocked must equal available ({available}) \
         + still reserved ({still_held}) after {THREADS} threads reserved, released and \
         restocked concurrently: a unit was lost or conjured (a lost update?)"
    );
    assert_eq!(
        shop.available("tee"),
        0,
        "{inventory}: nobody touched \"tee\""
    );
}

// ─────────────────── Model-based: a HashMap of counts ───────────────────

const SKUS: [&str; 3] = ["mug", "tee", "cap"];
/// Not in the inventory.
const UNKNOWN: &str = "lamp";

#[derive(Clone)]
enum Op {
    /// `sku` indexes `SKUS`, or means `UNKNOWN` past its end.
    Reserve {
        sku: usize,
        qty: u32,
    },
    /// Releases the `nth` (modulo the count) reservation still held.
    Release {
        nth: usize,
    },
    Restock {
        sku: usize,
        qty: u32,
    },
}

fn sku_name(sku: usize) -> &'static str {
    SKUS.get(sku).copied().unwrap_or(UNKNOWN)
}

/// Operations print as calls, so that a shrunk counterexample reads as a
/// script: `[reserve("mug", 2), release(held[0 % held.len()]), restock("lamp", 1)]`.
impl fmt::Debug for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Op::Reserve { sku, qty } => write!(f, "reserve({:?}, {qty})", sku_name(sku)),
            Op::Release { nth } => write!(f, "release(held[{nth} % held.len()])"),
            Op::Restock { sku, qty } => write!(f, "restock({:?}, {qty})", sku_name(sku)),
        }
    }
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    let op = prop_oneof![
        4 => (0..=SKUS.len(), 0..6u32).prop_map(|(sku, qty)| Op::Reserve { sku, qty }),
        3 => (0..8usize).prop_map(|nth| Op::Release { nth }),
        2 => (0..=SKUS.len(), 0..4u32).prop_map(|(sku, qty)| Op::Restock { sku, qty }),
    ];
    vec(op, 1..60)
}

/// Drives `inventory` and a `HashMap` of counts with the same operations and
/// compares every answer and every SKU's stock after each step.
fn agrees_with_a_hashmap_model(
    inventory: Impl,
    opening: &[u32; 3],
    ops: &[Op],
) -> Result<(), TestCaseError> {
    let stock: Vec<(&str, u32)> = SKUS.iter().copied().zip(opening.iter().copied()).collect();
    let shop = inventory.with_stock(&stock);
    let mut model: HashMap<&str, u64> = stock.iter().map(|&(s, q)| (s, u64::from(q))).collect();
    // What the subject handed out, and what the model says each one holds.
    let mut held: Vec<(Reservation, &str, u32)> = Vec::new();
    for (step, op) in ops.iter().enumerate() {
        match *op {
            Op::Reserve { sku, qty } => {
                let name = sku_name(sku);
                let expected = match model.get_mut(name) {
                    None => Err(ReserveError::UnknownSku),
                    Some(units) if *units >= u64::from(qty) => {
                        *units -= u64::from(qty);
                        Ok(())
                    }
                    Some(units) => Err(ReserveError::OutOfStock {
                        requested: qty,
                        available: *units,
                    }),
                };
                match (shop.reserve(name, qty), expected) {
                    (Ok(reservation), Ok(())) => {
                        prop_assert_eq!(
                            (reservation.sku(), reservation.qty()),
                            (name, qty),
                            "{}: step {} reserved {} of {:?}: the reservation should say so",
                            inventory,
                            step,
                            qty,
                            name
                        );
                        held.push((reservation, name, qty));
                    }
                    (got, expected) => prop_assert_eq!(
                        got.map(|r| (r.sku().to_owned(), r.qty())),
                        expected.map(|()| (name.to_owned(), qty)),
                        "{}: step {}, reserve({:?}, {}) with {:?} available in the model",
                        inventory,
                        step,
                        name,
                        qty,
                        model.get(name)
                    ),
                }
            }
            Op::Release { nth } => {
                if held.is_empty() {
                    continue;
                }
                let (reservation, name, qty) = held.remove(nth % held.len());
                if let Some(units) = model.get_mut(name) {
                    *units += u64::from(qty);
                }
                shop.release(reservation);
            }
            Op::Restock { sku, qty } => {
                let name = sku_name(sku);
                let expected = match model.get_mut(name) {
                    None => Err(UnknownSku),
                    Some(units) => {
                        *units += u64::from(qty);
                        Ok(())
                    }
                };
                prop_assert_eq!(
                    shop.restock(name, qty),
                    expected,
                    "{}: step {}, restock({:?}, {})",
                    inventory,
                    step,
                    name,
                    qty
                );
            }
        }
        for name in SKUS.iter().copied().chain([UNKNOWN]) {
            prop_assert_eq!(
                shop.available(name),
                model.get(name).copied().unwrap_or(0),
                "{}: available({:?}) after step {} ({:?}); opening stock {:?} of {:?}",
                inventory,
                name,
                step,
                op,
                opening,
                SKUS
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Random reserve/release/restock sequences over three SKUs and an
    /// unknown one, against a `HashMap` of counts.
    #[test]
    fn locked_inventory_agrees_with_a_hashmap_model(
        opening in prop::array::uniform3(0..5u32),
        ops in ops(),
    ) {
        agrees_with_a_hashmap_model(Locked, &opening, &ops)?;
    }

    /// The same for the lock-free implementation.
    #[test]
    fn atomic_inventory_agrees_with_a_hashmap_model(
        opening in prop::array::uniform3(0..5u32),
        ops in ops(),
    ) {
        agrees_with_a_hashmap_model(Atomic, &opening, &ops)?;
    }
}
