"""The seed's smoke sequence against a running `switchboard serve`: `PUT /api/products/test`
through the admin API, then `initialize` on `/mcp/v/test` with the official Python SDK and with
the MCP Inspector CLI (both real clients, nothing stubbed).

Gateway config: upstream `fx` = the fixture over stdio (tools `fx__echo`, ...), auth off, so
the admin API answers loopback callers; no product in the file: the API creates it.
"""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request

import anyio
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from harness import fixture_config, inspector_bin, peers_env
from sdk_checks import HANDSHAKE_VERSIONS

pytestmark = pytest.mark.anyio


def http(method: str, url: str, body: dict | None = None) -> tuple[int, dict, str]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read().decode()


async def test_put_product_then_initialize_with_the_sdk_and_the_inspector(gateway) -> None:
    base_url = gateway(fixture_config("fx"))
    # Before the PUT there is no such product.
    status, _, _ = await anyio.to_thread.run_sync(http, "GET", f"{base_url}/api/products/test")
    assert status == 404

    product = {"id": "test", "name": "Test", "status": "published", "tools": ["fx__echo"]}
    status, headers, text = await anyio.to_thread.run_sync(
        http, "PUT", f"{base_url}/api/products/test", product
    )
    assert status == 201, text
    assert headers.get("etag", "").startswith('"'), headers
    assert json.loads(text)["name"] == "Test"

    # The official SDK: `initialize` (mode="legacy": the handshake, not the 2026-07-28 probe),
    # list, call, all at the product's endpoint.
    with anyio.fail_after(60):
        async with Client(
            streamable_http_client(f"{base_url}/mcp/v/test"), mode="legacy", read_timeout_seconds=30
        ) as client:
            assert client.protocol_version in HANDSHAKE_VERSIONS, client.protocol_version
            tools = await client.list_tools()
            assert [t.name for t in tools.tools] == ["fx__echo"]
            echoed = await client.call_tool("fx__echo", {"message": "via product"})
            assert not echoed.is_error, echoed

    # The MCP Inspector CLI against the same endpoint.
    cmd = [inspector_bin(), "--cli", f"{base_url}/mcp/v/test", "--transport", "http",
           "--method", "tools/list", "--format", "json"]
    proc = await anyio.to_thread.run_sync(
        lambda: subprocess.run(cmd, capture_output=True, text=True, timeout=45,
                               env=peers_env(), stdin=subprocess.DEVNULL)
    )
    assert proc.returncode == 0, f"{cmd}\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
    listed = json.loads(proc.stdout)
    assert [t["name"] for t in listed["result"]["tools"]] == ["fx__echo"], listed

    # /api/conformance lists it; after a DELETE the endpoint is gone.
    status, _, text = await anyio.to_thread.run_sync(http, "GET", f"{base_url}/api/conformance")
    assert status == 200
    assert [p["id"] for p in json.loads(text)["products"]] == ["test"]
    status, _, _ = await anyio.to_thread.run_sync(http, "DELETE", f"{base_url}/api/products/test")
    assert status == 204
    status, _, _ = await anyio.to_thread.run_sync(http, "POST", f"{base_url}/mcp/v/test", {})
    assert status == 404
