"""Tasks (MCP 2025-11-25) through the gateway, against server-everything's real task tool.

server-everything's `simulate-research-query` declares `execution.taskSupport: required`: called with
`params.task` it answers with a CreateTaskResult and works in the background. Through the gateway the
client must see only gateway-minted task ids, bound to its own session: another session can neither
read the task nor see it in `tasks/list`. Raw HTTP (not an SDK) so the exact ids and error codes on
the wire are what is asserted.
"""

from __future__ import annotations

import json
import urllib.request

import harness

PROTOCOL = "2025-11-25"


def _post(base: str, body: dict, session: str | None = None, timeout: float = 30.0):
    req = urllib.request.Request(
        base + "/mcp",
        data=json.dumps(body).encode(),
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
            **({"MCP-Session-Id": session, "MCP-Protocol-Version": PROTOCOL} if session else {}),
        },
    )
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        text = resp.read().decode()
        ctype = resp.headers.get("Content-Type", "")
        sid = resp.headers.get("MCP-Session-Id")
    if ctype.startswith("text/event-stream"):
        # The answer is the event that carries our id.
        for block in text.split("\n\n"):
            data = "".join(line[5:].lstrip() for line in block.splitlines() if line.startswith("data:"))
            if data:
                msg = json.loads(data)
                if msg.get("id") == body.get("id"):
                    return msg, sid
        raise AssertionError(f"no response for id {body.get('id')} in stream: {text[:500]}")
    return (json.loads(text) if text else None), sid


def _session(base: str) -> str:
    init = {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {"protocolVersion": PROTOCOL, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }
    msg, sid = _post(base, init)
    assert msg["result"]["protocolVersion"] == PROTOCOL
    assert "tasks" in msg["result"]["capabilities"], "2025-11-25 clients are offered tasks"
    assert sid
    _post(base, {"jsonrpc": "2.0", "method": "notifications/initialized"}, sid)
    return sid


def test_tasks_are_remapped_and_private_to_their_session(gateway):
    config = (
        "upstreams:\n  ev:\n    stdio: { command: %s, args: [%s, stdio] }\n"
        % (json.dumps(harness.node_bin()), json.dumps(harness.everything_entry()))
    )
    base = gateway(config)
    harness.wait_upstreams_ready(base, ["ev"])
    alice, bob = _session(base), _session(base)

    call = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "ev__simulate-research-query", "arguments": {"topic": "gateways"}, "task": {"ttl": 60000}},
    }
    created, _ = _post(base, call, alice)
    task = created["result"]["task"]
    task_id = task["taskId"]
    assert task_id.startswith("sbt-") and len(task_id) == 36, task_id
    assert task["status"] in ("working", "completed")

    got, _ = _post(base, {"jsonrpc": "2.0", "id": 2, "method": "tasks/get", "params": {"taskId": task_id}}, alice)
    assert got["result"]["taskId"] == task_id

    listed, _ = _post(base, {"jsonrpc": "2.0", "id": 3, "method": "tasks/list"}, alice)
    assert [t["taskId"] for t in listed["result"]["tasks"]] == [task_id]

    # Another client: the id does not resolve, and its list is empty.
    foreign, _ = _post(base, {"jsonrpc": "2.0", "id": 4, "method": "tasks/get", "params": {"taskId": task_id}}, bob)
    assert foreign["error"]["code"] == -32602
    assert "Unknown task" in foreign["error"]["message"]
    theirs, _ = _post(base, {"jsonrpc": "2.0", "id": 5, "method": "tasks/list"}, bob)
    assert theirs["result"]["tasks"] == []

    # tasks/result blocks until the task is done and returns the tool's own result.
    result, _ = _post(base, {"jsonrpc": "2.0", "id": 6, "method": "tasks/result", "params": {"taskId": task_id}}, alice, timeout=60)
    text = result["result"]["content"][0]["text"]
    assert "Research Report: gateways" in text
    related = result["result"].get("_meta", {}).get("io.modelcontextprotocol/related-task")
    if related is not None:
        assert related["taskId"] == task_id, "related-task metadata carries the gateway's id"

    done, _ = _post(base, {"jsonrpc": "2.0", "id": 7, "method": "tasks/get", "params": {"taskId": task_id}}, alice)
    assert done["result"]["status"] == "completed"

    bogus, _ = _post(base, {"jsonrpc": "2.0", "id": 8, "method": "tasks/get", "params": {"taskId": "sbt-00"}}, alice)
    assert bogus["error"]["code"] == -32602
