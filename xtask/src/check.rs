//! One check: build the spec suites against a subject, run every spec, and
//! conclude. The normal suites run in the dev profile; a kata with
//! `tests/loom.rs` has its loom models built and run the same way, once the
//! normal suites pass: a red answer gains nothing from them but a slower
//! verdict. Where the last normal run passed, the loom phase starts beside
//! the normal one instead, since it is likely needed and the two builds
//! share the cores; if a normal spec then fails, its models are stopped.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use anyhow::Result;

use crate::catalog::{Kata, Workspace};
use crate::compile::{BuildOutcome, BuildRequest, Diagnostic, Executable};
use crate::replay::Replays;
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

    /// What `cargo xtask check [--solution]` judges.
    pub fn checked(kata: &Kata, solution: bool) -> Self {
        if solution {
            Subject::reference(kata)
        } else {
            Subject::learner(kata)
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
    pub loom: LoomPolicy,
    /// Stop each suite at its first failing spec: judging a known-wrong
    /// answer needs one, and the rest would only cost time.
    pub until_first_failure: bool,
    /// Build and run only these suites (`loom` among them or not); `None`,
    /// every suite of the kata.
    pub suites: Option<Vec<String>>,
    /// A watch loop's recorded builds, rebuilt without Cargo on each save
    /// (see `replay`).
    pub replays: Option<Replays>,
}

/// When the loom models of a kata are built and run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoomPolicy {
    /// Beside the normal phase, whatever it finds: the verify gate's
    /// judgement of the reference, the stub and the right answers needs
    /// every spec's result (and its loom stage of the wrong answers, which
    /// builds the loom suite alone).
    Always,
    /// Only once every normal spec passes; started beside the normal phase
    /// when the subject's last normal run passed (it is then likely needed).
    /// What a learner waits for after each save.
    AfterGreen,
    /// Only once every normal spec passes, never early: `wrong --repeat`
    /// judging a known-wrong answer needs one failing spec, and nothing
    /// built for nothing.
    OnlyAfterGreen,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            seed: DEFAULT_SEED,
            color: false,
            jobs: std::thread::available_parallelism().map_or(2, |n| n.get()),
            loom: LoomPolicy::AfterGreen,
            until_first_failure: false,
            suites: None,
            replays: None,
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
    let (loom_suites, normal_suites): (Vec<String>, Vec<String>) = kata
        .suites()?
        .into_iter()
        .filter(|s| opts.suites.as_ref().is_none_or(|only| only.contains(s)))
        .partition(|s| s == "loom");
    let request = |suites: Vec<String>, loom: bool| BuildRequest {
        manifest: subject.manifest.clone(),
        packages: vec![subject.package.clone()],
        features: subject.features.clone(),
        suites,
        loom,
        target_dir: ws.target_dir(),
        color: opts.color,
    };
    let (normal, loom) = (request(normal_suites, false), request(loom_suites, true));
    let phase = |request: &BuildRequest, abandon: Option<Arc<AtomicBool>>| -> Result<Phase> {
        if request.suites.is_empty() {
            return Ok(Phase::Skipped);
        }
        match request.run(&|krate| reporter.compiling(krate), opts.replays.as_ref())? {
            BuildOutcome::Failed(diagnostics) => Ok(Phase::Failed(diagnostics)),
            BuildOutcome::Built {
                executables,
                diagnostics,
            } => {
                let mut specs = Vec::new();
                for exe in executables {
                    if opts.until_first_failure
                        && specs.iter().any(|s: &SpecResult| s.status != Status::Pass)
                    {
                        break;
                    }
                    specs.extend(run_suite(
                        subject,
                        opts,
                        reporter,
                        exe,
                        request.loom,
                        abandon.clone(),
                    )?);
                }
                let warnings = diagnostics
                    .into_iter()
                    .filter(|d| d.level == "warning" && d.target_kind == "lib")
                    .collect();
                Ok(Phase::Ran { specs, warnings })
            }
        }
    };
    let early = match opts.loom {
        LoomPolicy::Always => true,
        LoomPolicy::AfterGreen => !loom.suites.is_empty() && last_normal_run_passed(ws, subject),
        LoomPolicy::OnlyAfterGreen => false,
    };
    // A learner's early loom run is abandoned once a normal spec fails: its
    // models would only make the verdict wait (the build is left to finish,
    // so the next check finds it cached).
    let loom_unwanted = Arc::new(AtomicBool::new(false));
    thread::scope(|scope| {
        // The loom build has a target directory of its own, so it can run
        // beside the normal one.
        let early_loom = early.then(|| scope.spawn(|| phase(&loom, Some(loom_unwanted.clone()))));
        let normal_phase = phase(&normal, None)?;
        if opts.loom == LoomPolicy::AfterGreen {
            remember_normal_run(ws, subject, !normal_phase.has_failures());
            if normal_phase.has_failures() {
                loom_unwanted.store(true, Ordering::Relaxed);
            }
        }
        let early_loom = early_loom.map(|handle| {
            handle
                .join()
                .map_err(|_| anyhow::anyhow!("the loom phase's thread panicked"))
        });
        // A learner's verdict does not depend on whether the loom phase
        // started early: with a failing normal spec its results are left out
        // either way (its build stays cached for the next check).
        let loom_phase = match early_loom {
            Some(joined) if opts.loom == LoomPolicy::Always => joined??,
            _ if normal_phase.has_failures() => Phase::NotRun,
            Some(joined) => joined??,
            None => phase(&loom, None)?,
        };
        let mut specs = Vec::new();
        let mut warnings = Vec::new();
        let mut not_run = Vec::new();
        for (phase, is_loom) in [(normal_phase, false), (loom_phase, true)] {
            match phase {
                Phase::Skipped => {}
                Phase::NotRun => not_run.extend(loom.suites.iter().cloned()),
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
        verdict.not_run = not_run;
        if subject.is_kata_crate() {
            verdict.modified_specs = pristine::modified_specs(kata)?;
        }
        Ok(Report { verdict, warnings })
    })
}

/// One build (normal or loom) and the run of its suites.
enum Phase {
    /// The kata has no suite of this kind.
    Skipped,
    /// Not run: a normal spec already fails.
    NotRun,
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
            Phase::Skipped | Phase::NotRun => false,
            Phase::Failed(_) => true,
            Phase::Ran { specs, .. } => specs.iter().any(|s| s.status != Status::Pass),
        }
    }
}

/// Where a check remembers whether the subject's normal specs last passed:
/// one file per package and feature set, in the target directory, so that a
/// `cargo clean` forgets it with the builds it speaks of.
fn normal_run_marker(ws: &Workspace, subject: &Subject) -> PathBuf {
    let mut name = subject.package.clone();
    for feature in &subject.features {
        name.push('+');
        name.push_str(feature);
    }
    ws.target_dir()
        .join("xtask")
        .join("normal-green")
        .join(name)
}

fn last_normal_run_passed(ws: &Workspace, subject: &Subject) -> bool {
    normal_run_marker(ws, subject).exists()
}

/// A marker that cannot be written only costs the next check its head
/// start, so failures are ignored.
fn remember_normal_run(ws: &Workspace, subject: &Subject, passed: bool) {
    let marker = normal_run_marker(ws, subject);
    if passed {
        if let Some(dir) = marker.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = std::fs::write(&marker, b"");
    } else {
        let _ = std::fs::remove_file(&marker);
    }
}

fn run_suite(
    subject: &Subject,
    opts: &Options,
    reporter: &dyn Reporter,
    exe: Executable,
    loom: bool,
    abandon: Option<Arc<AtomicBool>>,
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
        until_first_failure: opts.until_first_failure,
        suite: exe.suite,
        abandon,
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
