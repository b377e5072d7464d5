//! Micro-benchmarks of the wire work every proxied `tools/call` does: parse the client's envelope,
//! rewrite the tool name and the progress token, re-envelope the upstream's answer under the
//! client's id, and frame messages as SSE. Run with `cargo bench -p switchboard-protocol`.

use bytes::Bytes;
use divan::{Bencher, black_box};
use switchboard_protocol::message::encode;
use switchboard_protocol::object::{self, Edit};
use switchboard_protocol::{Id, Message, sse};

fn main() {
    divan::main();
}

const CALL: &str = r#"{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"github__create_issue","arguments":{"repo":"switchboard","title":"Faster","body":"Numbers \u00e9 and 123456789012345678901234567890","labels":["perf","gateway"]},"_meta":{"progressToken":"tok-1","x-vendor":{"a":[1,2,3]}}}}"#;
const RESULT: &str = r#"{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"Created issue #1234 in switchboard"}],"structuredContent":{"number":1234,"url":"https://example.com/i/1234"},"isError":false}}"#;

#[divan::bench]
fn parse_request(b: Bencher) {
    let buf = Bytes::from_static(CALL.as_bytes());
    b.bench(|| Message::parse(black_box(buf.clone())).map(|m| m.kind()));
}

#[divan::bench]
fn rewrite_tool_name(b: Bencher) {
    let msg = Message::parse(Bytes::from_static(CALL.as_bytes())).unwrap_or_else(|e| panic!("{e}"));
    let params = msg.params().unwrap_or("{}");
    b.bench(|| {
        object::edit(
            black_box(params),
            &[("name", Edit::Set("\"create_issue\""))],
        )
    });
}

#[divan::bench]
fn rewrite_progress_token(b: Bencher) {
    let msg = Message::parse(Bytes::from_static(CALL.as_bytes())).unwrap_or_else(|e| panic!("{e}"));
    let params = msg.params().unwrap_or("{}");
    b.bench(|| {
        let meta = object::get(black_box(params), "_meta")?;
        let meta2 = object::edit(meta, &[("progressToken", Edit::Set("17"))])?;
        object::edit(params, &[("_meta", Edit::Set(&meta2))])
    });
}

#[divan::bench]
fn forward_request_with_new_id(b: Bencher) {
    let msg = Message::parse(Bytes::from_static(CALL.as_bytes())).unwrap_or_else(|e| panic!("{e}"));
    b.bench(|| encode::request(&Id::number(black_box(17)), "tools/call", msg.params()));
}

#[divan::bench]
fn answer_under_client_id(b: Bencher) {
    let resp =
        Message::parse(Bytes::from_static(RESULT.as_bytes())).unwrap_or_else(|e| panic!("{e}"));
    let client_id = Id::from_raw("\"client-7\"").unwrap_or_else(|| Id::number(7));
    b.bench(|| encode::result(black_box(&client_id), resp.result().unwrap_or("null")));
}

#[divan::bench]
fn sse_encode_event(b: Bencher) {
    let mut buf = Vec::with_capacity(512);
    b.bench_local(|| {
        buf.clear();
        sse::encode_event(
            &mut buf,
            Some("3-1042"),
            Some("message"),
            black_box(RESULT.as_bytes()),
        );
        buf.len()
    });
}

#[divan::bench]
fn sse_parse_event(b: Bencher) {
    let mut framed = Vec::new();
    sse::encode_event(
        &mut framed,
        Some("3-1042"),
        Some("message"),
        RESULT.as_bytes(),
    );
    b.bench_local(|| {
        let mut p = sse::Parser::new(1 << 20);
        let mut out = Vec::with_capacity(1);
        let _ = p.feed(black_box(&framed), &mut out);
        out.len()
    });
}
