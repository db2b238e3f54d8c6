//! # Inventory reservation
//!
//! The stock service of a shop: every checkout thread reserves units of a
//! SKU, gives them back if the payment fails, and deliveries restock them.
//! Read `README.md` beside this file for the problem, then make the
//! specification pass:
//!
//! ```text
//! cargo xtask kata inventory-reservation
//! ```
//!
//! Two implementations of one [`Inventory`] trait, and the spec runs every
//! test against both: [`LockedInventory`] with a lock, [`AtomicInventory`]
//! lock-free with compare-and-swap. Take `Mutex` and the atomics from
//! `crate::sync` (see `src/sync.rs`), never from `std::sync`, so that the
//! loom models in `tests/loom.rs` can check every interleaving.

// The bodies below are `todo!()`, so their arguments go unused until you
// write them. Delete this line when you are done.
#![allow(unused_variables)]

mod sync;

use std::error::Error;
use std::fmt;

/// A stock service shared by threads through `&self`.
///
/// Every method is safe to call from many threads at once: under no
/// interleaving is more reserved than was in stock, and no release or restock
/// is ever lost.
pub trait Inventory: Send + Sync {
    /// Takes `qty` units of `sku` out of the available stock, all or nothing,
    /// and returns the token that can give them back.
    ///
    /// # Errors
    /// [`ReserveError::UnknownSku`] if the inventory does not stock `sku`;
    /// [`ReserveError::OutOfStock`] (taking nothing) if fewer than `qty` units
    /// are available.
    fn reserve(&self, sku: &str, qty: u32) -> Result<Reservation, ReserveError>;

    /// Returns the units of `reservation` to the available stock of its SKU.
    /// The reservation is consumed, so it can be released at most once.
    ///
    /// # Panics
    /// If this inventory does not stock the reservation's SKU (it was made by
    /// another inventory), or if the stock would exceed `u64::MAX`.
    fn release(&self, reservation: Reservation);

    /// Adds `qty` units of `sku` to the available stock (a delivery arrived).
    ///
    /// # Errors
    /// [`UnknownSku`] if the inventory does not stock `sku`.
    ///
    /// # Panics
    /// If the stock would exceed `u64::MAX`.
    fn restock(&self, sku: &str, qty: u32) -> Result<(), UnknownSku>;

    /// Units of `sku` available to reserve now; 0 for a SKU the inventory
    /// does not stock.
    fn available(&self, sku: &str) -> u64;
}

/// Units of one SKU taken out of stock for one buyer: a checkout holds them
/// while it takes the payment.
///
/// Give the units back with [`Inventory::release`] (the payment failed, the
/// cart expired); drop the reservation to keep them out of stock for good
/// (the order shipped). Only an inventory makes one (its fields are private),
/// and `release` consumes it, so the same units can never be given back
/// twice: keep it that way.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "dropping a reservation keeps its units out of stock for good; release it to give them back"]
pub struct Reservation {
    // Your fields here: what does `release` need to know?
}

impl Reservation {
    /// The SKU the units were taken from.
    pub fn sku(&self) -> &str {
        todo!("Reservation::sku")
    }

    /// How many units are held.
    pub fn qty(&self) -> u32 {
        todo!("Reservation::qty")
    }
}

/// Why a reservation was refused. A refused reservation takes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReserveError {
    /// The inventory does not stock this SKU.
    UnknownSku,
    /// Fewer than `requested` units were available; `available` is how many
    /// there were when the reservation was refused.
    OutOfStock { requested: u32, available: u64 },
}

impl fmt::Display for ReserveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReserveError::UnknownSku => f.write_str("unknown SKU"),
            ReserveError::OutOfStock {
                requested,
                available,
            } => write!(
                f,
                "out of stock: {requested} requested, {available} available"
            ),
        }
    }
}

impl Error for ReserveError {}

/// The inventory does not stock this SKU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownSku;

impl fmt::Display for UnknownSku {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("unknown SKU")
    }
}

impl Error for UnknownSku {}

impl From<UnknownSku> for ReserveError {
    fn from(UnknownSku: UnknownSku) -> Self {
        ReserveError::UnknownSku
    }
}

/// The stock behind a lock: the check and the decrement happen under the
/// same lock (pessimistic locking, like `SELECT ... FOR UPDATE`).
#[derive(Debug)]
pub struct LockedInventory {
    // Your fields here: a `crate::sync::Mutex` around what?
}

impl LockedInventory {
    /// An inventory of exactly these SKUs with this opening stock. A SKU
    /// listed more than once holds the sum of its quantities.
    pub fn new(stock: &[(&str, u32)]) -> Self {
        todo!("LockedInventory::new: the SKUs and their opening stock, behind a lock")
    }
}

impl Inventory for LockedInventory {
    fn reserve(&self, sku: &str, qty: u32) -> Result<Reservation, ReserveError> {
        todo!("LockedInventory::reserve: check and take under one lock")
    }

    fn release(&self, reservation: Reservation) {
        todo!("LockedInventory::release: the units back to the reservation's own SKU")
    }

    fn restock(&self, sku: &str, qty: u32) -> Result<(), UnknownSku> {
        todo!("LockedInventory::restock")
    }

    fn available(&self, sku: &str) -> u64 {
        todo!("LockedInventory::available")
    }
}

/// The stock without a lock: one atomic counter per SKU (the set of SKUs is
/// fixed at construction), updated with a compare-and-swap loop (optimistic
/// concurrency, like `UPDATE ... WHERE qty >= n` and checking the rows
/// affected).
#[derive(Debug)]
pub struct AtomicInventory {
    // Your fields here: a `crate::sync::AtomicU64` per SKU, and how to find it.
}

impl AtomicInventory {
    /// An inventory of exactly these SKUs with this opening stock. A SKU
    /// listed more than once holds the sum of its quantities.
    pub fn new(stock: &[(&str, u32)]) -> Self {
        todo!("AtomicInventory::new: one atomic counter per SKU")
    }
}

impl Inventory for AtomicInventory {
    fn reserve(&self, sku: &str, qty: u32) -> Result<Reservation, ReserveError> {
        todo!(
            "AtomicInventory::reserve: a compare_exchange loop that checks the stock it is about to replace"
        )
    }

    fn release(&self, reservation: Reservation) {
        todo!("AtomicInventory::release: add the units back without losing a concurrent update")
    }

    fn restock(&self, sku: &str, qty: u32) -> Result<(), UnknownSku> {
        todo!("AtomicInventory::restock")
    }

    fn available(&self, sku: &str) -> u64 {
        todo!("AtomicInventory::available")
    }
}
