"""Helpers for switchboard's Python interop tests (imported by conftest.py and tests).

Environment (exported by scripts/test; defaults point at target/debug/ and into the repo):
    SWITCHBOARD_BIN            the gateway binary (`switchboard`)
    SWITCHBOARD_FIXTURE_BIN    the fixture MCP stdio server (`switchboard-fixture`)
    SWITCHBOARD_RMCP_PEER_BIN  the 2026-07-28 server built on rmcp (`switchboard-rmcp-peer`)
    SWITCHBOARD_PEERS          tests/peers (node 22, server-everything, inspector)
    SWITCHBOARD_VENV           .peers/venv (mcp-server-time)
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
# Where attach_log() keeps the logs of the current test, for the failure report.
LOGS_ATTR = "_switchboard_logs"


def _binary(env_var: str, name: str) -> str:
    path = os.environ.get(env_var) or str(REPO_ROOT / "target" / "debug" / name)
    if not os.access(path, os.X_OK):
        pytest.fail(
            f"{name} binary not found at {path} (set {env_var} or run "
            "`cargo build --workspace --bins`; scripts/test does both)",
            pytrace=False,
        )
    return path


def switchboard_bin() -> str:
    """Absolute path of the gateway binary."""
    return _binary("SWITCHBOARD_BIN", "switchboard")


def fixture_bin() -> str:
    """Absolute path of the fixture MCP stdio server."""
    return _binary("SWITCHBOARD_FIXTURE_BIN", "switchboard-fixture")


def rmcp_peer_bin() -> str:
    """Absolute path of the 2026-07-28-only MCP stdio server built on the Rust SDK (rmcp)."""
    return _binary("SWITCHBOARD_RMCP_PEER_BIN", "switchboard-rmcp-peer")


def fixture_config(name: str = "fx") -> str:
    """Gateway config YAML with one upstream NAME running the fixture over stdio.

    The default prefix applies, so the fixture's tools appear as `NAME__tool`.
    The path is written out literally (JSON strings are valid YAML scalars), so
    the config does not depend on the gateway's `${VAR}` expansion.
    """
    return f"upstreams:\n  {name}:\n    stdio: {{ command: {json.dumps(fixture_bin())} }}\n"


def gateway_env() -> dict[str, str]:
    """Environment for a gateway process: ours plus the binary locations."""
    env = dict(os.environ)
    env["SWITCHBOARD_FIXTURE_BIN"] = fixture_bin()
    env.setdefault("RUST_BACKTRACE", "1")
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def attach_log(request: pytest.FixtureRequest, title: str, path: Path) -> None:
    """Show the file at PATH under TITLE in the report if the test fails."""
    logs = getattr(request.node, LOGS_ATTR, None)
    if logs is None:
        logs = []
        setattr(request.node, LOGS_ATTR, logs)
    logs.append((title, path))


# ----- real third-party peers (tests/peers, .peers/venv) --------------------------------------
#
# Environment (exported by scripts/test; defaults point into the repository):
#     SWITCHBOARD_PEERS  tests/peers (npm peers in node_modules/)
#     SWITCHBOARD_VENV   .peers/venv (python with mcp, mcp-server-time)

EVERYTHING_LISTENING = "SERVER_EVERYTHING_LISTENING"


def peers_dir() -> Path:
    return Path(os.environ.get("SWITCHBOARD_PEERS") or REPO_ROOT / "tests" / "peers")


def venv_dir() -> Path:
    return Path(os.environ.get("SWITCHBOARD_VENV") or REPO_ROOT / ".peers" / "venv")


def _installed(path: Path, what: str) -> str:
    if not path.exists():
        pytest.fail(f"{what} not found at {path} (run scripts/peers)", pytrace=False)
    return str(path)


def node_bin() -> str:
    """The pinned node 22 from tests/peers (the machine's own node may be older)."""
    return _installed(peers_dir() / "node_modules" / ".bin" / "node", "node 22 (npm package `node`)")


def everything_entry() -> str:
    """dist/index.js of the installed @modelcontextprotocol/server-everything."""
    return _installed(
        peers_dir() / "node_modules" / "@modelcontextprotocol" / "server-everything" / "dist" / "index.js",
        "@modelcontextprotocol/server-everything",
    )


def everything_docs_dir() -> Path:
    """The docs/ folder server-everything exposes as demo://resource/static/document/<file>."""
    return Path(everything_entry()).parent / "docs"


def everything_loopback() -> str:
    """tests/peers/everything-loopback.mjs: server-everything bound to 127.0.0.1 only."""
    return _installed(peers_dir() / "everything-loopback.mjs", "everything-loopback.mjs")


def venv_python() -> str:
    return _installed(venv_dir() / "bin" / "python", "the peers venv python")


def inspector_bin() -> str:
    return _installed(peers_dir() / "node_modules" / ".bin" / "mcp-inspector", "@modelcontextprotocol/inspector")


def peers_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Our environment with node 22 (tests/peers/node_modules/.bin) first on PATH."""
    env = dict(os.environ)
    bin_dir = str(peers_dir() / "node_modules" / ".bin")
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    env.update(extra or {})
    return env


def kill_group(proc: subprocess.Popen[bytes], wait_s: float = 5.0) -> None:
    """SIGTERM, then SIGKILL, the process group PROC leads (started with start_new_session)."""
    if proc.poll() is not None:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


class EverythingHttp:
    """server-everything over Streamable HTTP on 127.0.0.1:<ephemeral port> (via the wrapper)."""

    def __init__(self, proc: subprocess.Popen[bytes], url: str, log_path: Path):
        self.proc = proc
        self.url = url
        self.log_path = log_path

    def stop(self) -> None:
        kill_group(self.proc)


def start_everything_http(log_path: Path, timeout_s: float = 20.0) -> EverythingHttp:
    """Start server-everything's streamableHttp transport with PORT=0 and read back its port."""
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [node_bin(), everything_loopback(), "streamableHttp"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            # GZIP_ALLOWED_DOMAINS: gzip-file-as-resource may only fetch from a domain that does
            # not exist; the tests only hand it data: URIs.
            env=peers_env({"PORT": "0", "GZIP_ALLOWED_DOMAINS": "switchboard-tests.invalid"}),
            cwd=str(peers_dir()),
            start_new_session=True,
        )
    server = EverythingHttp(proc, "", log_path)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        text = log_path.read_text(errors="replace")
        match = re.search(EVERYTHING_LISTENING + r" 127\.0\.0\.1:(\d+)", text)
        if match:
            server.url = f"http://127.0.0.1:{match.group(1)}/mcp"
            return server
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    server.stop()
    pytest.fail(
        f"server-everything (streamableHttp) did not report its port within {timeout_s:.0f}s "
        f"(exit code {proc.returncode}); log:\n{log_path.read_text(errors='replace')}",
        pytrace=False,
    )


def real_servers_config(everything_http_url: str | None) -> str:
    """Gateway config: server-everything over stdio (`ev`) and Streamable HTTP (`evh`, left out
    when no URL is given), and mcp-server-time over stdio (`time`), in that order (so `ev` wins
    shared resource URIs)."""
    j = json.dumps
    no_fetch = {"GZIP_ALLOWED_DOMAINS": "switchboard-tests.invalid"}
    evh = (
        "  evh:\n"
        f"    http: {{ url: {j(everything_http_url)} }}\n"
        "    timeout: 30s\n"
    ) if everything_http_url else ""
    return (
        "upstreams:\n"
        "  ev:\n"
        f"    stdio: {{ command: {j(node_bin())}, args: [{j(everything_entry())}, \"stdio\"], "
        f"env: {j(no_fetch)}, cwd: {j(str(peers_dir()))} }}\n"
        "    timeout: 30s\n"
        + evh +
        "  time:\n"
        f"    stdio: {{ command: {j(venv_python())}, "
        "args: [\"-m\", \"mcp_server_time\", \"--local-timezone\", \"UTC\"] }\n"
        "    timeout: 30s\n"
    )


def get_status(base_url: str) -> dict:
    with urllib.request.urlopen(f"{base_url}/status", timeout=5) as resp:
        assert resp.status == 200, resp.status
        return json.loads(resp.read())


def wait_upstreams_ready(base_url: str, names: list[str], timeout_s: float = 20.0,
                         proc: subprocess.Popen[bytes] | None = None) -> dict:
    """Poll /status until every upstream in NAMES is `ready`; return the last status document.
    PROC, if given, is the gateway: its exit fails at once."""
    deadline = time.monotonic() + timeout_s
    status: dict = {}
    while True:
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"gateway exited with code {proc.returncode} before {names} were ready", pytrace=False)
        try:
            status = get_status(base_url)
            states = {u["name"]: u["state"] for u in status["upstreams"]}
            if all(states.get(n) == "ready" for n in names):
                return status
        except (urllib.error.URLError, OSError, ValueError):
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"upstreams {names} not all ready after {timeout_s:.0f}s: {status}", pytrace=False)
        time.sleep(0.1)


def texts(result) -> list[str]:
    """The text blocks of a tool result, in order."""
    return [c.text for c in result.content if getattr(c, "type", None) == "text"]


class FixedElicitor:
    """An elicitation callback that always gives the same answer and records what it was asked."""

    def __init__(self, action: str, content: dict | None) -> None:
        self.action = action
        self.content = content
        self.asked: list = []

    async def __call__(self, _context, params):
        import mcp_types as types  # noqa: PLC0415 (only the SDK tests need it)

        self.asked.append(params)
        return types.ElicitResult(action=self.action, content=self.content)
