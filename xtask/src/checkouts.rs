//! Two checkouts of this repository may share one target directory (a
//! common `build.target-dir` setting). Cargo then gives a kata crate of
//! either checkout the same unit hash, since a path package is hashed
//! relative to its workspace, and checks freshness by modification times,
//! so a build in the second checkout can reuse the first one's test binary
//! and judge the first checkout's code. This module remembers which
//! checkout last built each kata crate and, when another one builds it,
//! removes its artifacts first: the learner's files are never touched.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::catalog::Workspace;
use crate::check::Subject;

/// Makes sure `subject` is built from this checkout's files.
pub fn claim(ws: &Workspace, subject: &Subject) -> Result<()> {
    let marker = ws
        .target_dir()
        .join("xtask")
        .join("built-from")
        .join(&subject.package);
    let here = subject.kata.root.to_string_lossy().into_owned();
    match fs::read_to_string(&marker) {
        Ok(last) if last == here => return Ok(()),
        // First build into this target directory: nothing to forget.
        Err(_) if !ws.target_dir().join("debug").is_dir() => {}
        _ => {
            let target = ws.target_dir();
            forget(&target, subject)?;
            forget(&target.join("loom"), subject)?;
        }
    }
    if let Some(parent) = marker.parent() {
        fs::create_dir_all(parent)?;
    }
    fs::write(&marker, here).with_context(|| format!("writing {}", marker.display()))
}

/// `cargo clean -p` for the kata crate and its reference in `target_dir`.
fn forget(target_dir: &Path, subject: &Subject) -> Result<()> {
    if !target_dir.is_dir() {
        return Ok(());
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .args(["clean", "--quiet", "--manifest-path"])
        .arg(&subject.manifest)
        .arg("--target-dir")
        .arg(target_dir)
        .args([
            "-p",
            &subject.package,
            "-p",
            &subject.kata.solution_package(),
        ])
        .stdin(Stdio::null())
        .output()
        .context("running cargo clean")?;
    if !output.status.success() {
        bail!(
            "cargo clean -p {} in {}: {}",
            subject.package,
            target_dir.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}
