//! Reference solution of the inventory-reservation kata: the stock service of
//! a shop, shared by every request thread, that never sells the last item
//! twice.
//!
//! Two implementations of one [`Inventory`] API:
//!
//! - [`LockedInventory`] (pessimistic): one mutex per SKU; the check and the
//!   decrement happen under the same lock, like `SELECT ... FOR UPDATE`
//!   followed by an `UPDATE` in one transaction.
//! - [`AtomicInventory`] (optimistic, lock-free): one atomic counter per SKU,
//!   updated with a compare-and-swap loop that re-checks the stock against
//!   the value it is about to replace, like
//!   `UPDATE stock SET qty = qty - n WHERE sku = ? AND qty >= n`.
//!
//! The set of SKUs is fixed at construction, so the map from SKU to counter
//! is never written after `new` and needs no lock of its own: only the
//! counters are shared mutable state.

mod atomic;
mod locked;
mod sync;

use std::collections::HashMap;
use std::error::Error;
use std::fmt;
use std::sync::Arc;

pub use atomic::AtomicInventory;
pub use locked::LockedInventory;

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
/// (the order shipped). It is neither `Clone` nor `Copy`, and `release`
/// consumes it, so the same units can never be given back twice.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "dropping a reservation keeps its units out of stock for good; release it to give them back"]
pub struct Reservation {
    /// The inventory's own copy of the SKU's name, shared rather than
    /// copied: a reservation allocates nothing.
    sku: Arc<str>,
    qty: u32,
}

impl Reservation {
    /// Only an inventory makes reservations: a caller cannot forge one and
    /// release units that were never taken.
    fn new(sku: &Arc<str>, qty: u32) -> Self {
        Reservation {
            sku: Arc::clone(sku),
            qty,
        }
    }

    /// The SKU the units were taken from.
    pub fn sku(&self) -> &str {
        &self.sku
    }

    /// How many units are held.
    pub fn qty(&self) -> u32 {
        self.qty
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

/// A map from SKU to its stock, hashed with foldhash rather than `std`'s
/// default SipHash, which is slower: a SKU is hashed twice per checkout
/// (reserve, then release). SipHash resists HashDoS (keys chosen to collide,
/// so that every insert and lookup walks all of them); foldhash, still
/// seeded at random, does not promise that, and here it need not: the keys
/// are the shop's own catalogue, fixed in `new`, and a buyer's SKU is only
/// ever looked up, never inserted. See the README's follow-ups.
type SkuMap<V> = HashMap<Arc<str>, V, foldhash::fast::RandomState>;

/// The opening stock per SKU: a SKU listed more than once holds the sum of
/// its quantities.
fn opening_stock(stock: &[(&str, u32)]) -> SkuMap<u64> {
    let mut totals = SkuMap::with_capacity_and_hasher(stock.len(), Default::default());
    for &(sku, qty) in stock {
        // At most `stock.len()` additions of a u32 each: a u64 cannot
        // overflow for any slice that fits in memory.
        *totals.entry(Arc::from(sku)).or_default() += u64::from(qty);
    }
    totals
}
