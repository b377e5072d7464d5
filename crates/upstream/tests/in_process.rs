//! An in-process server behind a real `Connection`: the handshake goes to it (even with
//! `era: auto`, which would otherwise probe with `server/discover`), its answers and errors come
//! back under the connection's ids, notifications reach it, and the connection's timeout drops
//! a call it is still working on (so a built-in connector's slow backend call is cancelled).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use switchboard_protocol::Revision;
use switchboard_upstream::{
    ConnectOptions, Connection, Era, InProcessError, InProcessServer, RequestCtx, Target,
    UpstreamError,
};

#[derive(Default)]
struct Server {
    seen: Mutex<Vec<String>>,
    /// Set when a slow call's future was dropped before it finished.
    dropped: Arc<AtomicBool>,
}

struct DropFlag(Arc<AtomicBool>, bool);

impl Drop for DropFlag {
    fn drop(&mut self) {
        if !self.1 {
            self.0.store(true, Ordering::SeqCst);
        }
    }
}

impl InProcessServer for Server {
    fn request<'a>(
        &'a self,
        method: &'a str,
        _params: Option<&'a str>,
    ) -> BoxFuture<'a, Result<String, InProcessError>> {
        self.seen.lock().unwrap().push(method.to_owned());
        async move {
            match method {
                "initialize" => Ok(r#"{"protocolVersion":"2025-11-25","capabilities":{"tools":{}},"serverInfo":{"name":"switchboard-test","version":"0"}}"#.to_owned()),
                "tools/list" => Ok(r#"{"tools":[{"name":"t","inputSchema":{"type":"object"}}]}"#.to_owned()),
                "tools/call" => {
                    let mut flag = DropFlag(self.dropped.clone(), false);
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    flag.1 = true;
                    Ok("{}".to_owned())
                }
                other => Err(InProcessError::new(-32601, format!("method not found: {other}"))),
            }
        }
        .boxed()
    }

    fn notify(&self, method: &str, _params: Option<&str>) {
        self.seen.lock().unwrap().push(format!("notify {method}"));
    }
}

#[tokio::test]
async fn a_connection_speaks_to_an_in_process_server() {
    let server = Arc::new(Server::default());
    let opts = ConnectOptions {
        name: "builtin".into(),
        target: Target::InProcess(server.clone()),
        timeout: Duration::from_secs(5),
        max_message_bytes: 1 << 20,
        capabilities: "{}".into(),
        client_info: r#"{"name":"test","version":"0"}"#.into(),
        revision: Revision::LATEST,
        reaper: None,
        standalone_stream: false,
        era: Era::Auto,
        probe_timeout: Duration::from_secs(1),
        replay: None,
    };
    let (tx, _rx) = tokio::sync::mpsc::channel(16);
    let conn = Connection::connect(opts, tx).await.unwrap();
    assert!(!conn.is_modern());

    let resp = conn
        .request("tools/list", None, RequestCtx::default())
        .await
        .unwrap();
    assert!(
        resp.result().unwrap().contains("\"name\":\"t\""),
        "{resp:?}"
    );
    let resp = conn
        .request("prompts/list", None, RequestCtx::default())
        .await
        .unwrap();
    assert!(resp.error().unwrap().contains("-32601"), "{resp:?}");

    let err = conn
        .request(
            "tools/call",
            Some(r#"{"name":"t"}"#),
            RequestCtx::with_timeout(Duration::from_millis(200)),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, UpstreamError::Timeout(_)), "{err:?}");
    assert!(
        server.dropped.load(Ordering::SeqCst),
        "the slow call was dropped"
    );

    let seen = server.seen.lock().unwrap().clone();
    assert_eq!(
        seen[..3],
        [
            "initialize",
            "notify notifications/initialized",
            "tools/list"
        ]
    );
    assert!(
        seen.contains(&"notify notifications/cancelled".to_owned()),
        "{seen:?}"
    );

    conn.close().await;
    let err = conn
        .request("tools/list", None, RequestCtx::default())
        .await
        .unwrap_err();
    assert!(matches!(err, UpstreamError::Closed(_)), "{err:?}");
}
