//! Wrong: when the caller running a load goes away, its waiters are not
//! stranded (good), but each of them loads the key itself, at once, and
//! tells nobody: one cancelled leader with a thousand waiters makes a
//! thousand loads. A client that gives up under load (a timeout, a closed
//! connection) is common exactly when the backend is slow, so this turns a
//! slow backend into a stampeded one.
//!
//! Why candidates write it: "if the leader is gone, load it yourself" is the
//! first fix for stranded waiters; that the takeover must itself be
//! coalesced is the second thought.
//!
//! Caught by: `followup_cancelling_the_leader_does_not_strand_its_waiters`.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::sync::watch;

/// The result of a load, once there is one.
type Outcome<V, E> = Option<Result<V, E>>;

/// Coalesces concurrent loads of the same key: while a load for a key is in
/// flight, every other caller asking for that key waits for it and gets a
/// clone of its result (value or error) instead of loading again. Nothing is
/// cached: once a load completes, its key is forgotten, and the next caller
/// loads again.
///
/// Share it between tasks with an `Arc`; every method takes `&self`.
pub struct SingleFlight<K, V, E> {
    /// The flights in progress: the receiving end of each leader's channel.
    flights: Mutex<HashMap<K, watch::Receiver<Outcome<V, E>>>>,
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

/// What a caller does about its key.
enum Role<V, E> {
    /// No flight: this caller loads, and publishes through this sender.
    Lead(watch::Sender<Outcome<V, E>>),
    /// A flight is in progress: wait for its outcome.
    Follow(watch::Receiver<Outcome<V, E>>),
}

impl<K, V, E> SingleFlight<K, V, E>
where
    K: Hash + Eq + Clone + Send + 'static,
    V: Clone + Send + Sync + 'static,
    E: Clone + Send + Sync + 'static,
{
    /// No flight in progress.
    pub fn new() -> Self {
        SingleFlight {
            flights: Mutex::new(HashMap::new()),
        }
    }

    /// The result of `loader()` for `key`, coalesced with every concurrent
    /// call for the same key: if a load of `key` is in flight, waits for it
    /// and returns a clone of its result (`Ok` or `Err`) without calling
    /// `loader`; otherwise runs `loader()` and hands its result to every
    /// caller that arrives while it runs.
    ///
    /// If the caller running the load goes away before it completes (its
    /// future dropped, its task aborted, its loader panicking), one of the
    /// waiters takes over and runs its own `loader`, and the others wait for
    /// that one. A loader must not call `get` for its own key.
    pub async fn get<F, Fut>(&self, key: K, loader: F) -> Result<V, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>> + Send + 'static,
    {
        let sender = loop {
            match self.lead_or_follow(&key) {
                Role::Lead(sender) => break sender,
                Role::Follow(mut flight) => {
                    if let Ok(outcome) = flight.wait_for(Option::is_some).await
                        && let Some(result) = outcome.as_ref()
                    {
                        return result.clone();
                    }
                    // BUG: the leader went away: every waiter loads for itself,
                    // instead of starting over through the map.
                    return loader().await;
                }
            }
        };
        let mut leader = Leader {
            flights: &self.flights,
            key,
            sender: Some(sender),
        };
        let result = loader().await;
        leader.publish(&result);
        result
    }

    /// How many keys have a load in flight now.
    pub fn in_flight(&self) -> usize {
        self.lock().len()
    }

    /// Joins the flight for `key`, or starts one: one step, under the lock.
    fn lead_or_follow(&self, key: &K) -> Role<V, E> {
        let mut flights = self.lock();
        if let Some(flight) = flights.get(key) {
            return Role::Follow(flight.clone());
        }
        let (sender, receiver) = watch::channel(None);
        flights.insert(key.clone(), receiver);
        Role::Lead(sender)
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<K, watch::Receiver<Outcome<V, E>>>> {
        lock(&self.flights)
    }
}

/// The leader of one flight. Until it publishes, dropping it (a cancelled or
/// panicking load) takes the flight out of the map and closes the channel,
/// which wakes every follower to start over.
struct Leader<'a, K: Hash + Eq, V, E> {
    flights: &'a Mutex<HashMap<K, watch::Receiver<Outcome<V, E>>>>,
    key: K,
    /// `None` once published.
    sender: Option<watch::Sender<Outcome<V, E>>>,
}

impl<K: Hash + Eq, V: Clone, E: Clone> Leader<'_, K, V, E> {
    /// Ends the flight with `result`: the key is forgotten and every follower
    /// gets a clone, as one step under the lock, so that a caller either
    /// joins this flight and gets its result or finds none and loads again.
    fn publish(&mut self, result: &Result<V, E>) {
        let mut flights = lock(self.flights);
        if let Some(sender) = self.sender.take() {
            forget(&mut flights, &self.key, &sender);
            sender.send_replace(Some(result.clone()));
        }
    }
}

impl<K: Hash + Eq, V, E> Drop for Leader<'_, K, V, E> {
    fn drop(&mut self) {
        if let Some(sender) = self.sender.take() {
            forget(&mut lock(self.flights), &self.key, &sender);
            // Dropping `sender` closes the channel: the followers start over.
        }
    }
}

/// Removes `key`'s flight from the map if it is `sender`'s (it always is:
/// only a flight's leader removes it, once; the check keeps that local).
fn forget<K: Hash + Eq, V, E>(
    flights: &mut HashMap<K, watch::Receiver<Outcome<V, E>>>,
    key: &K,
    sender: &watch::Sender<Outcome<V, E>>,
) {
    if flights
        .get(key)
        .is_some_and(|flight| sender.subscribe().same_channel(flight))
    {
        flights.remove(key);
    }
}

/// The map, even if a panic elsewhere poisoned its lock: every update of the
/// map is a single insert or remove, so it is never left half-changed.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
