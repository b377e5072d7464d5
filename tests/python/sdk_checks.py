"""The checks shared by the SDK interop tests (HTTP and stdio).

They drive the official Python SDK (`mcp`, pinned in tests/peers/requirements.txt)
against a gateway fronting the fixture as upstream `fx` (default prefix, so the
fixture's `echo` is `fx__echo`).

`mode="legacy"` makes mcp 2.x's `Client` do the classic `initialize` handshake
(protocolVersion 2025-11-25) instead of first probing `server/discover` at the
stateless 2026-07-28 revision, which is what mode="auto" (the default) does.
"""

from __future__ import annotations

from typing import Any

import anyio
import mcp_types as types
from mcp import Client

# Upper bound for one whole exchange, so a gateway that never answers fails the
# test instead of hanging the run.
EXCHANGE_TIMEOUT_S = 60
# What the test's elicitation callback answers with; the suite's own values.
ELICIT_ANSWER = {"username": "testuser", "email": "test@example.com"}
HANDSHAKE_VERSIONS = ("2025-11-25", "2025-06-18")


def texts(result: types.CallToolResult) -> list[str]:
    return [block.text for block in result.content if isinstance(block, types.TextContent)]


async def exercise_gateway(transport: Any) -> None:
    """Handshake, list tools, call fx__echo and fx__test_elicitation through TRANSPORT."""
    elicitations: list[types.ElicitRequestParams] = []

    async def on_elicit(_context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        elicitations.append(params)
        return types.ElicitResult(action="accept", content=dict(ELICIT_ANSWER))

    try:
        with anyio.fail_after(EXCHANGE_TIMEOUT_S):
            await _exchange(transport, on_elicit, elicitations)
    except BaseExceptionGroup as group:
        # The SDK's task groups wrap a failed assert in nested exception groups;
        # re-raise the lone leaf so the report shows the assertion plainly.
        leaf = _lone_leaf(group)
        if leaf is None:
            raise
        raise leaf from None


def _lone_leaf(error: BaseException) -> BaseException | None:
    while isinstance(error, BaseExceptionGroup):
        if len(error.exceptions) != 1:
            return None
        error = error.exceptions[0]
    return error


async def _exchange(transport: Any, on_elicit: Any, elicitations: list[types.ElicitRequestParams]) -> None:
    async with Client(
        transport,
        mode="legacy",
        elicitation_callback=on_elicit,
        read_timeout_seconds=30,
    ) as client:
        assert client.protocol_version in HANDSHAKE_VERSIONS, client.protocol_version

        listed = await client.list_tools()
        names = [tool.name for tool in listed.tools]
        assert "fx__echo" in names, names
        assert "fx__test_elicitation" in names, names

        echoed = await client.call_tool("fx__echo", {"message": "hi"})
        assert not echoed.is_error, echoed
        assert any("hi" in text for text in texts(echoed)), echoed

        message = "Please provide your information"
        elicited = await client.call_tool("fx__test_elicitation", {"message": message})
        assert len(elicitations) == 1, "the elicitation callback was not invoked exactly once"
        assert getattr(elicitations[0], "message", None) == message, elicitations[0]
        assert not elicited.is_error, elicited
        reply = " ".join(texts(elicited))
        assert "accept" in reply, reply
        assert ELICIT_ANSWER["username"] in reply and ELICIT_ANSWER["email"] in reply, reply
