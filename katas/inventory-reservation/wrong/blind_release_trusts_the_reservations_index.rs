//! Bug: a `Reservation` remembers the slot of its SKU in the inventory that made it, and `release`
//! adds the units to that slot without checking the name. Released to another inventory (which
//! stocks the SKU at another slot, or not at all), the units go to whichever SKU sits at that slot,
//! silently. The stub's contract is "the units back to their SKU", and a panic if this inventory
//! does not stock it.
//!
//! Why candidates write it: "release should not hash the SKU again": the index is an O(1) shortcut,
//! and with one inventory per test it is always right.
//!
//! Symptom: after a reservation made in the EU warehouse was released to the US one (both stock consoles and mugs, in another order), US mugs went up by two and US consoles did not.
//!
//! Whole file: written blind from the README and the stub by the red team; a design of its own,
//! not a change to the reference: the stock lives in a dense `Vec` of slots behind a name-to-slot
//! map, and a reservation carries its slot, where the reference keys everything by name.
//!
//! Caught by: `a_release_goes_to_the_sku_its_reservation_names_in_the_inventory_that_takes_it`
//! (both inventories).

mod sync;

use std::collections::HashMap;
use std::error::Error;
use std::fmt;

use crate::sync::{AtomicU64, Mutex, Ordering};

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
/// Give the units back with [`Inventory::release`]; drop the reservation to
/// keep them out of stock for good (the order shipped). Only an inventory
/// makes one, and `release` consumes it: it is neither `Clone` nor `Copy`.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "dropping a reservation keeps its units out of stock for good; release it to give them back"]
pub struct Reservation {
    sku: String,
    qty: u32,
    // Where the SKU's counter is, so that `release` needs no lookup.
    slot: usize,
}

impl Reservation {
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

/// The opening stock per SKU, a SKU listed twice holding the sum.
fn opening_stock(stock: &[(&str, u32)]) -> (HashMap<String, usize>, Vec<u64>) {
    let mut slots = HashMap::with_capacity(stock.len());
    let mut units = Vec::with_capacity(stock.len());
    for &(sku, qty) in stock {
        let slot = *slots.entry(sku.to_owned()).or_insert_with(|| {
            units.push(0u64);
            units.len() - 1
        });
        units[slot] += u64::from(qty);
    }
    (slots, units)
}

/// The stock behind a lock: the check and the decrement happen under the
/// same lock (pessimistic locking, like `SELECT ... FOR UPDATE`).
#[derive(Debug)]
pub struct LockedInventory {
    slots: HashMap<String, usize>,
    stock: Vec<Mutex<u64>>,
}

impl LockedInventory {
    /// An inventory of exactly these SKUs with this opening stock. A SKU
    /// listed more than once holds the sum of its quantities.
    pub fn new(stock: &[(&str, u32)]) -> Self {
        let (slots, units) = opening_stock(stock);
        LockedInventory {
            slots,
            stock: units.into_iter().map(Mutex::new).collect(),
        }
    }
}

impl Inventory for LockedInventory {
    fn reserve(&self, sku: &str, qty: u32) -> Result<Reservation, ReserveError> {
        let slot = *self.slots.get(sku).ok_or(ReserveError::UnknownSku)?;
        let mut units = self.stock[slot].lock().unwrap();
        match units.checked_sub(u64::from(qty)) {
            Some(left) => *units = left,
            None => {
                return Err(ReserveError::OutOfStock {
                    requested: qty,
                    available: *units,
                });
            }
        }
        drop(units);
        Ok(Reservation {
            sku: sku.to_owned(),
            qty,
            slot,
        })
    }

    fn release(&self, reservation: Reservation) {
        let cell = self
            .stock
            .get(reservation.slot)
            .expect("released a reservation of a SKU this inventory does not stock");
        let mut units = cell.lock().unwrap();
        *units = units
            .checked_add(u64::from(reservation.qty))
            .expect("stock overflowed u64");
    }

    fn restock(&self, sku: &str, qty: u32) -> Result<(), UnknownSku> {
        let slot = *self.slots.get(sku).ok_or(UnknownSku)?;
        let mut units = self.stock[slot].lock().unwrap();
        *units = units
            .checked_add(u64::from(qty))
            .expect("stock overflowed u64");
        Ok(())
    }

    fn available(&self, sku: &str) -> u64 {
        self.slots
            .get(sku)
            .map_or(0, |&slot| *self.stock[slot].lock().unwrap())
    }
}

/// Adds `qty` to `counter` in one read-modify-write, panicking rather than
/// wrapping past `u64::MAX`.
fn add_units(counter: &AtomicU64, qty: u32) {
    counter
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |units| {
            units.checked_add(u64::from(qty))
        })
        .expect("stock overflowed u64");
}

/// The stock without a lock: one atomic counter per SKU (the set of SKUs is
/// fixed at construction), updated with a compare-and-swap loop (optimistic
/// concurrency, like `UPDATE ... WHERE qty >= n` and checking the rows
/// affected).
#[derive(Debug)]
pub struct AtomicInventory {
    slots: HashMap<String, usize>,
    stock: Vec<AtomicU64>,
}

impl AtomicInventory {
    /// An inventory of exactly these SKUs with this opening stock. A SKU
    /// listed more than once holds the sum of its quantities.
    pub fn new(stock: &[(&str, u32)]) -> Self {
        let (slots, units) = opening_stock(stock);
        AtomicInventory {
            slots,
            stock: units.into_iter().map(AtomicU64::new).collect(),
        }
    }
}

impl Inventory for AtomicInventory {
    fn reserve(&self, sku: &str, qty: u32) -> Result<Reservation, ReserveError> {
        let slot = *self.slots.get(sku).ok_or(ReserveError::UnknownSku)?;
        let counter = &self.stock[slot];
        let mut seen = counter.load(Ordering::Relaxed);
        loop {
            let Some(left) = seen.checked_sub(u64::from(qty)) else {
                return Err(ReserveError::OutOfStock {
                    requested: qty,
                    available: seen,
                });
            };
            match counter.compare_exchange_weak(seen, left, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => {
                    return Ok(Reservation {
                        sku: sku.to_owned(),
                        qty,
                        slot,
                    });
                }
                Err(current) => seen = current,
            }
        }
    }

    fn release(&self, reservation: Reservation) {
        let counter = self
            .stock
            .get(reservation.slot)
            .expect("released a reservation of a SKU this inventory does not stock");
        add_units(counter, reservation.qty);
    }

    fn restock(&self, sku: &str, qty: u32) -> Result<(), UnknownSku> {
        let slot = *self.slots.get(sku).ok_or(UnknownSku)?;
        add_units(&self.stock[slot], qty);
        Ok(())
    }

    fn available(&self, sku: &str) -> u64 {
        self.slots
            .get(sku)
            .map_or(0, |&slot| self.stock[slot].load(Ordering::Relaxed))
    }
}
