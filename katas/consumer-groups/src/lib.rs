//! # Consumer groups
//!
//! Redis Streams semantics as a library: an append-only log per stream with
//! `<ms>-<seq>` ids, consumer groups that share the work, a pending-entries
//! list (PEL) per group, acknowledgements, claiming the work of a consumer
//! that went silent, and a dead-letter list for entries that keep failing.
//! Read `README.md` beside this file for the problem, then make the
//! specification pass:
//!
//! ```text
//! cargo xtask kata consumer-groups
//! ```
//!
//! Time is passed in as `now_ms: u64` (milliseconds, as in a Redis id) on
//! every call that needs it: never read the clock inside. The clock may go
//! backwards between two calls, and `u64::MAX` is a legal time.
//!
//! `StreamId`, `Entry`, `ReadFrom`, `PendingEntry`, `Delivery`,
//! `DeadLetter`, `AutoClaim` and `StreamError` are written for you; the
//! state inside `Streams` is yours to design.

// The bodies below are `todo!()`, so their arguments go unused until you
// write them. Delete this line when you are done.
#![allow(unused_variables)]

use std::fmt;

/// The id of a stream entry, `<ms>-<seq>`: the milliseconds of the clock
/// when it was added, then a sequence number that orders entries of the same
/// millisecond. Ids compare by `ms`, then by `seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct StreamId {
    /// Milliseconds (of the injected clock, for an id made by [`Streams::xadd`]).
    pub ms: u64,
    /// The sequence number within `ms`.
    pub seq: u64,
}

impl StreamId {
    /// `0-0`, the smallest id. No entry has it: a stream's first id is
    /// greater. As a cursor it means "from the start" (and, returned by
    /// [`Streams::xautoclaim`], "the scan is complete").
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    /// `u64::MAX-u64::MAX`, the largest id.
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    /// The id `<ms>-<seq>`.
    pub const fn new(ms: u64, seq: u64) -> Self {
        StreamId { ms, seq }
    }
}

impl fmt::Display for StreamId {
    /// `1700000000000-0`, as Redis writes it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// One entry of a stream: its id and its field-value pairs, in the order
/// they were given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The entry's id.
    pub id: StreamId,
    /// The field-value pairs given to `xadd` (may be empty).
    pub fields: Vec<(String, String)>,
}

/// Which entries [`Streams::xreadgroup`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadFrom {
    /// Redis's `>`: entries never delivered to anyone in the group, that is
    /// with an id greater than the group's last delivered id.
    New,
    /// Redis's `0` (or any id): this consumer's own pending entries with an
    /// id strictly greater than the one given, as a consumer re-reads its
    /// unacknowledged work after a restart. `Pending(StreamId::MIN)` reads
    /// them all.
    Pending(StreamId),
}

/// An entry delivered to a consumer of a group and not acknowledged yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingEntry {
    /// The entry's id.
    pub id: StreamId,
    /// The consumer that holds it now (the one it was last delivered to).
    pub consumer: String,
    /// How many times it has been delivered: 1 after its first read, one
    /// more per re-read of the consumer's pending entries and per claim.
    pub deliveries: u32,
    /// `now_ms` of its last delivery. Its idle time at `now` is
    /// `now - last_delivered_ms`, or 0 if the clock has gone backwards.
    pub last_delivered_ms: u64,
}

/// One delivery of an entry: to whom and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The consumer it was delivered to.
    pub consumer: String,
    /// `now_ms` of the call that delivered it.
    pub at_ms: u64,
}

/// An entry taken out of a group's pending list because it would have been
/// delivered more than the group's `max_deliveries` times, with its history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The entry, id and fields, as it stands in its stream (where it stays).
    pub entry: Entry,
    /// Every delivery it had in this group, oldest first: as many as the
    /// group's `max_deliveries`.
    pub deliveries: Vec<Delivery>,
    /// `now_ms` of the call that moved it here.
    pub dead_at_ms: u64,
}

/// What [`Streams::xautoclaim`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutoClaim {
    /// Where the next call should start: the id of the first entry still
    /// pending after the last one this call examined, or [`StreamId::MIN`]
    /// if the scan reached the end of the pending list.
    pub next: StreamId,
    /// The entries now held by the claiming consumer, in id order.
    pub claimed: Vec<Entry>,
    /// The ids moved to the dead letters instead, in id order.
    pub dead_lettered: Vec<StreamId>,
}

/// Why a call was refused. A refused call changes nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamError {
    /// No entry was ever added to this stream.
    UnknownStream {
        /// The stream named.
        stream: String,
    },
    /// The stream has no group of this name.
    UnknownGroup {
        /// The stream named.
        stream: String,
        /// The group named.
        group: String,
    },
    /// `xgroup_create` of a group that exists already.
    GroupExists {
        /// The stream named.
        stream: String,
        /// The group named.
        group: String,
    },
    /// An explicit id not greater than the stream's last id (which is `0-0`
    /// for a stream with no entry yet, so `0-0` itself is always refused).
    IdNotGreater {
        /// The id given.
        id: StreamId,
        /// The stream's last id.
        last: StreamId,
    },
    /// `xadd` on a stream whose last id is [`StreamId::MAX`]: there is no
    /// greater id to give.
    IdExhausted {
        /// The stream named.
        stream: String,
    },
    /// A group's start id beyond the stream's last id.
    IdOutOfRange {
        /// The id given.
        id: StreamId,
        /// The stream's last id.
        last: StreamId,
    },
    /// A `count` of 0.
    ZeroCount,
    /// A group's `max_deliveries` of 0.
    ZeroMaxDeliveries,
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StreamError::UnknownStream { stream } => write!(f, "no such stream: {stream}"),
            StreamError::UnknownGroup { stream, group } => {
                write!(f, "no group {group} on stream {stream}")
            }
            StreamError::GroupExists { stream, group } => {
                write!(f, "group {group} exists already on stream {stream}")
            }
            StreamError::IdNotGreater { id, last } => write!(
                f,
                "the id {id} is equal or smaller than the stream's last id {last}"
            ),
            StreamError::IdExhausted { stream } => {
                write!(
                    f,
                    "stream {stream} has used every id up to {}",
                    StreamId::MAX
                )
            }
            StreamError::IdOutOfRange { id, last } => {
                write!(f, "the id {id} is beyond the stream's last id {last}")
            }
            StreamError::ZeroCount => write!(f, "count must be at least 1"),
            StreamError::ZeroMaxDeliveries => write!(f, "max_deliveries must be at least 1"),
        }
    }
}

impl std::error::Error for StreamError {}

/// Streams, their consumer groups, pending lists and dead letters.
///
/// Arguments are checked in this order: the stream exists, the group
/// exists, then the rest (ids, counts). Every refused call returns its
/// [`StreamError`] and changes nothing: no entry added, no id used up, no
/// delivery counted, nothing acknowledged, claimed or dead-lettered.
#[derive(Debug, Default)]
pub struct Streams {
    // Your fields here. Per stream: its entries in id order and its last id.
    // Per group: the last delivered id, the pending entries (who holds each,
    // how often and when it was delivered), the dead letters.
}

impl Streams {
    /// No streams.
    pub fn new() -> Self {
        todo!("Streams::new")
    }

    /// Appends an entry to `stream` (creating the stream) with the next id
    /// and returns that id: the greater of `<now_ms>-0` and the id just
    /// after the stream's last id (`<ms>-<seq + 1>`, or `<ms + 1>-0` when
    /// `seq` is `u64::MAX`). So ids stay strictly increasing when the clock
    /// stands still or goes backwards.
    ///
    /// Errors: [`StreamError::IdExhausted`] when the last id is
    /// [`StreamId::MAX`].
    pub fn xadd(
        &mut self,
        stream: &str,
        fields: &[(&str, &str)],
        now_ms: u64,
    ) -> Result<StreamId, StreamError> {
        todo!("Streams::xadd: max(<now_ms>-0, successor of the last id); MAX-MAX has no successor")
    }

    /// Appends an entry with an explicit `id` (creating the stream) and
    /// returns it, as `XADD key <ms>-<seq>` does.
    ///
    /// Errors: [`StreamError::IdNotGreater`] unless `id` is greater than the
    /// stream's last id (`0-0` for a new stream).
    pub fn xadd_with_id(
        &mut self,
        stream: &str,
        id: StreamId,
        fields: &[(&str, &str)],
    ) -> Result<StreamId, StreamError> {
        todo!("Streams::xadd_with_id: only an id greater than the last one")
    }

    /// How many entries `stream` holds.
    ///
    /// Errors: [`StreamError::UnknownStream`].
    pub fn xlen(&self, stream: &str) -> Result<usize, StreamError> {
        todo!("Streams::xlen")
    }

    /// The id of the last entry added to `stream`.
    ///
    /// Errors: [`StreamError::UnknownStream`].
    pub fn last_id(&self, stream: &str) -> Result<StreamId, StreamError> {
        todo!("Streams::last_id")
    }

    /// At most `count` entries with `start <= id <= end`, in id order
    /// (none when `start > end`). Groups are not involved: nothing is
    /// delivered.
    ///
    /// Errors: [`StreamError::UnknownStream`], [`StreamError::ZeroCount`].
    pub fn xrange(
        &self,
        stream: &str,
        start: StreamId,
        end: StreamId,
        count: usize,
    ) -> Result<Vec<Entry>, StreamError> {
        todo!("Streams::xrange: a range query on the entries, in id order")
    }

    /// Creates the consumer group `group` on `stream`, whose last delivered
    /// id is `last_delivered`: [`StreamId::MIN`] to read the stream from its
    /// start, the stream's [`last_id`](Self::last_id) for new entries only
    /// (Redis's `$`). An entry is delivered at most `max_deliveries` times
    /// in this group; see [`xreadgroup`](Self::xreadgroup) and
    /// [`xautoclaim`](Self::xautoclaim) for what happens instead.
    ///
    /// Errors: [`StreamError::UnknownStream`], [`StreamError::GroupExists`],
    /// [`StreamError::IdOutOfRange`] when `last_delivered` is beyond the
    /// stream's last id, [`StreamError::ZeroMaxDeliveries`].
    pub fn xgroup_create(
        &mut self,
        stream: &str,
        group: &str,
        last_delivered: StreamId,
        max_deliveries: u32,
    ) -> Result<(), StreamError> {
        todo!("Streams::xgroup_create")
    }

    /// Reads entries as `consumer` of `group` (a consumer exists from its
    /// first use; any name will do) and returns them in id order.
    ///
    /// - [`ReadFrom::New`]: at most `count` entries with ids greater than
    ///   the group's last delivered id. Each becomes pending, held by
    ///   `consumer`, with 1 delivery at `now_ms`; the group's last delivered
    ///   id moves to the last one returned. No entry is ever delivered as
    ///   new twice in a group.
    /// - [`ReadFrom::Pending`]: `consumer`'s own pending entries with ids
    ///   greater than the one given, in id order, until `count` entries are
    ///   handled. Each is a new delivery: its delivery count goes up by one
    ///   and its last delivery time becomes `now_ms`. An entry that has had
    ///   `max_deliveries` already is not returned: it leaves the pending
    ///   list for the group's [`dead_letters`](Self::dead_letters) (it
    ///   counts towards `count` all the same).
    ///
    /// Errors: [`StreamError::UnknownStream`], [`StreamError::UnknownGroup`],
    /// [`StreamError::ZeroCount`].
    pub fn xreadgroup(
        &mut self,
        stream: &str,
        group: &str,
        consumer: &str,
        from: ReadFrom,
        count: usize,
        now_ms: u64,
    ) -> Result<Vec<Entry>, StreamError> {
        todo!(
            "Streams::xreadgroup: new entries after the group's cursor, or this consumer's pending ones"
        )
    }

    /// Acknowledges `ids` in `group`: each one pending in the group (held
    /// by any consumer) leaves the pending list for good. Returns how many
    /// were pending; an id not pending (never delivered, acked already,
    /// dead-lettered, or not in the stream at all) is ignored, and an id
    /// given twice counts once.
    ///
    /// Errors: [`StreamError::UnknownStream`], [`StreamError::UnknownGroup`].
    pub fn xack(
        &mut self,
        stream: &str,
        group: &str,
        ids: &[StreamId],
    ) -> Result<usize, StreamError> {
        todo!("Streams::xack: remove from the pending list; count what was there")
    }

    /// Takes over the work of consumers that went silent: scans `group`'s
    /// pending entries in id order from `start` (inclusive) and handles
    /// the first `count` that are *idle*, whoever holds them: pending for
    /// `now_ms - last_delivered_ms >= min_idle_ms` (an idle time of 0 when
    /// the clock has gone backwards). Each handled entry is either
    ///
    /// - claimed: now held by `consumer` (its own holder included), one
    ///   more delivery at `now_ms`, returned in [`AutoClaim::claimed`]; or
    /// - dead-lettered, if it has had `max_deliveries` already: it leaves
    ///   the pending list for the group's [`dead_letters`](Self::dead_letters),
    ///   its id in [`AutoClaim::dead_lettered`].
    ///
    /// Entries not idle are skipped and left as they are. The walk stops
    /// after the `count`-th idle entry, or at the end of the pending list;
    /// [`AutoClaim::next`] is the cursor for the next call (see there).
    ///
    /// Errors: [`StreamError::UnknownStream`], [`StreamError::UnknownGroup`],
    /// [`StreamError::ZeroCount`].
    #[allow(clippy::too_many_arguments)]
    pub fn xautoclaim(
        &mut self,
        stream: &str,
        group: &str,
        consumer: &str,
        min_idle_ms: u64,
        start: StreamId,
        count: usize,
        now_ms: u64,
    ) -> Result<AutoClaim, StreamError> {
        todo!(
            "Streams::xautoclaim: walk the pending list from start; claim or dead-letter idle entries"
        )
    }

    /// Every pending entry of `group`, in id order.
    ///
    /// Errors: [`StreamError::UnknownStream`], [`StreamError::UnknownGroup`].
    pub fn xpending(&self, stream: &str, group: &str) -> Result<Vec<PendingEntry>, StreamError> {
        todo!("Streams::xpending")
    }

    /// The dead letters of `group`, oldest first (several moved by one call
    /// in id order): every entry that left the pending list because it
    /// would have been delivered more than `max_deliveries` times, with its
    /// deliveries.
    ///
    /// Errors: [`StreamError::UnknownStream`], [`StreamError::UnknownGroup`].
    pub fn dead_letters(&self, stream: &str, group: &str) -> Result<Vec<DeadLetter>, StreamError> {
        todo!("Streams::dead_letters")
    }
}
