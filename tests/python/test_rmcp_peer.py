"""The gateway in front of an independent 2026-07-28 server: `switchboard-rmcp-peer`, built on the
official Rust SDK (rmcp 3.9.0), which speaks 2026-07-28 only (rmcp itself refuses `initialize`).

The fixture's modern era was written from the same reading of the spec as the gateway; this peer's
`server/discover`, inline `_meta` checks and `input_required` encoding are rmcp's. Its one tool,
`confirm_action`, answers `input_required` with a form elicitation `confirm` and a random
`requestState`, completes once the retry brings that state and `{ok: true}`, and refuses (-32602) a
state it never issued. What is checked, with the official Python SDK (`mcp` 2.3.0) as the client:

- the gateway's `auto` probe finds the peer modern (`/status` revision 2026-07-28);
- a handshake-era client gets a real `elicitation/create` and its answer reaches the peer with the
  peer's own state (bridge B), accepted or declined;
- a 2026-07-28 client gets the `input_required` passed through with the state sealed by the gateway
  (`sb1.`), completes it with the SDK's own loop, and a tampered state is refused.
"""

from __future__ import annotations

import json

import anyio
import mcp_types as types
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from harness import FixedElicitor, get_status, rmcp_peer_bin, texts, wait_upstreams_ready

pytestmark = [pytest.mark.anyio]

MODERN = "2026-07-28"
TEST_TIMEOUT_S = 30
TOOL = "rmcp__confirm_action"


@pytest.fixture
def gw(gateway) -> str:
    base = gateway(f"upstreams:\n  rmcp:\n    stdio: {{ command: {json.dumps(rmcp_peer_bin())} }}\n")
    wait_upstreams_ready(base, ["rmcp"])
    return base


def test_the_probe_finds_the_peer_modern(gw: str) -> None:
    (upstream,) = get_status(gw)["upstreams"]
    assert upstream["name"] == "rmcp", upstream
    assert upstream["state"] == "ready", upstream
    assert upstream["revision"] == MODERN, upstream
    assert upstream["tools"] == 1, upstream


async def test_handshake_client_confirms_through_bridge_b(gw: str) -> None:
    elicit = FixedElicitor("accept", {"ok": True})
    with anyio.fail_after(TEST_TIMEOUT_S):
        async with Client(f"{gw}/mcp", mode="legacy", elicitation_callback=elicit, cache=None) as c:
            assert c.protocol_version != MODERN
            result = await c.call_tool(TOOL, {"action": "deploy"})
            assert not result.is_error, result
            assert texts(result) == ["confirmed: deploy"], result
    assert len(elicit.asked) == 1, elicit.asked
    assert elicit.asked[0].message == "Confirm deploy?", elicit.asked


async def test_handshake_client_declines_through_bridge_b(gw: str) -> None:
    elicit = FixedElicitor("decline", None)
    with anyio.fail_after(TEST_TIMEOUT_S):
        async with Client(f"{gw}/mcp", mode="legacy", elicitation_callback=elicit, cache=None) as c:
            result = await c.call_tool(TOOL, {"action": "deploy"})
            assert not result.is_error, result
            assert texts(result) == ["not confirmed: decline"], result
    assert len(elicit.asked) == 1, elicit.asked


async def test_modern_client_gets_a_sealed_state_and_completes(gw: str) -> None:
    elicit = FixedElicitor("accept", {"ok": True})
    with anyio.fail_after(TEST_TIMEOUT_S):
        async with Client(f"{gw}/mcp", mode=MODERN, elicitation_callback=elicit, cache=None) as c:
            assert c.protocol_version == MODERN
            # Round one by hand: the peer's input_required, its state sealed by the gateway.
            first = await c.session.call_tool(TOOL, {"action": "deploy"}, allow_input_required=True)
            assert isinstance(first, types.InputRequiredResult), first
            assert first.request_state and first.request_state.startswith("sb1."), first
            assert "rmcp-peer." not in first.request_state, first
            assert set(first.input_requests) == {"confirm"}, first
            assert first.input_requests["confirm"].method == "elicitation/create", first
            # The SDK's own loop: callback, retry with the answer and the state, complete.
            done = await c.call_tool(TOOL, {"action": "deploy"})
            assert not done.is_error, done
            assert texts(done) == ["confirmed: deploy"], done
            # A tampered state is refused, whether the gateway or the peer notices.
            with pytest.raises(MCPError) as refused:
                await c.session.call_tool(
                    TOOL, {"action": "deploy"},
                    input_responses={"confirm": {"action": "accept", "content": {"ok": True}}},
                    request_state=first.request_state + "-TAMPERED",
                )
            assert refused.value.error.code == -32602, refused.value.error
    assert len(elicit.asked) == 1, elicit.asked
    assert elicit.asked[0].message == "Confirm deploy?", elicit.asked
