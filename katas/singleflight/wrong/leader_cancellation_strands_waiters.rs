//! Wrong: the map holds each flight's *sender* (so that a newcomer can
//! `subscribe()`), and the leader takes it out and publishes only after its
//! `.await` on the load. If the leader never gets there (its future dropped
//! by a caller's timeout, its task aborted because the client hung up, its
//! loader panicking), the sender stays in the map for ever: the channel never
//! closes, so the waiters wait for ever, and so does every later caller of
//! the key, which joins the dead flight.
//!
//! Why candidates write it: "remove the entry and notify the waiters when
//! the load is done" is the algorithm as said aloud; that an async function
//! may stop at any `.await` and never run the rest is the lesson.
//!
//! Symptom: after one client times out while loading a key, every later
//! request for that key hangs until the service is restarted.
//!
//! Caught by: `followup_cancelling_the_leader_does_not_strand_its_waiters`,
//! `followup_a_call_after_every_caller_gave_up_gets_a_fresh_result`,
//! `followup_a_panicking_loader_strands_nobody`.
//!
//! Whole file: the map holds each flight's sender and there is no leader
//! guard at all, a different design from the reference's guarded leader with
//! receivers in the map; deleting the guard from the reference would make
//! waiters spin on a closed channel, not the hang this answer shows.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::sync::watch;

type Outcome<V, E> = Option<Result<V, E>>;

#[derive(Debug)]
pub struct SingleFlight<K, V, E> {
    flights: Mutex<HashMap<K, watch::Sender<Outcome<V, E>>>>,
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
        }
    }

    pub async fn get<F, Fut>(&self, key: K, loader: F) -> Result<V, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>> + Send + 'static,
    {
        let joined = {
            let mut flights = self.lock();
            match flights.get(&key) {
                Some(sender) => Some(sender.subscribe()),
                None => {
                    flights.insert(key.clone(), watch::channel(None).0);
                    None
                }
            }
        };
        if let Some(mut flight) = joined {
            let outcome = flight.wait_for(Option::is_some).await;
            return match outcome.as_deref() {
                Ok(Some(result)) => result.clone(),
                _ => panic!("the flight's channel closed without a result"),
            };
        }
        let result = loader().await;
        // BUG: only reached if the load completes; a cancelled or panicking
        // leader leaves its sender in the map, and its waiters wait for ever.
        if let Some(sender) = self.lock().remove(&key) {
            sender.send_replace(Some(result.clone()));
        }
        result
    }

    pub fn in_flight(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<K, watch::Sender<Outcome<V, E>>>> {
        self.flights.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
