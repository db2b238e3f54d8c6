//! Wrong: `LockedInventory::reserve` checks the stock under the lock, lets
//! the lock go, and takes it again to decrement. Between the two, another
//! buyer can take the same units: two buyers both see the last item, and the
//! second decrement underflows (a panic in a debug build, a wrap in release).
//!
//! Why candidates write it: a helper `available()` that locks, then a
//! `take()` that locks; each is locked, so it looks safe. It is `SELECT stock`
//! without `FOR UPDATE`: the lock must be held from the check to the act.
//!
//! Caught by (loom, `tests/loom.rs`):
//! `locked::two_buyers_racing_for_the_last_item_exactly_one_wins`. The
//! threaded spec tests `racing_buyers_never_get_more_than_was_in_stock` and
//! `followup_concurrent_reserves_releases_and_restocks_conserve_the_stock`
//! catch it only when the scheduler happens to hit the gap.

mod sync;

use std::collections::HashMap;

use crate::sync::{AtomicU64, Mutex, Ordering};

pub trait Inventory: Send + Sync {
    fn reserve(&self, sku: &str, qty: u32) -> Result<Reservation, ReserveError>;
    fn release(&self, reservation: Reservation);
    fn restock(&self, sku: &str, qty: u32) -> Result<(), UnknownSku>;
    fn available(&self, sku: &str) -> u64;
}

#[derive(Debug, PartialEq, Eq)]
pub struct Reservation {
    sku: String,
    qty: u32,
}

impl Reservation {
    fn new(sku: &str, qty: u32) -> Self {
        Reservation {
            sku: sku.to_owned(),
            qty,
        }
    }

    pub fn sku(&self) -> &str {
        &self.sku
    }

    pub fn qty(&self) -> u32 {
        self.qty
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReserveError {
    UnknownSku,
    OutOfStock { requested: u32, available: u64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownSku;

impl From<UnknownSku> for ReserveError {
    fn from(UnknownSku: UnknownSku) -> Self {
        ReserveError::UnknownSku
    }
}

fn opening_stock(stock: &[(&str, u32)]) -> HashMap<String, u64> {
    let mut totals: HashMap<String, u64> = HashMap::new();
    for &(sku, qty) in stock {
        *totals.entry(sku.to_owned()).or_default() += u64::from(qty);
    }
    totals
}

#[derive(Debug)]
pub struct LockedInventory {
    stock: HashMap<String, Mutex<u64>>,
}

impl LockedInventory {
    pub fn new(stock: &[(&str, u32)]) -> Self {
        LockedInventory {
            stock: opening_stock(stock)
                .into_iter()
                .map(|(sku, qty)| (sku, Mutex::new(qty)))
                .collect(),
        }
    }
}

impl Inventory for LockedInventory {
    fn reserve(&self, sku: &str, qty: u32) -> Result<Reservation, ReserveError> {
        let slot = self.stock.get(sku).ok_or(UnknownSku)?;
        let units = *slot.lock().unwrap();
        // BUG: the lock is already released here: the check below is about
        // a value that may no longer be the stock.
        if units < u64::from(qty) {
            return Err(ReserveError::OutOfStock {
                requested: qty,
                available: units,
            });
        }
        *slot.lock().unwrap() -= u64::from(qty);
        Ok(Reservation::new(sku, qty))
    }

    fn release(&self, reservation: Reservation) {
        let slot = &self.stock[&reservation.sku];
        *slot.lock().unwrap() += u64::from(reservation.qty);
    }

    fn restock(&self, sku: &str, qty: u32) -> Result<(), UnknownSku> {
        let slot = self.stock.get(sku).ok_or(UnknownSku)?;
        *slot.lock().unwrap() += u64::from(qty);
        Ok(())
    }

    fn available(&self, sku: &str) -> u64 {
        self.stock.get(sku).map_or(0, |slot| *slot.lock().unwrap())
    }
}

#[derive(Debug)]
pub struct AtomicInventory {
    stock: HashMap<String, AtomicU64>,
}

impl AtomicInventory {
    pub fn new(stock: &[(&str, u32)]) -> Self {
        AtomicInventory {
            stock: opening_stock(stock)
                .into_iter()
                .map(|(sku, qty)| (sku, AtomicU64::new(qty)))
                .collect(),
        }
    }
}

impl Inventory for AtomicInventory {
    fn reserve(&self, sku: &str, qty: u32) -> Result<Reservation, ReserveError> {
        let counter = self.stock.get(sku).ok_or(UnknownSku)?;
        let mut units = counter.load(Ordering::Relaxed);
        loop {
            if units < u64::from(qty) {
                return Err(ReserveError::OutOfStock {
                    requested: qty,
                    available: units,
                });
            }
            match counter.compare_exchange_weak(
                units,
                units - u64::from(qty),
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(Reservation::new(sku, qty)),
                Err(current) => units = current,
            }
        }
    }

    fn release(&self, reservation: Reservation) {
        self.stock[&reservation.sku].fetch_add(u64::from(reservation.qty), Ordering::Relaxed);
    }

    fn restock(&self, sku: &str, qty: u32) -> Result<(), UnknownSku> {
        let counter = self.stock.get(sku).ok_or(UnknownSku)?;
        counter.fetch_add(u64::from(qty), Ordering::Relaxed);
        Ok(())
    }

    fn available(&self, sku: &str) -> u64 {
        self.stock
            .get(sku)
            .map_or(0, |counter| counter.load(Ordering::Relaxed))
    }
}
