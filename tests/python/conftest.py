"""Shared fixtures for switchboard's Python interop tests.

Run through scripts/test (or by hand after `cargo build --workspace --bins`):

    .peers/venv/bin/python -m pytest -q tests/python

Environment: see harness.py (SWITCHBOARD_BIN, SWITCHBOARD_FIXTURE_BIN).

Async tests use anyio's pytest plugin (installed with `mcp`'s dependency anyio):
mark them with `pytest.mark.anyio`; the `anyio_backend` fixture below pins asyncio.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness import LOGS_ATTR, attach_log, free_port, gateway_env, switchboard_bin

HEALTH_TIMEOUT_S = 20.0
# A port picked by free_port() can be taken before the gateway binds it; retry then.
PORT_ATTEMPTS = 3


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    report = yield
    if report.failed and report.when in ("setup", "call"):
        for title, path in getattr(item, LOGS_ATTR, []):
            try:
                text = Path(path).read_text(errors="replace")
            except OSError as e:
                text = f"<could not read {path}: {e}>"
            report.sections.append((title, text or "<empty>"))
    return report


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[[str], Path]:
    """Write a gateway config YAML string to a fresh file and return its path."""
    counter = iter(range(1_000_000))

    def write(config_yaml: str) -> Path:
        path = tmp_path / f"gateway-{next(counter)}.yaml"
        path.write_text(config_yaml)
        return path

    return write


class _Gateway:
    def __init__(self, proc: subprocess.Popen[bytes], base_url: str, log_path: Path):
        self.proc = proc
        self.base_url = base_url
        self.log_path = log_path

    def stop(self) -> None:
        if self.proc.poll() is not None:
            return
        # The gateway leads its own process group (start_new_session), so this
        # also reaches the stdio upstreams it spawned.
        for sig, wait_s in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.proc.wait(timeout=wait_s)
                return
            except subprocess.TimeoutExpired:
                continue


def _wait_healthy(gw: _Gateway) -> str | None:
    """Poll /healthz until 200. Returns None when healthy, else why not."""
    deadline = time.monotonic() + HEALTH_TIMEOUT_S
    url = f"{gw.base_url}/healthz"
    while time.monotonic() < deadline:
        if gw.proc.poll() is not None:
            return f"gateway exited with code {gw.proc.returncode} before becoming healthy"
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == 200:
                    return None
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    return f"{url} not healthy after {HEALTH_TIMEOUT_S:.0f}s"


@pytest.fixture
def gateway(
    request: pytest.FixtureRequest, tmp_path: Path, write_config: Callable[[str], Path]
) -> Iterator[Callable[[str], str]]:
    """Factory: `base_url = gateway(config_yaml)`.

    Starts `$SWITCHBOARD_BIN serve --config <file> --listen 127.0.0.1:<free port>`,
    waits for GET /healthz == 200 and returns the base URL
    (`http://127.0.0.1:PORT`; MCP is served at `{base_url}/mcp`). Every gateway
    started is killed at teardown, and its log is shown if the test fails.
    """
    started: list[_Gateway] = []

    def start(config_yaml: str) -> str:
        config_path = write_config(config_yaml)
        n = len(started)
        failure = ""
        for attempt in range(PORT_ATTEMPTS):
            log_path = tmp_path / f"gateway-{n}-{attempt}.log"
            port = free_port()
            with open(log_path, "wb") as log:
                proc = subprocess.Popen(
                    [switchboard_bin(), "serve", "--config", str(config_path),
                     "--listen", f"127.0.0.1:{port}"],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=gateway_env(),
                    start_new_session=True,
                )
            gw = _Gateway(proc, f"http://127.0.0.1:{port}", log_path)
            started.append(gw)
            attach_log(request, f"gateway log ({log_path.name})", log_path)
            failure = _wait_healthy(gw) or ""
            if not failure:
                return gw.base_url
            gw.stop()
            log_text = log_path.read_text(errors="replace")
            if "in use" not in log_text.lower():  # only a port clash is worth a retry
                break
        # The gateway log is appended to the report by pytest_runtest_makereport.
        pytest.fail(failure, pytrace=False)

    yield start

    for gw in started:
        gw.stop()
