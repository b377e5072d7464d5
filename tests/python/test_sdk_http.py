"""The official Python SDK's Streamable HTTP client against `switchboard serve`.

Gateway config: upstream `fx` = the fixture over stdio, default prefix, so the
fixture's tools are `fx__echo`, `fx__test_elicitation`, ...
"""

from __future__ import annotations

import pytest
from mcp.client.streamable_http import streamable_http_client

from harness import fixture_config
from sdk_checks import exercise_gateway

pytestmark = pytest.mark.anyio


async def test_streamable_http_client_through_gateway(gateway) -> None:
    base_url = gateway(fixture_config("fx"))
    await exercise_gateway(streamable_http_client(f"{base_url}/mcp"))
