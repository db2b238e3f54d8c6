//! A right answer built differently from the reference: the replica is a
//! `HashMap`, operations in flight are a `Vec` scanned linearly (a node has
//! a handful in flight), each phase remembers who answered as one flag per
//! replica (indexed by position in the membership), and the deadline check
//! runs as a separate pass at the top of every public call.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::time::Duration;

/// Identifies a node of the cluster.
pub type NodeId = u64;

/// A key of the store, compared byte for byte.
pub type Key = String;

/// A value of the store: any bytes.
pub type Value = Vec<u8>;

/// The version of a stored value, ordered by `counter`, then `writer`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    /// The logical clock of the key.
    pub counter: u64,
    /// The coordinator that issued the version.
    pub writer: NodeId,
}

/// A value with its version.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Versioned {
    /// The version; the higher one wins.
    pub version: Version,
    /// The bytes written with that version.
    pub value: Value,
}

/// Names one client operation: the coordinator's boot and a sequence
/// number of that boot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId {
    /// The boot of the coordinator that issued it.
    pub boot: u64,
    /// A number the coordinator never reuses within that boot.
    pub seq: u64,
}

/// The messages nodes send one another.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Message {
    /// Coordinator to replica: "what do you store for `key`?"
    Get {
        /// The operation it belongs to.
        request: RequestId,
        /// The key asked for.
        key: Key,
    },
    /// Replica to coordinator: the answer to a `Get`.
    GetReply {
        /// The `request` of the `Get` it answers.
        request: RequestId,
        /// What the replica stores for the key.
        stored: Option<Versioned>,
    },
    /// Coordinator to replica: "store `value` unless you hold a higher
    /// version".
    Put {
        /// The operation it belongs to.
        request: RequestId,
        /// The key to write.
        key: Key,
        /// The value and its version.
        value: Versioned,
    },
    /// Replica to coordinator: "I hold `request`'s version or a higher one".
    PutAck {
        /// The `request` of the `Put` it answers.
        request: RequestId,
    },
}

/// A message for the caller to send.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Outgoing {
    /// The peer it goes to.
    pub to: NodeId,
    /// What it says.
    pub message: Message,
}

/// What a client operation answered.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Answer {
    /// A read: the highest-versioned value among the R replicas counted.
    Read(Option<Versioned>),
    /// A write: stored by W replicas, with this version.
    Written(Version),
}

/// A client operation that has finished.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Completion {
    /// The id `get` or `put` returned for it.
    pub request: RequestId,
    /// Its answer, or why it failed.
    pub result: Result<Answer, OpError>,
}

/// What one call asks of its caller.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Output {
    /// Messages to send, in order.
    pub messages: Vec<Outgoing>,
    /// Operations that finished, in the order they finished.
    pub completed: Vec<Completion>,
}

/// The quorum sizes and the coordinator's timeout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// R.
    pub read_quorum: usize,
    /// W.
    pub write_quorum: usize,
    /// How long a coordinator waits for an operation's quorum.
    pub timeout: Duration,
}

impl Config {
    /// R = W = a majority of `replicas`, a 100 ms timeout.
    pub fn majority(replicas: usize) -> Config {
        Config {
            read_quorum: replicas / 2 + 1,
            write_quorum: replicas / 2 + 1,
            timeout: Duration::from_millis(100),
        }
    }
}

/// Why [`Node::new`] refused to build a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// The node's own id is among its peers.
    PeerIsSelf,
    /// A peer is listed twice.
    DuplicatePeer(NodeId),
    /// R or W is 0 or above N.
    InvalidQuorum {
        /// The `read_quorum` asked for.
        read: usize,
        /// The `write_quorum` asked for.
        write: usize,
        /// N.
        replicas: usize,
    },
    /// The timeout is zero.
    ZeroTimeout,
}

/// Why a client operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OpError {
    /// The operation did not reach its quorum before `start + timeout`.
    Timeout,
    /// A write found the key at counter `u64::MAX`.
    VersionsExhausted,
}

/// Why [`Node::receive`] refused a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReceiveError {
    /// `from` is not one of the node's peers.
    UnknownNode(NodeId),
    /// The message carries a version with counter 0.
    Malformed,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::PeerIsSelf => write!(f, "a node cannot be its own peer"),
            ConfigError::DuplicatePeer(id) => write!(f, "peer {id} is listed twice"),
            ConfigError::InvalidQuorum {
                read,
                write,
                replicas,
            } => write!(
                f,
                "R = {read} and W = {write} must each be between 1 and N = {replicas}"
            ),
            ConfigError::ZeroTimeout => write!(f, "the timeout must not be zero"),
        }
    }
}

impl fmt::Display for OpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpError::Timeout => write!(f, "no quorum before the timeout"),
            OpError::VersionsExhausted => write!(f, "the key's version counter is at u64::MAX"),
        }
    }
}

impl fmt::Display for ReceiveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReceiveError::UnknownNode(id) => write!(f, "node {id} is not a peer"),
            ReceiveError::Malformed => write!(f, "a version never has counter 0"),
        }
    }
}

impl std::error::Error for ConfigError {}
impl std::error::Error for OpError {}
impl std::error::Error for ReceiveError {}

#[derive(Debug)]
enum Stage {
    Reading {
        best: Option<Versioned>,
        seen: Vec<Option<Option<Version>>>,
    },
    Learning {
        value: Value,
        top: u64,
        seen: Vec<bool>,
    },
    Writing {
        version: Version,
        acks: Vec<bool>,
    },
}

#[derive(Debug)]
struct Pending {
    id: RequestId,
    key: Key,
    due: Duration,
    stage: Stage,
}

/// One node of the cluster: a replica and a coordinator.
#[derive(Debug)]
pub struct Node {
    me: NodeId,
    /// Every replica, itself at position 0.
    members: Vec<NodeId>,
    cfg: Config,
    boot: u64,
    seq: u64,
    data: HashMap<Key, Versioned>,
    pending: Vec<Pending>,
    clock: Duration,
}

fn count<T>(flags: &[Option<T>]) -> usize {
    flags.iter().filter(|f| f.is_some()).count()
}

impl Node {
    /// Builds node `id` of the cluster `{id} ∪ peers`.
    pub fn new(
        id: NodeId,
        peers: &[NodeId],
        config: Config,
        boot: u64,
        stored: BTreeMap<Key, Versioned>,
        now: Duration,
    ) -> Result<Node, ConfigError> {
        let mut members = vec![id];
        for &p in peers {
            if p == id {
                return Err(ConfigError::PeerIsSelf);
            }
            if members[1..].contains(&p) {
                return Err(ConfigError::DuplicatePeer(p));
            }
            members.push(p);
        }
        let n = members.len();
        let (r, w) = (config.read_quorum, config.write_quorum);
        if r == 0 || w == 0 || r > n || w > n {
            return Err(ConfigError::InvalidQuorum {
                read: r,
                write: w,
                replicas: n,
            });
        }
        if config.timeout == Duration::ZERO {
            return Err(ConfigError::ZeroTimeout);
        }
        Ok(Node {
            me: id,
            members,
            cfg: config,
            boot,
            seq: 0,
            data: stored.into_iter().collect(),
            pending: Vec::new(),
            clock: now,
        })
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.me
    }

    /// Starts a client read of `key`.
    pub fn get(&mut self, key: Key, now: Duration) -> (RequestId, Output) {
        let mut out = self.expire(now);
        let id = self.next_id();
        let mine = self.data.get(&key).cloned();
        let mut seen = vec![None; self.members.len()];
        seen[0] = Some(mine.as_ref().map(|v| v.version));
        self.broadcast_get(id, &key, &mut out);
        let due = self.clock.saturating_add(self.cfg.timeout);
        self.pending.push(Pending {
            id,
            key,
            due,
            stage: Stage::Reading { best: mine, seen },
        });
        self.advance_op(self.pending.len() - 1, &mut out);
        (id, out)
    }

    /// Starts a client write of `value` under `key`.
    pub fn put(&mut self, key: Key, value: Value, now: Duration) -> (RequestId, Output) {
        let mut out = self.expire(now);
        let id = self.next_id();
        let top = self.data.get(&key).map(|v| v.version.counter).unwrap_or(0);
        let mut seen = vec![false; self.members.len()];
        seen[0] = true;
        self.broadcast_get(id, &key, &mut out);
        let due = self.clock.saturating_add(self.cfg.timeout);
        self.pending.push(Pending {
            id,
            key,
            due,
            stage: Stage::Learning { value, top, seen },
        });
        self.advance_op(self.pending.len() - 1, &mut out);
        (id, out)
    }

    /// Handles `message` from peer `from` at time `now`.
    pub fn receive(
        &mut self,
        from: NodeId,
        message: Message,
        now: Duration,
    ) -> Result<Output, ReceiveError> {
        let Some(slot) = self
            .members
            .iter()
            .skip(1)
            .position(|&m| m == from)
            .map(|i| i + 1)
        else {
            return Err(ReceiveError::UnknownNode(from));
        };
        let zero = |v: &Versioned| v.version.counter == 0;
        match &message {
            Message::Put { value, .. } if zero(value) => return Err(ReceiveError::Malformed),
            Message::GetReply {
                stored: Some(value),
                ..
            } if zero(value) => return Err(ReceiveError::Malformed),
            _ => {}
        }
        let mut out = self.expire(now);
        match message {
            Message::Get { request, key } => {
                let stored = self.data.get(&key).cloned();
                out.messages.push(Outgoing {
                    to: from,
                    message: Message::GetReply { request, stored },
                });
            }
            Message::Put {
                request,
                key,
                value,
            } => {
                self.keep_newer(key, value);
                out.messages.push(Outgoing {
                    to: from,
                    message: Message::PutAck { request },
                });
            }
            Message::GetReply { request, stored } => {
                if let Some(i) = self.pending.iter().position(|p| p.id == request) {
                    match &mut self.pending[i].stage {
                        Stage::Reading { best, seen } => {
                            if seen[slot].is_none() {
                                let version = stored.as_ref().map(|v| v.version);
                                seen[slot] = Some(version);
                                if version > best.as_ref().map(|b| b.version) {
                                    *best = stored;
                                }
                            }
                        }
                        Stage::Learning { top, seen, .. } => {
                            seen[slot] = true;
                            if let Some(v) = stored {
                                *top = (*top).max(v.version.counter);
                            }
                        }
                        Stage::Writing { .. } => {}
                    }
                    self.advance_op(i, &mut out);
                }
            }
            Message::PutAck { request } => {
                if let Some(i) = self.pending.iter().position(|p| p.id == request) {
                    if let Stage::Writing { acks, .. } = &mut self.pending[i].stage {
                        acks[slot] = true;
                        self.advance_op(i, &mut out);
                    }
                }
            }
        }
        Ok(out)
    }

    /// Lets time pass up to `now`.
    pub fn tick(&mut self, now: Duration) -> Output {
        self.expire(now)
    }

    /// What this node's replica stores for `key`.
    pub fn stored(&self, key: &str) -> Option<Versioned> {
        self.data.get(key).cloned()
    }

    /// Everything this node's replica stores.
    pub fn snapshot(&self) -> BTreeMap<Key, Versioned> {
        self.data
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// How many client operations this node coordinates that have not
    /// finished yet.
    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }

    fn next_id(&mut self) -> RequestId {
        let id = RequestId {
            boot: self.boot,
            seq: self.seq,
        };
        self.seq = self.seq.wrapping_add(1);
        id
    }

    fn expire(&mut self, now: Duration) -> Output {
        if now > self.clock {
            self.clock = now;
        }
        let clock = self.clock;
        let mut out = Output::default();
        self.pending.retain(|p| {
            let alive = p.due > clock;
            if !alive {
                out.completed.push(Completion {
                    request: p.id,
                    result: Err(OpError::Timeout),
                });
            }
            alive
        });
        out
    }

    fn broadcast_get(&self, request: RequestId, key: &str, out: &mut Output) {
        for &to in &self.members[1..] {
            out.messages.push(Outgoing {
                to,
                message: Message::Get {
                    request,
                    key: key.to_string(),
                },
            });
        }
    }

    fn keep_newer(&mut self, key: Key, value: Versioned) {
        let newer = self
            .data
            .get(&key)
            .is_none_or(|old| value.version > old.version);
        if newer {
            self.data.insert(key, value);
        }
    }

    /// Moves operation `i` on if its phase has its quorum.
    fn advance_op(&mut self, i: usize, out: &mut Output) {
        let (r, w) = (self.cfg.read_quorum, self.cfg.write_quorum);
        let ready = match &self.pending[i].stage {
            Stage::Reading { seen, .. } => count(seen) >= r,
            Stage::Learning { seen, .. } => seen.iter().filter(|&&s| s).count() >= r,
            Stage::Writing { acks, .. } => acks.iter().filter(|&&a| a).count() >= w,
        };
        if !ready {
            return;
        }
        let op = self.pending.remove(i);
        match op.stage {
            Stage::Reading { best, seen } => {
                if let Some(best) = &best {
                    for (slot, answer) in seen.iter().enumerate() {
                        let Some(answer) = answer else { continue };
                        if *answer >= Some(best.version) {
                            continue;
                        }
                        if slot == 0 {
                            self.keep_newer(op.key.clone(), best.clone());
                        } else {
                            out.messages.push(Outgoing {
                                to: self.members[slot],
                                message: Message::Put {
                                    request: op.id,
                                    key: op.key.clone(),
                                    value: best.clone(),
                                },
                            });
                        }
                    }
                }
                out.completed.push(Completion {
                    request: op.id,
                    result: Ok(Answer::Read(best)),
                });
            }
            Stage::Learning { value, top, .. } => {
                let own = self
                    .data
                    .get(&op.key)
                    .map(|v| v.version.counter)
                    .unwrap_or(0);
                let Some(counter) = top.max(own).checked_add(1) else {
                    out.completed.push(Completion {
                        request: op.id,
                        result: Err(OpError::VersionsExhausted),
                    });
                    return;
                };
                let version = Version {
                    counter,
                    writer: self.me,
                };
                let versioned = Versioned { version, value };
                for &to in &self.members[1..] {
                    out.messages.push(Outgoing {
                        to,
                        message: Message::Put {
                            request: op.id,
                            key: op.key.clone(),
                            value: versioned.clone(),
                        },
                    });
                }
                self.keep_newer(op.key.clone(), versioned);
                let mut acks = vec![false; self.members.len()];
                acks[0] = true;
                self.pending.push(Pending {
                    id: op.id,
                    key: op.key,
                    due: op.due,
                    stage: Stage::Writing { version, acks },
                });
                let last = self.pending.len() - 1;
                self.advance_op(last, out);
            }
            Stage::Writing { version, .. } => {
                out.completed.push(Completion {
                    request: op.id,
                    result: Ok(Answer::Written(version)),
                });
            }
        }
    }
}
