//! Right: the reference design lets a waiter take over when the leader goes away (the load runs
//! in the leader's future and restarts from scratch). This one is the other design the README
//! allows, "the load runs on": the first caller registers the flight and `tokio::spawn`s the load,
//! and *every* caller, the first included, waits on the flight's `watch` channel, so cancelling
//! any caller (the first included) changes nothing for the others and the load is never
//! repeated. The spawned task owns a guard that ends the flight in one step under the lock
//! (remove the entry, publish the result); if the loader panics (in its closure or its future),
//! the guard's `Drop` removes the entry and closes the channel: the waiters start over (one leads,
//! the rest join it), and the caller whose loader panicked re-raises the panic.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::watch;

type Slot<V, E> = Option<Result<V, E>>;
type Flights<K, V, E> = Arc<Mutex<HashMap<K, (u64, watch::Receiver<Slot<V, E>>)>>>;

/// Coalesces concurrent loads of the same key: while a load for a key is in
/// flight, every other caller asking for that key waits for it and gets a
/// clone of its result (value or error) instead of loading again. Nothing is
/// cached: once a load completes, its key is forgotten, and the next caller
/// loads again.
///
/// Shared between tasks with an `Arc` (so it must be `Send + Sync`); every
/// method takes `&self`.
#[derive(Debug)]
pub struct SingleFlight<K, V, E> {
    /// Each key's flight: its id and a receiver of its result. Shared with the spawned loads.
    flights: Flights<K, V, E>,
    next_id: AtomicU64,
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

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A registered flight, from its insertion to its end: `finish` removes the entry and publishes
/// in one step; dropped unfinished (the loader panicked), it removes the entry and closes the
/// channel.
struct Flight<K: Hash + Eq, V, E> {
    flights: Flights<K, V, E>,
    key: Option<K>,
    id: u64,
    result: watch::Sender<Slot<V, E>>,
}

/// Removes the flight `id` of `key` (once: `key` is taken), and returns the lock still held.
fn end_flight<'a, K: Hash + Eq, V, E>(
    flights: &'a Flights<K, V, E>,
    key: &mut Option<K>,
    id: u64,
) -> Option<MutexGuard<'a, HashMap<K, (u64, watch::Receiver<Slot<V, E>>)>>> {
    let key = key.take()?;
    let mut map = lock(flights);
    if map.get(&key).is_some_and(|(flight, _)| *flight == id) {
        map.remove(&key);
    }
    Some(map)
}

impl<K: Hash + Eq, V, E> Flight<K, V, E> {
    fn finish(mut self, result: Result<V, E>) {
        let held = end_flight(&self.flights, &mut self.key, self.id);
        self.result.send_replace(Some(result));
        drop(held);
    }
}

impl<K: Hash + Eq, V, E> Drop for Flight<K, V, E> {
    fn drop(&mut self) {
        drop(end_flight(&self.flights, &mut self.key, self.id));
    }
}

impl<K, V, E> SingleFlight<K, V, E>
where
    K: Hash + Eq + Clone + Send + 'static,
    V: Clone + Send + Sync + 'static,
    E: Clone + Send + Sync + 'static,
{
    /// No load in flight.
    pub fn new() -> Self {
        SingleFlight { flights: Arc::new(Mutex::new(HashMap::new())), next_id: AtomicU64::new(0) }
    }

    /// The result of `loader()` for `key`, coalesced with every concurrent
    /// call for the same key.
    ///
    /// - No load of `key` in flight: this call starts one (it calls
    ///   `loader()` and awaits it), and every call for `key` that arrives
    ///   before it completes gets a clone of its result, `Ok` or `Err`,
    ///   without calling its own `loader`.
    /// - Once a load completes, `key` is forgotten: the next call loads again
    ///   (nothing is cached, not even an error).
    /// - Cancellation: if the caller running the load goes away before it
    ///   completes (its future dropped, its task aborted, its loader
    ///   panicking), the callers waiting for it are not stranded: they get a
    ///   result all the same, from one new load at most (design choice: the
    ///   load runs on in a spawned task, or one waiter takes over). A caller
    ///   that gives up while waiting disturbs nobody.
    ///
    /// The bounds (`Send + 'static` on the loader's future) allow either
    /// design. A loader must not call `get` for its own key.
    pub async fn get<F, Fut>(&self, key: K, loader: F) -> Result<V, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>> + Send + 'static,
    {
        let mut loader = Some(loader);
        loop {
            let (mut waiting, load) = {
                let mut flights = lock(&self.flights);
                match flights.get(&key) {
                    Some((_, waiting)) => (waiting.clone(), None),
                    None => {
                        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
                        let (result, waiting) = watch::channel(None);
                        flights.insert(key.clone(), (id, waiting.clone()));
                        let flight = Flight {
                            flights: Arc::clone(&self.flights),
                            key: Some(key.clone()),
                            id,
                            result,
                        };
                        (waiting, Some(flight))
                    }
                }
            };
            let load = match load {
                Some(flight) => {
                    // Outside the lock: if the closure panics, `flight` is dropped and ends it.
                    let future = (loader.take().expect("a caller starts at most one load"))();
                    Some(tokio::spawn(async move {
                        let result = future.await;
                        flight.finish(result);
                    }))
                }
                None => None,
            };
            if let Ok(slot) = waiting.wait_for(Option::is_some).await {
                return slot.clone().expect("waited for a result");
            }
            // The load ended without a result: its loader panicked.
            if let Some(load) = load {
                match load.await {
                    Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
                    _ => unreachable!("a load that ends without a result has panicked"),
                }
            }
            // Someone else's loader panicked: start over (lead, or join the new leader).
        }
    }

    /// How many keys have a load in flight now.
    pub fn in_flight(&self) -> usize {
        lock(&self.flights).len()
    }
}
