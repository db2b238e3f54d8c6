//! Wrong: `AtomicInventory::reserve` loads the stock once and, when its
//! compare-and-swap fails because another buyer changed the stock, retries
//! the same swap with the same stale expected value. It can never succeed
//! again: the buyer spins for ever (a livelock) as soon as two buyers
//! collide.
//!
//! Why candidates write it: `while counter.compare_exchange(old, new, ..)
//! .is_err() {}` looks like the textbook loop; the failure value that
//! `compare_exchange` returns (the current stock) is the part that gets
//! dropped.
//!
//! Caught by (loom, `tests/loom.rs`): the spinning buyer exceeds loom's
//! branch limit ("Model exceeded maximum number of branches") in
//! `atomic::two_buyers_racing_for_the_last_item_exactly_one_wins` and
//! `atomic::concurrent_release_reserve_and_restock_conserve_the_stock`. The
//! threaded spec tests (`racing_buyers_never_get_more_than_was_in_stock`,
//! `followup_concurrent_reserves_releases_and_restocks_conserve_the_stock`)
//! report threads that never finish whenever two buyers happen to collide.

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
        let units = counter.load(Ordering::Relaxed);
        if units < u64::from(qty) {
            return Err(ReserveError::OutOfStock {
                requested: qty,
                available: units,
            });
        }
        // BUG: on failure, the current value is thrown away and the same
        // stale swap is retried: it fails for ever.
        while counter
            .compare_exchange_weak(
                units,
                units - u64::from(qty),
                Ordering::Relaxed,
                Ordering::Relaxed,
            )
            .is_err()
        {}
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
