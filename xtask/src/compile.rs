//! Builds a kata's spec suites with `cargo test --no-run` and reports the
//! test executables, or the compiler's diagnostics when the code does not
//! build.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::replay::{Replayed, Replays};

/// What to build.
#[derive(Debug, Clone)]
pub struct BuildRequest {
    pub manifest: PathBuf,
    /// One package to judge; several to build side by side for the cache
    /// (then only the build's progress matters, not its outcome).
    pub packages: Vec<String>,
    pub features: Vec<String>,
    /// Names of the `tests/*.rs` targets to build.
    pub suites: Vec<String>,
    /// Build for loom: `--cfg kata_loom`, the optimised `loom` profile, and a
    /// target directory of its own (changing RUSTFLAGS would otherwise
    /// invalidate the whole normal build cache).
    pub loom: bool,
    pub target_dir: PathBuf,
    pub color: bool,
}

/// The Cargo profile of loom builds (`[profile.loom]` in Cargo.toml).
pub const LOOM_PROFILE: &str = "loom";

/// Where loom builds go: a target directory of their own, since their
/// RUSTFLAGS would otherwise invalidate the normal build's cache. Cargo puts
/// the profile's output in its `LOOM_PROFILE` subdirectory.
pub fn loom_target_dir(target_dir: &Path) -> PathBuf {
    target_dir.join("loom")
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Executable {
    pub suite: String,
    pub path: PathBuf,
}

#[derive(Debug, Clone)]
pub struct Diagnostic {
    pub level: String,
    pub rendered: String,
    /// `lib`, `test`, ...: which target of the package it was reported for.
    pub target_kind: String,
}

#[derive(Debug)]
pub enum BuildOutcome {
    Built {
        executables: Vec<Executable>,
        diagnostics: Vec<Diagnostic>,
    },
    /// The compiler's (or cargo's) explanation of why nothing was built.
    Failed(String),
}

impl BuildRequest {
    fn command(&self) -> Command {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.arg("test")
            .arg("--no-run")
            .arg("--manifest-path")
            .arg(&self.manifest)
            .arg("--message-format")
            .arg(if self.color {
                "json-diagnostic-rendered-ansi"
            } else {
                "json"
            });
        for package in &self.packages {
            cmd.arg("--package").arg(package);
        }
        for suite in &self.suites {
            cmd.arg("--test").arg(suite);
        }
        if !self.features.is_empty() {
            cmd.arg("--features").arg(self.features.join(","));
        }
        let target_dir = if self.loom {
            cmd.arg("--profile").arg(LOOM_PROFILE);
            let mut flags = std::env::var("RUSTFLAGS").unwrap_or_default();
            flags.push_str(" --cfg kata_loom");
            cmd.env("RUSTFLAGS", flags.trim());
            loom_target_dir(&self.target_dir)
        } else {
            self.target_dir.clone()
        };
        cmd.arg("--target-dir").arg(target_dir);
        cmd.env("CARGO_TERM_PROGRESS_WHEN", "never");
        cmd
    }

    /// Runs the build, reporting each crate cargo starts compiling to
    /// `progress`. With `replays`, a build recorded earlier is run again
    /// without Cargo when it can be, and a build through Cargo is recorded.
    pub fn run(
        &self,
        progress: &(dyn Fn(&str) + Sync),
        replays: Option<&Replays>,
    ) -> Result<BuildOutcome> {
        let recorder = match replays.map(|replays| replays.replay(self, progress)) {
            Some(Replayed::Built(outcome)) => return Ok(outcome),
            Some(Replayed::Cargo(recorder)) => recorder,
            None => None,
        };
        let mut command = self.command();
        if let Some(recorder) = &recorder {
            command.envs(recorder.env());
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(Stdio::null())
            .spawn()
            .context("starting cargo")?;
        let stdout = child.stdout.take().context("cargo's stdout")?;
        let stderr = child.stderr.take().context("cargo's stderr")?;
        let (messages, cargo_errors) = thread::scope(|scope| {
            let errors = scope.spawn(move || {
                let mut kept = Vec::new();
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    let status = line.trim_start();
                    if let Some(krate) = status.strip_prefix("Compiling ") {
                        progress(krate);
                    } else if !is_cargo_status(status) {
                        kept.push(line);
                    }
                }
                kept.join("\n")
            });
            let messages: Vec<CargoMessage> = BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .filter_map(|line| serde_json::from_str(&line).ok())
                .collect();
            (messages, errors.join().unwrap_or_default())
        });
        let status = child.wait().context("waiting for cargo")?;
        let outcome = self.interpret(messages, status.success(), cargo_errors);
        if let (Some(replays), Some(recorder)) = (replays, recorder) {
            replays.finish(recorder, self, &outcome);
        }
        Ok(outcome)
    }

    fn interpret(
        &self,
        messages: Vec<CargoMessage>,
        success: bool,
        cargo_errors: String,
    ) -> BuildOutcome {
        let ours = |manifest: &Option<PathBuf>| {
            manifest
                .as_deref()
                .is_some_and(|m| same_path(m, &self.manifest))
        };
        let mut executables = Vec::new();
        let mut diagnostics = Vec::new();
        for message in messages {
            match message {
                CargoMessage::CompilerArtifact {
                    target,
                    executable: Some(path),
                    manifest_path,
                } if ours(&manifest_path) && target.kind.iter().any(|k| k == "test") => {
                    executables.push(Executable {
                        suite: target.name,
                        path,
                    });
                }
                CargoMessage::CompilerMessage {
                    message,
                    target,
                    manifest_path,
                } if ours(&manifest_path) && message.level != "failure-note" => {
                    if let Some(rendered) = message.rendered {
                        diagnostics.push(Diagnostic {
                            level: message.level,
                            rendered,
                            target_kind: target.kind.first().cloned().unwrap_or_default(),
                        });
                    }
                }
                _ => {}
            }
        }
        // Cargo reports them as they finish: judged in the order asked for,
        // a check stopping at its first failure stops at the same suite
        // whatever the build's timing.
        executables.sort_by_key(|e| self.suites.iter().position(|s| *s == e.suite));
        if success {
            return BuildOutcome::Built {
                executables,
                diagnostics,
            };
        }
        BuildOutcome::Failed(errors(&diagnostics).unwrap_or(cargo_errors))
    }
}

/// The compiler's errors among `diagnostics`, as one text; `None` if there
/// is none (the build failed for another reason).
pub fn errors(diagnostics: &[Diagnostic]) -> Option<String> {
    let errors: Vec<&str> = diagnostics
        .iter()
        .filter(|d| d.level == "error")
        .map(|d| d.rendered.trim_end())
        .collect();
    (!errors.is_empty()).then(|| errors.join("\n\n"))
}

fn is_cargo_status(line: &str) -> bool {
    [
        "Finished ",
        "Executable ",
        "Blocking ",
        "Locking ",
        "Updating ",
        "Downloaded ",
        "Downloading ",
        "Adding ",
        "Fresh ",
    ]
    .iter()
    .any(|p| line.starts_with(p))
}

/// Whether two paths name the same file or directory. Two paths that do
/// not exist are not the same one.
pub fn same_path(a: &Path, b: &Path) -> bool {
    a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(a), Ok(b)) if a == b)
}

#[derive(Deserialize)]
#[serde(tag = "reason", rename_all = "kebab-case")]
enum CargoMessage {
    CompilerArtifact {
        target: Target,
        executable: Option<PathBuf>,
        manifest_path: Option<PathBuf>,
    },
    CompilerMessage {
        message: Rustc,
        target: Target,
        manifest_path: Option<PathBuf>,
    },
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct Target {
    kind: Vec<String>,
    name: String,
}

/// One diagnostic as rustc reports it.
#[derive(Deserialize)]
struct Rustc {
    level: String,
    rendered: Option<String>,
}
