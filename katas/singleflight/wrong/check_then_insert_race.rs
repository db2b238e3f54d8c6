//! Wrong: the check ("is a load of this key in flight?") and the insert
//! ("now there is") are not one step. The load runs in a spawned task, which
//! is a sound design, but the task registers the flight itself, when it
//! first runs: that is after the caller's next `.await`, and every caller
//! that arrives before then also finds no flight and spawns its own load. A
//! hundred callers at once make a hundred loads: the stampede the component
//! exists to prevent. (On a multi-threaded runtime the same window opens
//! between two separate acquisitions of the lock: check under the lock,
//! release it, insert under it again.)
//!
//! Why candidates write it: moving "the whole leader's job" into the spawned
//! task reads well, and a test with two callers spaced apart passes.
//!
//! Symptom: when a hot key expires, the backend still gets one identical
//! query per concurrent request, as if there were no request coalescing at
//! all.
//!
//! Caught by: `concurrent_callers_of_one_key_share_one_load`,
//! `different_keys_load_independently_and_at_the_same_time`,
//! `agrees_with_a_model_of_one_load_per_key_in_flight` (callers arriving at
//! the same instant; callers a few milliseconds apart find the flight
//! registered, which is why the race survives casual testing).
//!
//! Whole file: the bug belongs to the other design, where the load runs in a
//! spawned task that registers its own flight; the reference runs the load in
//! the leader's task and has no such task to move the registration into.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::watch;

type Outcome<V, E> = Option<Result<V, E>>;
type Flights<K, V, E> = HashMap<K, watch::Receiver<Outcome<V, E>>>;

#[derive(Debug)]
pub struct SingleFlight<K, V, E> {
    flights: Arc<Mutex<Flights<K, V, E>>>,
    _types: PhantomData<(V, E)>,
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

impl<K, V, E> SingleFlight<K, V, E>
where
    K: Hash + Eq + Clone + Send + 'static,
    V: Clone + Send + Sync + 'static,
    E: Clone + Send + Sync + 'static,
{
    pub fn new() -> Self {
        SingleFlight {
            flights: Arc::new(Mutex::new(HashMap::new())),
            _types: PhantomData,
        }
    }

    pub async fn get<F, Fut>(&self, key: K, loader: F) -> Result<V, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>> + Send + 'static,
    {
        let existing = lock(&self.flights).get(&key).cloned();
        let mut flight = match existing {
            Some(flight) => flight,
            None => {
                let (sender, receiver) = watch::channel(None);
                let flights = Arc::clone(&self.flights);
                let load = loader();
                let registered = receiver.clone();
                tokio::spawn(async move {
                    // BUG: registered only now, when the spawned task first
                    // runs; every caller that checked in the meantime found
                    // nothing and spawned a load of its own.
                    lock(&flights).insert(key.clone(), registered);
                    let flight = Flight { flights, key };
                    let result = load.await;
                    drop(flight);
                    sender.send_replace(Some(result));
                });
                receiver
            }
        };
        let outcome = flight.wait_for(Option::is_some).await;
        match outcome.as_deref() {
            Ok(Some(result)) => result.clone(),
            _ => panic!("the load's task ended without a result (it panicked)"),
        }
    }

    pub fn in_flight(&self) -> usize {
        lock(&self.flights).len()
    }
}

/// Forgets the key when the load ends, or when its task panics.
struct Flight<K: Hash + Eq, V, E> {
    flights: Arc<Mutex<Flights<K, V, E>>>,
    key: K,
}

impl<K: Hash + Eq, V, E> Drop for Flight<K, V, E> {
    fn drop(&mut self) {
        lock(&self.flights).remove(&self.key);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
