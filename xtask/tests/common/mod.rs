//! What the CLI's end-to-end tests share: copies of the fixture
//! workspaces, and running the real `xtask` binary on them.
#![allow(dead_code)] // each test file uses its own part

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

pub struct Fixture {
    pub dir: tempfile::TempDir,
    /// Where the CLI builds. Each fixture has its own: cargo hashes a path
    /// package relative to its workspace root, so two copies of the same
    /// fixture sharing a target directory would overwrite each other's
    /// test binaries.
    pub target: PathBuf,
}

impl Fixture {
    /// A fresh copy of the fixture workspace, as a git repository with one
    /// commit and the adder kata blessed.
    pub fn new() -> Self {
        let dir = workspace_copy("workspace");
        let target = dir.path().join("target");
        let fixture = Fixture { dir, target };
        fixture.git(&["init", "-q"]);
        fixture.xtask(&["bless", "adder"]).success();
        fixture.git(&["add", "-A"]);
        fixture.git(&["commit", "-q", "-m", "the fixture"]);
        fixture
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn stub(&self) -> PathBuf {
        self.root().join("katas/adder/src/lib.rs")
    }

    pub fn git(&self, args: &[&str]) {
        git(self.root(), args);
    }

    /// The real CLI, pointed at this copy.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
        cmd.args(args)
            .env("BACKEND_KATAS_ROOT", self.root())
            .env_remove("BACKEND_KATAS_PACKS")
            .env("CARGO_TARGET_DIR", &self.target)
            .env("NO_COLOR", "1");
        cmd
    }

    pub fn xtask(&self, args: &[&str]) -> Run {
        let output = self.command(args).output().expect("xtask runs");
        Run {
            args: args.join(" "),
            output,
        }
    }

    /// A copy of the pack fixture (the `greeter` kata), as a git repository
    /// of its own with greeter blessed.
    pub fn pack(&self) -> tempfile::TempDir {
        let pack = workspace_copy("pack");
        git(pack.path(), &["init", "-q"]);
        let dir = pack.path().to_str().expect("a UTF-8 path");
        self.xtask(&["--pack", dir, "bless", "greeter"]).success();
        git(pack.path(), &["add", "-A"]);
        git(pack.path(), &["commit", "-q", "-m", "the pack"]);
        pack
    }
}

/// A temporary copy of `tests/fixtures/<name>` as a Cargo workspace of its
/// own, with this repository's manifest (less the xtask member) and lock.
pub fn workspace_copy(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    copy_tree(&here.join("tests/fixtures").join(name), dir.path());
    let manifest = fs::read_to_string(here.join("../Cargo.toml")).unwrap();
    let manifest = manifest.replace(r#", "xtask"]"#, "]");
    assert!(
        !manifest.contains(r#""xtask""#),
        "the fixture workspace has no xtask member"
    );
    fs::write(dir.path().join("Cargo.toml"), manifest).unwrap();
    fs::copy(here.join("../Cargo.lock"), dir.path().join("Cargo.lock")).unwrap();
    // The spec probes every kata may use, as the templates do.
    copy_tree(&here.join("../support"), &dir.path().join("support"));
    dir
}

/// One target directory for the tests that build the templates' real
/// dependencies (proptest, rstest, loom, criterion), so that they compile
/// once across runs. Only one test may use it at a time (see `target`).
pub fn shared_target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("fixture-target")
}

pub fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args(["-c", "user.name=test", "-c", "user.email=test@example.com"])
        .args(args)
        .current_dir(dir)
        .status()
        .expect("git runs");
    assert!(status.success(), "git {args:?} failed");
}

pub struct Run {
    pub args: String,
    pub output: Output,
}

impl Run {
    pub fn code(&self) -> i32 {
        self.output.status.code().unwrap_or(-1)
    }
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }
    pub fn success(&self) -> &Self {
        assert_eq!(
            self.code(),
            0,
            "`xtask {}` failed:\n{}\n{}",
            self.args,
            self.stdout(),
            self.stderr()
        );
        self
    }
    pub fn json(&self) -> Value {
        serde_json::from_str(self.stdout().lines().next().unwrap_or_default()).unwrap_or_else(|e| {
            panic!(
                "`xtask {}` printed no JSON ({e}):\n{}",
                self.args,
                self.stdout()
            )
        })
    }
}

pub fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Every file under `dir`, at any depth.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

pub fn spec<'a>(verdict: &'a Value, name: &str) -> &'a Value {
    verdict["specs"]
        .as_array()
        .and_then(|specs| specs.iter().find(|s| s["name"] == name))
        .unwrap_or_else(|| panic!("no spec named {name} in {verdict}"))
}

pub fn archived_attempts(root: &Path) -> Vec<PathBuf> {
    archived_attempts_of(root, "adder")
}

pub fn archived_attempts_of(root: &Path, kata: &str) -> Vec<PathBuf> {
    let dir = root.join(".katas/attempts").join(kata);
    let mut found: Vec<PathBuf> = fs::read_dir(&dir)
        .map(|entries| entries.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    found.sort();
    found
}
