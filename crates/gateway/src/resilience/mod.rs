//! What keeps one misbehaving upstream from taking the gateway down with it: concurrency
//! limits with a bounded wait ([`limit`]), a circuit breaker per upstream ([`breaker`]) and the
//! per-tool timeouts. [`Gateway::admit_call`] is the one gate every client call passes before
//! it reaches [`crate::call`]; the [`Admission`] it returns holds the slots for the call's life
//! and takes the call's verdict for the breaker.
//!
//! Order: the breaker first (an open upstream fails fast and takes no slot), then the
//! upstream's own limit, then the gateway-wide one (so a call queued for a busy upstream does
//! not hold a global slot others could use).

pub mod breaker;
pub mod limit;
pub mod rate;
pub mod truncate;

use std::time::Duration;

use switchboard_config::{LimitsConfig, UpstreamConfig};
use switchboard_protocol::{ErrorCode, RpcError};
use tokio::sync::SemaphorePermit;

use crate::upstreams::Upstream;
use crate::{Gateway, error};
use breaker::{Breaker, Ticket};
use limit::{Limit, Refused};

/// An upstream's own limit and breaker.
#[derive(Debug)]
pub struct Guard {
    pub limit: Option<Limit>,
    pub breaker: Breaker,
}

impl Guard {
    pub fn new(cfg: &UpstreamConfig, limits: &LimitsConfig) -> Guard {
        Guard {
            limit: cfg
                .max_concurrency
                .map(|max| Limit::new(max, limits.max_queue, limits.max_wait)),
            breaker: Breaker::new(cfg.breaker.clone()),
        }
    }
}

/// The gateway-wide limit, when `limits.max_inflight` is set.
pub fn global_limit(limits: &LimitsConfig) -> Option<Limit> {
    limits
        .max_inflight
        .map(|max| Limit::new(max, limits.max_queue, limits.max_wait))
}

/// A call let through: holds its slots until dropped, and reports its outcome to the breaker.
pub(crate) struct Admission<'a> {
    breaker: &'a Breaker,
    ticket: Option<Ticket>,
    _local: Option<SemaphorePermit<'a>>,
    _global: Option<SemaphorePermit<'a>>,
}

impl Admission<'_> {
    /// The call is over: `failed` when the upstream did not answer (timeout, transport error,
    /// 5xx), not when it answered with an error.
    pub fn finish(mut self, failed: bool) {
        if let Some(t) = self.ticket.take() {
            self.breaker.record(t, failed);
        }
    }
}

impl Drop for Admission<'_> {
    fn drop(&mut self) {
        // Cancelled before it finished: the breaker learns nothing from it.
        if let Some(t) = self.ticket.take() {
            self.breaker.forget(t);
        }
    }
}

impl Gateway {
    /// Lets a client call to `up` through, or refuses it at once with an error that names the
    /// upstream and says when to retry.
    pub(crate) async fn admit_call<'a>(
        &'a self,
        up: &'a Upstream,
    ) -> Result<Admission<'a>, RpcError> {
        let ticket = up
            .guard
            .breaker
            .admit()
            .map_err(|retry_in| error::circuit_open(up.name(), retry_in))?;
        // From here the ticket is returned to the breaker on every path.
        let mut admission = Admission {
            breaker: &up.guard.breaker,
            ticket: Some(ticket),
            _local: None,
            _global: None,
        };
        if let Some(limit) = &up.guard.limit {
            let started = std::time::Instant::now();
            let slot = limit.acquire().await;
            self.state.metrics.concurrency_wait(started.elapsed());
            admission._local = Some(slot.map_err(|r| overloaded(up.name(), limit, r))?);
        }
        if let Some(limit) = &self.state.global_limit {
            let started = std::time::Instant::now();
            let slot = limit.acquire().await;
            self.state.metrics.concurrency_wait(started.elapsed());
            admission._global = Some(slot.map_err(|r| overloaded("the gateway", limit, r))?);
        }
        Ok(admission)
    }
}

/// Whether an error the call path returned means the upstream failed (for the breaker).
pub(crate) fn is_failure(e: &RpcError) -> bool {
    is_failure_code(e.code)
}

fn is_failure_code(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::UPSTREAM_UNAVAILABLE
            | ErrorCode::UPSTREAM_TIMEOUT
            | ErrorCode::UPSTREAM_CLOSED
            | ErrorCode::UPSTREAM_PROTOCOL
    )
}

/// Whether an upstream's response is an error the gateway's transport made for a failure
/// (`-31001` … `-31004`), not the upstream's own answer.
pub(crate) fn is_failure_response(m: &switchboard_protocol::Message) -> bool {
    m.kind() == switchboard_protocol::Kind::Error
        && m.error()
            .and_then(|e| switchboard_protocol::object::get(e, "code"))
            .and_then(|c| c.trim().parse::<i64>().ok())
            .is_some_and(|c| is_failure_code(ErrorCode(c)))
}

fn overloaded(scope: &str, limit: &Limit, why: Refused) -> RpcError {
    let (reason, retry) = match why {
        Refused::QueueFull => (
            format!(
                "{} calls are running and the wait queue is full",
                limit.max()
            ),
            Duration::from_millis(100),
        ),
        Refused::WaitedTooLong(d) => (
            format!("no call slot freed within {}ms", d.as_millis()),
            Duration::from_millis(100),
        ),
    };
    error::overloaded(scope, &reason, retry)
}
