// A WebSocket MCP client that is not switchboard's own: Node's built-in `WebSocket` (undici,
// the browser API). Used by crates/switchboard/tests/websocket.rs.
//
//   node websocket-client.mjs ws://127.0.0.1:PORT/mcp/ws API_KEY
//
// The browser API cannot set an Authorization header, so the key rides in the first message's
// `_meta` ("io.github.switchboard-mcp/authorization"). Prints, one JSON line each: the
// negotiated subprotocol, the initialize response, and the response to tools/call fx__echo.
const [url, key] = process.argv.slice(2);
const ws = new WebSocket(url, ["mcp"]);
const pending = new Map();
const fail = (why) => {
  console.error(why);
  process.exit(1);
};
setTimeout(() => fail("timed out"), 15000).unref();

ws.onerror = (e) => fail(`WebSocket error: ${e.message ?? e}`);
ws.onmessage = (event) => {
  const msg = JSON.parse(event.data);
  const resolve = pending.get(msg.id);
  if (resolve && msg.method === undefined) {
    pending.delete(msg.id);
    resolve(msg);
  }
};
const request = (id, method, params) =>
  new Promise((resolve) => {
    pending.set(id, resolve);
    ws.send(JSON.stringify({ jsonrpc: "2.0", id, method, params }));
  });

ws.onopen = async () => {
  console.log(JSON.stringify({ protocol: ws.protocol }));
  const init = await request(1, "initialize", {
    protocolVersion: "2025-11-25",
    capabilities: {},
    clientInfo: { name: "node-websocket", version: "0" },
    _meta: { "io.github.switchboard-mcp/authorization": `Bearer ${key}` },
  });
  console.log(JSON.stringify(init));
  ws.send(JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }));
  const call = await request(2, "tools/call", {
    name: "fx__echo",
    arguments: { message: "from node" },
  });
  console.log(JSON.stringify(call));
  ws.close(1000, "done");
  process.exit(0);
};
