//! A recorded Cargo build: the kata's own rustc invocations, in the order
//! they can run, and the files whose state says whether Cargo would still
//! build them so.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::compile::{BuildRequest, Executable, same_path};

use super::NOT_REPLAYED_ENV;

/// One rustc invocation as Cargo made it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Invocation {
    pub rustc: String,
    pub args: Vec<String>,
    /// What Cargo set (see `wrapper::set_by_cargo`); the rest is this
    /// process's.
    pub env: Vec<(String, String)>,
    pub cwd: PathBuf,
}

/// One compiled crate of the kata's (its library, a spec suite, or the
/// reference's library).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Unit {
    pub invocation: Invocation,
    /// `rate-limiter v0.1.0 (/path/katas/rate-limiter)`, as Cargo names it.
    pub package: String,
    pub manifest_dir: PathBuf,
    pub test: bool,
    /// Cargo's name for its fingerprint: `<package>-<hash>`.
    fingerprint: String,
    outputs: Vec<PathBuf>,
    externs: Vec<PathBuf>,
    /// The sources rustc read (its dep-info).
    dep_info: PathBuf,
}

impl Unit {
    /// `None` for what a replay does not rebuild: anything but a library
    /// or a test (a binary, a build script, a proc macro).
    pub fn parse(invocation: Invocation) -> Option<Unit> {
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
        let test = args.iter().any(|a| a == "--test");
        let crate_types: Vec<&String> = args
            .windows(2)
            .filter(|pair| pair[0] == "--crate-type")
            .map(|pair| &pair[1])
            .collect();
        let library = crate_types.iter().all(|t| *t == "lib" || *t == "rlib");
        if !test && (crate_types.is_empty() || !library) || env("OUT_DIR").is_some() {
            return None;
        }
        let out_dir = PathBuf::from(value("--out-dir")?);
        let extra = codegen("extra-filename").unwrap_or_default();
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
        let package_name = env("CARGO_PKG_NAME")?;
        let package = format!(
            "{package_name} v{} ({})",
            env("CARGO_PKG_VERSION")?,
            manifest_dir.display()
        );
        Some(Unit {
            fingerprint: format!("{package_name}{extra}"),
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
    /// moment, with everything Cargo reads unchanged (see `key`).
    fn keep_cargos_env(&mut self) {
        self.invocation.env.retain(|(k, v)| {
            k.starts_with("CARGO") || std::env::var(k).ok().as_deref() != Some(v.as_str())
        });
    }

    pub fn out_dir(&self) -> &Path {
        self.dep_info.parent().unwrap_or(Path::new(""))
    }

    pub fn command(&self) -> Command {
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
pub(super) struct Recording {
    /// The units in waves: each wave's units depend only on earlier waves.
    pub waves: Vec<Vec<Unit>>,
    pub executables: Vec<Executable>,
    /// Everything the build depended on but the libraries' own sources.
    inputs: Vec<(PathBuf, Stamp)>,
}

impl Recording {
    /// The recording (the invocations in `dir`) of a Cargo build that
    /// started at `started` and built `executables`, or `None` if it cannot
    /// be replayed: it compiled none of the requested package's library (it
    /// was fresh), not every executable, or something a replay does not
    /// rebuild; or a file it depends on changed while it ran (Cargo may
    /// have read it before the change).
    pub fn load(
        dir: &Path,
        request: &BuildRequest,
        executables: &[Executable],
        started: SystemTime,
    ) -> Result<Option<Recording>> {
        let mut files: Vec<PathBuf> = fs::read_dir(dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        files.sort();
        let mut units = Vec::new();
        for file in files {
            let invocation: Invocation = serde_json::from_slice(&fs::read(&file)?)?;
            let Some(mut unit) = Unit::parse(invocation) else {
                return Ok(None);
            };
            unit.keep_cargos_env();
            units.push(unit);
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
        let Some(waves) = waves(units).filter(|_| builds_every_executable) else {
            return Ok(None);
        };
        let inputs = inputs_of(request, &waves);
        // Coarse file systems keep modification times to the second.
        let changed_meanwhile = inputs.iter().any(|(path, stamp)| {
            !path.starts_with(&request.target_dir)
                && stamp.is_some_and(|(modified, _)| modified + Duration::from_secs(1) >= started)
        });
        if changed_meanwhile {
            return Ok(None);
        }
        Ok(Some(Recording {
            waves,
            executables: executables.to_vec(),
            inputs,
        }))
    }

    /// Whether Cargo would decide this build as it did when recorded.
    pub fn still_valid(&self) -> bool {
        self.inputs.iter().all(|(path, then)| stamp(path) == *then)
    }

    /// Makes Cargo rebuild what this recording rebuilds, the next time it
    /// builds: it decides freshness by modification times, and a source put
    /// back with an older one (`cp -p`) would pass for what a replay built.
    pub fn forget_cargos_fingerprints(&self) -> std::io::Result<()> {
        for unit in self.waves.iter().flatten() {
            let fingerprint = unit
                .out_dir()
                .with_file_name(".fingerprint")
                .join(&unit.fingerprint);
            match fs::remove_dir_all(&fingerprint) {
                Err(err) if err.kind() != std::io::ErrorKind::NotFound => return Err(err),
                _ => {}
            }
        }
        Ok(())
    }
}

/// The units a save can change, and those built on them: the package's
/// library with the libraries it is built on (the reference's, in solution
/// mode), then everything that takes one of those. A crate only the spec
/// suites use (spec-probes) is a dependency like any other; `None` if the
/// package's library was not compiled.
pub(super) fn edited_and_downstream(units: Vec<Unit>, package_dir: &Path) -> Option<Vec<Unit>> {
    let lib = units
        .iter()
        .position(|u| !u.test && same_path(&u.manifest_dir, package_dir))?;
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

/// Orders units so that each comes after the units whose output it takes
/// as `--extern`; `None` if they depend on each other in a cycle.
pub(super) fn waves(units: Vec<Unit>) -> Option<Vec<Vec<Unit>>> {
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
/// (manifests, lock file, configuration, toolchain), a binary target
/// appearing beside a rebuilt library (`cargo test` builds those too), the
/// spec suites' sources, and every dependency compiled outside the
/// recording, with the sources and manifest of those in the workspace,
/// which Cargo would rebuild.
fn inputs_of(request: &BuildRequest, waves: &[Vec<Unit>]) -> Vec<(PathBuf, Stamp)> {
    let units: Vec<&Unit> = waves.iter().flatten().collect();
    let mut paths: Vec<PathBuf> = Vec::new();
    let cwd = std::env::current_dir().unwrap_or_default();
    for start in [request.manifest.parent(), Some(cwd.as_path())] {
        let mut dir = start;
        while let Some(d) = dir {
            for name in [
                "Cargo.toml",
                "Cargo.lock",
                ".cargo/config.toml",
                ".cargo/config",
                "rust-toolchain",
                "rust-toolchain.toml",
            ] {
                paths.push(d.join(name));
            }
            dir = d.parent();
        }
    }
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| home.as_ref().map(|home| home.join(".cargo")));
    if let Some(cargo_home) = cargo_home {
        paths.push(cargo_home.join("config.toml"));
        paths.push(cargo_home.join("config"));
    }
    let rustup_home = std::env::var_os("RUSTUP_HOME")
        .map(PathBuf::from)
        .or_else(|| home.as_ref().map(|home| home.join(".rustup")));
    if let Some(rustup_home) = rustup_home {
        paths.push(rustup_home.join("settings.toml"));
    }
    for unit in &units {
        // `rustup update` replaces the compiler where it stands.
        paths.push(PathBuf::from(&unit.invocation.rustc));
        paths.extend(package_files(&unit.manifest_dir));
        paths.push(unit.manifest_dir.join("src/main.rs"));
        paths.push(unit.manifest_dir.join("src/bin"));
        if unit.test {
            paths.extend(dep_info_sources(&unit.dep_info, &unit.invocation.cwd));
        }
    }
    let recorded = |path: &PathBuf| units.iter().any(|u| u.outputs.contains(path));
    for unit in &units {
        for dependency in unit.externs.iter().filter(|p| !recorded(p)) {
            paths.push(dependency.clone());
            // Cargo runs every rustc of a workspace from its root.
            let sources: Vec<PathBuf> =
                dep_info_sources(&dep_info_of(dependency), &unit.invocation.cwd)
                    .into_iter()
                    .filter(|source| !source.components().any(|c| c.as_os_str() == "registry"))
                    .collect();
            if let Some(package) = sources.first().and_then(|s| package_dir_above(s)) {
                paths.extend(package_files(&package));
            }
            paths.extend(sources);
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

/// What Cargo reads of a package besides its sources.
fn package_files(dir: &Path) -> [PathBuf; 2] {
    [dir.join("Cargo.toml"), dir.join("build.rs")]
}

/// The directory of the package a source file belongs to.
fn package_dir_above(source: &Path) -> Option<PathBuf> {
    source
        .ancestors()
        .skip(1)
        .find(|dir| dir.join("Cargo.toml").is_file())
        .map(Path::to_path_buf)
}

/// `deps/spec_probes-<hash>.d` for `deps/libspec_probes-<hash>.rlib`.
fn dep_info_of(library: &Path) -> PathBuf {
    let dep_info = library.with_extension("d");
    match dep_info
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix("lib"))
    {
        Some(name) => dep_info.with_file_name(name),
        None => dep_info,
    }
}

/// The sources listed by a rustc dep-info file (`out: src src ...`, a
/// space within a path written `\ `), the relative ones taken from `cwd`.
pub(super) fn dep_info_sources(dep_info: &Path, cwd: &Path) -> Vec<PathBuf> {
    let Ok(text) = fs::read_to_string(dep_info) else {
        return Vec::new();
    };
    let Some((_, sources)) = text.lines().next().and_then(|l| l.split_once(": ")) else {
        return Vec::new();
    };
    let mut paths = Vec::new();
    let mut current = String::new();
    let mut chars = sources.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&' ') => current.extend(chars.next()),
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
