//! # Quorum key-value store: the reference solution
//!
//! One node of a Dynamo-style replicated key-value store: a **replica**
//! (a map from key to the highest [`Versioned`] value it was sent) and a
//! **coordinator** (a map from [`RequestId`] to the client operations it
//! runs, each with its phase, its deadline and the set of replicas heard
//! from in that phase).
//!
//! The node is sans-IO: the caller passes the time in every call, delivers
//! messages with [`Node::receive`], calls [`Node::tick`], sends what comes
//! back in [`Output::messages`] and hands [`Output::completed`] to the
//! clients. See the kata's README for the rules.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};
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

/// Where a client operation stands.
#[derive(Debug)]
enum Phase {
    /// A read: the highest value heard so far, and who answered what.
    Read {
        highest: Option<Versioned>,
        /// Each replica counted, with the version it answered.
        answers: BTreeMap<NodeId, Option<Version>>,
    },
    /// A write's first phase: the highest counter heard so far.
    Versions {
        value: Value,
        highest: u64,
        answered: BTreeSet<NodeId>,
    },
    /// A write's second phase: the replicas that hold its version.
    Write {
        version: Version,
        acked: BTreeSet<NodeId>,
    },
}

#[derive(Debug)]
struct Operation {
    key: Key,
    deadline: Duration,
    phase: Phase,
}

/// One node of the cluster: a replica and a coordinator.
#[derive(Debug)]
pub struct Node {
    id: NodeId,
    peers: Vec<NodeId>,
    config: Config,
    boot: u64,
    next_seq: u64,
    /// The replica.
    store: BTreeMap<Key, Versioned>,
    /// The operations this node coordinates that have not finished.
    ops: BTreeMap<RequestId, Operation>,
    /// The latest `now` seen.
    now: Duration,
}

impl Node {
    /// Builds node `id` of the cluster `{id} ∪ peers`; see the kata's
    /// README.
    pub fn new(
        id: NodeId,
        peers: &[NodeId],
        config: Config,
        boot: u64,
        stored: BTreeMap<Key, Versioned>,
        now: Duration,
    ) -> Result<Node, ConfigError> {
        let mut seen = BTreeSet::new();
        for &peer in peers {
            if peer == id {
                return Err(ConfigError::PeerIsSelf);
            }
            if !seen.insert(peer) {
                return Err(ConfigError::DuplicatePeer(peer));
            }
        }
        let replicas = peers.len() + 1;
        let fits = |q: usize| (1..=replicas).contains(&q);
        if !fits(config.read_quorum) || !fits(config.write_quorum) {
            return Err(ConfigError::InvalidQuorum {
                read: config.read_quorum,
                write: config.write_quorum,
                replicas,
            });
        }
        if config.timeout.is_zero() {
            return Err(ConfigError::ZeroTimeout);
        }
        Ok(Node {
            id,
            peers: peers.to_vec(),
            config,
            boot,
            next_seq: 0,
            store: stored,
            ops: BTreeMap::new(),
            now,
        })
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// Starts a client read of `key`.
    pub fn get(&mut self, key: Key, now: Duration) -> (RequestId, Output) {
        let mut out = self.advance(now);
        let request = self.issue();
        let mine = self.store.get(&key).cloned();
        let answers = BTreeMap::from([(self.id, mine.as_ref().map(|v| v.version))]);
        self.ask_versions(request, &key, &mut out);
        let op = Operation {
            key,
            deadline: self.now.saturating_add(self.config.timeout),
            phase: Phase::Read {
                highest: mine,
                answers,
            },
        };
        self.ops.insert(request, op);
        self.progress(request, &mut out);
        (request, out)
    }

    /// Starts a client write of `value` under `key`.
    pub fn put(&mut self, key: Key, value: Value, now: Duration) -> (RequestId, Output) {
        let mut out = self.advance(now);
        let request = self.issue();
        let highest = self.store.get(&key).map_or(0, |v| v.version.counter);
        self.ask_versions(request, &key, &mut out);
        let op = Operation {
            key,
            deadline: self.now.saturating_add(self.config.timeout),
            phase: Phase::Versions {
                value,
                highest,
                answered: BTreeSet::from([self.id]),
            },
        };
        self.ops.insert(request, op);
        self.progress(request, &mut out);
        (request, out)
    }

    /// Handles `message` from peer `from` at time `now`.
    pub fn receive(
        &mut self,
        from: NodeId,
        message: Message,
        now: Duration,
    ) -> Result<Output, ReceiveError> {
        if !self.peers.contains(&from) {
            return Err(ReceiveError::UnknownNode(from));
        }
        let malformed = match &message {
            Message::Put { value, .. }
            | Message::GetReply {
                stored: Some(value),
                ..
            } => value.version.counter == 0,
            _ => false,
        };
        if malformed {
            return Err(ReceiveError::Malformed);
        }
        let mut out = self.advance(now);
        match message {
            Message::Get { request, key } => {
                let stored = self.store.get(&key).cloned();
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
                self.store_if_newer(key, value);
                out.messages.push(Outgoing {
                    to: from,
                    message: Message::PutAck { request },
                });
            }
            Message::GetReply { request, stored } => {
                if let Some(op) = self.ops.get_mut(&request) {
                    match &mut op.phase {
                        Phase::Read { highest, answers } => {
                            if let Entry::Vacant(slot) = answers.entry(from) {
                                slot.insert(stored.as_ref().map(|v| v.version));
                                if stored.as_ref().map(|v| v.version)
                                    > highest.as_ref().map(|v| v.version)
                                {
                                    *highest = stored;
                                }
                            }
                        }
                        Phase::Versions {
                            highest, answered, ..
                        } => {
                            if answered.insert(from) {
                                let counter = stored.map_or(0, |v| v.version.counter);
                                *highest = (*highest).max(counter);
                            }
                        }
                        Phase::Write { .. } => {}
                    }
                    self.progress(request, &mut out);
                }
            }
            Message::PutAck { request } => {
                if let Some(Operation {
                    phase: Phase::Write { acked, .. },
                    ..
                }) = self.ops.get_mut(&request)
                {
                    acked.insert(from);
                    self.progress(request, &mut out);
                }
            }
        }
        Ok(out)
    }

    /// Lets time pass up to `now`: operations past their deadline fail.
    pub fn tick(&mut self, now: Duration) -> Output {
        self.advance(now)
    }

    /// What this node's replica stores for `key`.
    pub fn stored(&self, key: &str) -> Option<Versioned> {
        self.store.get(key).cloned()
    }

    /// Everything this node's replica stores.
    pub fn snapshot(&self) -> BTreeMap<Key, Versioned> {
        self.store.clone()
    }

    /// How many client operations this node coordinates that have not
    /// finished yet.
    pub fn in_flight(&self) -> usize {
        self.ops.len()
    }

    /// A fresh request id of this boot.
    fn issue(&mut self) -> RequestId {
        let request = RequestId {
            boot: self.boot,
            seq: self.next_seq,
        };
        // 2^64 operations in one boot is not a case to handle; wrapping
        // keeps the node alive if it ever were.
        self.next_seq = self.next_seq.wrapping_add(1);
        request
    }

    /// Moves the clock to `now` (never back) and fails every operation
    /// whose deadline has come.
    fn advance(&mut self, now: Duration) -> Output {
        self.now = self.now.max(now);
        let due: Vec<RequestId> = self
            .ops
            .iter()
            .filter(|(_, op)| op.deadline <= self.now)
            .map(|(&request, _)| request)
            .collect();
        let mut out = Output::default();
        for request in due {
            self.ops.remove(&request);
            out.completed.push(Completion {
                request,
                result: Err(OpError::Timeout),
            });
        }
        out
    }

    fn ask_versions(&self, request: RequestId, key: &str, out: &mut Output) {
        for &to in &self.peers {
            out.messages.push(Outgoing {
                to,
                message: Message::Get {
                    request,
                    key: key.to_owned(),
                },
            });
        }
    }

    /// Stores `value` under `key` unless the replica holds a version at
    /// least as high.
    fn store_if_newer(&mut self, key: Key, value: Versioned) {
        match self.store.entry(key) {
            Entry::Vacant(slot) => {
                slot.insert(value);
            }
            Entry::Occupied(mut slot) => {
                if value.version > slot.get().version {
                    slot.insert(value);
                }
            }
        }
    }

    /// Completes `request`, or moves it to its next phase, if its quorum
    /// has been reached.
    fn progress(&mut self, request: RequestId, out: &mut Output) {
        let Some(op) = self.ops.get_mut(&request) else {
            return;
        };
        match &mut op.phase {
            Phase::Read { answers, .. } => {
                if answers.len() < self.config.read_quorum {
                    return;
                }
                let Some(Operation {
                    key,
                    phase: Phase::Read { highest, answers },
                    ..
                }) = self.ops.remove(&request)
                else {
                    return;
                };
                if let Some(best) = &highest {
                    for (&replica, &answered) in &answers {
                        if answered >= Some(best.version) {
                            continue;
                        }
                        if replica == self.id {
                            self.store_if_newer(key.clone(), best.clone());
                        } else {
                            out.messages.push(Outgoing {
                                to: replica,
                                message: Message::Put {
                                    request,
                                    key: key.clone(),
                                    value: best.clone(),
                                },
                            });
                        }
                    }
                }
                out.completed.push(Completion {
                    request,
                    result: Ok(Answer::Read(highest)),
                });
            }
            Phase::Versions {
                value,
                highest,
                answered,
            } => {
                if answered.len() < self.config.read_quorum {
                    return;
                }
                // Its own replica is read again now: a write of the key this
                // node picked a version for since this one started is in it,
                // and two writes through one coordinator must differ too.
                let own = self.store.get(&op.key).map_or(0, |v| v.version.counter);
                let Some(counter) = (*highest).max(own).checked_add(1) else {
                    self.ops.remove(&request);
                    out.completed.push(Completion {
                        request,
                        result: Err(OpError::VersionsExhausted),
                    });
                    return;
                };
                let version = Version {
                    counter,
                    writer: self.id,
                };
                let versioned = Versioned {
                    version,
                    value: std::mem::take(value),
                };
                op.phase = Phase::Write {
                    version,
                    acked: BTreeSet::from([self.id]),
                };
                let key = op.key.clone();
                for &to in &self.peers {
                    out.messages.push(Outgoing {
                        to,
                        message: Message::Put {
                            request,
                            key: key.clone(),
                            value: versioned.clone(),
                        },
                    });
                }
                self.store_if_newer(key, versioned);
                // W may already be met by this node alone.
                self.progress(request, out);
            }
            Phase::Write { version, acked } => {
                if acked.len() < self.config.write_quorum {
                    return;
                }
                let version = *version;
                self.ops.remove(&request);
                out.completed.push(Completion {
                    request,
                    result: Ok(Answer::Written(version)),
                });
            }
        }
    }
}
