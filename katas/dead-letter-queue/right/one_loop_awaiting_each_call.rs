//! Right answer: one loop that awaits each handler call in turn (a
//! spawned task per call only to catch its panic), retry groups in a
//! `BinaryHeap` of due times, the dead letters in a plain `Vec` searched
//! linearly, and shutdown as a message on the same channel as the items,
//! answered by a `Notify` once the loop has nothing left.
//!
//! Built differently from the reference: calls never overlap (the
//! reference runs them concurrently in a `JoinSet`), nothing is keyed by
//! task id, and the closed state is a flag beside the sender, not a dropped
//! sender.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::error::Error;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};
use tokio::time::Instant;

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

enum Command<T> {
    Item(Pending<T>, Instant),
    Shutdown,
}

struct Pending<T> {
    id: MessageId,
    payload: T,
    tries: u32,
    errors: Vec<String>,
}

struct Store<T> {
    closed: bool,
    next: u64,
    dead: Vec<DeadLetter<T>>,
    done: bool,
}

/// A batch consumer: a background task on the current tokio runtime that
/// batches submitted items, calls the handler, retries failures and keeps the
/// dead letters.
pub struct Consumer<T> {
    store: Arc<Mutex<Store<T>>>,
    tx: UnboundedSender<Command<T>>,
    finished: Arc<Notify>,
}

impl<T> fmt::Debug for Consumer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Consumer").finish_non_exhaustive()
    }
}

type Handler<T> = Arc<
    dyn Fn(Vec<Delivery<T>>) -> std::pin::Pin<Box<dyn Future<Output = Vec<Failure>> + Send>>
        + Send
        + Sync,
>;

impl<T: Clone + Send + 'static> Consumer<T> {
    /// Starts a consumer.
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
        let handler: Handler<T> = Arc::new(move |batch| Box::pin(handler(batch)));
        let (tx, rx) = mpsc::unbounded_channel();
        let (ack_tx, acks) = mpsc::unbounded_channel();
        let store = Arc::new(Mutex::new(Store {
            closed: false,
            next: 0,
            dead: Vec::new(),
            done: false,
        }));
        let finished = Arc::new(Notify::new());
        tokio::spawn(run(
            config,
            handler,
            rx,
            ack_tx,
            Arc::clone(&store),
            Arc::clone(&finished),
        ));
        Ok((
            Consumer {
                store,
                tx,
                finished,
            },
            acks,
        ))
    }

    /// Accepts an item.
    pub fn submit(&self, payload: T) -> Result<MessageId, Closed<T>> {
        let mut store = self.store.lock().unwrap();
        if store.closed {
            return Err(Closed(payload));
        }
        let id = MessageId(store.next);
        store.next += 1;
        let item = Pending {
            id,
            payload,
            tries: 0,
            errors: Vec::new(),
        };
        match self.tx.send(Command::Item(item, Instant::now())) {
            Ok(()) => Ok(id),
            Err(mpsc::error::SendError(Command::Item(item, _))) => Err(Closed(item.payload)),
            Err(_) => unreachable!("an item was sent"),
        }
    }

    /// The dead-letter store.
    pub fn dead_letters(&self) -> Vec<DeadLetter<T>> {
        self.store.lock().unwrap().dead.clone()
    }

    /// Redrives `ids`, all or nothing.
    pub fn redrive(&self, ids: &[MessageId]) -> Result<usize, RedriveError> {
        let mut store = self.store.lock().unwrap();
        if store.closed {
            return Err(RedriveError::Closed);
        }
        for id in ids {
            if !store.dead.iter().any(|d| d.id == *id) {
                return Err(RedriveError::NotDeadLettered(*id));
            }
        }
        let mut seen = HashSet::new();
        let now = Instant::now();
        for id in ids {
            if !seen.insert(*id) {
                continue;
            }
            let at = store
                .dead
                .iter()
                .position(|d| d.id == *id)
                .expect("checked above");
            let letter = store.dead.remove(at);
            let item = Pending {
                id: letter.id,
                payload: letter.payload,
                tries: 0,
                errors: letter.errors,
            };
            let _ = self.tx.send(Command::Item(item, now));
        }
        Ok(seen.len())
    }

    /// Redrives the whole store.
    pub fn redrive_all(&self) -> Result<usize, RedriveError> {
        let ids: Vec<MessageId> = {
            let store = self.store.lock().unwrap();
            if store.closed {
                return Err(RedriveError::Closed);
            }
            store.dead.iter().map(|d| d.id).collect()
        };
        self.redrive(&ids)
    }

    /// Stops accepting and drains.
    pub async fn shutdown(&self) {
        let notified = self.finished.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        {
            let mut store = self.store.lock().unwrap();
            if store.done {
                return;
            }
            if !store.closed {
                store.closed = true;
                let _ = self.tx.send(Command::Shutdown);
            }
        }
        notified.await;
    }
}

fn wait_after(config: &Config, tries: u32) -> Duration {
    let mut wait = config.initial_backoff;
    for _ in 1..tries {
        if wait >= config.max_backoff {
            break;
        }
        wait = wait.saturating_mul(2);
    }
    wait.min(config.max_backoff)
}

async fn run<T: Clone + Send + 'static>(
    config: Config,
    handler: Handler<T>,
    mut rx: UnboundedReceiver<Command<T>>,
    acks: UnboundedSender<MessageId>,
    store: Arc<Mutex<Store<T>>>,
    finished: Arc<Notify>,
) {
    let mut open: Vec<Pending<T>> = Vec::new();
    let mut deadline: Option<Instant> = None;
    let mut retries: BinaryHeap<Reverse<(Instant, u64)>> = BinaryHeap::new();
    let mut groups: std::collections::HashMap<u64, Vec<Pending<T>>> = Default::default();
    let mut seq = 0u64;
    let mut draining = false;
    loop {
        let mut due: Vec<Vec<Pending<T>>> = Vec::new();
        if draining && open.is_empty() && retries.is_empty() {
            break;
        }
        let next_retry = retries.peek().map(|Reverse((at, _))| *at);
        let wake = match (deadline.filter(|_| !open.is_empty()), next_retry) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let command = if draining {
            if let Some(wake) = wake {
                tokio::time::sleep_until(wake).await;
            }
            None
        } else {
            match wake {
                Some(wake) => tokio::select! {
                    biased;
                    c = rx.recv() => Some(c),
                    () = tokio::time::sleep_until(wake) => None,
                },
                None => Some(rx.recv().await),
            }
        };
        match command {
            Some(Some(Command::Item(item, at))) => {
                if open.is_empty() {
                    deadline = at.checked_add(config.linger);
                }
                open.push(item);
                if open.len() >= config.max_items {
                    due.push(std::mem::take(&mut open));
                }
            }
            Some(Some(Command::Shutdown)) | Some(None) => {
                draining = true;
                if !open.is_empty() {
                    due.push(std::mem::take(&mut open));
                }
            }
            None => {}
        }
        let now = Instant::now();
        if !open.is_empty() && deadline.is_some_and(|d| d <= now) {
            due.push(std::mem::take(&mut open));
        }
        while let Some(Reverse((at, key))) = retries.peek().copied() {
            if at > now {
                break;
            }
            retries.pop();
            if let Some(group) = groups.remove(&key) {
                due.push(group);
            }
        }
        for batch in due {
            let deliveries = batch
                .iter()
                .map(|p| Delivery {
                    id: p.id,
                    payload: p.payload.clone(),
                    attempt: p.tries + 1,
                })
                .collect();
            let h = Arc::clone(&handler);
            let outcome = tokio::spawn(async move { h(deliveries).await }).await;
            let failures: Option<Vec<Failure>> = outcome.ok();
            let mut again = Vec::new();
            for mut p in batch {
                let error = match &failures {
                    None => Some(HANDLER_PANICKED.to_string()),
                    Some(list) => list.iter().find(|f| f.id == p.id).map(|f| f.error.clone()),
                };
                let Some(error) = error else {
                    let _ = acks.send(p.id);
                    continue;
                };
                p.tries += 1;
                p.errors.push(error);
                if p.tries >= config.max_attempts {
                    store.lock().unwrap().dead.push(DeadLetter {
                        id: p.id,
                        payload: p.payload,
                        errors: p.errors,
                    });
                } else {
                    again.push(p);
                }
            }
            if let Some(first) = again.first() {
                let now = Instant::now();
                let at = now
                    .checked_add(wait_after(&config, first.tries))
                    .unwrap_or_else(|| now + Duration::from_secs(86_400 * 365 * 30));
                retries.push(Reverse((at, seq)));
                groups.insert(seq, again);
                seq += 1;
            }
        }
    }
    store.lock().unwrap().done = true;
    finished.notify_waiters();
}
