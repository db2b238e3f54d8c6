//! One check: build the spec suites against a subject, run every spec, and
//! conclude. The normal suites run first, in the dev profile; a kata with
//! `tests/loom.rs` then has its loom models built and run the same way.

use std::path::PathBuf;
use std::thread;
use std::time::Duration;

use anyhow::Result;

use crate::catalog::{Kata, Workspace};
use crate::compile::{BuildOutcome, BuildRequest, Diagnostic, Executable};
use crate::runner::{self, RunPlan};
use crate::verdict::{Mode, SpecResult, Status, Verdict};
use crate::{checkouts, pristine};

/// Property tests draw from this seed unless told otherwise, so a verdict
/// does not change between two runs of the same code.
pub const DEFAULT_SEED: u64 = 0x6b61_7461;

/// The code a spec suite is run against.
#[derive(Debug, Clone)]
pub struct Subject {
    pub kata: Kata,
    pub mode: Mode,
    pub manifest: PathBuf,
    pub package: String,
    pub features: Vec<String>,
}

impl Subject {
    /// The learner's code, in `katas/<slug>/src`.
    pub fn learner(kata: &Kata) -> Self {
        Subject {
            manifest: kata.manifest(),
            package: kata.slug.clone(),
            features: Vec::new(),
            mode: Mode::Kata,
            kata: kata.clone(),
        }
    }

    /// The reference solution, through the kata's `solution` feature.
    pub fn reference(kata: &Kata) -> Self {
        Subject {
            features: vec!["solution".to_owned()],
            mode: Mode::Solution,
            ..Subject::learner(kata)
        }
    }

    /// Whether this is the kata's own crate (not a scratch copy).
    fn is_kata_crate(&self) -> bool {
        self.manifest == self.kata.manifest()
    }

    fn cargo_test_command(&self, suite: &str, loom: bool) -> String {
        let mut cmd = String::new();
        if loom {
            cmd.push_str("RUSTFLAGS=\"--cfg kata_loom\" ");
        }
        cmd.push_str(&format!("cargo test -p {}", self.package));
        if !self.features.is_empty() {
            cmd.push_str(&format!(" --features {}", self.features.join(",")));
        }
        if loom {
            cmd.push_str(" --profile loom --target-dir target/loom");
        }
        cmd.push_str(&format!(" --test {suite}"));
        cmd
    }
}

/// Follows a check as it goes. Every method has a do-nothing default.
pub trait Reporter: Sync {
    /// Cargo started compiling `krate` (a dependency, or the code under test).
    fn compiling(&self, _krate: &str) {}
    /// `total` specs of `suite` are about to run.
    fn running(&self, _suite: &str, _total: usize) {}
    fn finished(&self, _result: &SpecResult) {}
}

#[derive(Debug, Clone)]
pub struct Options {
    pub seed: u64,
    pub color: bool,
    pub jobs: usize,
    /// Skip the loom models once a normal spec has failed: enough to know
    /// that a known-wrong answer is caught.
    pub stop_at_first_failing_suite: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            seed: DEFAULT_SEED,
            color: false,
            jobs: std::thread::available_parallelism().map_or(2, |n| n.get()),
            stop_at_first_failing_suite: false,
        }
    }
}

/// Everything a check learned: the verdict, and the compiler's warnings for
/// the code under test (the verify gate wants a stub without any).
pub struct Report {
    pub verdict: Verdict,
    pub warnings: Vec<Diagnostic>,
}

pub fn check(
    ws: &Workspace,
    subject: &Subject,
    opts: &Options,
    reporter: &dyn Reporter,
) -> Result<Report> {
    let kata = &subject.kata;
    if subject.is_kata_crate() {
        checkouts::claim(ws, subject)?;
    }
    let (loom, normal): (Vec<String>, Vec<String>) =
        kata.suites()?.into_iter().partition(|s| s == "loom");
    let request = |suites: Vec<String>, loom: bool| BuildRequest {
        manifest: subject.manifest.clone(),
        package: subject.package.clone(),
        features: subject.features.clone(),
        suites,
        loom,
        target_dir: ws.target_dir(),
        color: opts.color,
    };
    let (normal, loom) = (request(normal, false), request(loom, true));
    let phase = |request: &BuildRequest| -> Result<Phase> {
        if request.suites.is_empty() {
            return Ok(Phase::Skipped);
        }
        match request.run(&|krate| reporter.compiling(krate))? {
            BuildOutcome::Failed(diagnostics) => Ok(Phase::Failed(diagnostics)),
            BuildOutcome::Built {
                executables,
                diagnostics,
            } => {
                let mut specs = Vec::new();
                for exe in executables {
                    specs.extend(run_suite(subject, opts, reporter, exe, request.loom)?);
                }
                let warnings = diagnostics
                    .into_iter()
                    .filter(|d| d.level == "warning" && d.target_kind == "lib")
                    .collect();
                Ok(Phase::Ran { specs, warnings })
            }
        }
    };
    thread::scope(|scope| {
        // The loom build has a target directory of its own, so the loom
        // phase can run beside the normal one instead of after it, unless a
        // failing normal spec is all the caller needs.
        let early_loom = (!opts.stop_at_first_failing_suite).then(|| scope.spawn(|| phase(&loom)));
        let normal = phase(&normal)?;
        let loom = match early_loom {
            Some(handle) => handle
                .join()
                .map_err(|_| anyhow::anyhow!("the loom phase's thread panicked"))??,
            None if normal.has_failures() => Phase::Skipped,
            None => phase(&loom)?,
        };
        let mut specs = Vec::new();
        let mut warnings = Vec::new();
        for (phase, is_loom) in [(normal, false), (loom, true)] {
            match phase {
                Phase::Skipped => {}
                Phase::Failed(diagnostics) => {
                    return Ok(Report {
                        verdict: Verdict::compile_failure(&kata.slug, subject.mode, diagnostics),
                        warnings,
                    });
                }
                Phase::Ran {
                    specs: ran,
                    warnings: warned,
                } => {
                    specs.extend(ran);
                    // Loom compiles the same library under another cfg: its
                    // warnings would repeat the normal build's.
                    if !is_loom {
                        warnings = warned;
                    }
                }
            }
        }
        let mut verdict = Verdict::new(&kata.slug, subject.mode, specs);
        if subject.is_kata_crate() {
            verdict.modified_specs = pristine::modified_specs(kata)?;
        }
        Ok(Report { verdict, warnings })
    })
}

/// One build (normal or loom) and the run of its suites.
enum Phase {
    /// The kata has no suite of this kind, or it was not worth running.
    Skipped,
    /// The compiler's diagnostics.
    Failed(String),
    Ran {
        specs: Vec<SpecResult>,
        warnings: Vec<Diagnostic>,
    },
}

impl Phase {
    fn has_failures(&self) -> bool {
        match self {
            Phase::Skipped => false,
            Phase::Failed(_) => true,
            Phase::Ran { specs, .. } => specs.iter().any(|s| s.status != Status::Pass),
        }
    }
}

fn run_suite(
    subject: &Subject,
    opts: &Options,
    reporter: &dyn Reporter,
    exe: Executable,
    loom: bool,
) -> Result<Vec<SpecResult>> {
    let kata = &subject.kata;
    let names = runner::list(&exe.path, &kata.dir)?;
    reporter.running(&exe.suite, names.len());
    let plan = RunPlan {
        executable: exe.path,
        cwd: kata.dir.clone(),
        timeout: Duration::from_secs(kata.meta.spec_timeout_secs * if loom { 6 } else { 1 }),
        env: vec![
            ("PROPTEST_RNG_SEED".into(), opts.seed.to_string()),
            ("PROPTEST_DISABLE_FAILURE_PERSISTENCE".into(), "1".into()),
        ],
        jobs: opts.jobs,
        suite: exe.suite,
    };
    let mut results = runner::run(&plan, &names, &|r| reporter.finished(r));
    for result in results.iter_mut().filter(|r| r.status == Status::Fail) {
        add_replay_hint(result, subject, opts.seed, loom);
    }
    Ok(results)
}

/// A failing property test or loom model names the command that reruns
/// exactly that case.
fn add_replay_hint(result: &mut SpecResult, subject: &Subject, seed: u64, loom: bool) {
    let is_property = result.message.contains("minimal failing input");
    if !is_property && !loom {
        return;
    }
    let mut command = subject.cargo_test_command(&result.suite, loom);
    if is_property {
        command = format!("PROPTEST_RNG_SEED={seed} {command}");
    }
    result
        .message
        .push_str(&format!("\nreplay: {command} -- {} --exact", result.name));
}
