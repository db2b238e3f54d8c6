//! Runs the specs of a built test executable, each in a process of its own,
//! a few at a time. One process per spec is what makes a hanging spec
//! harmless: it is killed at its deadline and reported as `timeout`, while
//! every other spec still reports normally and the run never hangs.

use std::collections::VecDeque;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
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
}

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

/// Runs `names`, calling `on_result` as each spec finishes (from several
/// threads), and returns the results in the order given.
pub fn run(
    plan: &RunPlan,
    names: &[String],
    on_result: &(dyn Fn(&SpecResult) + Sync),
) -> Vec<SpecResult> {
    let queue = Mutex::new(names.iter().enumerate().collect::<VecDeque<_>>());
    let results = Mutex::new(vec![None; names.len()]);
    thread::scope(|scope| {
        for _ in 0..plan.jobs.max(1) {
            scope.spawn(|| {
                loop {
                    let Some((index, name)) = lock(&queue).pop_front() else {
                        break;
                    };
                    let result = run_one(plan, name);
                    on_result(&result);
                    lock(&results)[index] = Some(result);
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .flatten()
        .collect()
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

fn run_one(plan: &RunPlan, name: &str) -> SpecResult {
    let result = |status, message: String| SpecResult {
        name: name.to_owned(),
        status,
        message,
        suite: plan.suite.clone(),
    };
    let child = Command::new(&plan.executable)
        .args(["--exact", name, "--test-threads", "1", "--color", "never"])
        .envs(plan.env.iter().map(|(k, v)| (k, v)))
        .env("RUST_BACKTRACE", "0")
        .current_dir(&plan.cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let child = match child {
        Ok(child) => child,
        Err(e) => return result(Status::Fail, format!("could not start the spec: {e}")),
    };
    match wait_with_deadline(child, plan.timeout) {
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
                        tail(&format!("{stdout}\n{stderr}"), 30)
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
    }
}

enum Finished {
    InTime {
        stdout: String,
        stderr: String,
        code: String,
    },
    TimedOut,
}

fn wait_with_deadline(mut child: Child, timeout: Duration) -> Finished {
    // Drain the pipes while waiting, so a chatty spec cannot block on a full
    // pipe and be mistaken for a hang.
    let stdout = child.stdout.take().map(drain);
    let stderr = child.stderr.take().map(drain);
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(1);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => {
                thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(20));
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

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.trim().lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
