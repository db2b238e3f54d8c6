//! # Saga orchestrator: the reference solution
//!
//! The log is one row per saga in SQLite: where it stands (`state`), and a
//! cursor (`cursor`): while running, the index of the next step to execute;
//! while compensating, the number of steps still to compensate (the next
//! compensation is that of step `cursor - 1`). Every outcome of a call moves
//! the row with ONE `UPDATE` (one commit), so the log is always either before
//! or after a call's outcome, never half way; a call is made only once the
//! previous outcome is committed, so after a crash the only call repeated is
//! the one in flight.
//!
//! Idempotency keys are derived, not stored: the saga id (length-prefixed,
//! so that no separator inside it can make two keys equal), the step's index
//! and the direction. They are the same from any orchestrator on the file.
//!
//! The definition is kept in the file (`saga_steps` and `saga_meta`) and
//! compared on `open`: resuming a log with another definition's step indexes
//! would call the wrong steps.

use std::error::Error as StdError;
use std::fmt;
use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

/// How long a statement waits for another connection's lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The steps of a saga, in order, and its pivot.
///
/// The steps before the pivot are *compensatable*: each has a compensation
/// that undoes it (release the stock). The pivot is the point of no return
/// (charge the card): if it fails, the steps before it are compensated; once
/// it has succeeded, the saga only goes forward. The steps after the pivot
/// are *retriable* (create the shipment): a failure is retried by the next
/// [`Orchestrator::resume`], never compensated. The pivot and the steps after
/// it are never compensated.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SagaDefinition {
    steps: Vec<String>,
    pivot: usize,
}

impl SagaDefinition {
    /// A saga of `steps`, in order, whose pivot is `steps[pivot]`.
    ///
    /// # Errors
    ///
    /// [`SagaError::NoSteps`] if `steps` is empty,
    /// [`SagaError::PivotOutOfRange`] if `pivot >= steps.len()`,
    /// [`SagaError::EmptyStepName`] if a name is `""`,
    /// [`SagaError::DuplicateStep`] if two steps have the same name.
    pub fn new(steps: &[&str], pivot: usize) -> Result<Self, SagaError> {
        if steps.is_empty() {
            return Err(SagaError::NoSteps);
        }
        if pivot >= steps.len() {
            return Err(SagaError::PivotOutOfRange {
                pivot,
                steps: steps.len(),
            });
        }
        let mut seen = std::collections::HashSet::with_capacity(steps.len());
        for &step in steps {
            if step.is_empty() {
                return Err(SagaError::EmptyStepName);
            }
            if !seen.insert(step) {
                return Err(SagaError::DuplicateStep(step.to_owned()));
            }
        }
        Ok(Self {
            steps: steps.iter().map(|&s| s.to_owned()).collect(),
            pivot,
        })
    }

    /// The step names, in order.
    pub fn steps(&self) -> &[String] {
        &self.steps
    }

    /// The index of the pivot in [`SagaDefinition::steps`].
    pub fn pivot(&self) -> usize {
        self.pivot
    }
}

/// One call of a participant: a step of a saga, or its compensation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Call<'a> {
    /// The saga the call belongs to.
    pub saga_id: &'a str,
    /// The step executed, or compensated.
    pub step: &'a str,
    /// The participant does the work of a key at most once: a call with a key
    /// it has seen succeed returns that success again and does nothing, and a
    /// step up to the pivot that it refused stays refused for that key (a
    /// temporary failure is not remembered). Every call of the same step (or
    /// the same compensation) of the same saga carries the same key, however
    /// often it is retried or resumed, by whichever orchestrator; any two
    /// different calls (another saga, another step, a step and its
    /// compensation) carry different keys.
    pub idempotency_key: &'a str,
}

/// Why a participant did not do a call.
///
/// For a step up to and including the pivot, a refusal (out of stock, card
/// declined): the step did nothing, and the saga turns to compensating. For a
/// step after the pivot, or a compensation, a temporary failure (the service
/// is down): it did nothing this time, and the next resume tries again.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Failure(pub String);

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "call failed: {}", self.0)
    }
}

impl StdError for Failure {}

/// The services that do the work, as the orchestrator sees them.
///
/// A crash of the orchestrator may happen at any moment, including inside a
/// call (after the participant did the work, before the orchestrator heard
/// of it): the spec's participant then panics, and the orchestrator is
/// dropped without another word.
pub trait Participant {
    /// Executes `call.step` of `call.saga_id`.
    fn execute(&mut self, call: &Call<'_>) -> Result<(), Failure>;

    /// Undoes `call.step` of `call.saga_id`, which was executed before.
    fn compensate(&mut self, call: &Call<'_>) -> Result<(), Failure>;
}

/// Where a saga stands.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SagaStatus {
    /// Going forward: steps are left to execute (a step after the pivot
    /// failed and waits for the next resume, or the orchestrator stopped
    /// mid-way).
    Running,
    /// Every step has been executed. Final.
    Completed,
    /// `failed_step` (at or before the pivot) was refused with `reason`;
    /// compensations are left to run (one failed and waits for the next
    /// resume, or the orchestrator stopped mid-way).
    Compensating {
        /// The step that was refused.
        failed_step: String,
        /// The participant's [`Failure`] message.
        reason: String,
    },
    /// `failed_step` was refused with `reason`, and every step executed
    /// before it has been compensated. Final.
    Compensated {
        /// The step that was refused.
        failed_step: String,
        /// The participant's [`Failure`] message.
        reason: String,
    },
}

impl SagaStatus {
    /// Whether the saga is over ([`SagaStatus::Completed`] or
    /// [`SagaStatus::Compensated`]): nothing will ever be called for it again.
    #[must_use]
    pub fn is_final(&self) -> bool {
        matches!(self, Self::Completed | Self::Compensated { .. })
    }
}

/// Why an orchestrator operation failed. Nothing was called and nothing was
/// written, except for [`SagaError::Database`] in the middle of a run (then
/// the log is as a crash at that moment would have left it).
#[derive(Debug)]
pub enum SagaError {
    /// A saga definition needs at least one step.
    NoSteps,
    /// The pivot is not one of the steps.
    PivotOutOfRange {
        /// The pivot given.
        pivot: usize,
        /// The number of steps.
        steps: usize,
    },
    /// A step name is empty.
    EmptyStepName,
    /// Two steps have this name.
    DuplicateStep(String),
    /// The file's log was written for another definition (other steps, or
    /// another pivot).
    DefinitionMismatch,
    /// A saga id is empty.
    EmptySagaId,
    /// [`Orchestrator::start`] of an id the log already has.
    SagaExists(String),
    /// No saga has this id.
    UnknownSaga(String),
    /// SQLite failed.
    Database(rusqlite::Error),
}

impl fmt::Display for SagaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoSteps => write!(f, "a saga needs at least one step"),
            Self::PivotOutOfRange { pivot, steps } => {
                write!(f, "pivot {pivot} is not one of the {steps} steps")
            }
            Self::EmptyStepName => write!(f, "a step name is empty"),
            Self::DuplicateStep(name) => write!(f, "two steps are named {name:?}"),
            Self::DefinitionMismatch => {
                write!(f, "the log was written for another saga definition")
            }
            Self::EmptySagaId => write!(f, "the saga id is empty"),
            Self::SagaExists(id) => write!(f, "saga {id:?} was started already"),
            Self::UnknownSaga(id) => write!(f, "no saga has id {id:?}"),
            Self::Database(e) => write!(f, "database error: {e}"),
        }
    }
}

impl StdError for SagaError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            Self::Database(e) => Some(e),
            _ => None,
        }
    }
}

impl From<rusqlite::Error> for SagaError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Database(e)
    }
}

// The `state` column.
const RUNNING: i64 = 0;
const COMPENSATING: i64 = 1;
const COMPLETED: i64 = 2;
const COMPENSATED: i64 = 3;

/// A saga's row of the log.
struct Row {
    state: i64,
    /// Running: the next step to execute. Compensating: how many steps are
    /// left to compensate.
    cursor: usize,
    failed_step: Option<usize>,
    reason: Option<String>,
}

/// The two directions of a call, as they appear in its key.
#[derive(Clone, Copy)]
enum Direction {
    Execute,
    Compensate,
}

/// The idempotency key of one call: injective in (saga, step, direction)
/// because the saga id is length-prefixed and the rest is digits and a
/// fixed word.
fn idempotency_key(saga_id: &str, step: usize, direction: Direction) -> String {
    let direction = match direction {
        Direction::Execute => "execute",
        Direction::Compensate => "compensate",
    };
    format!("saga:{}:{saga_id}:step:{step}:{direction}", saga_id.len())
}

fn to_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn to_usize(n: i64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// Runs sagas of one definition, with their log in one SQLite file.
///
/// One orchestrator at a time uses a file, and does its SQLite work on the
/// thread that calls it. Dropping it at any moment (a crash) loses nothing
/// that was committed: a new one opened on the same file with the same
/// definition resumes every saga from the log. Do not catch panics: a
/// participant that panics is the process dying.
#[derive(Debug)]
pub struct Orchestrator {
    conn: Connection,
    definition: SagaDefinition,
}

impl Orchestrator {
    /// Opens (creating if needed) the log at `path` for sagas of
    /// `definition`.
    ///
    /// # Errors
    ///
    /// [`SagaError::DefinitionMismatch`] if the file's log was written for
    /// another definition; [`SagaError::Database`] if SQLite fails.
    pub fn open(path: impl AsRef<Path>, definition: SagaDefinition) -> Result<Self, SagaError> {
        let mut conn = Connection::open(path)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // WAL: a commit is one append to the log file; FULL: it is on disk
        // when the commit returns, so a machine crash loses no outcome either.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        // The schema and the definition in one transaction: a crash in the
        // middle leaves an empty file, never tables without a definition.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(
            "CREATE TABLE IF NOT EXISTS saga_meta (
                 only  INTEGER PRIMARY KEY CHECK (only = 1),
                 pivot INTEGER NOT NULL
             );
             CREATE TABLE IF NOT EXISTS saga_steps (
                 idx  INTEGER PRIMARY KEY,
                 name TEXT NOT NULL
             );
             CREATE TABLE IF NOT EXISTS sagas (
                 seq         INTEGER PRIMARY KEY AUTOINCREMENT,
                 id          TEXT NOT NULL UNIQUE,
                 state       INTEGER NOT NULL,
                 cursor      INTEGER NOT NULL,
                 failed_step INTEGER,
                 reason      TEXT
             );
             -- Recovery reads the unfinished sagas only, in start order.
             CREATE INDEX IF NOT EXISTS sagas_unfinished
                 ON sagas (seq) WHERE state < 2;",
        )?;
        let pivot: Option<i64> = tx
            .query_row("SELECT pivot FROM saga_meta", [], |r| r.get(0))
            .optional()?;
        match pivot {
            None => {
                tx.execute(
                    "INSERT INTO saga_meta (only, pivot) VALUES (1, ?1)",
                    [to_i64(definition.pivot)],
                )?;
                let mut insert =
                    tx.prepare("INSERT INTO saga_steps (idx, name) VALUES (?1, ?2)")?;
                for (i, name) in definition.steps.iter().enumerate() {
                    insert.execute(params![to_i64(i), name])?;
                }
            }
            Some(pivot) => {
                let steps = tx
                    .prepare("SELECT name FROM saga_steps ORDER BY idx")?
                    .query_map([], |r| r.get::<_, String>(0))?
                    .collect::<Result<Vec<_>, _>>()?;
                if to_usize(pivot) != definition.pivot || steps != definition.steps {
                    return Err(SagaError::DefinitionMismatch);
                }
            }
        }
        tx.commit()?;
        Ok(Self { conn, definition })
    }

    /// Starts saga `saga_id` and runs it as far as it goes (see
    /// [`Orchestrator::resume`]); returns where it stands.
    ///
    /// # Errors
    ///
    /// [`SagaError::EmptySagaId`], [`SagaError::SagaExists`] (nothing is
    /// called then), [`SagaError::Database`].
    pub fn start(
        &mut self,
        saga_id: &str,
        participant: &mut impl Participant,
    ) -> Result<SagaStatus, SagaError> {
        if saga_id.is_empty() {
            return Err(SagaError::EmptySagaId);
        }
        let inserted = self.conn.execute(
            "INSERT INTO sagas (id, state, cursor) VALUES (?1, ?2, 0) ON CONFLICT (id) DO NOTHING",
            params![saga_id, RUNNING],
        )?;
        if inserted == 0 {
            return Err(SagaError::SagaExists(saga_id.to_owned()));
        }
        self.run(saga_id, participant)
    }

    /// Runs saga `saga_id` from where its log says it stands, as far as it
    /// goes, and returns where it stands:
    ///
    /// - forward, each step in order, once the previous one has succeeded;
    /// - when a step at or before the pivot is refused, the compensations of
    ///   the steps executed before it, in reverse order, each once the
    ///   later one has succeeded; the refused step is not compensated;
    /// - at most one attempt per run at a call that fails: a failed step
    ///   after the pivot leaves the saga [`SagaStatus::Running`], a failed
    ///   compensation leaves it [`SagaStatus::Compensating`], for the next
    ///   resume to try again;
    /// - a call whose outcome is in the log is never made again: after a
    ///   crash, only the call in flight at the crash is repeated;
    /// - a final saga is returned as it is, with no call.
    ///
    /// # Errors
    ///
    /// [`SagaError::UnknownSaga`], [`SagaError::Database`].
    pub fn resume(
        &mut self,
        saga_id: &str,
        participant: &mut impl Participant,
    ) -> Result<SagaStatus, SagaError> {
        self.run(saga_id, participant)
    }

    /// Resumes every saga that is not final, in the order they were
    /// started, and returns each one's id and where it stands afterwards.
    ///
    /// # Errors
    ///
    /// [`SagaError::Database`].
    pub fn resume_all(
        &mut self,
        participant: &mut impl Participant,
    ) -> Result<Vec<(String, SagaStatus)>, SagaError> {
        let ids = self
            .conn
            .prepare_cached("SELECT id FROM sagas WHERE state < 2 ORDER BY seq")?
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let status = self.run(&id, participant)?;
            out.push((id, status));
        }
        Ok(out)
    }

    /// Where saga `saga_id` stands, from the log; calls nothing.
    ///
    /// # Errors
    ///
    /// [`SagaError::UnknownSaga`], [`SagaError::Database`].
    pub fn status(&self, saga_id: &str) -> Result<SagaStatus, SagaError> {
        let row = self.row(saga_id)?;
        Ok(self.status_of(&row))
    }

    fn row(&self, saga_id: &str) -> Result<Row, SagaError> {
        self.conn
            .prepare_cached("SELECT state, cursor, failed_step, reason FROM sagas WHERE id = ?1")?
            .query_row([saga_id], |r| {
                Ok(Row {
                    state: r.get(0)?,
                    cursor: to_usize(r.get(1)?),
                    failed_step: r.get::<_, Option<i64>>(2)?.map(to_usize),
                    reason: r.get(3)?,
                })
            })
            .optional()?
            .ok_or_else(|| SagaError::UnknownSaga(saga_id.to_owned()))
    }

    fn status_of(&self, row: &Row) -> SagaStatus {
        let failure = || {
            let failed_step = row
                .failed_step
                .and_then(|i| self.definition.steps.get(i))
                .cloned()
                .unwrap_or_default();
            (failed_step, row.reason.clone().unwrap_or_default())
        };
        match row.state {
            RUNNING => SagaStatus::Running,
            COMPLETED => SagaStatus::Completed,
            COMPENSATING => {
                let (failed_step, reason) = failure();
                SagaStatus::Compensating {
                    failed_step,
                    reason,
                }
            }
            _ => {
                let (failed_step, reason) = failure();
                SagaStatus::Compensated {
                    failed_step,
                    reason,
                }
            }
        }
    }

    /// Moves the saga's row to `state` and `cursor`: one statement, one
    /// commit.
    fn advance(&self, saga_id: &str, state: i64, cursor: usize) -> Result<(), SagaError> {
        self.conn
            .prepare_cached("UPDATE sagas SET state = ?2, cursor = ?3 WHERE id = ?1")?
            .execute(params![saga_id, state, to_i64(cursor)])?;
        Ok(())
    }

    /// The saga's state machine, from its row, until it is final or a call
    /// fails.
    fn run(
        &mut self,
        saga_id: &str,
        participant: &mut impl Participant,
    ) -> Result<SagaStatus, SagaError> {
        let mut row = self.row(saga_id)?;
        let steps = self.definition.steps.len();
        let pivot = self.definition.pivot;
        loop {
            match row.state {
                RUNNING if row.cursor < steps => {
                    let step = row.cursor;
                    let key = idempotency_key(saga_id, step, Direction::Execute);
                    let call = Call {
                        saga_id,
                        step: &self.definition.steps[step],
                        idempotency_key: &key,
                    };
                    match participant.execute(&call) {
                        Ok(()) => {
                            row.cursor = step + 1;
                            if row.cursor == steps {
                                row.state = COMPLETED;
                            }
                            self.advance(saga_id, row.state, row.cursor)?;
                        }
                        Err(Failure(reason)) if step <= pivot => {
                            // Compensate the `step` steps executed before
                            // this one; with none, the saga is over at once.
                            row.state = if step == 0 { COMPENSATED } else { COMPENSATING };
                            self.conn
                                .prepare_cached(
                                    "UPDATE sagas
                                     SET state = ?2, cursor = ?3, failed_step = ?3, reason = ?4
                                     WHERE id = ?1",
                                )?
                                .execute(params![saga_id, row.state, to_i64(step), reason])?;
                            row.failed_step = Some(step);
                            row.reason = Some(reason);
                        }
                        // After the pivot: the next resume tries again.
                        Err(_) => break,
                    }
                }
                COMPENSATING if row.cursor > 0 => {
                    let step = row.cursor - 1;
                    let key = idempotency_key(saga_id, step, Direction::Compensate);
                    let call = Call {
                        saga_id,
                        step: &self.definition.steps[step],
                        idempotency_key: &key,
                    };
                    match participant.compensate(&call) {
                        Ok(()) => {
                            row.cursor = step;
                            if step == 0 {
                                row.state = COMPENSATED;
                            }
                            self.advance(saga_id, row.state, row.cursor)?;
                        }
                        // The next resume tries the same compensation again.
                        Err(_) => break,
                    }
                }
                // Final, or a row from a crash that left nothing to do
                // (cannot happen: each outcome sets the final state with it).
                _ => break,
            }
        }
        Ok(self.status_of(&row))
    }
}
