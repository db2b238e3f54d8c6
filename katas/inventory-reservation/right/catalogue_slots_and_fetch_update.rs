//! Right: one shared, read-only index from SKU to a slot number (`Catalogue`, a `HashMap<Box<str>,
//! usize>` built once in `new`) in front of a dense array of counts. `LockedInventory` puts the
//! whole array behind ONE mutex (the README allows one lock for the map) instead of a mutex per
//! SKU; `AtomicInventory` keeps a `Box<[AtomicU64]>` and reserves with `fetch_update` and
//! `checked_sub` (a CAS loop the standard library writes, which re-checks every fresh value it is
//! about to replace and hands back the stock it refused on) instead of a hand-written
//! `compare_exchange_weak` loop. Releases and restocks are `fetch_update` with `checked_add` (panic
//! rather than wrap). Lookups are O(1) and take no lock; the critical section of the locked one is a
//! comparison and a subtraction.

mod sync;

use std::collections::HashMap;
use std::collections::hash_map::Entry;
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
    sku: Box<str>,
    qty: u32,
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

/// The SKUs of an inventory, fixed at construction: each has a slot in the
/// array of counts. Read-only after `new`, so shared without a lock.
#[derive(Debug)]
struct Catalogue {
    slots: HashMap<Box<str>, usize>,
}

impl Catalogue {
    /// The catalogue and the opening count of each slot (a SKU listed twice
    /// holds the sum, in `u64`).
    fn new(stock: &[(&str, u32)]) -> (Self, Vec<u64>) {
        let mut slots = HashMap::with_capacity(stock.len());
        let mut counts: Vec<u64> = Vec::with_capacity(stock.len());
        for &(sku, qty) in stock {
            match slots.entry(Box::from(sku)) {
                Entry::Occupied(slot) => counts[*slot.get()] += u64::from(qty),
                Entry::Vacant(slot) => {
                    slot.insert(counts.len());
                    counts.push(u64::from(qty));
                }
            }
        }
        (Catalogue { slots }, counts)
    }

    fn slot(&self, sku: &str) -> Option<usize> {
        self.slots.get(sku).copied()
    }

    /// The slot of a reservation's SKU; a reservation made by an inventory
    /// that stocks other SKUs is a bug in the caller.
    fn slot_of(&self, reservation: &Reservation) -> usize {
        self.slot(&reservation.sku)
            .expect("released a reservation of a SKU this inventory does not stock")
    }
}

fn reservation(sku: &str, qty: u32) -> Reservation {
    Reservation {
        sku: Box::from(sku),
        qty,
    }
}

/// The stock behind a lock: the check and the decrement happen under the
/// same lock (pessimistic locking, like `SELECT ... FOR UPDATE`).
#[derive(Debug)]
pub struct LockedInventory {
    catalogue: Catalogue,
    counts: Mutex<Vec<u64>>,
}

impl LockedInventory {
    /// An inventory of exactly these SKUs with this opening stock. A SKU
    /// listed more than once holds the sum of its quantities.
    pub fn new(stock: &[(&str, u32)]) -> Self {
        let (catalogue, counts) = Catalogue::new(stock);
        LockedInventory {
            catalogue,
            counts: Mutex::new(counts),
        }
    }

    fn add(&self, slot: usize, qty: u32) {
        let mut counts = self.counts.lock().unwrap();
        let units = &mut counts[slot];
        *units = units
            .checked_add(u64::from(qty))
            .expect("stock overflowed u64");
    }
}

impl Inventory for LockedInventory {
    fn reserve(&self, sku: &str, qty: u32) -> Result<Reservation, ReserveError> {
        let slot = self.catalogue.slot(sku).ok_or(ReserveError::UnknownSku)?;
        {
            let mut counts = self.counts.lock().unwrap();
            let units = &mut counts[slot];
            *units = units
                .checked_sub(u64::from(qty))
                .ok_or(ReserveError::OutOfStock {
                    requested: qty,
                    available: *units,
                })?;
        }
        Ok(reservation(sku, qty))
    }

    fn release(&self, reservation: Reservation) {
        let slot = self.catalogue.slot_of(&reservation);
        self.add(slot, reservation.qty);
    }

    fn restock(&self, sku: &str, qty: u32) -> Result<(), UnknownSku> {
        let slot = self.catalogue.slot(sku).ok_or(UnknownSku)?;
        self.add(slot, qty);
        Ok(())
    }

    fn available(&self, sku: &str) -> u64 {
        match self.catalogue.slot(sku) {
            Some(slot) => self.counts.lock().unwrap()[slot],
            None => 0,
        }
    }
}

/// The stock without a lock: one atomic counter per SKU (the set of SKUs is
/// fixed at construction), updated with a compare-and-swap loop (optimistic
/// concurrency, like `UPDATE ... WHERE qty >= n` and checking the rows
/// affected).
#[derive(Debug)]
pub struct AtomicInventory {
    catalogue: Catalogue,
    counts: Box<[AtomicU64]>,
}

impl AtomicInventory {
    /// An inventory of exactly these SKUs with this opening stock. A SKU
    /// listed more than once holds the sum of its quantities.
    pub fn new(stock: &[(&str, u32)]) -> Self {
        let (catalogue, counts) = Catalogue::new(stock);
        AtomicInventory {
            catalogue,
            counts: counts.into_iter().map(AtomicU64::new).collect(),
        }
    }

    fn add(&self, slot: usize, qty: u32) {
        // One read-modify-write: a CAS loop that never wraps.
        self.counts[slot]
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |units| {
                units.checked_add(u64::from(qty))
            })
            .expect("stock overflowed u64");
    }
}

impl Inventory for AtomicInventory {
    fn reserve(&self, sku: &str, qty: u32) -> Result<Reservation, ReserveError> {
        let slot = self.catalogue.slot(sku).ok_or(ReserveError::UnknownSku)?;
        // `fetch_update` calls the closure on every value it is about to
        // replace (reloading after each failed swap), so the check is always
        // about the stock the swap takes from; `Err` carries the stock it
        // refused on.
        match self.counts[slot].fetch_update(Ordering::Relaxed, Ordering::Relaxed, |units| {
            units.checked_sub(u64::from(qty))
        }) {
            Ok(_) => Ok(reservation(sku, qty)),
            Err(available) => Err(ReserveError::OutOfStock {
                requested: qty,
                available,
            }),
        }
    }

    fn release(&self, reservation: Reservation) {
        let slot = self.catalogue.slot_of(&reservation);
        self.add(slot, reservation.qty);
    }

    fn restock(&self, sku: &str, qty: u32) -> Result<(), UnknownSku> {
        let slot = self.catalogue.slot(sku).ok_or(UnknownSku)?;
        self.add(slot, qty);
        Ok(())
    }

    fn available(&self, sku: &str) -> u64 {
        self.catalogue
            .slot(sku)
            .map_or(0, |slot| self.counts[slot].load(Ordering::Relaxed))
    }
}
