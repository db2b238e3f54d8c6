//! A right answer built differently from the reference: sorted `Vec`s and
//! binary search instead of `BTreeMap`s.
//!
//! Whole file: a different design, not a bug. A stream is a `Vec<Entry>`
//! sorted by id (appends keep it sorted, since ids only grow), found with
//! `partition_point`. A group's pending list is a `Vec<Pending>` sorted by
//! id as well: new reads append (their ids are greater than any delivered
//! before), acks and dead letters remove by binary search (`Vec::remove`
//! shifts the tail: O(n) moves, no allocation). A consumer's own entries
//! are found by walking the pending list from the cursor and filtering on
//! the holder; there is no per-consumer index. Streams and groups are kept
//! in `Vec`s of `(name, value)` and found by a linear search of the (few)
//! names.

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

/// A pending entry: its id and every delivery so far.
#[derive(Debug)]
struct Pending {
    id: StreamId,
    deliveries: Vec<Delivery>,
}

impl Pending {
    fn last(&self) -> &Delivery {
        // Every pending entry has been delivered at least once.
        &self.deliveries[self.deliveries.len() - 1]
    }
}

#[derive(Debug)]
struct Group {
    name: String,
    cursor: StreamId,
    max: usize,
    pending: Vec<Pending>,
    dead: Vec<DeadLetter>,
}

#[derive(Debug)]
struct Stream {
    name: String,
    entries: Vec<Entry>,
    last: StreamId,
    groups: Vec<Group>,
}

/// Streams, their consumer groups, pending lists and dead letters.
#[derive(Debug, Default)]
pub struct Streams {
    streams: Vec<Stream>,
}

fn find<'a>(entries: &'a [Entry], id: StreamId) -> Option<&'a Entry> {
    let i = entries.partition_point(|e| e.id < id);
    entries.get(i).filter(|e| e.id == id)
}

fn no_stream(stream: &str) -> StreamError {
    StreamError::UnknownStream {
        stream: stream.to_string(),
    }
}

fn no_group(stream: &str, group: &str) -> StreamError {
    StreamError::UnknownGroup {
        stream: stream.to_string(),
        group: group.to_string(),
    }
}

/// Re-delivers `pending[i]` to `consumer` at `now`, or kills it. Returns
/// `Some(entry)` if delivered, `None` if dead-lettered (then `pending[i]` is
/// gone).
fn redeliver(
    entries: &[Entry],
    g: &mut Group,
    i: usize,
    consumer: &str,
    now: u64,
) -> Option<Entry> {
    if g.pending[i].deliveries.len() >= g.max {
        let p = g.pending.remove(i);
        let entry = find(entries, p.id).cloned().unwrap_or(Entry {
            id: p.id,
            fields: Vec::new(),
        });
        g.dead.push(DeadLetter {
            entry,
            deliveries: p.deliveries,
            dead_at_ms: now,
        });
        None
    } else {
        let p = &mut g.pending[i];
        p.deliveries.push(Delivery {
            consumer: consumer.to_string(),
            at_ms: now,
        });
        find(entries, p.id).cloned()
    }
}

impl Streams {
    /// No streams.
    pub fn new() -> Self {
        Streams {
            streams: Vec::new(),
        }
    }

    fn get(&self, stream: &str) -> Result<&Stream, StreamError> {
        self.streams
            .iter()
            .find(|s| s.name == stream)
            .ok_or_else(|| no_stream(stream))
    }

    fn get_mut(&mut self, stream: &str) -> Result<&mut Stream, StreamError> {
        self.streams
            .iter_mut()
            .find(|s| s.name == stream)
            .ok_or_else(|| no_stream(stream))
    }

    fn group_mut(
        &mut self,
        stream: &str,
        group: &str,
    ) -> Result<(&[Entry], &mut Group), StreamError> {
        let s = self.get_mut(stream)?;
        let g = s
            .groups
            .iter_mut()
            .find(|g| g.name == group)
            .ok_or_else(|| no_group(stream, group))?;
        Ok((&s.entries, g))
    }

    fn group(&self, stream: &str, group: &str) -> Result<&Group, StreamError> {
        let s = self.get(stream)?;
        s.groups
            .iter()
            .find(|g| g.name == group)
            .ok_or_else(|| no_group(stream, group))
    }

    fn push(&mut self, stream: &str, id: StreamId, fields: &[(&str, &str)]) -> StreamId {
        let fields = fields
            .iter()
            .map(|(f, v)| (f.to_string(), v.to_string()))
            .collect();
        let entry = Entry { id, fields };
        match self.streams.iter_mut().find(|s| s.name == stream) {
            Some(s) => {
                s.entries.push(entry);
                s.last = id;
            }
            None => self.streams.push(Stream {
                name: stream.to_string(),
                entries: vec![entry],
                last: id,
                groups: Vec::new(),
            }),
        }
        id
    }

    fn last(&self, stream: &str) -> StreamId {
        self.get(stream).map(|s| s.last).unwrap_or(StreamId::MIN)
    }

    /// Appends an entry with the next id.
    pub fn xadd(
        &mut self,
        stream: &str,
        fields: &[(&str, &str)],
        now_ms: u64,
    ) -> Result<StreamId, StreamError> {
        let last = self.last(stream);
        let id = if now_ms > last.ms {
            StreamId::new(now_ms, 0)
        } else if last.seq < u64::MAX {
            StreamId::new(last.ms, last.seq + 1)
        } else if last.ms < u64::MAX {
            StreamId::new(last.ms + 1, 0)
        } else {
            return Err(StreamError::IdExhausted {
                stream: stream.to_string(),
            });
        };
        Ok(self.push(stream, id, fields))
    }

    /// Appends an entry with an explicit id.
    pub fn xadd_with_id(
        &mut self,
        stream: &str,
        id: StreamId,
        fields: &[(&str, &str)],
    ) -> Result<StreamId, StreamError> {
        let last = self.last(stream);
        if id <= last {
            return Err(StreamError::IdNotGreater { id, last });
        }
        Ok(self.push(stream, id, fields))
    }

    /// How many entries `stream` holds.
    pub fn xlen(&self, stream: &str) -> Result<usize, StreamError> {
        Ok(self.get(stream)?.entries.len())
    }

    /// The id of the last entry added to `stream`.
    pub fn last_id(&self, stream: &str) -> Result<StreamId, StreamError> {
        Ok(self.get(stream)?.last)
    }

    /// At most `count` entries with `start <= id <= end`.
    pub fn xrange(
        &self,
        stream: &str,
        start: StreamId,
        end: StreamId,
        count: usize,
    ) -> Result<Vec<Entry>, StreamError> {
        let s = self.get(stream)?;
        if count == 0 {
            return Err(StreamError::ZeroCount);
        }
        let from = s.entries.partition_point(|e| e.id < start);
        Ok(s.entries[from..]
            .iter()
            .take_while(|e| e.id <= end)
            .take(count)
            .cloned()
            .collect())
    }

    /// Creates a consumer group.
    pub fn xgroup_create(
        &mut self,
        stream: &str,
        group: &str,
        last_delivered: StreamId,
        max_deliveries: u32,
    ) -> Result<(), StreamError> {
        let s = self.get_mut(stream)?;
        if s.groups.iter().any(|g| g.name == group) {
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
        s.groups.push(Group {
            name: group.to_string(),
            cursor: last_delivered,
            max: usize::try_from(max_deliveries).unwrap_or(usize::MAX),
            pending: Vec::new(),
            dead: Vec::new(),
        });
        Ok(())
    }

    /// Reads new entries, or the consumer's own pending ones.
    pub fn xreadgroup(
        &mut self,
        stream: &str,
        group: &str,
        consumer: &str,
        from: ReadFrom,
        count: usize,
        now_ms: u64,
    ) -> Result<Vec<Entry>, StreamError> {
        let (entries, g) = self.group_mut(stream, group)?;
        if count == 0 {
            return Err(StreamError::ZeroCount);
        }
        let mut out = Vec::new();
        match from {
            ReadFrom::New => {
                let start = entries.partition_point(|e| e.id <= g.cursor);
                for e in entries[start..].iter().take(count) {
                    g.pending.push(Pending {
                        id: e.id,
                        deliveries: vec![Delivery {
                            consumer: consumer.to_string(),
                            at_ms: now_ms,
                        }],
                    });
                    g.cursor = e.id;
                    out.push(e.clone());
                }
            }
            ReadFrom::Pending(after) => {
                let mut i = g.pending.partition_point(|p| p.id <= after);
                let mut handled = 0;
                while handled < count && i < g.pending.len() {
                    if g.pending[i].last().consumer != consumer {
                        i += 1;
                        continue;
                    }
                    handled += 1;
                    match redeliver(entries, g, i, consumer, now_ms) {
                        Some(e) => {
                            out.push(e);
                            i += 1;
                        }
                        None => {} // removed: the next one is at i now
                    }
                }
            }
        }
        Ok(out)
    }

    /// Acknowledges `ids`.
    pub fn xack(
        &mut self,
        stream: &str,
        group: &str,
        ids: &[StreamId],
    ) -> Result<usize, StreamError> {
        let (_, g) = self.group_mut(stream, group)?;
        let mut n = 0;
        for id in ids {
            if let Ok(i) = g.pending.binary_search_by(|p| p.id.cmp(id)) {
                g.pending.remove(i);
                n += 1;
            }
        }
        Ok(n)
    }

    /// Claims idle pending entries.
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
        let (entries, g) = self.group_mut(stream, group)?;
        if count == 0 {
            return Err(StreamError::ZeroCount);
        }
        let mut out = AutoClaim {
            next: StreamId::MIN,
            claimed: Vec::new(),
            dead_lettered: Vec::new(),
        };
        let mut i = g.pending.partition_point(|p| p.id < start);
        let mut handled = 0;
        while handled < count && i < g.pending.len() {
            let p = &g.pending[i];
            let idle = now_ms.checked_sub(p.last().at_ms).unwrap_or(0);
            if idle < min_idle_ms {
                i += 1;
                continue;
            }
            handled += 1;
            let id = p.id;
            match redeliver(entries, g, i, consumer, now_ms) {
                Some(e) => {
                    out.claimed.push(e);
                    i += 1;
                }
                None => out.dead_lettered.push(id),
            }
        }
        // `i` is the first pending entry after the last one examined.
        if handled == count {
            if let Some(p) = g.pending.get(i) {
                out.next = p.id;
            }
        }
        Ok(out)
    }

    /// Every pending entry, in id order.
    pub fn xpending(&self, stream: &str, group: &str) -> Result<Vec<PendingEntry>, StreamError> {
        let g = self.group(stream, group)?;
        Ok(g.pending
            .iter()
            .map(|p| PendingEntry {
                id: p.id,
                consumer: p.last().consumer.clone(),
                deliveries: u32::try_from(p.deliveries.len()).unwrap_or(u32::MAX),
                last_delivered_ms: p.last().at_ms,
            })
            .collect())
    }

    /// The dead letters, oldest first.
    pub fn dead_letters(&self, stream: &str, group: &str) -> Result<Vec<DeadLetter>, StreamError> {
        Ok(self.group(stream, group)?.dead.clone())
    }
}
