//! The egress policy on real sockets: a reqwest client built by [`EgressPolicy::client_builder`]
//! resolves through the policy, so a name that points at loopback is refused when the connection
//! opens (no connection is made), and allowed with the opt-in; a redirect is handed back, never
//! followed. Names resolve through a test lookup (`with_lookup`), so no `/etc/hosts` entry or DNS
//! server is needed. The server is a stand-in that answers every request with a fixed response:
//! what is under test is the client, and nothing but a socket is needed on the other side.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use switchboard_upstream::egress::EgressPolicy;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A server on 127.0.0.1 answering every request with `response`; counts connections.
async fn server(response: &'static str) -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counted = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = sock.read(&mut buf).await;
                let _ = sock.write_all(response.as_bytes()).await;
            });
        }
    });
    (port, accepted)
}

fn rebinding_lookup(name: &str) -> std::io::Result<Vec<IpAddr>> {
    match name {
        "rebind.test" => Ok(vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]),
        _ => Err(std::io::Error::other("unknown test name")),
    }
}

const OK: &str = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok";

#[tokio::test]
async fn a_name_resolving_to_loopback_is_refused_at_connect_time_and_allowed_with_the_opt_in() {
    let (port, accepted) = server(OK).await;
    let url = format!("http://rebind.test:{port}/mcp");

    let strict = EgressPolicy::strict().with_lookup(rebinding_lookup);
    strict
        .check_url_str(&url)
        .expect("a name passes the URL check");
    let client = strict.client_builder().unwrap().build().unwrap();
    let err = client.get(&url).send().await.unwrap_err();
    let chain = error_chain(&err);
    assert!(
        chain.contains("rebind.test") && chain.contains("127.0.0.1") && chain.contains("loopback"),
        "{chain}"
    );
    assert_eq!(accepted.load(Ordering::SeqCst), 0, "no connection was made");

    let open = strict.clone().allow_loopback(true);
    let client = open.client_builder().unwrap().build().unwrap();
    let resp = client.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_redirect_is_returned_not_followed() {
    // The target of the redirect counts whether anyone came.
    let (target, reached) = server(OK).await;
    let redirect: &'static str = Box::leak(
        format!(
            "HTTP/1.1 307 Temporary Redirect\r\nlocation: http://127.0.0.1:{target}/latest/meta-data/\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        )
        .into_boxed_str(),
    );
    let (port, _) = server(redirect).await;
    let policy = EgressPolicy::strict().allow_loopback(true);
    let client = policy.client_builder().unwrap().build().unwrap();
    let resp = client
        .post(format!("http://127.0.0.1:{port}/mcp"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 307);
    assert_eq!(
        reached.load(Ordering::SeqCst),
        0,
        "the redirect was followed"
    );
}

#[tokio::test]
async fn a_name_re_pointed_at_private_space_is_refused_at_the_next_connection() {
    // DNS rebinding: the first answer is public, the next one private. Every connection resolves
    // again through the policy, so the second is refused.
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let policy = EgressPolicy::strict().with_lookup(move |_| {
        Ok(vec![if seen.fetch_add(1, Ordering::SeqCst) == 0 {
            "93.184.216.34".parse().unwrap()
        } else {
            "10.0.0.7".parse().unwrap()
        }])
    });
    assert!(policy.resolve("flip.test", 80).await.is_ok());
    let err = policy
        .resolve("flip.test", 80)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("10.0.0.7") && err.contains("private"), "{err}");
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

#[tokio::test]
async fn a_configured_proxy_carries_the_request_and_the_target_is_not_resolved_here() {
    // A stand-in forward proxy: it records the request line it gets and answers 200.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy = format!("http://{}", listener.local_addr().unwrap());
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let n = sock.read(&mut buf).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]).into_owned();
                let _ = tx.send(head.lines().next().unwrap_or_default().to_owned());
                let _ = sock.write_all(OK.as_bytes()).await;
            });
        }
    });
    let policy = EgressPolicy::strict()
        .proxy(switchboard_upstream::egress::Proxy::Url(proxy))
        .with_lookup(|_| {
            Err(std::io::Error::other(
                "the gateway must not resolve the target",
            ))
        });
    let client = policy.client_builder().unwrap().build().unwrap();
    let resp = client.get("http://upstream.test/mcp").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        rx.recv().await.as_deref(),
        Some("GET http://upstream.test/mcp HTTP/1.1")
    );

    // Through a proxy the target's literal address is still checked before anything is sent.
    assert!(
        policy
            .check_url_str("http://169.254.169.254/latest/meta-data/")
            .is_err()
    );
}
