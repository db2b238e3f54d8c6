//! Reads the plain-text output of a libtest harness (`cargo test`'s default
//! test runner) into per-test results. Stable Rust has no machine-readable
//! test output, so this parser is what lets the CLI name each spec.

use std::collections::HashMap;

use crate::verdict::Status;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub name: String,
    pub status: Status,
    pub message: String,
}

/// The names a test binary lists with `--list`.
pub fn parse_list(output: &str) -> Vec<String> {
    output
        .lines()
        .filter_map(|line| line.strip_suffix(": test"))
        .map(str::to_owned)
        .collect()
}

/// Every `test NAME ... ok|FAILED` line of a run, with the captured output of
/// each failure (the `---- NAME stdout ----` sections) as its message.
/// Ignored tests are left out: they were not run.
pub fn parse_run(output: &str) -> Vec<Outcome> {
    let messages = failure_messages(output);
    output
        .lines()
        .filter_map(parse_result_line)
        .map(|(name, status)| {
            let message = match status {
                Status::Pass => String::new(),
                _ => messages.get(name).cloned().unwrap_or_default(),
            };
            Outcome {
                name: name.to_owned(),
                status,
                message,
            }
        })
        .collect()
}

/// `test NAME ... ok` or `... FAILED`: the spec's name and status. A
/// `#[should_panic]` test reads `test NAME - should panic ... ok`.
pub fn parse_result_line(line: &str) -> Option<(&str, Status)> {
    let rest = line.strip_prefix("test ")?;
    let (name, result) = rest.rsplit_once(" ... ")?;
    let status = match result.trim_end() {
        "ok" => Status::Pass,
        "FAILED" => Status::Fail,
        _ => return None,
    };
    let name = name.strip_suffix(" - should panic").unwrap_or(name);
    Some((name, status))
}

/// The first panic in `output` and what follows it (at most `lines`
/// lines), or its last lines if nothing panicked: for a process that died
/// without a verdict, where the first panic is the cause and later ones
/// (an abort while unwinding) are consequences.
pub fn first_panic(output: &str, lines: usize) -> String {
    let all: Vec<&str> = output.trim().lines().collect();
    let start = all
        .iter()
        .position(|l| l.contains(" panicked at "))
        .unwrap_or(all.len().saturating_sub(lines));
    tidy(&all[start..(start + lines).min(all.len())])
}

fn failure_messages(output: &str) -> HashMap<&str, String> {
    let mut messages = HashMap::new();
    let mut current: Option<(&str, Vec<&str>)> = None;
    for line in output.lines() {
        let header = line
            .strip_prefix("---- ")
            .and_then(|l| l.strip_suffix(" stdout ----"));
        let section_end =
            header.is_some() || line == "failures:" || line.starts_with("test result:");
        if section_end && let Some((name, body)) = current.take() {
            messages.insert(name, tidy(&body));
        }
        if let Some(name) = header {
            current = Some((name, Vec::new()));
        } else if let Some((_, body)) = current.as_mut() {
            body.push(line);
        }
    }
    if let Some((name, body)) = current {
        messages.insert(name, tidy(&body));
    }
    messages
}

/// Drops the harness's boilerplate around a panic message: the backtrace
/// note, and the thread's name and id before `panicked at` (the spec's name
/// is already known; the id changes every run).
fn tidy(lines: &[&str]) -> String {
    lines
        .iter()
        .filter(|l| !l.starts_with("note: run with `RUST_BACKTRACE=1`"))
        .map(|l| {
            match l
                .strip_prefix("thread '")
                .and_then(|l| l.split_once(" panicked at "))
            {
                Some((_, location)) => format!("panicked at {location}"),
                None => (*l).to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests;
