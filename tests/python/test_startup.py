"""An upstream that asks the gateway something before it answers the gateway's own requests.

Servers that work on the client's roots (filesystem-style servers) send `roots/list` as soon as
they are initialized and may answer nothing else until it is answered. The gateway must read the
upstream's messages while it is still fetching that upstream's lists, or its first start waits out
the upstream's timeout. No published server does exactly this offline, so the upstream here is a
small stdlib-only script written for this test (a stand-in, by necessity): it blocks on the
answer to `roots/list` before it answers anything else, and records the roots it was given.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import harness

STRICT_ROOTS_SERVER = r'''
import json, sys
record = sys.argv[1]
held = []
def send(m):
    sys.stdout.write(json.dumps(m) + "\n"); sys.stdout.flush()
def read():
    if held:
        return held.pop(0)
    line = sys.stdin.readline()
    return json.loads(line) if line else None
while True:
    m = read()
    if m is None:
        break
    if m.get("method") == "initialize":
        send({"jsonrpc": "2.0", "id": m["id"], "result": {"protocolVersion": "2025-06-18",
              "capabilities": {"tools": {}}, "serverInfo": {"name": "strict-roots", "version": "1"}}})
    elif m.get("method") == "notifications/initialized":
        send({"jsonrpc": "2.0", "id": "roots-1", "method": "roots/list"})
        # Nothing else is answered until the roots are known; what arrives meanwhile waits.
        while True:
            line = sys.stdin.readline()
            if not line:
                sys.exit(0)
            r = json.loads(line)
            if r.get("id") == "roots-1" and "method" not in r:
                open(record, "w").write(json.dumps(r.get("result")))
                break
            held.append(r)
    elif m.get("method") == "tools/list":
        send({"jsonrpc": "2.0", "id": m["id"], "result": {"tools": [{"name": "hello",
              "description": "d", "inputSchema": {"type": "object"}}]}})
    elif "id" in m and "method" in m:
        send({"jsonrpc": "2.0", "id": m["id"], "error": {"code": -32601, "message": "no"}})
'''


def test_upstream_asking_roots_before_listing_does_not_stall_startup(gateway, tmp_path: Path):
    script = tmp_path / "strict_roots.py"
    script.write_text(STRICT_ROOTS_SERVER)
    record = tmp_path / "roots.json"
    config = (
        "roots:\n  - { uri: \"file:///srv/work\", name: work }\n"
        "upstreams:\n  r:\n"
        f"    stdio: {{ command: {json.dumps(sys.executable)}, args: [{json.dumps(str(script))}, {json.dumps(str(record))}] }}\n"
        "    timeout: 30s\n"
    )
    started = time.monotonic()
    base = gateway(config)
    status = harness.wait_upstreams_ready(base, ["r"], timeout_s=10)
    took = time.monotonic() - started
    assert took < 10, f"the upstream became ready only after {took:.1f}s"
    up = status["upstreams"][0]
    assert up["tools"] == 1, status
    # The unattributable roots/list got the configured roots.
    assert json.loads(record.read_text()) == {"roots": [{"uri": "file:///srv/work", "name": "work"}]}
