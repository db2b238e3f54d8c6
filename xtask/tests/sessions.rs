//! Interviews, the history and the stats page, end to end on copies of the
//! fixture workspace and pack (see `common`). `greeter`, the pack's kata, is
//! the subject: two specs, both within reach of a correct answer.

mod common;

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

const GREETER: &str = r#"pub fn greet(name: &str) -> String {
    if name.is_empty() { "Hello, stranger!".to_owned() } else { format!("Hello, {name}!") }
}
"#;

/// The lines a child prints, as they come.
fn lines(child: &mut Child) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().expect("piped stdout");
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits for a line containing `needle`, returning everything seen.
fn wait_for(rx: &mpsc::Receiver<String>, needle: &str, within: Duration) -> String {
    let deadline = Instant::now() + within;
    let mut seen = String::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(line) => {
                seen.push_str(&line);
                seen.push('\n');
                if line.contains(needle) {
                    return seen;
                }
            }
            Err(_) => break,
        }
    }
    panic!("no line with `{needle}` within {within:?}; saw:\n{seen}");
}

fn wait_exit(child: &mut Child, within: Duration) -> i32 {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().expect("waiting for the child") {
            return status.code().unwrap_or(-1);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the process did not end within {within:?}");
        }
        thread::sleep(Duration::from_millis(50));
    }
}

fn stats(fixture: &Fixture, pack: &Path) -> Value {
    let run = fixture.xtask(&["--pack", pack.to_str().unwrap(), "stats", "--json"]);
    serde_json::from_str(&run.success().stdout()).expect("stats --json prints JSON")
}

fn sessions_of<'a>(stats: &'a Value, kata: &str) -> Vec<&'a Value> {
    stats["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["kata"] == kata)
        .collect()
}

/// The real `interview` on the pack's greeter kata, its stdin a pipe (for
/// `q`) and its output read line by line.
fn interview(fixture: &Fixture, pack: &Path, args: &[&str]) -> (Child, mpsc::Receiver<String>) {
    let mut command = vec!["--pack", pack.to_str().expect("a UTF-8 path"), "interview"];
    command.extend_from_slice(args);
    let mut child = fixture
        .command(&command)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the interview starts");
    let out = lines(&mut child);
    (child, out)
}

#[test]
fn an_interview_solved_mid_session_ends_solved_and_is_recorded() {
    let fixture = Fixture::new();
    let pack = fixture.pack();
    let (mut child, out) = interview(
        &fixture,
        pack.path(),
        &["--kata", "greeter", "--minutes", "2"],
    );
    let brief = wait_for(&out, "0/2 specs pass", Duration::from_secs(120));
    assert!(brief.contains("Mock interview · 2 minutes"), "{brief}");
    assert!(
        brief.contains("Greet people."),
        "the problem is shown:\n{brief}"
    );
    assert!(
        !brief.contains("Greeter"),
        "the kata's title is not given away:\n{brief}"
    );

    // The candidate writes a correct answer; the save ends the session.
    fs::write(pack.path().join("katas/greeter/src/lib.rs"), GREETER).unwrap();
    let code = wait_exit(&mut child, Duration::from_secs(120));
    let report: Vec<String> = out.try_iter().collect();
    let report = report.join("\n");
    assert_eq!(code, 0, "a solved interview exits 0:\n{report}");
    assert!(report.contains("Interview over: solved"), "{report}");
    assert!(report.contains("specs passed   2/2"), "{report}");
    assert!(
        report.contains("The interviewer's follow-up questions"),
        "{report}"
    );
    assert!(report.contains("The reference solution:"), "{report}");

    let stats = stats(&fixture, pack.path());
    let interviews: Vec<&Value> = sessions_of(&stats, "greeter")
        .into_iter()
        .filter(|s| s["kind"] == "interview")
        .collect();
    assert_eq!(interviews.len(), 1, "{stats:#}");
    assert_eq!(interviews[0]["outcome"], "solved");
    assert_eq!(interviews[0]["passed"], 2);
    assert!(
        interviews[0]["score"].as_i64().unwrap() >= 80,
        "{:#}",
        interviews[0]
    );
    let greeter = stats["katas"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kata"] == "greeter")
        .unwrap();
    assert_eq!(greeter["solved"], 1);
    assert!(
        greeter["next_review"].is_u64(),
        "a review is scheduled: {greeter:#}"
    );
}

#[test]
fn an_interview_killed_mid_session_shows_as_abandoned_next_time() {
    let fixture = Fixture::new();
    let pack = fixture.pack();
    let (mut child, out) = interview(
        &fixture,
        pack.path(),
        &["--kata", "greeter", "--minutes", "5"],
    );
    wait_for(&out, "specs pass", Duration::from_secs(120));
    child.kill().expect("kill -9");
    child.wait().unwrap();

    let stats = stats(&fixture, pack.path());
    let interview = sessions_of(&stats, "greeter")
        .into_iter()
        .find(|s| s["kind"] == "interview")
        .cloned();
    assert_eq!(interview.expect("recorded")["outcome"], "abandoned");
}

#[test]
fn quitting_an_interview_with_q_records_it_as_abandoned_and_keeps_the_attempt() {
    let fixture = Fixture::new();
    let pack = fixture.pack();
    let (mut child, out) = interview(&fixture, pack.path(), &["--kata", "greeter"]);
    wait_for(&out, "specs pass", Duration::from_secs(120));
    let attempt = "pub fn greet(name: &str) -> String { format!(\"Hi {name}\") }\n";
    fs::write(pack.path().join("katas/greeter/src/lib.rs"), attempt).unwrap();
    wait_for(&out, "specs pass", Duration::from_secs(60));
    writeln!(child.stdin.as_mut().unwrap(), "q").unwrap();
    assert_eq!(wait_exit(&mut child, Duration::from_secs(30)), 1);
    assert_eq!(
        fs::read_to_string(pack.path().join("katas/greeter/src/lib.rs")).unwrap(),
        attempt
    );
    let stats = stats(&fixture, pack.path());
    let interview = sessions_of(&stats, "greeter")
        .into_iter()
        .find(|s| s["kind"] == "interview")
        .cloned();
    assert_eq!(interview.expect("recorded")["outcome"], "abandoned");
}

fn stress(fixture: &Fixture, count: &str) -> Child {
    fixture
        .command(&["__stress-history", count])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the stress writer starts")
}

fn integrity(db: &Path) -> String {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn a_kill_in_the_middle_of_writes_leaves_the_history_whole() {
    let fixture = Fixture::new();
    let mut writer = stress(&fixture, "1000000");
    let out = lines(&mut writer);
    wait_for(&out, "started", Duration::from_secs(60));
    thread::sleep(Duration::from_millis(300));
    writer.kill().expect("kill -9 mid-write");
    writer.wait().unwrap();

    let db = fixture.root().join(".katas/history.db");
    assert_eq!(integrity(&db), "ok");
    let stats = fixture.xtask(&["stats", "--json"]);
    let stats: Value = serde_json::from_str(&stats.success().stdout()).unwrap();
    let recorded = sessions_of(&stats, "stress");
    assert!(!recorded.is_empty());
    assert!(
        recorded
            .iter()
            .all(|s| s["outcome"] != "running" && s["total"] == 10),
        "every recorded check is whole"
    );
}

#[test]
fn two_processes_writing_at_once_both_succeed_and_lose_nothing() {
    let fixture = Fixture::new();
    let mut writers = [stress(&fixture, "300"), stress(&fixture, "300")];
    for writer in &mut writers {
        let code = wait_exit(writer, Duration::from_secs(120));
        let mut err = String::new();
        use std::io::Read;
        writer
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        assert_eq!(code, 0, "a writer failed: {err}");
    }
    let stats = fixture.xtask(&["stats", "--json"]);
    let stats: Value = serde_json::from_str(&stats.success().stdout()).unwrap();
    assert_eq!(sessions_of(&stats, "stress").len(), 600);
}

#[test]
fn a_foreign_file_at_the_history_path_is_an_error_naming_it() {
    let fixture = Fixture::new();
    let db = fixture.root().join(".katas/history.db");
    fs::create_dir_all(db.parent().unwrap()).unwrap();
    fs::write(&db, "not a database at all\n".repeat(200)).unwrap();
    let run = fixture.xtask(&["stats"]);
    assert_eq!(run.code(), 2);
    assert!(
        run.stderr().contains(".katas/history.db"),
        "{}",
        run.stderr()
    );
    assert!(run.stderr().contains("Move it aside"), "{}", run.stderr());
    assert!(!run.stderr().contains("panicked"), "{}", run.stderr());
    assert!(
        fs::read_to_string(&db)
            .unwrap()
            .starts_with("not a database"),
        "never overwritten"
    );
}

/// A headless browser of Debian's (`chromium`), if the machine has one.
fn browser() -> Option<String> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find_map(|name| {
            Command::new(name)
                .arg("--version")
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|_| name.to_owned())
        })
}

#[test]
fn the_stats_page_renders_in_a_headless_browser_with_the_sessions_in_its_charts() {
    let fixture = Fixture::new();
    let pack = fixture.pack();
    let pack_dir = pack.path().to_str().unwrap();
    fs::write(pack.path().join("katas/greeter/src/lib.rs"), GREETER).unwrap();
    let solved = fixture.xtask(&["--pack", pack_dir, "kata", "greeter", "--no-watch"]);
    assert_eq!(solved.code(), 0, "{}", solved.stdout());
    let page = fixture.root().join("report.html");
    fixture
        .xtask(&[
            "--pack",
            pack_dir,
            "stats",
            "--html",
            page.to_str().unwrap(),
        ])
        .success();
    let html = fs::read_to_string(&page).unwrap();
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "self-contained: no network"
    );

    let Some(browser) = browser() else {
        eprintln!(
            "SKIPPED: no headless browser on this machine (install Debian's `chromium`; .ci/run does). \
             The page was written and checked as text only."
        );
        assert!(html.contains(r#"data-kata="greeter""#));
        return;
    };
    let profile = tempfile::tempdir().unwrap();
    let url = format!("file://{}", page.display());
    let common_flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ];
    let dom = Command::new(&browser)
        .args(common_flags)
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(&url)
        .output()
        .expect("the browser runs");
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom.contains("<svg id=\"time-to-solve\""),
        "the browser parsed the page:\n{dom}"
    );
    let solve = dom
        .split("<circle")
        .skip(1)
        .find(|c| c.contains(r#"data-kata="greeter""#))
        .unwrap_or_else(|| {
            panic!("a point for greeter's solve in the time-to-solve chart:\n{dom}")
        });
    assert!(solve.contains("data-minutes="), "{solve}");
    let bar = dom
        .split("<rect")
        .skip(1)
        .find(|r| r.contains(r#"data-tag="strings""#))
        .unwrap_or_else(|| panic!("a bar for the tag `strings`:\n{dom}"));
    assert!(
        bar.contains(r#"data-rate="1.00""#),
        "greeter's only attempt was solved: {bar}"
    );
    assert!(
        dom.contains(r#"data-due="greeter""#),
        "greeter is on the review calendar"
    );

    let shot = fixture.root().join("report.png");
    let status = Command::new(&browser)
        .args(common_flags)
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg("--window-size=1100,1400")
        .arg(&url)
        .output()
        .expect("the browser runs");
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let png = fs::read(&shot).expect("a screenshot");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "a rendered page, {} bytes",
        png.len()
    );
}

fn hunt(fixture: &Fixture, pack: &Path, args: &[&str]) -> (Child, mpsc::Receiver<String>) {
    let mut command = vec!["--pack", pack.to_str().expect("a UTF-8 path"), "hunt"];
    command.extend_from_slice(args);
    let mut child = fixture
        .command(&command)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the hunt starts");
    let out = lines(&mut child);
    (child, out)
}

#[test]
fn a_hunt_is_refused_on_an_unsolved_kata_unless_spoiled() {
    let fixture = Fixture::new();
    let pack = fixture.pack();
    let stub = fs::read_to_string(pack.path().join("katas/greeter/src/lib.rs")).unwrap();
    let run = fixture.xtask(&["--pack", pack.path().to_str().unwrap(), "hunt", "greeter"]);
    assert_eq!(run.code(), 2);
    assert!(
        run.stderr().contains("you have not solved greeter yet")
            && run.stderr().contains("--spoil"),
        "{}",
        run.stderr()
    );
    assert_eq!(
        fs::read_to_string(pack.path().join("katas/greeter/src/lib.rs")).unwrap(),
        stub,
        "nothing was planted"
    );
    let none = fixture.xtask(&["--pack", pack.path().to_str().unwrap(), "hunt"]);
    assert_eq!(none.code(), 2, "no solved kata to hunt on");
    assert!(none.stderr().contains("--spoil"), "{}", none.stderr());
}

#[test]
fn a_spoiled_hunt_shows_the_symptom_withholds_names_until_a_clue_and_ends_with_the_bug() {
    let fixture = Fixture::new();
    let pack = fixture.pack();
    let attempt = "pub fn greet(name: &str) -> String { name.to_owned() }\n";
    let src = pack.path().join("katas/greeter/src/lib.rs");
    fs::write(&src, attempt).unwrap();
    let (mut child, out) = hunt(
        &fixture,
        pack.path(),
        &["greeter", "--spoil", "--minutes", "3", "--seed", "1"],
    );
    let brief = wait_for(&out, "1/2 specs pass", Duration::from_secs(120));
    assert!(brief.contains("Bug hunt · Greeter · 3 minutes"), "{brief}");
    assert!(
        brief.contains("the front page says \"Hello, !\" to visitors"),
        "the symptom, not the bug:\n{brief}"
    );
    assert!(
        !brief.contains("greets_a_stranger"),
        "names withheld:\n{brief}"
    );
    assert!(
        fs::read_to_string(&src).unwrap().contains("&& false"),
        "the bug is planted in the learner's src/"
    );

    writeln!(child.stdin.as_mut().unwrap(), "h").unwrap();
    let clue = wait_for(&out, "Clue 1/3", Duration::from_secs(30));
    let clue = clue + &wait_for(&out, "greets_a_stranger", Duration::from_secs(30));
    assert!(
        clue.contains("greets_a_stranger_when_the_name_is_empty"),
        "{clue}"
    );

    fs::write(&src, GREETER).unwrap();
    let code = wait_exit(&mut child, Duration::from_secs(120));
    let report = out.try_iter().collect::<Vec<_>>().join("\n");
    assert_eq!(code, 0, "a fixed bug exits 0:\n{report}");
    assert!(report.contains("Bug hunt over: fixed"), "{report}");
    assert!(report.contains("clues used     1"), "{report}");
    assert!(report.contains("Why candidates write it"), "{report}");
    assert!(
        report.contains("+    if name.is_empty() && false {"),
        "the patch:\n{report}"
    );

    let stats = stats(&fixture, pack.path());
    let hunts: Vec<&Value> = sessions_of(&stats, "greeter")
        .into_iter()
        .filter(|s| s["kind"] == "hunt")
        .collect();
    assert_eq!(hunts.len(), 1, "{stats:#}");
    assert_eq!(hunts[0]["outcome"], "solved");
    assert_eq!(hunts[0]["planted"], "wrong/no_stranger.patch");
    let greeter = stats["katas"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kata"] == "greeter")
        .unwrap();
    assert_eq!(
        (greeter["hunts"].as_u64(), greeter["hunts_solved"].as_u64()),
        (Some(1), Some(1))
    );
    let archived = archived_attempts_of(fixture.root(), "greeter");
    assert_eq!(archived.len(), 1, "the attempt before the hunt is archived");
    assert_eq!(
        fs::read_to_string(archived[0].join("src/lib.rs")).unwrap(),
        attempt
    );
}
