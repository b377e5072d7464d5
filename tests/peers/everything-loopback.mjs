#!/usr/bin/env node
// Runs @modelcontextprotocol/server-everything bound to 127.0.0.1 only.
//
// Why: its HTTP transports call `app.listen(PORT)` with no host, so they bind
// every interface, and the package reads no host variable (only PORT, default
// 3001). Tests must only listen on loopback, so this wrapper patches
// net.Server#listen to insert host 127.0.0.1 before loading the real entry point.
//
// It also makes PORT=0 (an ephemeral port) usable: once listening it prints
//   SERVER_EVERYTHING_LISTENING 127.0.0.1:<port>
// on stderr, so a test can read the real port instead of racing for a free one.
//
// Usage (node 22 from tests/peers/node_modules/.bin first on PATH):
//   node tests/peers/everything-loopback.mjs [stdio|sse|streamableHttp]
// stdio does not listen on anything; the patch is then inert.
import net from "node:net";

const HOST = "127.0.0.1";
const originalListen = net.Server.prototype.listen;

net.Server.prototype.listen = function listenOnLoopback(...args) {
  const first = args[0];
  const isPort =
    typeof first === "number" ||
    (typeof first === "string" && /^\d+$/.test(first));
  // listen(port[, host][, backlog][, cb]): add the host only when none was given.
  if (isPort && typeof args[1] !== "string") {
    args.splice(1, 0, HOST);
  } else if (first && typeof first === "object" && !("path" in first)) {
    args[0] = { ...first, host: HOST };
  }
  this.once("listening", () => {
    const addr = this.address();
    if (addr && typeof addr === "object") {
      process.stderr.write(
        `SERVER_EVERYTHING_LISTENING ${addr.address}:${addr.port}\n`,
      );
    }
  });
  return originalListen.apply(this, args);
};

// The entry point reads its transport from process.argv[2], which is already
// right because this wrapper is argv[1].
await import("@modelcontextprotocol/server-everything/dist/index.js");
