//! What a check concludes: one result per spec, and the totals for a kata.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    Timeout,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SpecResult {
    pub name: String,
    pub status: Status,
    /// The failure as the learner should read it; empty for a pass.
    pub message: String,
    /// The test file the spec lives in: `spec`, `loom`, ...
    pub suite: String,
}

/// Whose code the spec judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The learner's code in `katas/<slug>/src`.
    Kata,
    /// The reference in `solutions/<slug>`.
    Solution,
}

#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub kata: String,
    pub mode: Mode,
    pub passed: usize,
    pub failed: usize,
    pub total: usize,
    pub specs: Vec<SpecResult>,
    /// The compiler's errors, when the code under test did not build.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compile_error: Option<String>,
    /// Spec files that differ from the pristine copy: such a pass does not
    /// count.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub modified_specs: Vec<String>,
    /// Suites left unbuilt because a normal spec already fails (`loom`):
    /// they run once every normal spec passes, and are not in the totals.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_run: Vec<String>,
}

impl Verdict {
    pub fn new(kata: &str, mode: Mode, specs: Vec<SpecResult>) -> Self {
        let passed = specs.iter().filter(|s| s.status == Status::Pass).count();
        Verdict {
            kata: kata.to_owned(),
            mode,
            passed,
            failed: specs.len() - passed,
            total: specs.len(),
            specs,
            compile_error: None,
            modified_specs: Vec::new(),
            not_run: Vec::new(),
        }
    }

    pub fn compile_failure(kata: &str, mode: Mode, diagnostics: String) -> Self {
        Verdict {
            compile_error: Some(diagnostics),
            ..Verdict::new(kata, mode, Vec::new())
        }
    }

    /// Every spec passed against an unmodified spec suite.
    pub fn is_pass(&self) -> bool {
        self.compile_error.is_none()
            && self.modified_specs.is_empty()
            && self.not_run.is_empty()
            && self.total > 0
            && self.failed == 0
    }

    pub fn failures(&self) -> impl Iterator<Item = &SpecResult> {
        self.specs.iter().filter(|s| s.status != Status::Pass)
    }
}
