//! A bounded fuzz run of the front door. Random client byte streams (a startup packet that is
//! valid, a cancel or SSL request, or garbage; then frames of every type pgwire decodes, built
//! from strings, counts and lengths at their edges, some with a wrong length) go through
//! [`Frames`] after the server asked for one kind of password message, and whatever it passes
//! on is decoded by pgwire's own decoder, a password message coerced as pgwire would coerce
//! it. Nothing may panic. The seed is fixed, so a failure reproduces; `KUBEPG_FUZZ_CASES` runs
//! more cases than the suite's default.

use std::panic::{AssertUnwindSafe, catch_unwind};

use bytes::BytesMut;
use datafusion_postgres::pgwire::messages::startup::PasswordMessageFamily;
use datafusion_postgres::pgwire::messages::{DecodeContext, PgWireFrontendMessage};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use tokio::io::AsyncReadExt;

use super::Frames;

const CASES: u32 = 5_000;

fn edge_i32() -> impl Strategy<Value = i32> {
    prop_oneof![
        prop::sample::select(vec![
            -2,
            -1,
            0,
            1,
            2,
            3,
            4,
            5,
            8,
            255,
            65_535,
            i32::MAX,
            i32::MIN
        ]),
        any::<i32>(),
    ]
}

fn edge_i16() -> impl Strategy<Value = i16> {
    prop_oneof![
        prop::sample::select(vec![-1i16, 0, 1, 2, 3, i16::MAX, i16::MIN]),
        any::<i16>(),
    ]
}

/// A piece of a message body: the fields pgwire's decoders read.
fn piece() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        // A string, sometimes with a NUL inside, sometimes unterminated.
        (
            prop::collection::vec(prop::sample::select(b"ab\0=,rSP".to_vec()), 0..8),
            any::<bool>()
        )
            .prop_map(|(mut s, terminated)| {
                if terminated {
                    s.push(0);
                }
                s
            }),
        edge_i16().prop_map(|n| n.to_be_bytes().to_vec()),
        edge_i32().prop_map(|n| n.to_be_bytes().to_vec()),
        prop::collection::vec(any::<u8>(), 0..12),
    ]
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(piece(), 0..6).prop_map(|pieces| pieces.concat())
}

/// A length field: the right one mostly, a wrong one sometimes.
fn with_length(header: Vec<u8>, body: Vec<u8>, wrong: Option<i32>) -> Vec<u8> {
    let right = (body.len() + 4) as i32;
    let mut out = header;
    out.extend_from_slice(&wrong.unwrap_or(right).to_be_bytes());
    out.extend_from_slice(&body);
    out
}

fn wrong_length() -> impl Strategy<Value = Option<i32>> {
    prop_oneof![8 => Just(None), 1 => edge_i32().prop_map(Some)]
}

fn startup() -> impl Strategy<Value = Vec<u8>> {
    let params = prop::collection::vec(
        (
            prop::sample::select(vec!["user", "database", "options", "application_name", ""]),
            "[a-z\\-]{0,6}",
        ),
        0..4,
    );
    prop_oneof![
        4 => (params, wrong_length()).prop_map(|(params, wrong)| {
            let mut b = 196_608i32.to_be_bytes().to_vec();
            for (k, v) in params {
                b.extend_from_slice(k.as_bytes());
                b.push(0);
                b.extend_from_slice(v.as_bytes());
                b.push(0);
            }
            b.push(0);
            with_length(Vec::new(), b, wrong)
        }),
        1 => edge_i32().prop_map(|pid| {
            with_length(Vec::new(), [&80_877_102i32.to_be_bytes()[..], &pid.to_be_bytes(), &[0; 4]].concat(), None)
        }),
        1 => Just(with_length(Vec::new(), 80_877_103i32.to_be_bytes().to_vec(), None)),
        1 => (body(), wrong_length()).prop_map(|(b, wrong)| with_length(Vec::new(), b, wrong)),
    ]
}

fn frame() -> impl Strategy<Value = Vec<u8>> {
    let kind = prop_oneof![
        8 => prop::sample::select(b"QPBEDCSHXpdcf".to_vec()),
        1 => any::<u8>(),
    ];
    (kind, body(), wrong_length()).prop_map(|(kind, b, wrong)| with_length(vec![kind], b, wrong))
}

/// What the client sends, and the authentication request the server sent before it.
fn exchange() -> impl Strategy<Value = (Vec<u8>, i32)> {
    (
        startup(),
        prop::collection::vec(frame(), 0..6),
        prop::sample::select(vec![0, 3, 5, 10, 11]),
    )
        .prop_map(|(startup, frames, asked)| ([startup, frames.concat()].concat(), asked))
}

fn auth_request(code: i32) -> Vec<u8> {
    let rest: &[u8] = match code {
        10 => b"SCRAM-SHA-256\0\0",
        11 => b"r=abcdef,s=c2FsdA==,i=4096",
        5 => b"salt",
        _ => b"",
    };
    let body = [&code.to_be_bytes()[..], rest].concat();
    with_length(vec![b'R'], body, None)
}

/// Every byte [`Frames`] hands on before it refuses the stream (or it ends).
async fn passed(bytes: &[u8], asked: i32) -> Vec<u8> {
    let mut frames = Frames::new(bytes, BytesMut::new(), 1 << 16);
    frames.auth.written(&auth_request(asked));
    let mut out = Vec::new();
    let mut chunk = [0u8; 512];
    while let Ok(n) = frames.read(&mut chunk).await {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&chunk[..n]);
    }
    out
}

/// pgwire decodes what passed as it would on a connection past TLS negotiation.
fn decode(passed: &[u8], asked: i32) {
    let mut buf = BytesMut::from(passed);
    let mut ctx = DecodeContext::default();
    ctx.awaiting_frontend_ssl = false;
    let mut asked = Some(asked);
    while let Ok(Some(message)) = PgWireFrontendMessage::decode(&mut buf, &ctx) {
        ctx.awaiting_frontend_startup = false;
        let PgWireFrontendMessage::PasswordMessageFamily(PasswordMessageFamily::Raw(body)) =
            message
        else {
            continue;
        };
        let raw = PasswordMessageFamily::Raw(body);
        let _ = match asked.take() {
            Some(3 | 5) => raw.into_password().map(drop),
            Some(10) => raw.into_sasl_initial_response().map(drop),
            Some(11) => raw.into_sasl_response().map(drop),
            _ => Ok(()),
        };
    }
}

#[test]
fn no_client_stream_panics_the_front_door_or_pgwires_decoders() {
    let cases = std::env::var("KUBEPG_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(CASES);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut runner = TestRunner::new_with_rng(
        Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        },
        TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    );
    runner
        .run(&exchange(), |(bytes, asked)| {
            catch_unwind(AssertUnwindSafe(|| {
                let passed = runtime.block_on(passed(&bytes, asked));
                decode(&passed, asked);
            }))
            .map_err(|_| TestCaseError::fail(format!("panicked on {bytes:?} after {asked}")))
        })
        .unwrap();
}
