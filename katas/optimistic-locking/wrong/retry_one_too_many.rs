//! Wrong: `update_with_retry` counts "one try plus `max_attempts` retries":
//! `for attempt in 0..=max_attempts`, so it makes `max_attempts + 1`
//! attempts before giving up.
//!
//! Why candidates write it: "attempts" and "retries" differ by one, and the
//! inclusive range looks like "up to and including the maximum".
//!
//! Caught by: `update_with_retry_stops_after_exactly_max_attempts_with_a_conflict`
//! (every case: `f` runs once more than the bound, and with one attempt the
//! extra one even succeeds).

use std::path::Path;

use optimistic_locking_solution as reference;
pub use optimistic_locking_solution::{InsertError, RetryError, UpdateError, Versioned};

#[derive(Debug)]
pub struct Store(reference::Store);

impl Store {
    pub fn open(path: impl AsRef<Path>) -> rusqlite::Result<Self> {
        reference::Store::open(path).map(Store)
    }

    pub fn insert(&self, id: &str, value: i64) -> Result<(), InsertError> {
        self.0.insert(id, value)
    }

    pub fn get(&self, id: &str) -> rusqlite::Result<Option<Versioned>> {
        self.0.get(id)
    }

    pub fn update(&self, id: &str, expected_version: u64, new_value: i64) -> Result<u64, UpdateError> {
        self.0.update(id, expected_version, new_value)
    }

    pub fn update_with_retry<F>(&self, id: &str, max_attempts: u32, mut f: F) -> Result<Versioned, RetryError>
    where
        F: FnMut(i64) -> i64,
    {
        assert!(max_attempts > 0, "max_attempts must be at least 1");
        // BUG: 0..=max_attempts is max_attempts + 1 attempts.
        for _ in 0..=max_attempts {
            let current = self.get(id)?.ok_or(RetryError::NotFound)?;
            let value = f(current.value);
            match self.update(id, current.version, value) {
                Ok(version) => return Ok(Versioned { value, version }),
                Err(UpdateError::Conflict { .. }) => continue,
                Err(UpdateError::NotFound) => return Err(RetryError::NotFound),
                Err(UpdateError::Database(e)) => return Err(RetryError::Database(e)),
            }
        }
        Err(RetryError::Conflict { attempts: max_attempts })
    }
}
