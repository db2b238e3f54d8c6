//! Two checkouts of this repository may share one target directory (a
//! common `build.target-dir` setting). Cargo then gives a kata crate of
//! either checkout the same unit hash, since a path package is hashed
//! relative to its workspace, and checks freshness by modification times,
//! so a build in the second checkout can reuse the first one's test binary
//! and judge the first checkout's code. This module remembers which
//! checkout last built each kata crate and, when another one builds it,
//! makes Cargo rebuild it: the learner's files are never touched.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result};

use crate::catalog::Workspace;
use crate::check::Subject;
use crate::compile;

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
        _ => forget(&ws.target_dir(), subject)?,
    }
    if let Some(parent) = marker.parent() {
        fs::create_dir_all(parent)?;
    }
    fs::write(&marker, here).with_context(|| format!("writing {}", marker.display()))
}

/// Makes Cargo rebuild the kata crate and its reference, in the normal
/// build (`debug`) and the loom build (`loom/loom`: its own target
/// directory and profile), by removing their units' fingerprints, and
/// nothing else. Not `cargo clean -p`: it deletes test
/// binaries by target name, so every kata's `spec-*` and `memory-*` would
/// go, under the feet of another kata's check running at the same time.
fn forget(target_dir: &Path, subject: &Subject) -> Result<()> {
    let packages = [subject.package.clone(), subject.kata.solution_package()];
    for profile_dir in [
        target_dir.join("debug"),
        compile::loom_target_dir(target_dir).join(compile::LOOM_PROFILE),
    ] {
        let fingerprints = profile_dir.join(".fingerprint");
        let Ok(entries) = fs::read_dir(&fingerprints) else {
            continue;
        };
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name();
            let of_subject = package_of_unit(&name.to_string_lossy())
                .is_some_and(|package| packages.iter().any(|p| p == package));
            if of_subject {
                fs::remove_dir_all(entry.path())
                    .with_context(|| format!("removing {}", entry.path().display()))?;
            }
        }
    }
    Ok(())
}

/// `adder-solution` of `adder-solution-0123456789abcdef`, a unit's
/// fingerprint directory: the package name, a dash, 16 hex digits.
fn package_of_unit(name: &str) -> Option<&str> {
    let (package, hash) = name.rsplit_once('-')?;
    (hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit())).then_some(package)
}

#[cfg(test)]
mod tests {
    use super::package_of_unit;

    #[test]
    fn a_fingerprint_directory_names_its_package() {
        assert_eq!(
            package_of_unit("adder-solution-0123456789abcdef"),
            Some("adder-solution")
        );
        assert_eq!(package_of_unit("adder-0123456789abcdef"), Some("adder"));
        assert_eq!(package_of_unit("adder-solution"), None);
        assert_eq!(package_of_unit("adder-0123456789abcdeg"), None);
    }
}
