use std::sync::{Arc, PoisonError};

use crate::sync::Mutex;
use crate::{Inventory, Reservation, ReserveError, SkuMap, UnknownSku, opening_stock};

/// Pessimistic locking: one mutex per SKU, held across the check and the
/// decrement, the way `SELECT qty ... FOR UPDATE` holds a row lock until the
/// `UPDATE` commits.
///
/// One lock per SKU (not one for the whole map) lets buyers of different
/// products proceed in parallel; the map itself is never written after `new`,
/// so it needs no lock.
#[derive(Debug)]
pub struct LockedInventory {
    stock: SkuMap<Mutex<u64>>,
}

impl LockedInventory {
    /// An inventory of exactly these SKUs with this opening stock. A SKU
    /// listed more than once holds the sum of its quantities.
    pub fn new(stock: &[(&str, u32)]) -> Self {
        LockedInventory {
            stock: opening_stock(stock)
                .into_iter()
                .map(|(sku, qty)| (sku, Mutex::new(qty)))
                .collect(),
        }
    }

    /// Runs `f` on the stock of `sku` (and the inventory's copy of its
    /// name) under its lock.
    fn with_stock<T>(
        &self,
        sku: &str,
        f: impl FnOnce(&Arc<str>, &mut u64) -> T,
    ) -> Result<T, UnknownSku> {
        let (name, slot) = self.stock.get_key_value(sku).ok_or(UnknownSku)?;
        // Every update below is a single assignment after its checks, so a
        // thread that panicked while holding the lock left a consistent
        // count: a poisoned lock is still safe to use.
        let mut units = slot.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(f(name, &mut units))
    }

    /// Adds `qty` units back to `sku`, under its lock.
    fn add(&self, sku: &str, qty: u32) -> Result<(), UnknownSku> {
        self.with_stock(sku, |_, units| {
            *units = units
                .checked_add(u64::from(qty))
                .expect("the stock of one SKU exceeded u64::MAX units");
        })
    }
}

impl Inventory for LockedInventory {
    fn reserve(&self, sku: &str, qty: u32) -> Result<Reservation, ReserveError> {
        self.with_stock(sku, |name, units| {
            // Check and act under one lock: nobody can take the units between.
            match units.checked_sub(u64::from(qty)) {
                Some(left) => {
                    *units = left;
                    Ok(Reservation::new(name, qty))
                }
                None => Err(ReserveError::OutOfStock {
                    requested: qty,
                    available: *units,
                }),
            }
        })?
    }

    fn release(&self, reservation: Reservation) {
        if self.add(&reservation.sku, reservation.qty).is_err() {
            panic!(
                "released a reservation of SKU {:?} into an inventory that does not stock it",
                reservation.sku
            );
        }
    }

    fn restock(&self, sku: &str, qty: u32) -> Result<(), UnknownSku> {
        self.add(sku, qty)
    }

    fn available(&self, sku: &str) -> u64 {
        self.with_stock(sku, |_, units| *units).unwrap_or(0)
    }
}
