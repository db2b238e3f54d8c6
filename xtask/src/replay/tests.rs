use super::recording::{Invocation, dep_info_sources, edited_and_downstream, waves};
use super::*;

/// A unit of package `dir` as Cargo would invoke rustc for it.
fn unit(name: &str, dir: &str, test: bool, externs: &[&str]) -> Unit {
    let mut args = vec!["--crate-name".to_owned(), name.to_owned()];
    if test {
        args.push("--test".to_owned());
    } else {
        args.extend(["--crate-type", "lib"].map(str::to_owned));
    }
    args.extend(["--out-dir", "/t/deps", "-C", "extra-filename=-h"].map(str::to_owned));
    for dep in externs {
        args.extend([
            "--extern".to_owned(),
            format!("{dep}=/t/deps/lib{dep}-h.rlib"),
        ]);
    }
    let env = [
        ("CARGO_MANIFEST_DIR", dir),
        ("CARGO_PKG_NAME", name),
        ("CARGO_PKG_VERSION", "0.1.0"),
    ];
    Unit::parse(Invocation {
        rustc: "rustc".to_owned(),
        args,
        env: env.map(|(k, v)| (k.to_owned(), v.to_owned())).to_vec(),
        cwd: PathBuf::from("/"),
    })
    .expect("a unit")
}

fn names(waves: &[Vec<Unit>]) -> Vec<Vec<String>> {
    waves
        .iter()
        .map(|wave| wave.iter().map(|u| u.invocation.args[1].clone()).collect())
        .collect()
}

#[test]
fn a_replay_rebuilds_the_edited_libraries_and_what_takes_them_in_order() {
    // Solution mode: the spec takes the kata's library, which takes the
    // reference's; spec-probes only serves the spec.
    let units = vec![
        unit(
            "spec",
            "/w/katas/k",
            true,
            &["k", "spec_probes", "k_solution"],
        ),
        unit("spec_probes", "/w/support/probes", false, &[]),
        unit("k", "/w/katas/k", false, &["k_solution"]),
        unit("k_solution", "/w/solutions/k", false, &[]),
    ];
    let kept = edited_and_downstream(units, Path::new("/w/katas/k")).expect("the kata's lib");
    let waves = waves(kept).expect("no cycle");
    assert_eq!(
        names(&waves),
        vec![vec!["k_solution"], vec!["k"], vec!["spec"]]
    );
}

#[test]
fn a_build_that_compiled_none_of_the_package_is_not_replayable() {
    let units = vec![unit("spec", "/w/katas/k", true, &["k"])];
    assert!(edited_and_downstream(units, Path::new("/w/katas/k")).is_none());
}

#[test]
fn dep_info_lists_the_sources_with_their_escaped_spaces() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("spec-h.d");
    fs::write(
        &file,
        "/t/deps/spec-h: tests/spec.rs tests/my\\ cases.rs\n\ntests/spec.rs:\n",
    )
    .unwrap();
    assert_eq!(
        dep_info_sources(&file, Path::new("/w")),
        vec![
            PathBuf::from("/w/tests/spec.rs"),
            PathBuf::from("/w/tests/my cases.rs")
        ]
    );
    assert!(dep_info_sources(&dir.path().join("absent.d"), Path::new("/w")).is_empty());
}

#[test]
fn rustc_lines_are_read_as_cargo_reports_them() {
    let diagnostic = |code: &str, message: &str, spans: &str| {
        format!(
            r#"{{"$message_type":"diagnostic","message":"{message}","code":{code},"level":"error","spans":{spans},"rendered":"\u001b[1merror\u001b[0m: {message}\n"}}"#
        )
    };
    match said(
        &diagnostic("null", "mismatched types", "[{}]"),
        "lib",
        false,
    ) {
        Said::Diagnostic(d) => {
            assert_eq!(d.rendered, "error: mismatched types\n", "no colours asked");
            assert_eq!((d.level.as_str(), d.target_kind.as_str()), ("error", "lib"));
        }
        other => panic!("{other:?}"),
    }
    match said(
        &diagnostic("null", "mismatched types", "[{}]"),
        "test",
        true,
    ) {
        Said::Diagnostic(d) => assert!(d.rendered.contains('\u{1b}'), "colours asked"),
        other => panic!("{other:?}"),
    }
    let summary = diagnostic("null", "aborting due to 1 previous error", "[]");
    assert!(matches!(said(&summary, "lib", false), Said::Nothing));
    let stale = diagnostic(
        r#"{"code":"E0514","explanation":null}"#,
        "found crate",
        "[]",
    );
    assert!(matches!(said(&stale, "test", false), Said::AboutTheBuild));
    let artifact = r#"{"$message_type":"artifact","artifact":"/t/x.rmeta","emit":"metadata"}"#;
    assert!(matches!(said(artifact, "lib", false), Said::Nothing));
    assert!(matches!(
        said("thread 'rustc' panicked", "lib", false),
        Said::AboutTheBuild
    ));
}

/// A workspace of its own, built for real: the `demo` library, its spec
/// suite, and `helper`, a workspace crate only the spec uses.
struct Demo {
    dir: tempfile::TempDir,
}

const DEMO_MANIFEST: &str = "[package]\nname = \"demo\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
    [dev-dependencies]\nhelper = { path = \"helper\" }\n\n[workspace]\nmembers = [\"helper\"]\n";

const HELPER_MANIFEST: &str =
    "[package]\nname = \"helper\"\nversion = \"0.1.0\"\nedition = \"2021\"\n";

impl Demo {
    fn new() -> Self {
        let demo = Demo {
            dir: tempfile::tempdir().unwrap(),
        };
        demo.write("Cargo.toml", DEMO_MANIFEST);
        demo.write("src/lib.rs", "pub fn answer() -> u32 { 42 }\n");
        demo.write(
            "tests/spec.rs",
            "#[test]\nfn the_answer() { assert_eq!(demo::answer(), helper::expected()); }\n",
        );
        demo.write("helper/Cargo.toml", HELPER_MANIFEST);
        demo.write(
            "helper/src/lib.rs",
            "pub fn expected() -> u32 { if cfg!(feature = \"x\") { 0 } else { 42 } }\n",
        );
        // Cargo writes the lock file on a first build: then that build
        // is not recorded (see `settle`).
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let locked = std::process::Command::new(cargo)
            .args(["generate-lockfile", "--offline", "--quiet"])
            .current_dir(demo.dir.path())
            .status()
            .unwrap();
        assert!(locked.success());
        demo.settle();
        demo
    }

    fn write(&self, file: &str, text: &str) {
        let path = self.dir.path().join(file);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    /// A build records only what was not written during it, nor a second
    /// before it started (see `Recording::load`).
    fn settle(&self) {
        thread::sleep(std::time::Duration::from_millis(1100));
    }

    fn request(&self) -> BuildRequest {
        BuildRequest {
            manifest: self.dir.path().join("Cargo.toml"),
            packages: vec!["demo".to_owned()],
            features: Vec::new(),
            suites: vec!["spec".to_owned()],
            loom: false,
            target_dir: self.dir.path().join("target"),
            color: false,
        }
    }

    /// Builds, and runs the spec if it built: `Ok(passed)`, or the
    /// compiler's errors.
    fn check(&self, replays: &Replays) -> Result<bool, String> {
        match self.request().run(&|_| {}, Some(replays)).unwrap() {
            BuildOutcome::Failed(errors) => Err(errors),
            BuildOutcome::Built { executables, .. } => {
                let [exe] = executables.as_slice() else {
                    panic!("one spec suite, got {executables:?}");
                };
                Ok(std::process::Command::new(&exe.path)
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .status()
                    .unwrap()
                    .success())
            }
        }
    }

    /// What the recordings on disk hold.
    fn recordings(&self) -> String {
        let dir = self.dir.path().join("target/xtask/rustc-record");
        let mut text = String::new();
        for entry in fs::read_dir(dir).unwrap() {
            text.push_str(
                &fs::read_to_string(entry.unwrap().path().join(RECORDING_FILE)).unwrap_or_default(),
            );
        }
        text
    }
}

/// Cargo calls the xtask binary as rustc's wrapper; `cargo test -p
/// xtask` builds it beside this test binary, for the CLI's tests.
fn replays() -> Replays {
    let deps = std::env::current_exe().unwrap();
    let wrapper = deps
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .join(format!("xtask{}", std::env::consts::EXE_SUFFIX));
    assert!(
        wrapper.exists(),
        "{} is built by `cargo test -p xtask`",
        wrapper.display()
    );
    Replays {
        wrapper: Some(wrapper),
        ..Replays::default()
    }
}

#[test]
fn a_replay_judges_each_edit_of_the_library_as_cargo_would() {
    let demo = Demo::new();
    let replays = replays();
    assert_eq!(demo.check(&replays), Ok(true));
    assert_eq!(
        replays.replayed(),
        0,
        "the first build is Cargo's, recorded"
    );

    demo.write("src/lib.rs", "pub fn answer() -> u32 { 41 }\n");
    assert_eq!(demo.check(&replays), Ok(false));
    demo.write("src/lib.rs", "pub fn answer() -> u32 { \"42\" }\n");
    let errors = demo.check(&replays).expect_err("a type error");
    assert!(errors.contains("mismatched types"), "{errors}");
    assert!(!errors.contains("aborting due to"), "{errors}");
    demo.write(
        "src/lib.rs",
        "mod more;\npub fn answer() -> u32 { more::FORTY_TWO }\n",
    );
    demo.write("src/more.rs", "pub const FORTY_TWO: u32 = 42;\n");
    assert_eq!(demo.check(&replays), Ok(true));
    assert_eq!(replays.replayed(), 3, "every edit of the library's sources");

    // A later process finds the recording on disk, which keeps none of
    // the environment's values.
    let next = replays.clone_fresh();
    demo.write("src/more.rs", "pub const FORTY_TWO: u32 = 24;\n");
    assert_eq!(demo.check(&next), Ok(false));
    assert_eq!(next.replayed(), 1);
    let home = std::env::var("HOME").unwrap();
    assert!(!demo.recordings().contains(&format!("\"{home}\"")));
}

#[test]
fn what_cargo_decides_on_goes_back_through_cargo() {
    let demo = Demo::new();
    let replays = replays();
    assert_eq!(demo.check(&replays), Ok(true));
    let edits: [(&str, &str, bool); 4] = [
        // The package's manifest.
        ("Cargo.toml", &DEMO_MANIFEST.replace("0.1.0", "0.2.0"), true),
        // The spec suite.
        (
            "tests/spec.rs",
            "#[test]\nfn the_answer() { assert_eq!(demo::answer(), 42 + helper::expected()); }\n",
            false,
        ),
        // A workspace crate the recording did not rebuild: its features.
        (
            "helper/Cargo.toml",
            &format!("{HELPER_MANIFEST}\n[features]\ndefault = [\"x\"]\nx = []\n"),
            true,
        ),
        // A binary appearing beside the library: `cargo test` builds it.
        (
            "src/main.rs",
            "fn main() { let _: u32 = \"not a number\"; }\n",
            false,
        ),
    ];
    for (file, text, passes) in edits {
        demo.write(file, text);
        let replayed = replays.replayed();
        let verdict = demo.check(&replays);
        assert_eq!(replays.replayed(), replayed, "{file} went through Cargo");
        if file == "src/main.rs" {
            assert!(verdict.is_err(), "the binary does not compile");
            fs::remove_file(demo.dir.path().join(file)).unwrap();
            demo.check(&replays).unwrap();
        } else {
            assert_eq!(verdict, Ok(passes), "after {file}");
        }
        // That build compiled what changed, not always the library (then
        // it is not recorded): one more goes through Cargo, recorded.
        demo.settle();
        demo.write("src/lib.rs", "pub fn answer() -> u32 { 42 }\n");
        demo.check(&replays).unwrap();
        demo.write("src/lib.rs", "pub fn answer() -> u32 { 42 } // replayed\n");
        let replayed = replays.replayed();
        demo.check(&replays).unwrap();
        assert_eq!(
            replays.replayed(),
            replayed + 1,
            "recorded again after {file}"
        );
    }
}

#[test]
fn a_file_written_while_cargo_builds_is_not_taken_as_what_it_read() {
    let demo = Demo::new();
    let replays = replays();
    // Written within the second before the build: Cargo may have read the
    // manifest before the write, so the build is not recorded, though it
    // compiled the library.
    demo.write("Cargo.toml", &format!("{DEMO_MANIFEST}# edited\n"));
    demo.write("src/lib.rs", "pub fn answer() -> u32 { 43 }\n");
    assert_eq!(demo.check(&replays), Ok(false));
    demo.write("src/lib.rs", "pub fn answer() -> u32 { 41 }\n");
    assert_eq!(demo.check(&replays), Ok(false));
    assert_eq!(replays.replayed(), 0);
    demo.settle();
    for answer in [42, 41, 42] {
        demo.write(
            "src/lib.rs",
            &format!("pub fn answer() -> u32 {{ {answer} }}\n"),
        );
        assert_eq!(demo.check(&replays), Ok(answer == 42));
    }
    assert!(
        replays.replayed() >= 1,
        "recorded once the manifest was old"
    );
}

#[test]
fn cargo_rebuilds_what_a_replay_built_even_from_older_sources() {
    let demo = Demo::new();
    let replays = replays();
    assert_eq!(demo.check(&replays), Ok(true));
    let lib = demo.dir.path().join("src/lib.rs");
    let first = fs::metadata(&lib).unwrap().modified().unwrap();
    demo.write("src/lib.rs", "pub fn answer() -> u32 { 41 }\n");
    assert_eq!(demo.check(&replays), Ok(false));
    assert_eq!(replays.replayed(), 1);
    // The first source back with its first modification time (`cp -p`),
    // and an edit of the spec suite, which sends the next build through
    // Cargo: by the times it compares, the library is what it last built.
    demo.write("src/lib.rs", "pub fn answer() -> u32 { 42 }\n");
    fs::File::options()
        .append(true)
        .open(&lib)
        .unwrap()
        .set_modified(first)
        .unwrap();
    demo.write(
        "tests/spec.rs",
        "#[test]\nfn the_answer() { assert_eq!(helper::expected(), demo::answer()); }\n",
    );
    assert_eq!(demo.check(&replays), Ok(true));
    assert_eq!(replays.replayed(), 1);
}

#[test]
fn a_replay_waits_its_turn_behind_a_cargo_build() {
    let demo = Demo::new();
    let replays = replays();
    assert_eq!(demo.check(&replays), Ok(true));
    let lock = fs::File::open(demo.dir.path().join("target/debug/.cargo-lock")).unwrap();
    lock.lock().unwrap();
    demo.write("src/lib.rs", "pub fn answer() -> u32 { 41 }\n");
    // Cargo would block on the lock: the build is left to it, in a
    // thread that lets go of the lock once Cargo waits.
    let released = thread::scope(|scope| {
        let check = scope.spawn(|| demo.check(&replays));
        thread::sleep(std::time::Duration::from_millis(500));
        lock.unlock().unwrap();
        check.join().unwrap()
    });
    assert_eq!(released, Ok(false));
    assert_eq!(replays.replayed(), 0);
}
