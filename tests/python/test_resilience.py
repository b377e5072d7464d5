"""Resilience: the gateway and its upstreams when processes die, sessions expire or we shut down.

1. kill -9 of the gateway leaves no upstream process behind (the reaper ends their groups).
2. A legacy HTTP+SSE upstream (server-everything `sse`) works end to end.
3. An upstream Streamable HTTP session that disappears is re-created behind the client's back.
4. A crashing stdio upstream fails its call naming the upstream, then is restarted.
5. `session: isolated` starts one upstream process per client session and stops it on DELETE.
5b. Ending an isolated session closes its upstream's stdin (the polite stop, no signal).
6. SIGTERM lets a call in flight finish, refuses new connections and exits 0.
6b. SIGTERM stops the isolated upstreams of many sessions together, not one after another.

Every test starts its own processes through the `procs` registry, which kills them (and every
process group the gateway owned) at teardown. See resilience_support.py.
"""

from __future__ import annotations

import http.client
import json
import signal
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from harness import fixture_bin
from resilience_support import (
    Procs,
    RawSession,
    children_of,
    everything_entry,
    group_members,
    http_get,
    node_bin,
    parse_sse,
    pid_alive,
    raw_request,
    require_everything,
    result_texts,
    start_everything,
    start_gateway,
    stop_process,
    wait_until,
)
from sdk_checks import texts

SDK_TIMEOUT_S = 30


@pytest.fixture
def procs(request: pytest.FixtureRequest, tmp_path: Path):
    registry = Procs(request, tmp_path)
    yield registry
    registry.cleanup()


def _q(value: str) -> str:
    """A YAML scalar for VALUE written literally (JSON strings are YAML)."""
    return json.dumps(value)


def _fixture_upstream(name: str = "fx") -> str:
    return f"  {name}:\n    stdio: {{ command: {_q(fixture_bin())} }}\n"


# ---------------------------------------------------------------------------------------------
# 1. kill -9 leaves no orphans


def test_kill_9_leaves_no_orphans(procs: Procs) -> None:
    require_everything()
    # sh runs node in the background and waits: the upstream's leader is sh and node is a
    # grandchild of the gateway in the same process group. A background job of a
    # non-interactive sh gets /dev/null as stdin unless redirected, hence the fd 3 dance.
    # The fixture and node both exit by themselves when the dead gateway's pipes close, so they
    # alone cannot tell a working reaper from a missing one; `sleep` (no pipes at all) is a
    # grandchild that only a signal to its group ends, and sh waits for it.
    script = 'exec 3<&0; "$0" "$1" stdio <&3 3<&- & sleep 600 </dev/null >/dev/null 2>&1 & wait'
    config = (
        "upstreams:\n"
        + _fixture_upstream("fx")
        + "  ev:\n"
        + f"    stdio: {{ command: sh, args: [ -c, {_q(script)}, {_q(node_bin())}, {_q(str(everything_entry()))} ] }}\n"
    )
    gw = start_gateway(procs, config, ready=("fx", "ev"))

    children = children_of(gw.pid)
    reapers = [c for c in children if "__reaper" in c.cmdline]
    upstreams = [c for c in children if "__reaper" not in c.cmdline]
    assert len(reapers) == 1, f"expected one `switchboard __reaper` child: {[c.cmd() for c in children]}"
    reaper = reapers[0]
    assert reaper.pgid != gw.pid, "the reaper must not share the gateway's process group"

    assert len(upstreams) == 2, [c.cmd() for c in upstreams]
    for up in upstreams:
        assert up.pgid == up.pid, f"upstream {up.cmd()!r} does not lead its own process group"
        assert up.pgid != gw.pid
    pgids = {up.pgid for up in upstreams}
    members = group_members(pgids)
    procs.note_groups(pgids)
    sh_group = next(up.pgid for up in upstreams if up.cmdline and up.cmdline[0] == "sh")
    grandchildren = [m for m in members if m.pgid == sh_group and m.pid != sh_group]
    kinds = sorted(Path(m.cmdline[0]).name for m in grandchildren if m.cmdline)
    assert kinds == ["node", "sleep"], (
        f"expected node and sleep as grandchildren in group {sh_group}: {[m.cmd() for m in members]}")
    assert all(m.ppid != gw.pid for m in grandchildren), "they should be grandchildren, not children"

    gw.proc.send_signal(signal.SIGKILL)
    gw.proc.wait(timeout=5)
    killed_at = time.monotonic()

    survivors = lambda: group_members(pgids)  # noqa: E731
    wait_until(lambda: not survivors(), timeout=5)
    left = survivors()
    assert not left, (
        f"{time.monotonic() - killed_at:.1f}s after kill -9 these upstream processes survive: "
        f"{[(p.pid, p.pgid, p.cmd()) for p in left]}"
    )
    wait_until(lambda: not pid_alive(reaper.pid), timeout=5)
    assert not pid_alive(reaper.pid), "the reaper outlived the gateway by 5 s"


# ---------------------------------------------------------------------------------------------
# 2. legacy SSE upstream


@pytest.mark.anyio
async def test_legacy_sse_upstream(procs: Procs) -> None:
    ev = await anyio.to_thread.run_sync(start_everything, procs, "sse")
    config = f"upstreams:\n  old:\n    sse: {{ url: {_q(f'http://127.0.0.1:{ev.port}/sse')} }}\n"
    gw = await anyio.to_thread.run_sync(lambda: start_gateway(procs, config, ready=("old",)))

    with anyio.fail_after(SDK_TIMEOUT_S):
        async with Client(gw.mcp_url, mode="legacy", read_timeout_seconds=20) as client:
            listed = await client.list_tools()
            names = [t.name for t in listed.tools]
            assert "old__echo" in names, names
            echoed = await client.call_tool("old__echo", {"message": "over legacy sse"})
            assert not echoed.is_error, echoed
            assert "Echo: over legacy sse" in texts(echoed), echoed


# ---------------------------------------------------------------------------------------------
# 3. upstream session expiry → transparent re-initialisation


@pytest.mark.anyio
async def test_upstream_session_loss_is_transparent(procs: Procs) -> None:
    first = await anyio.to_thread.run_sync(start_everything, procs, "streamableHttp")
    port = first.port
    config = f"upstreams:\n  evh:\n    http: {{ url: {_q(f'http://127.0.0.1:{port}/mcp')} }}\n"
    gw = await anyio.to_thread.run_sync(lambda: start_gateway(procs, config, ready=("evh",)))

    with anyio.fail_after(SDK_TIMEOUT_S + 15):
        async with Client(gw.mcp_url, mode="legacy", read_timeout_seconds=15) as client:
            before = await client.call_tool("evh__echo", {"message": "before"})
            assert not before.is_error, before
            assert "Echo: before" in texts(before), before

            # Same port, new process: the gateway's upstream session id means nothing to it.
            await anyio.to_thread.run_sync(stop_process, first.proc)
            await anyio.to_thread.run_sync(
                lambda: start_everything(procs, "streamableHttp", port=port))

            attempts: list[str] = []
            deadline = time.monotonic() + 10
            while True:
                try:
                    after = await client.call_tool("evh__echo", {"message": "after"})
                    if not after.is_error and "Echo: after" in texts(after):
                        break
                    attempts.append(f"tool error: {texts(after)}")
                except Exception as e:  # noqa: BLE001 - a JSON-RPC error from the gateway
                    attempts.append(f"{type(e).__name__}: {e}")
                if time.monotonic() > deadline:
                    pytest.fail(f"evh__echo never succeeded after the upstream restart: {attempts}")
                await anyio.sleep(0.25)
            # Transparency: report (not fail on) calls that needed a retry, for the record.
            if attempts:
                print(f"evh__echo needed {len(attempts)} retries after the restart: {attempts}")

            # The client session was never replaced: still the same gateway session.
            again = await client.call_tool("evh__echo", {"message": "again"})
            assert "Echo: again" in texts(again), again

    log = gw.log_text()
    assert "re-initialising" in log, "the gateway never re-initialised the upstream session"


# ---------------------------------------------------------------------------------------------
# 4. crashing upstream is restarted


def test_crashing_upstream_is_restarted(procs: Procs) -> None:
    gw = start_gateway(procs, "upstreams:\n" + _fixture_upstream("fx"), ready=("fx",))
    session = RawSession(gw.port)
    ok = session.call("fx__echo", {"message": "one"})
    assert result_texts(ok) == ["one"], ok

    crashed = session.call("fx__crash", {})
    assert "error" in crashed, f"fx__crash should fail with a JSON-RPC error: {crashed}"
    data = crashed["error"].get("data") or {}
    assert data.get("upstream") == "fx", crashed

    def restarted() -> dict[str, Any] | None:
        up = gw.upstream("fx")
        return up if up["state"] == "ready" and up["restarts"] >= 1 else None

    up = wait_until(restarted, timeout=10, interval=0.1)
    assert up, f"fx not ready again with restarts >= 1 within 10 s: {gw.upstream('fx')}"

    again = session.call("fx__echo", {"message": "two"})
    assert result_texts(again) == ["two"], again


# ---------------------------------------------------------------------------------------------
# 5. isolated sessions


def _iso_fixtures(gw_pid: int) -> list[int]:
    """Live fixture processes started by this gateway with `--name iso`."""
    out = []
    for c in children_of(gw_pid):
        args = list(c.cmdline)
        if args and args[0].endswith("switchboard-fixture") and "--name iso" in " ".join(args[1:]):
            out.append(c.pid)
    return out


def _initialize_count(log: Path) -> int:
    n = 0
    for line in log.read_text(errors="replace").splitlines():
        try:
            msg = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(msg, dict) and msg.get("method") == "initialize":
            n += 1
    return n


def test_isolated_sessions(procs: Procs, tmp_path: Path) -> None:
    wire_log = tmp_path / "iso-wire.log"
    config = (
        "upstreams:\n"
        "  fx:\n"
        f"    stdio: {{ command: {_q(fixture_bin())}, args: [--name, iso], "
        f"env: {{ FIXTURE_LOG: {_q(str(wire_log))} }} }}\n"
        "    session: isolated\n"
    )
    gw = start_gateway(procs, config, ready=("fx",))
    assert len(_iso_fixtures(gw.pid)) == 1, "expected only the shared discovery connection's process"

    a, b = RawSession(gw.port), RawSession(gw.port)
    assert a.id != b.id
    for s, word in ((a, "from a"), (b, "from b")):
        r = s.call("fx__echo", {"message": word})
        assert result_texts(r) == [word], r
    procs.note_groups_of(gw.pid)

    inits = _initialize_count(wire_log)
    assert inits >= 3, f"upstream saw {inits} initialize requests; expected discovery + one per session"
    alive = _iso_fixtures(gw.pid)
    assert len(alive) == 3, f"expected 3 fixture processes (shared + 2 isolated), found {len(alive)}"

    status = a.delete()
    assert status in (200, 202, 204), f"DELETE /mcp answered {status}"
    fewer = wait_until(lambda: len(_iso_fixtures(gw.pid)) == 2, timeout=5)
    assert fewer, f"after DELETE still {len(_iso_fixtures(gw.pid))} fixture processes (expected 2)"

    # The other session's own upstream is untouched.
    r = b.call("fx__echo", {"message": "still here"})
    assert result_texts(r) == ["still here"], r
    assert len(_iso_fixtures(gw.pid)) == 2
    # The deleted session is gone for the gateway too.
    gone = raw_request(gw.port, "POST", a.call_body("fx__echo", {"message": "x"})[1], session=a.id)
    assert gone.status == 404, (gone.status, gone.body)


# ---------------------------------------------------------------------------------------------
# 6. SIGTERM drains


def test_sigterm_drains_requests_in_flight(procs: Procs) -> None:
    gw = start_gateway(procs, "upstreams:\n" + _fixture_upstream("fx"), ready=("fx",))
    session = RawSession(gw.port)
    req_id, body = session.call_body("fx__slow", {"ms": 1500})

    sent = threading.Event()
    outcome: dict[str, Any] = {}

    def slow_call() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=15)
        try:
            conn.request("POST", "/mcp", body=json.dumps(body).encode(), headers={
                "Content-Type": "application/json",
                "Accept": "application/json, text/event-stream",
                "MCP-Session-Id": session.id,
                "MCP-Protocol-Version": "2025-11-25",
            })
            sent.set()
            resp = conn.getresponse()
            outcome["status"] = resp.status
            outcome["ctype"] = resp.getheader("content-type", "")
            outcome["body"] = resp.read().decode(errors="replace")
        except Exception as e:  # noqa: BLE001 - reported by the main thread
            outcome["error"] = repr(e)
        finally:
            outcome["at"] = time.monotonic()
            sent.set()
            conn.close()

    worker = threading.Thread(target=slow_call, daemon=True)
    started = time.monotonic()
    worker.start()
    assert sent.wait(5), "the slow call was never sent"
    time.sleep(0.2)
    gw.proc.send_signal(signal.SIGTERM)
    term_at = time.monotonic()

    # New connections: refused (or 503) once shutdown has begun.
    probes: list[str] = []

    def refused() -> bool:
        try:
            code, _ = http_get(gw.base_url, "/healthz", timeout=1)
        except (ConnectionRefusedError, ConnectionResetError) as e:
            probes.append(type(e).__name__)
            return True
        except OSError as e:  # URLError wraps the cause
            reason = getattr(e, "reason", e)
            probes.append(repr(reason))
            return isinstance(reason, (ConnectionRefusedError, ConnectionResetError))
        probes.append(str(code))
        return code == 503

    assert wait_until(refused, timeout=1.0, interval=0.05), (
        f"new connections still served after SIGTERM: probe results {probes}")

    worker.join(timeout=12)
    assert not worker.is_alive(), "the slow call never returned"
    assert "error" not in outcome, f"the slow call failed during the drain: {outcome}"
    assert outcome["status"] == 200, outcome
    text = outcome["body"]
    if outcome["ctype"].startswith("text/event-stream"):
        messages = parse_sse(text)
    else:
        messages = [json.loads(text)]
    response = next((m for m in messages if m.get("id") == req_id), None)
    assert response is not None, outcome
    assert result_texts(response) == ["Slept for 1500 ms"], response
    assert outcome["at"] - started >= 1.4, "answered before the tool could have finished"

    try:
        code = gw.proc.wait(timeout=max(1.0, 12 - (time.monotonic() - term_at)))
    except Exception:  # noqa: BLE001
        pytest.fail(f"gateway still running {time.monotonic() - term_at:.1f}s after SIGTERM")
    assert code == 0, f"gateway exited with {code} after SIGTERM"


# ---------------------------------------------------------------------------------------------
# 5b. ending an isolated session closes the upstream's stdin (polite stop, no signal)


def test_isolated_session_end_closes_upstream_stdin(procs: Procs, tmp_path: Path) -> None:
    """stdio.rs promises "close stdin, wait, SIGTERM the group, wait, SIGKILL" (and the MCP stdio
    transport says the same). The fixture exits 0 at end of input, so a wrapper that records the
    fixture's exit status tells whether stdin was closed: `exit 0` = EOF; no line at all = the
    group was signalled (the wrapper sh dies of the SIGTERM too)."""
    marker = tmp_path / "exits.log"
    script = '"$0" "$@"; echo "exit $?" >> "$EXIT_MARKER"'
    config = (
        "upstreams:\n"
        "  fx:\n"
        f"    stdio: {{ command: sh, args: [ -c, {_q(script)}, {_q(fixture_bin())}, --name, iso ], "
        f"env: {{ EXIT_MARKER: {_q(str(marker))} }} }}\n"
        "    session: isolated\n"
    )
    gw = start_gateway(procs, config, ready=("fx",))
    session = RawSession(gw.port)
    r = session.call("fx__echo", {"message": "hi"})
    assert result_texts(r) == ["hi"], r
    procs.note_groups_of(gw.pid)
    wrappers_before = {c.pid for c in children_of(gw.pid) if c.cmdline[:1] == ("sh",)}
    assert len(wrappers_before) == 2, "expected the shared and the isolated upstream process"

    # The era probe's child (handshake-era fixture: stopped, then started again for initialize)
    # has exited already; only what happens from here on counts.
    exits_before = len(marker.read_text().splitlines()) if marker.exists() else 0
    deleted_at = time.monotonic()
    assert session.delete() in (200, 202, 204)
    gone = wait_until(
        lambda: len({c.pid for c in children_of(gw.pid) if c.cmdline[:1] == ("sh",)}) == 1,
        timeout=5, interval=0.02)
    took = time.monotonic() - deleted_at
    assert gone, "the isolated upstream process outlived its session by 5 s"
    exits = (marker.read_text().splitlines() if marker.exists() else [])[exits_before:]
    assert exits == ["exit 0"], (
        f"the isolated upstream was stopped after {took:.2f}s without seeing end of input "
        f"(exit records: {exits}); expected its stdin to be closed so it exits 0 by itself")


# ---------------------------------------------------------------------------------------------
# 6b. SIGTERM stops the isolated upstreams of many sessions together, not one after another


SLOW_EXIT_SESSIONS = 4


def test_sigterm_stops_isolated_upstreams_concurrently(procs: Procs) -> None:
    """Each isolated upstream here takes the gateway's whole polite-stop path: the fixture exits at
    end of input but its wrapper sh then sleeps, so the group ends only at the SIGTERM step (1.5 s
    GRACE in stdio.rs). Stopping the sessions' upstreams concurrently costs about one GRACE (plus
    one for the shared connection); one after another it costs one per session."""
    script = '"$0" "$@"; sleep 30'
    config = (
        "upstreams:\n"
        "  fx:\n"
        f"    stdio: {{ command: sh, args: [ -c, {_q(script)}, {_q(fixture_bin())}, --name, iso ] }}\n"
        "    session: isolated\n"
    )
    gw = start_gateway(procs, config, ready=("fx",))
    sessions = [RawSession(gw.port) for _ in range(SLOW_EXIT_SESSIONS)]
    for s in sessions:
        r = s.call("fx__echo", {"message": s.id})
        assert result_texts(r) == [s.id], r
    procs.note_groups_of(gw.pid)
    assert len(children_of(gw.pid)) == SLOW_EXIT_SESSIONS + 2  # + shared upstream + reaper

    gw.proc.send_signal(signal.SIGTERM)
    term_at = time.monotonic()
    try:
        code = gw.proc.wait(timeout=20)
    except Exception:  # noqa: BLE001
        pytest.fail("gateway still running 20 s after SIGTERM")
    took = time.monotonic() - term_at
    assert code == 0, f"gateway exited with {code}"
    # Concurrent: ~1.5 s (sessions) + ~1.5 s (shared). Sequential: (SESSIONS + 1) × 1.5 s.
    assert took < 4.5, (
        f"shutdown with {SLOW_EXIT_SESSIONS} isolated sessions took {took:.1f}s: their upstreams "
        "were stopped one after another (about 1.5 s each) instead of together")
