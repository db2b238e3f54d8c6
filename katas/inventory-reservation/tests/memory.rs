//! The README's "only the counts are shared mutable state", counted: this
//! test binary installs a counting global allocator (`spec_probes::alloc`),
//! and the spec measures the live heap bytes that thousands of reservations
//! leave behind once they are released or dropped (shipped). An inventory
//! whose memory grows with its traffic (a ledger of every reservation ever
//! made, a log of releases) runs out of memory in production, one checkout
//! at a time.
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

use rstest::rstest;
use spec_probes::alloc::{self, Counting};
use subject::{AtomicInventory, Inventory, LockedInventory};

#[global_allocator]
static ALLOC: Counting = Counting;

/// Reservations made in the measured stretch.
const CHECKOUTS: u32 = 10_000;

#[derive(Debug, Clone, Copy)]
enum Impl {
    Locked,
    Atomic,
}

use Impl::{Atomic, Locked};

#[derive(Debug, Clone, Copy)]
enum Outcome {
    /// The payment failed: the reservation is released.
    Released,
    /// The order shipped: the reservation is dropped.
    Shipped,
}

#[rstest]
fn reservations_leave_nothing_behind_once_released_or_shipped(
    #[values(Locked, Atomic)] inventory: Impl,
    #[values(Outcome::Released, Outcome::Shipped)] outcome: Outcome,
) {
    assert!(
        alloc::installed(),
        "the counting allocator should be installed"
    );
    let stock = [("mug", u32::MAX), ("tee", u32::MAX)];
    let shop: Box<dyn Inventory> = match inventory {
        Locked => Box::new(LockedInventory::new(&stock)),
        Atomic => Box::new(AtomicInventory::new(&stock)),
    };
    let checkout = |i: u32| {
        let sku = if i.is_multiple_of(2) { "mug" } else { "tee" };
        let reservation = shop
            .reserve(sku, 1 + i % 3)
            .expect("u32::MAX units in stock");
        match outcome {
            Outcome::Released => shop.release(reservation),
            Outcome::Shipped => drop(reservation),
        }
    };
    // Anything an inventory sets up on first use is set up now.
    (0..10).for_each(checkout);
    let (usage, ()) = alloc::measure(|| (0..CHECKOUTS).for_each(checkout));
    assert!(
        usage.live_bytes <= 0,
        "{inventory:?}: {CHECKOUTS} reservations, each {} at once, left {} bytes on the heap: \
         once a reservation is released or dropped, the inventory should keep nothing of it \
         (only the counts are shared state; a ledger of every reservation grows without end)",
        match outcome {
            Outcome::Released => "released",
            Outcome::Shipped => "dropped (shipped)",
        },
        usage.live_bytes
    );
}
