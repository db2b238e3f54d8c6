//! Finds the katas of the workspace and reads their metadata
//! (`[package.metadata.kata]` in each kata's Cargo.toml).

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

/// The root of a backend-katas checkout: where `katas/`, `solutions/` and the
/// learner's local state (`.katas/`) live; and the kata packs beside it.
#[derive(Debug, Clone)]
pub struct Workspace {
    pub root: PathBuf,
    /// Other directories laid out the same way (`katas/`, `solutions/`, a
    /// Cargo workspace of their own): a team's private katas.
    pub packs: Vec<PathBuf>,
}

/// The tracks of the catalogue: a short list, so that a learner can choose
/// one and the stats page compares like with like. Every kata is in exactly
/// one; free tags say the rest.
pub const TRACKS: &[&str] = &[
    "concurrency",
    "resilience",
    "databases",
    "data-structures",
    "messaging",
    "distributed-systems",
    "apis-and-security",
    "observability",
];

/// The environment variable that names kata packs, separated like `PATH`.
pub const PACKS_VAR: &str = "BACKEND_KATAS_PACKS";

impl Workspace {
    /// The checkout the command runs in, unless `BACKEND_KATAS_ROOT` names
    /// another (the CLI's own tests point it at fixture workspaces), with the
    /// packs of `BACKEND_KATAS_PACKS` and `extra_packs`.
    ///
    /// Never the checkout the binary was built from: two clones may share a
    /// target directory, and Cargo then reuses one clone's binary for the
    /// other. `cargo run` (so `cargo xtask`) sets `CARGO_MANIFEST_DIR` to this
    /// clone's `xtask/` at run time; without it, the root is found by walking
    /// up from the current directory.
    pub fn current(extra_packs: &[PathBuf]) -> Result<Self> {
        let root = match std::env::var_os("BACKEND_KATAS_ROOT") {
            Some(root) => PathBuf::from(root),
            None => {
                let from_cargo = std::env::var_os("CARGO_MANIFEST_DIR")
                    .map(PathBuf::from)
                    .and_then(|xtask| xtask.parent().map(Path::to_path_buf))
                    .filter(|dir| is_checkout(dir));
                match from_cargo {
                    Some(root) => root,
                    None => {
                        let cwd =
                            std::env::current_dir().context("reading the current directory")?;
                        find_checkout(&cwd).with_context(|| {
                            format!(
                                "{} is not inside a backend-katas checkout (a directory with katas/ and a Cargo workspace): \
                                 run the command from the repository, as `cargo xtask ...`",
                                cwd.display()
                            )
                        })?
                    }
                }
            }
        };
        let mut packs: Vec<PathBuf> = std::env::var_os(PACKS_VAR)
            .map(|v| {
                std::env::split_paths(&v)
                    .filter(|p| !p.as_os_str().is_empty())
                    .collect()
            })
            .unwrap_or_default();
        packs.extend(extra_packs.iter().cloned());
        for pack in &mut packs {
            if !pack.join("katas").is_dir() {
                bail!(
                    "{} is not a kata pack: a pack has a katas/ directory (and solutions/), like this repository",
                    pack.display()
                );
            }
            *pack = pack
                .canonicalize()
                .with_context(|| format!("reading {}", pack.display()))?;
        }
        Ok(Workspace { root, packs })
    }

    /// `path` as the learner sees it: relative to the checkout when inside it.
    pub fn relative<'a>(&self, path: &'a Path) -> &'a Path {
        path.strip_prefix(&self.root).unwrap_or(path)
    }

    /// Gitignored local state: attempts, hints shown, last verdicts.
    pub fn state_dir(&self) -> PathBuf {
        self.root.join(".katas")
    }

    /// Cargo's target directory, shared by every build the CLI starts, packs
    /// included: `CARGO_TARGET_DIR` if set, as cargo itself would.
    pub fn target_dir(&self) -> PathBuf {
        std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| self.root.join("target"))
    }

    /// Every kata: this repository's, then each pack's. A kata whose
    /// manifest cannot be read is left out with a warning (one half-written
    /// kata must not stop every command); `verify` reports it as a breach.
    /// A slug defined twice is an error naming both places, since a command
    /// could not tell which one was meant.
    pub fn katas(&self) -> Result<Vec<Kata>> {
        let (katas, broken) = self.load_all()?;
        for (dir, err) in &broken {
            eprintln!("warning: skipping {}: {err:#}", dir.display());
        }
        Ok(katas)
    }

    /// The katas that load, and the directories that look like katas but
    /// do not, with why.
    pub fn load_all(&self) -> Result<(Vec<Kata>, Vec<Unreadable>)> {
        let mut katas: Vec<Kata> = Vec::new();
        let mut broken = Vec::new();
        let origins = std::iter::once((self.root.clone(), Origin::BuiltIn)).chain(
            self.packs
                .iter()
                .map(|p| (p.clone(), Origin::Pack(p.clone()))),
        );
        for (root, origin) in origins {
            let dir = root.join("katas");
            for entry in fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
                let path = entry?.path();
                if !path.join("Cargo.toml").is_file() {
                    continue;
                }
                let kata = match Kata::load(&root, origin.clone(), &path) {
                    Ok(kata) => kata,
                    Err(err) => {
                        broken.push((path, err));
                        continue;
                    }
                };
                if let Some(twin) = katas.iter().find(|k| k.slug == kata.slug) {
                    bail!(
                        "the kata `{}` is defined twice: in {} and in {}",
                        kata.slug,
                        twin.dir.display(),
                        kata.dir.display()
                    );
                }
                katas.push(kata);
            }
        }
        katas.sort_by(|a, b| a.slug.cmp(&b.slug));
        Ok((katas, broken))
    }

    /// The kata named `slug`, or an error that suggests the closest name.
    pub fn kata(&self, slug: &str) -> Result<Kata> {
        let (katas, broken) = self.load_all()?;
        if let Some(kata) = katas.iter().find(|k| k.slug == slug) {
            return Ok(kata.clone());
        }
        if let Some((dir, err)) = broken.into_iter().find(|(dir, _)| dir.ends_with(slug)) {
            return Err(err.context(format!("the kata in {} cannot be read", dir.display())));
        }
        let names: Vec<&str> = katas.iter().map(|k| k.slug.as_str()).collect();
        Err(UnknownKata {
            name: slug.to_owned(),
            suggestion: closest(slug, &names).map(str::to_owned),
        }
        .into())
    }
}

/// Whether `dir` is the root of a backend-katas checkout: a Cargo workspace
/// with `katas/` beside it.
fn is_checkout(dir: &Path) -> bool {
    dir.join("katas").is_dir()
        && fs::read_to_string(dir.join("Cargo.toml")).is_ok_and(|t| t.contains("[workspace]"))
}

/// The nearest checkout at or above `start`.
fn find_checkout(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .find(|dir| is_checkout(dir))
        .map(Path::to_path_buf)
}

/// A directory under `katas/` whose manifest cannot be read, and why.
pub type Unreadable = (PathBuf, anyhow::Error);

/// Where a kata comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// This repository.
    BuiltIn,
    /// A kata pack in this directory.
    Pack(PathBuf),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::BuiltIn => f.write_str("built-in"),
            Origin::Pack(dir) => write!(f, "pack {}", dir.display()),
        }
    }
}

/// A kata name that matches no kata: bad usage, reported with a suggestion.
#[derive(Debug)]
pub struct UnknownKata {
    pub name: String,
    pub suggestion: Option<String>,
}

impl fmt::Display for UnknownKata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "there is no kata named `{}`", self.name)?;
        if let Some(suggestion) = &self.suggestion {
            write!(f, "\n  did you mean `{suggestion}`?")?;
        }
        write!(f, "\n  `cargo xtask list` shows every kata")
    }
}

impl std::error::Error for UnknownKata {}

/// The candidate a typo most likely meant, if any is close enough.
pub fn closest<'a>(typed: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (strsim::damerau_levenshtein(typed, c), *c))
        .filter(|(distance, c)| *distance <= (c.len() / 3).max(2))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, c)| c)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Difficulty {
    Easy,
    Medium,
    Hard,
}

impl fmt::Display for Difficulty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Difficulty::Easy => "easy",
            Difficulty::Medium => "medium",
            Difficulty::Hard => "hard",
        })
    }
}

/// `[package.metadata.kata]`: everything the CLI knows about a kata besides
/// its code.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Metadata {
    pub title: String,
    pub difficulty: Difficulty,
    /// Suggested time, in minutes.
    pub minutes: u32,
    /// One of [`TRACKS`]: the part of the catalogue the kata belongs to.
    /// Checked by `verify`, not here, so that a kata with a typo still loads.
    #[serde(default)]
    pub track: String,
    /// Free tags beside the track (`caching`, `time`, ...).
    #[serde(alias = "topics")]
    pub tags: Vec<String>,
    /// Progressive: the first nudges, the last nearly gives it away.
    pub hints: Vec<String>,
    /// What an interviewer asks once it works.
    pub followups: Vec<String>,
    /// How long one spec may run before it is reported as `timeout`.
    #[serde(default = "default_spec_timeout")]
    pub spec_timeout_secs: u64,
}

fn default_spec_timeout() -> u64 {
    10
}

#[derive(Debug, Clone)]
pub struct Kata {
    pub slug: String,
    pub dir: PathBuf,
    pub solution_dir: PathBuf,
    /// The Cargo workspace the kata belongs to: this repository, or a pack.
    pub root: PathBuf,
    pub origin: Origin,
    pub meta: Metadata,
}

#[derive(Deserialize)]
struct Manifest {
    package: Package,
}

#[derive(Deserialize)]
struct Package {
    name: String,
    metadata: Option<PackageMetadata>,
}

#[derive(Deserialize)]
struct PackageMetadata {
    kata: Option<Metadata>,
}

impl Kata {
    pub fn load(root: &Path, origin: Origin, dir: &Path) -> Result<Kata> {
        let manifest_path = dir.join("Cargo.toml");
        let text = fs::read_to_string(&manifest_path)
            .with_context(|| format!("reading {}", manifest_path.display()))?;
        let manifest: Manifest = toml::from_str(&text)
            .with_context(|| format!("parsing {}", manifest_path.display()))?;
        let slug = manifest.package.name;
        let Some(meta) = manifest.package.metadata.and_then(|m| m.kata) else {
            bail!(
                "{} has no [package.metadata.kata] table (title, difficulty, minutes, topics, hints, followups)",
                manifest_path.display()
            );
        };
        Ok(Kata {
            solution_dir: root.join("solutions").join(&slug),
            dir: dir.to_path_buf(),
            root: root.to_path_buf(),
            origin,
            slug,
            meta,
        })
    }

    pub fn manifest(&self) -> PathBuf {
        self.dir.join("Cargo.toml")
    }

    pub fn solution_package(&self) -> String {
        format!("{}-solution", self.slug)
    }

    /// The file a learner edits.
    pub fn stub_file(&self) -> PathBuf {
        self.dir.join("src").join("lib.rs")
    }

    pub fn readme(&self) -> PathBuf {
        self.dir.join("README.md")
    }

    /// The spec suites: one per file in `tests/`, by target name, in the
    /// order a check runs them.
    pub fn suites(&self) -> Result<Vec<String>> {
        let mut suites = rust_files(&self.dir.join("tests"))?
            .iter()
            .filter_map(|p| p.file_stem()?.to_str().map(str::to_owned))
            .collect::<Vec<_>>();
        // The order a check builds and runs them in: `spec`, which holds
        // most of a kata's specs and catches most wrong answers, then the
        // others by name, loom last (the costliest to build and to run).
        suites.sort_by_key(|s| (s != "spec", s == "loom", s.clone()));
        Ok(suites)
    }

    /// The suites built without `--cfg kata_loom`: all but `loom`, in order.
    pub fn normal_suites(&self) -> Result<Vec<String>> {
        let mut suites = self.suites()?;
        suites.retain(|s| s != "loom");
        Ok(suites)
    }
}

/// Every file under `dir`, at any depth, sorted; none if it does not exist.
pub fn files_under(dir: &Path) -> Result<Vec<PathBuf>> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
        for entry in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                walk(&path, out)?;
            } else {
                out.push(path);
            }
        }
        Ok(())
    }
    let mut files = Vec::new();
    if dir.is_dir() {
        walk(dir, &mut files)?;
    }
    files.sort();
    Ok(files)
}

/// The `.rs` files directly inside `dir`, sorted; none if it does not exist.
pub fn rust_files(dir: &Path) -> Result<Vec<PathBuf>> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_the_kata_a_typo_meant() {
        let names = ["rate-limiter", "lru-cache", "spin-lock"];
        assert_eq!(closest("rate-limter", &names), Some("rate-limiter"));
        assert_eq!(closest("lru-cahce", &names), Some("lru-cache"));
    }

    #[test]
    fn suggests_nothing_for_a_name_far_from_every_kata() {
        let names = ["rate-limiter", "lru-cache"];
        assert_eq!(closest("consensus", &names), None);
    }

    #[test]
    fn reads_the_metadata_of_the_rate_limiter_kata() {
        let ws = Workspace::current(&[]).unwrap();
        let kata = ws.kata("rate-limiter").expect("the pilot kata exists");
        assert_eq!(kata.meta.title, "Rate limiter");
        assert_eq!(kata.meta.difficulty, Difficulty::Medium);
        assert!(kata.meta.minutes > 0);
        assert!(kata.meta.hints.len() >= 3, "progressive hints");
        assert!(!kata.meta.followups.is_empty());
        let suites = kata.suites().unwrap();
        for suite in ["loom", "spec"] {
            assert!(suites.iter().any(|s| s == suite), "{suites:?}");
        }
    }

    #[test]
    fn an_unknown_kata_is_an_error_naming_the_closest_one() {
        let err = Workspace::current(&[])
            .unwrap()
            .kata("rate-limter")
            .unwrap_err();
        let unknown = err.downcast_ref::<UnknownKata>().expect("an UnknownKata");
        assert_eq!(unknown.suggestion.as_deref(), Some("rate-limiter"));
        assert!(err.to_string().contains("did you mean `rate-limiter`?"));
    }
}
