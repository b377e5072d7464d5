//! The TCP floor: a splice that copies bytes between each client connection and a connection of
//! its own to the upstream, in both directions, and reads none of them.
//!
//! It is the least any proxy in front of an HTTP upstream can do: no HTTP parsing, no pool, one
//! upstream connection per client connection for as long as both stay open. Whatever a proxy hop
//! costs beyond it, it costs for understanding what it carries. Measured beside the HTTP floor
//! and the gateway, it shows how much of their gap to a direct call is the second socket pair
//! and the kernel's work for it, which no proxy can avoid.
//!
//! When the upstream cannot be reached, the client's connection is closed unanswered (there is no
//! protocol here to answer in); the failure is printed on stderr.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

/// Splices every connection on `listener` to `upstream` until `lifetime` has passed.
pub async fn serve(listener: TcpListener, upstream: SocketAddr, lifetime: Duration) {
    crate::http1::accept_each(listener, lifetime, "switchboard-floor", |client| {
        tokio::spawn(async move {
            if let Err(e) = splice(client, upstream).await {
                eprintln!("switchboard-floor: {e}");
            }
        });
    })
    .await;
}

/// Connects to `upstream` and copies bytes both ways until both sides are done; a side's
/// end-of-stream is passed on as a write shutdown, as a real splice would.
async fn splice(mut client: TcpStream, upstream: SocketAddr) -> Result<(), String> {
    let mut up = super::connect(upstream).await?;
    // Whole messages: waiting to coalesce them only adds latency.
    let _ = client.set_nodelay(true);
    match tokio::io::copy_bidirectional(&mut client, &mut up).await {
        Ok(_) => Ok(()),
        // A peer that resets instead of closing is how benchmarks end: not worth a line.
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => Ok(()),
        Err(e) => Err(format!("splice to {upstream}: {e}")),
    }
}
