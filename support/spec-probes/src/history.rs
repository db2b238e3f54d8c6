//! Linearizability of a recorded history of client operations.
//!
//! A distributed kata's spec records, for every client operation, when it
//! was called, when (if ever) it returned, what it asked and what it got.
//! The history is linearizable when every operation can be given one
//! instant between its call and its return such that, taken in that order,
//! the answers are those of a single sequential object (the [`Model`]).
//!
//! The search is Wing and Gong's, with Lowe's cache of states already
//! explored (as Porcupine does): exponential in the worst case, fast on the
//! histories of a spec (a few hundred operations, a handful of clients).
//! Check each key of a store on its own ([`linearizable_per_key`]): a store
//! is linearizable exactly when each of its keys is, and small histories
//! search fast.
//!
//! Two conventions a spec should know:
//! - An operation whose caller gave up (a timeout, a lost connection) has
//!   `ret: None` and `output: None`: it may have taken effect at any instant
//!   after its call, or never. The checker may place it after everything
//!   else, which is how "never" is covered.
//! - Instants are compared strictly: an operation that returns at the very
//!   instant another is called is concurrent with it. A simulated clock
//!   puts many events at one instant, in an order the history cannot see.

use std::collections::{BTreeMap, HashSet};
use std::fmt::{self, Debug};
use std::hash::Hash;

/// The sequential object a history is judged against.
pub trait Model: Clone + Eq + Hash {
    type Input: Debug;
    type Output: Debug;

    /// The state after `input` takes effect on `self`, if that is
    /// consistent with the answer the client saw. `output` is `None` for an
    /// operation whose answer was never seen: the step then only says what
    /// it would have changed.
    fn step(&self, input: &Self::Input, output: Option<&Self::Output>) -> Option<Self>;
}

/// One client operation as the spec recorded it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation<I, O, T> {
    pub input: I,
    /// The answer, `None` if the caller never saw one.
    pub output: Option<O>,
    /// When the client sent it.
    pub call: T,
    /// When the client got its answer, `None` if it never did.
    pub ret: Option<T>,
}

/// Why a history is not linearizable: the longest order found that
/// explains a prefix of it, and an operation that could not be placed.
#[derive(Clone, PartialEq, Eq)]
pub struct Violation {
    /// The operations (as `Debug` text, with their index in the history) of
    /// the longest linearizable order found, in that order.
    pub longest_order: Vec<String>,
    /// The operation that returned before any state reachable by that order
    /// could give its answer.
    pub stuck_at: String,
}

impl Debug for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "not linearizable: no order of the operations explains {}; the longest order that explains a prefix is [{}]",
            self.stuck_at,
            self.longest_order.join(", ")
        )
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Debug::fmt(self, f)
    }
}

impl std::error::Error for Violation {}

/// A register (one key of a key-value store): reads see the last write.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Register<V>(pub Option<V>);

/// What a client asks of a [`Register`]. A read's output is the value it
/// saw (`None`: nothing written yet); a write's output is ignored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegisterOp<V> {
    Read,
    Write(V),
}

impl<V: Clone + Eq + Hash + Debug> Model for Register<V> {
    type Input = RegisterOp<V>;
    type Output = Option<V>;

    fn step(&self, input: &RegisterOp<V>, output: Option<&Option<V>>) -> Option<Self> {
        match input {
            RegisterOp::Write(value) => Some(Register(Some(value.clone()))),
            RegisterOp::Read => match output {
                Some(seen) if *seen != self.0 => None,
                _ => Some(self.clone()),
            },
        }
    }
}

/// An operation on a model `M`, with instants of type `T`.
pub type OperationOf<M, T> = Operation<<M as Model>::Input, <M as Model>::Output, T>;

/// Whether `history`, starting from `init`, is linearizable.
pub fn linearizable<M, T>(init: M, history: &[OperationOf<M, T>]) -> Result<(), Violation>
where
    M: Model,
    T: Ord + Copy,
{
    Search::new(history).run(init)
}

/// Whether every key's history is linearizable on its own, each key
/// starting from `init(key)`. The error names the first key that is not.
pub fn linearizable_per_key<K, M, T>(
    init: impl Fn(&K) -> M,
    history: &[(K, OperationOf<M, T>)],
) -> Result<(), (K, Violation)>
where
    K: Ord + Clone,
    M: Model,
    M::Input: Clone,
    M::Output: Clone,
    T: Ord + Copy,
{
    let mut by_key: BTreeMap<&K, Vec<OperationOf<M, T>>> = BTreeMap::new();
    for (key, op) in history {
        by_key.entry(key).or_default().push(op.clone());
    }
    for (key, ops) in by_key {
        linearizable(init(key), &ops).map_err(|v| ((*key).clone(), v))?;
    }
    Ok(())
}

/// The call and return events of a history, in time order, as a doubly
/// linked list whose nodes can be lifted out and put back (dancing links),
/// so backtracking restores the list in O(1).
struct Search<'h, I, O, T> {
    history: &'h [Operation<I, O, T>],
    /// Events by node index; node 0 is the list's head.
    events: Vec<Event>,
    prev: Vec<usize>,
    next: Vec<usize>,
}

#[derive(Clone, Copy)]
struct Event {
    op: usize,
    is_call: bool,
    /// The node of the matching return, for a call.
    partner: usize,
}

const NONE: usize = usize::MAX;

impl<'h, I: Debug, O: Debug, T: Ord + Copy> Search<'h, I, O, T> {
    fn new(history: &'h [Operation<I, O, T>]) -> Self {
        // A missing return is later than every instant; on a tie a call
        // sorts before a return, which makes the two concurrent.
        let mut order: Vec<(Option<T>, bool, usize)> = Vec::with_capacity(2 * history.len());
        for (i, op) in history.iter().enumerate() {
            order.push((Some(op.call), true, i));
            order.push((op.ret, false, i));
        }
        order.sort_by(|a, b| {
            let at = |e: &(Option<T>, bool, usize)| (e.0.is_none(), e.0);
            at(a).cmp(&at(b)).then(b.1.cmp(&a.1)).then(a.2.cmp(&b.2))
        });
        let mut events = vec![Event {
            op: NONE,
            is_call: false,
            partner: NONE,
        }];
        let mut return_node = vec![NONE; history.len()];
        for &(_, is_call, op) in &order {
            if !is_call {
                return_node[op] = events.len();
            }
            events.push(Event {
                op,
                is_call,
                partner: NONE,
            });
        }
        for event in events.iter_mut().skip(1).filter(|e| e.is_call) {
            event.partner = return_node[event.op];
        }
        let n = events.len();
        let prev = (0..n).map(|i| i.checked_sub(1).unwrap_or(NONE)).collect();
        let next = (0..n)
            .map(|i| if i + 1 < n { i + 1 } else { NONE })
            .collect();
        Search {
            history,
            events,
            prev,
            next,
        }
    }

    fn lift(&mut self, node: usize) {
        let (p, n) = (self.prev[node], self.next[node]);
        self.next[p] = n;
        if n != NONE {
            self.prev[n] = p;
        }
    }

    fn unlift(&mut self, node: usize) {
        let (p, n) = (self.prev[node], self.next[node]);
        self.next[p] = node;
        if n != NONE {
            self.prev[n] = node;
        }
    }

    fn run<M>(mut self, init: M) -> Result<(), Violation>
    where
        M: Model<Input = I, Output = O>,
    {
        let mut state = init;
        let mut linearized = vec![0u64; self.history.len().div_ceil(64)];
        let mut seen: HashSet<(Vec<u64>, M)> = HashSet::new();
        // The calls taken, each with the state before it.
        let mut stack: Vec<(usize, M)> = Vec::new();
        let mut longest: Vec<usize> = Vec::new();
        let mut stuck = NONE;
        let mut node = self.next[0];
        while self.next[0] != NONE {
            // Every call's return follows it in the list and stops the walk
            // (placing the call, or backtracking) before the list's end.
            assert_ne!(node, NONE, "the walk ran off the list of events");
            let event = self.events[node];
            if event.is_call {
                let op = &self.history[event.op];
                if let Some(after) = state.step(&op.input, op.output.as_ref()) {
                    let bit = 1 << (event.op % 64);
                    linearized[event.op / 64] |= bit;
                    if seen.insert((linearized.clone(), after.clone())) {
                        stack.push((node, std::mem::replace(&mut state, after)));
                        self.lift(node);
                        self.lift(event.partner);
                        if stack.len() > longest.len() {
                            longest = stack.iter().map(|&(n, _)| self.events[n].op).collect();
                        }
                        node = self.next[0];
                        continue;
                    }
                    linearized[event.op / 64] &= !bit;
                }
                node = self.next[node];
            } else {
                // A return reached with its operation not yet placed: what
                // was placed before it must change.
                if stuck == NONE || stack.len() == longest.len() {
                    stuck = event.op;
                }
                let Some((call, before)) = stack.pop() else {
                    return Err(self.violation(&longest, stuck));
                };
                let op = self.events[call].op;
                linearized[op / 64] &= !(1 << (op % 64));
                state = before;
                self.unlift(self.events[call].partner);
                self.unlift(call);
                node = self.next[call];
            }
        }
        Ok(())
    }

    fn violation(&self, longest: &[usize], stuck: usize) -> Violation {
        let describe = |i: usize| {
            let op = &self.history[i];
            format!("#{i} {:?} -> {:?}", op.input, op.output)
        };
        Violation {
            longest_order: longest.iter().map(|&i| describe(i)).collect(),
            stuck_at: describe(stuck),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Op = Operation<RegisterOp<u32>, Option<u32>, u64>;

    fn write(v: u32, call: u64, ret: u64) -> Op {
        Operation {
            input: RegisterOp::Write(v),
            output: Some(None),
            call,
            ret: Some(ret),
        }
    }

    fn read(seen: Option<u32>, call: u64, ret: u64) -> Op {
        Operation {
            input: RegisterOp::Read,
            output: Some(seen),
            call,
            ret: Some(ret),
        }
    }

    fn gave_up(input: RegisterOp<u32>, call: u64) -> Op {
        Operation {
            input,
            output: None,
            call,
            ret: None,
        }
    }

    fn check(ops: &[Op]) -> Result<(), Violation> {
        linearizable(Register(None), ops)
    }

    #[test]
    fn a_sequential_history_that_reads_its_writes_is_linearizable() {
        let ops = [
            read(None, 0, 1),
            write(1, 2, 3),
            read(Some(1), 4, 5),
            write(2, 6, 7),
            read(Some(2), 8, 9),
        ];
        assert_eq!(check(&ops), Ok(()));
    }

    #[test]
    fn an_empty_history_is_linearizable() {
        assert_eq!(check(&[]), Ok(()));
    }

    #[test]
    fn a_read_after_a_completed_write_that_sees_the_old_value_is_not() {
        let ops = [write(1, 0, 1), write(2, 2, 3), read(Some(1), 4, 5)];
        let err = check(&ops).unwrap_err();
        assert!(err.stuck_at.starts_with("#2 Read"), "{err:?}");
    }

    #[test]
    fn a_read_of_a_value_never_written_is_not() {
        assert!(check(&[write(1, 0, 1), read(Some(7), 2, 3)]).is_err());
    }

    #[test]
    fn a_read_concurrent_with_a_write_may_see_either_value() {
        for seen in [None, Some(1)] {
            let ops = [write(1, 0, 10), read(seen, 5, 6)];
            assert_eq!(check(&ops), Ok(()), "read saw {seen:?}");
        }
    }

    #[test]
    fn two_reads_in_sequence_must_not_see_new_then_old() {
        // Both reads overlap the write, but the second starts after the
        // first returned: once a reader saw 1, nobody later sees None.
        let ops = [write(1, 0, 100), read(Some(1), 10, 20), read(None, 30, 40)];
        assert!(check(&ops).is_err());
        let ops = [write(1, 0, 100), read(None, 10, 20), read(Some(1), 30, 40)];
        assert_eq!(check(&ops), Ok(()));
    }

    #[test]
    fn a_write_whose_caller_gave_up_may_have_taken_effect_or_not() {
        let seen = [gave_up(RegisterOp::Write(1), 0), read(Some(1), 5, 6)];
        assert_eq!(check(&seen), Ok(()));
        let unseen = [gave_up(RegisterOp::Write(1), 0), read(None, 5, 6)];
        assert_eq!(check(&unseen), Ok(()));
        // But not before it was sent.
        let early = [read(Some(1), 0, 1), gave_up(RegisterOp::Write(1), 2)];
        assert!(check(&early).is_err());
    }

    #[test]
    fn an_operation_returning_at_the_instant_another_is_called_is_concurrent_with_it() {
        // Under a simulated clock both happen at t = 5, in an order the
        // history cannot see.
        let ops = [read(None, 0, 5), write(1, 5, 6)];
        assert_eq!(check(&ops), Ok(()));
        let ops = [write(1, 0, 5), read(None, 5, 6)];
        assert_eq!(check(&ops), Ok(()));
        let ops = [write(1, 0, 5), read(None, 6, 7)];
        assert!(check(&ops).is_err());
    }

    #[test]
    fn the_error_names_the_longest_explained_order() {
        let ops = [write(1, 0, 1), read(Some(1), 2, 3), read(Some(2), 4, 5)];
        let err = check(&ops).unwrap_err();
        assert_eq!(err.longest_order.len(), 2, "{err:?}");
        assert!(err.stuck_at.contains("Some(Some(2))"), "{err:?}");
        assert!(format!("{err}").contains("not linearizable"));
    }

    #[test]
    fn keys_are_judged_apart() {
        let history = [
            ("a", write(1, 0, 1)),
            ("b", read(None, 2, 3)),
            ("a", read(Some(1), 4, 5)),
            ("b", write(2, 6, 7)),
            ("b", read(Some(2), 8, 9)),
        ];
        assert_eq!(linearizable_per_key(|_| Register(None), &history), Ok(()));
        let stale = [("a", write(1, 0, 1)), ("b", read(Some(1), 2, 3))];
        let (key, _) = linearizable_per_key(|_| Register(None), &stale).unwrap_err();
        assert_eq!(key, "b");
    }

    /// Many concurrent clients over a correct register: a history long
    /// enough to need the cache of explored states.
    #[test]
    fn a_long_concurrent_history_of_a_real_register_is_linearizable() {
        let mut ops = Vec::new();
        let mut value = None;
        let mut draws = 0;
        let mut rand = move || {
            draws += 1;
            crate::sim::derive(0, draws)
        };
        // Four clients, each with one operation in flight; the register
        // takes effect at a random instant inside each operation's window.
        let mut t = 0u64;
        for round in 0..60u32 {
            let mut batch: Vec<(u64, u64, RegisterOp<u32>)> = (0..4)
                .map(|c| {
                    let call = t + rand() % 5;
                    let ret = call + 5 + rand() % 10;
                    let input = if (round + c) % 3 == 0 {
                        RegisterOp::Write(round * 4 + c)
                    } else {
                        RegisterOp::Read
                    };
                    (call, ret, input)
                })
                .collect();
            // Effects in order of a point inside [call, ret]: the midpoint.
            batch.sort_by_key(|(call, ret, _)| call + (ret - call) / 2);
            for (call, ret, input) in batch {
                let output = match &input {
                    RegisterOp::Write(v) => {
                        value = Some(*v);
                        None
                    }
                    RegisterOp::Read => value,
                };
                ops.push(Operation {
                    input,
                    output: Some(output),
                    call,
                    ret: Some(ret),
                });
            }
            t += 20;
        }
        assert_eq!(check(&ops), Ok(()));
        // One stale read planted late breaks it.
        let last = ops
            .iter()
            .rposition(|o| o.input == RegisterOp::Read && o.output != Some(None))
            .unwrap();
        ops[last].output = Some(Some(u32::MAX));
        assert!(check(&ops).is_err());
    }
}
