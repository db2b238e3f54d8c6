//! The CLI end to end, on a copy of the fixture workspace in
//! `tests/fixtures/workspace`: one tiny kata, `adder`, whose reference passes
//! two specs, hangs on a third, and fails a fourth that nothing can pass;
//! and `tests/fixtures/pack`, a kata pack with one kata, `greeter`.
//!
//! Each copy gets this repository's own Cargo.toml (so templates resolve the
//! same workspace dependencies) and Cargo.lock.

mod common;

use std::fs;

use common::*;

#[test]
fn a_hanging_spec_is_reported_as_timeout_and_the_others_still_report() {
    let fixture = Fixture::new();
    let tmp = tempfile::tempdir().unwrap();
    let output = fixture
        .command(&["check", "adder", "--solution", "--json"])
        .env("TMPDIR", tmp.path())
        .output()
        .expect("xtask runs");
    let run = Run {
        args: "check adder --solution --json".to_owned(),
        output,
    };
    let left: Vec<_> = walk(tmp.path())
        .into_iter()
        .filter(|p| p.ends_with("left-by-a-killed-spec"))
        .collect();
    assert!(
        left.is_empty(),
        "a killed spec's temporary files are removed with its run: {left:?}"
    );
    assert_eq!(
        run.code(),
        1,
        "a reference with a failing spec exits 1:\n{}",
        run.stderr()
    );
    let verdict = run.json();
    assert_eq!(verdict["mode"], "solution");
    assert_eq!(verdict["total"], 4);
    assert_eq!(verdict["passed"], 2);
    assert_eq!(verdict["failed"], 2);
    assert_eq!(spec(&verdict, "adds_two_small_numbers")["status"], "pass");
    assert_eq!(spec(&verdict, "reports_overflow_as_none")["status"], "pass");
    assert_eq!(
        spec(&verdict, "adds_zero_without_hanging")["status"],
        "timeout"
    );
    let failure = spec(&verdict, "a_spec_that_nothing_passes");
    assert_eq!(failure["status"], "fail");
    let message = failure["message"].as_str().unwrap();
    assert!(
        message.contains("1 + 1 is not 3:\nthis spec is wrong on purpose"),
        "the multi-line assertion message reaches the learner whole: {message}"
    );
}

#[test]
fn the_stub_fails_every_spec_and_exits_1() {
    let fixture = Fixture::new();
    let run = fixture.xtask(&["check", "adder", "--json"]);
    assert_eq!(run.code(), 1);
    let verdict = run.json();
    assert_eq!(verdict["mode"], "kata");
    assert_eq!(
        (verdict["passed"].as_u64(), verdict["total"].as_u64()),
        (Some(0), Some(4))
    );
    let message = spec(&verdict, "adds_two_small_numbers")["message"]
        .as_str()
        .unwrap();
    assert!(message.contains("not yet implemented: add"), "{message}");
    assert_eq!(
        verdict["not_run"],
        serde_json::json!(["loom"]),
        "a red answer gains nothing from its loom models"
    );
}

#[test]
fn the_loom_models_run_once_every_normal_spec_passes() {
    let fixture = Fixture::new();
    let spec_file = fixture.root().join("katas/adder/tests/spec.rs");
    let original = fs::read_to_string(&spec_file).unwrap();
    fs::write(
        &spec_file,
        "#[test]\nfn adds_two_small_numbers() {\n    assert_eq!(adder::add(2, 3), Some(5));\n}\n",
    )
    .unwrap();
    fs::write(
        fixture.root().join("katas/adder/src/lib.rs"),
        "pub fn add(a: u32, b: u32) -> Option<u32> {\n    a.checked_add(b)\n}\n",
    )
    .unwrap();
    let green = fixture.xtask(&["check", "adder", "--json"]).json();
    assert_eq!(
        (green["passed"].as_u64(), green["total"].as_u64()),
        (Some(2), Some(2)),
        "the normal spec and the loom model both ran: {green}"
    );
    let model = spec(&green, "adding_is_the_same_in_either_order");
    assert_eq!(model["suite"], "loom");
    assert!(green.get("not_run").is_none(), "{green}");

    // Red again, after a green run: the loom phase may start early, but the
    // verdict is the same as from a cold start.
    fs::write(&spec_file, original).unwrap();
    let red = fixture.xtask(&["check", "adder"]);
    assert_eq!(red.code(), 1);
    assert!(
        red.stdout()
            .contains("not run yet: the loom models run once every spec above passes"),
        "{}",
        red.stdout()
    );
    let red = fixture.xtask(&["check", "adder", "--json"]).json();
    assert_eq!(red["not_run"], serde_json::json!(["loom"]), "{red}");
}

#[test]
fn an_unknown_kata_exits_2_and_suggests_the_closest_name() {
    let fixture = Fixture::new();
    for args in [
        &["check", "addr"][..],
        &["kata", "addr", "--no-watch"],
        &["hint", "addr"],
        &["reset", "addr"],
    ] {
        let run = fixture.xtask(args);
        assert_eq!(run.code(), 2, "`xtask {}` is bad usage", run.args);
        assert!(
            run.stderr().contains("did you mean `adder`?"),
            "{}",
            run.stderr()
        );
        assert!(
            run.stderr().contains("cargo xtask list"),
            "{}",
            run.stderr()
        );
        assert!(!run.stderr().contains("panicked"), "{}", run.stderr());
    }
}

#[test]
fn a_compile_error_is_shown_as_the_compilers_diagnostics() {
    let fixture = Fixture::new();
    fs::write(
        fixture.stub(),
        "pub fn add(a: u32, b: u32) -> Option<u32> { a + }\n",
    )
    .unwrap();
    let run = fixture.xtask(&["check", "adder"]);
    assert_eq!(run.code(), 1);
    let out = run.stdout();
    assert!(out.contains("does not compile"), "{out}");
    assert!(
        out.contains("katas/adder/src/lib.rs"),
        "the diagnostic points into the learner's file: {out}"
    );
    assert!(!run.stderr().contains("panicked"), "{}", run.stderr());
}

#[test]
fn reset_archives_a_committed_attempt_and_restores_the_stub() {
    let fixture = Fixture::new();
    let pristine = fs::read_to_string(fixture.stub()).unwrap();
    let attempt = "pub fn add(a: u32, b: u32) -> Option<u32> { a.checked_add(b) }\n";
    fs::write(fixture.stub(), attempt).unwrap();
    fs::write(
        fixture.root().join("katas/adder/src/extra.rs"),
        "// a module of mine\n",
    )
    .unwrap();
    // The learner committed their attempt: HEAD no longer holds the stub.
    fixture.git(&["add", "-A"]);
    fixture.git(&["commit", "-q", "-m", "my attempt"]);

    let run = fixture.xtask(&["reset", "adder"]);
    run.success();
    assert_eq!(
        fs::read_to_string(fixture.stub()).unwrap(),
        pristine,
        "the stub is pristine again"
    );
    assert!(!fixture.root().join("katas/adder/src/extra.rs").exists());
    let archive = archived_attempts(fixture.root());
    assert_eq!(archive.len(), 1, "one archived attempt");
    assert_eq!(
        fs::read_to_string(archive[0].join("src/lib.rs")).unwrap(),
        attempt
    );
    assert!(
        archive[0].join("src/extra.rs").exists(),
        "every file of the attempt is kept"
    );
    assert!(
        run.stdout().contains(".katas/attempts/adder"),
        "says where it went: {}",
        run.stdout()
    );

    // Resetting a pristine stub archives nothing.
    fixture.xtask(&["reset", "adder"]).success();
    assert_eq!(archived_attempts(fixture.root()).len(), 1);
}

#[test]
fn kata_fresh_keeps_the_old_attempt_and_reports_0_of_n() {
    let fixture = Fixture::new();
    fs::write(
        fixture.stub(),
        "pub fn add(a: u32, b: u32) -> Option<u32> { a.checked_add(b) }\n",
    )
    .unwrap();
    let run = fixture.xtask(&["kata", "adder", "--fresh", "--no-watch"]);
    assert_eq!(run.code(), 1, "the pristine stub fails its spec");
    let out = run.stdout();
    assert!(
        out.contains("Add two numbers without overflowing."),
        "prints the problem: {out}"
    );
    assert!(
        out.contains("katas/adder/src/lib.rs"),
        "names the file to edit: {out}"
    );
    assert!(out.contains("0/4 specs pass"), "{out}");
    assert_eq!(archived_attempts(fixture.root()).len(), 1);
}

#[test]
fn an_edited_spec_is_called_out_and_its_pass_does_not_count() {
    let fixture = Fixture::new();
    let spec = fixture.root().join("katas/adder/tests/spec.rs");
    fs::write(&spec, "#[test]\nfn trivially_true() {}\n").unwrap();
    let run = fixture.xtask(&["check", "adder", "--json"]);
    assert_eq!(
        run.code(),
        1,
        "a pass against a modified spec is not a pass"
    );
    let verdict = run.json();
    assert_eq!(verdict["passed"], 1);
    assert_eq!(verdict["modified_specs"][0], "tests/spec.rs");
}

#[test]
fn hints_come_one_at_a_time_and_are_remembered() {
    let fixture = Fixture::new();
    let first = fixture.xtask(&["hint", "adder"]);
    assert!(
        first.success().stdout().contains("Hint 1/2 Use `+`."),
        "{}",
        first.stdout()
    );
    let second = fixture.xtask(&["hint", "adder"]);
    assert!(
        second.stdout().contains("Hint 2/2 Mind overflow"),
        "{}",
        second.stdout()
    );
    assert!(second.stdout().contains("last hint"));
}

#[test]
fn list_shows_each_kata_with_the_learners_status() {
    let fixture = Fixture::new();
    let before = fixture.xtask(&["list"]);
    assert!(
        before.success().stdout().contains("not started"),
        "{}",
        before.stdout()
    );
    fixture.xtask(&["check", "adder"]);
    let after = fixture.xtask(&["list", "--difficulty", "easy"]);
    assert!(
        after.stdout().contains("0/4 specs pass"),
        "{}",
        after.stdout()
    );
    let none = fixture.xtask(&["list", "--difficulty", "hard"]);
    assert!(
        none.stdout().contains("no kata matches"),
        "{}",
        none.stdout()
    );
    let typo = fixture.xtask(&["list", "--tag", "arithmetc"]);
    assert_eq!(typo.code(), 2);
    assert!(
        typo.stderr().contains("did you mean `arithmetic`?"),
        "{}",
        typo.stderr()
    );
    let track = fixture.xtask(&["list", "--track", "data-structures"]);
    assert!(
        track.success().stdout().contains("adder"),
        "{}",
        track.stdout()
    );
    let track_typo = fixture.xtask(&["list", "--track", "data-structure"]);
    assert_eq!(track_typo.code(), 2);
    assert!(
        track_typo
            .stderr()
            .contains("did you mean `data-structures`?"),
        "{}",
        track_typo.stderr()
    );
}

#[test]
fn verify_reports_every_breach_of_a_kata_that_misses_the_standard() {
    let fixture = Fixture::new();
    let run = fixture.xtask(&["verify", "adder"]);
    assert_eq!(run.code(), 1);
    let out = run.stdout();
    for breach in [
        "the reference fails `a_spec_that_nothing_passes`",
        "the reference fails `adds_zero_without_hanging` (Timeout)",
        "README.md has no `## Requirements` section",
        "wrong/ holds 2 known-wrong answers",
        "the stub compiles with a warning",
        "right/overflowing.rs is a correct answer but fails `a_spec_that_nothing_passes`",
    ] {
        assert!(out.contains(breach), "verify names `{breach}`:\n{out}");
    }
    let caught = out
        .lines()
        .find(|l| l.contains("wrong/wrapping.patch: caught by"))
        .unwrap_or_default();
    // Judging a known-wrong answer stops at its first failing spec: one of
    // the two that a wrapping add fails.
    assert!(
        ["reports_overflow_as_none", "a_spec_that_nothing_passes"]
            .iter()
            .any(|spec| caught.ends_with(&format!("caught by {spec}"))),
        "the wrong answer is caught by one spec it fails, named:\n{out}"
    );
    // A CI log is read from its tail: every breach comes after the list of
    // caught answers, and the last line names the kata that failed.
    let lines: Vec<&str> = out.lines().collect();
    let last_caught = lines.iter().rposition(|l| l.contains(": caught by "));
    let first_breach = lines.iter().position(|l| l.contains("✗ adder:"));
    assert!(
        matches!((last_caught, first_breach), (Some(c), Some(b)) if c < b),
        "the breaches come after the caught answers:\n{out}"
    );
    assert!(out.contains("verify: 0 passed, 1 failed (adder)"), "{out}");
}

/// The gate tries a wrong answer's suites one at a time, `spec` first and
/// loom last, building each only for the answers no earlier suite caught:
/// an answer only the loom models catch must still be caught.
#[test]
fn verify_catches_a_wrong_answer_that_only_the_loom_suite_fails() {
    let fixture = Fixture::new();
    let kata = fixture.root().join("katas/adder");
    // A spec that the reference and every answer below pass but for their
    // own bug, so that nothing else fails first.
    fs::write(
        kata.join("tests/spec.rs"),
        r#"#[cfg(feature = "solution")]
use adder_solution as subject;
#[cfg(not(feature = "solution"))]
use adder as subject;

#[test]
fn adds_two_small_numbers() {
    assert_eq!(subject::add(2, 3), Some(5));
}
"#,
    )
    .unwrap();
    fs::write(
        kata.join("wrong/one_more_when_the_first_is_larger.rs"),
        r#"//! Wrong: one too many when the first number is the larger.
//!
//! Why candidates write it: a carry from a loop over the digits.
//!
//! Symptom: a + b and b + a differ.
//!
//! Whole file: a fixture of the CLI's tests.
pub fn add(a: u32, b: u32) -> Option<u32> {
    a.checked_add(b).map(|sum| if a > b { sum + 1 } else { sum })
}
"#,
    )
    .unwrap();
    fixture.xtask(&["bless", "adder"]).success();
    let out = fixture.xtask(&["verify", "adder"]).stdout();
    assert!(
        out.contains("wrong/plus_one.patch: caught by adds_two_small_numbers"),
        "{out}"
    );
    assert!(
        out.contains(
            "wrong/one_more_when_the_first_is_larger.rs: caught by adding_is_the_same_in_either_order"
        ),
        "the answer only the loom suite fails is caught there:\n{out}"
    );
}

#[test]
fn new_scaffolds_a_kata_that_compiles_and_verify_lists_what_is_left_to_write() {
    let mut fixture = Fixture::new();
    fixture.target = shared_target_dir();
    let run = fixture.xtask(&[
        "new",
        "demo-kata",
        "--title",
        "Demo",
        "--difficulty",
        "hard",
        "--track",
        "concurrency",
        "--tags",
        "a,b",
    ]);
    run.success();
    let kata = fixture.root().join("katas/demo-kata");
    for file in [
        "Cargo.toml",
        "README.md",
        "src/lib.rs",
        "src/sync.rs",
        "tests/spec.rs",
        "tests/loom.rs",
        "benches/demo-kata.rs",
        "wrong/lost_update.patch",
        "pristine.lock",
    ] {
        assert!(
            kata.join(file).is_file(),
            "new writes katas/demo-kata/{file}"
        );
    }
    assert!(
        fixture
            .root()
            .join("solutions/demo-kata/src/lib.rs")
            .is_file()
    );

    let listed = fixture.xtask(&["list", "--tag", "b"]);
    assert!(
        listed.stdout().contains("demo-kata  Demo"),
        "{}",
        listed.stdout()
    );
    assert!(listed.stdout().contains("hard"), "{}", listed.stdout());

    let verify = fixture.xtask(&["verify", "demo-kata"]);
    assert_eq!(
        verify.code(),
        1,
        "a new kata is not done:\n{}",
        verify.stdout()
    );
    let out = verify.stdout();
    assert!(
        !out.contains("does not compile"),
        "the scaffold compiles:\n{out}"
    );
    for missing in [
        "still to write: katas/demo-kata/README.md:",
        "still to write: katas/demo-kata/Cargo.toml:",
        "still to write: katas/demo-kata/tests/spec.rs:",
        "still to write: solutions/demo-kata/src/lib.rs:",
        "wrong/ holds 1 known-wrong answers",
    ] {
        assert!(out.contains(missing), "verify lists `{missing}`:\n{out}");
    }
    assert!(
        out.contains("wrong/lost_update.patch: caught by"),
        "the example wrong answer is caught:\n{out}"
    );
}

#[test]
fn new_refuses_a_slug_that_is_not_kebab_case_and_writes_nothing() {
    let fixture = Fixture::new();
    for slug in ["DemoKata", "demo_kata", "demo--kata", "test"] {
        let run = fixture.xtask(&["new", slug]);
        assert_eq!(run.code(), 2, "`new {slug}` is refused");
        assert!(
            run.stderr().contains("nothing was written"),
            "{}",
            run.stderr()
        );
    }
    let katas: Vec<_> = fs::read_dir(fixture.root().join("katas"))
        .unwrap()
        .collect();
    assert_eq!(katas.len(), 1, "only adder is there");
    assert!(!fixture.root().join("solutions/DemoKata").exists());
}

#[test]
fn new_refuses_a_kata_that_exists() {
    let fixture = Fixture::new();
    let before = fs::read_to_string(fixture.stub()).unwrap();
    let run = fixture.xtask(&["new", "adder"]);
    assert_eq!(run.code(), 2);
    assert!(run.stderr().contains("already exists"), "{}", run.stderr());
    assert_eq!(
        fs::read_to_string(fixture.stub()).unwrap(),
        before,
        "the existing kata is untouched"
    );
}

#[test]
fn a_kata_pack_is_listed_with_its_origin_and_judged_by_the_same_gate() {
    let fixture = Fixture::new();
    let pack = fixture.pack();
    let pack_arg = pack.path().to_str().unwrap();

    let listed = fixture.xtask(&["list", "--pack", pack_arg]);
    let out = listed.success().stdout();
    let greeter = out
        .lines()
        .find(|l| l.starts_with("greeter"))
        .unwrap_or_else(|| panic!("greeter listed:\n{out}"));
    assert!(
        greeter.contains("pack "),
        "its origin is the pack: {greeter}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("adder") && l.contains("built-in")),
        "{out}"
    );

    let reference = fixture.xtask(&[
        "--pack",
        pack_arg,
        "check",
        "greeter",
        "--solution",
        "--json",
    ]);
    assert_eq!(reference.code(), 0, "{}", reference.stderr());
    assert_eq!(reference.json()["passed"], 2);

    let gate = fixture.xtask(&["--pack", pack_arg, "verify", "greeter"]);
    assert_eq!(gate.code(), 1, "the pack's kata misses the standard");
    let out = gate.stdout();
    assert!(
        out.contains("2/2 pass") && out.contains("2/2 fail"),
        "reference and stub judged:\n{out}"
    );
    assert!(out.contains("README.md has no `## API` section"), "{out}");

    // Two katas are judged side by side; the report keeps the order given.
    let both = fixture.xtask(&["--pack", pack_arg, "verify", "greeter", "adder"]);
    let out = both.stdout();
    for slug in ["greeter", "adder"] {
        assert!(
            out.lines()
                .any(|l| l.starts_with("verify [") && l.contains(&format!("] {slug}: "))),
            "a line for {slug} as it finishes:\n{out}"
        );
    }
    assert!(
        out.contains("verify: 0 passed, 2 failed (greeter, adder)"),
        "{out}"
    );

    let unknown = fixture.xtask(&["--pack", "/nonexistent/pack", "list"]);
    assert_eq!(unknown.code(), 2);
    assert!(
        unknown.stderr().contains("is not a kata pack"),
        "{}",
        unknown.stderr()
    );
}

#[test]
fn a_slug_defined_by_the_repository_and_a_pack_is_an_error_naming_both() {
    let fixture = Fixture::new();
    let twin = Fixture::new();
    let run = fixture.xtask(&["--pack", twin.root().to_str().unwrap(), "list"]);
    assert_eq!(run.code(), 2);
    assert!(
        run.stderr().contains("the kata `adder` is defined twice"),
        "{}",
        run.stderr()
    );
}

#[test]
fn wrong_shows_each_known_wrong_answer_with_its_bug_and_what_catches_it() {
    let fixture = Fixture::new();
    let run = fixture.xtask(&["wrong", "adder"]);
    assert_eq!(
        run.code(),
        0,
        "every wrong answer is caught:\n{}",
        run.stdout()
    );
    let out = run.stdout();
    assert!(
        out.contains("wrong/wrapping.patch Bug: wraps around on overflow"),
        "the bug, from its header:\n{out}"
    );
    assert!(
        out.contains("symptom: a balance of 4294967295 plus 1 shows as 0."),
        "{out}"
    );
    assert!(out.contains("adder · this wrong answer"), "{out}");
    assert!(
        out.contains("reports_overflow_as_none"),
        "the spec that catches it:\n{out}"
    );
    // Two answers, two different bugs, judged one after the other: each by
    // its own build (scratch crates of one kata must not share a binary).
    let catchers = |name: &str| {
        out.lines()
            .skip_while(|l| !l.starts_with(&format!("wrong/{name}.patch")))
            .find(|l| l.contains("also failing") || l.contains("✗"))
            .map(str::to_owned)
            .unwrap_or_default()
    };
    assert!(
        catchers("plus_one").contains("adds_two_small_numbers"),
        "plus_one is caught by its own spec:\n{out}"
    );
    assert!(
        !catchers("wrapping").contains("adds_two_small_numbers"),
        "wrapping adds two small numbers right:\n{out}"
    );
    let typo = fixture.xtask(&["wrong", "adder", "wraping"]);
    assert_eq!(typo.code(), 2);
    assert!(
        typo.stderr().contains("did you mean `wrapping`?"),
        "{}",
        typo.stderr()
    );
}

#[test]
fn wrong_shows_the_buggy_file_and_the_patch_and_repeats_its_verdict() {
    let fixture = Fixture::new();
    let show = fixture.xtask(&["wrong", "adder", "wrapping", "--show"]);
    let out = show.success().stdout();
    assert!(out.contains("// src/lib.rs"), "{out}");
    assert!(
        out.contains("    Some(a.wrapping_add(b))\n}"),
        "the reference with the bug in it:\n{out}"
    );
    assert!(!out.contains("checked_add"), "{out}");

    let diff = fixture.xtask(&["wrong", "adder", "wrapping.patch", "--diff"]);
    let out = diff.success().stdout();
    assert!(
        out.contains("-    a.checked_add(b)\n+    Some(a.wrapping_add(b))"),
        "{out}"
    );

    let repeat = fixture.xtask(&["wrong", "adder", "--repeat", "3"]);
    let out = repeat.success().stdout();
    let line = out
        .lines()
        .find(|l| l.contains("wrong/wrapping.patch: caught in 3/3 runs (by "))
        .unwrap_or_else(|| panic!("caught in every run:\n{out}"));
    // Each run stops at the first failing spec: one a wrapping add fails.
    assert!(
        line.contains("reports_overflow_as_none") || line.contains("a_spec_that_nothing_passes"),
        "{line}"
    );
}

#[test]
fn a_patch_the_reference_has_moved_away_from_fails_verify_naming_its_hunk() {
    let fixture = Fixture::new();
    let reference = fixture.root().join("solutions/adder/src/lib.rs");
    let text = fs::read_to_string(&reference).unwrap();
    fs::write(
        &reference,
        text.replace("a.checked_add(b)", "b.checked_add(a)"),
    )
    .unwrap();
    let run = fixture.xtask(&["verify", "adder"]);
    assert_eq!(run.code(), 1);
    assert!(
        run.stdout().contains(
            "wrong/wrapping.patch no longer applies to the reference: src/lib.rs: hunk #1 (@@ -7,5 +7,5 @@) does not match"
        ),
        "{}",
        run.stdout()
    );
    let judged = fixture.xtask(&["wrong", "adder"]);
    assert_eq!(judged.code(), 2, "a stale patch cannot be judged");
    assert!(judged.stderr().contains("hunk #1"), "{}", judged.stderr());
}

#[test]
fn two_clones_sharing_one_target_directory_each_judge_their_own_files() {
    let solved = Fixture::new();
    let untouched = Fixture::new();
    fs::write(
        solved.stub(),
        "pub fn add(a: u32, b: u32) -> Option<u32> {\n    a.checked_add(b)\n}\n",
    )
    .unwrap();
    let shared = tempfile::tempdir().unwrap();
    let passed = |clone: &Fixture, via_cargo: bool| -> u64 {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"));
        cmd.args(["check", "adder", "--json"])
            .env_remove("BACKEND_KATAS_ROOT")
            .env_remove("BACKEND_KATAS_PACKS")
            .env("CARGO_TARGET_DIR", shared.path())
            .env("NO_COLOR", "1");
        if via_cargo {
            // What `cargo run` sets at run time in this clone.
            cmd.env("CARGO_MANIFEST_DIR", clone.root().join("xtask"))
                .current_dir(clone.root());
        } else {
            cmd.env_remove("CARGO_MANIFEST_DIR")
                .current_dir(clone.root().join("katas/adder/src"));
        }
        let output = cmd.output().unwrap();
        let line = String::from_utf8_lossy(&output.stdout);
        let verdict: serde_json::Value = serde_json::from_str(line.lines().next().unwrap_or(""))
            .unwrap_or_else(|e| panic!("{e}: {line}\n{}", String::from_utf8_lossy(&output.stderr)));
        verdict["passed"].as_u64().unwrap()
    };
    for clone in [&solved, &untouched] {
        fs::create_dir_all(clone.root().join("xtask")).unwrap();
    }
    for via_cargo in [true, false] {
        assert_eq!(passed(&solved, via_cargo), 3, "the solved clone's own stub");
        assert_eq!(passed(&untouched, via_cargo), 0, "the other clone's stub");
        assert_eq!(passed(&solved, via_cargo), 3, "and back");
    }
}

/// Taking a kata back from another checkout rebuilds that kata only: the
/// gate judges katas side by side, and one's test binaries (`spec-*`, named
/// like every kata's) must not vanish while the other reclaims its own.
#[test]
fn reclaiming_a_kata_from_another_checkout_leaves_the_other_katas_binaries() {
    let fixture = Fixture::new();
    let pack = fixture.pack();
    let pack_arg = pack.path().to_str().unwrap();
    let greeter = fixture.xtask(&["--pack", pack_arg, "check", "greeter", "--solution"]);
    assert_eq!(greeter.code(), 0, "{}", greeter.stdout());
    let binaries = |prefix: &str| -> Vec<std::path::PathBuf> {
        walk(&fixture.target.join("debug/deps"))
            .into_iter()
            .filter(|p| {
                let name = p.file_name().unwrap().to_string_lossy();
                name.starts_with(prefix) && p.extension().is_none()
            })
            .collect()
    };
    let before = binaries("spec-");
    assert!(!before.is_empty(), "greeter's spec binary was built");
    let marker = fixture.target.join("xtask/built-from/adder");
    fs::create_dir_all(marker.parent().unwrap()).unwrap();
    fs::write(&marker, "/another/checkout").unwrap();
    fixture.xtask(&["check", "adder"]);
    for binary in before {
        assert!(
            binary.exists(),
            "{} is gone after adder was reclaimed",
            binary.display()
        );
    }
}

#[test]
fn outside_a_checkout_the_cli_says_where_to_run_it() {
    let nowhere = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("list")
        .env_remove("BACKEND_KATAS_ROOT")
        .env_remove("CARGO_MANIFEST_DIR")
        .current_dir(nowhere.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.contains("is not inside a backend-katas checkout"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}
