//! # Singleflight
//!
//! Request coalescing in front of a slow backend: while a load for a key is
//! in flight, every other caller asking for that key waits for it and gets
//! its result, instead of sending the backend the same query again. Read
//! `README.md` beside this file for the problem, then make the specification
//! pass:
//!
//! ```text
//! cargo xtask kata singleflight
//! ```
//!
//! The spec runs on tokio with a paused clock: a loader that sleeps for one
//! second takes no time at all, and every instant is exact.

// The bodies below are `todo!()`, so their arguments go unused until you
// write them. Delete this line when you are done.
#![allow(unused_variables)]

use std::future::Future;
use std::hash::Hash;
use std::marker::PhantomData;

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
    // Your fields here: what must be shared by the callers of one key while
    // its load is in flight? (`PhantomData` only lets the stub compile:
    // replace it.)
    _types: PhantomData<(K, V, E)>,
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
    /// No load in flight.
    pub fn new() -> Self {
        todo!("SingleFlight::new")
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
        todo!(
            "SingleFlight::get: join the flight for `key` or start one, in one step; \
             share its result; forget the key when it ends, however it ends"
        )
    }

    /// How many keys have a load in flight now.
    pub fn in_flight(&self) -> usize {
        todo!("SingleFlight::in_flight")
    }
}
