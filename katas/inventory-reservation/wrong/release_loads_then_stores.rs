//! Wrong: `AtomicInventory::release` and `restock` read the stock, add to it,
//! and store the sum: two steps, not one read-modify-write. A reservation or
//! a restock that lands between the load and the store is overwritten: units
//! are conjured (a reservation undone) or lost (a release or a delivery
//! forgotten).
//!
//! Why candidates write it: "adding can't oversell", so only `reserve` gets
//! the careful CAS loop. But every update of a shared counter races with
//! every other: this is the lost update of `SELECT qty` then
//! `UPDATE SET qty = <computed>`.
//!
//! Caught by (loom, `tests/loom.rs`):
//! `atomic::concurrent_release_reserve_and_restock_conserve_the_stock` and
//! `atomic::two_releases_at_once_are_both_counted`. The threaded spec test
//! `followup_concurrent_reserves_releases_and_restocks_conserve_the_stock`
//! catches it when the scheduler hits the gap.

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
        let mut units = slot.lock().unwrap();
        if *units < u64::from(qty) {
            return Err(ReserveError::OutOfStock {
                requested: qty,
                available: *units,
            });
        }
        *units -= u64::from(qty);
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
        let counter = &self.stock[&reservation.sku];
        // BUG: load, then store: an update in between is overwritten.
        let units = counter.load(Ordering::Relaxed);
        counter.store(units + u64::from(reservation.qty), Ordering::Relaxed);
    }

    fn restock(&self, sku: &str, qty: u32) -> Result<(), UnknownSku> {
        let counter = self.stock.get(sku).ok_or(UnknownSku)?;
        let units = counter.load(Ordering::Relaxed);
        counter.store(units + u64::from(qty), Ordering::Relaxed);
        Ok(())
    }

    fn available(&self, sku: &str) -> u64 {
        self.stock
            .get(sku)
            .map_or(0, |counter| counter.load(Ordering::Relaxed))
    }
}
