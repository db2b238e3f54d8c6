//! Loom model checks of both inventories: every interleaving of two or three
//! threads (up to the preemption bound) is run, so the buyer who slips in
//! between another's check and its decrement, which a stress test meets once
//! in a million runs, is met here every time.
//!
//! Each model runs against both implementations: `locked::…` judges
//! `LockedInventory`, `atomic::…` judges `AtomicInventory`.
//!
//! Built only under the project's own cfg, with the inventories'
//! `crate::sync` switched to loom's primitives:
//!
//! ```text
//! RUSTFLAGS="--cfg kata_loom" cargo test -p inventory-reservation --test loom \
//!     --profile loom --target-dir target/loom
//! ```
//!
//! `LOOM_MAX_PREEMPTIONS` overrides the default bound of 3.
#![cfg(kata_loom)]

#[cfg(not(feature = "solution"))]
use inventory_reservation as subject;
#[cfg(feature = "solution")]
use inventory_reservation_solution as subject;

use loom::sync::Arc;
use loom::thread;
use subject::{Inventory, Reservation, ReserveError};

/// Explores every interleaving of `model` up to the preemption bound (3
/// unless `LOOM_MAX_PREEMPTIONS` says otherwise). No time or permutation
/// limit: a model that stops early would pass without checking.
fn check(model: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound.get_or_insert(3);
    builder.check(model);
}

/// Makes an inventory with this opening stock.
type Make<I> = fn(&[(&str, u32)]) -> I;

/// Reserves `qty` of `sku` on a thread of its own.
fn reserve_on_a_thread<I: Inventory + 'static>(
    shop: &Arc<I>,
    sku: &'static str,
    qty: u32,
) -> thread::JoinHandle<Result<Reservation, ReserveError>> {
    let shop = Arc::clone(shop);
    thread::spawn(move || shop.reserve(sku, qty))
}

fn join<T>(thread: thread::JoinHandle<T>) -> T {
    thread
        .join()
        .expect("a thread using the inventory panicked")
}

/// Two buyers race for the last item: exactly one gets it.
fn two_buyers_racing_for_the_last_item_exactly_one_wins<I: Inventory + 'static>(make: Make<I>) {
    check(move || {
        let shop = Arc::new(make(&[("console", 1)]));
        let alice = reserve_on_a_thread(&shop, "console", 1);
        let bob = reserve_on_a_thread(&shop, "console", 1);
        let results = [join(alice), join(bob)];
        let winners = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(
            winners, 1,
            "two buyers reserving the last \"console\" at once: exactly one should get it, \
             under every interleaving; got {results:?}"
        );
        for result in &results {
            if let Err(error) = result {
                assert_eq!(
                    *error,
                    ReserveError::OutOfStock {
                        requested: 1,
                        available: 0
                    },
                    "the losing buyer should be told the console is out of stock (0 available)"
                );
            }
        }
        assert_eq!(
            shop.available("console"),
            0,
            "the last \"console\" was reserved: none should be available (not a wrapped-around \
             huge number)"
        );
    });
}

/// Two orders for more than is in stock both fail, and neither makes the
/// stock look bigger than it is to the other, or to a reader.
fn two_orders_larger_than_the_stock_are_both_refused<I: Inventory + 'static>(make: Make<I>) {
    check(move || {
        let shop = Arc::new(make(&[("console", 1)]));
        let alice = reserve_on_a_thread(&shop, "console", 2);
        let bob = reserve_on_a_thread(&shop, "console", 2);
        let seen = shop.available("console");
        let results = [join(alice), join(bob)];
        for result in &results {
            assert_eq!(
                *result,
                Err(ReserveError::OutOfStock {
                    requested: 2,
                    available: 1
                }),
                "two orders of 2 \"console\" with 1 in stock should both be refused, seeing the \
                 1 unit, under every interleaving: a refused order must never make the stock \
                 look bigger (or wrap below zero) for the other; got {results:?}"
            );
        }
        assert_eq!(
            seen, 1,
            "while two orders of 2 were being refused, a reader saw {seen} \"console\" \
             available; only 1 was ever in stock"
        );
        assert_eq!(
            shop.available("console"),
            1,
            "refused orders take nothing: the 1 \"console\" should still be available"
        );
    });
}

/// A release, a reservation and a restock at once: the units are conserved
/// and no update is lost.
fn concurrent_release_reserve_and_restock_conserve_the_stock<I: Inventory + 'static>(
    make: Make<I>,
) {
    check(move || {
        let shop = Arc::new(make(&[("mug", 2)]));
        let held = shop
            .reserve("mug", 1)
            .expect("reserving 1 of 2 \"mug\" should succeed");
        let releaser = {
            let shop = Arc::clone(&shop);
            thread::spawn(move || shop.release(held))
        };
        let buyer = reserve_on_a_thread(&shop, "mug", 2);
        let delivery = {
            let shop = Arc::clone(&shop);
            thread::spawn(move || shop.restock("mug", 1))
        };
        join(releaser);
        let bought = join(buyer);
        join(delivery).expect("restocking a known SKU should succeed");
        let expected = match &bought {
            Ok(_) => 1,
            Err(error) => {
                assert_eq!(
                    *error,
                    ReserveError::OutOfStock {
                        requested: 2,
                        available: 1
                    },
                    "the order of 2 \"mug\" can only be refused before the release and the \
                     restock, when 1 was available"
                );
                3
            }
        };
        assert_eq!(
            shop.available("mug"),
            expected,
            "2 \"mug\", 1 reserved, then at once: that 1 released, 1 restocked and an order of 2 \
             ({}): {expected} should be available under every interleaving (a lost update \
             loses or conjures units)",
            if bought.is_ok() {
                "reserved"
            } else {
                "refused"
            }
        );
    });
}

/// Two releases at once are both counted.
fn two_releases_at_once_are_both_counted<I: Inventory + 'static>(make: Make<I>) {
    check(move || {
        let shop = Arc::new(make(&[("mug", 3)]));
        let first = shop
            .reserve("mug", 1)
            .expect("reserving 1 of 3 \"mug\" should succeed");
        let second = shop
            .reserve("mug", 2)
            .expect("reserving 2 of the 2 \"mug\" left should succeed");
        let threads = [first, second].map(|held| {
            let shop = Arc::clone(&shop);
            thread::spawn(move || shop.release(held))
        });
        threads.into_iter().for_each(join);
        assert_eq!(
            shop.available("mug"),
            3,
            "reservations of 1 and 2 of 3 \"mug\" released at once: all 3 should be back under \
             every interleaving (a release must not be lost)"
        );
    });
}

/// The models above, for one implementation.
macro_rules! models {
    ($module:ident, $inventory:ty) => {
        mod $module {
            use super::*;

            fn make(stock: &[(&str, u32)]) -> $inventory {
                <$inventory>::new(stock)
            }

            #[test]
            fn two_buyers_racing_for_the_last_item_exactly_one_wins() {
                super::two_buyers_racing_for_the_last_item_exactly_one_wins(make);
            }

            #[test]
            fn two_orders_larger_than_the_stock_are_both_refused() {
                super::two_orders_larger_than_the_stock_are_both_refused(make);
            }

            #[test]
            fn concurrent_release_reserve_and_restock_conserve_the_stock() {
                super::concurrent_release_reserve_and_restock_conserve_the_stock(make);
            }

            #[test]
            fn two_releases_at_once_are_both_counted() {
                super::two_releases_at_once_are_both_counted(make);
            }
        }
    };
}

models!(locked, subject::LockedInventory);
models!(atomic, subject::AtomicInventory);
