//! # Saga orchestrator
//!
//! An order goes through several services (reserve the stock, charge the
//! card, create the shipment) with no transaction spanning them. The
//! [`Orchestrator`] runs the steps of a [`SagaDefinition`] in order through a
//! [`Participant`], undoes the completed ones in reverse order when a step
//! fails, and keeps its log in a SQLite file so that a new orchestrator
//! opened on the same file after a crash finishes every saga as if nothing
//! had happened. Read `README.md` beside this file for the problem, then make
//! the specification pass:
//!
//! ```text
//! cargo xtask kata saga
//! ```
//!
//! The tables in the file, their names and columns, are yours.

// The bodies below are `todo!()`, so their arguments go unused until you
// write them. Delete this line when you are done.
#![allow(unused_variables)]

use std::error::Error as StdError;
use std::fmt;
use std::path::Path;

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
    // Your fields here.
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
        todo!("check the steps and the pivot, keep them")
    }

    /// The step names, in order.
    pub fn steps(&self) -> &[String] {
        todo!("the steps as given")
    }

    /// The index of the pivot in [`SagaDefinition::steps`].
    pub fn pivot(&self) -> usize {
        todo!("the pivot as given")
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
    /// temporary failure is not remembered). Every call of
    /// the same step (or the same compensation) of the same saga carries the
    /// same key, however often it is retried or resumed, by whichever
    /// orchestrator; any two different calls (another saga, another step, a
    /// step and its compensation) carry different keys.
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

/// Runs sagas of one definition, with their log in one SQLite file.
///
/// One orchestrator at a time uses a file, and does its SQLite work on the
/// thread that calls it. Dropping it at any moment (a crash) loses nothing
/// that was committed: a new one opened on the same file with the same
/// definition resumes every saga from the log. Do not catch panics: a
/// participant that panics is the process dying.
#[derive(Debug)]
pub struct Orchestrator {
    // Your fields here: a `rusqlite::Connection`, most likely.
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
        todo!("open the file, create the log's tables if missing, check the definition")
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
        todo!("log the saga before its first call, then run it")
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
        todo!("read the saga's log, then run it from there")
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
        todo!("find the unfinished sagas in the log, resume each")
    }

    /// Where saga `saga_id` stands, from the log; calls nothing.
    ///
    /// # Errors
    ///
    /// [`SagaError::UnknownSaga`], [`SagaError::Database`].
    pub fn status(&self, saga_id: &str) -> Result<SagaStatus, SagaError> {
        todo!("read the saga's state from the log")
    }
}
