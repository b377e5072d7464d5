//! The gateway is a lossless proxy: whatever bytes a client sends as tool arguments reach the
//! upstream unchanged (only the tool name is un-prefixed and the id re-minted), and whatever bytes
//! the upstream answers reach the client unchanged.
//!
//! `fx__mirror` answers with the exact bytes of `params.arguments` as its `result`, so the round
//! trip is checked by slicing the raw response text, never by re-serialising.

mod support;

use std::sync::atomic::{AtomicU64, Ordering};

use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestRunner};
use serde_json::Value;
use support::*;

// ----- generators of JSON text ------------------------------------------------------------------

/// Insignificant whitespace that fits on one line.
fn ws() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["", "", " ", "  ", "\t", " \t", "\t \t"]).prop_map(str::to_owned)
}

/// A JSON string literal, escapes and all.
fn json_string() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => "[a-zA-Z0-9 _.:-]{0,8}",
        1 => Just(r"\u00e9".to_owned()),
        1 => Just(r"\u00E9".to_owned()),
        1 => Just(r"\n".to_owned()),
        1 => Just(r#"\""#.to_owned()),
        1 => Just(r"\\".to_owned()),
        1 => Just(r"\/".to_owned()),
        1 => Just(r"\t\r\b\f".to_owned()),
        1 => Just(r"\ud83d\ude00".to_owned()),
        1 => Just(r"\uD83D\uDE00".to_owned()),
        1 => Just(r"\u0000\u001f".to_owned()),
        1 => Just("é".to_owned()),
        1 => Just("😀".to_owned()),
        1 => Just("日本語".to_owned()),
        1 => Just("\u{2028}\u{2029}".to_owned()),
        1 => Just("\u{7f}\u{feff}".to_owned()),
        2 => any::<char>()
            .prop_filter("must not need escaping", |c| *c >= ' ' && *c != '"' && *c != '\\')
            .prop_map(String::from),
    ];
    prop::collection::vec(piece, 0..6).prop_map(|v| format!("\"{}\"", v.concat()))
}

/// A JSON number, including integers no 64-bit type holds and floats at the edges.
fn json_number() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "123456789012345678901234567890",
            "-123456789012345678901234567890",
            "18446744073709551616",
            "-9223372036854775809",
            "0",
            "-0",
            "1.0e-7",
            "1E+300",
            "-0.0",
            "2.5E-308",
            "3.141592653589793238462643383279",
            "1.0",
            "100e0",
            "1.50000000000000000000000000001",
        ])
        .prop_map(str::to_owned),
        "-?[1-9][0-9]{0,40}",
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| format!("{f:e}")),
    ]
}

/// A member name: vendor extensions, `_meta`, or anything a string can hold.
fn json_key() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => "x-vendor-[a-z0-9-]{1,10}".prop_map(|k| format!("\"{k}\"")),
        1 => Just("\"_meta\"".to_owned()),
        2 => json_string(),
    ]
}

/// Joins members into an object, dropping later duplicates of a (decoded) key.
fn object(members: Vec<(String, String, String, String, String)>, close: String) -> String {
    let mut seen = std::collections::HashSet::new();
    let mut out = String::from("{");
    let mut first = true;
    for (pre, key, colon, value, post) in members {
        let decoded: String = serde_json::from_str(&key).expect("generated key is a JSON string");
        if !seen.insert(decoded) {
            continue;
        }
        if !first {
            out.push(',');
        }
        first = false;
        out.push_str(&pre);
        out.push_str(&key);
        out.push_str(&colon);
        out.push(':');
        out.push_str(&value);
        out.push_str(&post);
    }
    out.push_str(&close);
    out.push('}');
    out
}

/// Any JSON value, as text with odd (single-line) whitespace.
fn json_value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        3 => json_string(),
        3 => json_number(),
        1 => prop::sample::select(vec!["true", "false", "null"]).prop_map(str::to_owned),
    ];
    leaf.prop_recursive(4, 48, 5, |inner| {
        prop_oneof![
            (
                prop::collection::vec((ws(), inner.clone(), ws()), 0..5),
                ws()
            )
                .prop_map(|(items, close)| {
                    if items.is_empty() {
                        return format!("[{close}]");
                    }
                    let parts: Vec<String> = items
                        .into_iter()
                        .map(|(a, v, b)| format!("{a}{v}{b}"))
                        .collect();
                    format!("[{}]", parts.join(","))
                }),
            (
                prop::collection::vec((ws(), json_key(), ws(), inner, ws()), 0..5),
                ws()
            )
                .prop_map(|(m, close)| {
                    let m = m
                        .into_iter()
                        .map(|(a, k, b, v, c)| (a, k, b.clone(), format!("{b}{v}"), c))
                        .collect();
                    object(m, close)
                }),
        ]
    })
}

/// An object with arbitrary keys, for `_meta`.
fn json_object() -> impl Strategy<Value = String> {
    (
        prop::collection::vec((ws(), json_key(), ws(), json_value(), ws()), 0..5),
        ws(),
    )
        .prop_map(|(m, close)| object(m, close))
}

/// One generated `tools/call` of `fx__mirror`.
#[derive(Debug, Clone)]
struct Case {
    /// Members of `arguments` (before the case marker is added).
    members: Vec<(String, String, String, String, String)>,
    /// `arguments._meta`, nested data with arbitrary keys.
    args_meta: Option<String>,
    /// `params._meta` (request metadata without a progress token).
    params_meta: Option<String>,
    /// Whitespace used around the envelope's own tokens.
    ws: Vec<String>,
    /// Whether the JSON-RPC id is a string with escapes (else a number).
    string_id: bool,
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec((ws(), json_key(), ws(), json_value(), ws()), 0..6),
        prop::option::of(json_object()),
        prop::option::of(
            prop::collection::vec(
                (
                    ws(),
                    "x-[a-z]{1,8}".prop_map(|k| format!("\"{k}\"")),
                    ws(),
                    json_value(),
                    ws(),
                ),
                0..4,
            )
            .prop_map(|m| object(m, String::new())),
        ),
        prop::collection::vec(ws(), 12),
        any::<bool>(),
    )
        .prop_map(|(members, args_meta, params_meta, ws, string_id)| Case {
            members,
            args_meta,
            params_meta,
            ws,
            string_id,
        })
}

impl Case {
    /// The `arguments` text, with a unique marker member first.
    fn arguments(&self, marker: &str) -> String {
        let mut m = vec![(
            self.ws[0].clone(),
            "\"x-vendor-case\"".to_owned(),
            self.ws[1].clone(),
            format!("{}\"{marker}\"", self.ws[2]),
            self.ws[3].clone(),
        )];
        m.extend(
            self.members
                .iter()
                .filter(|(_, k, ..)| k != "\"_meta\"" && k != "\"x-vendor-case\"")
                .cloned(),
        );
        if let Some(meta) = &self.args_meta {
            m.push((
                self.ws[4].clone(),
                "\"_meta\"".to_owned(),
                String::new(),
                format!("{}{meta}", self.ws[5]),
                String::new(),
            ));
        }
        object(m, self.ws[6].clone())
    }

    /// The `params` text.
    fn params(&self, arguments: &str) -> String {
        let w = &self.ws;
        let mut p = format!(
            "{{{}\"name\"{}:{}\"fx__mirror\"{},{}\"arguments\"{}:{}{arguments}",
            w[7], w[8], w[9], w[10], w[11], w[0], w[1]
        );
        if let Some(meta) = &self.params_meta {
            p.push_str(&format!(",{}\"_meta\":{}{meta}{}", w[2], w[3], w[4]));
        }
        p.push_str(&w[5]);
        p.push('}');
        p
    }
}

// ----- tests ------------------------------------------------------------------------------------

#[test]
fn mirror_round_trips_arguments_byte_for_byte() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (c, log) = fx_config();
    let gw = rt.block_on(c.start());
    let s = rt.block_on(gw.initialize());
    let n = AtomicU64::new(0);
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let result = runner.run(&case(), |case| {
        let i = n.fetch_add(1, Ordering::Relaxed);
        let marker = format!("case-{i}-mirror-marker");
        let arguments = case.arguments(&marker);
        let params = case.params(&arguments);
        // Every generated text is valid JSON (the generator's own sanity).
        serde_json::from_str::<Value>(&params)
            .map_err(|e| TestCaseError::fail(format!("generator made bad JSON ({e}): {params}")))?;
        let id = if case.string_id {
            format!(r#""r\u00e9q-{i}-é""#)
        } else {
            format!("{}", 1000 + i)
        };
        let body =
            format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{params}}}"#);
        let r = rt.block_on(s.post_raw(body));
        prop_assert_eq!(r.status, 200, "{}", r.text);
        let raw = r
            .raw_response()
            .ok_or_else(|| TestCaseError::fail(format!("no response: {}", r.text)))?;
        let got_id = raw_member(&raw, "id");
        prop_assert_eq!(
            got_id.as_deref(),
            Some(id.as_str()),
            "the id must come back byte for byte"
        );
        prop_assert!(
            raw_member(&raw, "error").is_none(),
            "mirror failed: {} (sent {})",
            raw,
            params
        );
        prop_assert_eq!(
            r.raw_result(),
            arguments.clone(),
            "result bytes differ from the arguments sent"
        );

        // What the upstream received: the same params, the name un-prefixed.
        let needle = format!("\"{marker}\"");
        let line = rt.block_on(wait_log(&log, PATIENCE, |l| l.contains(&needle)));
        let got = parse_logged(&line)
            .ok_or_else(|| TestCaseError::fail(format!("upstream got a non-request: {line}")))?;
        prop_assert_eq!(&got.method, "tools/call");
        let expected = params.replacen("\"fx__mirror\"", "\"mirror\"", 1);
        prop_assert_eq!(
            got.params.as_deref(),
            Some(expected.as_str()),
            "params reached the upstream changed"
        );
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// stdio framing is one message per line, so raw line breaks a client used as whitespace must
/// not reach a stdio upstream as line breaks; the call must still work and the upstream must
/// receive one whole message.
#[tokio::test]
async fn line_breaks_in_whitespace_do_not_break_stdio_framing() {
    let (c, log) = fx_config();
    let gw = c.start().await;
    let s = gw.initialize().await;
    for (i, nl) in ["\n", "\r\n", "\r"].into_iter().enumerate() {
        let marker = format!("newline-case-{i}");
        let arguments = format!(
            "{{{nl}  \"x-vendor-case\": \"{marker}\",{nl}  \"n\": [1,{nl}2],{nl}  \"s\": \"a\\nb\"{nl}}}"
        );
        let params = format!("{{\"name\":\"fx__mirror\",{nl}\"arguments\":{arguments}{nl}}}");
        let body = format!(
            "{{\"jsonrpc\":\"2.0\",{nl}\"id\":{i},\"method\":\"tools/call\",\"params\":{params}}}"
        );
        let r = s.post_raw(body).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let want: Value = serde_json::from_str(&arguments).unwrap();
        assert_eq!(
            r.result(),
            want,
            "line break {nl:?}: the upstream did not get the arguments: {}",
            r.text
        );
        let line = wait_log(&log, PATIENCE, |l| l.contains(&marker)).await;
        let got = parse_logged(&line).unwrap_or_else(|| panic!("not one message: {line:?}"));
        assert_eq!(got.method, "tools/call");
    }
}

#[tokio::test]
async fn progress_token_is_restored_raw_and_meta_kept() {
    let (c, log) = fx_config();
    let gw = c.start().await;
    let s = gw.initialize().await;
    for (token, keep) in [
        (r#""tok-é""#, r#"{"a":[1,2]}"#),
        (r#""tok-\u00e9""#, r#"{ "a" : [1 ,	2], "é":"\u00e9" }"#),
        ("42", r#"{"a":[1,2]}"#),
    ] {
        let params = format!(
            r#"{{"name":"fx__test_tool_with_progress","arguments":{{}},"_meta":{{"progressToken":{token},"x-keep":{keep}}}}}"#
        );
        let r = s.request("tools/call", Some(&params)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(
            r.is_sse(),
            "progress before the response makes the answer an SSE stream: {:?}",
            r
        );
        let raw = r.raw_messages();
        let progress: Vec<&String> = raw
            .iter()
            .filter(|m| m.contains("notifications/progress"))
            .collect();
        assert_eq!(progress.len(), 3, "{raw:#?}");
        let mut values = Vec::new();
        for m in &progress {
            let params = raw_member(m, "params").unwrap();
            assert_eq!(
                raw_member(&params, "progressToken").as_deref(),
                Some(token),
                "the client's token must come back byte for byte: {m}"
            );
            let v: Value = serde_json::from_str(m).unwrap();
            values.push(v["params"]["progress"].as_i64().unwrap());
        }
        assert_eq!(values, [0, 50, 100]);
        // The response comes last, after every progress notification.
        let last: Value = serde_json::from_str(raw.last().unwrap()).unwrap();
        assert!(last.get("result").is_some(), "{raw:#?}");
        assert_ne!(last["result"]["isError"], true);

        // Upstream side: a token of the gateway's own, every other _meta member untouched.
        let line = wait_log(&log, PATIENCE, |l| {
            l.contains("test_tool_with_progress") && l.contains(keep)
        })
        .await;
        let got = parse_logged(&line).unwrap();
        let params_up = got.params.unwrap();
        assert_eq!(
            raw_member(&params_up, "name").as_deref(),
            Some(r#""test_tool_with_progress""#)
        );
        let meta = raw_member(&params_up, "_meta").unwrap();
        let up_token = raw_member(&meta, "progressToken").unwrap();
        assert!(
            up_token.parse::<u64>().is_ok(),
            "the upstream should see the gateway's numeric token, got {up_token}"
        );
        assert_eq!(raw_member(&meta, "x-keep").as_deref(), Some(keep), "{line}");
        // Nothing else was changed: only the name and the token differ from what was sent.
        let expected = params
            .replacen(
                "\"fx__test_tool_with_progress\"",
                "\"test_tool_with_progress\"",
                1,
            )
            .replacen(
                &format!("\"progressToken\":{token}"),
                &format!("\"progressToken\":{up_token}"),
                1,
            );
        assert_eq!(params_up, expected);
    }
}

#[tokio::test]
async fn big_result_arrives_whole() {
    let (c, _) = fx_config();
    let gw = c.start().await;
    let s = gw.initialize().await;
    // The upstream's line buffer grows for a large answer and is reused for every line after:
    // each answer comes whole, whatever came before it.
    for (bytes, then) in [
        (3_000_000, "after a big one"),
        (100, "after a small one"),
        (70_000, "last"),
    ] {
        let r = s
            .call_tool("fx__big", &format!(r#"{{"bytes":{bytes}}}"#))
            .await;
        assert_eq!(r.status, 200);
        let text = r.result()["content"][0]["text"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(text.len(), bytes);
        assert!(text.bytes().all(|b| b == b'x'));
        let r = s
            .call_tool("fx__echo", &format!(r#"{{"message":"{then}"}}"#))
            .await;
        assert!(r.text.contains(then), "{}", r.text);
    }
}
