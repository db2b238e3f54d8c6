//! Wrong: `AtomicInventory::reserve` takes the units first with `fetch_sub`
//! and gives them back with `fetch_add` if there were not enough (the Redis
//! `DECRBY`, then `INCRBY` if negative, pattern). With an unsigned counter
//! the first step wraps below zero to a huge number, and until the undo
//! lands every other buyer sees billions of units: a concurrent order for
//! more than is in stock goes through.
//!
//! Why candidates write it: single-threaded it is exactly right (the undo
//! always restores the count), and it avoids a CAS loop. With a signed
//! counter the transient is only a negative number a reader might see; with
//! `u64` wrap-around it is stock that does not exist.
//!
//! Caught by (loom, `tests/loom.rs`):
//! `atomic::two_orders_larger_than_the_stock_are_both_refused`. The threaded
//! spec test
//! `followup_concurrent_reserves_releases_and_restocks_conserve_the_stock`
//! catches it when the scheduler lands a reservation inside the window.

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
        // BUG: take first, check after: for a moment the stock has wrapped
        // around to a huge number that other buyers can reserve from.
        let before = counter.fetch_sub(u64::from(qty), Ordering::Relaxed);
        if before < u64::from(qty) {
            counter.fetch_add(u64::from(qty), Ordering::Relaxed);
            return Err(ReserveError::OutOfStock {
                requested: qty,
                available: before,
            });
        }
        Ok(Reservation::new(sku, qty))
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
