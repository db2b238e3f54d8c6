//! # Pub/sub broker (blind red team's correct answer)
//!
//! Design: one registry (`HashMap<id, Entry>`) behind a `std::sync::Mutex`,
//! each entry holding a shared inbox (`VecDeque` + lag counter + disconnected
//! flag behind a mutex of its own, and a `tokio::sync::Notify`). `publish` is
//! synchronous inside: it validates, locks the registry, and for every
//! matching entry pushes (or drops the oldest / disconnects) and calls
//! `notify_one` (which stores a permit when nobody waits). The broker's
//! closing is one `AtomicBool` shared with every subscription.
//!
//! Matching is a set-of-states simulation over the pattern's words
//! (O(pattern words x topic words) time, O(pattern words) memory, no
//! recursion), so no pattern/topic pair can blow up the publisher's time or
//! stack.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;

/// A message as a subscriber receives it: the topic it was published to
/// (not the subscriber's pattern) and a clone of its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message<T> {
    /// The exact topic given to [`Broker::publish`].
    pub topic: Arc<str>,
    /// A clone of the payload given to [`Broker::publish`].
    pub payload: T,
}

/// What happens when a matching message is published to a subscription whose
/// buffer already holds `capacity` messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Overflow {
    /// The oldest message in the buffer is discarded to make room for the
    /// new one; the next receive reports [`RecvError::Lagged`].
    DropOldest,
    /// The subscription is disconnected.
    Disconnect,
}

/// Bad input to the broker. An error changes nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PubSubError {
    /// The topic given to [`Broker::publish`] is not a topic.
    InvalidTopic(String),
    /// The pattern is malformed.
    InvalidPattern(String),
    /// A subscription's capacity must be at least 1.
    ZeroCapacity,
}

impl fmt::Display for PubSubError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PubSubError::InvalidTopic(topic) => write!(f, "invalid topic {topic:?}"),
            PubSubError::InvalidPattern(pattern) => write!(f, "invalid pattern {pattern:?}"),
            PubSubError::ZeroCapacity => write!(f, "a subscription's capacity must be at least 1"),
        }
    }
}

impl std::error::Error for PubSubError {}

/// Why a receive returned no message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecvError {
    /// This many messages were discarded since the last report.
    Lagged(u64),
    /// The subscription was disconnected for falling behind, buffer empty.
    Disconnected,
    /// The [`Broker`] was dropped, and the buffer is empty.
    Closed,
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecvError::Lagged(n) => write!(f, "lagged: {n} messages discarded"),
            RecvError::Disconnected => write!(f, "disconnected for falling behind"),
            RecvError::Closed => write!(f, "the broker is closed"),
        }
    }
}

impl std::error::Error for RecvError {}

/// Locks a mutex, ignoring poisoning: every critical section below leaves
/// its data consistent at every point a user's code (a payload's `Clone`)
/// can panic, so a panic elsewhere must not brick the broker.
fn lock<X>(m: &Mutex<X>) -> MutexGuard<'_, X> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One word of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Word {
    /// Matches itself, byte for byte.
    Literal(Box<str>),
    /// `*`: exactly one word.
    One,
    /// `#`: zero or more words.
    Many,
}

/// Whether `topic` is a topic: one or more non-empty words joined by `.`,
/// none containing `*` or `#`.
fn is_valid_topic(topic: &str) -> bool {
    !topic.is_empty()
        && topic
            .split('.')
            .all(|w| !w.is_empty() && !w.contains(['*', '#']))
}

/// Whether the pattern `words` matches the (valid) topic: a simulation of the
/// pattern as a nondeterministic automaton, one state per position in the
/// pattern, the set of live states kept in a bit vector.
fn words_match(words: &[Word], topic: &str) -> bool {
    let n = words.len();
    let mut live = vec![false; n + 1];
    let mut next = vec![false; n + 1];
    live[0] = true;
    close_over_many(words, &mut live);
    for t in topic.split('.') {
        next.iter_mut().for_each(|b| *b = false);
        let mut any = false;
        for i in 0..n {
            if !live[i] {
                continue;
            }
            match &words[i] {
                Word::Many => {
                    next[i] = true;
                    any = true;
                }
                Word::One => {
                    next[i + 1] = true;
                    any = true;
                }
                Word::Literal(l) => {
                    if **l == *t {
                        next[i + 1] = true;
                        any = true;
                    }
                }
            }
        }
        if !any {
            return false;
        }
        close_over_many(words, &mut next);
        std::mem::swap(&mut live, &mut next);
    }
    live[n]
}

/// A `#` may match zero words: a live state before it makes the state after
/// it live too.
fn close_over_many(words: &[Word], live: &mut [bool]) {
    for i in 0..words.len() {
        if live[i] && words[i] == Word::Many {
            live[i + 1] = true;
        }
    }
}

/// A parsed topic pattern, AMQP style.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    raw: String,
    words: Vec<Word>,
}

impl Pattern {
    /// Parses `pattern`, or [`PubSubError::InvalidPattern`] carrying it.
    pub fn parse(pattern: &str) -> Result<Pattern, PubSubError> {
        let invalid = || PubSubError::InvalidPattern(pattern.to_owned());
        if pattern.is_empty() {
            return Err(invalid());
        }
        let mut words = Vec::new();
        for w in pattern.split('.') {
            let word = match w {
                "" => return Err(invalid()),
                "*" => Word::One,
                "#" => Word::Many,
                _ if w.contains(['*', '#']) => return Err(invalid()),
                _ => Word::Literal(w.into()),
            };
            words.push(word);
        }
        Ok(Pattern {
            raw: pattern.to_owned(),
            words,
        })
    }

    /// The pattern as it was given to [`Pattern::parse`].
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// Whether `topic` matches this pattern; an invalid topic matches none.
    pub fn matches(&self, topic: &str) -> bool {
        is_valid_topic(topic) && words_match(&self.words, topic)
    }
}

/// What one subscription's buffer holds, behind the inbox's mutex.
struct InboxState<T> {
    buffer: VecDeque<Message<T>>,
    lagged: u64,
    disconnected: bool,
}

/// A subscription's inbox, shared by the broker's registry and the
/// subscription.
struct Inbox<T> {
    state: Mutex<InboxState<T>>,
    notify: Notify,
}

/// A subscription as the broker knows it.
struct Entry<T> {
    pattern: Pattern,
    capacity: usize,
    overflow: Overflow,
    inbox: Arc<Inbox<T>>,
}

struct Registry<T> {
    next_id: u64,
    entries: HashMap<u64, Entry<T>>,
}

struct Shared<T> {
    registry: Mutex<Registry<T>>,
    closed: AtomicBool,
}

/// The broker.
pub struct Broker<T> {
    shared: Arc<Shared<T>>,
}

impl<T> fmt::Debug for Broker<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Broker")
            .field("subscribers", &lock(&self.shared.registry).entries.len())
            .finish()
    }
}

impl<T: Clone + Send + 'static> Default for Broker<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Clone + Send + 'static> Broker<T> {
    /// A broker with no subscriptions.
    pub fn new() -> Self {
        Broker {
            shared: Arc::new(Shared {
                registry: Mutex::new(Registry {
                    next_id: 0,
                    entries: HashMap::new(),
                }),
                closed: AtomicBool::new(false),
            }),
        }
    }

    /// Subscribes to every topic that matches `pattern`, from now on.
    pub fn subscribe(
        &self,
        pattern: &str,
        capacity: usize,
        overflow: Overflow,
    ) -> Result<Subscription<T>, PubSubError> {
        let pattern = Pattern::parse(pattern)?;
        if capacity == 0 {
            return Err(PubSubError::ZeroCapacity);
        }
        let inbox = Arc::new(Inbox {
            state: Mutex::new(InboxState {
                buffer: VecDeque::new(),
                lagged: 0,
                disconnected: false,
            }),
            notify: Notify::new(),
        });
        let mut registry = lock(&self.shared.registry);
        let id = registry.next_id;
        registry.next_id += 1;
        registry.entries.insert(
            id,
            Entry {
                pattern: pattern.clone(),
                capacity,
                overflow,
                inbox: Arc::clone(&inbox),
            },
        );
        drop(registry);
        Ok(Subscription {
            id,
            pattern,
            inbox,
            shared: Arc::clone(&self.shared),
        })
    }

    /// Publishes `payload` to `topic`; never waits.
    pub async fn publish(&self, topic: &str, payload: T) -> Result<usize, PubSubError> {
        self.deliver(topic, payload)
    }

    /// The whole of `publish`, synchronous: it cannot wait on anyone.
    fn deliver(&self, topic: &str, payload: T) -> Result<usize, PubSubError> {
        if !is_valid_topic(topic) {
            return Err(PubSubError::InvalidTopic(topic.to_owned()));
        }
        let topic: Arc<str> = Arc::from(topic);
        let mut delivered = 0;
        let mut registry = lock(&self.shared.registry);
        registry.entries.retain(|_, entry| {
            if !words_match(&entry.pattern.words, &topic) {
                return true;
            }
            // Cloned before the inbox is locked: a panicking `Clone` leaves
            // this inbox as it was.
            let message = Message {
                topic: Arc::clone(&topic),
                payload: payload.clone(),
            };
            let mut state = lock(&entry.inbox.state);
            if state.buffer.len() >= entry.capacity {
                match entry.overflow {
                    Overflow::DropOldest => {
                        state.buffer.pop_front();
                        state.lagged = state.lagged.saturating_add(1);
                    }
                    Overflow::Disconnect => {
                        state.disconnected = true;
                        drop(state);
                        entry.inbox.notify.notify_one();
                        return false;
                    }
                }
            }
            state.buffer.push_back(message);
            drop(state);
            entry.inbox.notify.notify_one();
            delivered += 1;
            true
        });
        Ok(delivered)
    }

    /// How many subscriptions are live.
    pub fn subscriber_count(&self) -> usize {
        lock(&self.shared.registry).entries.len()
    }
}

impl<T> Drop for Broker<T> {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::SeqCst);
        let entries = std::mem::take(&mut lock(&self.shared.registry).entries);
        for entry in entries.into_values() {
            entry.inbox.notify.notify_one();
        }
    }
}

/// One subscriber's end: its buffer and its place in the broker.
pub struct Subscription<T> {
    id: u64,
    pattern: Pattern,
    inbox: Arc<Inbox<T>>,
    shared: Arc<Shared<T>>,
}

impl<T> fmt::Debug for Subscription<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("id", &self.id)
            .field("pattern", &self.pattern.as_str())
            .finish()
    }
}

impl<T: Clone + Send + 'static> Subscription<T> {
    /// The next event for this subscriber, waiting for one if there is none.
    /// Cancel safe.
    pub async fn recv(&mut self) -> Result<Message<T>, RecvError> {
        loop {
            // Made before looking: a `notify_one` from now on is kept for it
            // (as a permit if it is not yet polled).
            let notified = self.inbox.notify.notified();
            if let Some(event) = self.take() {
                return event;
            }
            notified.await;
        }
    }

    /// Like [`Subscription::recv`], without waiting.
    pub fn try_recv(&mut self) -> Result<Option<Message<T>>, RecvError> {
        self.take().transpose()
    }

    /// The pattern this subscription was made with, as given.
    pub fn pattern(&self) -> &str {
        self.pattern.as_str()
    }

    /// The next event if there is one, taken in one synchronous step.
    fn take(&self) -> Option<Result<Message<T>, RecvError>> {
        let mut state = lock(&self.inbox.state);
        if state.lagged > 0 {
            return Some(Err(RecvError::Lagged(std::mem::take(&mut state.lagged))));
        }
        if let Some(message) = state.buffer.pop_front() {
            return Some(Ok(message));
        }
        if state.disconnected {
            return Some(Err(RecvError::Disconnected));
        }
        if self.shared.closed.load(Ordering::SeqCst) {
            return Some(Err(RecvError::Closed));
        }
        None
    }
}

impl<T> Drop for Subscription<T> {
    fn drop(&mut self) {
        lock(&self.shared.registry).entries.remove(&self.id);
    }
}
