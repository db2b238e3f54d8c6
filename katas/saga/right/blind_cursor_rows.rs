//! # Saga orchestrator (blind right answer: one row per saga with a cursor)
//!
//! The log: `definition` (the steps in order, by index) and `pivot` (one
//! row), written with the schema in ONE transaction in `open`; `sagas` (one
//! row per saga: an AUTOINCREMENT `seq` giving the start order, the id as a
//! UNIQUE key, a state, a cursor, the refused step and its reason), with a
//! partial index over the unfinished ones. Every outcome moves the row with
//! ONE autocommitted statement, written after the call returned; keys come
//! from the id (length-prefixed), the step's index and the direction.

use std::error::Error as StdError;
use std::fmt;
use std::path::Path;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

/// The steps of a saga, in order, and its pivot.
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
    /// [`SagaError::NoSteps`], [`SagaError::PivotOutOfRange`],
    /// [`SagaError::EmptyStepName`], [`SagaError::DuplicateStep`].
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
        if steps.iter().any(|s| s.is_empty()) {
            return Err(SagaError::EmptyStepName);
        }
        let mut seen = std::collections::HashSet::new();
        for s in steps {
            if !seen.insert(*s) {
                return Err(SagaError::DuplicateStep((*s).to_owned()));
            }
        }
        Ok(Self {
            steps: steps.iter().map(|s| (*s).to_owned()).collect(),
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
    /// Same key for every call of one step (or compensation) of one saga.
    pub idempotency_key: &'a str,
}

/// Why a participant did not do a call.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Failure(pub String);

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "call failed: {}", self.0)
    }
}

impl StdError for Failure {}

/// The services that do the work, as the orchestrator sees them.
pub trait Participant {
    /// Executes `call.step` of `call.saga_id`.
    fn execute(&mut self, call: &Call<'_>) -> Result<(), Failure>;

    /// Undoes `call.step` of `call.saga_id`, which was executed before.
    fn compensate(&mut self, call: &Call<'_>) -> Result<(), Failure>;
}

/// Where a saga stands.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SagaStatus {
    /// Going forward.
    Running,
    /// Every step has been executed. Final.
    Completed,
    /// `failed_step` was refused with `reason`; compensations are left.
    Compensating {
        /// The step that was refused.
        failed_step: String,
        /// The participant's [`Failure`] message.
        reason: String,
    },
    /// `failed_step` was refused and everything before it compensated. Final.
    Compensated {
        /// The step that was refused.
        failed_step: String,
        /// The participant's [`Failure`] message.
        reason: String,
    },
}

impl SagaStatus {
    /// Whether the saga is over.
    #[must_use]
    pub fn is_final(&self) -> bool {
        matches!(self, Self::Completed | Self::Compensated { .. })
    }
}

/// Why an orchestrator operation failed.
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
    /// The file's log was written for another definition.
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

// The states in the log. Unfinished ones are below FINAL, so the partial
// index `WHERE state < 2` holds exactly the sagas `resume_all` wants.
const RUNNING: i64 = 0;
const COMPENSATING: i64 = 1;
const COMPLETED: i64 = 2;
const COMPENSATED: i64 = 3;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS saga_steps (
    idx  INTEGER PRIMARY KEY,
    name TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS saga_pivot (
    one   INTEGER PRIMARY KEY CHECK (one = 0),
    pivot INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sagas (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT NOT NULL UNIQUE,
    state       INTEGER NOT NULL,
    cursor      INTEGER NOT NULL,
    failed_step INTEGER,
    reason      TEXT
);
CREATE INDEX IF NOT EXISTS sagas_unfinished ON sagas (seq) WHERE state < 2;
";

/// One saga's row.
struct Row {
    state: i64,
    cursor: usize,
    failed_step: Option<usize>,
    reason: Option<String>,
}

/// Runs sagas of one definition, with their log in one SQLite file.
#[derive(Debug)]
pub struct Orchestrator {
    conn: Connection,
    definition: SagaDefinition,
}

/// The idempotency key of a step's execution (`'x'`) or compensation
/// (`'c'`): the id's length first, so no content of the id can run into
/// the fields after it; the step's index and the direction have no
/// separator in them.
fn key(saga_id: &str, step: usize, dir: char) -> String {
    format!("{}:{saga_id}/{step}/{dir}", saga_id.len())
}

fn to_i64(n: usize) -> i64 {
    i64::try_from(n).expect("a step index fits in i64")
}

fn to_usize(n: i64) -> usize {
    usize::try_from(n).expect("the log holds non-negative indices")
}

impl Orchestrator {
    /// Opens (creating if needed) the log at `path` for sagas of
    /// `definition`.
    ///
    /// # Errors
    ///
    /// [`SagaError::DefinitionMismatch`], [`SagaError::Database`].
    pub fn open(path: impl AsRef<Path>, definition: SagaDefinition) -> Result<Self, SagaError> {
        let mut conn = Connection::open(path)?;
        {
            // Schema and definition in one commit: a crash leaves either
            // nothing or both.
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute_batch(SCHEMA)?;
            let stored_pivot: Option<i64> = tx
                .query_row("SELECT pivot FROM saga_pivot WHERE one = 0", [], |r| {
                    r.get(0)
                })
                .optional()?;
            match stored_pivot {
                None => {
                    for (i, name) in definition.steps.iter().enumerate() {
                        tx.execute(
                            "INSERT INTO saga_steps (idx, name) VALUES (?1, ?2)",
                            params![to_i64(i), name],
                        )?;
                    }
                    tx.execute(
                        "INSERT INTO saga_pivot (one, pivot) VALUES (0, ?1)",
                        params![to_i64(definition.pivot)],
                    )?;
                    tx.commit()?;
                }
                Some(pivot) => {
                    let stored: Vec<String> = {
                        let mut stmt = tx.prepare("SELECT name FROM saga_steps ORDER BY idx")?;
                        stmt.query_map([], |r| r.get::<_, String>(0))?
                            .collect::<Result<_, _>>()?
                    };
                    if pivot != to_i64(definition.pivot) || stored != definition.steps {
                        // The transaction rolls back on drop: the file stays
                        // as it was.
                        return Err(SagaError::DefinitionMismatch);
                    }
                    tx.commit()?;
                }
            }
        }
        Ok(Self { conn, definition })
    }

    /// Starts saga `saga_id` and runs it as far as it goes.
    ///
    /// # Errors
    ///
    /// [`SagaError::EmptySagaId`], [`SagaError::SagaExists`],
    /// [`SagaError::Database`].
    pub fn start(
        &mut self,
        saga_id: &str,
        participant: &mut impl Participant,
    ) -> Result<SagaStatus, SagaError> {
        if saga_id.is_empty() {
            return Err(SagaError::EmptySagaId);
        }
        {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            let exists = tx
                .prepare_cached("SELECT 1 FROM sagas WHERE id = ?1")?
                .exists(params![saga_id])?;
            if exists {
                // Dropped: rolled back.
                return Err(SagaError::SagaExists(saga_id.to_owned()));
            }
            tx.prepare_cached("INSERT INTO sagas (id, state, cursor) VALUES (?1, ?2, 0)")?
                .execute(params![saga_id, RUNNING])?;
            tx.commit()?;
        }
        self.run(saga_id, participant)
    }

    /// Runs saga `saga_id` from where its log says it stands.
    ///
    /// # Errors
    ///
    /// [`SagaError::UnknownSaga`], [`SagaError::Database`].
    pub fn resume(
        &mut self,
        saga_id: &str,
        participant: &mut impl Participant,
    ) -> Result<SagaStatus, SagaError> {
        if self.row(saga_id)?.is_none() {
            return Err(SagaError::UnknownSaga(saga_id.to_owned()));
        }
        self.run(saga_id, participant)
    }

    /// Resumes every saga that is not final, in the order they were started.
    ///
    /// # Errors
    ///
    /// [`SagaError::Database`].
    pub fn resume_all(
        &mut self,
        participant: &mut impl Participant,
    ) -> Result<Vec<(String, SagaStatus)>, SagaError> {
        let ids: Vec<String> = {
            let mut stmt = self
                .conn
                .prepare_cached("SELECT id FROM sagas WHERE state < 2 ORDER BY seq")?;
            stmt.query_map([], |r| r.get::<_, String>(0))?
                .collect::<Result<_, _>>()?
        };
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
        let row = self
            .row(saga_id)?
            .ok_or_else(|| SagaError::UnknownSaga(saga_id.to_owned()))?;
        Ok(self.status_of(&row))
    }

    fn row(&self, saga_id: &str) -> Result<Option<Row>, SagaError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT state, cursor, failed_step, reason FROM sagas WHERE id = ?1")?;
        Ok(stmt
            .query_row(params![saga_id], |r| {
                Ok(Row {
                    state: r.get(0)?,
                    cursor: to_usize(r.get(1)?),
                    failed_step: r.get::<_, Option<i64>>(2)?.map(to_usize),
                    reason: r.get(3)?,
                })
            })
            .optional()?)
    }

    fn status_of(&self, row: &Row) -> SagaStatus {
        let failure = || {
            let failed_step =
                self.definition.steps[row.failed_step.expect("a refused step")].clone();
            let reason = row.reason.clone().unwrap_or_default();
            (failed_step, reason)
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
            COMPENSATED => {
                let (failed_step, reason) = failure();
                SagaStatus::Compensated {
                    failed_step,
                    reason,
                }
            }
            other => panic!("unknown saga state {other} in the log"),
        }
    }

    /// Moves the saga's row with one autocommitted statement.
    fn set(&self, saga_id: &str, state: i64, cursor: usize) -> Result<(), SagaError> {
        self.conn
            .prepare_cached("UPDATE sagas SET state = ?2, cursor = ?3 WHERE id = ?1")?
            .execute(params![saga_id, state, to_i64(cursor)])?;
        Ok(())
    }

    /// The loop over the row: each outcome is committed after its call
    /// returned and before the next call is made.
    fn run(
        &mut self,
        saga_id: &str,
        participant: &mut impl Participant,
    ) -> Result<SagaStatus, SagaError> {
        let n = self.definition.steps.len();
        let pivot = self.definition.pivot;
        loop {
            let row = self
                .row(saga_id)?
                .ok_or_else(|| SagaError::UnknownSaga(saga_id.to_owned()))?;
            match row.state {
                RUNNING => {
                    let i = row.cursor;
                    let k = key(saga_id, i, 'x');
                    let call = Call {
                        saga_id,
                        step: &self.definition.steps[i],
                        idempotency_key: &k,
                    };
                    match participant.execute(&call) {
                        Ok(()) => {
                            if i + 1 == n {
                                self.set(saga_id, COMPLETED, n)?;
                            } else {
                                self.set(saga_id, RUNNING, i + 1)?;
                            }
                        }
                        Err(Failure(reason)) if i <= pivot => {
                            // Refused: the steps before `i` are to be undone,
                            // `cursor` counts them. None: final at once.
                            let state = if i == 0 { COMPENSATED } else { COMPENSATING };
                            self.conn
                                .prepare_cached(
                                    "UPDATE sagas SET state = ?2, cursor = ?3, failed_step = ?3, \
                                     reason = ?4 WHERE id = ?1",
                                )?
                                .execute(params![saga_id, state, to_i64(i), reason])?;
                        }
                        Err(_) => return Ok(SagaStatus::Running),
                    }
                }
                COMPENSATING => {
                    if row.cursor == 0 {
                        self.set(saga_id, COMPENSATED, 0)?;
                        continue;
                    }
                    let j = row.cursor - 1;
                    let k = key(saga_id, j, 'c');
                    let call = Call {
                        saga_id,
                        step: &self.definition.steps[j],
                        idempotency_key: &k,
                    };
                    match participant.compensate(&call) {
                        Ok(()) => {
                            let state = if j == 0 { COMPENSATED } else { COMPENSATING };
                            self.set(saga_id, state, j)?;
                        }
                        Err(_) => return Ok(self.status_of(&row)),
                    }
                }
                _ => return Ok(self.status_of(&row)),
            }
        }
    }
}
