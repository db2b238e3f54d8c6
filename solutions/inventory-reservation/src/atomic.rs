use std::sync::Arc;

use crate::sync::{AtomicU64, Ordering};
use crate::{Inventory, Reservation, ReserveError, SkuMap, UnknownSku, opening_stock};

/// Optimistic, lock-free: one atomic counter per SKU, updated by
/// compare-and-swap.
///
/// A reservation reads the stock, computes what it would leave, and swaps it
/// in only if the stock is still what it read; if another thread got there
/// first, the swap fails, hands back the current stock, and the check runs
/// again against that. The same idea as optimistic locking with a version
/// column, or `UPDATE ... SET qty = qty - n WHERE qty >= n` and checking the
/// rows affected.
///
/// Every operation on a counter is a read-modify-write of that one atomic,
/// and read-modify-writes of one location always act on its latest value, so
/// `Relaxed` ordering is enough: the count is the only data, and nothing else
/// is published through it.
#[derive(Debug)]
pub struct AtomicInventory {
    stock: SkuMap<AtomicU64>,
}

impl AtomicInventory {
    /// An inventory of exactly these SKUs with this opening stock. A SKU
    /// listed more than once holds the sum of its quantities.
    pub fn new(stock: &[(&str, u32)]) -> Self {
        AtomicInventory {
            stock: opening_stock(stock)
                .into_iter()
                .map(|(sku, qty)| (sku, AtomicU64::new(qty)))
                .collect(),
        }
    }

    fn counter(&self, sku: &str) -> Result<&AtomicU64, UnknownSku> {
        self.stock.get(sku).ok_or(UnknownSku)
    }

    /// The counter of `sku`, and the inventory's copy of its name.
    fn entry(&self, sku: &str) -> Result<(&Arc<str>, &AtomicU64), UnknownSku> {
        self.stock.get_key_value(sku).ok_or(UnknownSku)
    }

    /// Adds `qty` units to `sku`. A checked update, not `fetch_add`, so that
    /// an overflow panics without wrapping the stock to a small number.
    fn add(&self, sku: &str, qty: u32) -> Result<(), UnknownSku> {
        let counter = self.counter(sku)?;
        let added = counter.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |units| {
            units.checked_add(u64::from(qty))
        });
        assert!(
            added.is_ok(),
            "the stock of one SKU exceeded u64::MAX units"
        );
        Ok(())
    }
}

impl Inventory for AtomicInventory {
    fn reserve(&self, sku: &str, qty: u32) -> Result<Reservation, ReserveError> {
        let (name, counter) = self.entry(sku)?;
        let mut units = counter.load(Ordering::Relaxed);
        loop {
            // Check the value the swap will replace, not an earlier one.
            let Some(left) = units.checked_sub(u64::from(qty)) else {
                return Err(ReserveError::OutOfStock {
                    requested: qty,
                    available: units,
                });
            };
            match counter.compare_exchange_weak(units, left, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return Ok(Reservation::new(name, qty)),
                // Someone else changed the stock (or the weak swap failed
                // spuriously): check again against what is there now.
                Err(current) => units = current,
            }
        }
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
        self.counter(sku)
            .map_or(0, |counter| counter.load(Ordering::Relaxed))
    }
}
