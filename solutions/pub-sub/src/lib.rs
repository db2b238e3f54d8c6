//! Reference solution of the pub-sub kata.
//!
//! One registry of subscriptions behind a `std::sync::Mutex`, and one inbox
//! per subscription: a `VecDeque` bounded by the subscription's capacity
//! behind a mutex of its own, and a `tokio::sync::Notify` that wakes its
//! receiver. `publish` holds the registry lock while it finds the matching
//! subscriptions and pushes into their inboxes: it never awaits, so it never
//! waits on a subscriber, and one lock around the whole delivery gives every
//! subscriber the messages of one publisher in publish order (every
//! publisher's, in fact: one total order). Locks are always taken registry
//! first, then an inbox, and never held across an `.await`.
//!
//! The registry groups subscriptions by pattern: a pattern without
//! wildcards is found with one hash lookup of the topic, and each pattern
//! with wildcards is matched once per publish, however many subscribe to it.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

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
/// buffer already holds `capacity` messages. Chosen at
/// [`Broker::subscribe`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Overflow {
    /// The oldest message in the buffer is discarded to make room for the
    /// new one; the next receive reports the count ([`RecvError::Lagged`]).
    DropOldest,
    /// The subscription is disconnected: it receives its buffer, then
    /// [`RecvError::Disconnected`].
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
    /// The subscription was disconnected for falling behind, and its buffer
    /// is empty.
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

/// Locks `mutex`, going on through a poisoned lock: every critical section
/// below leaves its data consistent before anything in it can panic (a
/// payload's `clone`, at worst, panics before its push).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One word of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Word {
    /// Matches this word only.
    Literal(String),
    /// `*`: exactly one word.
    One,
    /// `#`: zero or more words.
    Any,
}

/// A parsed topic pattern, AMQP style: `*` matches exactly one word, `#`
/// zero or more, any other word itself only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    source: String,
    words: Vec<Word>,
}

/// Whether `topic` is a topic: one or more words, none empty, none with `*`
/// or `#`.
fn is_topic(topic: &str) -> bool {
    topic
        .split('.')
        .all(|word| !word.is_empty() && !word.contains(['*', '#']))
}

/// The matcher's state sets, reused across the patterns of one publish.
#[derive(Debug, Default)]
struct Scratch {
    states: Vec<bool>,
    next: Vec<bool>,
}

impl Pattern {
    /// Parses `pattern`, or [`PubSubError::InvalidPattern`].
    pub fn parse(pattern: &str) -> Result<Pattern, PubSubError> {
        let words = pattern
            .split('.')
            .map(|word| match word {
                "*" => Some(Word::One),
                "#" => Some(Word::Any),
                _ if word.is_empty() || word.contains(['*', '#']) => None,
                _ => Some(Word::Literal(word.to_owned())),
            })
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| PubSubError::InvalidPattern(pattern.to_owned()))?;
        Ok(Pattern {
            source: pattern.to_owned(),
            words,
        })
    }

    /// The pattern as it was given to [`Pattern::parse`].
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether `topic` matches this pattern; an invalid topic matches
    /// nothing.
    pub fn matches(&self, topic: &str) -> bool {
        is_topic(topic) && self.matches_valid(topic, &mut Scratch::default())
    }

    /// Whether the pattern has no wildcard: then it matches one topic, its
    /// own text.
    fn is_exact(&self) -> bool {
        self.words
            .iter()
            .all(|word| matches!(word, Word::Literal(_)))
    }

    /// Whether a valid topic matches: a walk of the pattern as a
    /// nondeterministic automaton, O(pattern words x topic words), where
    /// state `i` means "the first `i` words of the pattern are matched".
    /// (Backtracking on `#` is exponential in the number of `#`s.)
    fn matches_valid(&self, topic: &str, scratch: &mut Scratch) -> bool {
        let n = self.words.len();
        let Scratch { states, next } = scratch;
        states.clear();
        states.resize(n + 1, false);
        states[0] = true;
        self.close(states);
        for word in topic.split('.') {
            next.clear();
            next.resize(n + 1, false);
            for (i, pattern_word) in self.words.iter().enumerate() {
                if !states[i] {
                    continue;
                }
                match pattern_word {
                    Word::Literal(literal) if literal == word => next[i + 1] = true,
                    Word::Literal(_) => {}
                    Word::One => next[i + 1] = true,
                    Word::Any => next[i] = true,
                }
            }
            self.close(next);
            std::mem::swap(states, next);
            if !states.contains(&true) {
                return false;
            }
        }
        states[n]
    }

    /// Adds the states reached by letting each `#` match zero words.
    fn close(&self, states: &mut [bool]) {
        for (i, word) in self.words.iter().enumerate() {
            if states[i] && *word == Word::Any {
                states[i + 1] = true;
            }
        }
    }
}

/// A subscription's buffer and what its receiver must be told.
#[derive(Debug)]
struct Queue<T> {
    buffer: VecDeque<Message<T>>,
    /// Messages discarded since the last `Lagged` report.
    lagged: u64,
    disconnected: bool,
    closed: bool,
}

/// The part of a subscription that the broker and the subscriber share.
#[derive(Debug)]
struct Inbox<T> {
    queue: Mutex<Queue<T>>,
    /// Woken with `notify_one`, which keeps a permit when nobody waits: a
    /// publish between the receiver's look at the queue and its wait is
    /// not missed.
    notify: Notify,
}

impl<T> Inbox<T> {
    /// The next event, if there is one: the precedence of `recv`.
    fn take(&self) -> Option<Result<Message<T>, RecvError>> {
        let mut queue = lock(&self.queue);
        if queue.lagged > 0 {
            return Some(Err(RecvError::Lagged(std::mem::take(&mut queue.lagged))));
        }
        if let Some(message) = queue.buffer.pop_front() {
            return Some(Ok(message));
        }
        if queue.disconnected {
            return Some(Err(RecvError::Disconnected));
        }
        queue.closed.then_some(Err(RecvError::Closed))
    }
}

/// A live subscription, as the broker keeps it.
#[derive(Debug)]
struct Registered<T> {
    id: u64,
    capacity: usize,
    overflow: Overflow,
    inbox: Arc<Inbox<T>>,
}

/// One message on its way: the topic is allocated once, for the first
/// subscriber that gets it, and shared by every copy.
struct Outgoing<'a, T> {
    topic: &'a str,
    shared_topic: Option<Arc<str>>,
    payload: &'a T,
    delivered: usize,
}

impl<T: Clone> Outgoing<'_, T> {
    /// Puts the message in the inbox of each of `subscribers`, by the
    /// overflow rule, and drops the ones it disconnects from the registry
    /// (and from its `live` count, at once: a payload's `clone` that panics
    /// further on leaves the count right).
    fn deliver(&mut self, subscribers: &mut Vec<Registered<T>>, live: &mut usize) {
        subscribers.retain(|sub| {
            let topic = Arc::clone(
                self.shared_topic
                    .get_or_insert_with(|| Arc::from(self.topic)),
            );
            let message = Message {
                topic,
                payload: self.payload.clone(),
            };
            let mut queue = lock(&sub.inbox.queue);
            if queue.buffer.len() >= sub.capacity {
                match sub.overflow {
                    Overflow::DropOldest => {
                        queue.buffer.pop_front();
                        queue.lagged = queue.lagged.saturating_add(1);
                    }
                    Overflow::Disconnect => {
                        queue.disconnected = true;
                        drop(queue);
                        sub.inbox.notify.notify_one();
                        *live -= 1;
                        return false;
                    }
                }
            }
            queue.buffer.push_back(message);
            drop(queue);
            sub.inbox.notify.notify_one();
            self.delivered += 1;
            true
        });
    }
}

/// Every live subscription, grouped by pattern.
#[derive(Debug)]
struct Registry<T> {
    /// Patterns without wildcards, each the one topic it matches.
    exact: HashMap<String, Vec<Registered<T>>>,
    /// Patterns with `*` or `#`, each matched once per publish.
    wildcard: HashMap<String, (Pattern, Vec<Registered<T>>)>,
    live: usize,
    next_id: u64,
}

impl<T> Registry<T> {
    /// Forgets subscription `id` of `pattern`, if it is still registered.
    fn remove(&mut self, pattern: &str, exact: bool, id: u64) {
        let subscribers = if exact {
            self.exact.get_mut(pattern)
        } else {
            self.wildcard
                .get_mut(pattern)
                .map(|(_, subscribers)| subscribers)
        };
        let Some(subscribers) = subscribers else {
            return;
        };
        let Some(index) = subscribers.iter().position(|sub| sub.id == id) else {
            return;
        };
        subscribers.swap_remove(index);
        let now_empty = subscribers.is_empty();
        self.live -= 1;
        if now_empty {
            if exact {
                self.exact.remove(pattern);
            } else {
                self.wildcard.remove(pattern);
            }
        }
    }
}

/// The broker: shared with an `Arc`, every method takes `&self`. Dropping it
/// closes every subscription.
#[derive(Debug)]
pub struct Broker<T> {
    registry: Arc<Mutex<Registry<T>>>,
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
            registry: Arc::new(Mutex::new(Registry {
                exact: HashMap::new(),
                wildcard: HashMap::new(),
                live: 0,
                next_id: 0,
            })),
        }
    }

    /// Subscribes to every topic that matches `pattern`, from now on, with
    /// a buffer of at most `capacity` messages (allocated as it fills).
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
            queue: Mutex::new(Queue {
                buffer: VecDeque::new(),
                lagged: 0,
                disconnected: false,
                closed: false,
            }),
            notify: Notify::new(),
        });
        let exact = pattern.is_exact();
        let source = pattern.source.clone();
        let mut registry = lock(&self.registry);
        let id = registry.next_id;
        registry.next_id += 1;
        registry.live += 1;
        let sub = Registered {
            id,
            capacity,
            overflow,
            inbox: Arc::clone(&inbox),
        };
        if exact {
            registry.exact.entry(source.clone()).or_default().push(sub);
        } else {
            match registry.wildcard.entry(source.clone()) {
                Entry::Occupied(mut entry) => entry.get_mut().1.push(sub),
                Entry::Vacant(entry) => {
                    entry.insert((pattern, vec![sub]));
                }
            }
        }
        Ok(Subscription {
            id,
            pattern: source,
            exact,
            inbox,
            registry: Arc::downgrade(&self.registry),
        })
    }

    /// Puts `Message { topic, payload }` in the buffer of every live
    /// subscription that matches, before returning how many; never awaits.
    pub async fn publish(&self, topic: &str, payload: T) -> Result<usize, PubSubError> {
        self.deliver(topic, &payload)
    }

    fn deliver(&self, topic: &str, payload: &T) -> Result<usize, PubSubError> {
        if !is_topic(topic) {
            return Err(PubSubError::InvalidTopic(topic.to_owned()));
        }
        let mut outgoing = Outgoing {
            topic,
            shared_topic: None,
            payload,
            delivered: 0,
        };
        let mut guard = lock(&self.registry);
        let Registry {
            exact,
            wildcard,
            live,
            ..
        } = &mut *guard;
        if let Some(subscribers) = exact.get_mut(topic) {
            outgoing.deliver(subscribers, live);
            if subscribers.is_empty() {
                exact.remove(topic);
            }
        }
        let mut scratch = Scratch::default();
        let mut emptied = false;
        for (pattern, subscribers) in wildcard.values_mut() {
            if pattern.matches_valid(topic, &mut scratch) {
                outgoing.deliver(subscribers, live);
                emptied |= subscribers.is_empty();
            }
        }
        if emptied {
            wildcard.retain(|_, (_, subscribers)| !subscribers.is_empty());
        }
        Ok(outgoing.delivered)
    }

    /// How many subscriptions are live.
    pub fn subscriber_count(&self) -> usize {
        lock(&self.registry).live
    }
}

impl<T> Drop for Broker<T> {
    /// Closes every subscription: each receives its buffer, then `Closed`.
    fn drop(&mut self) {
        let mut registry = lock(&self.registry);
        let exact = std::mem::take(&mut registry.exact).into_values();
        let wildcard = std::mem::take(&mut registry.wildcard)
            .into_values()
            .map(|(_, subs)| subs);
        for sub in exact.chain(wildcard).flatten() {
            lock(&sub.inbox.queue).closed = true;
            sub.inbox.notify.notify_one();
        }
    }
}

/// One subscriber's end. Dropping it unsubscribes.
#[derive(Debug)]
pub struct Subscription<T> {
    id: u64,
    pattern: String,
    /// Where the registry keeps it: by exact topic, or among the wildcards.
    exact: bool,
    inbox: Arc<Inbox<T>>,
    /// Weak, so that a subscription does not keep a dropped broker's
    /// registry alive.
    registry: Weak<Mutex<Registry<T>>>,
}

impl<T: Clone + Send + 'static> Subscription<T> {
    /// The next event (lag report, message, end), waiting for one.
    /// Cancel safe: the only `.await` is the wait, and an event is taken
    /// from the queue in the same step that returns it.
    pub async fn recv(&mut self) -> Result<Message<T>, RecvError> {
        loop {
            if let Some(event) = self.inbox.take() {
                return event;
            }
            self.inbox.notify.notified().await;
        }
    }

    /// Like [`Subscription::recv`], without waiting.
    pub fn try_recv(&mut self) -> Result<Option<Message<T>>, RecvError> {
        self.inbox.take().transpose()
    }

    /// The pattern this subscription was made with, as given.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }
}

impl<T> Drop for Subscription<T> {
    /// Unsubscribes: the broker forgets the subscription and its inbox.
    fn drop(&mut self) {
        if let Some(registry) = self.registry.upgrade() {
            lock(&registry).remove(&self.pattern, self.exact, self.id);
        }
    }
}
