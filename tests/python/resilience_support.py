"""Helpers for test_resilience.py: processes, /proc scans, peers and a raw MCP HTTP client.

Everything here is stdlib only (plus harness.py, read-only), so the tests can watch process
trees and drive the gateway byte by byte where the SDK would hide what is being tested.

Cleanup rule: every process started here is tracked by a `Procs` registry (one per test, see the
`procs` fixture in test_resilience.py) and killed at teardown, process group and all, together with
every process group the gateway was seen to own, so a failing test leaves nothing behind.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from harness import attach_log, free_port, gateway_env, switchboard_bin

PROTOCOL_VERSION = "2025-11-25"
READY_TIMEOUT_S = 20.0
PORT_ATTEMPTS = 3


# --------------------------------------------------------------------------------------------
# /proc


@dataclass(frozen=True)
class ProcInfo:
    pid: int
    ppid: int
    pgid: int
    state: str
    # Clock ticks after boot: with the pid, names one process even if the pid is reused.
    start: int
    cmdline: tuple[str, ...]

    @property
    def alive(self) -> bool:
        # A zombie has finished; whether anyone reaps it (the container's init may not) is
        # not the gateway's business.
        return self.state not in ("Z", "X")

    def cmd(self) -> str:
        return " ".join(self.cmdline)


def proc_info(pid: int) -> ProcInfo | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        raw_cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # comm (field 2) is in parentheses and may contain spaces: split after the last ')'.
    rest = stat[stat.rindex(")") + 2 :].split()
    state, ppid, pgid, start = rest[0], int(rest[1]), int(rest[2]), int(rest[19])
    cmdline = tuple(a.decode(errors="replace") for a in raw_cmd.split(b"\0") if a)
    return ProcInfo(pid, ppid, pgid, state, start, cmdline)


def all_procs() -> list[ProcInfo]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            info = proc_info(int(entry))
            if info is not None:
                out.append(info)
    return out


def children_of(pid: int) -> list[ProcInfo]:
    return [p for p in all_procs() if p.ppid == pid and p.alive]


def descendants_of(pid: int) -> list[ProcInfo]:
    procs = all_procs()
    by_parent: dict[int, list[ProcInfo]] = {}
    for p in procs:
        by_parent.setdefault(p.ppid, []).append(p)
    out: list[ProcInfo] = []
    todo = [pid]
    while todo:
        for child in by_parent.get(todo.pop(), []):
            if child.alive:
                out.append(child)
                todo.append(child.pid)
    return out


def group_members(pgids: set[int]) -> list[ProcInfo]:
    """Live processes in any of PGIDS."""
    return [p for p in all_procs() if p.pgid in pgids and p.alive]


def pid_alive(pid: int) -> bool:
    info = proc_info(pid)
    return info is not None and info.alive


def wait_until(predicate, timeout: float, interval: float = 0.05):
    """Polls PREDICATE until it returns something truthy (returned) or TIMEOUT passes (None)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)


def _killpg(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


# --------------------------------------------------------------------------------------------
# Process registry


@dataclass
class Procs:
    """Every process a test starts, and every process group the gateways owned."""

    request: pytest.FixtureRequest
    tmp_path: Path
    popens: list[subprocess.Popen[bytes]] = field(default_factory=list)
    # Process groups seen under a gateway (upstreams, reaper), and the members seen in them
    # as (pid, start); a group is SIGKILLed at teardown while one of those members is in it
    # (a process group id is not reused while any member lives, so it is still ours).
    groups: set[int] = field(default_factory=set)
    members: set[tuple[int, int]] = field(default_factory=set)
    counter: int = 0

    def log_path(self, stem: str) -> Path:
        self.counter += 1
        return self.tmp_path / f"{self.counter:02d}-{stem}.log"

    def popen(self, argv: list[str], log: Path, env: dict[str, str] | None = None,
              title: str | None = None) -> subprocess.Popen[bytes]:
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                env=env, start_new_session=True,
            )
        self.popens.append(proc)
        attach_log(self.request, title or log.name, log)
        return proc

    def note_groups_of(self, pid: int) -> None:
        """Remembers the process groups of PID's descendants, for teardown."""
        self.note_groups({p.pgid for p in descendants_of(pid)})

    def note_groups(self, pgids: set[int]) -> None:
        self.groups.update(pgids)
        self.members.update((p.pid, p.start) for p in group_members(pgids))

    def cleanup(self) -> None:
        for proc in self.popens:
            if proc.poll() is None:
                self.note_groups_of(proc.pid)
        for proc in reversed(self.popens):
            if proc.poll() is None:
                _killpg(proc.pid, signal.SIGTERM)
        for proc in reversed(self.popens):
            try:
                proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                _killpg(proc.pid, signal.SIGKILL)
                try:
                    proc.wait(timeout=3)
                except subprocess.TimeoutExpired:
                    pass
        # The gateway's reaper ends its upstream groups when it dies; anything that outlived
        # that (a test that failed because of exactly that) goes now.
        time.sleep(0.05)
        ours = self.groups - {0, 1, os.getpgid(0)}
        for pgid in {p.pgid for p in group_members(ours) if (p.pid, p.start) in self.members}:
            _killpg(pgid, signal.SIGKILL)


# --------------------------------------------------------------------------------------------
# Gateway


@dataclass
class Gateway:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def mcp_url(self) -> str:
        return f"{self.base_url}/mcp"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def status(self) -> dict[str, Any]:
        code, body = http_get(self.base_url, "/status")
        assert code == 200, (code, body)
        return json.loads(body)

    def upstream(self, name: str) -> dict[str, Any]:
        for up in self.status()["upstreams"]:
            if up["name"] == name:
                return up
        raise AssertionError(f"no upstream {name!r} in /status")


def http_get(base_url: str, path: str, timeout: float = 2.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"{base_url}{path}", timeout=timeout) as resp:
            return resp.status, resp.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def start_gateway(procs: Procs, config_yaml: str, ready: tuple[str, ...] = ()) -> Gateway:
    """Starts `switchboard serve` on a free loopback port; waits for /readyz 200 and for every
    upstream named in READY to be `ready` in /status."""
    config = procs.tmp_path / f"gateway-{procs.counter + 1}.yaml"
    config.write_text(config_yaml)
    failure = ""
    for _ in range(PORT_ATTEMPTS):
        port = free_port()
        log = procs.log_path("gateway")
        proc = procs.popen(
            [switchboard_bin(), "serve", "--config", str(config), "--listen", f"127.0.0.1:{port}"],
            log, env=gateway_env(), title=f"gateway log ({log.name})",
        )
        gw = Gateway(proc, port, log)
        failure = _wait_ready(gw, ready)
        if not failure:
            procs.note_groups_of(gw.pid)
            return gw
        if proc.poll() is None:
            procs.note_groups_of(gw.pid)
            _killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
        if "in use" not in gw.log_text().lower():
            break
    pytest.fail(failure, pytrace=False)


def _wait_ready(gw: Gateway, ready: tuple[str, ...]) -> str:
    deadline = time.monotonic() + READY_TIMEOUT_S
    last = ""
    while time.monotonic() < deadline:
        if gw.proc.poll() is not None:
            return f"gateway exited with code {gw.proc.returncode} before becoming ready"
        try:
            code, body = http_get(gw.base_url, "/readyz", timeout=1)
            if code == 200:
                states = {u["name"]: u["state"] for u in gw.status()["upstreams"]}
                last = f"/status states: {states}"
                if all(states.get(name) == "ready" for name in ready):
                    return ""
            else:
                last = f"/readyz: {code} {body.strip()}"
        except (urllib.error.URLError, OSError) as e:
            last = f"/readyz: {e}"
        time.sleep(0.1)
    return f"gateway not ready after {READY_TIMEOUT_S:.0f}s ({last})"


# --------------------------------------------------------------------------------------------
# server-everything


def peers_dir() -> Path:
    return Path(os.environ.get("SWITCHBOARD_PEERS") or Path(__file__).resolve().parents[1] / "peers")


def everything_entry() -> Path:
    return peers_dir() / "node_modules" / "@modelcontextprotocol" / "server-everything" / "dist" / "index.js"


def node_bin() -> str:
    """node 22 from the peers (the machine's own node may be older)."""
    local = peers_dir() / "node_modules" / ".bin" / "node"
    if os.access(local, os.X_OK):
        return str(local)
    return "node"


def require_everything() -> None:
    if not everything_entry().is_file():
        pytest.fail(f"server-everything not installed at {everything_entry()} (run scripts/peers)",
                    pytrace=False)


@dataclass
class Everything:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path


def start_everything(procs: Procs, transport: str, port: int = 0, timeout: float = 20.0) -> Everything:
    """Runs server-everything's TRANSPORT (`sse` or `streamableHttp`) on 127.0.0.1:PORT through
    everything-loopback.mjs and returns once it prints the port it listens on."""
    require_everything()
    env = dict(os.environ)
    env["PORT"] = str(port)
    log = procs.log_path(f"everything-{transport}")
    proc = procs.popen([node_bin(), str(peers_dir() / "everything-loopback.mjs"), transport], log,
                       env=env, title=f"server-everything {transport} ({log.name})")
    marker = "SERVER_EVERYTHING_LISTENING "
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in log.read_text(errors="replace").splitlines():
            if line.startswith(marker):
                return Everything(proc, int(line[len(marker):].rsplit(":", 1)[1]), log)
        if proc.poll() is not None:
            pytest.fail(f"server-everything exited with {proc.returncode}:\n"
                        f"{log.read_text(errors='replace')}", pytrace=False)
        time.sleep(0.05)
    pytest.fail(f"server-everything {transport} did not report its port within {timeout:.0f}s",
                pytrace=False)


def stop_process(proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
    if proc.poll() is None:
        _killpg(proc.pid, sig)
        proc.wait(timeout=5)


# --------------------------------------------------------------------------------------------
# A raw MCP Streamable HTTP client (one request per connection)


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: str
    # JSON-RPC messages found in the body (one for JSON, every `message` event for SSE).
    messages: list[dict[str, Any]]

    def response(self, req_id: Any) -> dict[str, Any]:
        for m in self.messages:
            if m.get("id") == req_id and ("result" in m or "error" in m):
                return m
        raise AssertionError(f"no response with id {req_id!r} in HTTP {self.status}: {self.body[:500]}")


def parse_sse(text: str) -> list[dict[str, Any]]:
    out = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        event, data = "message", []
        for line in block.split("\n"):
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip(" ") if line[5:6] == " " else line[5:])
        if event == "message" and data:
            try:
                out.append(json.loads("\n".join(data)))
            except json.JSONDecodeError:
                pass
    return out


def raw_request(port: int, method: str, body: dict[str, Any] | None = None,
                session: str | None = None, timeout: float = 15.0) -> Reply:
    headers = {"Accept": "application/json, text/event-stream"}
    payload = None
    if body is not None:
        payload = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if session:
        headers["MCP-Session-Id"] = session
        headers["MCP-Protocol-Version"] = PROTOCOL_VERSION
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, "/mcp", body=payload, headers=headers)
        resp = conn.getresponse()
        text = resp.read().decode(errors="replace")
        hdrs = {k.lower(): v for k, v in resp.getheaders()}
    finally:
        conn.close()
    ctype = hdrs.get("content-type", "")
    if ctype.startswith("text/event-stream"):
        messages = parse_sse(text)
    elif ctype.startswith("application/json") and text.strip():
        parsed = json.loads(text)
        messages = parsed if isinstance(parsed, list) else [parsed]
    else:
        messages = []
    return Reply(resp.status, hdrs, text, messages)


class RawSession:
    """One client session with the gateway over raw HTTP."""

    def __init__(self, port: int):
        self.port = port
        self.next_id = 1
        init = raw_request(port, "POST", {
            "jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {"protocolVersion": PROTOCOL_VERSION, "capabilities": {},
                       "clientInfo": {"name": "resilience-test", "version": "0"}},
        })
        assert init.status == 200, (init.status, init.body)
        init.response(0)
        self.id = init.headers.get("mcp-session-id")
        assert self.id, f"initialize answer has no MCP-Session-Id: {init.headers}"
        note = raw_request(port, "POST", {"jsonrpc": "2.0", "method": "notifications/initialized"},
                           session=self.id)
        assert note.status == 202, (note.status, note.body)

    def call_body(self, tool: str, arguments: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        req_id = self.next_id
        self.next_id += 1
        return req_id, {"jsonrpc": "2.0", "id": req_id, "method": "tools/call",
                        "params": {"name": tool, "arguments": arguments}}

    def call(self, tool: str, arguments: dict[str, Any], timeout: float = 15.0) -> dict[str, Any]:
        """The JSON-RPC response (result or error) of tools/call TOOL."""
        req_id, body = self.call_body(tool, arguments)
        reply = raw_request(self.port, "POST", body, session=self.id, timeout=timeout)
        assert reply.status == 200, (reply.status, reply.body)
        return reply.response(req_id)

    def delete(self) -> int:
        return raw_request(self.port, "DELETE", session=self.id).status


def result_texts(response: dict[str, Any]) -> list[str]:
    result = response.get("result") or {}
    return [c.get("text", "") for c in result.get("content", []) if c.get("type") == "text"]
