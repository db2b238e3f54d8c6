//! Runs the specs of a built test executable.
//!
//! First all of them in one process, `jobs` threads wide: the fast path,
//! which is what a learner waits for after every save. If that process stops
//! making progress for a spec's timeout (a deadlock, an endless loop), it is
//! killed; if it dies (an abort, a stack overflow), it is gone. Either way the
//! specs it left without a complete result are run again, each in a process
//! of its own with its own deadline, so a hanging spec is reported as
//! `timeout` by name, every other spec still reports, and the run never hangs.

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::harness;
use crate::verdict::{SpecResult, Status};

/// How to run the specs of one executable.
#[derive(Debug, Clone)]
pub struct RunPlan {
    pub executable: PathBuf,
    pub suite: String,
    /// Run from here (the kata's directory, as `cargo test` would).
    pub cwd: PathBuf,
    pub timeout: Duration,
    pub env: Vec<(String, String)>,
    pub jobs: usize,
    /// Stop at the first spec that fails or times out: all the verify gate
    /// needs to know of a known-wrong answer. The verdict then holds the
    /// specs that ran.
    pub until_first_failure: bool,
    /// Set from elsewhere once these results no longer matter (a learner's
    /// loom models, started early, after a normal spec failed): the run
    /// then kills its processes and returns the results it had.
    pub abandon: Option<Arc<AtomicBool>>,
}

impl RunPlan {
    fn abandoned(&self) -> bool {
        self.abandon
            .as_ref()
            .is_some_and(|flag| flag.load(Ordering::Relaxed))
    }
}

/// How often a waiting run looks at [`RunPlan::abandon`].
const POLL: Duration = Duration::from_millis(20);

/// The spec names the executable holds.
pub fn list(executable: &Path, cwd: &Path) -> Result<Vec<String>> {
    let output = Command::new(executable)
        .args(["--list", "--format", "terse"])
        .current_dir(cwd)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("listing the specs of {}", executable.display()))?;
    if !output.status.success() {
        bail!(
            "{} --list failed: {}",
            executable.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(harness::parse_list(&String::from_utf8_lossy(
        &output.stdout,
    )))
}

/// Runs `names`, calling `on_result` once for each spec as its result is
/// known (from several threads), and returns the results in the order given.
pub fn run(
    plan: &RunPlan,
    names: &[String],
    on_result: &(dyn Fn(&SpecResult) + Sync),
) -> Vec<SpecResult> {
    // A spec process killed at its first failure or at its deadline never
    // drops its temporary directories (SQLite files, mostly), and the gate
    // kills thousands: each run gets a temporary directory of its own,
    // removed with everything in it once its processes are gone.
    let scratch = tempfile::Builder::new().prefix("kata-specs-").tempdir();
    let mut plan = plan.clone();
    if let Ok(dir) = &scratch {
        plan.env
            .push(("TMPDIR".into(), dir.path().display().to_string()));
    }
    let plan = &plan;
    let (mut known, failed_first) = run_together(plan, on_result);
    if let Some(name) = failed_first {
        // Killed at its first failure, the process never printed the
        // message: the spec alone again tells it.
        if let Some(result) = run_one(plan, &name) {
            on_result(&result);
            known.insert(name, result);
        }
    }
    let caught = |known: &HashMap<String, SpecResult>| {
        plan.until_first_failure && known.values().any(|r| r.status != Status::Pass)
    };
    if !caught(&known) && !plan.abandoned() {
        let rest: Vec<&String> = names.iter().filter(|n| !known.contains_key(*n)).collect();
        for result in run_isolated(plan, &rest, on_result) {
            known.insert(result.name.clone(), result);
        }
    }
    names.iter().filter_map(|name| known.remove(name)).collect()
}

/// The fast path: every spec in one process. Returns the results it could
/// be sure of: all of them if the process ended normally, only the passes
/// if it was killed or died (a failure's message comes at the very end);
/// and, when the plan stops at the first failure, the spec that failed.
fn run_together(
    plan: &RunPlan,
    on_result: &(dyn Fn(&SpecResult) + Sync),
) -> (HashMap<String, SpecResult>, Option<String>) {
    let jobs = plan.jobs.max(1).to_string();
    let child = command(plan)
        .args(["--test-threads", &jobs, "--color", "never"])
        .spawn();
    let Ok(mut child) = child else {
        return (HashMap::new(), None);
    };
    let stderr = child.stderr.take().map(drain);
    let (tx, rx) = mpsc::channel();
    if let Some(stdout) = child.stdout.take() {
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
    }
    let mut output = String::new();
    let mut cut_short = false;
    let mut failed_first = None;
    let mut last_line = Instant::now();
    loop {
        let quiet = last_line.elapsed();
        if quiet >= plan.timeout || plan.abandoned() {
            // Stalled (a hang), or no longer wanted.
            cut_short = true;
            let _ = child.kill();
            break;
        }
        match rx.recv_timeout((plan.timeout - quiet).min(POLL)) {
            Ok(line) => {
                last_line = Instant::now();
                match harness::parse_result_line(&line) {
                    Some((name, Status::Pass)) => {
                        on_result(&spec_result(plan, name, Status::Pass, String::new()));
                    }
                    Some((name, _)) if plan.until_first_failure => {
                        failed_first = Some(name.to_owned());
                        let _ = child.kill();
                        break;
                    }
                    _ => {}
                }
                output.push_str(&line);
                output.push('\n');
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let ended_normally = child.wait().is_ok_and(|status| status.code().is_some())
        && !cut_short
        && failed_first.is_none();
    if let Some(stderr) = stderr {
        let _ = stderr.join();
    }
    let mut results = HashMap::new();
    for outcome in harness::parse_run(&output) {
        if outcome.status == Status::Pass || ended_normally {
            let result = spec_result(plan, &outcome.name, outcome.status, outcome.message);
            if result.status != Status::Pass {
                on_result(&result);
            }
            results.insert(outcome.name, result);
        }
    }
    (results, failed_first)
}

/// Each spec in a process of its own, `jobs` at a time.
fn run_isolated(
    plan: &RunPlan,
    names: &[&String],
    on_result: &(dyn Fn(&SpecResult) + Sync),
) -> Vec<SpecResult> {
    let queue = Mutex::new(names.iter().copied().collect::<VecDeque<_>>());
    let results = Mutex::new(Vec::new());
    thread::scope(|scope| {
        for _ in 0..plan.jobs.max(1) {
            scope.spawn(|| {
                loop {
                    // Its own statement, so the queue is unlocked while the
                    // spec runs (a `while let` would hold the guard).
                    let next = lock(&queue).pop_front();
                    let Some(name) = next else { break };
                    let Some(result) = run_one(plan, name) else {
                        break;
                    };
                    on_result(&result);
                    if plan.until_first_failure && result.status != Status::Pass {
                        lock(&queue).clear();
                    }
                    lock(&results).push(result);
                }
            });
        }
    });
    results.into_inner().unwrap_or_else(|e| e.into_inner())
}

fn spec_result(plan: &RunPlan, name: &str, status: Status, message: String) -> SpecResult {
    SpecResult {
        name: name.to_owned(),
        status,
        message,
        suite: plan.suite.clone(),
    }
}

fn command(plan: &RunPlan) -> Command {
    let mut cmd = Command::new(&plan.executable);
    cmd.envs(plan.env.iter().map(|(k, v)| (k, v)))
        .env("RUST_BACKTRACE", "0")
        .current_dir(&plan.cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The spec in a process of its own; `None` if the run was abandoned
/// before it ended.
fn run_one(plan: &RunPlan, name: &str) -> Option<SpecResult> {
    if plan.abandoned() {
        return None;
    }
    let result = |status, message: String| spec_result(plan, name, status, message);
    let child = command(plan)
        .args(["--exact", name, "--test-threads", "1", "--color", "never"])
        .spawn();
    let child = match child {
        Ok(child) => child,
        Err(e) => {
            return Some(result(
                Status::Fail,
                format!("could not start the spec: {e}"),
            ));
        }
    };
    Some(match wait_with_deadline(child, plan) {
        Finished::InTime {
            stdout,
            stderr,
            code,
        } => {
            let outcome = harness::parse_run(&stdout)
                .into_iter()
                .find(|o| o.name == name);
            match outcome {
                Some(o) => result(o.status, o.message),
                // No verdict line: the process died under the harness (an
                // abort, a stack overflow, a signal).
                None => result(
                    Status::Fail,
                    format!(
                        "the spec's process ended without a result ({code}):\n{}",
                        harness::first_panic(&format!("{stdout}\n{stderr}"), 30)
                    ),
                ),
            }
        }
        Finished::TimedOut => result(
            Status::Timeout,
            format!(
                "did not finish within {}s: a deadlock, a lost wake-up or an endless loop?",
                plan.timeout.as_secs_f32()
            ),
        ),
        Finished::Abandoned => return None,
    })
}

enum Finished {
    InTime {
        stdout: String,
        stderr: String,
        code: String,
    },
    TimedOut,
    Abandoned,
}

/// Waits for the spec's process until the plan's timeout, or until the run
/// is abandoned.
fn wait_with_deadline(mut child: Child, plan: &RunPlan) -> Finished {
    // Drain the pipes while waiting, so a chatty spec cannot block on a full
    // pipe and be mistaken for a hang.
    let stdout = child.stdout.take().map(drain);
    let stderr = child.stderr.take().map(drain);
    let deadline = Instant::now() + plan.timeout;
    let mut pause = Duration::from_millis(1);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline && !plan.abandoned() => {
                thread::sleep(pause);
                pause = (pause * 2).min(POLL);
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    let collect =
        |h: Option<thread::JoinHandle<String>>| h.and_then(|h| h.join().ok()).unwrap_or_default();
    let (stdout, stderr) = (collect(stdout), collect(stderr));
    match status {
        Some(status) => Finished::InTime {
            stdout,
            stderr,
            code: status.to_string(),
        },
        None if plan.abandoned() => Finished::Abandoned,
        None => Finished::TimedOut,
    }
}

fn drain(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn an_abandoned_run_kills_its_specs_and_reports_none_of_them() {
        let dir = tempfile::tempdir().unwrap();
        let executable = dir.path().join("never-ends");
        std::fs::write(&executable, "#!/bin/sh\nexec sleep 600\n").unwrap();
        std::fs::set_permissions(&executable, std::fs::Permissions::from_mode(0o755)).unwrap();
        let abandon = Arc::new(AtomicBool::new(false));
        let plan = RunPlan {
            executable,
            suite: "loom".to_owned(),
            cwd: dir.path().to_path_buf(),
            timeout: Duration::from_secs(600),
            env: Vec::new(),
            jobs: 2,
            until_first_failure: false,
            abandon: Some(abandon.clone()),
        };
        let names = vec!["first".to_owned(), "second".to_owned()];
        let started = Instant::now();
        let results = thread::scope(|scope| {
            scope.spawn(|| {
                thread::sleep(Duration::from_millis(200));
                abandon.store(true, Ordering::Relaxed);
            });
            run(&plan, &names, &|_| {})
        });
        assert!(
            results.is_empty(),
            "no spec of an abandoned run has a result: {results:?}"
        );
        // Not a speed check: left to its timeout, the run would take 600 s
        // for the run of both specs together, then 600 s more for each alone.
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "an abandoned run ends without waiting for its timeout"
        );
    }
}
