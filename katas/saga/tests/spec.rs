//! The specification of the saga kata: an orchestrator that runs the steps of
//! a saga through a participant, compensates the completed ones in reverse
//! order when a step up to the pivot is refused, retries the steps after the
//! pivot, and keeps its log in a real SQLite file so that a crash at any point
//! resumes to the same end state. Each test is named as a requirement of the
//! README.
//!
//! The participant here is a set of fake services that behave like real ones
//! with idempotency keys: one key store per service (a step and its
//! compensation are the same service, as a payment provider's charge and
//! refund are), the work of a key done at most once, a refusal remembered
//! under its key, a temporary failure not. Crashes are produced on purpose
//! (see the README's "How the spec crashes your orchestrator"): a participant
//! call that panics, before or after doing the work, and an SQLite commit
//! hook on every connection the test process opens (yours included) that,
//! armed for point `k`, lets `k` commits through and refuses every later one.
//!
//! `cargo test -p saga` judges your code;
//! `cargo test -p saga --features solution` judges the reference.

// The loom build (`--cfg kata_loom`) compiles no spec: the kata has no loom models.
#![cfg(not(kata_loom))]

#[cfg(not(feature = "solution"))]
use saga as subject;
#[cfg(feature = "solution")]
use saga_solution as subject;

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::{c_char, c_int};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Once;

use proptest::prelude::*;
use rstest::rstest;
use rusqlite::auto_extension::{init_auto_extension, register_auto_extension};
use rusqlite::{Connection, ffi};
use subject::{Call, Failure, Orchestrator, Participant, SagaDefinition, SagaError, SagaStatus};
use tempfile::TempDir;

/// More resumes than any saga of this file needs to become final.
const MAX_RESUMES: usize = 50;

// ───────────────────────────── the hooks ─────────────────────────────

thread_local! {
    /// `None`: no crash armed. `Some(n)`: `n` more commits go through, then
    /// every commit is refused and every participant call panics (the
    /// process is dead); `Some(0)` is that dead state.
    static COMMITS_LEFT: Cell<Option<usize>> = const { Cell::new(None) };
    /// SQLite virtual machine steps executed on this thread while counting.
    static STEPS: Cell<Option<u64>> = const { Cell::new(None) };
}

fn on_commit() -> bool {
    COMMITS_LEFT.with(|left| match left.get() {
        None => false,
        // Dead: the commit is refused (SQLite rolls it back).
        Some(0) => true,
        Some(n) => {
            left.set(Some(n - 1));
            false
        }
    })
}

fn dead() -> bool {
    COMMITS_LEFT.with(|left| left.get() == Some(0))
}

fn arm_crash_after_commits(k: usize) {
    COMMITS_LEFT.with(|left| left.set(Some(k)));
}

fn disarm() {
    COMMITS_LEFT.with(|left| left.set(None));
}

fn count_step() {
    STEPS.with(|steps| {
        if let Some(n) = steps.get() {
            steps.set(Some(n + 1));
        }
    });
}

/// Installed on every connection the process opens.
fn hook_connection(mut conn: Connection) -> rusqlite::Result<()> {
    conn.commit_hook(Some(on_commit))?;
    conn.progress_handler(
        1,
        Some(|| {
            count_step();
            false
        }),
    )
}

unsafe extern "C" fn raw_hook_connection(
    db: *mut ffi::sqlite3,
    err: *mut *mut c_char,
    _api: *const ffi::sqlite3_api_routines,
) -> c_int {
    // SAFETY: SQLite calls an auto extension with the connection it has just
    // opened and a place for an error message; `hook_connection` neither
    // opens nor closes a connection, nor touches the list of extensions.
    unsafe { init_auto_extension(db, err, hook_connection) }
}

fn hook_every_connection() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: `raw_hook_connection` is a valid auto extension (see
        // above), registered once.
        unsafe { register_auto_extension(raw_hook_connection) }
            .expect("register the auto extension");
        // Silence the panics of simulated crashes, and whatever the dead
        // orchestrator does after one (only those).
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<Crash>().is_none() && !dead() {
                default(info);
            }
        }));
    });
}

/// The SQLite virtual machine steps `f` executes on this thread.
fn vm_steps<T>(f: impl FnOnce() -> T) -> (u64, T) {
    STEPS.with(|s| s.set(Some(0)));
    let out = f();
    let n = STEPS.with(|s| s.replace(None)).unwrap_or(0);
    (n, out)
}

/// The panic payload of a simulated crash.
struct Crash;

/// Runs `f`; `None` if the process "died" in it (a simulated crash, or any
/// panic once the commit hook has killed it).
fn catching_crash<T>(f: impl FnOnce() -> T) -> Option<T> {
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(out) => Some(out),
        Err(payload) => {
            if payload.downcast_ref::<Crash>().is_some() || dead() {
                None
            } else {
                panic::resume_unwind(payload)
            }
        }
    }
}

// ───────────────────────────── the services ─────────────────────────────

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Dir {
    Execute,
    Compensate,
}

/// One call that reached the services.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Rec {
    saga: String,
    step: String,
    dir: Dir,
    key: String,
}

impl Rec {
    fn what(&self) -> (String, String, Dir) {
        (self.saga.clone(), self.step.clone(), self.dir)
    }
}

/// How many times each (saga, step) was done, or undone.
type Tally = Vec<((String, String), u32)>;

/// What a service remembers under a key.
#[derive(Clone, Debug)]
enum Remembered {
    Done,
    Refused(String),
}

/// Where a crash inside a call happens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum When {
    /// The call never reaches the service.
    Before,
    /// The service did the work (or refused); the answer is lost.
    After,
}

/// Which calls fail.
#[derive(Clone, Debug, Default)]
struct Script {
    /// (saga, step): refused (the step is at or before the pivot).
    refused: HashSet<(String, String)>,
    /// (saga, step, direction): temporary failures left.
    down: HashMap<(String, String, Dir), u32>,
}

impl Script {
    fn refuse(mut self, saga: &str, step: &str) -> Self {
        self.refused.insert((saga.to_owned(), step.to_owned()));
        self
    }

    fn down(mut self, saga: &str, step: &str, dir: Dir, times: u32) -> Self {
        self.down
            .insert((saga.to_owned(), step.to_owned(), dir), times);
        self
    }
}

fn refusal(saga: &str, step: &str) -> String {
    format!("{step} refused for {saga}")
}

/// The warehouse, the payment provider, the carrier...: one service per step
/// name, each with its own store of idempotency keys.
#[derive(Default)]
struct World {
    script: Script,
    store: HashMap<String, HashMap<String, Remembered>>,
    /// (saga, step): +1 per execution done, -1 per compensation done.
    net: BTreeMap<(String, String), i64>,
    executions: BTreeMap<(String, String), u32>,
    compensations: BTreeMap<(String, String), u32>,
    /// Every call that reached the services, in order.
    calls: Vec<Rec>,
    /// Crash inside the call at this index of `calls`.
    crash_in_call: Option<(usize, When)>,
}

impl World {
    fn new(script: &Script) -> Self {
        Self {
            script: script.clone(),
            ..Self::default()
        }
    }

    fn call(&mut self, call: &Call<'_>, dir: Dir) -> Result<(), Failure> {
        if dead() {
            panic::panic_any(Crash);
        }
        let index = self.calls.len();
        self.calls.push(Rec {
            saga: call.saga_id.to_owned(),
            step: call.step.to_owned(),
            dir,
            key: call.idempotency_key.to_owned(),
        });
        let crash = match self.crash_in_call {
            Some((at, when)) if at == index => {
                self.crash_in_call = None;
                Some(when)
            }
            _ => None,
        };
        if crash == Some(When::Before) {
            panic::panic_any(Crash);
        }
        let out = self.serve(call, dir);
        if crash == Some(When::After) {
            panic::panic_any(Crash);
        }
        out
    }

    fn serve(&mut self, call: &Call<'_>, dir: Dir) -> Result<(), Failure> {
        let saga = call.saga_id.to_owned();
        let step = call.step.to_owned();
        let store = self.store.entry(step.clone()).or_default();
        if let Some(remembered) = store.get(call.idempotency_key) {
            // The answer to the first call with this key, nothing done.
            return match remembered {
                Remembered::Done => Ok(()),
                Remembered::Refused(reason) => Err(Failure(reason.clone())),
            };
        }
        if dir == Dir::Execute && self.script.refused.contains(&(saga.clone(), step.clone())) {
            let reason = refusal(&saga, &step);
            store.insert(
                call.idempotency_key.to_owned(),
                Remembered::Refused(reason.clone()),
            );
            return Err(Failure(reason));
        }
        if let Some(left) = self.script.down.get_mut(&(saga.clone(), step.clone(), dir))
            && *left > 0
        {
            *left -= 1;
            return Err(Failure(format!("{step} is temporarily unavailable")));
        }
        store.insert(call.idempotency_key.to_owned(), Remembered::Done);
        let key = (saga, step);
        match dir {
            Dir::Execute => {
                *self.net.entry(key.clone()).or_default() += 1;
                *self.executions.entry(key).or_default() += 1;
            }
            Dir::Compensate => {
                *self.net.entry(key.clone()).or_default() -= 1;
                *self.compensations.entry(key).or_default() += 1;
            }
        }
        Ok(())
    }

    /// The calls made, as (direction, step) of one saga.
    fn calls_of(&self, saga: &str) -> Vec<(Dir, String)> {
        self.calls
            .iter()
            .filter(|c| c.saga == saga)
            .map(|c| (c.dir, c.step.clone()))
            .collect()
    }

    /// The end state the services see: what was done and undone, per step.
    fn effects(&self) -> (Tally, Tally) {
        (
            self.executions.clone().into_iter().collect(),
            self.compensations.clone().into_iter().collect(),
        )
    }

    /// Every call of one step (or compensation) of one saga carried one key,
    /// and no two different calls carried the same key.
    fn assert_keys(&self, context: &str) {
        let mut key_of: HashMap<(String, String, Dir), &str> = HashMap::new();
        let mut call_of: HashMap<&str, (String, String, Dir)> = HashMap::new();
        for rec in &self.calls {
            let what = rec.what();
            if let Some(first) = key_of.insert(what.clone(), &rec.key) {
                assert_eq!(
                    first, rec.key,
                    "{context}: every call of {what:?} must carry the same idempotency key \
                     (through retries, resumes and new orchestrators); calls: {:#?}",
                    self.calls
                );
            }
            if let Some(other) = call_of.insert(&rec.key, what.clone()) {
                assert_eq!(
                    other, what,
                    "{context}: two different calls carried the same idempotency key {:?}",
                    rec.key
                );
            }
        }
    }
}

impl Participant for World {
    fn execute(&mut self, call: &Call<'_>) -> Result<(), Failure> {
        self.call(call, Dir::Execute)
    }

    fn compensate(&mut self, call: &Call<'_>) -> Result<(), Failure> {
        self.call(call, Dir::Compensate)
    }
}

// ───────────────────────────── helpers ─────────────────────────────

/// A temporary directory for the log (in memory-backed `/dev/shm` where
/// there is one: the file is real, its fsyncs are cheap).
fn tmp() -> TempDir {
    hook_every_connection();
    let shm = Path::new("/dev/shm");
    if shm.is_dir()
        && let Ok(dir) = tempfile::Builder::new().prefix("saga-spec").tempdir_in(shm)
    {
        return dir;
    }
    TempDir::new().expect("create a temporary directory")
}

fn log_path(dir: &TempDir) -> PathBuf {
    dir.path().join("sagas.db")
}

fn def(steps: &[&str], pivot: usize) -> SagaDefinition {
    SagaDefinition::new(steps, pivot).expect("a valid definition")
}

/// Reserve the stock, charge the card (the pivot), create the shipment.
fn shop() -> SagaDefinition {
    def(&["reserve_stock", "charge_card", "create_shipment"], 1)
}

/// Two compensatable steps, the pivot, two retriable steps.
fn long() -> SagaDefinition {
    def(
        &[
            "reserve_stock",
            "hold_coupon",
            "charge_card",
            "create_shipment",
            "send_receipt",
        ],
        2,
    )
}

fn open(path: &Path, definition: &SagaDefinition) -> Orchestrator {
    Orchestrator::open(path, definition.clone()).expect("Orchestrator::open of the log")
}

fn exec(step: &str) -> (Dir, String) {
    (Dir::Execute, step.to_owned())
}

fn comp(step: &str) -> (Dir, String) {
    (Dir::Compensate, step.to_owned())
}

fn compensated(step: &str, reason: &str) -> SagaStatus {
    SagaStatus::Compensated {
        failed_step: step.to_owned(),
        reason: reason.to_owned(),
    }
}

fn compensating(step: &str, reason: &str) -> SagaStatus {
    SagaStatus::Compensating {
        failed_step: step.to_owned(),
        reason: reason.to_owned(),
    }
}

/// Resumes until the saga is final.
fn finish(
    orchestrator: &mut Orchestrator,
    world: &mut World,
    saga: &str,
    mut status: SagaStatus,
) -> SagaStatus {
    for _ in 0..MAX_RESUMES {
        if status.is_final() {
            return status;
        }
        status = orchestrator
            .resume(saga, world)
            .unwrap_or_else(|e| panic!("resume({saga:?}) failed: {e}"));
    }
    panic!("saga {saga:?} is still {status:?} after {MAX_RESUMES} resumes")
}

/// What a restarted service does: open the log, resume every unfinished
/// saga, start `saga` if it never made it into the log, and resume it until
/// it is final.
fn recover(path: &Path, definition: &SagaDefinition, world: &mut World, saga: &str) -> SagaStatus {
    let mut orchestrator = Orchestrator::open(path, definition.clone())
        .unwrap_or_else(|e| panic!("a new orchestrator must open the log after a crash: {e}"));
    orchestrator
        .resume_all(world)
        .unwrap_or_else(|e| panic!("resume_all after a crash failed: {e}"));
    let status = match orchestrator.status(saga) {
        Ok(status) => status,
        Err(SagaError::UnknownSaga(_)) => orchestrator
            .start(saga, world)
            .unwrap_or_else(|e| panic!("start({saga:?}) again after a crash failed: {e}")),
        Err(e) => panic!("status({saga:?}) after a crash failed: {e}"),
    };
    finish(&mut orchestrator, world, saga, status)
}

/// The whole life of one saga with no crash: open, start, resume until final.
fn drive(path: &Path, definition: &SagaDefinition, world: &mut World, saga: &str) -> SagaStatus {
    let mut orchestrator = open(path, definition);
    let status = orchestrator
        .start(saga, world)
        .unwrap_or_else(|e| panic!("start({saga:?}) failed: {e}"));
    finish(&mut orchestrator, world, saga, status)
}

/// The crash-free run: the services' world, the end status, and how many
/// commits the run made.
fn run_clean(
    definition: &SagaDefinition,
    script: &Script,
    saga: &str,
) -> (World, SagaStatus, usize) {
    const MANY: usize = usize::MAX / 2;
    let dir = tmp();
    let mut world = World::new(script);
    arm_crash_after_commits(MANY);
    let status = drive(&log_path(&dir), definition, &mut world, saga);
    let left = COMMITS_LEFT.with(Cell::get).unwrap_or(MANY);
    disarm();
    (world, status, MANY - left)
}

/// A moment to crash at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Point {
    /// Right after the k-th commit (0: before any).
    AfterCommit(usize),
    /// Inside the n-th call (0-based) of this run.
    InCall(usize, When),
}

/// Runs `f` crashing at `point`; whether the crash happened (the run may end
/// before it).
fn run_crashing<T>(world: &mut World, point: Point, f: impl FnOnce(&mut World) -> T) -> bool {
    match point {
        Point::AfterCommit(k) => arm_crash_after_commits(k),
        Point::InCall(n, when) => world.crash_in_call = Some((world.calls.len() + n, when)),
    }
    let finished = catching_crash(|| f(world)).is_some();
    let crashed = match point {
        Point::AfterCommit(_) => dead(),
        Point::InCall(..) => world.crash_in_call.is_none(),
    };
    disarm();
    world.crash_in_call = None;
    assert!(
        crashed || finished,
        "the run neither crashed nor finished at {point:?}"
    );
    crashed
}

/// One saga crashed at each of `points` in turn (the first in its first
/// run, the next in the recovery after it, ...), then recovered without a
/// crash. `None` if the first point was never reached (the run ended first).
fn run_with_crashes(
    definition: &SagaDefinition,
    script: &Script,
    saga: &str,
    points: &[Point],
) -> Option<(World, SagaStatus)> {
    let dir = tmp();
    let path = log_path(&dir);
    let mut world = World::new(script);
    let mut first = true;
    let mut any = false;
    for &point in points {
        let crashed = if first {
            run_crashing(&mut world, point, |w| drive(&path, definition, w, saga))
        } else {
            run_crashing(&mut world, point, |w| recover(&path, definition, w, saga))
        };
        if first && !crashed {
            return None;
        }
        first = false;
        any |= crashed;
    }
    assert!(any || points.is_empty());
    let status = recover(&path, definition, &mut world, saga);
    Some((world, status))
}

/// The scripts the crash loops go through, each on saga "order-7".
fn crash_scripts() -> Vec<(&'static str, SagaDefinition, Script)> {
    let s = "order-7";
    vec![
        ("every step succeeds", shop(), Script::default()),
        (
            "the card is declined",
            shop(),
            Script::default().refuse(s, "charge_card"),
        ),
        (
            "the carrier is down twice",
            shop(),
            Script::default().down(s, "create_shipment", Dir::Execute, 2),
        ),
        (
            "the card is declined and the coupon service is down once",
            long(),
            Script::default()
                .refuse(s, "charge_card")
                .down(s, "hold_coupon", Dir::Compensate, 1),
        ),
        (
            "the coupon is refused",
            long(),
            Script::default().refuse(s, "hold_coupon"),
        ),
    ]
}

/// The crash points of a run: after each commit, inside each call.
fn every_point(clean: &World, commits: usize) -> Vec<Point> {
    let mut points: Vec<Point> = (0..=commits).map(Point::AfterCommit).collect();
    for n in 0..clean.calls.len() {
        points.push(Point::InCall(n, When::Before));
        points.push(Point::InCall(n, When::After));
    }
    points
}

/// The calls of a crashed-and-recovered run are those of the crash-free run,
/// with at most one repeated right after itself (the one in flight).
fn assert_only_the_call_in_flight_repeated(clean: &World, crashed: &World, context: &str) {
    let clean_calls: Vec<_> = clean.calls.iter().map(Rec::what).collect();
    let crashed_calls: Vec<_> = crashed.calls.iter().map(Rec::what).collect();
    if crashed_calls == clean_calls {
        return;
    }
    let repeated_once = crashed_calls.len() == clean_calls.len() + 1
        && (1..crashed_calls.len()).any(|i| {
            crashed_calls[i] == crashed_calls[i - 1] && {
                let mut without = crashed_calls.clone();
                without.remove(i);
                without == clean_calls
            }
        });
    assert!(
        repeated_once,
        "{context}: after a crash only the call in flight may be made again (a call whose \
         outcome is in the log never is); without the crash the calls were\n{clean_calls:#?}\n\
         with it\n{crashed_calls:#?}"
    );
}

// ───────────────────────────── 1. definitions ─────────────────────────────

#[rstest]
#[case::two_steps(&["charge_card", "create_shipment"], 0)]
#[case::pivot_last(&["reserve_stock", "charge_card"], 1)]
#[case::one_step(&["charge_card"], 0)]
#[case::names_differing_in_case(&["Ship", "ship", "SHIP"], 2)]
fn a_definition_keeps_its_steps_in_order_and_its_pivot(
    #[case] steps: &[&str],
    #[case] pivot: usize,
) {
    let d = SagaDefinition::new(steps, pivot)
        .unwrap_or_else(|e| panic!("SagaDefinition::new({steps:?}, {pivot}) is valid: {e}"));
    assert_eq!(d.steps(), steps, "the steps, in the order given");
    assert_eq!(d.pivot(), pivot, "the pivot given");
}

#[rstest]
#[case::no_steps(&[], 0, "NoSteps")]
#[case::pivot_one_past_the_end(&["reserve_stock"], 1, "PivotOutOfRange { pivot: 1, steps: 1 }")]
#[case::pivot_usize_max(&["a", "b"], usize::MAX, "PivotOutOfRange { pivot: 18446744073709551615, steps: 2 }")]
#[case::empty_name(&["reserve_stock", ""], 0, "EmptyStepName")]
#[case::duplicate(&["a", "b", "a"], 1, "DuplicateStep(\"a\")")]
fn a_definition_needs_distinct_named_steps_and_a_pivot_among_them(
    #[case] steps: &[&str],
    #[case] pivot: usize,
    #[case] expected: &str,
) {
    match SagaDefinition::new(steps, pivot) {
        Ok(d) => panic!("SagaDefinition::new({steps:?}, {pivot}) must be {expected}, got {d:?}"),
        Err(e) => {
            let got = format!("{e:?}");
            // `usize::MAX` is printed for 64-bit targets; compare the variant
            // and its fields as Debug shows them.
            assert_eq!(
                got,
                expected.replace("18446744073709551615", &usize::MAX.to_string()),
                "SagaDefinition::new({steps:?}, {pivot})"
            );
        }
    }
}

#[test]
fn a_log_refuses_another_definition() {
    let dir = tmp();
    let path = log_path(&dir);
    let mut world = World::new(&Script::default().down("o-1", "create_shipment", Dir::Execute, 1));
    let status = open(&path, &shop())
        .start("o-1", &mut world)
        .expect("start o-1");
    assert_eq!(status, SagaStatus::Running);
    for (what, other) in [
        (
            "another pivot",
            def(&["reserve_stock", "charge_card", "create_shipment"], 0),
        ),
        ("a step less", def(&["reserve_stock", "charge_card"], 1)),
        (
            "a step more",
            def(
                &[
                    "reserve_stock",
                    "charge_card",
                    "create_shipment",
                    "send_receipt",
                ],
                1,
            ),
        ),
        (
            "steps reordered",
            def(&["charge_card", "reserve_stock", "create_shipment"], 1),
        ),
        (
            "a step renamed",
            def(&["reserve_stock", "charge_card", "create_parcel"], 1),
        ),
    ] {
        match Orchestrator::open(&path, other) {
            Err(SagaError::DefinitionMismatch) => {}
            Err(e) => panic!("open with {what} must be DefinitionMismatch, got {e:?}"),
            Ok(_) => panic!("open with {what} must be DefinitionMismatch, got an orchestrator"),
        }
    }
    assert!(world.calls.len() == 3, "opening calls nothing");
    let mut again = open(&path, &shop());
    assert_eq!(
        again.status("o-1").expect("status after the refused opens"),
        SagaStatus::Running,
        "a refused open leaves the log as it was"
    );
    assert_eq!(
        again.resume("o-1", &mut world).expect("resume o-1"),
        SagaStatus::Completed
    );
}

#[rstest]
fn a_log_refuses_a_definition_that_differs_only_where_names_hold_separators(
    #[values(",", "|", ";", ":", "/", " ", "\t", "\n", "\u{1f}", "\",\"")] sep: &str,
) {
    let dir = tmp();
    let path = log_path(&dir);
    let first = [format!("x{sep}y"), "z".to_owned()];
    let second = ["x".to_owned(), format!("y{sep}z")];
    let first: Vec<&str> = first.iter().map(String::as_str).collect();
    let second: Vec<&str> = second.iter().map(String::as_str).collect();
    drop(open(&path, &def(&first, 1)));
    match Orchestrator::open(&path, def(&second, 1)) {
        Err(SagaError::DefinitionMismatch) => {}
        Err(e) => panic!(
            "open with steps {second:?} on a log of {first:?} must be DefinitionMismatch, got {e:?}"
        ),
        Ok(_) => panic!(
            "open with steps {second:?} on a log of {first:?} must be DefinitionMismatch, got an orchestrator"
        ),
    }
    drop(open(&path, &def(&first, 1)));
}

// ───────────────────────────── 2-6. running ─────────────────────────────

#[test]
fn a_saga_whose_steps_succeed_executes_each_once_in_order_and_completes() {
    let dir = tmp();
    let mut o = open(&log_path(&dir), &shop());
    let mut world = World::default();
    assert_eq!(
        o.start("order-7", &mut world).expect("start"),
        SagaStatus::Completed
    );
    assert_eq!(
        world.calls_of("order-7"),
        [
            exec("reserve_stock"),
            exec("charge_card"),
            exec("create_shipment")
        ],
        "each step once, in order"
    );
    assert_eq!(o.status("order-7").expect("status"), SagaStatus::Completed);
    world.assert_keys("a completed saga");
}

#[test]
fn a_final_saga_is_never_called_again() {
    let dir = tmp();
    let path = log_path(&dir);
    let mut o = open(&path, &shop());
    let mut world = World::new(&Script::default().refuse("declined", "charge_card"));
    assert_eq!(
        o.start("paid", &mut world).expect("start"),
        SagaStatus::Completed
    );
    let declined = compensated("charge_card", &refusal("declined", "charge_card"));
    assert_eq!(o.start("declined", &mut world).expect("start"), declined);
    let before = world.calls.len();
    assert_eq!(
        o.resume("paid", &mut world).expect("resume"),
        SagaStatus::Completed
    );
    assert_eq!(o.resume("declined", &mut world).expect("resume"), declined);
    let mut o = open(&path, &shop());
    assert_eq!(o.resume_all(&mut world).expect("resume_all"), []);
    assert_eq!(
        o.resume("paid", &mut world).expect("resume"),
        SagaStatus::Completed
    );
    assert_eq!(o.resume("declined", &mut world).expect("resume"), declined);
    assert_eq!(
        world.calls[before..],
        [],
        "a final saga is returned as it is, with no call"
    );
}

#[test]
fn a_refused_step_compensates_the_steps_before_it_in_reverse_order() {
    let d = def(
        &[
            "reserve_stock",
            "hold_coupon",
            "book_courier",
            "authorize_card",
            "charge_card",
            "create_shipment",
        ],
        4,
    );
    let dir = tmp();
    let mut o = open(&log_path(&dir), &d);
    let mut world = World::new(&Script::default().refuse("o", "authorize_card"));
    let status = o.start("o", &mut world).expect("start");
    let expected = compensated("authorize_card", &refusal("o", "authorize_card"));
    assert_eq!(
        status, expected,
        "the refused step and the participant's reason"
    );
    assert_eq!(
        world.calls_of("o"),
        [
            exec("reserve_stock"),
            exec("hold_coupon"),
            exec("book_courier"),
            exec("authorize_card"),
            comp("book_courier"),
            comp("hold_coupon"),
            comp("reserve_stock"),
        ],
        "the steps executed before the refused one are compensated in reverse order; the refused \
         one is not"
    );
    assert_eq!(o.status("o").expect("status"), expected);
    world.assert_keys("a compensated saga");
}

#[test]
fn a_refused_pivot_compensates_every_step_before_it() {
    let dir = tmp();
    let mut o = open(&log_path(&dir), &long());
    let mut world = World::new(&Script::default().refuse("o", "charge_card"));
    let expected = compensated("charge_card", &refusal("o", "charge_card"));
    assert_eq!(o.start("o", &mut world).expect("start"), expected);
    assert_eq!(
        world.calls_of("o"),
        [
            exec("reserve_stock"),
            exec("hold_coupon"),
            exec("charge_card"),
            comp("hold_coupon"),
            comp("reserve_stock"),
        ],
        "a declined card releases the coupon, then the stock; nothing is shipped"
    );
}

#[test]
fn a_refused_first_step_compensates_nothing() {
    let dir = tmp();
    let mut o = open(&log_path(&dir), &shop());
    let mut world = World::new(&Script::default().refuse("o", "reserve_stock"));
    let expected = compensated("reserve_stock", &refusal("o", "reserve_stock"));
    assert_eq!(o.start("o", &mut world).expect("start"), expected);
    assert_eq!(world.calls_of("o"), [exec("reserve_stock")]);
    assert_eq!(o.status("o").expect("status"), expected);
    // A pivot that is the first step: refused, nothing to compensate either.
    let dir = tmp();
    let d = def(&["charge_card", "create_shipment"], 0);
    let mut o = open(&log_path(&dir), &d);
    let mut world = World::new(&Script::default().refuse("p", "charge_card"));
    assert_eq!(
        o.start("p", &mut world).expect("start"),
        compensated("charge_card", &refusal("p", "charge_card"))
    );
    assert_eq!(world.calls_of("p"), [exec("charge_card")]);
}

#[test]
fn a_failed_step_after_the_pivot_is_retried_by_the_next_resume_never_compensated() {
    let dir = tmp();
    let mut o = open(&log_path(&dir), &long());
    let mut world = World::new(
        &Script::default()
            .down("o", "create_shipment", Dir::Execute, 2)
            .down("o", "send_receipt", Dir::Execute, 1),
    );
    assert_eq!(
        o.start("o", &mut world).expect("start"),
        SagaStatus::Running
    );
    assert_eq!(
        world.calls_of("o"),
        [
            exec("reserve_stock"),
            exec("hold_coupon"),
            exec("charge_card"),
            exec("create_shipment"),
        ],
        "the run stops at the failed step after the pivot, and compensates nothing"
    );
    assert_eq!(o.status("o").expect("status"), SagaStatus::Running);
    assert_eq!(
        o.resume("o", &mut world).expect("resume"),
        SagaStatus::Running
    );
    assert_eq!(
        o.resume("o", &mut world).expect("resume"),
        SagaStatus::Running
    );
    assert_eq!(
        o.resume("o", &mut world).expect("resume"),
        SagaStatus::Completed
    );
    assert_eq!(
        world.calls_of("o")[4..],
        [
            exec("create_shipment"),
            exec("create_shipment"),
            exec("send_receipt"),
            exec("send_receipt"),
        ],
        "each resume tries the failed step again, then goes on"
    );
    assert!(
        world.compensations.is_empty(),
        "nothing after the pivot is compensated"
    );
}

#[test]
fn a_failed_compensation_is_retried_by_the_next_resume_before_the_earlier_ones() {
    let dir = tmp();
    let mut o = open(&log_path(&dir), &long());
    let mut world = World::new(&Script::default().refuse("o", "charge_card").down(
        "o",
        "hold_coupon",
        Dir::Compensate,
        2,
    ));
    let reason = refusal("o", "charge_card");
    assert_eq!(
        o.start("o", &mut world).expect("start"),
        compensating("charge_card", &reason)
    );
    assert_eq!(
        o.status("o").expect("status"),
        compensating("charge_card", &reason)
    );
    assert_eq!(
        o.resume("o", &mut world).expect("resume"),
        compensating("charge_card", &reason)
    );
    assert_eq!(
        o.resume("o", &mut world).expect("resume"),
        compensated("charge_card", &reason)
    );
    assert_eq!(
        world.calls_of("o"),
        [
            exec("reserve_stock"),
            exec("hold_coupon"),
            exec("charge_card"),
            comp("hold_coupon"),
            comp("hold_coupon"),
            comp("hold_coupon"),
            comp("reserve_stock"),
        ],
        "the stock is released only once the coupon's release has succeeded"
    );
}

#[test]
fn a_run_makes_one_attempt_at_a_failing_call() {
    let dir = tmp();
    let mut o = open(&log_path(&dir), &shop());
    let mut world = World::new(
        &Script::default()
            .down("ship", "create_shipment", Dir::Execute, u32::MAX)
            .refuse("undo", "charge_card")
            .down("undo", "reserve_stock", Dir::Compensate, u32::MAX),
    );
    assert_eq!(
        o.start("ship", &mut world).expect("start"),
        SagaStatus::Running
    );
    assert_eq!(
        o.resume("ship", &mut world).expect("resume"),
        SagaStatus::Running
    );
    let tries = world
        .calls_of("ship")
        .iter()
        .filter(|c| **c == exec("create_shipment"))
        .count();
    assert_eq!(tries, 2, "one attempt at the failing shipment per run");
    let reason = refusal("undo", "charge_card");
    assert_eq!(
        o.start("undo", &mut world).expect("start"),
        compensating("charge_card", &reason)
    );
    let statuses = o.resume_all(&mut world).expect("resume_all");
    assert_eq!(
        statuses,
        [
            ("ship".to_owned(), SagaStatus::Running),
            ("undo".to_owned(), compensating("charge_card", &reason)),
        ]
    );
    let tries = world
        .calls_of("undo")
        .iter()
        .filter(|c| **c == comp("reserve_stock"))
        .count();
    assert_eq!(tries, 2, "one attempt at the failing release per run");
    assert_eq!(
        world
            .calls_of("ship")
            .iter()
            .filter(|c| **c == exec("create_shipment"))
            .count(),
        3
    );
}

// ───────────────────────────── 7. keys ─────────────────────────────

#[test]
fn a_call_keeps_its_key_across_retries_and_orchestrators() {
    let dir = tmp();
    let path = log_path(&dir);
    let mut world = World::new(
        &Script::default()
            .down("fwd", "create_shipment", Dir::Execute, 2)
            .refuse("back", "charge_card")
            .down("back", "reserve_stock", Dir::Compensate, 2),
    );
    {
        let mut o = open(&path, &shop());
        assert_eq!(
            o.start("fwd", &mut world).expect("start"),
            SagaStatus::Running
        );
        o.start("back", &mut world).expect("start");
    }
    {
        let mut o = open(&path, &shop());
        o.resume("fwd", &mut world).expect("resume");
        o.resume("back", &mut world).expect("resume");
    }
    let mut o = open(&path, &shop());
    let statuses = o.resume_all(&mut world).expect("resume_all");
    assert!(
        statuses.iter().all(|(_, s)| s.is_final()),
        "both sagas end: {statuses:?}"
    );
    for (saga, step, dir) in [
        ("fwd", "create_shipment", Dir::Execute),
        ("back", "reserve_stock", Dir::Compensate),
    ] {
        let keys: Vec<&str> = world
            .calls
            .iter()
            .filter(|c| c.saga == saga && c.step == step && c.dir == dir)
            .map(|c| c.key.as_str())
            .collect();
        assert_eq!(keys.len(), 3, "three attempts at {dir:?} {step} of {saga}");
        assert!(
            keys.iter().all(|k| *k == keys[0]),
            "every attempt at {dir:?} {step} of {saga} carries the same key, by whichever \
             orchestrator: {keys:?}"
        );
    }
    world.assert_keys("retries across orchestrators");
    assert_eq!(
        world.executions[&("fwd".to_owned(), "create_shipment".to_owned())],
        1
    );
}

#[test]
fn keys_differ_between_sagas_steps_and_compensations() {
    let dir = tmp();
    let mut o = open(&log_path(&dir), &long());
    let sagas = ["order-1", "order-2", "ORDER-1", "Order-1"];
    let mut script = Script::default();
    for saga in &sagas[1..] {
        script = script.refuse(saga, "charge_card");
    }
    let mut world = World::new(&script);
    for saga in sagas {
        o.start(saga, &mut world).expect("start");
    }
    world.assert_keys("four sagas, three of them compensated");
    for saga in sagas {
        for step in ["reserve_stock", "hold_coupon"] {
            let key = (saga.to_owned(), step.to_owned());
            assert_eq!(
                world.executions.get(&key),
                Some(&1),
                "{step} of {saga} is done once (a key shared with another call is answered from \
                 the service's cache, and nothing is done)"
            );
            let undone = if saga == "order-1" { None } else { Some(&1) };
            assert_eq!(
                world.compensations.get(&key),
                undone,
                "{step} of {saga} is undone {undone:?} (a compensation with its step's key gets \
                 the step's cached answer, and nothing is undone)"
            );
        }
    }
}

#[rstest]
fn keys_stay_distinct_when_ids_and_names_contain_separators(
    #[values(":", "/", "-", "_", ".", "|", " ", "#", "\n", "::", "%3A")] sep: &str,
) {
    let tail = format!("b{sep}c");
    let d = def(&["c", &tail, "x"], 2);
    let dir = tmp();
    let mut o = open(&log_path(&dir), &d);
    // Pairs that a plain join makes equal (`a` + `b:c`, `a:b` + `c`), and
    // pairs that a join escaping the separator but not the escape character
    // makes equal (`a\` + `b:c`, `a:b\` + `c`; the same with `%`).
    let sagas: Vec<String> = ["a", "a{sep}b", "a\\", "a{sep}b\\", "a%", "a{sep}b%"]
        .iter()
        .map(|s| s.replace("{sep}", sep))
        .collect();
    let mut script = Script::default();
    for saga in &sagas {
        script = script.refuse(saga, "x");
    }
    let mut world = World::new(&script);
    for saga in &sagas {
        o.start(saga, &mut world).expect("start");
    }
    world.assert_keys(&format!("sagas {sagas:?}, steps \"c\" and {tail:?}"));
    for saga in &sagas {
        for step in ["c", tail.as_str()] {
            let key = (saga.clone(), step.to_owned());
            assert_eq!(
                (world.executions.get(&key), world.compensations.get(&key)),
                (Some(&1), Some(&1)),
                "{step:?} of saga {saga:?} is done and undone once each (sagas {sagas:?})"
            );
        }
    }
}

// ───────────────────────────── 8-9. input, the log ─────────────────────────────

#[derive(Debug, Clone, Copy)]
enum Bad {
    StartEmpty,
    StartRunning,
    StartCompleted,
    ResumeUnknown,
    StatusUnknown,
    ResumeEmpty,
    StatusEmpty,
}

#[rstest]
#[case(Bad::StartEmpty)]
#[case(Bad::StartRunning)]
#[case(Bad::StartCompleted)]
#[case(Bad::ResumeUnknown)]
#[case(Bad::StatusUnknown)]
#[case(Bad::ResumeEmpty)]
#[case(Bad::StatusEmpty)]
fn bad_input_is_a_typed_error_calls_nothing_and_changes_nothing(#[case] bad: Bad) {
    let dir = tmp();
    let path = log_path(&dir);
    let mut o = open(&path, &shop());
    let mut world =
        World::new(&Script::default().down("running", "create_shipment", Dir::Execute, 1));
    assert_eq!(
        o.start("running", &mut world).expect("start"),
        SagaStatus::Running
    );
    assert_eq!(
        o.start("done", &mut world).expect("start"),
        SagaStatus::Completed
    );
    let before = world.calls.len();
    let unknown_or_empty = |e: &SagaError| {
        matches!(e, SagaError::UnknownSaga(id) if id.is_empty())
            || matches!(e, SagaError::EmptySagaId)
    };
    let err = match bad {
        Bad::StartEmpty => o.start("", &mut world).map(|_| ()),
        Bad::StartRunning => o.start("running", &mut world).map(|_| ()),
        Bad::StartCompleted => o.start("done", &mut world).map(|_| ()),
        Bad::ResumeUnknown => o.resume("order-404", &mut world).map(|_| ()),
        Bad::StatusUnknown => o.status("order-404").map(|_| ()),
        Bad::ResumeEmpty => o.resume("", &mut world).map(|_| ()),
        Bad::StatusEmpty => o.status("").map(|_| ()),
    }
    .err()
    .unwrap_or_else(|| panic!("{bad:?} must be an error"));
    let right = match bad {
        Bad::StartEmpty => matches!(err, SagaError::EmptySagaId),
        Bad::StartRunning => matches!(&err, SagaError::SagaExists(id) if id == "running"),
        Bad::StartCompleted => matches!(&err, SagaError::SagaExists(id) if id == "done"),
        Bad::ResumeUnknown | Bad::StatusUnknown => {
            matches!(&err, SagaError::UnknownSaga(id) if id == "order-404")
        }
        Bad::ResumeEmpty | Bad::StatusEmpty => unknown_or_empty(&err),
    };
    assert!(right, "{bad:?}: wrong error {err:?}");
    assert_eq!(world.calls.len(), before, "{bad:?} calls nothing");
    // The log as before: the same sagas, where they stood.
    assert_eq!(
        o.status("running").expect("status"),
        SagaStatus::Running,
        "{bad:?}"
    );
    assert_eq!(
        o.status("done").expect("status"),
        SagaStatus::Completed,
        "{bad:?}"
    );
    assert!(o.status("").is_err(), "{bad:?} must not log a saga \"\"");
    let mut o = open(&path, &shop());
    assert_eq!(
        o.resume_all(&mut world).expect("resume_all"),
        [("running".to_owned(), SagaStatus::Completed)],
        "{bad:?}: the unfinished sagas are those before it"
    );
    assert_eq!(world.calls_of("running")[3..], [exec("create_shipment")]);
}

#[test]
fn status_survives_reopening_the_file() {
    let dir = tmp();
    let path = log_path(&dir);
    let mut world = World::new(
        &Script::default()
            .down("running", "create_shipment", Dir::Execute, 1)
            .refuse("compensating", "charge_card")
            .down("compensating", "hold_coupon", Dir::Compensate, 1)
            .refuse("compensated", "hold_coupon"),
    );
    let mut returned = Vec::new();
    {
        let mut o = open(&path, &long());
        for saga in ["running", "completed", "compensating", "compensated"] {
            returned.push((saga, o.start(saga, &mut world).expect("start")));
        }
    }
    assert_eq!(
        returned.iter().map(|(_, s)| s.clone()).collect::<Vec<_>>(),
        [
            SagaStatus::Running,
            SagaStatus::Completed,
            compensating("charge_card", &refusal("compensating", "charge_card")),
            compensated("hold_coupon", &refusal("compensated", "hold_coupon")),
        ]
    );
    let o = open(&path, &long());
    for (saga, status) in returned {
        assert_eq!(
            o.status(saga).expect("status"),
            status,
            "a new orchestrator reads from the log what the first one returned for {saga}"
        );
    }
}

#[test]
fn resume_all_finishes_the_unfinished_sagas_in_start_order() {
    let dir = tmp();
    let path = log_path(&dir);
    let mut world = World::new(
        &Script::default()
            .down("stuck", "create_shipment", Dir::Execute, u32::MAX)
            .down("m", "create_shipment", Dir::Execute, 1)
            .refuse("z", "charge_card")
            .down("z", "reserve_stock", Dir::Compensate, 1)
            .down("a", "create_shipment", Dir::Execute, 1)
            .refuse("q", "reserve_stock"),
    );
    {
        let mut o = open(&path, &shop());
        for saga in ["stuck", "m", "k", "z", "q", "a"] {
            o.start(saga, &mut world).expect("start");
        }
    }
    let before = world.calls.len();
    let mut o = open(&path, &shop());
    let reason = refusal("z", "charge_card");
    assert_eq!(
        o.resume_all(&mut world).expect("resume_all"),
        [
            ("stuck".to_owned(), SagaStatus::Running),
            ("m".to_owned(), SagaStatus::Completed),
            ("z".to_owned(), compensated("charge_card", &reason)),
            ("a".to_owned(), SagaStatus::Completed),
        ],
        "the unfinished sagas, in the order they were started, each where it stands afterwards \
         (one still stuck holds none of the others back)"
    );
    let calls: Vec<_> = world.calls[before..]
        .iter()
        .map(|c| (c.saga.as_str(), c.dir, c.step.as_str()))
        .collect();
    assert_eq!(
        calls,
        [
            ("stuck", Dir::Execute, "create_shipment"),
            ("m", Dir::Execute, "create_shipment"),
            ("z", Dir::Compensate, "reserve_stock"),
            ("a", Dir::Execute, "create_shipment"),
        ]
    );
    assert_eq!(
        o.resume_all(&mut world).expect("resume_all"),
        [("stuck".to_owned(), SagaStatus::Running)]
    );
}

// ───────────────────────────── 10-11. crashes ─────────────────────────────

#[test]
fn a_crash_after_every_durable_write_resumes_to_the_same_end_state() {
    for (name, definition, script) in crash_scripts() {
        let (clean, clean_status, commits) = run_clean(&definition, &script, "order-7");
        let mut reached = 0;
        for k in 0..=commits {
            let Some((world, status)) =
                run_with_crashes(&definition, &script, "order-7", &[Point::AfterCommit(k)])
            else {
                break;
            };
            reached += 1;
            let context = format!("{name}, crashed right after commit {k}");
            assert_eq!(status, clean_status, "{context}: the end status");
            assert_eq!(
                world.effects(),
                clean.effects(),
                "{context}: what was done and undone ((saga, step), times)"
            );
            world.assert_keys(&context);
        }
        assert!(reached >= 2, "{name}: the run made fewer than two commits");
    }
}

#[test]
fn a_crash_inside_every_call_resumes_to_the_same_end_state() {
    for (name, definition, script) in crash_scripts() {
        let (clean, clean_status, _) = run_clean(&definition, &script, "order-7");
        for n in 0..clean.calls.len() {
            for when in [When::Before, When::After] {
                let point = Point::InCall(n, when);
                let (world, status) = run_with_crashes(&definition, &script, "order-7", &[point])
                    .expect("the crash-free run makes this call");
                let context = format!(
                    "{name}, crashed inside call {n} ({:?}) {when:?} the service did it",
                    clean.calls[n].what()
                );
                assert_eq!(status, clean_status, "{context}: the end status");
                assert_eq!(
                    world.effects(),
                    clean.effects(),
                    "{context}: what was done and undone ((saga, step), times)"
                );
                world.assert_keys(&context);
            }
        }
    }
}

#[test]
fn after_a_crash_only_the_call_in_flight_is_repeated() {
    for (name, definition, script) in crash_scripts() {
        let (clean, _, commits) = run_clean(&definition, &script, "order-7");
        for point in every_point(&clean, commits) {
            let Some((world, _)) = run_with_crashes(&definition, &script, "order-7", &[point])
            else {
                continue;
            };
            assert_only_the_call_in_flight_repeated(
                &clean,
                &world,
                &format!("{name}, crashed at {point:?}"),
            );
        }
    }
}

#[test]
fn followup_a_crash_during_recovery_resumes_to_the_same_end_state() {
    for (name, definition, script) in crash_scripts() {
        let (clean, clean_status, commits) = run_clean(&definition, &script, "order-7");
        for first in every_point(&clean, commits) {
            if run_with_crashes(&definition, &script, "order-7", &[first]).is_none() {
                continue;
            }
            for k in 0..200 {
                let points = [first, Point::AfterCommit(k)];
                let dir = tmp();
                let path = log_path(&dir);
                let mut world = World::new(&script);
                let crashed = run_crashing(&mut world, first, |w| {
                    drive(&path, &definition, w, "order-7")
                });
                assert!(crashed);
                let crashed_again = run_crashing(&mut world, points[1], |w| {
                    recover(&path, &definition, w, "order-7")
                });
                let status = recover(&path, &definition, &mut world, "order-7");
                let context = format!(
                    "{name}, crashed at {first:?}, then in the recovery right after commit {k}"
                );
                assert_eq!(status, clean_status, "{context}: the end status");
                assert_eq!(
                    world.effects(),
                    clean.effects(),
                    "{context}: what was done and undone"
                );
                world.assert_keys(&context);
                if !crashed_again {
                    break;
                }
            }
        }
    }
}

/// A random saga: its definition, what fails, and where it crashes.
#[derive(Debug, Clone)]
struct Case {
    steps: usize,
    pivot: usize,
    refused: Option<usize>,
    down_execute: Vec<u32>,
    down_compensate: Vec<u32>,
    points: Vec<Point>,
}

fn case() -> impl Strategy<Value = Case> {
    (1usize..=5)
        .prop_flat_map(|steps| (Just(steps), 0..steps))
        .prop_flat_map(|(steps, pivot)| {
            let point = prop_oneof![
                (0usize..16).prop_map(Point::AfterCommit),
                (0usize..10, any::<bool>()).prop_map(|(n, after)| Point::InCall(
                    n,
                    if after { When::After } else { When::Before }
                )),
            ];
            (
                Just(steps),
                Just(pivot),
                proptest::option::of(0..=pivot),
                proptest::collection::vec(0u32..3, steps),
                proptest::collection::vec(0u32..3, steps),
                proptest::collection::vec(point, 0..4),
            )
        })
        .prop_map(
            |(steps, pivot, refused, down_execute, down_compensate, points)| Case {
                steps,
                pivot,
                refused,
                down_execute,
                down_compensate,
                points,
            },
        )
}

/// The obvious model: the calls a saga makes from its start until it is
/// final (every failed attempt is a call of its own), and its end.
fn model(c: &Case, names: &[String], saga: &str) -> (Vec<(Dir, String)>, SagaStatus) {
    let mut calls = Vec::new();
    for i in 0..c.steps {
        if c.refused == Some(i) {
            calls.push(exec(&names[i]));
            for j in (0..i).rev() {
                for _ in 0..=c.down_compensate[j] {
                    calls.push(comp(&names[j]));
                }
            }
            return (calls, compensated(&names[i], &refusal(saga, &names[i])));
        }
        let failures = if i > c.pivot { c.down_execute[i] } else { 0 };
        for _ in 0..=failures {
            calls.push(exec(&names[i]));
        }
    }
    (calls, SagaStatus::Completed)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn followup_random_failures_and_crashes_end_all_done_or_all_compensated(c in case()) {
        let names: Vec<String> = (0..c.steps).map(|i| format!("step-{i}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let definition = def(&refs, c.pivot);
        let saga = "order:1/a";
        let mut script = Script::default();
        if let Some(r) = c.refused {
            script = script.refuse(saga, &names[r]);
        }
        for (i, name) in names.iter().enumerate() {
            // Temporary failures only where the README allows them: after the
            // pivot, and in compensations.
            if i > c.pivot {
                script = script.down(saga, name, Dir::Execute, c.down_execute[i]);
            }
            if i < c.pivot {
                script = script.down(saga, name, Dir::Compensate, c.down_compensate[i]);
            }
        }
        let (clean, clean_status, _) = run_clean(&definition, &script, saga);
        let (model_calls, model_status) = model(&c, &names, saga);
        prop_assert_eq!(
            clean.calls_of(saga),
            model_calls,
            "without a crash, the calls of {:?} (start, then resume until final)",
            &c
        );
        prop_assert_eq!(&clean_status, &model_status);
        let (world, status) = if c.points.is_empty() {
            (clean, clean_status.clone())
        } else {
            match run_with_crashes(&definition, &script, saga, &c.points) {
                Some(out) => out,
                None => return Ok(()),
            }
        };
        let done = |i: usize| world.executions.get(&(saga.to_owned(), names[i].clone())).copied().unwrap_or(0);
        let undone = |i: usize| world.compensations.get(&(saga.to_owned(), names[i].clone())).copied().unwrap_or(0);
        match c.refused {
            None => {
                prop_assert_eq!(&status, &SagaStatus::Completed);
                for i in 0..c.steps {
                    prop_assert_eq!((done(i), undone(i)), (1, 0), "step {} of {:?}: all done", i, c);
                }
            }
            Some(r) => {
                prop_assert_eq!(&status, &compensated(&names[r], &refusal(saga, &names[r])));
                for i in 0..c.steps {
                    let expected = if i < r { (1, 1) } else { (0, 0) };
                    prop_assert_eq!((done(i), undone(i)), expected, "step {} of {:?}: all compensated", i, c);
                }
            }
        }
        prop_assert_eq!(&status, &clean_status, "the same end as without the crashes");
        world.assert_keys(&format!("{c:?}"));
    }
}

// ───────────────────────────── constraints ─────────────────────────────

/// A log of `n` completed sagas and one compensated.
fn log_of_finished(n: usize) -> (TempDir, World) {
    let dir = tmp();
    let d = def(&["ship"], 0);
    let mut world = World::new(&Script::default().refuse("refused", "ship"));
    let mut o = open(&log_path(&dir), &d);
    for i in 0..n {
        o.start(&format!("order-{i}"), &mut world).expect("start");
    }
    o.start("refused", &mut world).expect("start");
    (dir, world)
}

#[test]
fn resume_all_reads_the_unfinished_sagas_not_the_history() {
    let mut counts = Vec::new();
    for n in [100, 2_000] {
        let (dir, mut world) = log_of_finished(n);
        let mut o = open(&log_path(&dir), &def(&["ship"], 0));
        let (steps, out) = vm_steps(|| o.resume_all(&mut world));
        assert_eq!(out.expect("resume_all"), [], "nothing to resume");
        counts.push(steps);
    }
    assert!(
        counts[1] < 2 * counts[0].max(1),
        "resume_all with nothing to resume took {} SQLite steps on a log of 100 finished sagas \
         and {} on one of 2,000: it must find the unfinished sagas through an index, not by \
         reading every saga",
        counts[0],
        counts[1]
    );
}

#[test]
fn status_reads_one_saga_not_the_history() {
    let mut counts = Vec::new();
    for n in [100, 2_000] {
        let (dir, _) = log_of_finished(n);
        let o = open(&log_path(&dir), &def(&["ship"], 0));
        let (steps, out) = vm_steps(|| o.status("order-50"));
        assert_eq!(out.expect("status"), SagaStatus::Completed);
        counts.push(steps);
    }
    assert!(
        counts[1] < 2 * counts[0].max(1),
        "status of one saga took {} SQLite steps on a log of 100 sagas and {} on one of 2,000: \
         it must read that saga through an index",
        counts[0],
        counts[1]
    );
}

#[test]
fn start_reads_one_saga_not_the_history() {
    let mut counts = Vec::new();
    for n in [100, 2_000] {
        let (dir, mut world) = log_of_finished(n);
        let mut o = open(&log_path(&dir), &def(&["ship"], 0));
        let (steps, out) = vm_steps(|| o.start("order-new", &mut world));
        assert_eq!(out.expect("start"), SagaStatus::Completed);
        counts.push(steps);
    }
    assert!(
        counts[1] < 2 * counts[0].max(1),
        "start of one saga took {} SQLite steps on a log of 100 sagas and {} on one of 2,000: \
         checking the id and numbering the saga must go through an index",
        counts[0],
        counts[1]
    );
}

#[test]
fn an_orchestrator_can_move_to_another_thread() {
    let dir = tmp();
    let o = open(&log_path(&dir), &shop());
    let status = std::thread::spawn(move || {
        let mut o = o;
        let mut world = World::default();
        o.start("order-7", &mut world)
    })
    .join()
    .expect("the thread")
    .expect("start on another thread");
    assert_eq!(status, SagaStatus::Completed);
}
