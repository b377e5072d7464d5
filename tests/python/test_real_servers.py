"""One gateway in front of three real third-party MCP servers at once.

Upstreams (config order matters: `ev` wins resource URIs both server-everything copies expose):

    ev    @modelcontextprotocol/server-everything over stdio (node 22 from tests/peers)
    evh   the same server over Streamable HTTP, started here on 127.0.0.1:<ephemeral port>
          through tests/peers/everything-loopback.mjs (one process for the whole module)
    time  mcp-server-time from .peers/venv over stdio (`--local-timezone UTC`)

Clients: the official Python SDK (`mcp` 2.3.0, `mode="legacy"`, i.e. the `initialize`
handshake at 2025-11-25) over `switchboard serve` (Streamable HTTP) and `switchboard stdio`,
the MCP Inspector CLI over HTTP, and hand-written JSON-RPC lines over `switchboard stdio` where
timing matters.

Gateways: tests that leave no state behind in the upstreams share one `serve` gateway for the
module (fixture `gw`); tests that toggle server-everything's periodic senders or register
session resources get their own (`fresh_gw`, from conftest's `gateway` factory).

What server-everything (2026.8.31) provides that these tests rely on (see its dist/ sources):
  tools      echo, get-sum, trigger-long-running-operation {duration, steps} (one progress
             notification per step), toggle-simulated-logging / toggle-subscriber-updates (each
             sends one message at once, then every 5 s), gzip-file-as-resource (registers a
             session resource demo://resource/session/<name>; only data: URIs are used here),
             and, registered once the (gateway's) client declares the capability,
             trigger-elicitation-request / trigger-sampling-request
  prompts    simple-prompt, args-prompt {city, state?}, completable-prompt, resource-prompt
  resources  demo://resource/static/document/<file in dist/docs>, templates
             demo://resource/dynamic/{text,blob}/{resourceId}
  logging    resources/subscribe and /unsubscribe each log an info message (no `logger`)
"""

from __future__ import annotations

import base64
import gzip
import json
import queue
import subprocess
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.shared.exceptions import MCPError

from harness import (
    attach_log,
    everything_docs_dir,
    everything_entry,
    fixture_bin,
    gateway_env,
    free_port,
    get_status,
    inspector_bin,
    kill_group,
    node_bin,
    peers_env,
    real_servers_config,
    start_everything_http,
    switchboard_bin,
    wait_upstreams_ready,
)

pytestmark = [
    pytest.mark.anyio,
    # subscribe/setLevel/ping are deprecated in the 2026-07-28 revision; these tests use the
    # handshake era on purpose.
    pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning"),
]

UPSTREAMS = ["ev", "evh", "time"]
HANDSHAKE_VERSIONS = ("2025-11-25", "2025-06-18")
# Bound for one test's whole client exchange.
TEST_TIMEOUT_S = 45
# Bound for one awaited notification. server-everything's periodic senders tick every 5 s, so
# anything slower than two ticks is a failure.
NOTIFY_TIMEOUT_S = 12
STATIC_DOC_PREFIX = "demo://resource/static/document/"
TEXT_TEMPLATE = "demo://resource/dynamic/text/{resourceId}"
BLOB_TEMPLATE = "demo://resource/dynamic/blob/{resourceId}"
SUBSCRIBED_URI = STATIC_DOC_PREFIX + "features.md"
ELICIT_MESSAGE = "Please provide inputs for the following fields:"


# ----- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def everything_http(tmp_path_factory: pytest.TempPathFactory):
    """server-everything over Streamable HTTP, shared by the module's gateways (each gateway
    opens its own MCP session to it). Killed at module teardown."""
    log_path = tmp_path_factory.mktemp("everything-http") / "server-everything-http.log"
    server = start_everything_http(log_path)
    yield server
    server.stop()


@pytest.fixture
def real_config(request: pytest.FixtureRequest, everything_http) -> str:
    attach_log(request, "server-everything (streamableHttp) log", everything_http.log_path)
    if everything_http.proc.poll() is not None:
        pytest.fail(f"server-everything (HTTP) exited with {everything_http.proc.returncode}", pytrace=False)
    return real_servers_config(everything_http.url)


@pytest.fixture(scope="module")
def shared_gateway(tmp_path_factory: pytest.TempPathFactory, everything_http):
    """One `switchboard serve` for the tests that leave no state behind in the upstreams
    (starting and stopping a gateway costs seconds). Yields (base_url, log_path)."""
    workdir = tmp_path_factory.mktemp("shared-gateway")
    config = workdir / "gateway.yaml"
    config.write_text(real_servers_config(everything_http.url))
    for attempt in range(3):  # a free port can be taken before the gateway binds it
        log_path = workdir / f"gateway-{attempt}.log"
        listen = f"127.0.0.1:{free_port()}"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [switchboard_bin(), "serve", "--config", str(config), "--listen", listen],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env=gateway_env(), start_new_session=True,
            )
        base_url = f"http://{listen}"
        try:
            wait_upstreams_ready(base_url, UPSTREAMS, proc=proc)
        except BaseException:
            kill_group(proc)
            if attempt < 2 and "in use" in log_path.read_text(errors="replace").lower():
                continue
            raise
        try:
            yield base_url, log_path
        finally:
            kill_group(proc)
        return


@pytest.fixture
def gw(request: pytest.FixtureRequest, shared_gateway, everything_http) -> str:
    """Base URL of the module's shared gateway (ev, evh and time all `ready`)."""
    base_url, log_path = shared_gateway
    attach_log(request, "shared gateway log", log_path)
    attach_log(request, "server-everything (streamableHttp) log", everything_http.log_path)
    return base_url


@pytest.fixture
def fresh_gw(gateway: Callable[[str], str], real_config: str) -> str:
    """Base URL of a gateway of the test's own (fresh upstream processes and sessions), for tests
    that change upstream state: toggled periodic senders, session resources."""
    base_url = gateway(real_config)
    wait_upstreams_ready(base_url, UPSTREAMS)
    return base_url


# ----- helpers -------------------------------------------------------------------------------


def _lone_leaf(error: BaseException) -> BaseException | None:
    while isinstance(error, BaseExceptionGroup):
        if len(error.exceptions) != 1:
            return None
        error = error.exceptions[0]
    return error


@asynccontextmanager
async def bounded(seconds: float = TEST_TIMEOUT_S) -> AsyncIterator[None]:
    """fail_after(SECONDS), re-raising the lone leaf of the SDK's nested exception groups so an
    assertion inside a client context reads plainly."""
    try:
        with anyio.fail_after(seconds):
            yield
    except BaseExceptionGroup as group:
        leaf = _lone_leaf(group)
        if leaf is None:
            raise
        raise leaf from None


def texts(result: types.CallToolResult) -> list[str]:
    return [b.text for b in result.content if isinstance(b, types.TextContent)]


def joined(result: types.CallToolResult) -> str:
    return "\n".join(texts(result))


class Inbox:
    """Everything a client received outside responses, with arrival times."""

    def __init__(self) -> None:
        self.logs: list[tuple[float, types.LoggingMessageNotificationParams]] = []
        self.messages: list[tuple[float, Any]] = []

    async def on_log(self, params: types.LoggingMessageNotificationParams) -> None:
        self.logs.append((time.monotonic(), params))

    async def on_message(self, message: Any) -> None:
        self.messages.append((time.monotonic(), message))

    def updates(self, uri: str) -> list[float]:
        return [
            t for t, m in self.messages
            if isinstance(m, types.ResourceUpdatedNotification) and m.params.uri == uri
        ]

    def logs_containing(self, needle: str) -> list[types.LoggingMessageNotificationParams]:
        return [p for _, p in self.logs if needle in str(p.data)]

    def progress_since(self, since: float) -> list[types.ProgressNotificationParams]:
        return [
            m.params for t, m in self.messages
            if t >= since and isinstance(m, types.ProgressNotification)
        ]


async def wait_until(predicate: Callable[[], bool], what: str, timeout_s: float = NOTIFY_TIMEOUT_S) -> None:
    with anyio.move_on_after(timeout_s):
        while not predicate():
            await anyio.sleep(0.02)
        return
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


def from_upstream(log: types.LoggingMessageNotificationParams, upstream: str) -> bool:
    """The gateway names the upstream in `logger`: `NAME`, or `NAME/<upstream's logger>`."""
    return log.logger == upstream or str(log.logger).startswith(f"{upstream}/")


def client(server: Any, inbox: Inbox | None = None, **kwargs: Any) -> Client:
    if inbox is not None:
        kwargs.setdefault("logging_callback", inbox.on_log)
        kwargs.setdefault("message_handler", inbox.on_message)
    return Client(server, mode="legacy", read_timeout_seconds=30, **kwargs)


def check_time_result(result: types.CallToolResult, tz: str = "UTC") -> None:
    assert not result.is_error, result
    payload = json.loads(joined(result))
    assert payload["timezone"] == tz, payload
    stamp = datetime.fromisoformat(payload["datetime"])
    assert stamp.utcoffset() == timedelta(0), payload
    assert abs(stamp - datetime.now(timezone.utc)) < timedelta(minutes=5), payload
    assert result.structured_content and result.structured_content.get("timezone") == tz, result


async def check_echo(c: Client, tool: str, message: str) -> None:
    result = await c.call_tool(tool, {"message": message})
    assert not result.is_error, result
    assert texts(result) == [f"Echo: {message}"], result


class Elicitor:
    """An elicitation callback answering from a queue of (action, content) and recording asks."""

    def __init__(self, *answers: tuple[str, dict[str, Any] | None]) -> None:
        self.answers = list(answers)
        self.asked: list[types.ElicitRequestParams] = []

    async def __call__(self, _context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        self.asked.append(params)
        action, content = self.answers.pop(0)
        return types.ElicitResult(action=action, content=content)


ELICIT_ANSWER = {"name": "Ada Lovelace", "check": True, "email": "ada@example.com", "integer": 7}


def check_elicitation_ask(params: types.ElicitRequestParams) -> None:
    assert params.message == ELICIT_MESSAGE, params
    schema = params.requested_schema
    assert "name" in schema["properties"], schema
    assert schema.get("required") == ["name"], schema


def check_elicitation_accepted(result: types.CallToolResult) -> None:
    assert not result.is_error, result
    reply = joined(result)
    for line in ("- Name: Ada Lovelace", "- Agreed to terms: true", "- Email: ada@example.com",
                 "- Favorite Integer: 7"):
        assert line in reply, reply
    assert '"action": "accept"' in reply, reply


# ----- HTTP gateway ----------------------------------------------------------------------------


async def test_status_reports_all_three_upstreams_ready(gw: str) -> None:
    status = get_status(gw)
    ups = status["upstreams"]
    assert [u["name"] for u in ups] == UPSTREAMS, ups
    by = {u["name"]: u for u in ups}
    for name, kind in (("ev", "stdio"), ("evh", "http"), ("time", "stdio")):
        u = by[name]
        assert u["state"] == "ready", u
        assert u["kind"] == kind, u
        assert u["prefix"] == name, u
        assert u["error"] is None, u
    # The gateway probes each upstream's era (`era: auto`): server-everything (TypeScript SDK 1.x)
    # only knows the handshake; mcp-server-time (Python SDK 2.x) serves 2026-07-28 as well, and
    # the gateway then speaks that to it (and bridges handshake-era clients).
    assert by["ev"]["revision"] in HANDSHAKE_VERSIONS, by["ev"]
    assert by["evh"]["revision"] in HANDSHAKE_VERSIONS, by["evh"]
    assert by["time"]["revision"] == "2026-07-28", by["time"]
    assert by["ev"]["tools"] == by["evh"]["tools"] >= 12, ups
    assert by["ev"]["prompts"] == by["evh"]["prompts"] == 4, ups
    assert by["time"]["tools"] == 2 and by["time"]["prompts"] == 0, ups
    docs = sorted(p.name for p in everything_docs_dir().iterdir() if p.is_file())
    # The static documents exist on both copies; evh's are withheld in favour of ev (config order).
    assert by["ev"]["resources"] == len(docs), ups
    assert by["evh"]["resources"] == 0, ups
    withheld = {(w["upstream"], w["name"]) for w in status["withheld"] if w["kind"] == "resources"}
    assert withheld == {("evh", STATIC_DOC_PREFIX + d) for d in docs}, status["withheld"]
    assert all(w["reason"].endswith("upstream ev") for w in status["withheld"] if w["kind"] == "resources"), status


async def test_tools_from_all_upstreams_namespaced_and_callable(gw: str) -> None:
    async with bounded(), client(f"{gw}/mcp") as c:
        assert c.protocol_version in HANDSHAKE_VERSIONS, c.protocol_version
        names = [t.name for t in (await c.list_tools()).tools]
        assert len(names) == len(set(names)), names
        for expected in ("ev__echo", "evh__echo", "ev__get-sum", "ev__trigger-long-running-operation",
                         "evh__trigger-long-running-operation", "time__get_current_time",
                         "time__convert_time"):
            assert expected in names, names
        assert all(n.split("__", 1)[0] in UPSTREAMS and "__" in n for n in names), names
        ev = {n.removeprefix("ev__") for n in names if n.startswith("ev__")}
        evh = {n.removeprefix("evh__") for n in names if n.startswith("evh__")}
        assert ev == evh, (ev ^ evh)
        assert {n for n in names if n.startswith("time__")} == {"time__get_current_time", "time__convert_time"}

        await check_echo(c, "ev__echo", "hello stdio upstream")
        await check_echo(c, "evh__echo", "hello http upstream")
        summed = await c.call_tool("ev__get-sum", {"a": 2, "b": 40})
        assert texts(summed) == ["The sum of 2 and 40 is 42."], summed

        check_time_result(await c.call_tool("time__get_current_time", {"timezone": "UTC"}))
        converted = await c.call_tool(
            "time__convert_time",
            {"source_timezone": "UTC", "time": "12:00", "target_timezone": "Asia/Tokyo"},
        )
        assert not converted.is_error, converted
        payload = json.loads(joined(converted))
        assert payload["target"]["timezone"] == "Asia/Tokyo", payload
        assert payload["target"]["datetime"].endswith("T21:00:00+09:00"), payload
        assert payload["time_difference"] == "+9.0h", payload

        with pytest.raises(MCPError):
            await c.call_tool("echo", {"message": "un-prefixed names must not resolve"})


async def test_prompts_list_get_and_complete(gw: str) -> None:
    async with bounded(), client(f"{gw}/mcp") as c:
        prompts = {p.name: p for p in (await c.list_prompts()).prompts}
        for prefix in ("ev", "evh"):
            for name in ("simple-prompt", "args-prompt", "completable-prompt", "resource-prompt"):
                assert f"{prefix}__{name}" in prompts, sorted(prompts)
        assert not any(n.startswith("time__") for n in prompts), sorted(prompts)
        args = {a.name: a.required for a in prompts["ev__args-prompt"].arguments or []}
        assert args == {"city": True, "state": False}, args

        got = await c.get_prompt("ev__args-prompt", {"city": "Paris", "state": "Texas"})
        assert [m.content.text for m in got.messages] == ["What's weather in Paris, Texas?"], got
        got = await c.get_prompt("evh__args-prompt", {"city": "Lyon"})
        assert [m.content.text for m in got.messages] == ["What's weather in Lyon?"], got
        got = await c.get_prompt("evh__simple-prompt")
        assert got.messages[0].content.text == "This is a simple prompt without arguments.", got

        # An embedded resource's URI comes back verbatim (URIs are never rewritten).
        got = await c.get_prompt("ev__resource-prompt", {"resourceType": "Text", "resourceId": "4"})
        assert len(got.messages) == 2, got
        embedded = got.messages[1].content
        assert isinstance(embedded, types.EmbeddedResource), got
        assert embedded.resource.uri == "demo://resource/dynamic/text/4", embedded
        assert embedded.resource.text.startswith("Resource 4: This is a plaintext resource"), embedded

        done = await c.complete(
            types.PromptReference(type="ref/prompt", name="ev__completable-prompt"),
            {"name": "department", "value": "Mar"},
        )
        assert done.completion.values == ["Marketing"], done
        done = await c.complete(
            types.PromptReference(type="ref/prompt", name="evh__completable-prompt"),
            {"name": "name", "value": ""},
            context_arguments={"department": "Sales"},
        )
        assert done.completion.values == ["David", "Eve", "Frank"], done

        with pytest.raises(MCPError):
            await c.get_prompt("ev__no-such-prompt")


async def test_resources_list_read_and_templates(gw: str) -> None:
    docs_dir = everything_docs_dir()
    docs = sorted(p.name for p in docs_dir.iterdir() if p.is_file())
    async with bounded(), client(f"{gw}/mcp") as c:
        uris = [r.uri for r in (await c.list_resources()).resources]
        # Listed once each although both ev and evh serve them; URIs not rewritten.
        assert sorted(uris) == sorted(STATIC_DOC_PREFIX + d for d in docs), uris

        read = await c.read_resource(SUBSCRIBED_URI)
        assert len(read.contents) == 1, read
        content = read.contents[0]
        assert content.uri == SUBSCRIBED_URI, content
        assert content.mime_type == "text/markdown", content
        assert content.text == (docs_dir / "features.md").read_text(), content.text[:200]

        templates = {t.uri_template for t in (await c.list_resource_templates()).resource_templates}
        assert {TEXT_TEMPLATE, BLOB_TEMPLATE} <= templates, templates

        # Template instances route through the templates (to ev, the first that matches).
        text = await c.read_resource("demo://resource/dynamic/text/7")
        assert text.contents[0].uri == "demo://resource/dynamic/text/7", text
        assert text.contents[0].text.startswith("Resource 7: This is a plaintext resource created at"), text
        blob = await c.read_resource("demo://resource/dynamic/blob/2")
        decoded = base64.b64decode(blob.contents[0].blob).decode()
        assert decoded.startswith("Resource 2: This is a base64 blob created at"), decoded

        done = await c.complete(
            types.ResourceTemplateReference(type="ref/resource", uri=TEXT_TEMPLATE),
            {"name": "resourceId", "value": "5"},
        )
        assert done.completion.values == ["5"], done

        with pytest.raises(MCPError):
            await c.read_resource("demo://no-such-server/anything")


async def test_resource_templates_listed_once_per_uri_template(gw: str) -> None:
    """ev and evh both list the templates demo://resource/dynamic/{text,blob}/{resourceId}.

    Reads of every instance route to ev (first matching template in config order), so evh's
    identical templates are unreachable. Like the identical static resource URIs (withheld and
    reported in /status as "uri already served by upstream ev"), they should be withheld, not
    listed twice.
    """
    async with bounded(), client(f"{gw}/mcp") as c:
        listed = [t.uri_template for t in (await c.list_resource_templates()).resource_templates]
    assert sorted(listed) == sorted({TEXT_TEMPLATE, BLOB_TEMPLATE}), (
        f"resources/templates/list repeats uriTemplates: {listed}"
    )
    withheld = {(w["upstream"], w["name"]) for w in get_status(gw)["withheld"]}
    assert {("evh", TEXT_TEMPLATE), ("evh", BLOB_TEMPLATE)} <= withheld, withheld


async def test_resource_reads_route_by_uri_and_first_upstream_wins(fresh_gw: str) -> None:
    """A session resource created on one copy only is read from that copy; once both copies
    serve the URI, the earlier upstream in config order (ev) serves it."""
    name = f"switchboard-{uuid.uuid4().hex[:12]}.txt.gz"
    uri = f"demo://resource/session/{name}"

    def data_uri(text: str) -> str:
        return "data:text/plain;base64," + base64.b64encode(text.encode()).decode()

    async def read_gunzipped(c: Client) -> str:
        read = await c.read_resource(uri)
        assert read.contents[0].uri == uri, read
        return gzip.decompress(base64.b64decode(read.contents[0].blob)).decode()

    def withheld_from_evh() -> bool:
        return any(w["upstream"] == "evh" and w["name"] == uri for w in get_status(fresh_gw)["withheld"])

    async with bounded(), client(f"{fresh_gw}/mcp") as c:
        made = await c.call_tool("evh__gzip-file-as-resource",
                                 {"name": name, "data": data_uri("served by evh"), "outputType": "resourceLink"})
        assert not made.is_error, made
        assert [b.uri for b in made.content if isinstance(b, types.ResourceLink)] == [uri], made

        async def listed() -> list[str]:
            return [r.uri for r in (await c.list_resources()).resources]

        with anyio.move_on_after(NOTIFY_TIMEOUT_S):
            while uri not in await listed():
                await anyio.sleep(0.1)
        assert uri in await listed(), "evh's new session resource never appeared in resources/list"
        assert await read_gunzipped(c) == "served by evh"

        made = await c.call_tool("ev__gzip-file-as-resource",
                                 {"name": name, "data": data_uri("served by ev"), "outputType": "resourceLink"})
        assert not made.is_error, made
        await wait_until(withheld_from_evh, f"/status to withhold evh's {uri} after ev registered it")
        assert (await listed()).count(uri) == 1
        assert await read_gunzipped(c) == "served by ev"


async def test_subscriptions_are_shared_and_reference_counted(fresh_gw: str) -> None:
    """Two clients subscribe to one ev resource: the upstream hears one subscribe, both receive
    notifications/resources/updated, and the upstream is unsubscribed only when the last
    subscriber leaves. server-everything's resources/(un)subscribe handlers each log an info
    message, which is how the upstream side is observed."""
    a, b = Inbox(), Inbox()
    subscribed = f"Received Subscribe Resource request for URI: {SUBSCRIBED_URI}"
    unsubscribed = f"Received Unsubscribe Resource request: {SUBSCRIBED_URI}"
    async with bounded(), client(f"{fresh_gw}/mcp", a) as ca, client(f"{fresh_gw}/mcp", b) as cb:
        await ca.set_logging_level("debug")
        await cb.set_logging_level("debug")

        await ca.subscribe_resource(SUBSCRIBED_URI)
        await wait_until(lambda: a.logs_containing(subscribed), "ev's log of the subscribe")
        log = a.logs_containing(subscribed)[0]
        assert log.logger == "ev" and log.level == "info", log
        await cb.subscribe_resource(SUBSCRIBED_URI)
        await ca.call_tool("ev__echo", {"message": "barrier"})
        await anyio.sleep(0.3)
        assert len(a.logs_containing(subscribed)) == 1, "the upstream heard a second subscribe"

        started = await ca.call_tool("ev__toggle-subscriber-updates", {})
        assert "Started simulated resource updated notifications" in joined(started), started
        await wait_until(lambda: a.updates(SUBSCRIBED_URI) and b.updates(SUBSCRIBED_URI),
                         "notifications/resources/updated on both subscribers")

        # A leaves; B still holds the subscription, so the upstream must not be unsubscribed.
        await ca.unsubscribe_resource(SUBSCRIBED_URI)
        a_seen, b_seen = len(a.updates(SUBSCRIBED_URI)), len(b.updates(SUBSCRIBED_URI))
        # Restart the updates: server-everything sends one round at once when they start.
        stopped = await ca.call_tool("ev__toggle-subscriber-updates", {})
        assert "Stopped" in joined(stopped), stopped
        await ca.call_tool("ev__toggle-subscriber-updates", {})
        await wait_until(lambda: len(b.updates(SUBSCRIBED_URI)) > b_seen, "an update after A left")
        await anyio.sleep(0.3)
        assert len(a.updates(SUBSCRIBED_URI)) == a_seen, "an unsubscribed client still gets updates"
        assert not a.logs_containing(unsubscribed), "upstream unsubscribed while B still subscribed"

        await cb.unsubscribe_resource(SUBSCRIBED_URI)
        await wait_until(lambda: b.logs_containing(unsubscribed), "ev's log of the unsubscribe")
        assert b.logs_containing(unsubscribed)[0].logger == "ev"
        await ca.call_tool("ev__toggle-subscriber-updates", {})  # stop the updates


async def test_progress_from_concurrent_calls_reaches_the_right_caller(gw: str) -> None:
    progress: dict[str, list[tuple[float, float | None]]] = {"ev": [], "evh": []}
    results: dict[str, types.CallToolResult] = {}
    steps = {"ev": 4, "evh": 5}

    async def run(prefix: str) -> None:
        async def on_progress(value: float, total: float | None, _message: str | None) -> None:
            progress[prefix].append((value, total))

        results[prefix] = await c.call_tool(
            f"{prefix}__trigger-long-running-operation",
            {"duration": 1, "steps": steps[prefix]},
            progress_callback=on_progress,
        )

    async with bounded(), client(f"{gw}/mcp") as c:
        async with anyio.create_task_group() as tg:
            tg.start_soon(run, "ev")
            tg.start_soon(run, "evh")
    for prefix, n in steps.items():
        text = joined(results[prefix])
        assert text == f"Long running operation completed. Duration: 1 seconds, Steps: {n}.", results[prefix]
        values = [v for v, _ in progress[prefix]]
        assert values == [float(i) for i in range(1, n + 1)], (prefix, progress[prefix])
        assert all(t == n for _, t in progress[prefix]), (prefix, progress[prefix])


async def test_logging_level_filters_and_prefixes_logger(fresh_gw: str) -> None:
    inbox = Inbox()
    subscribed = f"Received Subscribe Resource request for URI: {SUBSCRIBED_URI}"
    unsubscribed = f"Received Unsubscribe Resource request: {SUBSCRIBED_URI}"
    async with bounded(), client(f"{fresh_gw}/mcp", inbox) as c:
        # At "error", ev's info-level subscribe log must not reach the client ...
        await c.set_logging_level("error")
        await c.subscribe_resource(SUBSCRIBED_URI)
        # ... at "debug" its unsubscribe log must.
        await c.set_logging_level("debug")
        await c.unsubscribe_resource(SUBSCRIBED_URI)
        await wait_until(lambda: inbox.logs_containing(unsubscribed), "ev's info log at level debug")
        assert not inbox.logs_containing(subscribed), "an info log passed a client level of error"
        log = inbox.logs_containing(unsubscribed)[0]
        assert (log.level, log.logger) == ("info", "ev"), log

        # Simulated logging sends one random-level message at once on each copy.
        for prefix in ("ev", "evh"):
            before = len(inbox.logs)
            started = await c.call_tool(f"{prefix}__toggle-simulated-logging", {})
            assert "Started simulated, random-leveled logging" in joined(started), started
            await wait_until(
                lambda: any(from_upstream(p, prefix) for _, p in inbox.logs[before:]),
                f"a simulated log message from {prefix}",
            )
            stopped = await c.call_tool(f"{prefix}__toggle-simulated-logging", {})
            assert "Stopped simulated logging" in joined(stopped), stopped
        for _, p in inbox.logs:
            assert from_upstream(p, "ev") or from_upstream(p, "evh"), p
        # Over HTTP, server-everything names its session in the message: these came from evh.
        evh_logs = [p for _, p in inbox.logs if from_upstream(p, "evh")]
        assert evh_logs and all(" - SessionId " in str(p.data) for p in evh_logs), evh_logs
        ev_logs = [p for _, p in inbox.logs if from_upstream(p, "ev")]
        assert ev_logs and not any("SessionId" in str(p.data) for p in ev_logs), ev_logs


@pytest.mark.parametrize("prefix", ["ev", "evh"])
async def test_cancelled_call_leaves_gateway_healthy(gw: str, prefix: str) -> None:
    """Cancel a long call after its first progress; the gateway answers at once afterwards,
    relays no more progress for the abandoned request, and later calls (with progress) work."""
    inbox = Inbox()
    steps, duration = 6, 3  # one step (and progress notification) every 0.5 s
    first_progress = anyio.Event()
    totals: list[float | None] = []

    async def on_progress(_value: float, total: float | None, _message: str | None) -> None:
        totals.append(total)
        first_progress.set()

    async with bounded(), client(f"{gw}/mcp", inbox) as c:
        async def long_call() -> None:
            await c.call_tool(f"{prefix}__trigger-long-running-operation",
                              {"duration": duration, "steps": steps}, progress_callback=on_progress)
            raise AssertionError("the long call finished although it was cancelled")

        with anyio.move_on_after(NOTIFY_TIMEOUT_S) as outer:
            async with anyio.create_task_group() as tg:
                tg.start_soon(long_call)
                await first_progress.wait()
                tg.cancel_scope.cancel()
        assert not outer.cancelled_caught, "no progress arrived for the long call"
        cancelled_at = time.monotonic()
        assert totals and all(t == steps for t in totals), totals

        with anyio.fail_after(5):
            await check_echo(c, f"{prefix}__echo", "still here")
            other = "evh" if prefix == "ev" else "ev"
            await check_echo(c, f"{other}__echo", "other upstream too")
            check_time_result(await c.call_tool("time__get_current_time", {"timezone": "UTC"}))
        # A new long call gets exactly its own progress, although the abandoned one keeps
        # ticking upstream (server-everything ignores cancellation) for another ~2.5 s.
        seen: list[tuple[float, float | None]] = []

        async def on_new_progress(value: float, total: float | None, _message: str | None) -> None:
            seen.append((value, total))

        done = await c.call_tool(f"{prefix}__trigger-long-running-operation",
                                 {"duration": 1, "steps": 2}, progress_callback=on_new_progress)
        assert "Steps: 2." in joined(done), done
        assert seen == [(1.0, 2.0), (2.0, 2.0)], seen
        # The abandoned operation ticks at +0.5 s ... +2.5 s after the cancel. Ignore the first
        # second (a tick may cross the cancel on a loaded machine); later ones must not arrive.
        await anyio.sleep(max(0.0, cancelled_at + 2.7 - time.monotonic()))
        stray = [p for p in inbox.progress_since(cancelled_at + 1.0) if p.total == steps]
        assert not stray, f"progress for the cancelled request reached the client: {stray}"
    status = get_status(gw)
    assert all(u["state"] == "ready" for u in status["upstreams"]), status


async def test_elicitation_relayed_from_both_copies(gw: str) -> None:
    elicit = Elicitor(("accept", dict(ELICIT_ANSWER)), ("accept", dict(ELICIT_ANSWER)), ("decline", None))
    async with bounded(), client(f"{gw}/mcp", elicitation_callback=elicit) as c:
        names = [t.name for t in (await c.list_tools()).tools]
        assert "ev__trigger-elicitation-request" in names and "evh__trigger-elicitation-request" in names

        check_elicitation_accepted(await c.call_tool("ev__trigger-elicitation-request", {}))
        check_elicitation_accepted(await c.call_tool("evh__trigger-elicitation-request", {}))
        declined = await c.call_tool("evh__trigger-elicitation-request", {})
        assert "User declined to provide the requested information" in joined(declined), declined
        assert '"action": "decline"' in joined(declined), declined
    assert len(elicit.asked) == 3, elicit.asked
    for params in elicit.asked:
        check_elicitation_ask(params)


async def test_sampling_relayed_from_both_copies(gw: str) -> None:
    asked: list[types.CreateMessageRequestParams] = []

    async def on_sample(_context: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
        asked.append(params)
        prompt = params.messages[0].content.text
        return types.CreateMessageResult(
            role="assistant",
            content=types.TextContent(type="text", text=f"sampled answer to <{prompt}>"),
            model="switchboard-test-model",
            stop_reason="endTurn",
        )

    async with bounded(), client(f"{gw}/mcp", sampling_callback=on_sample) as c:
        for prefix in ("ev", "evh"):
            marker = f"marker-{prefix}-{uuid.uuid4().hex[:8]}"
            result = await c.call_tool(f"{prefix}__trigger-sampling-request", {"prompt": marker, "maxTokens": 33})
            assert not result.is_error, result
            reply = joined(result)
            assert reply.startswith("LLM sampling result:"), reply
            sampled = json.loads(reply.split("\n", 1)[1])
            assert sampled["model"] == "switchboard-test-model", sampled
            assert sampled["content"]["text"] == f"sampled answer to <Resource trigger-sampling-request context: {marker}>", sampled
    assert len(asked) == 2, asked
    for params in asked:
        assert params.max_tokens == 33, params
        assert params.system_prompt == "You are a helpful test server.", params


async def test_server_requests_refused_when_client_lacks_capability(gw: str) -> None:
    """The gateway declares sampling/elicitation to its shared upstream sessions, so the tools are
    listed to every client; a client that declared neither gets a prompt error, not a hang."""
    async with bounded(20), client(f"{gw}/mcp") as c:
        elicited = await c.call_tool("ev__trigger-elicitation-request", {})
        assert elicited.is_error and "elicitation" in joined(elicited), elicited
        sampled = await c.call_tool("evh__trigger-sampling-request", {"prompt": "nobody answers"})
        assert sampled.is_error and "sampling" in joined(sampled), sampled
        await check_echo(c, "ev__echo", "fine afterwards")


def run_inspector(url: str, *args: str) -> dict:
    cmd = [inspector_bin(), "--cli", url, "--transport", "http", *args, "--format", "json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=45, env=peers_env(),
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, f"{cmd} exited {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
    return json.loads(proc.stdout)


async def test_inspector_cli_against_gateway(gw: str) -> None:
    url = f"{gw}/mcp"
    listed = await anyio.to_thread.run_sync(run_inspector, url, "--method", "tools/list")
    names = {t["name"] for t in listed["result"]["tools"]}
    assert {"ev__echo", "evh__echo", "time__get_current_time", "time__convert_time"} <= names, sorted(names)

    called = await anyio.to_thread.run_sync(
        run_inspector, url, "--method", "tools/call", "--tool-name", "time__get_current_time",
        "--tool-arg", "timezone=UTC",
    )
    result = called["result"]
    assert result.get("isError") is False, result
    check_time_result(types.CallToolResult.model_validate(result))

    echoed = await anyio.to_thread.run_sync(
        run_inspector, url, "--method", "tools/call", "--tool-name", "evh__echo",
        "--tool-arg", "message=from inspector",
    )
    assert echoed["result"]["content"] == [{"type": "text", "text": "Echo: from inspector"}], echoed


# ----- stdio gateway ---------------------------------------------------------------------------


async def test_stdio_gateway_fronts_all_three(request: pytest.FixtureRequest, tmp_path: Path,
                                              write_config: Callable[[str], Path], real_config: str) -> None:
    config = write_config(real_config)
    params = StdioServerParameters(
        command=switchboard_bin(),
        args=["stdio", "--config", str(config)],
        env=gateway_env(),  # stdio_client passes only a minimal environment otherwise
    )
    log_path = tmp_path / "gateway-stdio.log"
    attach_log(request, "gateway stderr (stdio)", log_path)
    elicit = Elicitor(("accept", dict(ELICIT_ANSWER)))
    with open(log_path, "w") as errlog:
        async with bounded(), client(stdio_client(params, errlog=errlog), elicitation_callback=elicit) as c:
            assert c.protocol_version in HANDSHAKE_VERSIONS, c.protocol_version
            # The gateway holds requests until every upstream had its first connection attempt,
            # so the very first list is complete.
            names = [t.name for t in (await c.list_tools()).tools]
            for expected in ("ev__echo", "evh__echo", "time__get_current_time",
                             "ev__trigger-elicitation-request"):
                assert expected in names, names
            await check_echo(c, "ev__echo", "stdio to stdio")
            await check_echo(c, "evh__echo", "stdio to http")
            check_time_result(await c.call_tool("time__get_current_time", {"timezone": "UTC"}))
            check_elicitation_accepted(await c.call_tool("ev__trigger-elicitation-request", {}))
    assert len(elicit.asked) == 1, elicit.asked
    check_elicitation_ask(elicit.asked[0])


# ----- raw stdio exchanges ----------------------------------------------------------------------
#
# These drive `switchboard stdio` with hand-written JSON-RPC lines, to control the timing
# precisely (the SDK lists tools before anything else and manages the process itself).


class RawStdioGateway:
    """`switchboard stdio --config CONFIG` with a reader thread collecting its stdout lines."""

    INIT = {"protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "switchboard-raw-test", "version": "0"}}

    def __init__(self, config: Path, log_path: Path) -> None:
        with open(log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [switchboard_bin(), "stdio", "--config", str(config)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                env=gateway_env(), start_new_session=True,
            )
        self.lines: queue.Queue[dict | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.strip():
                self.lines.put(json.loads(line))
        self.lines.put(None)

    def send(self, *messages: dict) -> None:
        assert self.proc.stdin is not None
        for msg in messages:
            self.proc.stdin.write((json.dumps({"jsonrpc": "2.0", **msg}) + "\n").encode())
        self.proc.stdin.flush()

    def reply(self, request_id: int, timeout_s: float = 20.0) -> dict:
        """The response to REQUEST_ID (skipping notifications; other responses are kept for their
        own reply() call, since concurrent requests may be answered in any order)."""
        stash = self.__dict__.setdefault("_stash", {})
        if request_id in stash:
            return stash.pop(request_id)
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                msg = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no response to request {request_id} within {timeout_s}s") from None
            if msg is None:
                raise AssertionError(f"the gateway closed its stdout before answering {request_id}")
            if "method" in msg or "id" not in msg:
                continue
            if msg["id"] == request_id:
                return msg
            stash[msg["id"]] = msg

    def initialize(self) -> dict:
        self.send({"id": 1, "method": "initialize", "params": self.INIT})
        reply = self.reply(1)
        assert "result" in reply, reply
        self.send({"method": "notifications/initialized"})
        return reply

    def close(self) -> None:
        kill_group(self.proc)


def echo_reply_text(reply: dict) -> str | None:
    content = reply.get("result", {}).get("content") or [{}]
    return content[0].get("text")


def test_stdio_gateway_call_right_after_initialize_waits_for_upstreams(
    request: pytest.FixtureRequest, tmp_path: Path, write_config: Callable[[str], Path], real_config: str,
) -> None:
    """A client that already knows a tool's name (from an earlier session) may call it right after
    the handshake. The gateway holds list requests until every upstream had its first connection
    attempt; a tools/call (or prompts/get, resources/read) arriving in that window should be held
    the same way instead of failing with "Unknown tool" for a configured upstream still starting."""
    log_path = tmp_path / "gateway-stdio-early-call.log"
    attach_log(request, "gateway stderr (stdio, early call)", log_path)
    gw = RawStdioGateway(write_config(real_config), log_path)
    try:
        gw.initialize()
        gw.send({"id": 2, "method": "tools/call", "params": {"name": "ev__echo", "arguments": {"message": "early"}}},
                {"id": 3, "method": "tools/call", "params": {"name": "time__get_current_time",
                                                             "arguments": {"timezone": "UTC"}}})
        early_echo, early_time = gw.reply(2), gw.reply(3)
        assert echo_reply_text(early_echo) == "Echo: early", early_echo
        assert "result" in early_time and not early_time["result"].get("isError"), early_time
    finally:
        gw.close()


# ----- shutdown ----------------------------------------------------------------------------------

# Runs the upstream command and appends how it ended to $RECORD: "exit 0" when it ran to the end
# (server-everything exits 0 at EOF on stdin), "signal TERM" + "exit 143" when it was SIGTERMed.
EXIT_RECORDER = """#!/bin/sh
trap 'echo "signal TERM" >> "$RECORD"' TERM
"$@"
echo "exit $?" >> "$RECORD"
"""


def test_stdio_gateway_exit_closes_upstream_stdin(request: pytest.FixtureRequest, tmp_path: Path,
                                                  write_config: Callable[[str], Path]) -> None:
    """When `switchboard stdio` loses its client (EOF on stdin), it shuts its upstreams down
    politely: their stdin is closed first, and the upstream exits 0 at once on that EOF. Only a
    child that ignores EOF should get SIGTERM (after the grace period).

    The upstream here is the fixture, not server-everything: server-everything started moments
    before does not always exit within the grace period on EOF (it keeps its event loop busy),
    which would make this test about its start-up rather than about the gateway."""
    record = tmp_path / "ev-exit.txt"
    wrapper = tmp_path / "record-exit.sh"
    wrapper.write_text(EXIT_RECORDER)
    wrapper.chmod(0o755)
    config = write_config(
        "upstreams:\n  ev:\n"
        f"    stdio: {{ command: {json.dumps(str(wrapper))}, "
        f"args: [{json.dumps(fixture_bin())}], "
        f"env: {{ RECORD: {json.dumps(str(record))} }} }}\n"
    )
    log_path = tmp_path / "gateway-stdio-shutdown.log"
    attach_log(request, "gateway stderr (stdio shutdown)", log_path)
    gw = RawStdioGateway(config, log_path)
    try:
        gw.initialize()
        gw.send({"id": 2, "method": "tools/list"})  # held until ev had its first connection attempt
        assert "ev__echo" in json.dumps(gw.reply(2))
        gw.send({"id": 3, "method": "tools/call", "params": {"name": "ev__echo", "arguments": {"message": "up"}}})
        reply = gw.reply(3)
        assert echo_reply_text(reply) == "up", reply

        assert gw.proc.stdin is not None
        gw.proc.stdin.close()  # the client goes away
        gw.proc.wait(timeout=15)
        end = time.monotonic() + 5
        while "exit" not in (record.read_text() if record.exists() else "") and time.monotonic() < end:
            time.sleep(0.05)
        ended = record.read_text().split("\n") if record.exists() else []
        assert ended[:1] == ["exit 0"], (
            f"the upstream did not end by EOF on its stdin; it recorded {ended} "
            "(SIGTERM after the grace period means the gateway never closed the child's stdin)"
        )
    finally:
        gw.close()
