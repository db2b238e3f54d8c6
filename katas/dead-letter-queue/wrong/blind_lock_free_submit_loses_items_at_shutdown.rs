//! Bug: `submit` checks an `AtomicBool` closed flag, takes its id from an
//! `AtomicU64` and sends on the (already `Sync`) unbounded sender with no lock;
//! `shutdown` sets the flag and sends `Shutdown`. On a multi-threaded runtime a
//! submit that read `closed == false` can send its item *after* the `Shutdown`
//! command; the background task stops reading the channel at `Shutdown`, so
//! that item is accepted (`Ok(id)`) and never handled. (Ids can also reach the
//! batch out of id order between racing producers.)
//!
//! Why candidates write it: the mpsc sender is already `Send + Sync`, so a
//! mutex around it looks redundant, and atomics look faster; on the spec's
//! current-thread runtime a synchronous `submit` can never interleave with
//! `shutdown`, so every test passes.
//!
//! Symptom: under a real multi-threaded service, a producer racing a deploy's
//! shutdown gets `Ok(MessageId(n))` for an order that is never indexed, never
//! acknowledged and not in `dead_letters()`, and `shutdown()` returns anyway
//! (README rule 8: "returns when every item accepted before it is acknowledged
//! or dead-lettered", rules 10 and 12).
//!
//! Caught by: `followup_a_submission_racing_shutdown_is_refused_or_handled`
//! (a producer thread submits while the main thread shuts down, 400 rounds).
//!
//! Whole file: written blind, from the README and the stub alone, by a red
//! team that never saw the spec or the reference. The bug needs this design
//! (a `Shutdown` message on the items' channel, after which the task stops
//! reading); the reference closes the channel by dropping its sender under
//! the same lock that `submit` takes, so the same few lines cannot be wrong
//! there.
//!
//! # Dead-letter queue
//!
//! A batch consumer on tokio: items are batched (flushed at `max_items` or
//! after `linger`), handed to a handler that reports which items of the batch
//! failed, retried with capped exponential backoff (only the failures), and
//! moved to a dead-letter store, with every error they raised, once they have
//! failed `max_attempts` times. `redrive` puts dead letters back once the cause
//! is fixed; `shutdown` drains. Read `README.md` beside this file for the
//! problem, then make the specification pass:
//!
//! ```text
//! cargo xtask kata dead-letter-queue
//! ```
//!
//! Time is tokio's (`tokio::time::Instant`, `tokio::time::sleep_until`): the
//! spec pauses the clock and lets it jump, so a 30-second linger or a
//! five-minute backoff is checked exactly and instantly. Never use
//! `std::time::Instant` or `std::thread::sleep` here. The spec's durations are
//! whole milliseconds (tokio's timer resolution).


use std::error::Error;
use std::fmt;
use std::future::Future;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedReceiver;

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
    front: Front<T>,
    store: Arc<Mutex<Vec<DeadLetter<T>>>>,
    drained: watch::Receiver<bool>,
}

use std::collections::{BTreeMap, HashMap, HashSet};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep_until};

/// One accepted item, as the background task keeps it until its fate.
struct Item<T> {
    id: MessageId,
    payload: T,
    attempt: u32,
    errors: Vec<String>,
}

enum Command<T> {
    Submit(Item<T>),
    Shutdown,
}

/// The producer side: ids, the closed flag and the channel under one lock, so
/// that the channel's order is the ids' order and nothing is sent after the
/// shutdown command.
struct Front<T> {
    closed: std::sync::atomic::AtomicBool,
    next_id: std::sync::atomic::AtomicU64,
    tx: mpsc::UnboundedSender<Command<T>>,
}

fn lock<X>(m: &Mutex<X>) -> MutexGuard<'_, X> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// `min(initial * 2^(k-1), max)`, never overflowing.
fn backoff(config: &Config, k: u32) -> Duration {
    let mut wait = config.initial_backoff;
    for _ in 1..k {
        if wait.is_zero() || wait >= config.max_backoff {
            break;
        }
        wait = wait.checked_mul(2).unwrap_or(Duration::MAX);
    }
    wait.min(config.max_backoff)
}

/// Polls a future, turning a panic into `None`.
struct CatchUnwind<F>(Pin<Box<F>>);

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Option<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let fut = self.0.as_mut();
        match catch_unwind(AssertUnwindSafe(|| fut.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(v)) => Poll::Ready(Some(v)),
            Err(_) => Poll::Ready(None),
        }
    }
}

async fn sleep_opt(at: Option<Instant>) {
    match at {
        Some(at) => sleep_until(at).await,
        None => std::future::pending().await,
    }
}

type CallOutcome<T> = (Vec<Item<T>>, Option<Vec<Failure>>);

struct Worker<T, F> {
    config: Config,
    handler: F,
    rx: mpsc::UnboundedReceiver<Command<T>>,
    acks: mpsc::UnboundedSender<MessageId>,
    store: Arc<Mutex<Vec<DeadLetter<T>>>>,
    open: Vec<Item<T>>,
    linger_at: Option<Instant>,
    /// Retry groups by due time (and a sequence number for ties).
    retries: BTreeMap<(Instant, u64), Vec<Item<T>>>,
    /// Retry groups whose due time is past the clock's range: never due.
    parked: Vec<Vec<Item<T>>>,
    seq: u64,
    calls: JoinSet<CallOutcome<T>>,
    closing: bool,
}

impl<T, F, Fut> Worker<T, F>
where
    T: Clone + Send + 'static,
    F: Fn(Vec<Delivery<T>>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Vec<Failure>> + Send + 'static,
{
    async fn run(mut self, done: watch::Sender<bool>) {
        loop {
            if self.closing
                && self.open.is_empty()
                && self.retries.is_empty()
                && self.parked.is_empty()
                && self.calls.is_empty()
            {
                break;
            }
            let linger_at = if self.open.is_empty() { None } else { self.linger_at };
            let retry_at = self.retries.keys().next().map(|k| k.0);
            let closing = self.closing;
            let has_calls = !self.calls.is_empty();
            tokio::select! {
                cmd = self.rx.recv(), if !closing => match cmd {
                    Some(Command::Submit(item)) => self.accept(item),
                    Some(Command::Shutdown) | None => {
                        self.closing = true;
                        self.flush_open();
                    }
                },
                () = sleep_opt(linger_at) => self.flush_open(),
                () = sleep_opt(retry_at) => {
                    if let Some((_, items)) = self.retries.pop_first() {
                        self.dispatch(items);
                    }
                }
                Some(res) = self.calls.join_next(), if has_calls => {
                    if let Ok((items, outcome)) = res {
                        self.settle(items, outcome);
                    }
                }
            }
        }
        let _ = done.send(true);
    }

    fn accept(&mut self, item: Item<T>) {
        if self.open.is_empty() {
            self.linger_at = Instant::now().checked_add(self.config.linger);
        }
        self.open.push(item);
        if self.open.len() >= self.config.max_items {
            self.flush_open();
        }
    }

    fn flush_open(&mut self) {
        if !self.open.is_empty() {
            let items = std::mem::take(&mut self.open);
            self.linger_at = None;
            self.dispatch(items);
        }
    }

    fn dispatch(&mut self, items: Vec<Item<T>>) {
        let deliveries: Vec<Delivery<T>> = items
            .iter()
            .map(|i| Delivery {
                id: i.id,
                payload: i.payload.clone(),
                attempt: i.attempt,
            })
            .collect();
        let handler = &self.handler;
        match catch_unwind(AssertUnwindSafe(|| handler(deliveries))) {
            Ok(fut) => {
                self.calls.spawn(async move {
                    let outcome = CatchUnwind(Box::pin(fut)).await;
                    (items, outcome)
                });
            }
            Err(_) => {
                self.calls.spawn(async move { (items, None) });
            }
        }
    }

    fn settle(&mut self, items: Vec<Item<T>>, outcome: Option<Vec<Failure>>) {
        let now = Instant::now();
        let mut failed: HashMap<MessageId, String> = HashMap::new();
        match outcome {
            Some(failures) => {
                for f in failures {
                    failed.entry(f.id).or_insert(f.error);
                }
            }
            None => {
                for i in &items {
                    failed.insert(i.id, HANDLER_PANICKED.to_string());
                }
            }
        }
        let k = items.first().map_or(1, |i| i.attempt);
        let mut retry = Vec::new();
        let mut dead = Vec::new();
        for mut item in items {
            match failed.remove(&item.id) {
                None => {
                    // A dropped receiver is allowed: go on without it.
                    let _ = self.acks.send(item.id);
                }
                Some(error) => {
                    item.errors.push(error);
                    if item.attempt >= self.config.max_attempts {
                        dead.push(DeadLetter {
                            id: item.id,
                            payload: item.payload,
                            errors: item.errors,
                        });
                    } else {
                        item.attempt += 1;
                        retry.push(item);
                    }
                }
            }
        }
        if !dead.is_empty() {
            lock(&self.store).extend(dead);
        }
        if !retry.is_empty() {
            match now.checked_add(backoff(&self.config, k)) {
                Some(at) => {
                    self.seq += 1;
                    self.retries.insert((at, self.seq), retry);
                }
                None => self.parked.push(retry),
            }
        }
    }
}

impl<T> fmt::Debug for Consumer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Consumer").finish_non_exhaustive()
    }
}

impl<T: Clone + Send + 'static> Consumer<T> {
    /// Starts a consumer with `config` on the current tokio runtime (call it
    /// from within one: it spawns the background task) and returns it with
    /// its acknowledgements.
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
        let (acks_tx, acks_rx) = mpsc::unbounded_channel();
        let (done_tx, done_rx) = watch::channel(false);
        let store = Arc::new(Mutex::new(Vec::new()));
        let worker = Worker {
            config,
            handler,
            rx,
            acks: acks_tx,
            store: Arc::clone(&store),
            open: Vec::new(),
            linger_at: None,
            retries: BTreeMap::new(),
            parked: Vec::new(),
            seq: 0,
            calls: JoinSet::new(),
            closing: false,
        };
        tokio::spawn(worker.run(done_tx));
        let consumer = Consumer {
            front: Front {
                closed: std::sync::atomic::AtomicBool::new(false),
                next_id: std::sync::atomic::AtomicU64::new(0),
                tx,
            },
            store,
            drained: done_rx,
        };
        Ok((consumer, acks_rx))
    }

    /// Accepts an item and returns its id.
    ///
    /// Errors: [`Closed`], with the payload, once [`Consumer::shutdown`] has
    /// been called; nothing is accepted then.
    pub fn submit(&self, payload: T) -> Result<MessageId, Closed<T>> {
        use std::sync::atomic::Ordering::SeqCst;
        let front = &self.front;
        if front.closed.load(SeqCst) {
            return Err(Closed(payload));
        }
        let id = MessageId(front.next_id.fetch_add(1, SeqCst));
        let item = Item {
            id,
            payload,
            attempt: 1,
            errors: Vec::new(),
        };
        match front.tx.send(Command::Submit(item)) {
            Ok(()) => Ok(id),
            Err(mpsc::error::SendError(cmd)) => match cmd {
                Command::Submit(item) => Err(Closed(item.payload)),
                Command::Shutdown => unreachable!("a submit was sent"),
            },
        }
    }

    /// The dead-letter store, in the order the items were given up on.
    pub fn dead_letters(&self) -> Vec<DeadLetter<T>> {
        lock(&self.store).clone()
    }

    /// Puts the dead letters `ids` back to be processed, as if just
    /// submitted; returns how many were redriven.
    ///
    /// Errors: [`RedriveError::Closed`] once shutdown was called (first), or
    /// [`RedriveError::NotDeadLettered`] naming the first id not in the
    /// store; then nothing is redriven.
    pub fn redrive(&self, ids: &[MessageId]) -> Result<usize, RedriveError> {
        let front = &self.front;
        if front.closed.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(RedriveError::Closed);
        }
        let mut store = lock(&self.store);
        let present: HashSet<MessageId> = store.iter().map(|d| d.id).collect();
        let mut wanted = Vec::new();
        let mut seen = HashSet::new();
        for &id in ids {
            if seen.insert(id) {
                if !present.contains(&id) {
                    return Err(RedriveError::NotDeadLettered(id));
                }
                wanted.push(id);
            }
        }
        let mut taken: HashMap<MessageId, DeadLetter<T>> = HashMap::new();
        for d in std::mem::take(&mut *store) {
            if seen.contains(&d.id) {
                taken.insert(d.id, d);
            } else {
                store.push(d);
            }
        }
        drop(store);
        let letters = wanted.iter().filter_map(|id| taken.remove(id)).collect();
        Ok(Self::resubmit(front, letters))
    }

    /// Redrives the whole dead-letter store, in its order; returns how many.
    ///
    /// Errors: [`RedriveError::Closed`] once shutdown was called.
    pub fn redrive_all(&self) -> Result<usize, RedriveError> {
        let front = &self.front;
        if front.closed.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(RedriveError::Closed);
        }
        let letters = std::mem::take(&mut *lock(&self.store));
        Ok(Self::resubmit(front, letters))
    }

    fn resubmit(front: &Front<T>, letters: Vec<DeadLetter<T>>) -> usize {
        let n = letters.len();
        for d in letters {
            let _ = front.tx.send(Command::Submit(Item {
                id: d.id,
                payload: d.payload,
                attempt: 1,
                errors: d.errors,
            }));
        }
        n
    }

    /// Stops accepting items and drains; returns once every item accepted
    /// before it has been acknowledged or dead-lettered. Calling it again
    /// (or from several tasks) waits for the same drain.
    pub async fn shutdown(&self) {
        if !self.front.closed.swap(true, std::sync::atomic::Ordering::SeqCst) {
            let _ = self.front.tx.send(Command::Shutdown);
        }
        let mut drained = self.drained.clone();
        let _ = drained.wait_for(|done| *done).await;
    }
}
