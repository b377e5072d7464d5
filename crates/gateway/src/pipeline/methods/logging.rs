//! `logging/setLevel`: the session's level, and the most verbose level any session wants sent
//! to each shared upstream (and to the session's own isolated ones).

use switchboard_protocol::{Message, RpcError};

use crate::level::Level;
use crate::pipeline::{Cx, Outcome};
use crate::{Gateway, error};

pub(super) async fn set_level(
    gw: &Gateway,
    cx: &Cx<'_>,
    msg: &Message,
) -> Result<Outcome, RpcError> {
    let session = cx.session();
    let level = msg
        .param_str("level")
        .and_then(|l| Level::parse(&l))
        .ok_or_else(|| error::invalid_params("params.level must be one of debug, info, notice, warning, error, critical, alert, emergency"))?;
    session.set_level(level);
    // All upstreams at once: one slow upstream must not hold up the client's answer for
    // longer than its own timeout, nor the others at all.
    let members = gw.upstreams().members();
    let shared = futures::future::join_all(members.iter().map(|up| gw.sync_level(up)));
    let isolated: Vec<_> = session.isolated.lock().await.values().cloned().collect();
    let p = format!("{{\"level\":\"{}\"}}", level.as_str());
    let own = futures::future::join_all(
        isolated
            .iter()
            .filter(|c| !c.is_modern() && c.info().is_some_and(|i| i.has("logging")))
            .map(|c| c.request("logging/setLevel", Some(&p), Default::default())),
    );
    futures::future::join(shared, own).await;
    Ok(Outcome::Local("{}".into()))
}
