//! Wrong: `update_with_retry` reads the record once, before the loop, and
//! every retry computes `f` on that same stale read and updates with that
//! same stale version.
//!
//! Why candidates write it: the retry wraps the call that failed (the
//! update) rather than the whole read-modify-write. But the conflict means
//! the read is stale: retrying the write with the old version can only
//! conflict again, and even a write that somehow went through would carry a
//! value computed from data that is gone.
//!
//! Caught by: `update_with_retry_rereads_the_record_after_a_conflict` and
//! `followup_concurrent_increments_from_several_connections_lose_no_update`.

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
        // BUG: one read for all the attempts.
        let current = self.get(id)?.ok_or(RetryError::NotFound)?;
        for _ in 0..max_attempts {
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
