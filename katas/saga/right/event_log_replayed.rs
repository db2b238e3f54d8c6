//! A right answer built differently from the reference: an append-only event
//! log. Each saga has a row (its start order and whether it is final, the
//! only thing `resume_all` reads, through an index) and a list of events
//! (`done`, `refused`, `undone`), and its state is a replay of its events.
//! Each outcome is one transaction: its event, and the saga's `final` flag
//! when it ends the saga. Idempotency keys come from the saga's row id in
//! this file, not from its id: unique within the log whatever the id holds.

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

/// A saga's state, replayed from its events.
enum State {
    Forward {
        next: usize,
    },
    Completed,
    Back {
        failed: usize,
        reason: String,
        left: Vec<usize>,
    },
    Compensated {
        failed: usize,
        reason: String,
    },
}

/// Runs sagas of one definition, with their log in one SQLite file.
#[derive(Debug)]
pub struct Orchestrator {
    conn: Connection,
    definition: SagaDefinition,
}

fn encode(definition: &SagaDefinition) -> String {
    let mut out = format!("{}", definition.pivot);
    for step in &definition.steps {
        out.push_str(&format!("|{}:{step}", step.len()));
    }
    out
}

impl Orchestrator {
    /// Opens (creating if needed) the log at `path` for sagas of `definition`.
    ///
    /// # Errors
    ///
    /// [`SagaError::DefinitionMismatch`], [`SagaError::Database`].
    pub fn open(path: impl AsRef<Path>, definition: SagaDefinition) -> Result<Self, SagaError> {
        let mut conn = Connection::open(path)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(
            "CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS saga (
                 n         INTEGER PRIMARY KEY AUTOINCREMENT,
                 name      TEXT NOT NULL UNIQUE,
                 is_final  INTEGER NOT NULL DEFAULT 0
             );
             CREATE INDEX IF NOT EXISTS saga_open ON saga (is_final, n);
             CREATE TABLE IF NOT EXISTS event (
                 saga   INTEGER NOT NULL,
                 at     INTEGER NOT NULL,
                 kind   TEXT NOT NULL,
                 step   INTEGER NOT NULL,
                 reason TEXT,
                 PRIMARY KEY (saga, at)
             ) WITHOUT ROWID;",
        )?;
        let encoded = encode(&definition);
        let stored: Option<String> = tx
            .query_row("SELECT v FROM meta WHERE k = 'definition'", [], |r| {
                r.get(0)
            })
            .optional()?;
        match stored {
            None => {
                tx.execute(
                    "INSERT INTO meta (k, v) VALUES ('definition', ?1)",
                    [&encoded],
                )?;
            }
            Some(stored) if stored == encoded => {}
            Some(_) => return Err(SagaError::DefinitionMismatch),
        }
        tx.commit()?;
        Ok(Self { conn, definition })
    }

    /// Starts saga `saga_id` and runs it as far as it goes.
    ///
    /// # Errors
    ///
    /// [`SagaError::EmptySagaId`], [`SagaError::SagaExists`], [`SagaError::Database`].
    pub fn start(
        &mut self,
        saga_id: &str,
        participant: &mut impl Participant,
    ) -> Result<SagaStatus, SagaError> {
        if saga_id.is_empty() {
            return Err(SagaError::EmptySagaId);
        }
        if self.saga_row(saga_id)?.is_some() {
            return Err(SagaError::SagaExists(saga_id.to_owned()));
        }
        self.conn
            .execute("INSERT INTO saga (name) VALUES (?1)", [saga_id])?;
        self.resume(saga_id, participant)
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
        let row = self
            .saga_row(saga_id)?
            .ok_or_else(|| SagaError::UnknownSaga(saga_id.to_owned()))?;
        let steps = self.definition.steps.clone();
        let pivot = self.definition.pivot;
        loop {
            let state = self.replay(row)?;
            match state {
                State::Forward { next } => {
                    let key = format!("{row}.do.{next}");
                    let call = Call {
                        saga_id,
                        step: &steps[next],
                        idempotency_key: &key,
                    };
                    match participant.execute(&call) {
                        Ok(()) => self.record(row, "done", next, None, next + 1 == steps.len())?,
                        Err(Failure(reason)) if next <= pivot => {
                            self.record(row, "refused", next, Some(&reason), next == 0)?;
                        }
                        Err(_) => return self.status(saga_id),
                    }
                }
                State::Back { left, .. } => {
                    let step = *left.last().unwrap_or(&0);
                    let key = format!("{row}.undo.{step}");
                    let call = Call {
                        saga_id,
                        step: &steps[step],
                        idempotency_key: &key,
                    };
                    match participant.compensate(&call) {
                        Ok(()) => self.record(row, "undone", step, None, left.len() == 1)?,
                        Err(_) => return self.status(saga_id),
                    }
                }
                State::Completed | State::Compensated { .. } => return self.status(saga_id),
            }
        }
    }

    /// Resumes every saga that is not final, in start order.
    ///
    /// # Errors
    ///
    /// [`SagaError::Database`].
    pub fn resume_all(
        &mut self,
        participant: &mut impl Participant,
    ) -> Result<Vec<(String, SagaStatus)>, SagaError> {
        let names = self
            .conn
            .prepare("SELECT name FROM saga WHERE is_final = 0 ORDER BY n")?
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        names
            .into_iter()
            .map(|name| {
                let status = self.resume(&name, participant)?;
                Ok((name, status))
            })
            .collect()
    }

    /// Where saga `saga_id` stands, from the log.
    ///
    /// # Errors
    ///
    /// [`SagaError::UnknownSaga`], [`SagaError::Database`].
    pub fn status(&self, saga_id: &str) -> Result<SagaStatus, SagaError> {
        let row = self
            .saga_row(saga_id)?
            .ok_or_else(|| SagaError::UnknownSaga(saga_id.to_owned()))?;
        let name = |i: usize| self.definition.steps[i].clone();
        Ok(match self.replay(row)? {
            State::Forward { .. } => SagaStatus::Running,
            State::Completed => SagaStatus::Completed,
            State::Back { failed, reason, .. } => SagaStatus::Compensating {
                failed_step: name(failed),
                reason,
            },
            State::Compensated { failed, reason } => SagaStatus::Compensated {
                failed_step: name(failed),
                reason,
            },
        })
    }

    fn saga_row(&self, saga_id: &str) -> Result<Option<i64>, SagaError> {
        Ok(self
            .conn
            .query_row("SELECT n FROM saga WHERE name = ?1", [saga_id], |r| {
                r.get(0)
            })
            .optional()?)
    }

    fn replay(&self, row: i64) -> Result<State, SagaError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT kind, step, reason FROM event WHERE saga = ?1 ORDER BY at")?;
        let events = stmt
            .query_map([row], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, Option<String>>(2)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let mut done: Vec<usize> = Vec::new();
        let mut refused: Option<(usize, String)> = None;
        for (kind, step, reason) in events {
            let step = usize::try_from(step).unwrap_or(usize::MAX);
            match kind.as_str() {
                "done" => done.push(step),
                "refused" => refused = Some((step, reason.unwrap_or_default())),
                _ => {
                    done.retain(|&s| s != step);
                }
            }
        }
        Ok(match refused {
            None if done.len() == self.definition.steps.len() => State::Completed,
            None => State::Forward { next: done.len() },
            Some((failed, reason)) if done.is_empty() => State::Compensated { failed, reason },
            Some((failed, reason)) => State::Back {
                failed,
                reason,
                left: done,
            },
        })
    }

    /// One outcome: its event, and the final flag when it ends the saga, in
    /// one transaction.
    fn record(
        &mut self,
        row: i64,
        kind: &str,
        step: usize,
        reason: Option<&str>,
        ends: bool,
    ) -> Result<(), SagaError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT INTO event (saga, at, kind, step, reason)
             VALUES (?1, (SELECT COUNT(*) FROM event WHERE saga = ?1), ?2, ?3, ?4)",
            params![row, kind, i64::try_from(step).unwrap_or(i64::MAX), reason],
        )?;
        if ends {
            tx.execute("UPDATE saga SET is_final = 1 WHERE n = ?1", [row])?;
        }
        tx.commit()?;
        Ok(())
    }
}
