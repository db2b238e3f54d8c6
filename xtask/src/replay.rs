//! A learner's build without Cargo.
//!
//! On every check Cargo spent about 0.12 s loading the workspace and
//! checking that every dependency was fresh before it called rustc: a third
//! of a red save. A save changes nothing Cargo decides on, only the sources
//! rustc reads. So a learner's Cargo build is recorded (xtask is Cargo's
//! `RUSTC_WORKSPACE_WRAPPER` for it, see `wrapper`), and later checks run
//! the recorded rustc invocations of the kata's own crates again
//! themselves, in the same order and with the same arguments.
//!
//! A recording is replayed only while everything Cargo would decide on is
//! as it was (see `recording`): otherwise the build goes through Cargo,
//! which records afresh. A replay forgets Cargo's fingerprints of the
//! crates it rebuilds, so Cargo rebuilds them the next time it builds:
//! slower, never stale.

mod recording;
#[cfg(test)]
mod tests;
mod wrapper;

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::compile::{self, BuildOutcome, BuildRequest, Diagnostic, same_path};
use recording::{Recording, Unit};
pub use wrapper::{RECORD_DIR_ENV, wrap_rustc};

/// Set to `0` to build every check through Cargo (to compare the two).
pub const SWITCH_ENV: &str = "BACKEND_KATAS_REPLAY";

/// Cargo's jobserver belongs to a Cargo process that is gone by the time
/// of a replay (rustc would warn that it cannot reach it), and rustc has no
/// use for the recording's own settings.
const NOT_REPLAYED_ENV: [&str; 5] = [
    "CARGO_MAKEFLAGS",
    "MAKEFLAGS",
    "MFLAGS",
    RECORD_DIR_ENV,
    "RUSTC_WORKSPACE_WRAPPER",
];

/// The recorded builds of one process, kept on disk for the next (in the
/// target directory, which `cargo clean` empties). Cheap to clone; clones
/// share them.
#[derive(Clone, Default)]
pub struct Replays {
    recordings: Arc<Mutex<HashMap<String, Recording>>>,
    replayed: Arc<AtomicUsize>,
    /// The binary Cargo calls as rustc's wrapper; this one if `None`.
    wrapper: Option<PathBuf>,
}

impl std::fmt::Debug for Replays {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replays")
            .field("replayed", &self.replayed())
            .finish_non_exhaustive()
    }
}

/// What replaying a request gave.
pub enum Replayed {
    /// It was replayed: what rustc made of it.
    Built(BuildOutcome),
    /// Not replayable: the build goes through Cargo, recorded if a
    /// recorder is given.
    Cargo(Option<Recorder>),
}

/// A Cargo build being recorded: the environment to give it, and where
/// its invocations land.
pub struct Recorder {
    key: String,
    dir: PathBuf,
    wrapper: PathBuf,
    started: SystemTime,
}

impl Recorder {
    pub fn env(&self) -> [(&'static str, OsString); 2] {
        [
            ("RUSTC_WORKSPACE_WRAPPER", self.wrapper.clone().into()),
            (RECORD_DIR_ENV, self.invocations().into()),
        ]
    }

    fn invocations(&self) -> PathBuf {
        self.dir.join("rustc")
    }
}

impl Replays {
    /// The same recordings as a new process finds them: on disk only.
    #[cfg(test)]
    fn clone_fresh(&self) -> Replays {
        Replays {
            wrapper: self.wrapper.clone(),
            ..Replays::default()
        }
    }

    /// How many builds were replayed rather than run through Cargo.
    pub fn replayed(&self) -> usize {
        self.replayed.load(Ordering::Relaxed)
    }

    fn enabled() -> bool {
        std::env::var_os(SWITCH_ENV).is_none_or(|v| v != "0")
            // The learner's own wrapper (sccache, say) stays in charge.
            && std::env::var_os("RUSTC_WORKSPACE_WRAPPER").is_none()
    }

    /// Replays `request`'s last recorded build if nothing but the
    /// libraries' sources changed since; otherwise says how Cargo should
    /// build it.
    pub fn replay(&self, request: &BuildRequest, progress: &(dyn Fn(&str) + Sync)) -> Replayed {
        if !Self::enabled() || request.packages.len() != 1 {
            return Replayed::Cargo(None);
        }
        let key = key(request);
        let dir = request
            .target_dir
            .join("xtask")
            .join("rustc-record")
            .join(&key[..16]);
        if let Some(recording) = self.recording(&key, &dir)
            && let Some(outcome) = run(&recording, request, progress)
        {
            self.replayed.fetch_add(1, Ordering::Relaxed);
            return Replayed::Built(outcome);
        }
        self.lock().remove(&key);
        let _ = fs::remove_dir_all(&dir);
        let wrapper = match &self.wrapper {
            Some(wrapper) => Ok(wrapper.clone()),
            None => std::env::current_exe(),
        };
        let recorder = Recorder {
            key,
            dir,
            wrapper: wrapper.unwrap_or_default(),
            started: SystemTime::now(),
        };
        // A binary rebuilt since this process started is gone from its path
        // (Linux then names it `xtask (deleted)`): Cargo could not start it.
        if recorder.wrapper.is_file() && fs::create_dir_all(recorder.invocations()).is_ok() {
            Replayed::Cargo(Some(recorder))
        } else {
            Replayed::Cargo(None)
        }
    }

    /// Keeps what `recorder` saw of a Cargo build, for this process and the
    /// next, if it built.
    pub fn finish(&self, recorder: Recorder, request: &BuildRequest, outcome: &BuildOutcome) {
        let loaded = match outcome {
            BuildOutcome::Built { executables, .. } => Recording::load(
                &recorder.invocations(),
                request,
                executables,
                recorder.started,
            ),
            BuildOutcome::Failed(_) => Ok(None),
        };
        let _ = fs::remove_dir_all(recorder.invocations());
        let Ok(Some(recording)) = loaded else {
            return;
        };
        let stored = StoredRecording {
            key: recorder.key.clone(),
            recording: recording.clone(),
        };
        if let Ok(json) = serde_json::to_vec(&stored) {
            let _ = fs::write(recorder.dir.join(RECORDING_FILE), json);
        }
        self.lock().insert(recorder.key, recording);
    }

    /// This process's recording of `key`, or the one an earlier process
    /// left in `dir`.
    fn recording(&self, key: &str, dir: &Path) -> Option<Recording> {
        if let Some(recording) = self.lock().get(key) {
            return Some(recording.clone());
        }
        let stored: StoredRecording =
            serde_json::from_slice(&fs::read(dir.join(RECORDING_FILE)).ok()?).ok()?;
        // The directory is named by a prefix of the key.
        (stored.key == key).then_some(stored.recording)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Recording>> {
        self.recordings.lock().unwrap_or_else(|e| e.into_inner())
    }
}

const RECORDING_FILE: &str = "recording.json";

#[derive(Serialize, Deserialize)]
struct StoredRecording {
    key: String,
    recording: Recording,
}

/// What a recording is for, as a SHA-1: the build asked of Cargo, where it
/// runs, and everything in this process's environment Cargo reads (its
/// settings, `RUSTFLAGS`, the toolchain rustup chose, where it finds
/// programs). Hashed, so no variable's value is written down.
fn key(request: &BuildRequest) -> String {
    let mut env: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| {
            (k.starts_with("CARGO") || k.starts_with("RUST") || k == "PATH" || k == "HOME")
                && !NOT_REPLAYED_ENV.contains(&k.as_str())
        })
        .collect();
    env.sort();
    let cwd = std::env::current_dir().unwrap_or_default();
    sha1_smol::Sha1::from(format!("{request:?} {cwd:?} {env:?}"))
        .digest()
        .to_string()
}

/// One unit's rustc run.
struct Compiled {
    success: bool,
    diagnostics: Vec<Diagnostic>,
    /// rustc spoke of the build rather than of the code: a dependency
    /// missing or built by another compiler (`rustup update` since the
    /// recording), or anything but a diagnostic (a crash). Cargo then
    /// builds: it would have rebuilt what it needs.
    about_the_build: bool,
}

/// rustc's errors about the crates it was given rather than the code.
const BUILD_ERRORS: [&str; 9] = [
    "E0460", "E0461", "E0462", "E0463", "E0464", "E0514", "E0519", "E0523", "E0786",
];

/// Runs the recording wave by wave; `None` if rustc could not be run or
/// left an executable missing (the build then goes through Cargo).
fn run(
    recording: &Recording,
    request: &BuildRequest,
    progress: &(dyn Fn(&str) + Sync),
) -> Option<BuildOutcome> {
    // Cargo holds this lock while it builds into the profile's directory:
    // a replay beside a Cargo build (another terminal's) would write the
    // same files. If Cargo has it, the build goes through Cargo, which
    // waits its turn.
    let profile_dir = recording.waves.first()?.first()?.out_dir().parent()?;
    let lock = fs::File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(profile_dir.join(".cargo-lock"))
        .ok()?;
    lock.try_lock().ok()?;
    // Checked under the lock: a Cargo build could otherwise change a
    // dependency between the check and the replay.
    if !recording.still_valid() {
        return None;
    }
    recording.forget_cargos_fingerprints().ok()?;
    let package_dir = request.manifest.parent().unwrap_or(Path::new(""));
    let mut announced: Vec<&str> = Vec::new();
    let mut ours = Vec::new();
    for wave in &recording.waves {
        for unit in wave {
            if !announced.contains(&unit.package.as_str()) {
                announced.push(&unit.package);
                progress(&unit.package);
            }
        }
        let compiled: Vec<Option<Compiled>> = thread::scope(|scope| {
            let handles: Vec<_> = wave
                .iter()
                .map(|unit| scope.spawn(|| compile(unit, request.color)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().ok().flatten())
                .collect()
        });
        let mut failed = false;
        for (unit, compiled) in wave.iter().zip(compiled) {
            let compiled = compiled?;
            if compiled.about_the_build {
                return None;
            }
            failed |= !compiled.success;
            if same_path(&unit.manifest_dir, package_dir) {
                ours.extend(compiled.diagnostics);
            }
        }
        if failed {
            // A failure outside the learner's code (the reference's, or a
            // link) is Cargo's to report.
            return compile::errors(&ours).map(BuildOutcome::Failed);
        }
    }
    if !recording.executables.iter().all(|exe| exe.path.exists()) {
        return None;
    }
    Some(BuildOutcome::Built {
        executables: recording.executables.clone(),
        diagnostics: ours,
    })
}

/// rustc's closing counts ("aborting due to 2 previous errors", "1 warning
/// emitted"): Cargo leaves them out, and so does a replay.
fn is_summary(message: &RustcMessage) -> bool {
    message.spans.as_ref().is_some_and(Vec::is_empty)
        && message
            .message
            .as_deref()
            .is_some_and(|text| text.starts_with("aborting due to") || text.ends_with(" emitted"))
}

fn compile(unit: &Unit, color: bool) -> Option<Compiled> {
    let mut child = unit.command().spawn().ok()?;
    let stderr = child.stderr.take()?;
    let target_kind = if unit.test { "test" } else { "lib" };
    let mut diagnostics = Vec::new();
    let mut about_the_build = false;
    for line in BufReader::new(stderr).lines().map_while(Result::ok) {
        match said(&line, target_kind, color) {
            Said::Diagnostic(diagnostic) => diagnostics.push(diagnostic),
            Said::AboutTheBuild => about_the_build = true,
            Said::Nothing => {}
        }
    }
    let status = child.wait().ok()?;
    Some(Compiled {
        success: status.success(),
        diagnostics,
        about_the_build,
    })
}

/// What one line of rustc's (JSON) stderr says.
#[derive(Debug)]
enum Said {
    /// Of the code, as Cargo would report it.
    Diagnostic(Diagnostic),
    AboutTheBuild,
    /// Artifacts, closing counts, notes.
    Nothing,
}

fn said(line: &str, target_kind: &str, color: bool) -> Said {
    if line.trim().is_empty() {
        return Said::Nothing;
    }
    let Ok(message) = serde_json::from_str::<RustcMessage>(line) else {
        return Said::AboutTheBuild;
    };
    if message.kind != "diagnostic" || is_summary(&message) {
        return Said::Nothing;
    }
    if message
        .code
        .as_ref()
        .is_some_and(|c| BUILD_ERRORS.contains(&c.code.as_str()))
    {
        return Said::AboutTheBuild;
    }
    match (message.level, message.rendered) {
        (Some(level), Some(rendered)) if level != "failure-note" => Said::Diagnostic(Diagnostic {
            level,
            // Cargo always asks rustc for colours, and strips them unless
            // told otherwise.
            rendered: if color {
                rendered
            } else {
                console::strip_ansi_codes(&rendered).into_owned()
            },
            target_kind: target_kind.to_owned(),
        }),
        _ => Said::Nothing,
    }
}

/// A line of rustc's JSON output.
#[derive(Deserialize)]
struct RustcMessage {
    #[serde(rename = "$message_type")]
    kind: String,
    message: Option<String>,
    level: Option<String>,
    rendered: Option<String>,
    spans: Option<Vec<serde_json::Value>>,
    code: Option<RustcCode>,
}

#[derive(Deserialize)]
struct RustcCode {
    code: String,
}
