//! Reference solution of the consumer-groups kata: Redis Streams semantics
//! as a library.
//!
//! Every collection that is searched is ordered: a stream's entries and a
//! group's pending list are `BTreeMap`s keyed by id, and each consumer's own
//! pending ids are a `BTreeSet`. So every operation costs O(log n) per entry
//! it handles (n the size of the stream or of the pending list), reads take
//! a range and stop after `count`, and nothing scans or copies a whole
//! stream. Group and stream names are looked up in `HashMap`s.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::ops::Bound::{Excluded, Included, Unbounded};

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

    /// The smallest id greater than this one, if there is one.
    fn successor(self) -> Option<StreamId> {
        match self.seq.checked_add(1) {
            Some(seq) => Some(StreamId::new(self.ms, seq)),
            None => self.ms.checked_add(1).map(|ms| StreamId::new(ms, 0)),
        }
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

/// A stream's entries, in id order.
type Entries = BTreeMap<StreamId, Vec<(String, String)>>;

/// One stream: its entries in id order, its last id and its groups.
#[derive(Debug, Default)]
struct Stream {
    entries: Entries,
    /// The greatest id ever added (entries are never deleted, so this is the
    /// last key of `entries`, or `0-0` before the first entry).
    last: StreamId,
    groups: HashMap<String, Group>,
}

/// The entry `id` of `entries`, copied out.
fn entry(entries: &Entries, id: StreamId) -> Entry {
    Entry {
        id,
        // A pending id was delivered from this stream, whose entries are
        // never removed, so it is there.
        fields: entries.get(&id).cloned().unwrap_or_default(),
    }
}

/// A pending entry: who holds it and every delivery so far (the last one
/// is the holder's, and its time is the start of the idle time).
#[derive(Debug)]
struct Pending {
    deliveries: Vec<Delivery>,
}

impl Pending {
    fn holder(&self) -> &str {
        self.deliveries.last().map_or("", |d| d.consumer.as_str())
    }

    fn last_delivered_ms(&self) -> u64 {
        self.deliveries.last().map_or(0, |d| d.at_ms)
    }
}

/// A consumer group.
#[derive(Debug)]
struct Group {
    last_delivered: StreamId,
    max_deliveries: u32,
    /// The pending entries list, by id.
    pending: BTreeMap<StreamId, Pending>,
    /// Each consumer's pending ids: the index of `ReadFrom::Pending`.
    /// A consumer with nothing pending has no key.
    by_consumer: HashMap<String, BTreeSet<StreamId>>,
    dead: Vec<DeadLetter>,
}

/// What a re-delivery did to an entry.
enum Redelivery {
    Delivered,
    DeadLettered,
}

impl Group {
    fn hold(&mut self, consumer: &str, id: StreamId) {
        match self.by_consumer.get_mut(consumer) {
            Some(ids) => {
                ids.insert(id);
            }
            None => {
                self.by_consumer
                    .insert(consumer.to_owned(), BTreeSet::from([id]));
            }
        }
    }

    fn release(&mut self, consumer: &str, id: StreamId) {
        if let Some(ids) = self.by_consumer.get_mut(consumer) {
            ids.remove(&id);
            if ids.is_empty() {
                self.by_consumer.remove(consumer);
            }
        }
    }

    /// Removes `id` from the pending list, wherever it is held.
    fn remove_pending(&mut self, id: StreamId) -> Option<Pending> {
        let pending = self.pending.remove(&id)?;
        self.release(pending.holder(), id);
        Some(pending)
    }

    /// Delivers the pending entry `id` once more, to `consumer`, or moves it
    /// to the dead letters if it has had `max_deliveries` already.
    fn redeliver(
        &mut self,
        entries: &Entries,
        id: StreamId,
        consumer: &str,
        now_ms: u64,
    ) -> Redelivery {
        let Some(pending) = self.pending.get_mut(&id) else {
            return Redelivery::DeadLettered;
        };
        let delivered = u32::try_from(pending.deliveries.len()).unwrap_or(u32::MAX);
        if delivered >= self.max_deliveries {
            if let Some(pending) = self.remove_pending(id) {
                self.dead.push(DeadLetter {
                    entry: entry(entries, id),
                    deliveries: pending.deliveries,
                    dead_at_ms: now_ms,
                });
            }
            return Redelivery::DeadLettered;
        }
        let previous = pending.holder().to_owned();
        pending.deliveries.push(Delivery {
            consumer: consumer.to_owned(),
            at_ms: now_ms,
        });
        if previous != consumer {
            self.release(&previous, id);
            self.hold(consumer, id);
        }
        Redelivery::Delivered
    }
}

/// Streams, their consumer groups, pending lists and dead letters.
///
/// Arguments are checked in this order: the stream exists, the group
/// exists, then the rest (ids, counts). Every refused call returns its
/// [`StreamError`] and changes nothing: no entry added, no id used up, no
/// delivery counted, nothing acknowledged, claimed or dead-lettered.
#[derive(Debug, Default)]
pub struct Streams {
    streams: HashMap<String, Stream>,
}

impl Streams {
    /// No streams.
    pub fn new() -> Self {
        Self::default()
    }

    fn stream(&self, stream: &str) -> Result<&Stream, StreamError> {
        self.streams
            .get(stream)
            .ok_or_else(|| StreamError::UnknownStream {
                stream: stream.to_owned(),
            })
    }

    fn stream_mut(&mut self, stream: &str) -> Result<&mut Stream, StreamError> {
        self.streams
            .get_mut(stream)
            .ok_or_else(|| StreamError::UnknownStream {
                stream: stream.to_owned(),
            })
    }

    fn group(&self, stream: &str, group: &str) -> Result<(&Stream, &Group), StreamError> {
        let s = self.stream(stream)?;
        let g = s
            .groups
            .get(group)
            .ok_or_else(|| unknown_group(stream, group))?;
        Ok((s, g))
    }

    /// Runs `f` on the stream's entries and the group, once both are found.
    fn with_group<T>(
        &mut self,
        stream: &str,
        group: &str,
        f: impl FnOnce(&Entries, &mut Group) -> Result<T, StreamError>,
    ) -> Result<T, StreamError> {
        let Stream {
            entries, groups, ..
        } = self.stream_mut(stream)?;
        let g = groups
            .get_mut(group)
            .ok_or_else(|| unknown_group(stream, group))?;
        f(entries, g)
    }

    fn append(&mut self, stream: &str, id: StreamId, fields: &[(&str, &str)]) -> StreamId {
        let s = self.streams.entry(stream.to_owned()).or_default();
        let fields = fields
            .iter()
            .map(|&(f, v)| (f.to_owned(), v.to_owned()))
            .collect();
        s.entries.insert(id, fields);
        s.last = id;
        id
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
        let last = self.streams.get(stream).map_or(StreamId::MIN, |s| s.last);
        let next = last.successor().ok_or_else(|| StreamError::IdExhausted {
            stream: stream.to_owned(),
        })?;
        let id = next.max(StreamId::new(now_ms, 0));
        Ok(self.append(stream, id, fields))
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
        let last = self.streams.get(stream).map_or(StreamId::MIN, |s| s.last);
        if id <= last {
            return Err(StreamError::IdNotGreater { id, last });
        }
        Ok(self.append(stream, id, fields))
    }

    /// How many entries `stream` holds.
    ///
    /// Errors: [`StreamError::UnknownStream`].
    pub fn xlen(&self, stream: &str) -> Result<usize, StreamError> {
        Ok(self.stream(stream)?.entries.len())
    }

    /// The id of the last entry added to `stream`.
    ///
    /// Errors: [`StreamError::UnknownStream`].
    pub fn last_id(&self, stream: &str) -> Result<StreamId, StreamError> {
        Ok(self.stream(stream)?.last)
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
        let s = self.stream(stream)?;
        if count == 0 {
            return Err(StreamError::ZeroCount);
        }
        if start > end {
            return Ok(Vec::new());
        }
        Ok(s.entries
            .range((Included(start), Included(end)))
            .take(count)
            .map(|(&id, fields)| Entry {
                id,
                fields: fields.clone(),
            })
            .collect())
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
        let s = self.stream_mut(stream)?;
        if s.groups.contains_key(group) {
            return Err(StreamError::GroupExists {
                stream: stream.to_owned(),
                group: group.to_owned(),
            });
        }
        if last_delivered > s.last {
            return Err(StreamError::IdOutOfRange {
                id: last_delivered,
                last: s.last,
            });
        }
        if max_deliveries == 0 {
            return Err(StreamError::ZeroMaxDeliveries);
        }
        s.groups.insert(
            group.to_owned(),
            Group {
                last_delivered,
                max_deliveries,
                pending: BTreeMap::new(),
                by_consumer: HashMap::new(),
                dead: Vec::new(),
            },
        );
        Ok(())
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
        self.with_group(stream, group, |s, g| {
            if count == 0 {
                return Err(StreamError::ZeroCount);
            }
            match from {
                ReadFrom::New => {
                    let entries: Vec<Entry> = s
                        .range((Excluded(g.last_delivered), Unbounded))
                        .take(count)
                        .map(|(&id, fields)| Entry {
                            id,
                            fields: fields.clone(),
                        })
                        .collect();
                    for entry in &entries {
                        g.pending.insert(
                            entry.id,
                            Pending {
                                deliveries: vec![Delivery {
                                    consumer: consumer.to_owned(),
                                    at_ms: now_ms,
                                }],
                            },
                        );
                        g.hold(consumer, entry.id);
                    }
                    if let Some(last) = entries.last() {
                        g.last_delivered = last.id;
                    }
                    Ok(entries)
                }
                ReadFrom::Pending(after) => {
                    let ids: Vec<StreamId> = g
                        .by_consumer
                        .get(consumer)
                        .map(|ids| {
                            ids.range((Excluded(after), Unbounded))
                                .take(count)
                                .copied()
                                .collect()
                        })
                        .unwrap_or_default();
                    let mut entries = Vec::with_capacity(ids.len());
                    for id in ids {
                        if let Redelivery::Delivered = g.redeliver(s, id, consumer, now_ms) {
                            entries.push(entry(s, id));
                        }
                    }
                    Ok(entries)
                }
            }
        })
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
        let s = self.stream_mut(stream)?;
        let g = s
            .groups
            .get_mut(group)
            .ok_or_else(|| unknown_group(stream, group))?;
        Ok(ids
            .iter()
            .filter(|&&id| g.remove_pending(id).is_some())
            .count())
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
        self.with_group(stream, group, |s, g| {
            if count == 0 {
                return Err(StreamError::ZeroCount);
            }
            // Pick the idle entries first (at most `count`), remembering the
            // last one examined; then change them.
            let mut idle = Vec::new();
            let mut last_examined = None;
            for (&id, pending) in g.pending.range(start..) {
                if idle.len() == count {
                    break;
                }
                last_examined = Some(id);
                if now_ms.saturating_sub(pending.last_delivered_ms()) >= min_idle_ms {
                    idle.push(id);
                }
            }
            let mut claimed = Vec::new();
            let mut dead_lettered = Vec::new();
            for id in idle {
                match g.redeliver(s, id, consumer, now_ms) {
                    Redelivery::Delivered => claimed.push(entry(s, id)),
                    Redelivery::DeadLettered => dead_lettered.push(id),
                }
            }
            let next = last_examined
                .and_then(|last| g.pending.range((Excluded(last), Unbounded)).next())
                .map_or(StreamId::MIN, |(&id, _)| id);
            Ok(AutoClaim {
                next,
                claimed,
                dead_lettered,
            })
        })
    }

    /// Every pending entry of `group`, in id order.
    ///
    /// Errors: [`StreamError::UnknownStream`], [`StreamError::UnknownGroup`].
    pub fn xpending(&self, stream: &str, group: &str) -> Result<Vec<PendingEntry>, StreamError> {
        let (_, g) = self.group(stream, group)?;
        Ok(g.pending
            .iter()
            .map(|(&id, p)| PendingEntry {
                id,
                consumer: p.holder().to_owned(),
                deliveries: u32::try_from(p.deliveries.len()).unwrap_or(u32::MAX),
                last_delivered_ms: p.last_delivered_ms(),
            })
            .collect())
    }

    /// The dead letters of `group`, oldest first (several moved by one call
    /// in id order): every entry that left the pending list because it
    /// would have been delivered more than `max_deliveries` times, with its
    /// deliveries.
    ///
    /// Errors: [`StreamError::UnknownStream`], [`StreamError::UnknownGroup`].
    pub fn dead_letters(&self, stream: &str, group: &str) -> Result<Vec<DeadLetter>, StreamError> {
        let (_, g) = self.group(stream, group)?;
        Ok(g.dead.clone())
    }
}

fn unknown_group(stream: &str, group: &str) -> StreamError {
    StreamError::UnknownGroup {
        stream: stream.to_owned(),
        group: group.to_owned(),
    }
}
