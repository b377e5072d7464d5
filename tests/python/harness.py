"""Helpers for switchboard's Python interop tests (imported by conftest.py and tests).

Environment (exported by scripts/test; defaults point at target/debug/):
    SWITCHBOARD_BIN          the gateway binary (`switchboard`)
    SWITCHBOARD_FIXTURE_BIN  the fixture MCP stdio server (`switchboard-fixture`)
"""

from __future__ import annotations

import json
import os
import socket
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
