"""The official Python SDK (`mcp` 2.3.0) speaking MCP 2026-07-28 to the gateway.

The SDK's modern mode sends no `initialize`: every request carries its version and capabilities
in `_meta`, with the `Mcp-Method`/`Mcp-Name` headers. The gateway serves it on the same `/mcp`
as handshake sessions, in front of real handshake-era servers (server-everything over stdio,
mcp-server-time over stdio). What is checked:

- `mode="auto"` (discover first) settles on 2026-07-28, and lists and calls work;
- an elicitation raised mid-call by server-everything (a real server-to-client request) reaches
  the modern client as an `input_required` result with a gateway-sealed `requestState`; the SDK's
  `elicitation_callback` answers it, the SDK retries, the call completes;
- a declined elicitation completes too, with the decline passed to the upstream;
- `switchboard stdio` serves the SDK's modern mode too (the first request fixes the era);
- a handshake-era client (`mode="legacy"`) calling a 2026-07-28 upstream (the fixture forced
  modern) that answers `input_required` gets real elicitation and sampling requests (bridge B);
- `subscriptions/listen` (the SDK's `listen`) is acknowledged with what the gateway honours
  (list changes, and the resource URIs an upstream can subscribe to).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.subscriptions import listen

from harness import (
    FixedElicitor,
    attach_log,
    fixture_bin,
    gateway_env,
    real_servers_config,
    switchboard_bin,
    texts,
    wait_upstreams_ready,
)

pytestmark = [pytest.mark.anyio]

MODERN = "2026-07-28"
TEST_TIMEOUT_S = 45


def config() -> str:
    """server-everything (stdio) and mcp-server-time, without the HTTP copy of the first."""
    return real_servers_config(None)


@pytest.fixture
def gw(gateway) -> str:
    base = gateway(config())
    wait_upstreams_ready(base, ["ev", "time"])
    return base


ANSWER = {"name": "Ada Lovelace", "check": True, "email": "ada@example.com", "integer": 7}


async def test_auto_mode_settles_on_2026_07_28(gw: str) -> None:
    with anyio.fail_after(TEST_TIMEOUT_S):
        async with Client(f"{gw}/mcp", cache=None) as c:
            assert c.protocol_version == MODERN
            names = {t.name for t in (await c.list_tools()).tools}
            assert {"ev__echo", "time__get_current_time"} <= names, names
            echoed = await c.call_tool("ev__echo", {"message": "hi"})
            assert not echoed.is_error, echoed
            assert texts(echoed) == ["Echo: hi"], echoed
            now = await c.call_tool("time__get_current_time", {"timezone": "UTC"})
            assert not now.is_error, now
            assert json.loads(texts(now)[0])["timezone"] == "UTC", now


async def test_elicitation_from_a_handshake_server_via_input_required(gw: str) -> None:
    elicit = FixedElicitor("accept", dict(ANSWER))
    with anyio.fail_after(TEST_TIMEOUT_S):
        async with Client(f"{gw}/mcp", mode=MODERN, elicitation_callback=elicit, cache=None) as c:
            # Round one by hand: what the gateway hands a modern client.
            first = await c.session.call_tool(
                "ev__trigger-elicitation-request", {}, allow_input_required=True
            )
            assert isinstance(first, types.InputRequiredResult), first
            assert first.request_state and first.request_state.startswith("sb1."), first
            (key, ask), = first.input_requests.items()
            assert ask.method == "elicitation/create", ask
            # The SDK's own loop: callback, retry with the answer and the state, complete.
            result = await c.call_tool("ev__trigger-elicitation-request", {})
            assert not result.is_error, result
            body = "\n".join(texts(result))
            assert "Ada Lovelace" in body, body
            assert '"action": "accept"' in body, body
    # Round one above was never answered (it expires in the gateway); the SDK's call asked once.
    assert len(elicit.asked) == 1, elicit.asked


async def test_declined_elicitation_completes(gw: str) -> None:
    elicit = FixedElicitor("decline", None)
    with anyio.fail_after(TEST_TIMEOUT_S):
        async with Client(f"{gw}/mcp", mode=MODERN, elicitation_callback=elicit, cache=None) as c:
            result = await c.call_tool("ev__trigger-elicitation-request", {})
            assert "declined" in "\n".join(texts(result)).lower(), result
    assert len(elicit.asked) == 1


async def test_listen_is_acknowledged_with_what_is_honoured(gw: str) -> None:
    uri = "demo://resource/static/document/features.md"
    with anyio.fail_after(TEST_TIMEOUT_S):
        async with Client(f"{gw}/mcp", mode=MODERN, cache=None) as c:
            async with listen(
                c.session, tools_list_changed=True, resource_subscriptions=[uri, "nowhere://x"]
            ) as sub:
                assert sub.honored.tools_list_changed, sub.honored
                assert sub.honored.resource_subscriptions == [uri], sub.honored


async def test_stdio_gateway_in_2026_07_28(request: pytest.FixtureRequest, tmp_path: Path,
                                           write_config) -> None:
    params = StdioServerParameters(
        command=switchboard_bin(),
        args=["stdio", "--config", str(write_config(config()))],
        env=gateway_env(),  # stdio_client passes only a minimal environment otherwise
    )
    log_path = tmp_path / "gateway-stdio.log"
    attach_log(request, "gateway stderr (stdio)", log_path)
    elicit = FixedElicitor("accept", dict(ANSWER))
    with open(log_path, "w") as errlog, anyio.fail_after(TEST_TIMEOUT_S):
        async with Client(stdio_client(params, errlog=errlog), mode=MODERN,
                          elicitation_callback=elicit, cache=None) as c:
            assert c.protocol_version == MODERN
            names = {t.name for t in (await c.list_tools()).tools}
            assert {"ev__echo", "time__get_current_time"} <= names, names
            echoed = await c.call_tool("ev__echo", {"message": "over stdio"})
            assert texts(echoed) == ["Echo: over stdio"], echoed
            result = await c.call_tool("ev__trigger-elicitation-request", {})
            assert "Ada Lovelace" in "\n".join(texts(result)), result
    assert len(elicit.asked) == 1, elicit.asked


# ----- a handshake-era client in front of a 2026-07-28 upstream (bridge B) -------------------


@pytest.fixture
def modern_upstream_gw(gateway) -> str:
    """The fixture forced to 2026-07-28 (it answers initialize with -32022): the gateway's probe
    makes it a modern upstream."""
    base = gateway(
        "upstreams:\n"
        f"  fx:\n    stdio: {{ command: {json.dumps(fixture_bin())}, env: {{ FIXTURE_ERA: modern }} }}\n"
    )
    status = wait_upstreams_ready(base, ["fx"])
    assert status["upstreams"][0]["revision"] == MODERN, status
    return base


async def test_handshake_client_answers_a_modern_upstreams_input_required(modern_upstream_gw: str) -> None:
    elicit = FixedElicitor("accept", {"name": "Ada"})
    sampled: list[types.CreateMessageRequestParams] = []

    async def on_sample(_context: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
        sampled.append(params)
        return types.CreateMessageResult(
            role="assistant", content=types.TextContent(type="text", text="Paris"),
            model="test-model", stop_reason="endTurn",
        )

    with anyio.fail_after(TEST_TIMEOUT_S):
        async with Client(f"{modern_upstream_gw}/mcp", mode="legacy", elicitation_callback=elicit,
                          sampling_callback=on_sample, read_timeout_seconds=30) as c:
            assert c.protocol_version != MODERN
            # The upstream answers input_required; this client gets a real elicitation/create.
            hello = await c.call_tool("fx__test_input_required_result_elicitation", {})
            assert "Hello, Ada!" in "\n".join(texts(hello)), hello
            llm = await c.call_tool("fx__test_input_required_result_sampling", {})
            assert "Paris" in "\n".join(texts(llm)), llm
    assert len(elicit.asked) == 1 and len(sampled) == 1, (elicit.asked, sampled)
