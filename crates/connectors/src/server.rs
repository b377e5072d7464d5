//! The MCP face of a [`Connector`]: enough of a server for the gateway's connection layer —
//! `initialize` (capabilities `tools`, `serverInfo` `switchboard-<kind>`), `ping`,
//! `tools/list`, `tools/call` (a [`CallError`] is JSON-RPC -32602) — and -32601 for anything
//! else. It implements the upstream crate's [`InProcessServer`], so the connection carries it
//! like any upstream.

use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;
use serde_json::{Map, Value, json};
use switchboard_upstream::{InProcessError, InProcessServer};

use crate::{CallError, Connector};

const INVALID_PARAMS: i64 = -32602;
const METHOD_NOT_FOUND: i64 = -32601;
const INTERNAL_ERROR: i64 = -32603;

/// A connector served as an MCP server.
pub struct McpServer {
    kind: String,
    connector: Result<Arc<dyn Connector>, String>,
}

impl McpServer {
    /// `connector` is the built connector, or why it could not be built (then `initialize`
    /// fails with that reason).
    pub fn new(kind: &str, connector: Result<Arc<dyn Connector>, String>) -> McpServer {
        McpServer {
            kind: kind.to_owned(),
            connector,
        }
    }

    fn connector(&self) -> Result<&Arc<dyn Connector>, InProcessError> {
        self.connector
            .as_ref()
            .map_err(|why| InProcessError::new(INTERNAL_ERROR, why.clone()))
    }

    fn initialize(&self, params: Option<&str>) -> Result<String, InProcessError> {
        self.connector()?;
        // The connection layer asks for the revision it speaks; these methods are the same in
        // every revision, so that one is answered.
        let asked = params
            .and_then(|p| serde_json::from_str::<Value>(p).ok())
            .and_then(|p| {
                p.get("protocolVersion")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| "2025-06-18".to_owned());
        Ok(json!({
            "protocolVersion": asked,
            "capabilities": {"tools": {}},
            "serverInfo": {
                "name": format!("switchboard-{}", self.kind),
                "version": env!("CARGO_PKG_VERSION"),
            },
        })
        .to_string())
    }

    async fn call(&self, params: Option<&str>) -> Result<String, InProcessError> {
        let connector = self.connector()?;
        let invalid = |m: &str| InProcessError::new(INVALID_PARAMS, m);
        let params: Value = serde_json::from_str(params.unwrap_or("{}"))
            .map_err(|_| invalid("params must be an object"))?;
        let name = params
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("params.name must be a string"))?;
        let arguments = match params.get("arguments") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(_) => return Err(invalid("params.arguments must be an object")),
        };
        match connector.call(name, arguments).await {
            Ok(result) => Ok(result.to_string()),
            Err(e @ (CallError::UnknownTool(_) | CallError::InvalidArguments(_))) => {
                Err(InProcessError::new(INVALID_PARAMS, e.to_string()))
            }
        }
    }
}

impl InProcessServer for McpServer {
    fn request<'a>(
        &'a self,
        method: &'a str,
        params: Option<&'a str>,
    ) -> BoxFuture<'a, Result<String, InProcessError>> {
        match method {
            "initialize" => futures::future::ready(self.initialize(params)).boxed(),
            "ping" => futures::future::ready(Ok("{}".to_owned())).boxed(),
            "tools/list" => futures::future::ready(
                self.connector()
                    .map(|c| json!({"tools": c.tools()}).to_string()),
            )
            .boxed(),
            "tools/call" => self.call(params).boxed(),
            other => futures::future::ready(Err(InProcessError::new(
                METHOD_NOT_FOUND,
                format!("method not found: {other}"),
            )))
            .boxed(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Echo;

    impl Connector for Echo {
        fn tools(&self) -> Vec<Value> {
            vec![json!({"name": "echo", "inputSchema": {"type": "object"}})]
        }

        fn call<'a>(
            &'a self,
            name: &'a str,
            arguments: Map<String, Value>,
        ) -> BoxFuture<'a, Result<Value, CallError>> {
            async move {
                match name {
                    "echo" => Ok(crate::result("ok".into(), Value::Object(arguments))),
                    _ => Err(CallError::UnknownTool(name.to_owned())),
                }
            }
            .boxed()
        }
    }

    fn block<T>(f: BoxFuture<'_, T>) -> T {
        futures::executor::block_on(f)
    }

    #[test]
    fn speaks_enough_mcp() {
        let s = McpServer::new("test", Ok(Arc::new(Echo)));
        let init: Value = serde_json::from_str(
            &block(s.request("initialize", Some(r#"{"protocolVersion":"2025-11-25"}"#))).unwrap(),
        )
        .unwrap();
        assert_eq!(init["serverInfo"]["name"], "switchboard-test");
        assert_eq!(init["protocolVersion"], "2025-11-25");
        assert!(init["capabilities"]["tools"].is_object());
        assert_eq!(block(s.request("ping", None)).unwrap(), "{}");
        let list: Value =
            serde_json::from_str(&block(s.request("tools/list", None)).unwrap()).unwrap();
        assert_eq!(list["tools"][0]["name"], "echo");
        let r: Value = serde_json::from_str(
            &block(s.request("tools/call", Some(r#"{"name":"echo","arguments":{"a":1}}"#)))
                .unwrap(),
        )
        .unwrap();
        assert_eq!(r["structuredContent"]["a"], 1);
        let e = block(s.request("tools/call", Some(r#"{"name":"nope"}"#))).unwrap_err();
        assert_eq!(e.code, -32602);
        let e = block(s.request("resources/list", None)).unwrap_err();
        assert_eq!(e.code, -32601);
    }

    #[test]
    fn a_connector_that_could_not_be_built_refuses_initialize() {
        let s = McpServer::new("x", Err("bad".into()));
        let e = block(s.request("initialize", Some("{}"))).unwrap_err();
        assert_eq!(e.message, "bad");
    }
}
