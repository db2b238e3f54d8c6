//! The specification of the url-shortener kata.
//!
//! Every test name is a requirement; read the failing names first. Most
//! specs run on an in-memory SQLite database; the ones about several
//! connections use a real file in a temporary directory, with one
//! `Shortener` (one connection) per thread, exactly as several web servers
//! would share a database. Threads report back through channels with a
//! deadline, so a shortener that deadlocks fails its spec instead of hanging.
//!
//! The spec never looks at your schema: it goes through the API only. To
//! force hash collisions it passes deliberately weak hash functions to
//! `Strategy::HashWith`.
//!
//! `cargo test -p url-shortener` judges your code;
//! `cargo test -p url-shortener --features solution` judges the reference.

// The workspace's loom build (`--cfg kata_loom`) skips this file.
#![cfg(not(kata_loom))]

#[cfg(not(feature = "solution"))]
use url_shortener as subject;
#[cfg(feature = "solution")]
use url_shortener_solution as subject;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use proptest::collection::{btree_set, vec};
use proptest::prelude::*;
// `Strategy` is the shortener's; proptest's is called a generator here.
use proptest::strategy::Strategy as Generator;
use rstest::rstest;
use rusqlite::Connection;
use subject::{ResolveError, ShortenError, Shortener, Strategy, base62, fnv1a_64};

// ─────────────────────────── helpers ───────────────────────────

/// 62⁷: how many 7-character codes there are.
const SPACE: u64 = 3_521_614_606_208;

/// How long the threads of one spec may take, all together.
const DEADLINE: Duration = Duration::from_secs(25);

/// The digits, spelled out again so the spec does not trust the subject's.
const DIGITS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The obviously correct base62: digits from the least significant,
/// reversed, padded to 7.
fn model_encode(mut n: u64) -> String {
    let mut digits = Vec::new();
    loop {
        digits.push(DIGITS[(n % 62) as usize]);
        n /= 62;
        if n == 0 {
            break;
        }
    }
    while digits.len() < 7 {
        digits.push(b'0');
    }
    digits.reverse();
    String::from_utf8(digits).expect("ASCII digits")
}

/// FNV-1a 64, spelled out again.
fn model_fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash: u64, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The code `Strategy::Hash` tries first for `url`.
fn first_choice(url: &str) -> String {
    model_encode(model_fnv(url.as_bytes()) % SPACE)
}

/// A weak hash: only 512 codes, so that collisions are common.
fn weak_hash(bytes: &[u8]) -> u64 {
    model_fnv(bytes) % 512
}

/// Every input hashes to 0: every attempt of every URL is `0000000`.
fn constant_hash(_: &[u8]) -> u64 {
    0
}

const ALICE: &str = "https://alice.example/";
const BOB: &str = "https://bob.example/";

/// ALICE and BOB collide on their first choice (42, `000000g`); every other
/// input (including every salted retry) hashes with FNV-1a.
fn alice_and_bob_collide(bytes: &[u8]) -> u64 {
    if bytes == ALICE.as_bytes() || bytes == BOB.as_bytes() {
        42
    } else {
        model_fnv(bytes)
    }
}

/// A shortener on a fresh in-memory database.
fn in_memory(strategy: Strategy) -> Shortener {
    let conn = Connection::open_in_memory().expect("an in-memory SQLite database");
    Shortener::with_connection(conn, strategy)
        .expect("a shortener on a fresh in-memory database should open")
}

fn open(path: &Path, strategy: Strategy) -> Shortener {
    Shortener::open(path, strategy)
        .unwrap_or_else(|e| panic!("a shortener on {} should open: {e}", path.display()))
}

fn shorten(shortener: &mut Shortener, url: &str) -> String {
    match shortener.shorten(url) {
        Ok(code) => code.as_str().to_owned(),
        Err(e) => panic!("shortening {url:?} should succeed, but failed: {e:?}"),
    }
}

fn resolves_to(shortener: &Shortener, code: &str, url: &str) {
    match shortener.resolve(code) {
        Ok(resolved) => assert_eq!(
            resolved, url,
            "code {code:?} was issued for {url:?}, so it should resolve to it"
        ),
        Err(e) => panic!("code {code:?} was issued for {url:?}, but resolving it failed: {e:?}"),
    }
}

fn strategy_name(strategy: Strategy) -> &'static str {
    match strategy {
        Strategy::Counter => "Strategy::Counter",
        Strategy::Hash => "Strategy::Hash",
        Strategy::HashWith(_) => "Strategy::HashWith(a weak hash of 512 codes)",
    }
}

// ─────────────────────────── base62 ───────────────────────────

#[rstest]
#[case::zero_is_all_padding(0, "0000000")]
#[case::one(1, "0000001")]
#[case::nine(9, "0000009")]
#[case::ten_is_capital_a(10, "000000A")]
#[case::thirty_five_is_capital_z(35, "000000Z")]
#[case::thirty_six_is_small_a(36, "000000a")]
#[case::sixty_one_is_small_z(61, "000000z")]
#[case::sixty_two_carries(62, "0000010")]
#[case::sixty_two_squared_minus_one(3843, "00000zz")]
#[case::the_largest_seven_digit_code(SPACE - 1, "zzzzzzz")]
#[case::the_first_eight_digit_number(SPACE, "10000000")]
#[case::u64_max(u64::MAX, "LygHa16AHYF")]
fn base62_encodes_numbers_padded_to_seven_characters(#[case] n: u64, #[case] expected: &str) {
    assert_eq!(
        base62::encode(n),
        expected,
        "{n} in base62 (0-9, A-Z, a-z), left-padded with 0 to 7 characters, is {expected:?}"
    );
}

#[rstest]
#[case::padded_zero("0000000", 0)]
#[case::unpadded_zero("0", 0)]
#[case::small_z("z", 61)]
#[case::unpadded_sixty_two("10", 62)]
#[case::padded_sixty_two("0000010", 62)]
#[case::largest_code("zzzzzzz", SPACE - 1)]
#[case::u64_max("LygHa16AHYF", u64::MAX)]
#[case::u64_max_with_leading_zeros("0000LygHa16AHYF", u64::MAX)]
fn base62_decodes_padded_and_unpadded_numbers(#[case] text: &str, #[case] expected: u64) {
    assert_eq!(
        base62::decode(text),
        Some(expected),
        "{text:?} in base62 is {expected}"
    );
}

#[rstest]
#[case::empty("")]
#[case::a_dash("abc-def")]
#[case::a_space("abc def")]
#[case::a_plus_sign("+1")]
#[case::not_ascii("ü")]
#[case::one_above_u64_max("LygHa16AHYG")]
#[case::twelve_digits("zzzzzzzzzzzz")]
fn base62_decode_rejects_what_no_u64_encodes_to(#[case] text: &str) {
    assert_eq!(
        base62::decode(text),
        None,
        "{text:?} is not the base62 of any u64 (empty, a character outside 0-9A-Za-z, or too \
         large): decode should return None, never wrap or panic"
    );
}

/// Numbers of every size: small, around the 7-digit boundary, anything.
fn numbers() -> impl Generator<Value = u64> {
    prop_oneof![
        0u64..1000,
        (SPACE - 1000)..(SPACE + 1000),
        0..SPACE,
        any::<u64>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn base62_round_trips_every_number_and_keeps_leading_zeros(n in numbers()) {
        let code = base62::encode(n);
        let expected = model_encode(n);
        prop_assert_eq!(
            &code, &expected,
            "{} in base62, left-padded with 0 to 7 characters, is {:?}", n, expected
        );
        prop_assert_eq!(
            base62::decode(&code), Some(n),
            "decoding {:?}, the encoding of {}, should give {} back", code, n, n
        );
    }

    #[test]
    fn base62_codes_of_one_width_sort_like_their_numbers(
        a in 0..SPACE,
        b in prop_oneof![0..SPACE, Just(0), Just(SPACE - 1)],
        near in 0u64..64,
    ) {
        for (x, y) in [(a, b), (a, (a + near).min(SPACE - 1)), (a, a.saturating_sub(near))] {
            let (cx, cy) = (base62::encode(x), base62::encode(y));
            prop_assert_eq!(
                cx.cmp(&cy), x.cmp(&y),
                "codes are fixed-width and the alphabet is in ASCII order, so comparing the \
                 codes {:?} (of {}) and {:?} (of {}) as strings should order them like the \
                 numbers", cx, x, cy, y
            );
        }
    }
}

// ─────────────────────────── FNV-1a ───────────────────────────

#[rstest]
#[case::empty("", 0xcbf2_9ce4_8422_2325)]
#[case::a("a", 0xaf63_dc4c_8601_ec8c)]
#[case::foobar("foobar", 0x8594_4171_f739_67e8)]
fn fnv1a_64_matches_the_published_test_vectors(#[case] input: &str, #[case] expected: u64) {
    assert_eq!(
        fnv1a_64(input.as_bytes()),
        expected,
        "FNV-1a 64 of {input:?} is {expected:#018x} (offset basis 0xcbf29ce484222325, \
         prime 0x100000001b3, xor then multiply)"
    );
}

// ─────────────────── shortening and resolving ───────────────────

#[test]
fn counter_strategy_issues_sequential_codes_from_one() {
    let mut shortener = in_memory(Strategy::Counter);
    let first = shorten(&mut shortener, "https://example.com/a");
    let second = shorten(&mut shortener, "https://example.com/b");
    let again = shorten(&mut shortener, "https://example.com/a");
    assert_eq!(
        (first.as_str(), second.as_str(), again.as_str()),
        ("0000001", "0000002", "0000003"),
        "the counter strategy gives the n-th URL shortened the code base62(n), n from 1, \
         even for a URL shortened before"
    );
    resolves_to(&shortener, "0000001", "https://example.com/a");
    resolves_to(&shortener, "0000002", "https://example.com/b");
    resolves_to(&shortener, "0000003", "https://example.com/a");
}

#[rstest]
#[case::example_com("https://example.com/")]
#[case::the_seed_lesson("https://en.wikipedia.org/wiki/Systems_design")]
#[case::with_a_query_and_fragment("http://shop.example/cart?id=42#top")]
fn hash_strategy_code_is_the_fnv1a_hash_of_the_url_in_base62(#[case] url: &str) {
    let mut shortener = in_memory(Strategy::Hash);
    let expected = first_choice(url);
    assert_eq!(
        shorten(&mut shortener, url),
        expected,
        "under Strategy::Hash, the code of {url:?} on an empty database is \
         base62(fnv1a_64(url) % 62^7) = {expected:?}: the same on every node and every run"
    );
    resolves_to(&shortener, &expected, url);
}

#[test]
fn hash_strategy_gives_the_same_url_the_same_code() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("links.db");
    let url = "https://example.com/launch";
    // The first two shorteners are closed at the end of this block.
    let code = {
        let mut first = open(&path, Strategy::Hash);
        let code = shorten(&mut first, url);
        assert_eq!(
            shorten(&mut first, url),
            code,
            "shortening {url:?} twice under Strategy::Hash should give the same code"
        );
        let other = shorten(&mut first, "https://example.com/other");
        assert_ne!(other, code, "two URLs should get two codes");
        let mut second = open(&path, Strategy::Hash);
        assert_eq!(
            shorten(&mut second, url),
            code,
            "a second shortener on the same database should give {url:?} the code {code:?} \
             the first one did"
        );
        code
    };
    let mut reopened = open(&path, Strategy::Hash);
    assert_eq!(
        shorten(&mut reopened, url),
        code,
        "after reopening the database, {url:?} should still get {code:?}"
    );
    resolves_to(&reopened, &code, url);
}

#[test]
fn hash_strategy_moves_a_colliding_url_to_another_free_code() {
    let mut shortener = in_memory(Strategy::HashWith(alice_and_bob_collide));
    let alice = shorten(&mut shortener, ALICE);
    assert_eq!(
        alice, "000000g",
        "{ALICE:?} hashes to 42, so on an empty database its code is base62(42) = \"000000g\""
    );
    let bob = shorten(&mut shortener, BOB);
    assert_ne!(
        bob, alice,
        "{BOB:?} also hashes to 42, but {ALICE:?} already holds \"000000g\": {BOB:?} should be \
         hashed again with a salt and get another code"
    );
    assert_eq!(bob.len(), 7, "every code is 7 characters, {bob:?} is not");
    resolves_to(&shortener, &alice, ALICE);
    resolves_to(&shortener, &bob, BOB);
    assert_eq!(
        shorten(&mut shortener, BOB),
        bob,
        "shortening {BOB:?} again should give the code it got after the collision, {bob:?}"
    );
    assert_eq!(
        shorten(&mut shortener, ALICE),
        alice,
        "shortening {ALICE:?} again should still give {alice:?}"
    );
}

#[test]
fn followup_hash_strategy_gives_up_with_exhausted_when_no_code_is_free() {
    let (done, outcome) = mpsc::channel();
    thread::spawn(move || {
        let mut shortener = in_memory(Strategy::HashWith(constant_hash));
        let first = shortener
            .shorten(ALICE)
            .map(|code| code.as_str().to_owned());
        let second = shortener.shorten(BOB).map(|code| code.as_str().to_owned());
        let again = shortener
            .shorten(ALICE)
            .map(|code| code.as_str().to_owned());
        let _ = done.send(format!("{first:?} / {second:?} / {again:?}"));
    });
    let outcome = outcome
        .recv_timeout(Duration::from_secs(5))
        .unwrap_or_else(|_| {
            panic!(
                "with a hash function that maps everything to 0, every attempt for a second URL is \
             the taken code \"0000000\": shorten should give up after MAX_ATTEMPTS with \
             ShortenError::Exhausted, not loop (nothing came back in 5s)"
            )
        });
    assert_eq!(
        outcome, "Ok(\"0000000\") / Err(Exhausted) / Ok(\"0000000\")",
        "with a hash function that maps everything to 0: the first URL gets \"0000000\", a \
         second URL finds every attempt taken and fails with ShortenError::Exhausted, and the \
         first URL shortened again still gets its own \"0000000\""
    );
}

#[test]
fn codes_survive_reopening_the_database() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("links.db");
    {
        // Closed at the end of this block.
        let mut shortener = open(&path, Strategy::Counter);
        shorten(&mut shortener, "https://example.com/a");
        shorten(&mut shortener, "https://example.com/b");
    }
    let mut reopened = open(&path, Strategy::Counter);
    resolves_to(&reopened, "0000001", "https://example.com/a");
    resolves_to(&reopened, "0000002", "https://example.com/b");
    assert_eq!(
        shorten(&mut reopened, "https://example.com/c"),
        "0000003",
        "two URLs were shortened before the database was reopened, so the next code should \
         be \"0000003\": the counter lives in the database, not in the process"
    );
}

#[test]
fn two_shorteners_on_one_file_never_issue_the_same_code() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("links.db");
    let mut a = open(&path, Strategy::Counter);
    let mut b = open(&path, Strategy::Counter);
    let mut issued: BTreeMap<String, String> = BTreeMap::new();
    for i in 0..10 {
        let url = format!("https://example.com/{i}");
        let shortener = if i % 2 == 0 { &mut a } else { &mut b };
        let code = shorten(shortener, &url);
        if let Some(earlier) = issued.insert(code.clone(), url.clone()) {
            panic!(
                "two shorteners on one database file, taking turns, gave {earlier:?} and \
                 {url:?} the same code {code:?}"
            );
        }
    }
    for (code, url) in &issued {
        resolves_to(&a, code, url);
        resolves_to(&b, code, url);
    }
}

/// Distinct URLs.
fn distinct_urls(max: usize) -> impl Generator<Value = BTreeSet<String>> {
    btree_set(
        "https://example\\.com/[a-z0-9]{1,8}(\\?q=[a-z]{1,3})?",
        1..max,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn no_two_urls_share_a_code_and_every_code_resolves(urls in distinct_urls(120)) {
        for strategy in [Strategy::Counter, Strategy::Hash, Strategy::HashWith(weak_hash)] {
            let name = strategy_name(strategy);
            let mut shortener = in_memory(strategy);
            let mut owner: BTreeMap<String, &String> = BTreeMap::new();
            for url in &urls {
                let code = match shortener.shorten(url) {
                    Ok(code) => code.as_str().to_owned(),
                    Err(e) => return Err(TestCaseError::fail(format!(
                        "{name}: shortening {url:?} failed: {e:?}"
                    ))),
                };
                prop_assert_eq!(code.len(), 7, "{}: code {:?} should be 7 characters", name, code);
                if let Some(earlier) = owner.insert(code.clone(), url) {
                    return Err(TestCaseError::fail(format!(
                        "{name}: {earlier:?} and {url:?} were both given the code {code:?}"
                    )));
                }
            }
            for (code, url) in &owner {
                let resolved = shortener.resolve(code);
                prop_assert!(
                    matches!(&resolved, Ok(u) if u == *url),
                    "{}: code {:?} was issued for {:?}, but resolves to {:?}",
                    name, code, url, resolved
                );
            }
            if !matches!(strategy, Strategy::Counter) {
                for (code, url) in &owner {
                    let again = shortener.shorten(url).map(|c| c.as_str().to_owned());
                    prop_assert!(
                        matches!(&again, Ok(c) if c == code),
                        "{}: {:?} was given {:?}; shortening it again should give the same \
                         code, but gave {:?}", name, url, code, again
                    );
                }
            }
        }
    }
}

// ─────────────────────────── validation ───────────────────────────

#[rstest]
#[case::https("https://example.com")]
#[case::http_with_path_query_fragment("http://example.com/a/b?c=d&e=f#g")]
#[case::upper_case_scheme("HTTPS://EXAMPLE.COM/Path")]
#[case::with_a_port("http://localhost:8080/health")]
#[case::with_user_info("https://user:secret@example.com/")]
#[case::an_ip_address("http://127.0.0.1/")]
#[case::an_ipv6_literal("http://[::1]:8080/")]
#[case::non_ascii_path("https://example.com/ünïcödé")]
#[case::exactly_2048_bytes(format!("https://example.com/{}", "a".repeat(2048 - 20)))]
fn accepts_http_and_https_urls_with_a_host(#[case] url: String) {
    let mut shortener = in_memory(Strategy::Counter);
    let code = match shortener.shorten(&url) {
        Ok(code) => code.as_str().to_owned(),
        Err(e) => panic!("{url:?} is an http(s) URL with a host and should be shortened: {e:?}"),
    };
    resolves_to(&shortener, &code, &url);
}

#[rstest]
#[case::empty("")]
#[case::no_scheme("example.com")]
#[case::scheme_relative("//example.com/")]
#[case::ftp("ftp://example.com/file")]
#[case::javascript("javascript:alert(1)")]
#[case::mailto("mailto:someone@example.com")]
#[case::a_lookalike_scheme("httpx://example.com")]
#[case::one_slash("https:/example.com")]
#[case::nothing_after_the_scheme("https://")]
#[case::no_host_before_the_path("https:///path")]
#[case::no_host_before_the_query("https://?q=1")]
#[case::only_a_port("https://:8080/")]
#[case::only_user_info("https://user@/")]
#[case::a_space_in_the_host("https://exa mple.com/")]
#[case::a_trailing_newline("https://example.com/\n")]
#[case::a_tab_in_the_path("https://example.com/a\tb")]
#[case::longer_than_2048_bytes(format!("https://example.com/{}", "a".repeat(2049 - 20)))]
fn rejects_urls_that_are_not_http_or_https_with_a_host(#[case] url: String) {
    let mut shortener = in_memory(Strategy::Counter);
    let outcome = shortener.shorten(&url);
    assert!(
        matches!(outcome, Err(ShortenError::InvalidUrl(_))),
        "{url:?} is not an http(s) URL with a host, without whitespace, of at most 2048 \
         bytes: shorten should fail with ShortenError::InvalidUrl, but gave {outcome:?}"
    );
    assert_eq!(
        shorten(&mut shortener, "https://example.com/"),
        "0000001",
        "a rejected URL should use no code: the first URL accepted afterwards should still \
         get \"0000001\""
    );
}

#[test]
fn resolving_an_unknown_code_is_not_found() {
    let mut shortener = in_memory(Strategy::Counter);
    let fresh = shortener.resolve("0000001");
    assert!(
        matches!(fresh, Err(ResolveError::NotFound)),
        "on an empty database, \"0000001\" is a well-formed code no URL has: resolving it \
         should be ResolveError::NotFound, but gave {fresh:?}"
    );
    shorten(&mut shortener, "https://example.com/");
    for code in ["0000002", "zzzzzzz", "0000000"] {
        let outcome = shortener.resolve(code);
        assert!(
            matches!(outcome, Err(ResolveError::NotFound)),
            "only \"0000001\" was issued: resolving {code:?} should be ResolveError::NotFound, \
             but gave {outcome:?}"
        );
    }
}

#[rstest]
#[case::empty("")]
#[case::too_short("000001")]
#[case::unpadded("1")]
#[case::too_long("00000001")]
#[case::a_dash("000000-")]
#[case::a_space("000 001")]
#[case::a_slash("../etc/")]
#[case::sql("' OR 1=")]
#[case::not_ascii("00000é")]
#[case::seven_characters_one_a_unicode_letter("000000é")]
#[case::full_width_letters("ＡＢＣＤＥＦＧ")]
#[case::a_unicode_digit("000000٣")]
fn resolving_a_malformed_code_is_invalid(#[case] code: &str) {
    let mut shortener = in_memory(Strategy::Counter);
    shorten(&mut shortener, "https://example.com/");
    let outcome = shortener.resolve(code);
    assert!(
        matches!(outcome, Err(ResolveError::Invalid)),
        "{code:?} is not 7 characters of 0-9A-Za-z, so no shortener could have issued it: \
         resolving it should be ResolveError::Invalid, but gave {outcome:?}"
    );
}

// ──────────────────── several connections at once ────────────────────

/// Runs `work(thread_number)` on `threads` threads, each with its own
/// shortener on `path`, and collects what each returns, failing the spec if
/// any fails or the whole run takes longer than the deadline.
///
/// The shorteners are opened one after the other before the threads start,
/// as web servers open theirs at boot: the spec is about shortening
/// concurrently, not about creating the schema concurrently.
fn on_threads<T: Send + 'static>(
    path: &Path,
    strategy: Strategy,
    threads: usize,
    work: fn(&mut Shortener, usize) -> Result<T, String>,
) -> Vec<T> {
    let (done, results) = mpsc::channel();
    for number in 0..threads {
        let done = done.clone();
        let mut shortener = open(path, strategy);
        thread::spawn(move || {
            let _ = done.send((number, work(&mut shortener, number)));
        });
    }
    let deadline = Instant::now() + DEADLINE;
    let mut collected = Vec::new();
    for _ in 0..threads {
        let left = deadline.saturating_duration_since(Instant::now());
        match results.recv_timeout(left) {
            Ok((_, Ok(value))) => collected.push(value),
            Ok((number, Err(e))) => panic!(
                "thread {number} of {threads}, each shortening with its own connection to one \
                 database file, failed: {e}"
            ),
            Err(_) => panic!(
                "{threads} threads, each with its own shortener on one database file, did not \
                 all finish within {DEADLINE:?}: a deadlock, or a connection that gives up \
                 waiting for the write lock instead of retrying?"
            ),
        }
    }
    collected
}

/// URLs per thread in the counter spec.
const PER_THREAD: usize = 250;
const THREADS: usize = 4;

#[test]
fn followup_a_thousand_counter_shortenings_from_four_connections_never_collide() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("links.db");
    let issued = on_threads(&path, Strategy::Counter, THREADS, |shortener, number| {
        (0..PER_THREAD)
            .map(|i| {
                let url = format!("https://example.com/{number}/{i}");
                shortener
                    .shorten(&url)
                    .map(|code| (code.as_str().to_owned(), url.clone()))
                    .map_err(|e| format!("shortening {url:?} failed: {e:?}"))
            })
            .collect::<Result<Vec<_>, _>>()
    });
    let checker = open(&path, Strategy::Counter);
    let mut owner: BTreeMap<&str, &str> = BTreeMap::new();
    for (code, url) in issued.iter().flatten() {
        if let Some(earlier) = owner.insert(code, url) {
            panic!(
                "{THREADS} threads shortening {PER_THREAD} URLs each on one database file gave \
                 {earlier:?} and {url:?} the same code {code:?}: reading the last id and \
                 inserting the next one must be one atomic step"
            );
        }
    }
    assert_eq!(
        owner.len(),
        THREADS * PER_THREAD,
        "every URL should have its own code"
    );
    for (code, url) in owner {
        resolves_to(&checker, code, url);
    }
}

/// URLs in the pool every thread of the hash spec shortens.
const POOL: usize = 150;

#[test]
fn followup_concurrent_hash_shortenings_agree_on_every_code_and_never_collide() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("links.db");
    let strategy = Strategy::HashWith(weak_hash);
    // Every thread shortens the whole pool, each in its own order, with a
    // hash of only 512 codes: threads race for the same URLs and for the
    // same codes.
    let maps = on_threads(&path, strategy, THREADS, |shortener, number| {
        let mut order: Vec<usize> = (0..POOL).collect();
        order.rotate_left(number * POOL / THREADS);
        if number % 2 == 1 {
            order.reverse();
        }
        order
            .into_iter()
            .map(|i| {
                let url = format!("https://example.com/pool/{i}");
                shortener
                    .shorten(&url)
                    .map(|code| (url.clone(), code.as_str().to_owned()))
                    .map_err(|e| format!("shortening {url:?} failed: {e:?}"))
            })
            .collect::<Result<BTreeMap<_, _>, _>>()
    });
    let first = &maps[0];
    for map in &maps {
        for (url, code) in map {
            assert_eq!(
                code, &first[url],
                "two threads shortening {url:?} at the same time on one database got two \
                 codes ({code:?} and {:?}): the same URL must get the same code",
                first[url]
            );
        }
    }
    let mut owner: BTreeMap<&String, &String> = BTreeMap::new();
    for (url, code) in first {
        if let Some(earlier) = owner.insert(code, url) {
            panic!(
                "{earlier:?} and {url:?} were both given {code:?} by threads racing on one \
                 database: checking that a code is free and taking it must be one atomic step"
            );
        }
    }
    let checker = open(&path, strategy);
    for (url, code) in first {
        resolves_to(&checker, code, url);
    }
}

// ─────────────────────────── clicks ───────────────────────────

#[test]
fn clicks_on_an_unknown_or_malformed_code_are_errors() {
    let mut shortener = in_memory(Strategy::Counter);
    shorten(&mut shortener, "https://example.com/");
    let unknown = shortener.click("0000002", 100);
    assert!(
        matches!(unknown, Err(ResolveError::NotFound)),
        "a click on \"0000002\", which no URL has, should be ResolveError::NotFound, but gave \
         {unknown:?}"
    );
    let malformed = shortener.click("nope", 100);
    assert!(
        matches!(malformed, Err(ResolveError::Invalid)),
        "a click on \"nope\", not a code, should be ResolveError::Invalid, but gave \
         {malformed:?}"
    );
    let report = shortener.clicks("0000002", 0, 100, 10);
    assert!(
        matches!(report, Err(ResolveError::NotFound)),
        "the clicks of \"0000002\", which no URL has, should be ResolveError::NotFound, but \
         gave {report:?}"
    );
    let counted = shortener.clicks("0000001", 0, 200, 200);
    assert_eq!(
        counted.ok(),
        Some(vec![(0, 0)]),
        "the failed clicks should not have been counted on any code"
    );
}

#[test]
fn counts_clicks_per_bucket() {
    let mut shortener = in_memory(Strategy::Counter);
    let code = shorten(&mut shortener, "https://example.com/");
    let other = shorten(&mut shortener, "https://example.com/other");
    for at in [100, 101, 159, 160, 219, 220, 400, 50] {
        shortener
            .click(&code, at)
            .unwrap_or_else(|e| panic!("a click on {code:?} at {at} should be recorded: {e:?}"));
    }
    shortener
        .click(&other, 130)
        .unwrap_or_else(|e| panic!("a click on {other:?} at 130 should be recorded: {e:?}"));
    let counted = shortener.clicks(&code, 100, 280, 60);
    assert_eq!(
        counted.ok(),
        Some(vec![(100, 3), (160, 2), (220, 1)]),
        "clicks at 50, 100, 101, 159, 160, 219, 220 and 400 (and one on another code at 130), \
         counted from 100 to 280 in buckets of 60s: [100, 160) holds 100, 101, 159; \
         [160, 220) holds 160, 219; [220, 280) holds 220"
    );
}

#[rstest]
#[case::at_the_start_of_the_range(1000, vec![(1000, 1), (1060, 0), (1120, 0)])]
#[case::the_last_second_of_the_first_bucket(1059, vec![(1000, 1), (1060, 0), (1120, 0)])]
#[case::the_first_second_of_the_second_bucket(1060, vec![(1000, 0), (1060, 1), (1120, 0)])]
#[case::the_first_second_of_the_last_bucket(1120, vec![(1000, 0), (1060, 0), (1120, 1)])]
#[case::the_last_second_before_the_end(1149, vec![(1000, 0), (1060, 0), (1120, 1)])]
#[case::exactly_at_the_end(1150, vec![(1000, 0), (1060, 0), (1120, 0)])]
#[case::one_second_before_the_start(999, vec![(1000, 0), (1060, 0), (1120, 0)])]
fn a_click_on_a_bucket_boundary_counts_in_the_bucket_it_starts(
    #[case] at: u64,
    #[case] expected: Vec<(u64, u64)>,
) {
    let mut shortener = in_memory(Strategy::Counter);
    let code = shorten(&mut shortener, "https://example.com/");
    shortener
        .click(&code, at)
        .unwrap_or_else(|e| panic!("a click on {code:?} at {at} should be recorded: {e:?}"));
    assert_eq!(
        shortener.clicks(&code, 1000, 1150, 60).ok(),
        Some(expected.clone()),
        "one click at {at}, counted from 1000 (included) to 1150 (excluded) in buckets of 60s \
         ([1000, 1060), [1060, 1120), [1120, 1150)), should give {expected:?}"
    );
}

#[test]
fn lists_every_bucket_including_empty_ones() {
    let mut shortener = in_memory(Strategy::Counter);
    let code = shorten(&mut shortener, "https://example.com/");
    assert_eq!(
        shortener.clicks(&code, 0, 250, 100).ok(),
        Some(vec![(0, 0), (100, 0), (200, 0)]),
        "a code with no clicks, from 0 to 250 in buckets of 100s, should list three empty \
         buckets, the last one cut short at 250"
    );
    assert_eq!(
        shortener.clicks(&code, 500, 500, 60).ok(),
        Some(vec![]),
        "an empty range (from 500 to 500) should have no buckets"
    );
    assert_eq!(
        shortener.clicks(&code, 500, 400, 60).ok(),
        Some(vec![]),
        "a range that ends before it starts should have no buckets"
    );
}

/// 2⁶³: half of the u64 range.
const HALF: u64 = 1 << 63;

#[rstest]
#[case::one_bucket_for_all_time(0, 1000, u64::MAX, vec![(0, 2)])]
#[case::the_whole_u64_range_in_two_buckets(0, u64::MAX, HALF, vec![(0, 2), (HALF, 0)])]
#[case::a_range_that_ends_at_u64_max(u64::MAX - 100, u64::MAX, 60, vec![(u64::MAX - 100, 0), (u64::MAX - 40, 0)])]
#[case::a_bucket_wider_than_what_is_left(u64::MAX - 10, u64::MAX, u64::MAX - 1, vec![(u64::MAX - 10, 0)])]
fn counts_clicks_in_buckets_of_any_width_up_to_u64_max(
    #[case] from: u64,
    #[case] to: u64,
    #[case] width: u64,
    #[case] expected: Vec<(u64, u64)>,
) {
    let mut shortener = in_memory(Strategy::Counter);
    let code = shorten(&mut shortener, "https://example.com/");
    for at in [10, 500] {
        shortener
            .click(&code, at)
            .unwrap_or_else(|e| panic!("a click on {code:?} at {at} should be recorded: {e:?}"));
    }
    let counted = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        shortener.clicks(&code, from, to, width)
    }));
    assert!(
        matches!(&counted, Ok(Ok(buckets)) if *buckets == expected),
        "clicks at 10 and 500, counted from {from} to {to} in buckets of {width}s, should be \
         {expected:?} (any width above zero is a bucket, and nothing may overflow near \
         u64::MAX), but were {}",
        match &counted {
            Ok(result) => format!("{result:?}"),
            Err(_) => "a panic".to_owned(),
        }
    );
}

/// A click: which of the two codes, when.
fn click_log() -> impl Generator<Value = Vec<(usize, u64)>> {
    vec((0usize..2, 0u64..600), 0..80)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn clicks_per_bucket_agree_with_a_list_of_every_click(
        clicks in click_log(),
        queries in vec((0usize..2, 0u64..600, 0u64..400, 1u64..120), 1..6),
    ) {
        let mut shortener = in_memory(Strategy::Counter);
        let codes = [
            shorten(&mut shortener, "https://example.com/a"),
            shorten(&mut shortener, "https://example.com/b"),
        ];
        for &(which, at) in &clicks {
            if let Err(e) = shortener.click(&codes[which], at) {
                return Err(TestCaseError::fail(format!(
                    "a click on {:?} at {at} should be recorded: {e:?}", codes[which]
                )));
            }
        }
        for &(which, from, length, width) in &queries {
            let to = from + length;
            let mut expected = Vec::new();
            let mut start = from;
            while start < to {
                let end = (start + width).min(to);
                let count = clicks
                    .iter()
                    .filter(|&&(w, at)| w == which && start <= at && at < end)
                    .count() as u64;
                expected.push((start, count));
                start += width;
            }
            let counted = shortener.clicks(&codes[which], from, to, width);
            let first_difference = match &counted {
                Ok(buckets) => buckets
                    .iter()
                    .zip(&expected)
                    .find(|(got, want)| got != want)
                    .map_or_else(
                        || format!("{} buckets instead of {}", buckets.len(), expected.len()),
                        |(got, want)| format!("first difference: {got:?} instead of {want:?}"),
                    ),
                Err(e) => format!("an error: {e:?}"),
            };
            prop_assert!(
                counted.as_ref().ok() == Some(&expected),
                "the clicks of {:?} from {} to {} in buckets of {}s should be {:?} (every \
                 click at `start <= at < start + {}` counted once), but were {:?} ({})",
                codes[which], from, to, width, expected, width, counted, first_difference
            );
        }
    }
}
