//! Wrong: `update_with_retry` ignores the bound and loops until its write
//! wins.
//!
//! Why candidates write it: "it always succeeds eventually" is true in a
//! quiet test. On a hot record under constant contention it spins for ever,
//! holding a request thread and hammering the database, and the caller
//! never learns that it lost.
//!
//! Caught by: `update_with_retry_stops_after_exactly_max_attempts_with_a_conflict`
//! (the interfering writer stops a few attempts after the bound, so the loop
//! ends in a success the spec rejects instead of hanging the run).

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
        // BUG: no bound at all.
        loop {
            let current = self.get(id)?.ok_or(RetryError::NotFound)?;
            let value = f(current.value);
            match self.update(id, current.version, value) {
                Ok(version) => return Ok(Versioned { value, version }),
                Err(UpdateError::Conflict { .. }) => continue,
                Err(UpdateError::NotFound) => return Err(RetryError::NotFound),
                Err(UpdateError::Database(e)) => return Err(RetryError::Database(e)),
            }
        }
    }
}
