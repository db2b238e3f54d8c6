//! Scratch copies of a kata crate whose `src/` is something other than the
//! learner's: the pristine stub, or an answer from the kata's bank (a
//! patched reference, or a whole `lib.rs`). The verify gate judges those
//! without touching the learner's files.
//!
//! A kata's scratch crates live in `target/xtask/scratch/<slug>/<name>/`,
//! members of one workspace of their own there (outside the repository's,
//! so the kata's manifest is rewritten with every `workspace = true`
//! dependency spelled out). They reuse the kata's spec files in place and
//! the repository's Cargo.lock and target directory, so only the changed
//! library and the spec are recompiled; and [`build`] builds many of them in
//! one Cargo invocation, which spreads the crates over the cores.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use toml::{Table, Value};

use crate::bank::{self, Answer, Files, Side};
use crate::catalog::{Kata, Workspace};
use crate::check::{Reporter, Subject};
use crate::compile::BuildRequest;
use crate::pristine;
use crate::ui::Progress;
use crate::verdict::Mode;

/// The scratch crate of the stub's member directory.
const STUB: &str = "stub";

/// A scratch crate holding the kata's pristine stub.
pub fn stub(ws: &Workspace, kata: &Kata) -> Result<Subject> {
    let subject = write_member(ws, kata, STUB, pristine::stub_files(kata)?)?;
    write_workspace(ws, kata, &[STUB.to_owned()])?;
    Ok(subject)
}

/// The scratch crates of some answers of the kata's bank, materialised (a
/// patched reference, or a whole `lib.rs` beside the stub's files). One
/// result per answer, in order: an answer that cannot be materialised (a
/// patch that no longer applies) is an error of its own, and the others are
/// still written. Nothing is built: see [`build`].
pub fn bank(ws: &Workspace, kata: &Kata, answers: &[Answer]) -> Result<Vec<Result<Subject>>> {
    let subjects: Vec<Result<Subject>> = answers
        .iter()
        .map(|answer| {
            let files = answer.materialise(kata)?;
            write_member(ws, kata, &member_name(answer), files)
        })
        .collect();
    write_workspace(
        ws,
        kata,
        &answers.iter().map(member_name).collect::<Vec<_>>(),
    )?;
    Ok(subjects)
}

/// Builds `suites` (normal ones, or `loom` alone) of some scratch crates of
/// one kata in one Cargo invocation, so that Cargo compiles them side by
/// side; judging each afterwards finds its build done. Best effort: a crate
/// that does not compile here is built again, and its errors reported, when
/// it is judged.
pub fn build(ws: &Workspace, kata: &Kata, subjects: &[&Subject], suites: &[String]) -> Result<()> {
    if subjects.len() < 2 || suites.is_empty() {
        // One crate is built as fast by its own check.
        return Ok(());
    }
    let loom = suites.iter().any(|s| s == "loom");
    let progress = Progress::new(&format!(
        "{} · building {} of {} answers",
        kata.slug,
        suites.join(", "),
        subjects.len()
    ));
    let request = BuildRequest {
        manifest: workspace_dir(ws, kata).join("Cargo.toml"),
        packages: subjects.iter().map(|s| s.package.clone()).collect(),
        features: Vec::new(),
        suites: suites.to_vec(),
        loom,
        target_dir: ws.target_dir(),
        color: false,
    };
    // Only the cache matters: each answer's own build reports.
    let _ = request.run(&|krate| progress.compiling(krate), None)?;
    progress.finish();
    Ok(())
}

fn workspace_dir(ws: &Workspace, kata: &Kata) -> PathBuf {
    ws.target_dir()
        .join("xtask")
        .join("scratch")
        .join(&kata.slug)
}

fn member_name(answer: &Answer) -> String {
    format!("{}-{}", answer.side.dir_name(), answer.name)
}

/// Each scratch crate has a directory and a package name of its own
/// (`<slug>-<name>`, its library still called `<slug>` for the spec), so
/// that its build stays cached until the answer, the spec or the reference
/// changes, and two answers of one kata can be judged at once. The name
/// matters: Cargo hashes a path package by its name and place, and, trusting
/// modification times, would judge one answer with another's binary if two
/// scratch crates shared a unit.
fn package_name(kata: &Kata, member: &str) -> String {
    format!("{}-{}", kata.slug, member.replace('_', "-"))
}

/// Writes one member's files; the workspace manifest is the caller's.
fn write_member(ws: &Workspace, kata: &Kata, name: &str, files: Files) -> Result<Subject> {
    let package = package_name(kata, name);
    let dir = workspace_dir(ws, kata).join(name);
    remove_all_but(
        &dir.join("src"),
        &files.iter().map(|(p, _)| dir.join(p)).collect::<Vec<_>>(),
    )?;
    for (path, bytes) in &files {
        write_if_changed(&dir.join(path), bytes)?;
    }
    Ok(Subject {
        kata: kata.clone(),
        mode: Mode::Kata,
        manifest: dir.join("Cargo.toml"),
        package,
        features: Vec::new(),
    })
}

/// The scratch workspace's root manifest, its members' manifests and its
/// lock. Every member the bank still has is rewritten from the kata's
/// manifest, and every other directory removed, so that a member left from
/// an older bank or spec (a renamed test file) cannot stop Cargo from
/// loading the workspace.
fn write_workspace(ws: &Workspace, kata: &Kata, written: &[String]) -> Result<()> {
    let dir = workspace_dir(ws, kata);
    let mut wanted = vec![STUB.to_owned()];
    for side in [Side::Wrong, Side::Right] {
        wanted.extend(bank::answers(kata, side)?.iter().map(member_name));
    }
    for name in written {
        if !wanted.contains(name) {
            wanted.push(name.clone());
        }
    }
    let template = member_template(kata)?;
    let mut members = Vec::new();
    for entry in fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()).map(str::to_owned) else {
            continue;
        };
        if !path.is_dir() {
            continue;
        }
        if !wanted.contains(&name) || !path.join("src").is_dir() {
            fs::remove_dir_all(&path).with_context(|| format!("removing {}", path.display()))?;
            continue;
        }
        write_if_changed(
            &path.join("Cargo.toml"),
            member_manifest(kata, &template, &package_name(kata, &name))?.as_bytes(),
        )?;
        // Left by the layout before members shared one lock.
        let _ = fs::remove_file(path.join("Cargo.lock"));
        members.push(name);
    }
    members.sort();
    write_if_changed(
        &dir.join("Cargo.toml"),
        root_manifest(kata, &members)?.as_bytes(),
    )?;
    let lock = kata.root.join("Cargo.lock");
    if lock.exists() && !dir.join("Cargo.lock").exists() {
        fs::copy(&lock, dir.join("Cargo.lock"))?;
    }
    Ok(())
}

/// Deletes every file under `dir` that is not in `keep`.
fn remove_all_but(dir: &Path, keep: &[PathBuf]) -> Result<()> {
    if !dir.is_dir() {
        return Ok(());
    }
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            remove_all_but(&path, keep)?;
        } else if !keep.contains(&path) {
            fs::remove_file(&path)?;
        }
    }
    Ok(())
}

/// Leaves the file alone when its content is already right, so cargo does
/// not rebuild what has not changed.
fn write_if_changed(path: &Path, bytes: &[u8]) -> Result<()> {
    if fs::read(path).ok().as_deref() == Some(bytes) {
        return Ok(());
    }
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

fn read_toml(path: &Path) -> Result<Table> {
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    text.parse()
        .with_context(|| format!("parsing {}", path.display()))
}

/// The kata's manifest as a member of the scratch workspace, but for the
/// package's name (the same for every member, so built once per
/// workspace): workspace inheritance resolved, paths made absolute, the
/// reference a plain dependency (wrong answers may re-export its correct
/// parts), and the spec files referenced where they are.
fn member_template(kata: &Kata) -> Result<Table> {
    let root = read_toml(&kata.root.join("Cargo.toml"))?;
    let kata_manifest = read_toml(&kata.manifest())?;
    let inherited = root
        .get("workspace")
        .and_then(|w| w.get("dependencies"))
        .and_then(Value::as_table)
        .cloned()
        .unwrap_or_default();
    let resolve = |deps: &Table| -> Table {
        deps.iter()
            .map(|(name, spec)| {
                (
                    name.clone(),
                    resolve_dependency(spec, inherited.get(name), &kata.dir, &kata.root),
                )
            })
            .collect()
    };

    let mut out = Table::new();

    let mut deps = kata_manifest
        .get("dependencies")
        .and_then(Value::as_table)
        .map(resolve)
        .unwrap_or_default();
    let mut solution = Table::new();
    solution.insert("path".into(), path_value(&kata.solution_dir));
    deps.insert(kata.solution_package(), solution.into());
    // A patched answer is the reference's source with one bug, so it needs
    // what the reference depends on (a faster hasher, say) even where the
    // learner's crate does not.
    let solution_manifest = read_toml(&kata.solution_dir.join("Cargo.toml"))?;
    for (name, spec) in solution_manifest
        .get("dependencies")
        .and_then(Value::as_table)
        .into_iter()
        .flatten()
    {
        if !deps.contains_key(name) {
            let resolved =
                resolve_dependency(spec, inherited.get(name), &kata.solution_dir, &kata.root);
            deps.insert(name.clone(), resolved);
        }
    }
    out.insert("dependencies".into(), deps.into());
    if let Some(dev) = kata_manifest
        .get("dev-dependencies")
        .and_then(Value::as_table)
    {
        out.insert("dev-dependencies".into(), resolve(dev).into());
    }
    if let Some(targets) = kata_manifest.get("target").and_then(Value::as_table) {
        let mut resolved = Table::new();
        for (cfg, tables) in targets {
            let mut kinds = Table::new();
            for (kind, deps) in tables.as_table().into_iter().flatten() {
                if let Some(deps) = deps.as_table() {
                    kinds.insert(kind.clone(), resolve(deps).into());
                }
            }
            resolved.insert(cfg.clone(), kinds.into());
        }
        out.insert("target".into(), resolved.into());
    }
    // The spec's `cfg(feature = "solution")` must still name a known feature.
    let mut features = Table::new();
    features.insert("solution".into(), Value::Array(Vec::new()));
    out.insert("features".into(), features.into());

    let tests: Vec<Value> = kata
        .suites()?
        .into_iter()
        .map(|suite| {
            let mut test = Table::new();
            test.insert(
                "path".into(),
                path_value(&kata.dir.join("tests").join(format!("{suite}.rs"))),
            );
            test.insert("name".into(), suite.into());
            test.into()
        })
        .collect();
    out.insert("test".into(), tests.into());
    let mut lib = Table::new();
    lib.insert("name".into(), kata.slug.replace('-', "_").into());
    lib.insert("test".into(), false.into());
    out.insert("lib".into(), lib.into());
    if let Some(lints) = root.get("workspace").and_then(|w| w.get("lints")) {
        out.insert("lints".into(), lints.clone());
    }
    Ok(out)
}

/// One member's manifest: the template with its package named.
fn member_manifest(kata: &Kata, template: &Table, package_name: &str) -> Result<String> {
    let mut out = template.clone();
    let mut package = Table::new();
    package.insert("name".into(), package_name.into());
    package.insert("version".into(), "0.0.0".into());
    package.insert("edition".into(), "2024".into());
    package.insert("publish".into(), false.into());
    out.insert("package".into(), package.into());
    Ok(format!(
        "# Generated by cargo xtask from {}: edit that, not this.\n{}",
        kata.manifest().display(),
        toml::to_string(&out)?
    ))
}

/// The scratch workspace: its members, and the repository's profiles (the
/// `loom` one above all), which are a workspace's to define.
fn root_manifest(kata: &Kata, members: &[String]) -> Result<String> {
    let root = read_toml(&kata.root.join("Cargo.toml"))?;
    let mut workspace = Table::new();
    workspace.insert("resolver".into(), "3".into());
    workspace.insert(
        "members".into(),
        Value::Array(members.iter().map(|m| m.as_str().into()).collect()),
    );
    let mut out = Table::new();
    out.insert("workspace".into(), workspace.into());
    let mut profiles = root
        .get("profile")
        .and_then(Value::as_table)
        .cloned()
        .unwrap_or_default();
    // Each scratch crate is built once per change of its answer or spec,
    // and only to be judged. Measured on crdt's bank (15 answers, CPU time
    // of their builds): rustc's incremental caches, written and seldom read,
    // cost 32.5 s against 25.0 s without; line tables, never read (a
    // panic's message and place are compiled in), 30.1 s against 24.1 s.
    // What is lost: a maintainer's spec edit rebuilds each answer whole
    // (crdt: 19 s instead of 8 s with the caches).
    if let Some(dev) = profiles
        .entry("dev")
        .or_insert_with(|| Table::new().into())
        .as_table_mut()
    {
        dev.insert("debug".into(), false.into());
        dev.insert("incremental".into(), false.into());
    }
    out.insert("profile".into(), profiles.into());
    Ok(format!(
        "# Generated by cargo xtask for the scratch crates of {}.\n{}",
        kata.slug,
        toml::to_string(&out)?
    ))
}

/// One dependency with workspace inheritance resolved: the workspace's spec,
/// plus the features the kata adds, with relative paths made absolute. An
/// optional dependency stays optional: the scratch crate's `solution`
/// feature enables nothing, so what only the reference's build needs (the
/// bench's criterion) is not built for every answer.
fn resolve_dependency(
    spec: &Value,
    inherited: Option<&Value>,
    kata_dir: &Path,
    workspace_root: &Path,
) -> Value {
    let Some(table) = spec.as_table() else {
        return spec.clone();
    };
    if table.get("workspace").and_then(Value::as_bool) != Some(true) {
        let mut table = table.clone();
        if let Some(path) = table.get("path").and_then(Value::as_str) {
            let absolute = kata_dir.join(path);
            table.insert("path".into(), path_value(&absolute));
        }
        return table.into();
    }
    let mut resolved = match inherited {
        Some(Value::String(version)) => {
            let mut t = Table::new();
            t.insert("version".into(), version.clone().into());
            t
        }
        Some(Value::Table(t)) => {
            let mut t = t.clone();
            // A path in [workspace.dependencies] is the workspace root's.
            if let Some(path) = t.get("path").and_then(Value::as_str) {
                let absolute = workspace_root.join(path);
                t.insert("path".into(), path_value(&absolute));
            }
            t
        }
        _ => Table::new(),
    };
    if let Some(optional) = table.get("optional") {
        resolved.insert("optional".into(), optional.clone());
    }
    if let Some(Value::Array(extra)) = table.get("features") {
        let features = resolved
            .entry("features")
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(features) = features {
            features.extend(extra.iter().cloned());
        }
    }
    resolved.into()
}

fn path_value(path: &Path) -> Value {
    Value::String(path.to_string_lossy().into_owned())
}
