//! # Pub/sub broker
//!
//! An in-process publish/subscribe broker on tokio: publishers send messages
//! to topics such as `orders.eu.paid`, subscribers receive the messages whose
//! topic matches their pattern (`orders.*.paid`, `orders.#`), each through a
//! bounded buffer of its own, and a slow subscriber never holds up the
//! publisher or the other subscribers. Read `README.md` beside this file for
//! the problem, then make the specification pass:
//!
//! ```text
//! cargo xtask kata pub-sub
//! ```
//!
//! The spec runs on tokio with a paused clock: a subscriber that sleeps for a
//! second between two reads takes no time at all, and every instant is exact.
//!
//! Words used below: a **topic** is one or more **words** joined by `.`; a
//! **pattern** is the same, except that a word may also be `*` (exactly one
//! word) or `#` (zero or more words). A subscription's **buffer** holds the
//! messages published to it and not yet received, at most `capacity` of
//! them.

// The bodies below are `todo!()`, so their arguments go unused until you
// write them. Delete this line when you are done.
#![allow(unused_variables)]

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

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
    /// new one. The subscriber is told: its next receive returns
    /// [`RecvError::Lagged`] with the number of messages discarded since the
    /// last such report, before the oldest message still in the buffer.
    DropOldest,
    /// The subscription is disconnected: the new message and every later
    /// one are not delivered to it, and the broker forgets it. The
    /// subscriber still receives the messages already in its buffer, in
    /// order, then [`RecvError::Disconnected`].
    Disconnect,
}

/// Bad input to the broker. An error changes nothing: no subscription is
/// made, no message is delivered, discarded or counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PubSubError {
    /// The topic given to [`Broker::publish`] is not a topic: empty, an
    /// empty word (`"orders..paid"`, `".orders"`, `"orders."`), or a word
    /// containing `*` or `#`. Carries the topic as given.
    InvalidTopic(String),
    /// The pattern is malformed: empty, an empty word, or a word that
    /// contains `*` or `#` without being exactly `*` or `#` (`"orders.p*"`,
    /// `"orders.##"`). Carries the pattern as given.
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
    /// ([`Overflow::DropOldest`] only.) This many messages were discarded
    /// from the buffer since the last report (or since subscribing): they
    /// were published after the last message received and before the oldest
    /// one still waiting. Reported once; the next receive goes on with the
    /// buffer.
    Lagged(u64),
    /// ([`Overflow::Disconnect`] only.) The subscription was disconnected
    /// for falling behind, and its buffer is empty. Every later receive
    /// returns this too.
    Disconnected,
    /// The [`Broker`] was dropped, and the buffer is empty. Every later
    /// receive returns this too.
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

/// A parsed topic pattern, AMQP style: words joined by `.`, where `*`
/// matches exactly one word and `#` matches zero or more words. Every other
/// word matches itself only (byte for byte: case matters).
///
/// | pattern | matches | does not match |
/// | --- | --- | --- |
/// | `orders.paid` | `orders.paid` | `orders`, `orders.paid.eu`, `Orders.paid` |
/// | `orders.*` | `orders.paid` | `orders`, `orders.paid.eu` |
/// | `orders.#` | `orders`, `orders.paid`, `orders.paid.eu` | `order`, `shop.orders` |
/// | `#.paid` | `paid`, `orders.paid`, `shop.orders.paid` | `orders.paid.eu` |
/// | `*.*.eu` | `orders.paid.eu` | `orders.eu` |
/// | `#` | every topic | |
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    // Your fields here.
}

impl Pattern {
    /// Parses `pattern`, or [`PubSubError::InvalidPattern`] carrying it
    /// when it is empty, has an empty word, or has a word that contains `*`
    /// or `#` without being exactly `*` or `#`. Never panics.
    pub fn parse(pattern: &str) -> Result<Pattern, PubSubError> {
        todo!("Pattern::parse: split on '.', check every word")
    }

    /// The pattern as it was given to [`Pattern::parse`].
    pub fn as_str(&self) -> &str {
        todo!("Pattern::as_str")
    }

    /// Whether `topic` matches this pattern. A string that is not a valid
    /// topic (see [`PubSubError::InvalidTopic`]) matches no pattern.
    pub fn matches(&self, topic: &str) -> bool {
        todo!("Pattern::matches: `*` is one word, `#` zero or more")
    }
}

/// The broker. Shared between tasks and threads with an `Arc` (it is `Send
/// + Sync` when `T` is `Send`, and the future of [`Broker::publish`] is
/// `Send`); every method takes `&self`.
///
/// Dropping the broker closes every subscription: each still receives what
/// is in its buffer, then [`RecvError::Closed`].
#[derive(Debug)]
pub struct Broker<T> {
    // Your fields here. (`PhantomData` only lets the stub compile: replace
    // it.) You will need a `Drop` impl for the "dropping closes" rule.
    _payload: PhantomData<fn() -> T>,
}

impl<T: Clone + Send + 'static> Default for Broker<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Clone + Send + 'static> Broker<T> {
    /// A broker with no subscriptions.
    pub fn new() -> Self {
        todo!("Broker::new")
    }

    /// Subscribes to every topic that matches `pattern`, from now on
    /// (nothing published before this call is delivered), with a buffer of
    /// at most `capacity` messages and the given overflow policy.
    ///
    /// `capacity` is a limit, not a reservation: `usize::MAX` is allowed and
    /// allocates nothing up front. Errors: [`PubSubError::InvalidPattern`],
    /// then [`PubSubError::ZeroCapacity`] (the pattern is checked first);
    /// on error no subscription is made.
    ///
    /// Dropping the returned [`Subscription`] unsubscribes at once.
    pub fn subscribe(
        &self,
        pattern: &str,
        capacity: usize,
        overflow: Overflow,
    ) -> Result<Subscription<T>, PubSubError> {
        todo!("Broker::subscribe: parse, check, register")
    }

    /// Publishes `payload` to `topic`: every live subscription whose pattern
    /// matches gets a `Message { topic, payload: payload.clone() }` in its
    /// buffer, exactly once, before this call returns. A full buffer is
    /// handled by that subscription's [`Overflow`] policy.
    ///
    /// Returns how many subscriptions the message was put in the buffer of
    /// (not those it disconnected). No subscriber is fine: `Ok(0)`.
    ///
    /// **Never waits**: this future completes the first time it is polled,
    /// whatever the subscribers do (full, slow, never reading, waiting in
    /// `recv`). It is `async` because a broker over the network would wait
    /// here; this one must not. Messages published by one task reach every
    /// subscriber in the order of that task's `publish` calls.
    ///
    /// Errors: [`PubSubError::InvalidTopic`] (then nothing is delivered).
    pub async fn publish(&self, topic: &str, payload: T) -> Result<usize, PubSubError> {
        todo!("Broker::publish: match, push (or overflow), wake")
    }

    /// How many subscriptions are live: made and not yet dropped nor
    /// disconnected.
    pub fn subscriber_count(&self) -> usize {
        todo!("Broker::subscriber_count")
    }
}

/// One subscriber's end: its buffer and its place in the broker. Movable to
/// another task (`Send` when `T` is `Send`, and so is the future of
/// [`Subscription::recv`]: it runs in `tokio::spawn`).
///
/// Dropping it unsubscribes at once: the broker delivers nothing more to it
/// and keeps nothing of it. (You will need a `Drop` impl.)
#[derive(Debug)]
pub struct Subscription<T> {
    // Your fields here. (`PhantomData` only lets the stub compile: replace
    // it.)
    _payload: PhantomData<T>,
}

impl<T: Clone + Send + 'static> Subscription<T> {
    /// The next event for this subscriber, waiting for one if there is
    /// none, in this order of precedence:
    ///
    /// 1. [`RecvError::Lagged`]`(n)` if `n > 0` messages were discarded since
    ///    the last report ([`Overflow::DropOldest`]); the count starts again
    ///    at 0;
    /// 2. otherwise the oldest message in the buffer, removed from it;
    /// 3. otherwise [`RecvError::Disconnected`] if the subscription was
    ///    disconnected, or [`RecvError::Closed`] if the broker was dropped
    ///    (disconnected first wins);
    /// 4. otherwise it waits until one of the above holds.
    ///
    /// Cancel safe: dropping this future before it completes loses nothing
    /// (no message, no lag count), so it can sit in a `tokio::select!`.
    pub async fn recv(&mut self) -> Result<Message<T>, RecvError> {
        todo!("Subscription::recv: try, else wait for a publish (without missing its wake-up)")
    }

    /// Like [`Subscription::recv`], without waiting: `Ok(None)` where `recv`
    /// would wait.
    pub fn try_recv(&mut self) -> Result<Option<Message<T>>, RecvError> {
        todo!("Subscription::try_recv")
    }

    /// The pattern this subscription was made with, as given.
    pub fn pattern(&self) -> &str {
        todo!("Subscription::pattern")
    }
}
