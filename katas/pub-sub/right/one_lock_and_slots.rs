//! A right answer built differently from the reference: one mutex around the
//! whole broker (every subscription's buffer lives in a slot of one `Vec`,
//! reused through a free list), a subscription that keeps the shared state
//! alive with a strong `Arc` (the broker's drop only sets a flag), a
//! disconnected subscription whose slot stays until its handle is dropped,
//! an iterative two-pointer glob matcher instead of an automaton, and waiting through
//! `Notify::notify_waiters` with `Notified::enable` instead of
//! `notify_one`'s stored permit.

use std::collections::VecDeque;
use std::fmt;
use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;

/// A message as a subscriber receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message<T> {
    /// The exact topic given to [`Broker::publish`].
    pub topic: Arc<str>,
    /// A clone of the payload given to [`Broker::publish`].
    pub payload: T,
}

/// What a full buffer does with one more message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Overflow {
    /// Discard the oldest, report the count.
    DropOldest,
    /// Disconnect the subscriber.
    Disconnect,
}

/// Bad input to the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PubSubError {
    /// Not a topic.
    InvalidTopic(String),
    /// Not a pattern.
    InvalidPattern(String),
    /// Capacity 0.
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
    /// Messages discarded since the last report.
    Lagged(u64),
    /// Disconnected for falling behind, buffer empty.
    Disconnected,
    /// The broker was dropped, buffer empty.
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

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn is_topic_word(word: &str) -> bool {
    !word.is_empty() && !word.contains(['*', '#'])
}

fn is_topic(topic: &str) -> bool {
    topic.split('.').all(is_topic_word)
}

/// A parsed pattern: its text, split again at each match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    source: String,
}

/// Word-level glob matching, iteratively: `#` is glob's `*`, `*` is glob's
/// `?`. On a mismatch, only the last `#` seen needs to take one more word
/// (the classic two-pointer wildcard algorithm): O(pattern x topic) at
/// worst, no recursion.
fn glob(pattern: &[&str], topic: &[&str]) -> bool {
    let (mut i, mut j) = (0, 0);
    // The last `#` seen, and the topic index its next attempt starts from.
    let mut last_hash: Option<(usize, usize)> = None;
    while j < topic.len() {
        if pattern.get(i) == Some(&"#") {
            last_hash = Some((i, j));
            i += 1;
        } else if pattern.get(i).is_some_and(|w| *w == "*" || *w == topic[j]) {
            i += 1;
            j += 1;
        } else if let Some((hash, from)) = last_hash {
            i = hash + 1;
            j = from + 1;
            last_hash = Some((hash, from + 1));
        } else {
            return false;
        }
    }
    pattern[i..].iter().all(|w| *w == "#")
}

impl Pattern {
    /// Parses a pattern.
    pub fn parse(pattern: &str) -> Result<Pattern, PubSubError> {
        if pattern
            .split('.')
            .all(|w| w == "*" || w == "#" || is_topic_word(w))
        {
            Ok(Pattern {
                source: pattern.to_owned(),
            })
        } else {
            Err(PubSubError::InvalidPattern(pattern.to_owned()))
        }
    }

    /// The pattern as given.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether `topic` matches.
    pub fn matches(&self, topic: &str) -> bool {
        if !is_topic(topic) {
            return false;
        }
        let pattern: Vec<&str> = self.source.split('.').collect();
        let topic: Vec<&str> = topic.split('.').collect();
        glob(&pattern, &topic)
    }
}

#[derive(Debug)]
struct Slot<T> {
    pattern: Pattern,
    capacity: usize,
    overflow: Overflow,
    buffer: VecDeque<Message<T>>,
    lagged: u64,
    disconnected: bool,
    notify: Arc<Notify>,
}

#[derive(Debug)]
struct State<T> {
    slots: Vec<Option<Slot<T>>>,
    free: Vec<usize>,
    live: usize,
    closed: bool,
}

type Shared<T> = Arc<Mutex<State<T>>>;

/// The broker.
#[derive(Debug)]
pub struct Broker<T> {
    shared: Shared<T>,
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
            shared: Arc::new(Mutex::new(State {
                slots: Vec::new(),
                free: Vec::new(),
                live: 0,
                closed: false,
            })),
        }
    }

    /// Subscribes.
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
        let notify = Arc::new(Notify::new());
        let slot = Slot {
            pattern: pattern.clone(),
            capacity,
            overflow,
            buffer: VecDeque::new(),
            lagged: 0,
            disconnected: false,
            notify: Arc::clone(&notify),
        };
        let mut state = lock(&self.shared);
        let index = match state.free.pop() {
            Some(index) => {
                state.slots[index] = Some(slot);
                index
            }
            None => {
                state.slots.push(Some(slot));
                state.slots.len() - 1
            }
        };
        state.live += 1;
        Ok(Subscription {
            shared: Arc::clone(&self.shared),
            index,
            notify,
            pattern,
        })
    }

    /// Publishes; never awaits.
    pub async fn publish(&self, topic: &str, payload: T) -> Result<usize, PubSubError> {
        if !is_topic(topic) {
            return Err(PubSubError::InvalidTopic(topic.to_owned()));
        }
        let shared_topic: Arc<str> = Arc::from(topic);
        let mut delivered = 0;
        let mut state = lock(&self.shared);
        let mut disconnected = 0;
        for slot in state.slots.iter_mut().flatten() {
            if slot.disconnected || !slot.pattern.matches(topic) {
                continue;
            }
            if slot.buffer.len() >= slot.capacity {
                if slot.overflow == Overflow::Disconnect {
                    slot.disconnected = true;
                    disconnected += 1;
                    slot.notify.notify_waiters();
                    continue;
                }
                slot.buffer.pop_front();
                slot.lagged += 1;
            }
            slot.buffer.push_back(Message {
                topic: Arc::clone(&shared_topic),
                payload: payload.clone(),
            });
            slot.notify.notify_waiters();
            delivered += 1;
        }
        state.live -= disconnected;
        Ok(delivered)
    }

    /// Live subscriptions.
    pub fn subscriber_count(&self) -> usize {
        lock(&self.shared).live
    }
}

impl<T> Drop for Broker<T> {
    fn drop(&mut self) {
        let mut state = lock(&self.shared);
        state.closed = true;
        for slot in state.slots.iter().flatten() {
            slot.notify.notify_waiters();
        }
    }
}

/// One subscriber's end.
#[derive(Debug)]
pub struct Subscription<T> {
    shared: Shared<T>,
    index: usize,
    notify: Arc<Notify>,
    pattern: Pattern,
}

impl<T: Clone + Send + 'static> Subscription<T> {
    fn take(&self) -> Option<Result<Message<T>, RecvError>> {
        let mut state = lock(&self.shared);
        let closed = state.closed;
        let slot = state.slots[self.index].as_mut()?;
        if slot.lagged > 0 {
            return Some(Err(RecvError::Lagged(std::mem::take(&mut slot.lagged))));
        }
        if let Some(message) = slot.buffer.pop_front() {
            return Some(Ok(message));
        }
        if slot.disconnected {
            Some(Err(RecvError::Disconnected))
        } else if closed {
            Some(Err(RecvError::Closed))
        } else {
            None
        }
    }

    /// The next event, waiting for one.
    pub async fn recv(&mut self) -> Result<Message<T>, RecvError> {
        let notify = Arc::clone(&self.notify);
        loop {
            let mut notified = pin!(notify.notified());
            notified.as_mut().enable();
            if let Some(event) = self.take() {
                return event;
            }
            notified.await;
        }
    }

    /// The next event, without waiting.
    pub fn try_recv(&mut self) -> Result<Option<Message<T>>, RecvError> {
        self.take().transpose()
    }

    /// The pattern as given.
    pub fn pattern(&self) -> &str {
        self.pattern.as_str()
    }
}

impl<T> Drop for Subscription<T> {
    fn drop(&mut self) {
        let mut state = lock(&self.shared);
        if let Some(slot) = state.slots[self.index].take() {
            if !slot.disconnected {
                state.live -= 1;
            }
            state.free.push(self.index);
        }
    }
}
