//! How the HTTP echo upstream and the floors listen: [`bind_and_announce`], and the accept loop they share ([`accept_each`]: a bounded
//! lifetime, and a pause instead of a spin when accepting fails), and on it hyper's HTTP/1.1
//! server with one task per connection and `TCP_NODELAY` ([`serve`]).

use std::convert::Infallible;
use std::future::Future;
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};

/// Binds `addr` (loopback only), then prints `http://ADDR{path}` on stdout: the line whoever
/// started the program reads to learn where to call it (port 0 picks any free port).
pub async fn bind_and_announce(addr: SocketAddr, path: &str) -> anyhow::Result<TcpListener> {
    crate::loopback::require(&addr)?;
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "http://{local}{path}")?;
    out.flush()?;
    Ok(listener)
}

/// Hands every connection on `listener` to `on` until `lifetime` has passed. `who` names the
/// program in the (rare) accept errors it reports.
pub async fn accept_each(
    listener: TcpListener,
    lifetime: Duration,
    who: &'static str,
    mut on: impl FnMut(TcpStream),
) {
    let accept = async {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => on(stream),
                Err(e) => {
                    // Out of descriptors or similar: back off instead of spinning.
                    eprintln!("{who}: accept: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    };
    tokio::select! {
        () = accept => {}
        () = tokio::time::sleep(lifetime) => {}
    }
}

/// Serves every connection on `listener` with `handle(state, request)` until `lifetime` has
/// passed.
pub async fn serve<S, F, Fut>(
    listener: TcpListener,
    lifetime: Duration,
    who: &'static str,
    state: Arc<S>,
    handle: F,
) where
    S: Send + Sync + 'static,
    F: Fn(Arc<S>, Request<Incoming>) -> Fut + Copy + Send + Sync + 'static,
    Fut: Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    accept_each(listener, lifetime, who, |stream| {
        // Answers are written whole: waiting to coalesce them only adds latency.
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(handle(state, req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    })
    .await;
}
