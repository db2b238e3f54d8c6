//! Rebuilds a kata's own crates without Cargo, in a watch loop.
//!
//! On a save, Cargo spends about 0.1 s loading the workspace and checking
//! every dependency's freshness before it calls rustc: a third of what a red
//! save takes. A save changes nothing Cargo decides on, only the sources
//! rustc reads. So a watch loop records the rustc invocations of its first
//! Cargo build (xtask is Cargo's `RUSTC_WORKSPACE_WRAPPER` for that build:
//! it writes each invocation down, then becomes rustc), and on later saves
//! runs them again itself, in the same order and with the same arguments
//! and environment.
//!
//! A recording is replayed only while everything Cargo would decide on is
//! as it was: the manifests, the lock file, Cargo's configuration, the spec
//! files and every compiled dependency. Anything else goes through Cargo,
//! which records afresh. Cargo's own fingerprints are left behind, so the
//! next build through Cargo recompiles the kata's crates once: slower, never
//! stale.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::SystemTime;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::compile::{BuildOutcome, BuildRequest, Diagnostic, Executable};

/// Set on a recorded Cargo build: the directory xtask, as rustc's wrapper,
/// writes each invocation into.
pub const RECORD_DIR_ENV: &str = "BACKEND_KATAS_RECORD_RUSTC";

/// Set to `0` to build every save through Cargo (to compare the two).
pub const SWITCH_ENV: &str = "BACKEND_KATAS_REPLAY";

/// Cargo's jobserver belongs to the Cargo process that is gone by the time
/// of a replay: rustc would warn that it cannot reach it.
/// Nor does rustc read the recording's own settings.
const NOT_REPLAYED_ENV: [&str; 5] = [
    "CARGO_MAKEFLAGS",
    "MAKEFLAGS",
    "MFLAGS",
    RECORD_DIR_ENV,
    "RUSTC_WORKSPACE_WRAPPER",
];

/// xtask called by Cargo as `RUSTC_WORKSPACE_WRAPPER`: `args` is rustc's
/// path, then its arguments. Writes the invocation down and becomes rustc.
pub fn wrap_rustc(record_dir: &Path, mut args: impl Iterator<Item = OsString>) -> ExitCode {
    let Some(rustc) = args.next() else {
        eprintln!("{RECORD_DIR_ENV} is set: xtask expects to be called as rustc's wrapper");
        return ExitCode::FAILURE;
    };
    let args: Vec<OsString> = args.collect();
    // A recording that cannot be written only costs the next save its
    // shortcut (no record, no replay): the build goes on.
    let _ = record(record_dir, &rustc, &args);
    let mut rustc = Command::new(rustc);
    rustc.args(&args);
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let err = rustc.exec();
        eprintln!("xtask could not start rustc: {err}");
        ExitCode::FAILURE
    }
    #[cfg(not(unix))]
    match rustc.status() {
        Ok(status) => ExitCode::from(status.code().unwrap_or(1).clamp(0, 255) as u8),
        Err(err) => {
            eprintln!("xtask could not start rustc: {err}");
            ExitCode::FAILURE
        }
    }
}

/// One rustc invocation as Cargo made it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Invocation {
    rustc: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
    cwd: PathBuf,
}

fn record(dir: &Path, rustc: &OsString, args: &[OsString]) -> Result<()> {
    // `rustc -vV` and Cargo's probes of the target compile nothing.
    if !args.iter().any(|a| a == "--crate-name") || args.iter().any(|a| a == "___") {
        return Ok(());
    }
    let utf8 = |s: &OsString| s.to_str().map(str::to_owned).context("not UTF-8");
    let invocation = Invocation {
        rustc: utf8(rustc)?,
        args: args.iter().map(utf8).collect::<Result<_>>()?,
        env: std::env::vars_os()
            .map(|(k, v)| Ok((utf8(&k)?, utf8(&v)?)))
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .filter(|(k, _)| !NOT_REPLAYED_ENV.contains(&k.as_str()))
            .collect(),
        cwd: std::env::current_dir()?,
    };
    let started = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)?
        .as_nanos();
    let file = dir.join(format!("{started:024}-{}.json", std::process::id()));
    fs::write(file, serde_json::to_vec(&invocation)?)?;
    Ok(())
}

/// One compiled crate of the kata's (its library, a spec suite, or the
/// reference's library).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Unit {
    invocation: Invocation,
    /// `rate-limiter v0.1.0 (/path/katas/rate-limiter)`, as Cargo names it.
    package: String,
    manifest_dir: PathBuf,
    test: bool,
    outputs: Vec<PathBuf>,
    externs: Vec<PathBuf>,
    /// The sources rustc read (its dep-info).
    dep_info: PathBuf,
}

impl Unit {
    fn parse(invocation: Invocation) -> Option<Unit> {
        let args = &invocation.args;
        let value = |flag: &str| {
            let at = args.iter().position(|a| a == flag)?;
            args.get(at + 1).cloned()
        };
        let codegen = |option: &str| {
            let prefix = format!("{option}=");
            args.windows(2).find_map(|pair| {
                (pair[0] == "-C")
                    .then(|| pair[1].strip_prefix(&prefix).map(str::to_owned))
                    .flatten()
            })
        };
        let env = |key: &str| {
            invocation
                .env
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
        };
        let name = value("--crate-name")?;
        let out_dir = PathBuf::from(value("--out-dir")?);
        let extra = codegen("extra-filename").unwrap_or_default();
        let test = args.iter().any(|a| a == "--test");
        let outputs = if test {
            vec![out_dir.join(format!("{name}{extra}{}", std::env::consts::EXE_SUFFIX))]
        } else {
            vec![
                out_dir.join(format!("lib{name}{extra}.rlib")),
                out_dir.join(format!("lib{name}{extra}.rmeta")),
            ]
        };
        let externs = args
            .windows(2)
            .filter(|pair| pair[0] == "--extern")
            .filter_map(|pair| pair[1].split_once('=').map(|(_, path)| PathBuf::from(path)))
            .collect();
        let manifest_dir = PathBuf::from(env("CARGO_MANIFEST_DIR")?);
        let package = format!(
            "{} v{} ({})",
            env("CARGO_PKG_NAME")?,
            env("CARGO_PKG_VERSION")?,
            manifest_dir.display()
        );
        Some(Unit {
            dep_info: out_dir.join(format!("{name}{extra}.d")),
            package,
            manifest_dir,
            test,
            outputs,
            externs,
            invocation,
        })
    }

    /// Keeps of the recorded environment what Cargo set, and what differs
    /// from this process's: a replay runs rustc in the environment of the
    /// moment (with everything Cargo reads unchanged, see [`key`]), and
    /// the recording keeps none of the learner's own variables.
    fn keep_cargos_env(&mut self) {
        self.invocation.env.retain(|(k, v)| {
            k.starts_with("CARGO") || std::env::var(k).ok().as_deref() != Some(v.as_str())
        });
    }

    fn out_dir(&self) -> &Path {
        self.dep_info.parent().unwrap_or(Path::new(""))
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.invocation.rustc);
        for key in NOT_REPLAYED_ENV {
            cmd.env_remove(key);
        }
        cmd.args(&self.invocation.args)
            .envs(self.invocation.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&self.invocation.cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        cmd
    }
}

/// A file's state, as far as a rebuild can tell: `None` if it is absent.
type Stamp = Option<(SystemTime, u64)>;

fn stamp(path: &Path) -> Stamp {
    let meta = fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// A recorded build that can be run again.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Recording {
    /// The units in waves: each wave's units depend only on earlier waves.
    waves: Vec<Vec<Unit>>,
    executables: Vec<Executable>,
    /// Everything the build depended on but the libraries' own sources.
    inputs: Vec<(PathBuf, Stamp)>,
}

impl Recording {
    /// The recording of a Cargo build that built `executables`, or `None`
    /// if the build cannot be replayed: it compiled none of the requested
    /// package's library (it was fresh), not every executable, or ran a
    /// build script (whose output Cargo alone interprets).
    fn load(
        dir: &Path,
        request: &BuildRequest,
        executables: &[Executable],
    ) -> Result<Option<Recording>> {
        let mut files: Vec<PathBuf> = fs::read_dir(dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        files.sort();
        let mut units = Vec::new();
        for file in files {
            let invocation: Invocation = serde_json::from_slice(&fs::read(&file)?)?;
            match Unit::parse(invocation) {
                Some(mut unit) => {
                    unit.keep_cargos_env();
                    units.push(unit);
                }
                None => return Ok(None),
            }
        }
        let package_dir = request.manifest.parent().unwrap_or(Path::new(""));
        let Some(units) = edited_and_downstream(units, package_dir) else {
            return Ok(None);
        };
        let builds_every_executable = executables.iter().all(|exe| {
            units
                .iter()
                .any(|u| u.test && u.outputs.contains(&exe.path))
        });
        let runs_build_script = units.iter().any(|u| {
            u.invocation.args.iter().any(|a| a == "build_script_build")
                || u.invocation.env.iter().any(|(k, _)| k == "OUT_DIR")
        });
        if !builds_every_executable || runs_build_script {
            return Ok(None);
        }
        let Some(waves) = waves(units) else {
            return Ok(None);
        };
        let inputs = inputs_of(request, &waves);
        Ok(Some(Recording {
            waves,
            executables: executables.to_vec(),
            inputs,
        }))
    }

    /// Whether Cargo would decide this build as it did when recorded.
    fn still_valid(&self) -> bool {
        self.inputs.iter().all(|(path, then)| stamp(path) == *then)
    }
}

/// The units a save can change, and those built on them: the package's
/// library with the libraries it is built on (the reference's, in solution
/// mode), then everything that takes one of those. A crate only the spec
/// suites use (spec-probes) is a dependency like any other; `None` if the
/// package's library was not compiled.
fn edited_and_downstream(units: Vec<Unit>, package_dir: &Path) -> Option<Vec<Unit>> {
    let lib = units
        .iter()
        .position(|u| !u.test && same_dir(&u.manifest_dir, package_dir))?;
    let producer = |path: &PathBuf| units.iter().position(|u| u.outputs.contains(path));
    let mut kept = vec![false; units.len()];
    let mut upstream = vec![lib];
    while let Some(i) = upstream.pop() {
        if !std::mem::replace(&mut kept[i], true) {
            upstream.extend(units[i].externs.iter().filter_map(producer));
        }
    }
    loop {
        let downstream: Vec<usize> = (0..units.len())
            .filter(|i| !kept[*i])
            .filter(|i| {
                units[*i]
                    .externs
                    .iter()
                    .filter_map(producer)
                    .any(|d| kept[d])
            })
            .collect();
        if downstream.is_empty() {
            break;
        }
        for i in downstream {
            kept[i] = true;
        }
    }
    Some(
        units
            .into_iter()
            .zip(kept)
            .filter_map(|(unit, kept)| kept.then_some(unit))
            .collect(),
    )
}

fn same_dir(a: &Path, b: &Path) -> bool {
    a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(a), Ok(b)) if a == b)
}

/// Orders units so that each comes after the units whose output it takes
/// as `--extern`; `None` if they depend on each other in a cycle.
fn waves(units: Vec<Unit>) -> Option<Vec<Vec<Unit>>> {
    let mut wave_of: Vec<Option<usize>> = vec![None; units.len()];
    let producer = |path: &PathBuf| units.iter().position(|u| u.outputs.contains(path));
    for _ in 0..=units.len() {
        let mut changed = false;
        for i in 0..units.len() {
            if wave_of[i].is_some() {
                continue;
            }
            let deps: Vec<usize> = units[i].externs.iter().filter_map(producer).collect();
            if deps.iter().all(|d| wave_of[*d].is_some()) {
                wave_of[i] = Some(
                    deps.iter()
                        .map(|d| wave_of[*d].unwrap_or(0) + 1)
                        .max()
                        .unwrap_or(0),
                );
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let mut waves: Vec<Vec<Unit>> = Vec::new();
    for (unit, wave) in units.into_iter().zip(wave_of) {
        let wave = wave?;
        if waves.len() <= wave {
            waves.resize_with(wave + 1, Vec::new);
        }
        waves[wave].push(unit);
    }
    Some(waves)
}

/// What a save may not change for the recording to stand: Cargo's inputs
/// (manifests, lock file, configuration), the spec suites' sources, and
/// every dependency compiled outside the recording (with the sources of
/// those in the workspace, which Cargo would rebuild).
fn inputs_of(request: &BuildRequest, waves: &[Vec<Unit>]) -> Vec<(PathBuf, Stamp)> {
    let units: Vec<&Unit> = waves.iter().flatten().collect();
    let mut paths: Vec<PathBuf> = Vec::new();
    let mut dir = request.manifest.parent();
    while let Some(d) = dir {
        for name in [
            "Cargo.toml",
            "Cargo.lock",
            ".cargo/config.toml",
            ".cargo/config",
        ] {
            paths.push(d.join(name));
        }
        for name in ["rust-toolchain", "rust-toolchain.toml"] {
            paths.push(d.join(name));
        }
        dir = d.parent();
    }
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cargo")));
    if let Some(home) = cargo_home {
        paths.push(home.join("config.toml"));
        paths.push(home.join("config"));
    }
    for unit in &units {
        // `rustup update` replaces the compiler where it stands.
        paths.push(PathBuf::from(&unit.invocation.rustc));
        paths.push(unit.manifest_dir.join("Cargo.toml"));
        paths.push(unit.manifest_dir.join("build.rs"));
        if unit.test {
            paths.extend(dep_info_sources(&unit.dep_info, &unit.invocation.cwd));
        }
    }
    let recorded = |path: &PathBuf| units.iter().any(|u| u.outputs.contains(path));
    for unit in &units {
        for dependency in unit.externs.iter().filter(|p| !recorded(p)) {
            paths.push(dependency.clone());
            let dep_info = dependency.with_extension("d");
            let dep_info = dep_info
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_prefix("lib"))
                .map_or(dep_info.clone(), |n| dep_info.with_file_name(n));
            // Cargo runs every rustc of a workspace from its root.
            paths.extend(
                dep_info_sources(&dep_info, &unit.invocation.cwd)
                    .into_iter()
                    .filter(|source| !source.components().any(|c| c.as_os_str() == "registry")),
            );
        }
    }
    paths.sort();
    paths.dedup();
    paths
        .into_iter()
        .map(|path| {
            let stamp = stamp(&path);
            (path, stamp)
        })
        .collect()
}

/// The sources listed by a rustc dep-info file (`out: src src ...`), the
/// relative ones taken from `cwd`.
fn dep_info_sources(dep_info: &Path, cwd: &Path) -> Vec<PathBuf> {
    let Ok(text) = fs::read_to_string(dep_info) else {
        return Vec::new();
    };
    let Some((_, sources)) = text.lines().next().and_then(|l| l.split_once(": ")) else {
        return Vec::new();
    };
    let mut paths = Vec::new();
    let mut current = String::new();
    let mut chars = sources.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => current.extend(chars.next()),
            ' ' => {
                if !current.is_empty() {
                    paths.push(cwd.join(std::mem::take(&mut current)));
                }
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        paths.push(cwd.join(current));
    }
    paths
}

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
}

impl Recorder {
    pub fn env(&self) -> [(&'static str, OsString); 2] {
        [
            ("RUSTC_WORKSPACE_WRAPPER", self.wrapper.clone().into()),
            (RECORD_DIR_ENV, self.dir.join("rustc").into()),
        ]
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
            .join(format!("{:016x}", fnv(&key)));
        let recording = self.recording(&key, &dir);
        if let Some(recording) = recording.filter(Recording::still_valid)
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
        match (fs::create_dir_all(dir.join("rustc")), wrapper) {
            // A binary rebuilt since this process started is gone from its
            // path (Linux then names it `xtask (deleted)`): Cargo could not
            // start it, so that build is not recorded.
            (Ok(()), Ok(wrapper)) if wrapper.is_file() => {
                Replayed::Cargo(Some(Recorder { key, dir, wrapper }))
            }
            _ => Replayed::Cargo(None),
        }
    }

    /// Keeps what `recorder` saw of a Cargo build that built `executables`,
    /// for this process and the next.
    pub fn remember(&self, recorder: Recorder, request: &BuildRequest, executables: &[Executable]) {
        let invocations = recorder.dir.join("rustc");
        let loaded = Recording::load(&invocations, request, executables);
        // They hold the whole environment of the build.
        let _ = fs::remove_dir_all(&invocations);
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
        // Two keys of one hash must not share a recording.
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

/// What a recording is for: the build asked of Cargo, and everything in
/// this process's environment Cargo reads (its settings, `RUSTFLAGS`, the
/// toolchain rustup chose, where it finds programs).
fn key(request: &BuildRequest) -> String {
    let mut env: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| {
            (k.starts_with("CARGO") || k.starts_with("RUST") || k == "PATH" || k == "HOME")
                && !NOT_REPLAYED_ENV.contains(&k.as_str())
        })
        .collect();
    env.sort();
    format!("{request:?} {env:?}")
}

/// A stable hash for a directory name.
fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
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
            if same_dir(&unit.manifest_dir, package_dir) {
                ours.extend(compiled.diagnostics);
            }
        }
        if failed {
            let errors: Vec<&str> = ours
                .iter()
                .filter(|d| d.level == "error")
                .map(|d| d.rendered.trim_end())
                .collect();
            // A failure outside the learner's code (the reference's, or a
            // link) is Cargo's to report.
            if errors.is_empty() {
                return None;
            }
            return Some(BuildOutcome::Failed(errors.join("\n\n")));
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A unit of package `dir` as Cargo would invoke rustc for it.
    fn unit(name: &str, dir: &str, test: bool, externs: &[&str]) -> Unit {
        let mut args = vec!["--crate-name".to_owned(), name.to_owned()];
        if test {
            args.push("--test".to_owned());
        }
        args.extend(["--out-dir", "/t/deps", "-C", "extra-filename=-h"].map(str::to_owned));
        for dep in externs {
            args.extend([
                "--extern".to_owned(),
                format!("{dep}=/t/deps/lib{dep}-h.rlib"),
            ]);
        }
        let env = [
            ("CARGO_MANIFEST_DIR", dir),
            ("CARGO_PKG_NAME", name),
            ("CARGO_PKG_VERSION", "0.1.0"),
        ];
        Unit::parse(Invocation {
            rustc: "rustc".to_owned(),
            args,
            env: env.map(|(k, v)| (k.to_owned(), v.to_owned())).to_vec(),
            cwd: PathBuf::from("/"),
        })
        .expect("a unit")
    }

    fn names(waves: &[Vec<Unit>]) -> Vec<Vec<String>> {
        waves
            .iter()
            .map(|wave| wave.iter().map(|u| u.invocation.args[1].clone()).collect())
            .collect()
    }

    #[test]
    fn a_replay_rebuilds_the_edited_libraries_and_what_takes_them_in_order() {
        // Solution mode: the spec takes the kata's library, which takes the
        // reference's; spec-probes only serves the spec.
        let units = vec![
            unit(
                "spec",
                "/w/katas/k",
                true,
                &["k", "spec_probes", "k_solution"],
            ),
            unit("spec_probes", "/w/support/probes", false, &[]),
            unit("k", "/w/katas/k", false, &["k_solution"]),
            unit("k_solution", "/w/solutions/k", false, &[]),
        ];
        let kept = edited_and_downstream(units, Path::new("/w/katas/k")).expect("the kata's lib");
        let waves = waves(kept).expect("no cycle");
        assert_eq!(
            names(&waves),
            vec![vec!["k_solution"], vec!["k"], vec!["spec"]]
        );
    }

    #[test]
    fn a_build_that_compiled_none_of_the_package_is_not_replayable() {
        let units = vec![unit("spec", "/w/katas/k", true, &["k"])];
        assert!(edited_and_downstream(units, Path::new("/w/katas/k")).is_none());
    }

    #[test]
    fn dep_info_lists_the_sources_with_their_escaped_spaces() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("spec-h.d");
        fs::write(
            &file,
            "/t/deps/spec-h: tests/spec.rs tests/my\\ cases.rs\n\ntests/spec.rs:\n",
        )
        .unwrap();
        assert_eq!(
            dep_info_sources(&file, Path::new("/w")),
            vec![
                PathBuf::from("/w/tests/spec.rs"),
                PathBuf::from("/w/tests/my cases.rs")
            ]
        );
        assert!(dep_info_sources(&dir.path().join("absent.d"), Path::new("/w")).is_empty());
    }

    #[test]
    fn rustc_lines_are_read_as_cargo_reports_them() {
        let diagnostic = |code: &str, message: &str, spans: &str| {
            format!(
                r#"{{"$message_type":"diagnostic","message":"{message}","code":{code},"level":"error","spans":{spans},"rendered":"\u001b[1merror\u001b[0m: {message}\n"}}"#
            )
        };
        match said(
            &diagnostic("null", "mismatched types", "[{}]"),
            "lib",
            false,
        ) {
            Said::Diagnostic(d) => {
                assert_eq!(d.rendered, "error: mismatched types\n", "no colours asked");
                assert_eq!((d.level.as_str(), d.target_kind.as_str()), ("error", "lib"));
            }
            other => panic!("{other:?}"),
        }
        match said(
            &diagnostic("null", "mismatched types", "[{}]"),
            "test",
            true,
        ) {
            Said::Diagnostic(d) => assert!(d.rendered.contains('\u{1b}'), "colours asked"),
            other => panic!("{other:?}"),
        }
        let summary = diagnostic("null", "aborting due to 1 previous error", "[]");
        assert!(matches!(said(&summary, "lib", false), Said::Nothing));
        let stale = diagnostic(
            r#"{"code":"E0514","explanation":null}"#,
            "found crate",
            "[]",
        );
        assert!(matches!(said(&stale, "test", false), Said::AboutTheBuild));
        let artifact = r#"{"$message_type":"artifact","artifact":"/t/x.rmeta","emit":"metadata"}"#;
        assert!(matches!(said(artifact, "lib", false), Said::Nothing));
        assert!(matches!(
            said("thread 'rustc' panicked", "lib", false),
            Said::AboutTheBuild
        ));
    }

    /// A crate of its own (a library and one spec suite), built for real.
    struct Demo {
        dir: tempfile::TempDir,
    }

    impl Demo {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            let demo = Demo { dir };
            demo.write(
                "Cargo.toml",
                "[package]\nname = \"demo\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n",
            );
            demo.write("src/lib.rs", "pub fn answer() -> u32 { 42 }\n");
            demo.write(
                "tests/spec.rs",
                "#[test]\nfn the_answer() { assert_eq!(demo::answer(), 42); }\n",
            );
            demo
        }

        fn write(&self, file: &str, text: &str) {
            let path = self.dir.path().join(file);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, text).unwrap();
        }

        fn request(&self) -> BuildRequest {
            BuildRequest {
                manifest: self.dir.path().join("Cargo.toml"),
                packages: vec!["demo".to_owned()],
                features: Vec::new(),
                suites: vec!["spec".to_owned()],
                loom: false,
                target_dir: self.dir.path().join("target"),
                color: false,
            }
        }

        /// Builds, and runs the spec if it built: `Ok(passed)`, or the
        /// compiler's errors.
        fn check(&self, replays: &Replays) -> Result<bool, String> {
            match self.request().run(&|_| {}, Some(replays)).unwrap() {
                BuildOutcome::Failed(errors) => Err(errors),
                BuildOutcome::Built { executables, .. } => {
                    let [exe] = executables.as_slice() else {
                        panic!("one spec suite, got {executables:?}");
                    };
                    Ok(Command::new(&exe.path)
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .status()
                        .unwrap()
                        .success())
                }
            }
        }
    }

    /// Cargo calls the xtask binary as rustc's wrapper; `cargo test -p
    /// xtask` builds it beside this test binary, for the CLI's tests.
    fn replays() -> Replays {
        let deps = std::env::current_exe().unwrap();
        let wrapper = deps
            .parent()
            .and_then(Path::parent)
            .unwrap()
            .join(format!("xtask{}", std::env::consts::EXE_SUFFIX));
        assert!(
            wrapper.exists(),
            "{} is built by `cargo test -p xtask`",
            wrapper.display()
        );
        Replays {
            wrapper: Some(wrapper),
            ..Replays::default()
        }
    }

    #[test]
    fn a_replay_judges_each_edit_as_cargo_would_and_cargo_takes_back_what_it_decides() {
        let demo = Demo::new();
        let replays = replays();
        assert_eq!(demo.check(&replays), Ok(true));
        assert_eq!(
            replays.replayed(),
            0,
            "the first build is Cargo's, recorded"
        );

        demo.write("src/lib.rs", "pub fn answer() -> u32 { 41 }\n");
        assert_eq!(demo.check(&replays), Ok(false));
        demo.write("src/lib.rs", "pub fn answer() -> u32 { \"42\" }\n");
        let errors = demo.check(&replays).expect_err("a type error");
        assert!(errors.contains("mismatched types"), "{errors}");
        assert!(!errors.contains("aborting due to"), "{errors}");
        demo.write(
            "src/lib.rs",
            "mod more;\npub fn answer() -> u32 { more::FORTY_TWO }\n",
        );
        demo.write("src/more.rs", "pub const FORTY_TWO: u32 = 42;\n");
        assert_eq!(demo.check(&replays), Ok(true));
        assert_eq!(replays.replayed(), 3, "every edit of the library's sources");

        // A later process finds the recording on disk.
        let next = replays.clone_fresh();
        demo.write("src/more.rs", "pub const FORTY_TWO: u32 = 24;\n");
        assert_eq!(demo.check(&next), Ok(false));
        assert_eq!(next.replayed(), 1);

        // What Cargo decides on goes back through Cargo: the manifest, then
        // the spec suite.
        demo.write(
            "Cargo.toml",
            "[package]\nname = \"demo\"\nversion = \"0.2.0\"\nedition = \"2021\"\n\n[workspace]\n",
        );
        assert_eq!(demo.check(&next), Ok(false));
        demo.write(
            "tests/spec.rs",
            "#[test]\nfn the_answer() { assert_eq!(demo::answer(), 24); }\n",
        );
        assert_eq!(demo.check(&next), Ok(true));
        assert_eq!(next.replayed(), 1, "both went through Cargo");
        // That build compiled the spec alone, so it could not be recorded:
        // the next edit of the library goes through Cargo, recorded, and
        // the one after is replayed.
        demo.write("src/more.rs", "pub const FORTY_TWO: u32 = 42;\n");
        assert_eq!(demo.check(&next), Ok(false));
        assert_eq!(next.replayed(), 1);
        demo.write("src/more.rs", "pub const FORTY_TWO: u32 = 24;\n");
        assert_eq!(demo.check(&next), Ok(true));
        assert_eq!(next.replayed(), 2);
    }

    #[test]
    fn a_replay_waits_its_turn_behind_a_cargo_build() {
        let demo = Demo::new();
        let replays = replays();
        assert_eq!(demo.check(&replays), Ok(true));
        let lock = fs::File::open(demo.dir.path().join("target/debug/.cargo-lock")).unwrap();
        lock.lock().unwrap();
        demo.write("src/lib.rs", "pub fn answer() -> u32 { 41 }\n");
        // Cargo would block on the lock: the build is left to it, in a
        // thread that lets go of the lock once Cargo waits.
        let released = thread::scope(|scope| {
            let check = scope.spawn(|| demo.check(&replays));
            thread::sleep(std::time::Duration::from_millis(500));
            lock.unlock().unwrap();
            check.join().unwrap()
        });
        assert_eq!(released, Ok(false));
        assert_eq!(replays.replayed(), 0);
    }
}
