//! RIGHT (blind): entries in a plain `Vec` (ids only grow, so it is sorted: `partition_point`
//! and `binary_search` give O(log n) ranges and look-ups, O(1) amortised appends), the pending
//! list a `BTreeMap<id, holder + full delivery history>` (the count is the history's length, so
//! the dead letter's history is the record itself), and one `BTreeSet<(holder, id)>` for every
//! consumer's pending ids instead of a map of per-consumer sets; a call takes its group out of
//! the stream's map to borrow stream and group together, and puts it back on every path.
//! Symptom a user would report: none expected.
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


use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::ops::Bound::{Excluded, Unbounded};

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
    streams: HashMap<String, Stream>,
}

#[derive(Debug, Default)]
struct Stream {
    // Ids only ever grow, so a Vec is already sorted: binary search for ranges.
    entries: Vec<Entry>,
    last: StreamId,
    groups: HashMap<String, Group>,
}

#[derive(Debug)]
struct Pend {
    consumer: String,
    history: Vec<Delivery>,
}

#[derive(Debug)]
struct Group {
    last_delivered: StreamId,
    max_deliveries: u32,
    pending: BTreeMap<StreamId, Pend>,
    // One ordered index of (holder, id) for every pending entry.
    by_holder: BTreeSet<(String, StreamId)>,
    dead: Vec<DeadLetter>,
}

fn successor(id: StreamId) -> Option<StreamId> {
    if id.seq == u64::MAX {
        id.ms.checked_add(1).map(|ms| StreamId::new(ms, 0))
    } else {
        Some(StreamId::new(id.ms, id.seq + 1))
    }
}

fn owned(fields: &[(&str, &str)]) -> Vec<(String, String)> {
    fields
        .iter()
        .map(|(f, v)| (f.to_string(), v.to_string()))
        .collect()
}

impl Stream {
    fn position_after(&self, id: StreamId) -> usize {
        self.entries.partition_point(|e| e.id <= id)
    }

    fn entry(&self, id: StreamId) -> Option<&Entry> {
        self.entries
            .binary_search_by(|e| e.id.cmp(&id))
            .ok()
            .map(|i| &self.entries[i])
    }
}

impl Group {
    fn bury(&mut self, entries: &Stream, id: StreamId, now_ms: u64) {
        let p = self.pending.remove(&id).expect("pending");
        self.by_holder.remove(&(p.consumer.clone(), id));
        let entry = entries.entry(id).cloned().expect("entry in stream");
        self.dead.push(DeadLetter {
            entry,
            deliveries: p.history,
            dead_at_ms: now_ms,
        });
    }
}

impl Streams {
    /// No streams.
    pub fn new() -> Self {
        Streams::default()
    }

    fn stream(&self, stream: &str) -> Result<&Stream, StreamError> {
        self.streams.get(stream).ok_or_else(|| StreamError::UnknownStream {
            stream: stream.to_string(),
        })
    }

    fn stream_group_mut(
        &mut self,
        stream: &str,
        group: &str,
    ) -> Result<(&mut Stream, Group), StreamError> {
        let s = self
            .streams
            .get_mut(stream)
            .ok_or_else(|| StreamError::UnknownStream {
                stream: stream.to_string(),
            })?;
        // Take the group out so the stream and the group can be used together.
        let g = s
            .groups
            .remove(group)
            .ok_or_else(|| StreamError::UnknownGroup {
                stream: stream.to_string(),
                group: group.to_string(),
            })?;
        Ok((s, g))
    }

    fn group(&self, stream: &str, group: &str) -> Result<(&Stream, &Group), StreamError> {
        let s = self.stream(stream)?;
        let g = s.groups.get(group).ok_or_else(|| StreamError::UnknownGroup {
            stream: stream.to_string(),
            group: group.to_string(),
        })?;
        Ok((s, g))
    }

    /// Appends an entry with the next id.
    pub fn xadd(
        &mut self,
        stream: &str,
        fields: &[(&str, &str)],
        now_ms: u64,
    ) -> Result<StreamId, StreamError> {
        let last = self.streams.get(stream).map_or(StreamId::MIN, |s| s.last);
        let next = successor(last).ok_or_else(|| StreamError::IdExhausted {
            stream: stream.to_string(),
        })?;
        let id = next.max(StreamId::new(now_ms, 0));
        let s = self.streams.entry(stream.to_string()).or_default();
        s.entries.push(Entry {
            id,
            fields: owned(fields),
        });
        s.last = id;
        Ok(id)
    }

    /// Appends an entry with an explicit id.
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
        let s = self.streams.entry(stream.to_string()).or_default();
        s.entries.push(Entry {
            id,
            fields: owned(fields),
        });
        s.last = id;
        Ok(id)
    }

    /// How many entries `stream` holds.
    pub fn xlen(&self, stream: &str) -> Result<usize, StreamError> {
        Ok(self.stream(stream)?.entries.len())
    }

    /// The id of the last entry added to `stream`.
    pub fn last_id(&self, stream: &str) -> Result<StreamId, StreamError> {
        Ok(self.stream(stream)?.last)
    }

    /// At most `count` entries with `start <= id <= end`, in id order.
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
        let from = s.entries.partition_point(|e| e.id < start);
        let to = s.position_after(end);
        Ok(s.entries[from..to].iter().take(count).cloned().collect())
    }

    /// Creates the consumer group `group` on `stream`.
    pub fn xgroup_create(
        &mut self,
        stream: &str,
        group: &str,
        last_delivered: StreamId,
        max_deliveries: u32,
    ) -> Result<(), StreamError> {
        let s = self
            .streams
            .get_mut(stream)
            .ok_or_else(|| StreamError::UnknownStream {
                stream: stream.to_string(),
            })?;
        if s.groups.contains_key(group) {
            return Err(StreamError::GroupExists {
                stream: stream.to_string(),
                group: group.to_string(),
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
            group.to_string(),
            Group {
                last_delivered,
                max_deliveries,
                pending: BTreeMap::new(),
                by_holder: BTreeSet::new(),
                dead: Vec::new(),
            },
        );
        Ok(())
    }

    /// Reads entries as `consumer` of `group`.
    pub fn xreadgroup(
        &mut self,
        stream: &str,
        group: &str,
        consumer: &str,
        from: ReadFrom,
        count: usize,
        now_ms: u64,
    ) -> Result<Vec<Entry>, StreamError> {
        let (s, mut g) = self.stream_group_mut(stream, group)?;
        let out = if count == 0 {
            Err(StreamError::ZeroCount)
        } else {
            Ok(read(s, &mut g, consumer, from, count, now_ms))
        };
        s.groups.insert(group.to_string(), g);
        out
    }

    /// Acknowledges `ids` in `group`.
    pub fn xack(
        &mut self,
        stream: &str,
        group: &str,
        ids: &[StreamId],
    ) -> Result<usize, StreamError> {
        let (s, mut g) = self.stream_group_mut(stream, group)?;
        let mut acked = 0;
        for id in ids {
            if let Some(p) = g.pending.remove(id) {
                g.by_holder.remove(&(p.consumer, *id));
                acked += 1;
            }
        }
        s.groups.insert(group.to_string(), g);
        Ok(acked)
    }

    /// Takes over idle pending entries.
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
        let (s, mut g) = self.stream_group_mut(stream, group)?;
        let out = if count == 0 {
            Err(StreamError::ZeroCount)
        } else {
            Ok(autoclaim(s, &mut g, consumer, min_idle_ms, start, count, now_ms))
        };
        s.groups.insert(group.to_string(), g);
        out
    }

    /// Every pending entry of `group`, in id order.
    pub fn xpending(&self, stream: &str, group: &str) -> Result<Vec<PendingEntry>, StreamError> {
        let (_, g) = self.group(stream, group)?;
        Ok(g
            .pending
            .iter()
            .map(|(id, p)| PendingEntry {
                id: *id,
                consumer: p.consumer.clone(),
                deliveries: p.history.len() as u32,
                last_delivered_ms: p.history.last().map_or(0, |d| d.at_ms),
            })
            .collect())
    }

    /// The dead letters of `group`, oldest first.
    pub fn dead_letters(&self, stream: &str, group: &str) -> Result<Vec<DeadLetter>, StreamError> {
        let (_, g) = self.group(stream, group)?;
        Ok(g.dead.clone())
    }
}

fn read(
    s: &Stream,
    g: &mut Group,
    consumer: &str,
    from: ReadFrom,
    count: usize,
    now_ms: u64,
) -> Vec<Entry> {
    match from {
        ReadFrom::New => {
            let at = s.position_after(g.last_delivered);
            let batch: Vec<Entry> = s.entries[at..].iter().take(count).cloned().collect();
            for e in &batch {
                g.pending.insert(
                    e.id,
                    Pend {
                        consumer: consumer.to_string(),
                        history: vec![Delivery {
                            consumer: consumer.to_string(),
                            at_ms: now_ms,
                        }],
                    },
                );
                g.by_holder.insert((consumer.to_string(), e.id));
            }
            if let Some(e) = batch.last() {
                g.last_delivered = e.id;
            }
            batch
        }
        ReadFrom::Pending(after) => {
            let lo = (consumer.to_string(), after);
            let ids: Vec<StreamId> = g
                .by_holder
                .range((Excluded(&lo), Unbounded))
                .take_while(|(c, _)| c == consumer)
                .take(count)
                .map(|(_, id)| *id)
                .collect();
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                let p = g.pending.get_mut(&id).expect("indexed entry is pending");
                if p.history.len() >= g.max_deliveries as usize {
                    g.bury(s, id, now_ms);
                } else {
                    p.history.push(Delivery {
                        consumer: consumer.to_string(),
                        at_ms: now_ms,
                    });
                    out.push(s.entry(id).cloned().expect("entry in stream"));
                }
            }
            out
        }
    }
}

fn autoclaim(
    s: &Stream,
    g: &mut Group,
    consumer: &str,
    min_idle_ms: u64,
    start: StreamId,
    count: usize,
    now_ms: u64,
) -> AutoClaim {
    let mut handled: Vec<StreamId> = Vec::new();
    let mut next = StreamId::MIN;
    let mut walk = g.pending.range(start..);
    for (id, p) in walk.by_ref() {
        let last = p.history.last().map_or(0, |d| d.at_ms);
        if now_ms.saturating_sub(last) >= min_idle_ms {
            handled.push(*id);
            if handled.len() == count {
                break;
            }
        }
    }
    if handled.len() == count {
        if let Some((id, _)) = walk.next() {
            next = *id;
        }
    }
    let mut claimed = Vec::new();
    let mut dead_lettered = Vec::new();
    for id in handled {
        let p = g.pending.get_mut(&id).expect("pending");
        if p.history.len() >= g.max_deliveries as usize {
            g.bury(s, id, now_ms);
            dead_lettered.push(id);
        } else {
            if p.consumer != consumer {
                let old = std::mem::replace(&mut p.consumer, consumer.to_string());
                g.by_holder.remove(&(old, id));
                g.by_holder.insert((consumer.to_string(), id));
            }
            p.history.push(Delivery {
                consumer: consumer.to_string(),
                at_ms: now_ms,
            });
            claimed.push(s.entry(id).cloned().expect("entry in stream"));
        }
    }
    AutoClaim {
        next,
        claimed,
        dead_lettered,
    }
}
