//! Bug: the "load runs on" design (the load is `tokio::spawn`ed and every caller waits on the
//! flight's channel), but the spawned task ends the flight with plain lines after the `.await`
//! (remove the entry, then publish) instead of a guard. When the loader panics, in its future or in
//! its closure, the sender is dropped (the waiters wake up and start over, so nobody is stranded)
//! but the entry stays in the map: `in_flight()` counts the key for ever, and a key nobody asks for
//! again stays in memory. The next caller of that key finds the dead flight, removes it and starts
//! over, so every *result* is still right.
//!
//! Why candidates write it: a spawned task "cannot be cancelled", so clean-up after its `.await`
//! looks safe; panics are the one way out it forgets, and the waiters' start-over hides it.
//!
//! Symptom: after a loader panicked on a malformed row, the `singleflight_in_flight` gauge sits at 1 for that key for ever, and the "stuck loads" alert never clears.
//!
//! Whole file: written blind from the README and the stub by the red team; a design of its own
//! (the load runs on in a spawned task and every caller waits on its channel, where the reference
//! lets a waiter take over), not a change to the reference.
//!
//! Caught by: `followup_a_lone_caller_whose_loader_panics_leaves_nothing_behind` (a panic in the
//! loader's future, and in its closure).

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

/// A registered flight: the spawned load ends it with `finish`.
struct Flight<K: Hash + Eq, V, E> {
    flights: Flights<K, V, E>,
    key: K,
    id: u64,
    result: watch::Sender<Slot<V, E>>,
}

impl<K: Hash + Eq, V, E> Flight<K, V, E> {
    fn finish(self, result: Result<V, E>) {
        let mut flights = lock(&self.flights);
        if flights.get(&self.key).is_some_and(|(id, _)| *id == self.id) {
            flights.remove(&self.key);
        }
        self.result.send_replace(Some(result));
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
                            key: key.clone(),
                            id,
                            result,
                        };
                        (waiting, Some(flight))
                    }
                }
            };
            let load = match load {
                Some(flight) => {
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
            // Someone else's loader panicked: clear its dead flight and start over.
            let mut flights = lock(&self.flights);
            if flights.get(&key).is_some_and(|(_, dead)| dead.same_channel(&waiting)) {
                flights.remove(&key);
            }
        }
    }

    /// How many keys have a load in flight now.
    pub fn in_flight(&self) -> usize {
        lock(&self.flights).len()
    }
}
