//! Wrong: the leader keeps the lock on the whole map (a
//! `tokio::sync::Mutex`, so that it may be held across `.await`) from the
//! moment it registers its flight until it publishes the result, "so that
//! nobody can change the map in between". Every other caller, of this key or
//! any other, waits for the lock instead of for the flight: the loads of
//! different keys run one after the other, and callers of the same key get
//! the lock only after the flight has ended and been removed, so each of
//! them loads again, in turn. Coalescing is gone and latency adds up.
//!
//! Why candidates write it: a guard lives until the end of its scope, and
//! here the scope is the whole function. With a `std::sync::Mutex` the same
//! code would not even compile where the spec spawns it (a `MutexGuard` held
//! across an `.await` makes the future not `Send`); the async mutex compiles
//! and quietly serialises everything.
//!
//! Symptom: requests for different keys are served one at a time, and a slow
//! load of one key stalls the whole service.
//!
//! Caught by: `concurrent_callers_of_one_key_share_one_load`,
//! `callers_arriving_during_the_load_wait_for_it`,
//! `different_keys_load_independently_and_at_the_same_time`,
//! `agrees_with_a_model_of_one_load_per_key_in_flight`, and more.
//!
//! Whole file: holding the map's lock through the load needs an async
//! (`tokio::sync::Mutex`) map, a different design; the reference's
//! `std::sync::Mutex` guard cannot be held across the `.await` in a spawned
//! future at all.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{Mutex, MutexGuard, watch};

type Outcome<V, E> = Option<Result<V, E>>;
type Flights<K, V, E> = HashMap<K, watch::Receiver<Outcome<V, E>>>;

#[derive(Debug)]
pub struct SingleFlight<K, V, E> {
    flights: Mutex<Flights<K, V, E>>,
    /// `in_flight` is synchronous, and the async lock may be held.
    in_flight: AtomicUsize,
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
            flights: Mutex::new(HashMap::new()),
            in_flight: AtomicUsize::new(0),
        }
    }

    pub async fn get<F, Fut>(&self, key: K, loader: F) -> Result<V, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>> + Send + 'static,
    {
        loop {
            let mut flights = self.flights.lock().await;
            if let Some(flight) = flights.get(&key) {
                let mut flight = flight.clone();
                drop(flights);
                if let Ok(outcome) = flight.wait_for(Option::is_some).await
                    && let Some(result) = outcome.as_ref()
                {
                    return result.clone();
                }
                continue;
            }
            let (sender, receiver) = watch::channel(None);
            flights.insert(key.clone(), receiver);
            self.in_flight.fetch_add(1, Ordering::AcqRel);
            // BUG: `flights`, the lock on the whole map, moves into the
            // leader and is held through the load.
            let mut leader = Leader {
                flights,
                in_flight: &self.in_flight,
                key,
                sender: Some(sender),
            };
            let result = loader().await;
            leader.publish(&result);
            return result;
        }
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }
}

struct Leader<'a, K: Hash + Eq, V, E> {
    flights: MutexGuard<'a, Flights<K, V, E>>,
    in_flight: &'a AtomicUsize,
    key: K,
    sender: Option<watch::Sender<Outcome<V, E>>>,
}

impl<K: Hash + Eq, V: Clone, E: Clone> Leader<'_, K, V, E> {
    fn publish(&mut self, result: &Result<V, E>) {
        if let Some(sender) = self.sender.take() {
            self.flights.remove(&self.key);
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            sender.send_replace(Some(result.clone()));
        }
    }
}

impl<K: Hash + Eq, V, E> Drop for Leader<'_, K, V, E> {
    fn drop(&mut self) {
        if self.sender.take().is_some() {
            self.flights.remove(&self.key);
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
        }
    }
}
