//! # Dead-letter queue: the reference solution
//!
//! A batch consumer on tokio. The state of the batches lives in one
//! background task (`Worker::run`), fed by an unbounded channel of commands; the
//! dead-letter store is shared with the handle behind a mutex, so that
//! [`Consumer::dead_letters`] and [`Consumer::redrive`] answer at once. The
//! task keeps three things:
//!
//! - the open batch and its linger deadline (taken from the first item's
//!   submission time);
//! - the retry groups, the failures of one call each, in a `BTreeMap` keyed
//!   by (due time, sequence), so the earliest is the first key;
//! - the calls in flight, in a `JoinSet`: each call runs as a task of its
//!   own, so a slow or panicking handler never stops the loop, and a panic
//!   comes back as a `JoinError` that fails the call's whole batch.
//!
//! Shutdown drops the channel's sender under the same lock that `submit`
//! checks, so every accepted item is in the channel before it closes; the
//! task sees the channel end, flushes, and finishes once nothing is open,
//! waiting or in flight.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::error::Error;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};
use tokio::sync::watch;
use tokio::task::{self, JoinError, JoinSet};
use tokio::time::{self, Instant};

/// The identity of one submitted item, given by [`Consumer::submit`].
///
/// Ids are given in submission order, starting at `MessageId(0)` for each
/// consumer; an item keeps its id through retries, dead-lettering and
/// redrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MessageId(pub u64);

/// How a [`Consumer`] batches and retries.
///
/// The wait before attempt `k + 1` of an item, after its attempt `k` failed,
/// is `min(initial_backoff * 2^(k - 1), max_backoff)` (never overflowing:
/// `max_backoff` caps it for any `k`), counted from the moment the call of
/// attempt `k` returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// A batch is flushed as soon as it holds this many items. At least 1.
    pub max_items: usize,
    /// A batch is flushed this long after its first item arrived, however
    /// few items it holds. Zero flushes without waiting (items submitted in
    /// the same instant may or may not share a batch); `Duration::MAX` never
    /// flushes by time (a deadline past the clock's range is never reached).
    pub linger: Duration,
    /// An item that has failed this many attempts (since it was submitted or
    /// last redriven) goes to the dead-letter store. At least 1.
    pub max_attempts: u32,
    /// The wait after a failed first attempt, before the second.
    pub initial_backoff: Duration,
    /// No wait between two attempts is longer than this.
    pub max_backoff: Duration,
}

/// One item handed to the handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery<T> {
    /// The item's id.
    pub id: MessageId,
    /// The item as submitted.
    pub payload: T,
    /// Which attempt this is: 1 on the first delivery, 2 on the first retry,
    /// and so on; back to 1 after a redrive.
    pub attempt: u32,
}

/// An item of a batch that the handler failed to process.
///
/// The handler returns one per failed item; every item of the batch it does
/// not name was processed and is acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The failed item's id (one of the batch's; any other id is ignored).
    pub id: MessageId,
    /// Why it failed, as the dead-letter store will show it.
    pub error: String,
}

impl Failure {
    /// The item `id` failed with `error`.
    pub fn new(id: MessageId, error: impl Into<String>) -> Self {
        Failure {
            id,
            error: error.into(),
        }
    }
}

/// An item that failed `max_attempts` times in a row and was given up on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter<T> {
    /// The item's id.
    pub id: MessageId,
    /// The item as submitted.
    pub payload: T,
    /// Every error the item raised since it was first submitted, oldest
    /// first, across redrives: after one redrive and a second run of
    /// failures, `2 * max_attempts` of them.
    pub errors: Vec<String>,
}

/// The error text of every item of a batch whose handler call panicked.
pub const HANDLER_PANICKED: &str = "handler panicked";

/// A [`Config`] the consumer refuses to start with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConfigError {
    /// `max_items` was 0: no batch could ever hold an item.
    ZeroMaxItems,
    /// `max_attempts` was 0: no item could ever be tried.
    ZeroMaxAttempts,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConfigError::ZeroMaxItems => "max_items must be at least 1",
            ConfigError::ZeroMaxAttempts => "max_attempts must be at least 1",
        })
    }
}

impl Error for ConfigError {}

/// A submission refused because the consumer is shutting down or shut down;
/// the payload is given back, unprocessed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closed<T>(pub T);

impl<T> fmt::Display for Closed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the consumer is shutting down: the item was not accepted")
    }
}

impl<T: fmt::Debug> Error for Closed<T> {}

/// Why [`Consumer::redrive`] redrove nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RedriveError {
    /// This id is not in the dead-letter store (never submitted, pending,
    /// acknowledged, or redriven already).
    NotDeadLettered(MessageId),
    /// The consumer is shutting down or shut down.
    Closed,
}

impl fmt::Display for RedriveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RedriveError::NotDeadLettered(id) => {
                write!(f, "message {} is not in the dead-letter store", id.0)
            }
            RedriveError::Closed => f.write_str("the consumer is shutting down"),
        }
    }
}

impl Error for RedriveError {}

/// The acknowledgements: the id of every item the handler processed, sent
/// once per item, when the handler call that processed it returns. Dropping
/// the receiver is allowed: the consumer goes on without it.
pub type Acks = UnboundedReceiver<MessageId>;

/// A batch consumer: a background task on the current tokio runtime that
/// batches submitted items, calls the handler, retries failures and keeps the
/// dead letters.
///
/// Shared between producer tasks with an `Arc` (it is `Send + Sync` when `T`
/// is `Send`); every method takes `&self`.
pub struct Consumer<T> {
    shared: Arc<Shared<T>>,
    /// Becomes `true` when the background task has finished its drain.
    drained: watch::Receiver<bool>,
}

impl<T> fmt::Debug for Consumer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Consumer").finish_non_exhaustive()
    }
}

/// What the handle and the background task share.
struct Shared<T> {
    state: Mutex<State<T>>,
}

struct State<T> {
    /// `None` once shutdown was called (or the handle dropped): nothing more
    /// is accepted, and the channel closes behind the last accepted item.
    tx: Option<UnboundedSender<Incoming<T>>>,
    next_id: u64,
    dead: DeadStore<T>,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // No code panics while holding the lock, but a poisoned store is
        // still the store.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The dead letters in the order they were given up on, and where each id is.
struct DeadStore<T> {
    by_order: BTreeMap<u64, DeadLetter<T>>,
    order_of: HashMap<MessageId, u64>,
    next_order: u64,
}

impl<T> DeadStore<T> {
    fn new() -> Self {
        DeadStore {
            by_order: BTreeMap::new(),
            order_of: HashMap::new(),
            next_order: 0,
        }
    }

    fn push(&mut self, letter: DeadLetter<T>) {
        let order = self.next_order;
        self.next_order += 1;
        self.order_of.insert(letter.id, order);
        self.by_order.insert(order, letter);
    }

    fn contains(&self, id: MessageId) -> bool {
        self.order_of.contains_key(&id)
    }

    fn take(&mut self, id: MessageId) -> Option<DeadLetter<T>> {
        let order = self.order_of.remove(&id)?;
        self.by_order.remove(&order)
    }

    fn take_all(&mut self) -> Vec<DeadLetter<T>> {
        self.order_of.clear();
        std::mem::take(&mut self.by_order).into_values().collect()
    }
}

/// An item on its way to the background task.
struct Incoming<T> {
    item: Item<T>,
    /// When it was submitted (or redriven): the start of a batch's linger.
    at: Instant,
}

/// An item the consumer is responsible for, until it is acknowledged or
/// dead-lettered.
struct Item<T> {
    id: MessageId,
    payload: T,
    /// Attempts made since it was submitted or last redriven.
    attempts: u32,
    /// Every error it raised, across redrives.
    errors: Vec<String>,
}

impl<T: Clone + Send + 'static> Consumer<T> {
    /// Starts a consumer with `config` on the current tokio runtime (call it
    /// from within one: it spawns the background task) and returns it with
    /// its acknowledgements.
    ///
    /// `handler` is called with each batch (at least one item, at most
    /// `max_items`, in the order the items were submitted or redriven; a
    /// retry holds the failures of one earlier call, in that call's order)
    /// and returns the [`Failure`]s among them: every other item of the batch
    /// is acknowledged, exactly once. A call that panics fails every item of
    /// its batch with the error [`HANDLER_PANICKED`], and the consumer goes
    /// on.
    ///
    /// Errors: [`ConfigError`] for a `max_items` or `max_attempts` of 0; then
    /// nothing is started and `handler` is never called.
    pub fn spawn<F, Fut>(config: Config, handler: F) -> Result<(Self, Acks), ConfigError>
    where
        F: Fn(Vec<Delivery<T>>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Vec<Failure>> + Send + 'static,
    {
        if config.max_items == 0 {
            return Err(ConfigError::ZeroMaxItems);
        }
        if config.max_attempts == 0 {
            return Err(ConfigError::ZeroMaxAttempts);
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let (acks_tx, acks) = mpsc::unbounded_channel();
        let (drained_tx, drained) = watch::channel(false);
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                tx: Some(tx),
                next_id: 0,
                dead: DeadStore::new(),
            }),
        });
        let worker = Worker {
            config,
            handler: Arc::new(handler),
            shared: Arc::clone(&shared),
            acks: acks_tx,
            open: Vec::new(),
            open_deadline: None,
            retries: BTreeMap::new(),
            next_retry: 0,
            in_flight: JoinSet::new(),
            batches: HashMap::new(),
        };
        tokio::spawn(async move {
            worker.run(rx).await;
            // Nobody waiting for the drain is fine.
            let _ = drained_tx.send(true);
        });
        Ok((Consumer { shared, drained }, acks))
    }

    /// Accepts an item and returns its id. It joins the open batch (or opens
    /// one, whose `linger` starts now); a batch that reaches `max_items` is
    /// flushed at once.
    ///
    /// Errors: [`Closed`], with the payload, once [`Consumer::shutdown`] has
    /// been called; nothing is accepted then.
    pub fn submit(&self, payload: T) -> Result<MessageId, Closed<T>> {
        let mut state = self.shared.lock();
        let Some(tx) = &state.tx else {
            return Err(Closed(payload));
        };
        let id = MessageId(state.next_id);
        let item = Item {
            id,
            payload,
            attempts: 0,
            errors: Vec::new(),
        };
        match tx.send(Incoming {
            item,
            at: Instant::now(),
        }) {
            Ok(()) => {
                state.next_id += 1;
                Ok(id)
            }
            // The task is gone (its runtime shut down): nothing can accept it.
            Err(mpsc::error::SendError(incoming)) => Err(Closed(incoming.item.payload)),
        }
    }

    /// The dead-letter store: every item given up on and not redriven since,
    /// in the order they were given up on (the items of one call in that
    /// call's order).
    pub fn dead_letters(&self) -> Vec<DeadLetter<T>> {
        self.shared.lock().dead.by_order.values().cloned().collect()
    }

    /// Puts the dead letters `ids` back to be processed, as if just
    /// submitted (same id, same payload, attempts counted from 1 again, their
    /// errors kept), in the order given; returns how many were redriven. An
    /// id given twice is redriven once.
    ///
    /// Errors: [`RedriveError::NotDeadLettered`] naming the first id not in
    /// the store, or [`RedriveError::Closed`] once shutdown was called (that
    /// one first); then nothing is redriven, not even the ids that were in
    /// the store. An empty `ids` redrives nothing and returns `Ok(0)`.
    pub fn redrive(&self, ids: &[MessageId]) -> Result<usize, RedriveError> {
        let mut guard = self.shared.lock();
        let state = &mut *guard;
        let Some(tx) = &state.tx else {
            return Err(RedriveError::Closed);
        };
        // Check every id before taking any: all or nothing.
        if let Some(&missing) = ids.iter().find(|&&id| !state.dead.contains(id)) {
            return Err(RedriveError::NotDeadLettered(missing));
        }
        let mut seen = HashSet::with_capacity(ids.len());
        let now = Instant::now();
        let mut redriven = 0;
        for &id in ids {
            if !seen.insert(id) {
                continue;
            }
            if let Some(letter) = state.dead.take(id) {
                resubmit(tx, letter, now);
                redriven += 1;
            }
        }
        Ok(redriven)
    }

    /// Redrives the whole dead-letter store, in its order; returns how many.
    ///
    /// Errors: [`RedriveError::Closed`] once shutdown was called.
    pub fn redrive_all(&self) -> Result<usize, RedriveError> {
        let mut guard = self.shared.lock();
        let state = &mut *guard;
        let Some(tx) = &state.tx else {
            return Err(RedriveError::Closed);
        };
        let now = Instant::now();
        let letters = state.dead.take_all();
        let redriven = letters.len();
        for letter in letters {
            resubmit(tx, letter, now);
        }
        Ok(redriven)
    }

    /// Stops accepting items and drains: the open batch is flushed at once
    /// (without waiting for `linger`), calls in flight are awaited, retries
    /// go on with their backoff, and this returns once every item accepted
    /// before it has been acknowledged or dead-lettered. Calling it again (or
    /// from several tasks) waits for the same drain.
    pub async fn shutdown(&self) {
        // Dropping the sender closes the channel behind the last accepted
        // item: the task reads everything, then sees the end.
        drop(self.shared.lock().tx.take());
        let mut drained = self.drained.clone();
        // An error means the task is gone (its runtime shut down): nothing
        // left to wait for.
        let _ = drained.wait_for(|&done| done).await;
    }
}

impl<T> Drop for Consumer<T> {
    fn drop(&mut self) {
        // Without a handle nothing more can arrive: let the task drain and end.
        drop(self.shared.lock().tx.take());
    }
}

/// Sends a dead letter back to the task as a fresh item that keeps its
/// errors. The task only stops reading once every sender is gone, and the
/// sender is alive here, so the send cannot fail while the task runs.
fn resubmit<T>(tx: &UnboundedSender<Incoming<T>>, letter: DeadLetter<T>, at: Instant) {
    let item = Item {
        id: letter.id,
        payload: letter.payload,
        attempts: 0,
        errors: letter.errors,
    };
    let _ = tx.send(Incoming { item, at });
}

/// The wait after attempt `attempt` (1-based) failed:
/// `min(initial * 2^(attempt - 1), max)`, in nanoseconds as `u128` so that
/// neither the power of two nor the product can overflow before the cap.
fn backoff(config: &Config, attempt: u32) -> Duration {
    let cap = config.max_backoff.as_nanos();
    let initial = config.initial_backoff.as_nanos();
    let shift = attempt.saturating_sub(1);
    let wait = if initial == 0 {
        0
    } else if shift >= u128::BITS || initial > cap >> shift {
        cap
    } else {
        // `initial <= cap >> shift`, so the shift stays within `cap`.
        initial << shift
    };
    const NANOS: u128 = 1_000_000_000;
    // `wait <= cap`, a `Duration`'s own nanoseconds: its seconds fit a u64.
    match u64::try_from(wait / NANOS) {
        Ok(secs) => Duration::new(secs, (wait % NANOS) as u32),
        Err(_) => config.max_backoff,
    }
}

/// The background task's state.
struct Worker<T, F> {
    config: Config,
    handler: Arc<F>,
    shared: Arc<Shared<T>>,
    acks: UnboundedSender<MessageId>,
    open: Vec<Item<T>>,
    /// When the open batch is due; `None` when it is empty or its deadline is
    /// past the clock's range.
    open_deadline: Option<Instant>,
    /// Retry groups by (due time, sequence): the failures of one call each.
    retries: BTreeMap<(Instant, u64), Vec<Item<T>>>,
    next_retry: u64,
    in_flight: JoinSet<Vec<Failure>>,
    /// The items of each call in flight, by the id of its task.
    batches: HashMap<task::Id, Vec<Item<T>>>,
}

impl<T, F, Fut> Worker<T, F>
where
    T: Clone + Send + 'static,
    F: Fn(Vec<Delivery<T>>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Vec<Failure>> + Send + 'static,
{
    async fn run(mut self, mut rx: UnboundedReceiver<Incoming<T>>) {
        let mut accepting = true;
        loop {
            if !accepting
                && self.open.is_empty()
                && self.retries.is_empty()
                && self.in_flight.is_empty()
            {
                return;
            }
            let next_retry = self.retries.first_key_value().map(|(&(due, _), _)| due);
            tokio::select! {
                biased;
                Some(done) = self.in_flight.join_next_with_id(), if !self.in_flight.is_empty() => {
                    self.settle(done);
                }
                incoming = rx.recv(), if accepting => match incoming {
                    Some(Incoming { item, at }) => self.accept(item, at),
                    None => {
                        // Shutdown: flush what is open without waiting.
                        accepting = false;
                        self.flush();
                    }
                },
                () = sleep_until(self.open_deadline), if self.open_deadline.is_some() => {
                    self.flush();
                }
                () = sleep_until(next_retry), if next_retry.is_some() => {
                    self.retry_due();
                }
            }
        }
    }

    fn accept(&mut self, item: Item<T>, at: Instant) {
        if self.open.is_empty() {
            self.open_deadline = at.checked_add(self.config.linger);
        }
        self.open.push(item);
        if self.open.len() >= self.config.max_items {
            self.flush();
        }
    }

    fn flush(&mut self) {
        self.open_deadline = None;
        if !self.open.is_empty() {
            let batch = std::mem::take(&mut self.open);
            self.call(batch);
        }
    }

    fn retry_due(&mut self) {
        let now = Instant::now();
        while let Some(entry) = self.retries.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let batch = entry.remove();
            self.call(batch);
        }
    }

    /// Starts the handler on `batch` as a task of its own.
    fn call(&mut self, batch: Vec<Item<T>>) {
        let deliveries = batch
            .iter()
            .map(|item| Delivery {
                id: item.id,
                payload: item.payload.clone(),
                attempt: item.attempts + 1,
            })
            .collect();
        let handler = Arc::clone(&self.handler);
        // The handler is called inside the task, so a panic in the call
        // itself (not only in its future) is caught too.
        let task = self
            .in_flight
            .spawn(async move { handler(deliveries).await });
        self.batches.insert(task.id(), batch);
    }

    /// A call returned (or panicked): acknowledge its successes, retry or
    /// dead-letter its failures.
    fn settle(&mut self, done: Result<(task::Id, Vec<Failure>), JoinError>) {
        let (id, failed) = match done {
            Ok((id, failures)) => {
                let mut failed = HashMap::with_capacity(failures.len());
                for failure in failures {
                    // The first error of an id named twice.
                    failed.entry(failure.id).or_insert(failure.error);
                }
                (id, Some(failed))
            }
            Err(error) => (error.id(), None),
        };
        let Some(batch) = self.batches.remove(&id) else {
            return;
        };
        let mut retry = Vec::new();
        let mut dead = Vec::new();
        for mut item in batch {
            let error = match &failed {
                Some(failed) => match failed.get(&item.id) {
                    Some(error) => error.clone(),
                    None => {
                        // The receiver may be gone: acks are then nobody's.
                        let _ = self.acks.send(item.id);
                        continue;
                    }
                },
                None => HANDLER_PANICKED.to_owned(),
            };
            item.attempts += 1;
            item.errors.push(error);
            if item.attempts >= self.config.max_attempts {
                dead.push(DeadLetter {
                    id: item.id,
                    payload: item.payload,
                    errors: item.errors,
                });
            } else {
                retry.push(item);
            }
        }
        if !dead.is_empty() {
            let mut state = self.shared.lock();
            for letter in dead {
                state.dead.push(letter);
            }
        }
        if let Some(first) = retry.first() {
            let wait = backoff(&self.config, first.attempts);
            let now = Instant::now();
            // A wait past the clock's range: as good as never, but the items
            // stay accounted for (a drain would wait for them).
            let due = now.checked_add(wait).unwrap_or_else(|| now + FAR_FUTURE);
            self.retries.insert((due, self.next_retry), retry);
            self.next_retry += 1;
        }
    }
}

/// Thirty years: where a retry goes whose due time is past the clock's range.
const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

/// Sleeps until `deadline`, or forever when there is none.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
