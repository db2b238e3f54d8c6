//! Wrong: the leader's clean-up guard borrows the key (`key: &'a K`, to
//! save a clone) and lives across the load's `.await`. Every result is
//! right, but the future of `get` now holds a `&K` across an await, so it
//! is `Send` only when `K` is `Sync`, which the API does not ask of keys
//! (`K: Hash + Eq + Clone + Send`).
//!
//! Why candidates write it: a borrowing guard is the idiomatic drop guard
//! and saves a clone; with `u64` or `String` keys everything compiles.
//!
//! Symptom: a service whose keys carry a `Cell` (a key that counts its own
//! hashing, say) cannot `tokio::spawn` its lookups: "`Cell<u64>` cannot be
//! shared between threads safely".
//!
//! Written blind: from the README and the stub, by the red team.
//!
//! Whole file: the bug is a guard type of the answer's own design (a
//! `watch` channel per flight, taken over by a waiter when the leader goes
//! away), not a line of the reference.
//!
//! Caught by: `a_call_can_be_spawned_whenever_its_key_is_send`.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::sync::watch;

type Slot<V, E> = Option<Result<V, E>>;
type Flights<K, V, E> = Mutex<HashMap<K, watch::Receiver<Slot<V, E>>>>;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

pub struct SingleFlight<K, V, E> {
    flights: Flights<K, V, E>,
}

impl<K, V, E> fmt::Debug for SingleFlight<K, V, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SingleFlight")
            .field("in_flight", &lock(&self.flights).len())
            .finish()
    }
}

impl<K, V, E> Default for SingleFlight<K, V, E>
where
    K: Hash + Eq + Clone + Send + 'static,
    V: Clone + Send + Sync + 'static,
    E: Clone + Send + Sync + 'static,
{
    fn default() -> Self {
        Self::new()
    }
}

struct Leading<'a, K: Hash + Eq, V, E> {
    flights: &'a Flights<K, V, E>,
    key: &'a K,
    armed: bool,
}

impl<K: Hash + Eq, V, E> Drop for Leading<'_, K, V, E> {
    fn drop(&mut self) {
        if self.armed {
            lock(self.flights).remove(self.key);
        }
    }
}

enum Role<V, E> {
    Lead(watch::Sender<Slot<V, E>>),
    Wait(watch::Receiver<Slot<V, E>>),
}

impl<K, V, E> SingleFlight<K, V, E>
where
    K: Hash + Eq + Clone + Send + 'static,
    V: Clone + Send + Sync + 'static,
    E: Clone + Send + Sync + 'static,
{
    pub fn new() -> Self {
        Self {
            flights: Mutex::new(HashMap::new()),
        }
    }

    pub async fn get<F, Fut>(&self, key: K, loader: F) -> Result<V, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>> + Send + 'static,
    {
        let mut loader = Some(loader);
        loop {
            let role = match lock(&self.flights).entry(key.clone()) {
                Entry::Occupied(entry) => Role::Wait(entry.get().clone()),
                Entry::Vacant(entry) => {
                    let (tx, rx) = watch::channel(None);
                    entry.insert(rx);
                    Role::Lead(tx)
                }
            };
            match role {
                Role::Lead(tx) => {
                    let mut leading = Leading {
                        flights: &self.flights,
                        key: &key,
                        armed: true,
                    };
                    let load = (loader.take().expect("a caller leads at most once"))();
                    let result = load.await;
                    lock(&self.flights).remove(&key);
                    leading.armed = false;
                    tx.send_replace(Some(result.clone()));
                    return result;
                }
                Role::Wait(mut rx) => match rx.wait_for(Option::is_some).await {
                    Ok(slot) => return slot.as_ref().expect("waited for Some").clone(),
                    // The leader went away: start over, through the map.
                    Err(_) => continue,
                },
            }
        }
    }

    pub fn in_flight(&self) -> usize {
        lock(&self.flights).len()
    }
}
