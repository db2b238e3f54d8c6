//! xtask as Cargo's `RUSTC_WORKSPACE_WRAPPER`: writes each rustc invocation
//! of a workspace crate down, then becomes rustc.

use std::ffi::OsString;
use std::fs;
use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::SystemTime;

use anyhow::{Context, Result};

use super::recording::Invocation;

/// Set on a recorded Cargo build: the directory the wrapper writes each
/// invocation into.
pub const RECORD_DIR_ENV: &str = "BACKEND_KATAS_RECORD_RUSTC";

/// Called with rustc's path, then its arguments.
pub fn wrap_rustc(record_dir: &Path, mut args: impl Iterator<Item = OsString>) -> ExitCode {
    let Some(rustc) = args.next() else {
        eprintln!("{RECORD_DIR_ENV} is set: xtask expects to be called as rustc's wrapper");
        return ExitCode::FAILURE;
    };
    let args: Vec<OsString> = args.collect();
    // A recording that cannot be written only costs the next check its
    // shortcut (the build is not replayable): the build goes on.
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

/// What Cargo sets for a crate's rustc (what its `env!`s read, and the
/// paths rustc and the linker search), which a replay must give it too:
/// nothing else of the environment is written down, so no token or key of
/// the learner's ever is.
fn set_by_cargo(name: &str) -> bool {
    const NAMES: [&str; 16] = [
        "CARGO",
        "CARGO_MANIFEST_DIR",
        "CARGO_MANIFEST_PATH",
        "CARGO_CRATE_NAME",
        "CARGO_BIN_NAME",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_TARGET_TMPDIR",
        "CARGO_RUSTC_CURRENT_DIR",
        "OUT_DIR",
        "PATH",
        "LD_LIBRARY_PATH",
        "DYLD_FALLBACK_LIBRARY_PATH",
        "RUSTUP_HOME",
        "RUSTUP_TOOLCHAIN",
        "RUSTUP_TOOLCHAIN_SOURCE",
        "RUST_RECURSION_COUNT",
    ];
    name.starts_with("CARGO_PKG_") || name.starts_with("CARGO_BIN_EXE_") || NAMES.contains(&name)
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
            .filter(|(k, _)| k.to_str().is_some_and(set_by_cargo))
            .map(|(k, v)| Ok((utf8(&k)?, utf8(&v)?)))
            .collect::<Result<_>>()?,
        cwd: std::env::current_dir()?,
    };
    let started = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)?
        .as_nanos();
    let file = dir.join(format!("{started:024}-{}.json", std::process::id()));
    fs::write(file, serde_json::to_vec(&invocation)?)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::set_by_cargo;

    #[test]
    fn only_what_cargo_sets_is_written_down() {
        for kept in [
            "CARGO_PKG_NAME",
            "CARGO_MANIFEST_DIR",
            "CARGO_BIN_EXE_demo",
            "PATH",
        ] {
            assert!(set_by_cargo(kept), "{kept}");
        }
        for secret in [
            "CARGO_REGISTRY_TOKEN",
            "GITHUB_TOKEN",
            "AWS_SECRET_ACCESS_KEY",
            "HOME",
        ] {
            assert!(!set_by_cargo(secret), "{secret}");
        }
    }
}
