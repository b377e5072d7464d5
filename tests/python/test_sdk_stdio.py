"""The official Python SDK's stdio client against `switchboard stdio --config FILE`.

Gateway config: upstream `fx` = the fixture over stdio, default prefix, so the
fixture's tools are `fx__echo`, `fx__test_elicitation`, ...
"""

from __future__ import annotations

import pytest
from mcp.client.stdio import StdioServerParameters, stdio_client

from harness import attach_log, fixture_config, gateway_env, switchboard_bin
from sdk_checks import exercise_gateway

pytestmark = pytest.mark.anyio


async def test_stdio_client_through_gateway(request, tmp_path, write_config) -> None:
    config = write_config(fixture_config("fx"))
    params = StdioServerParameters(
        command=switchboard_bin(),
        args=["stdio", "--config", str(config)],
        # stdio_client passes only a safe default environment (HOME, PATH, ...)
        # plus `env`, so hand over what the gateway may need explicitly.
        env=gateway_env(),
    )
    log_path = tmp_path / "gateway-stdio.log"
    attach_log(request, "gateway stderr (stdio)", log_path)
    with open(log_path, "w") as errlog:
        await exercise_gateway(stdio_client(params, errlog=errlog))
