//! The specification of the fenced-lock kata, one component at a time.
//!
//! Every test name is a requirement; read the failing names first. These
//! tests drive a lock server, the storage or a client by hand: they play
//! the other nodes, choose every message and every `now`, and look at the
//! answers and at what each component says it holds. Whole systems on a
//! simulated network are in `tests/sim.rs`.
//!
//! `cargo test -p fenced-lock` judges your code;
//! `cargo test -p fenced-lock --features solution` judges the reference.

// The workspace's loom build (`--cfg kata_loom`) skips this file.
#![cfg(not(kata_loom))]

#[cfg(not(feature = "solution"))]
use fenced_lock as subject;
#[cfg(feature = "solution")]
use fenced_lock_solution as subject;

use std::collections::BTreeSet;
use std::time::Duration;

use proptest::prelude::*;
use rstest::rstest;
use subject::{
    Client, ClientError, Config, ConfigError, Grant, Lease, LockServer, Message, NodeId, Outgoing,
    Persistent, ReceiveError, Storage, Token,
};

// ─────────────────────────── helpers ───────────────────────────

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

const NS: Duration = Duration::from_nanos(1);
const TTL: Duration = Duration::from_millis(1_000);
const DRIFT: Duration = Duration::from_millis(30);
/// How long a client trusts a lease from its send, with the default config.
const TRUST: Duration = Duration::from_millis(970);

/// The lock server the server tests play with, and its clients.
const SERVER: NodeId = 1;
const A: NodeId = 10;
const B: NodeId = 11;
const C: NodeId = 12;
const CLIENTS: [NodeId; 3] = [A, B, C];
/// The five lock servers of the client tests, and the storage.
const SERVERS: [NodeId; 5] = [1, 2, 3, 4, 5];
const STORAGE: NodeId = 100;
const STRANGER: NodeId = 666;

fn server_from(state: Persistent, now: Duration) -> LockServer {
    LockServer::new(SERVER, &CLIENTS, Config::default(), state, now).unwrap_or_else(|e| {
        panic!("LockServer::new({SERVER}, {CLIENTS:?}, default config, {state:?}) refused: {e:?}")
    })
}

fn server() -> LockServer {
    server_from(Persistent::default(), ms(0))
}

/// The one answer of `server` to `message` from `from` at `now`.
fn answer(server: &mut LockServer, from: NodeId, message: Message, now: Duration) -> Message {
    let out = server.receive(from, message, now).unwrap_or_else(|e| {
        panic!("lock server refused {message:?} from {from} at {now:?}: {e:?}")
    });
    assert_eq!(
        out.len(),
        1,
        "a lock server answers {message:?} with exactly one message, to its sender; got {out:?}"
    );
    assert_eq!(
        out[0].to, from,
        "a lock server answers the sender of {message:?}; got {out:?}"
    );
    out[0].message
}

fn acquire(server: &mut LockServer, from: NodeId, token: Token, now: Duration) -> Message {
    answer(server, from, Message::Acquire { token }, now)
}

fn release(server: &mut LockServer, from: NodeId, token: Token, now: Duration) {
    let out = server
        .receive(from, Message::Release { token }, now)
        .unwrap_or_else(|e| {
            panic!("lock server refused Release {{ token: {token} }} from {from}: {e:?}")
        });
    assert!(out.is_empty(), "a Release is never answered; got {out:?}");
}

fn granted(token: Token) -> Message {
    Message::Granted { token }
}

fn denied(token: Token, highest: Token) -> Message {
    Message::Denied { token, highest }
}

fn storage() -> Storage {
    Storage::new(STORAGE, &CLIENTS)
        .unwrap_or_else(|e| panic!("Storage::new({STORAGE}, {CLIENTS:?}) refused: {e:?}"))
}

fn write(storage: &mut Storage, from: NodeId, token: Token, value: u64) -> Message {
    let message = Message::Write { token, value };
    let out = storage
        .receive(from, message)
        .unwrap_or_else(|e| panic!("storage refused {message:?} from {from}: {e:?}"));
    assert_eq!(
        out.len(),
        1,
        "the storage answers a write with exactly one message; got {out:?}"
    );
    assert_eq!(
        out[0].to, from,
        "the storage answers the writer; got {out:?}"
    );
    out[0].message
}

fn client_of(servers: &[NodeId], config: Config, now: Duration) -> Client {
    Client::new(A, servers, STORAGE, config, now).unwrap_or_else(|e| {
        panic!("Client::new({A}, {servers:?}, {STORAGE}, {config:?}) refused: {e:?}")
    })
}

/// Client 10 of the servers 1..=5, built at 0.
fn client() -> Client {
    client_of(&SERVERS, Config::default(), ms(0))
}

/// `acquire` at `now`, which must send one `Acquire` to every server; the
/// token proposed.
fn start(client: &mut Client, now: Duration) -> Token {
    let out = client
        .acquire(now)
        .unwrap_or_else(|e| panic!("acquire at {now:?} refused: {e:?}"));
    let token = out.first().map_or(0, |o| o.message.token());
    assert_eq!(
        sorted_targets(&out),
        SERVERS.to_vec(),
        "acquire sends one Acquire to every server; got {out:?}"
    );
    assert!(
        out.iter().all(|o| o.message == Message::Acquire { token }),
        "acquire sends the same Acquire {{ token }} to every server; got {out:?}"
    );
    token
}

fn hear(client: &mut Client, from: NodeId, message: Message, now: Duration) -> Vec<Outgoing> {
    client
        .receive(from, message, now)
        .unwrap_or_else(|e| panic!("client refused {message:?} from {from} at {now:?}: {e:?}"))
}

fn sorted_targets(out: &[Outgoing]) -> Vec<NodeId> {
    let mut to: Vec<NodeId> = out.iter().map(|o| o.to).collect();
    to.sort_unstable();
    to
}

/// Asserts that `out` is a `Release { token }` to every one of the five
/// servers.
fn assert_releases_all(out: &[Outgoing], token: Token, what: &str) {
    assert_eq!(
        sorted_targets(out),
        SERVERS.to_vec(),
        "{what}: the client sends a Release to every server; got {out:?}"
    );
    assert!(
        out.iter().all(|o| o.message == Message::Release { token }),
        "{what}: the client releases token {token}; got {out:?}"
    );
}

/// A client holding token 1, sent at `sent`, granted by 1, 2 and 3.
fn holding(sent: Duration) -> (Client, Token) {
    let mut client = client();
    let token = start(&mut client, sent);
    for s in [1, 2, 3] {
        hear(&mut client, s, granted(token), sent + ms(2));
    }
    assert!(
        client.lease(sent + ms(2)).is_some(),
        "three grants of five, in time, win the lease"
    );
    (client, token)
}

// ─────────────────────────── 1. building ───────────────────────────

#[rstest]
#[case::client_itself_among_its_servers(&[1, 2, 10], STORAGE, 10)]
#[case::a_server_listed_twice(&[1, 2, 2], STORAGE, 2)]
#[case::the_storage_among_the_servers(&[1, 2, 3], 3, 3)]
#[case::the_client_is_its_storage(&[1, 2, 3], 10, 10)]
fn a_client_refuses_a_node_listed_twice(
    #[case] servers: &[NodeId],
    #[case] storage: NodeId,
    #[case] twice: NodeId,
) {
    let built = Client::new(10, servers, storage, Config::default(), ms(0));
    assert_eq!(
        built.err(),
        Some(ConfigError::DuplicateNode(twice)),
        "Client::new(10, {servers:?}, {storage}) lists node {twice} twice"
    );
}

#[rstest]
#[case::itself_among_its_clients(&[10, 1, 11], 1)]
#[case::a_client_listed_twice(&[10, 11, 10], 10)]
fn lock_servers_and_the_storage_refuse_a_node_listed_twice(
    #[case] clients: &[NodeId],
    #[case] twice: NodeId,
) {
    let server = LockServer::new(1, clients, Config::default(), Persistent::default(), ms(0));
    assert_eq!(
        server.err(),
        Some(ConfigError::DuplicateNode(twice)),
        "LockServer::new(1, {clients:?}) lists node {twice} twice"
    );
    let storage = Storage::new(1, clients);
    assert_eq!(
        storage.err(),
        Some(ConfigError::DuplicateNode(twice)),
        "Storage::new(1, {clients:?}) lists node {twice} twice"
    );
}

#[rstest]
#[case::a_zero_ttl(0, 0)]
#[case::a_margin_as_long_as_the_ttl(1_000_000, 1_000_000)]
#[case::a_margin_longer_than_the_ttl(1_000_000, 2_000_000)]
fn new_refuses_timings_under_which_no_lease_is_ever_valid(#[case] ttl: u64, #[case] drift: u64) {
    let config = Config {
        ttl: Duration::from_nanos(ttl),
        drift_margin: Duration::from_nanos(drift),
    };
    assert_eq!(
        Client::new(10, &SERVERS, STORAGE, config, ms(0)).err(),
        Some(ConfigError::InvalidTimings),
        "a client with {config:?}"
    );
    assert_eq!(
        LockServer::new(1, &CLIENTS, config, Persistent::default(), ms(0)).err(),
        Some(ConfigError::InvalidTimings),
        "a lock server with {config:?}"
    );
}

#[rstest]
#[case::one_nanosecond_and_no_margin(1, 0)]
#[case::a_margin_one_nanosecond_short_of_the_ttl(1_000_000_000, 999_999_999)]
fn new_accepts_the_tightest_timings_that_work(#[case] ttl: u64, #[case] drift: u64) {
    let config = Config {
        ttl: Duration::from_nanos(ttl),
        drift_margin: Duration::from_nanos(drift),
    };
    assert!(
        Client::new(10, &[1], STORAGE, config, ms(0)).is_ok(),
        "a client of one server with {config:?} must be built"
    );
    assert!(
        LockServer::new(1, &CLIENTS, config, Persistent::default(), ms(0)).is_ok(),
        "a lock server with {config:?} must be built"
    );
}

#[test]
fn a_client_needs_at_least_one_server() {
    assert_eq!(
        Client::new(10, &[], STORAGE, Config::default(), ms(0)).err(),
        Some(ConfigError::NoServers),
        "a client of no lock server can never hold the lock"
    );
}

// ─────────────────────── 2. the lock server ───────────────────────

#[test]
fn a_server_grants_a_free_lease_under_a_token_above_every_token_it_granted() {
    let mut server = server();
    assert_eq!(server.grant(ms(0)), None, "a new server holds no lease");
    assert_eq!(server.persistent(), Persistent::default());
    assert_eq!(
        acquire(&mut server, A, 3, ms(10)),
        granted(3),
        "a fresh server grants any token"
    );
    assert_eq!(
        server.grant(ms(10)),
        Some(Grant {
            holder: A,
            token: 3,
            expires_at: ms(10) + TTL
        }),
        "the lease is the sender's until now + ttl"
    );
    assert_eq!(
        server.persistent().highest_token,
        3,
        "persistent() holds the token as soon as the call that granted it returns"
    );
    release(&mut server, A, 3, ms(20));
    assert_eq!(
        acquire(&mut server, B, 4, ms(30)),
        granted(4),
        "token 4 > 3, the lease is free"
    );
    assert_eq!(server.persistent().highest_token, 4);
}

#[rstest]
#[case::another_client_a_higher_token(B, 9)]
#[case::another_client_the_same_token(B, 5)]
#[case::the_holder_with_another_token(A, 9)]
fn a_held_lease_is_denied_to_any_other_request_with_the_servers_highest_token(
    #[case] from: NodeId,
    #[case] token: Token,
) {
    let mut server = server();
    assert_eq!(acquire(&mut server, A, 5, ms(0)), granted(5));
    assert_eq!(
        acquire(&mut server, from, token, ms(500)),
        denied(token, 5),
        "client {A} holds the lease under token 5 until 1 s: Acquire {{ token: {token} }} from {from} at 500 ms"
    );
    assert_eq!(
        server.grant(ms(500)).map(|g| (g.holder, g.token)),
        Some((A, 5)),
        "a denied request changes nothing"
    );
}

#[test]
fn a_servers_lease_expires_exactly_ttl_after_it_was_granted() {
    let mut server = server();
    assert_eq!(acquire(&mut server, A, 1, ms(100)), granted(1));
    let expiry = ms(100) + TTL;
    assert!(
        server.grant(expiry - NS).is_some(),
        "held one nanosecond before now + ttl"
    );
    assert_eq!(
        acquire(&mut server, B, 2, expiry - NS),
        denied(2, 1),
        "one nanosecond before the lease expires, it is still held"
    );
    assert_eq!(
        server.grant(expiry),
        None,
        "at now + ttl the lease has expired"
    );
    assert_eq!(
        acquire(&mut server, B, 2, expiry),
        granted(2),
        "at exactly now + ttl the lease is free"
    );
}

#[rstest]
#[case::the_same_token(3, 3)]
#[case::a_lower_token(3, 2)]
fn a_free_server_denies_a_token_not_above_the_highest_it_granted(
    #[case] first: Token,
    #[case] then: Token,
) {
    let mut server = server();
    assert_eq!(acquire(&mut server, A, first, ms(0)), granted(first));
    release(&mut server, A, first, ms(1));
    assert_eq!(server.grant(ms(1)), None, "released");
    assert_eq!(
        acquire(&mut server, B, then, ms(2)),
        denied(then, first),
        "after granting {first}, a free server must not grant token {then}: two holders would share a token, or tokens would go down"
    );
    assert_eq!(
        acquire(&mut server, C, then, ms(2_000)),
        denied(then, first),
        "nor after an expiry"
    );
    assert_eq!(
        acquire(&mut server, C, first + 1, ms(2_000)),
        granted(first + 1)
    );
}

#[test]
fn a_duplicated_acquire_from_the_holder_is_granted_again_and_changes_nothing() {
    let mut server = server();
    assert_eq!(acquire(&mut server, A, 7, ms(0)), granted(7));
    let before = server.grant(ms(0));
    assert_eq!(
        acquire(&mut server, A, 7, ms(600)),
        granted(7),
        "the network delivered the holder's Acquire twice: answer it the same way"
    );
    assert_eq!(
        server.grant(ms(600)),
        before,
        "a duplicate changes nothing, not the expiry"
    );
    assert_eq!(server.persistent().highest_token, 7);
    assert_eq!(
        acquire(&mut server, B, 8, ms(1_000)),
        granted(8),
        "the lease expired at 1 s"
    );
}

#[test]
fn a_duplicated_acquire_after_the_lease_expired_or_was_released_is_denied() {
    let mut server = server();
    assert_eq!(acquire(&mut server, A, 1, ms(0)), granted(1));
    assert_eq!(
        acquire(&mut server, A, 1, ms(1_000)),
        denied(1, 1),
        "a duplicate arriving after the lease expired must not bring it back"
    );
    assert_eq!(server.grant(ms(1_000)), None);
    assert_eq!(acquire(&mut server, A, 2, ms(1_000)), granted(2));
    release(&mut server, A, 2, ms(1_001));
    assert_eq!(
        acquire(&mut server, A, 2, ms(1_002)),
        denied(2, 2),
        "a duplicate arriving after the release must not bring the lease back"
    );
}

// ─────────────────────────── 3. release ───────────────────────────

#[test]
fn a_release_frees_the_lease_only_for_its_holder_and_its_token() {
    let mut server = server();
    assert_eq!(acquire(&mut server, A, 4, ms(0)), granted(4));
    release(&mut server, B, 4, ms(1));
    assert_eq!(
        server.grant(ms(1)).map(|g| g.holder),
        Some(A),
        "client {B} released a lease it does not hold: nothing changes"
    );
    release(&mut server, A, 3, ms(2));
    release(&mut server, A, 5, ms(2));
    assert_eq!(
        server.grant(ms(2)).map(|g| g.holder),
        Some(A),
        "the holder released another token than its lease's: nothing changes"
    );
    release(&mut server, A, 4, ms(3));
    assert_eq!(server.grant(ms(3)), None, "the holder released its lease");
    assert_eq!(
        acquire(&mut server, B, 5, ms(4)),
        granted(5),
        "a released lease is free at once"
    );
}

#[test]
fn an_expired_holders_late_release_does_not_free_the_next_holders_lease() {
    let mut server = server();
    assert_eq!(acquire(&mut server, A, 1, ms(0)), granted(1));
    // A's lease expires at 1 s; B takes it.
    assert_eq!(acquire(&mut server, B, 2, ms(1_100)), granted(2));
    release(&mut server, A, 1, ms(1_200));
    assert_eq!(
        server.grant(ms(1_200)).map(|g| (g.holder, g.token)),
        Some((B, 2)),
        "client {A}, whose lease expired, released it late: {B}'s lease must stay"
    );
    assert_eq!(acquire(&mut server, C, 3, ms(1_300)), denied(3, 2));
    // A takes the lock again later; its first, long-delayed release arrives.
    assert_eq!(acquire(&mut server, A, 3, ms(2_200)), granted(3));
    release(&mut server, A, 1, ms(2_300));
    release(&mut server, A, 2, ms(2_300));
    assert_eq!(
        server.grant(ms(2_300)).map(|g| (g.holder, g.token)),
        Some((A, 3)),
        "a release of an older lease of the same client must not free its newer one"
    );
}

// ─────────────────────────── 4. restart ───────────────────────────

#[test]
fn a_restarted_server_never_grants_a_token_it_granted_before() {
    let mut server = server();
    assert_eq!(acquire(&mut server, A, 5, ms(0)), granted(5));
    let disk = server.persistent();
    assert_eq!(disk, Persistent { highest_token: 5 });
    let mut again = server_from(disk, ms(5_000));
    for token in [1, 4, 5] {
        assert_eq!(
            acquire(&mut again, B, token, ms(7_000)),
            denied(token, 5),
            "rebuilt from {disk:?}, the server must not grant token {token} again"
        );
    }
    assert_eq!(acquire(&mut again, B, 6, ms(7_000)), granted(6));
    assert_eq!(again.persistent().highest_token, 6);
}

#[test]
fn a_restarted_server_that_had_granted_grants_nothing_for_one_ttl() {
    let state = Persistent { highest_token: 5 };
    let started = ms(10_000);
    let mut server = server_from(state, started);
    assert_eq!(
        server.grant(started),
        None,
        "a rebuilt server holds no lease"
    );
    assert_eq!(
        acquire(&mut server, A, 6, started),
        denied(6, 5),
        "a server rebuilt from {state:?} may have crashed holding a lease: it waits a ttl"
    );
    assert_eq!(
        acquire(&mut server, A, 7, started + TTL - NS),
        denied(7, 5),
        "one nanosecond before the wait is over"
    );
    assert_eq!(
        acquire(&mut server, A, 8, started + TTL),
        granted(8),
        "exactly ttl after the restart the server grants again"
    );
}

#[test]
fn a_server_that_never_granted_grants_at_once_when_rebuilt() {
    let mut server = server_from(Persistent::default(), ms(10_000));
    assert_eq!(
        acquire(&mut server, A, 1, ms(10_000)),
        granted(1),
        "a server that never granted anything has no lease to wait out"
    );
}

// ─────────────────────────── 5. the storage ───────────────────────────

#[test]
fn the_storage_accepts_a_write_whose_token_is_at_least_the_highest_and_rejects_a_lower_one() {
    let mut storage = storage();
    assert_eq!(
        (storage.value(), storage.highest_token()),
        (None, 0),
        "a new storage"
    );
    assert_eq!(
        write(&mut storage, A, 3, 30),
        Message::WriteAck { token: 3 }
    );
    assert_eq!(
        write(&mut storage, B, 5, 50),
        Message::WriteAck { token: 5 }
    );
    assert_eq!((storage.value(), storage.highest_token()), (Some(50), 5));
    assert_eq!(
        write(&mut storage, A, 4, 40),
        Message::WriteRejected {
            token: 4,
            highest: 5
        },
        "a write under token 4 after one under 5 is a fenced-off holder's"
    );
    assert_eq!(
        (storage.value(), storage.highest_token()),
        (Some(50), 5),
        "a rejected write changes nothing"
    );
}

#[test]
fn the_storage_accepts_the_same_holder_writing_twice_under_one_token() {
    let mut storage = storage();
    assert_eq!(write(&mut storage, A, 7, 1), Message::WriteAck { token: 7 });
    assert_eq!(
        write(&mut storage, A, 7, 2),
        Message::WriteAck { token: 7 },
        "the holder of token 7 writes a second time: an equal token is accepted"
    );
    assert_eq!(storage.value(), Some(2));
}

#[test]
fn the_storage_accepts_token_u64_max_and_then_only_u64_max() {
    let mut storage = storage();
    assert_eq!(
        write(&mut storage, A, u64::MAX, 1),
        Message::WriteAck { token: u64::MAX }
    );
    assert_eq!(
        write(&mut storage, B, u64::MAX - 1, 2),
        Message::WriteRejected {
            token: u64::MAX - 1,
            highest: u64::MAX
        }
    );
    assert_eq!(
        write(&mut storage, A, u64::MAX, 3),
        Message::WriteAck { token: u64::MAX }
    );
    assert_eq!(
        (storage.value(), storage.highest_token()),
        (Some(3), u64::MAX)
    );
}

// ─────────────────────────── 6. the client ───────────────────────────

#[test]
fn a_client_proposes_a_token_above_every_token_it_has_seen() {
    let mut client = client();
    let first = start(&mut client, ms(0));
    assert!(first >= 1, "tokens start at 1; proposed {first}");
    // Servers 1..3 deny it: server 2 has granted token 40 before.
    hear(&mut client, 1, denied(first, 0), ms(1));
    hear(&mut client, 2, denied(first, 40), ms(1));
    hear(&mut client, 3, denied(first, 7), ms(1));
    assert!(
        !client.is_acquiring(),
        "three denials of five: the attempt failed"
    );
    let second = start(&mut client, ms(10));
    assert!(
        second > 40,
        "a Denied said a server granted token 40: the next proposal must be above it, not {second}"
    );
    // A rejected write tells of token 90.
    for s in [1, 2, 3] {
        hear(&mut client, s, granted(second), ms(11));
    }
    hear(
        &mut client,
        STORAGE,
        Message::WriteRejected {
            token: second,
            highest: 90,
        },
        ms(12),
    );
    assert_eq!(
        client.lease(ms(12)),
        None,
        "a rejected write drops the lease"
    );
    let third = start(&mut client, ms(20));
    assert!(
        third > 90,
        "a WriteRejected said the storage saw token 90: the next proposal must be above it, not {third}"
    );
    // A grant of an old attempt, however high, is a token seen too.
    hear(&mut client, 4, granted(500), ms(21));
    client.release(ms(22));
    let fourth = start(&mut client, ms(30));
    assert!(
        fourth > 500,
        "a Granted told of token 500; proposed {fourth}"
    );
}

#[rstest]
#[case::one_server(1, 1)]
#[case::two_servers(2, 2)]
#[case::three_servers(3, 2)]
#[case::four_servers(4, 3)]
#[case::five_servers(5, 3)]
fn a_client_holds_the_lease_once_more_than_half_of_its_servers_granted_it(
    #[case] n: u64,
    #[case] majority: usize,
) {
    let servers: Vec<NodeId> = (1..=n).collect();
    let mut client = client_of(&servers, Config::default(), ms(0));
    let out = client.acquire(ms(0)).expect("acquire");
    let token = out[0].message.token();
    for (i, &s) in servers.iter().enumerate() {
        hear(&mut client, s, granted(token), ms(1));
        let holds = client.lease(ms(1)).is_some();
        assert_eq!(
            holds,
            i + 1 >= majority,
            "{} grants of {n} servers: a majority is {majority}",
            i + 1
        );
        if holds {
            break;
        }
        assert!(
            client.is_acquiring(),
            "still acquiring after {} grants of {n}",
            i + 1
        );
    }
    assert!(!client.is_acquiring(), "the attempt is over once it won");
}

#[test]
fn a_grant_delivered_twice_by_one_server_counts_once() {
    let mut client = client();
    let token = start(&mut client, ms(0));
    for _ in 0..3 {
        hear(&mut client, 1, granted(token), ms(1));
    }
    hear(&mut client, 2, granted(token), ms(1));
    assert_eq!(
        client.lease(ms(1)),
        None,
        "server 1's grant delivered three times and server 2's once are two servers of five, no majority"
    );
    assert!(client.is_acquiring());
    hear(&mut client, 3, granted(token), ms(2));
    assert!(
        client.lease(ms(2)).is_some(),
        "a third server makes a majority"
    );
}

#[rstest]
#[case::answers_at_once(1)]
#[case::answers_after_half_the_ttl(500)]
#[case::answers_just_in_time(969)]
fn a_lease_is_valid_from_the_send_plus_ttl_minus_the_drift_margin_whenever_the_grants_arrive(
    #[case] delay_ms: u64,
) {
    let sent = ms(1_000);
    let mut client = client();
    let token = start(&mut client, sent);
    let arrive = sent + ms(delay_ms);
    for s in [5, 3, 1] {
        hear(&mut client, s, granted(token), arrive);
    }
    let valid_until = sent + TTL - DRIFT;
    assert_eq!(
        client.lease(arrive),
        Some(Lease { token, valid_until }),
        "sent at {sent:?}, granted at {arrive:?}: the lease counts from the send, less the drift margin"
    );
    assert!(
        client.lease(valid_until - NS).is_some(),
        "valid one nanosecond before valid_until"
    );
    assert_eq!(
        client.lease(valid_until),
        None,
        "no longer valid at valid_until"
    );
    assert!(!client.is_acquiring());
}

#[rstest]
#[case::exactly_at_the_end(970)]
#[case::after_the_end(1_500)]
fn a_majority_that_arrives_when_the_lease_would_be_over_is_no_lease_and_is_released(
    #[case] delay_ms: u64,
) {
    let sent = ms(100);
    let mut client = client();
    let token = start(&mut client, sent);
    hear(&mut client, 1, granted(token), sent + ms(10));
    hear(&mut client, 2, granted(token), sent + ms(10));
    let late = sent + ms(delay_ms);
    let out = hear(&mut client, 3, granted(token), late);
    assert_eq!(
        client.lease(late),
        None,
        "sent at {sent:?}, the third grant arrived at {late:?}, when the lease would be over already"
    );
    assert!(!client.is_acquiring(), "that attempt failed");
    assert_releases_all(&out, token, "a majority that came too late");
}

#[test]
fn an_attempt_fails_once_a_majority_can_no_longer_grant_it_and_releases_every_server() {
    let mut client = client();
    let token = start(&mut client, ms(0));
    hear(&mut client, 1, granted(token), ms(1));
    let out = hear(&mut client, 2, denied(token, 0), ms(1));
    assert!(out.is_empty());
    let out = hear(&mut client, 2, denied(token, 0), ms(1));
    assert!(out.is_empty());
    let out = hear(&mut client, 3, denied(token, 0), ms(1));
    assert!(
        out.is_empty(),
        "two servers of five denied: three may still grant"
    );
    assert!(
        client.is_acquiring(),
        "two denials (one delivered twice) leave a majority possible"
    );
    let out = hear(&mut client, 4, denied(token, 0), ms(2));
    assert!(
        !client.is_acquiring(),
        "three of five denied: no majority can grant it now"
    );
    assert_releases_all(&out, token, "an attempt denied by a majority");
    assert_eq!(client.lease(ms(2)), None);
    hear(&mut client, 5, granted(token), ms(3));
    hear(&mut client, 3, granted(token), ms(3));
    assert_eq!(
        client.lease(ms(3)),
        None,
        "grants of a failed attempt win nothing"
    );
}

#[test]
fn an_attempt_without_a_majority_in_time_fails_in_tick_and_releases_every_server() {
    let sent = ms(50);
    let mut client = client();
    let token = start(&mut client, sent);
    hear(&mut client, 1, granted(token), sent + ms(5));
    hear(&mut client, 2, granted(token), sent + ms(5));
    let end = sent + TRUST;
    assert!(
        client.tick(end - NS).is_empty(),
        "still in time one nanosecond before"
    );
    assert!(client.is_acquiring());
    let out = client.tick(end);
    assert!(
        !client.is_acquiring(),
        "at sent + ttl - drift_margin the attempt is over"
    );
    assert_releases_all(&out, token, "an attempt that ran out of time");
    assert!(client.tick(end + ms(1)).is_empty(), "it is released once");
}

#[test]
fn answers_of_an_earlier_attempt_win_nothing() {
    let mut client = client();
    let old = start(&mut client, ms(0));
    client.release(ms(1));
    let new = start(&mut client, ms(2));
    assert_ne!(old, new);
    for s in [1, 2, 3] {
        hear(&mut client, s, granted(old), ms(3));
    }
    assert_eq!(
        client.lease(ms(3)),
        None,
        "three grants of the earlier attempt's token {old} are no majority for token {new}"
    );
    for s in [1, 2, 3] {
        hear(&mut client, s, denied(old, 0), ms(4));
    }
    assert!(
        client.is_acquiring(),
        "denials of the earlier attempt fail nothing"
    );
    for s in [4, 5, 1] {
        hear(&mut client, s, granted(new), ms(5));
    }
    assert_eq!(client.lease(ms(5)).map(|l| l.token), Some(new));
}

#[test]
fn a_client_is_busy_while_an_attempt_is_in_flight_or_its_lease_is_valid() {
    let mut client = client();
    assert!(!client.is_acquiring(), "a new client is idle");
    assert_eq!(client.lease(ms(0)), None, "a new client holds no lease");
    let token = start(&mut client, ms(0));
    assert!(client.is_acquiring());
    assert_eq!(
        client.acquire(ms(1)).err(),
        Some(ClientError::Busy),
        "an attempt is in flight"
    );
    for s in [1, 2, 3] {
        hear(&mut client, s, granted(token), ms(2));
    }
    assert_eq!(
        client.acquire(ms(3)).err(),
        Some(ClientError::Busy),
        "the lease is valid"
    );
    assert_eq!(
        client.acquire(TRUST - NS).err(),
        Some(ClientError::Busy),
        "the lease is valid until {TRUST:?}"
    );
    let next = start(&mut client, TRUST);
    assert!(
        next > token,
        "once the lease is over, a new attempt under a higher token"
    );
}

// ─────────────────────── 7. writing and releasing ───────────────────────

#[test]
fn a_client_writes_only_while_its_lease_is_valid() {
    let mut idle = client();
    assert_eq!(
        idle.write(1, ms(0)).err(),
        Some(ClientError::NotHolding),
        "no lease yet"
    );
    let token = start(&mut idle, ms(0));
    assert_eq!(
        idle.write(1, ms(1)).err(),
        Some(ClientError::NotHolding),
        "an attempt in flight is no lease"
    );
    let _ = token;
    let (mut client, token) = holding(ms(100));
    let until = ms(100) + TRUST;
    let out = client.write(42, until - NS).expect("the lease is valid");
    assert_eq!(
        (out.to, out.message),
        (STORAGE, Message::Write { token, value: 42 }),
        "a write goes to the storage under the lease's token"
    );
    assert_eq!(
        client.write(43, until).err(),
        Some(ClientError::NotHolding),
        "at valid_until the lease is over: no write"
    );
}

#[test]
fn a_rejected_write_drops_the_lease_it_was_written_under() {
    let mut client = client();
    let first = start(&mut client, ms(0));
    for s in [1, 2, 3] {
        hear(&mut client, s, denied(first, 4), ms(1));
    }
    let token = start(&mut client, ms(2));
    for s in [1, 2, 3] {
        hear(&mut client, s, granted(token), ms(3));
    }
    assert!(client.lease(ms(3)).is_some());
    hear(&mut client, STORAGE, Message::WriteAck { token }, ms(10));
    hear(
        &mut client,
        STORAGE,
        Message::WriteRejected {
            token: first,
            highest: token,
        },
        ms(10),
    );
    assert_eq!(
        client.lease(ms(10)).map(|l| l.token),
        Some(token),
        "a rejection of the older token {first} does not drop the lease of token {token}"
    );
    hear(
        &mut client,
        STORAGE,
        Message::WriteRejected {
            token,
            highest: token + 1,
        },
        ms(20),
    );
    assert_eq!(
        client.lease(ms(20)),
        None,
        "the storage has accepted a later holder's write: this lease is worth nothing"
    );
    assert_eq!(client.write(1, ms(21)).err(), Some(ClientError::NotHolding));
}

#[test]
fn release_sends_a_release_of_its_token_to_every_server_and_forgets_the_lease() {
    let mut client = client();
    assert!(
        client.release(ms(0)).is_empty(),
        "an idle client has nothing to release"
    );
    let token = start(&mut client, ms(1));
    let out = client.release(ms(2));
    assert_releases_all(&out, token, "release during an attempt");
    assert!(!client.is_acquiring());
    assert!(client.release(ms(3)).is_empty(), "released once");

    let (mut client, token) = holding(ms(0));
    let out = client.release(ms(10));
    assert_releases_all(&out, token, "release of a valid lease");
    assert_eq!(client.lease(ms(10)), None, "released: no lease");
    assert_eq!(client.write(1, ms(11)).err(), Some(ClientError::NotHolding));
}

// ─────────────────────────── 8. bad input ───────────────────────────

#[test]
fn a_client_that_has_seen_token_u64_max_cannot_acquire_and_nothing_overflows() {
    let mut client = client();
    let token = start(&mut client, ms(0));
    for s in [1, 2, 3] {
        hear(&mut client, s, denied(token, u64::MAX - 1), ms(1));
    }
    let last = start(&mut client, ms(2));
    assert_eq!(
        last,
        u64::MAX,
        "above u64::MAX - 1 there is u64::MAX, the last token"
    );
    for s in [1, 2, 3] {
        hear(&mut client, s, granted(last), ms(3));
    }
    assert_eq!(client.lease(ms(3)).map(|l| l.token), Some(u64::MAX));
    let w = client
        .write(9, ms(4))
        .expect("a lease under u64::MAX is a lease");
    assert_eq!(
        w.message,
        Message::Write {
            token: u64::MAX,
            value: 9
        }
    );
    client.release(ms(5));
    assert_eq!(
        client.acquire(ms(6)).err(),
        Some(ClientError::TokensExhausted),
        "no token is above u64::MAX"
    );
    assert!(!client.is_acquiring());
}

#[test]
fn a_lock_server_grants_token_u64_max_and_nothing_after_it() {
    let mut server = server();
    assert_eq!(acquire(&mut server, A, u64::MAX, ms(0)), granted(u64::MAX));
    release(&mut server, A, u64::MAX, ms(1));
    assert_eq!(
        acquire(&mut server, B, u64::MAX, ms(2)),
        denied(u64::MAX, u64::MAX)
    );
    assert_eq!(server.persistent().highest_token, u64::MAX);
}

/// A server holding A's lease under token 5 (granted at 0), and what it
/// says it holds.
fn busy_server() -> LockServer {
    let mut server = server();
    assert_eq!(acquire(&mut server, A, 5, ms(0)), granted(5));
    server
}

fn assert_server_unchanged(server: &mut LockServer, what: &str) {
    assert_eq!(
        server.grant(ms(0)),
        Some(Grant {
            holder: A,
            token: 5,
            expires_at: TTL
        }),
        "{what} changes nothing"
    );
    assert_eq!(
        server.persistent().highest_token,
        5,
        "{what} changes nothing"
    );
    assert_eq!(
        acquire(server, B, 6, ms(999)),
        denied(6, 5),
        "{what} does not move the server's clock either: the lease is held until 1 s"
    );
}

#[rstest]
#[case::a_stranger_acquiring(STRANGER, Message::Acquire { token: u64::MAX })]
#[case::a_stranger_releasing(STRANGER, Message::Release { token: 5 })]
#[case::the_server_itself(SERVER, Message::Release { token: 5 })]
#[case::the_storage(STORAGE, Message::Acquire { token: 9 })]
fn a_lock_server_refuses_messages_from_unknown_nodes(
    #[case] from: NodeId,
    #[case] message: Message,
) {
    let mut server = busy_server();
    assert_eq!(
        server.receive(from, message, ms(5_000)),
        Err(ReceiveError::UnknownNode(from)),
        "{message:?} from {from}, who is not a client of this server"
    );
    assert_server_unchanged(&mut server, "a refused message (its `now` included)");
}

#[rstest]
#[case::acquire_token_zero(Message::Acquire { token: 0 })]
#[case::release_token_zero(Message::Release { token: 0 })]
#[case::a_write(Message::Write { token: 9, value: 1 })]
#[case::a_grant(Message::Granted { token: 9 })]
#[case::a_denial(Message::Denied { token: 9, highest: 9 })]
#[case::a_write_ack(Message::WriteAck { token: 9 })]
#[case::a_write_rejected(Message::WriteRejected { token: 9, highest: 9 })]
fn a_lock_server_refuses_malformed_messages(#[case] message: Message) {
    let mut server = busy_server();
    assert_eq!(
        server.receive(B, message, ms(5_000)),
        Err(ReceiveError::Malformed),
        "a lock server handles Acquire and Release of tokens >= 1 only: {message:?}"
    );
    assert_server_unchanged(&mut server, "a malformed message (its `now` included)");
}

#[rstest]
#[case::a_stranger(STRANGER, Message::Write { token: u64::MAX, value: 666 }, ReceiveError::UnknownNode(STRANGER))]
#[case::itself(STORAGE, Message::Write { token: 9, value: 666 }, ReceiveError::UnknownNode(STORAGE))]
#[case::token_zero(A, Message::Write { token: 0, value: 666 }, ReceiveError::Malformed)]
#[case::an_acquire(A, Message::Acquire { token: 9 }, ReceiveError::Malformed)]
#[case::a_release(A, Message::Release { token: 9 }, ReceiveError::Malformed)]
#[case::a_write_ack(A, Message::WriteAck { token: 9 }, ReceiveError::Malformed)]
#[case::a_grant(A, Message::Granted { token: 9 }, ReceiveError::Malformed)]
fn the_storage_refuses_unknown_writers_and_malformed_messages(
    #[case] from: NodeId,
    #[case] message: Message,
    #[case] error: ReceiveError,
) {
    let mut storage = storage();
    assert_eq!(
        write(&mut storage, A, 5, 50),
        Message::WriteAck { token: 5 }
    );
    assert_eq!(
        storage.receive(from, message),
        Err(error),
        "{message:?} from {from}"
    );
    assert_eq!(
        (storage.value(), storage.highest_token()),
        (Some(50), 5),
        "a refused {message:?} changes nothing"
    );
    assert_eq!(
        write(&mut storage, B, 5, 51),
        Message::WriteAck { token: 5 }
    );
}

#[rstest]
#[case::a_stranger_granting(STRANGER, Message::Granted { token: 1 }, ReceiveError::UnknownNode(STRANGER))]
#[case::a_stranger_denying(STRANGER, Message::Denied { token: 1, highest: u64::MAX }, ReceiveError::UnknownNode(STRANGER))]
#[case::itself(A, Message::Granted { token: 1 }, ReceiveError::UnknownNode(A))]
#[case::another_client(B, Message::Granted { token: 1 }, ReceiveError::UnknownNode(B))]
#[case::a_grant_of_token_zero(1, Message::Granted { token: 0 }, ReceiveError::Malformed)]
#[case::a_denial_of_token_zero(1, Message::Denied { token: 0, highest: u64::MAX }, ReceiveError::Malformed)]
#[case::a_grant_from_the_storage(STORAGE, Message::Granted { token: 1 }, ReceiveError::Malformed)]
#[case::a_write_ack_from_a_server(1, Message::WriteAck { token: 1 }, ReceiveError::Malformed)]
#[case::a_write_rejected_from_a_server(2, Message::WriteRejected { token: 1, highest: u64::MAX }, ReceiveError::Malformed)]
#[case::an_acquire(1, Message::Acquire { token: 1 }, ReceiveError::Malformed)]
#[case::a_write(STORAGE, Message::Write { token: 1, value: 1 }, ReceiveError::Malformed)]
fn a_client_refuses_unknown_nodes_and_malformed_messages(
    #[case] from: NodeId,
    #[case] message: Message,
    #[case] error: ReceiveError,
) {
    // Two clients given the same calls; only the first hears the message.
    let mut twin = client();
    let mut client = client();
    for c in [&mut client, &mut twin] {
        let token = start(c, ms(0));
        hear(c, 4, granted(token), ms(1));
        hear(c, 5, granted(token), ms(1));
    }
    for _ in 0..3 {
        assert_eq!(
            client.receive(from, message, ms(2_000)),
            Err(error),
            "{message:?} from {from}"
        );
    }
    assert!(
        client.is_acquiring(),
        "a refused {message:?} changes nothing"
    );
    // Neither its clock nor its count moved: the third grant wins at 10 ms,
    // valid until 970 ms.
    let out = twin.release(ms(1));
    let token = out.first().map_or(0, |o| o.message.token());
    hear(&mut client, 1, granted(token), ms(10));
    assert_eq!(
        client.lease(ms(10)),
        Some(Lease {
            token,
            valid_until: TRUST
        }),
        "after a refused {message:?}, the attempt goes on as if it never came"
    );
    client.release(ms(11));
    let next = client
        .acquire(ms(12))
        .ok()
        .map(|out| out[0].message.token());
    let twin_next = twin.acquire(ms(12)).ok().map(|out| out[0].message.token());
    assert_eq!(
        next, twin_next,
        "a refused {message:?} tells of no token: the next proposal is the same as a client's that never heard it"
    );
}

#[test]
fn an_earlier_now_is_taken_as_no_time_passing() {
    // A lock server that has seen 5 s grants at "1 s" a lease until 6 s.
    let mut server = server();
    assert_eq!(acquire(&mut server, C, 1, ms(5_000)), granted(1));
    release(&mut server, C, 1, ms(5_000));
    assert_eq!(acquire(&mut server, A, 2, ms(1_000)), granted(2));
    assert_eq!(
        acquire(&mut server, B, 3, ms(5_500)),
        denied(3, 2),
        "the server's clock read 5 s when it granted at \"1 s\": the lease lasts until 6 s"
    );
    assert_eq!(
        server.grant(ms(1_000)).map(|g| g.expires_at),
        Some(ms(6_000))
    );

    // A client that has seen 5 s sends at "1 s": its lease counts from 5 s.
    let mut client = client();
    assert!(client.tick(ms(5_000)).is_empty());
    let token = start(&mut client, ms(1_000));
    assert!(
        client.tick(ms(2_000)).is_empty() && client.is_acquiring(),
        "the attempt was sent at 5 s, not 1 s: it is not over at \"2 s\""
    );
    for s in [1, 2, 3] {
        hear(&mut client, s, granted(token), ms(5_010));
    }
    assert_eq!(
        client.lease(ms(5_010)),
        Some(Lease {
            token,
            valid_until: ms(5_000) + TRUST
        })
    );
    assert!(
        client.lease(ms(100)).is_some(),
        "an earlier now is no time passing: the lease is still valid"
    );
    assert!(client.tick(ms(6_000)).is_empty());
    assert_eq!(
        client.lease(ms(5_500)),
        None,
        "the client's clock read 6 s: its lease ended at 5.97 s, whatever now says"
    );
    assert_eq!(
        client.write(1, ms(5_500)).err(),
        Some(ClientError::NotHolding)
    );
}

#[test]
fn a_clock_near_duration_max_never_panics() {
    let end = Duration::MAX;
    let mut server = server_from(Persistent { highest_token: 3 }, end - ms(1));
    assert_eq!(
        acquire(&mut server, A, 4, end - ms(1)),
        denied(4, 3),
        "waiting out a restart"
    );
    let mut server = server_from(Persistent::default(), end - ms(1));
    assert_eq!(acquire(&mut server, A, 4, end - ms(1)), granted(4));
    assert!(server.grant(end - ms(1)).is_some());
    assert_eq!(
        acquire(&mut server, B, 5, end - NS),
        denied(5, 4),
        "held until the end of time"
    );

    let mut client = client_of(&SERVERS, Config::default(), end - ms(1));
    let token = start(&mut client, end - ms(1));
    for s in [1, 2, 3] {
        hear(&mut client, s, granted(token), end - NS);
    }
    assert!(
        client.lease(end - NS).is_some(),
        "a lease near Duration::MAX is a lease"
    );
    assert!(client.write(1, end - NS).is_ok());
    let _ = client.tick(end);
    let _ = client.release(end);
}

// ─────────────────────── model-based properties ───────────────────────

/// What a lock server must do, written plainly.
#[derive(Clone, Debug)]
struct ServerModel {
    highest: Token,
    lease: Option<(NodeId, Token, Duration)>,
    grants_from: Duration,
    now: Duration,
}

impl ServerModel {
    fn held(&self) -> Option<(NodeId, Token, Duration)> {
        self.lease.filter(|&(_, _, until)| self.now < until)
    }

    fn acquire(&mut self, from: NodeId, token: Token) -> Message {
        match self.held() {
            Some((holder, t, _)) if holder == from && t == token => granted(token),
            Some(_) => denied(token, self.highest),
            None if self.now < self.grants_from || token <= self.highest => {
                denied(token, self.highest)
            }
            None => {
                self.lease = Some((from, token, self.now + TTL));
                self.highest = token;
                granted(token)
            }
        }
    }
}

#[derive(Clone, Debug)]
enum ServerOp {
    Acquire(NodeId, Token),
    Release(NodeId, Token),
    Wait(u64),
    Restart,
}

fn server_op() -> impl Strategy<Value = ServerOp> {
    let client = prop::sample::select(CLIENTS.to_vec());
    prop_oneof![
        4 => (client.clone(), 1..12u64).prop_map(|(c, t)| ServerOp::Acquire(c, t)),
        2 => (client, 1..12u64).prop_map(|(c, t)| ServerOp::Release(c, t)),
        3 => (0..1_500u64).prop_map(ServerOp::Wait),
        1 => Just(ServerOp::Restart),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_lock_server_answers_like_the_plain_model_over_random_requests_and_restarts(
        ops in prop::collection::vec(server_op(), 1..60)
    ) {
        let mut now = ms(0);
        let mut server = server();
        let mut model = ServerModel { highest: 0, lease: None, grants_from: now, now };
        for (i, op) in ops.iter().enumerate() {
            match *op {
                ServerOp::Acquire(from, token) => {
                    model.now = now;
                    let want = model.acquire(from, token);
                    let got = acquire(&mut server, from, token, now);
                    prop_assert_eq!(got, want, "step {} {:?} at {:?} after {:?}", i, op, now, &ops[..i]);
                }
                ServerOp::Release(from, token) => {
                    model.now = now;
                    if model.lease.is_some_and(|(h, t, _)| h == from && t == token) {
                        model.lease = None;
                    }
                    release(&mut server, from, token, now);
                }
                ServerOp::Wait(d) => now += ms(d),
                ServerOp::Restart => {
                    server = server_from(server.persistent(), now);
                    model.lease = None;
                    model.now = now;
                    model.grants_from = if model.highest > 0 { now + TTL } else { now };
                }
            }
            model.now = now;
            let want = model.held().map(|(holder, token, expires_at)| Grant { holder, token, expires_at });
            prop_assert_eq!(server.grant(now), want, "the lease held after step {} {:?}, at {:?}", i, op, now);
            prop_assert_eq!(server.persistent().highest_token, model.highest, "highest_token after step {} {:?}", i, op);
        }
    }

    #[test]
    fn the_storage_keeps_the_value_of_the_highest_token_written_over_random_writes(
        writes in prop::collection::vec((prop::sample::select(CLIENTS.to_vec()), 1..8u64, any::<u64>()), 1..40)
    ) {
        let mut storage = storage();
        let mut model: Option<(Token, u64)> = None;
        for &(from, token, value) in &writes {
            let got = write(&mut storage, from, token, value);
            let accepted = model.is_none_or(|(highest, _)| token >= highest);
            if accepted {
                model = Some((token, value));
                prop_assert_eq!(got, Message::WriteAck { token });
            } else {
                let highest = model.map_or(0, |(h, _)| h);
                prop_assert_eq!(got, Message::WriteRejected { token, highest });
            }
            prop_assert_eq!(storage.value(), model.map(|(_, v)| v));
            prop_assert_eq!(storage.highest_token(), model.map_or(0, |(h, _)| h));
        }
    }

    #[test]
    fn a_client_counts_each_server_once_and_times_its_lease_from_the_send(
        verdicts in prop::array::uniform5(any::<bool>()),
        answers in prop::collection::vec((0..5usize, 0..970u64), 1..30),
        sent in 0..10_000u64,
    ) {
        // Each server answers one way, delivered any number of times, in
        // time (a majority that comes too late is a spec of its own).
        let sent = ms(sent);
        let mut client = client();
        let token = start(&mut client, sent);
        let mut yes = BTreeSet::new();
        let mut no = BTreeSet::new();
        let mut last = sent;
        let mut over = false;
        for &(i, delay) in &answers {
            let (s, grant) = (SERVERS[i], verdicts[i]);
            let at = (sent + ms(delay)).max(last);
            last = at;
            let message = if grant { granted(token) } else { denied(token, 0) };
            let out = hear(&mut client, s, message, at);
            if over {
                prop_assert!(out.is_empty(), "answers after the attempt ended send nothing");
                continue;
            }
            if grant { yes.insert(s); } else { no.insert(s); }
            if yes.len() >= 3 {
                over = true;
                if at < sent + TRUST {
                    prop_assert_eq!(client.lease(at), Some(Lease { token, valid_until: sent + TRUST }));
                    prop_assert!(out.is_empty(), "winning sends nothing");
                } else {
                    prop_assert_eq!(client.lease(at), None, "a majority at {:?} is too late", at);
                    prop_assert_eq!(out.len(), 5, "a late majority releases every server");
                }
            } else if no.len() >= 3 {
                over = true;
                prop_assert_eq!(out.len(), 5, "three denials release every server");
                prop_assert!(!client.is_acquiring());
            } else {
                prop_assert!(client.is_acquiring(), "{} grants and {} denials of distinct servers: undecided", yes.len(), no.len());
                prop_assert_eq!(client.lease(at), None);
            }
        }
    }
}
