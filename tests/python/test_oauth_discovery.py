"""The official Python SDK's OAuth client, and the MCP Inspector CLI, discover switchboard's
protected-resource metadata (RFC 9728), get a token from a small authorization server written
for this test, and use it.

The authorization server is a stand-in (nothing real runs offline): RFC 8414 metadata, dynamic
client registration, an authorization endpoint that approves at once, a token endpoint that
checks PKCE and issues an RS256 JWT for the requested `resource`, and its JWKS. The gateway is
configured with `auth.jwt` pointing at it and `http.public_url` set to where it listens, so the
canonical resource URL the SDK checks (RFC 8707) is the one the token is issued for.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import re
import secrets
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import anyio
import httpx2
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from mcp import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

from harness import attach_log, fixture_config, free_port, gateway_env, inspector_bin, peers_env, switchboard_bin

pytestmark = pytest.mark.anyio

REDIRECT = "http://127.0.0.1:1/callback"


def _b64(n: int) -> str:
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


class AuthServer:
    """A minimal OAuth 2.1 authorization server on a background thread."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.codes: dict[str, dict[str, str]] = {}
        self.token_requests: list[dict[str, str]] = []
        self.paths: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _json(self, status: int, body: object) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802
                url = urllib.parse.urlsplit(self.path)
                server.paths.append(url.path)
                if url.path == "/.well-known/oauth-authorization-server":
                    self._json(200, server.metadata())
                elif url.path == "/jwks":
                    pub = server.key.public_key().public_numbers()
                    self._json(200, {"keys": [{"kty": "RSA", "kid": "k1", "alg": "RS256", "use": "sig",
                                               "n": _b64(pub.n), "e": _b64(pub.e)}]})
                elif url.path == "/authorize":
                    q = dict(urllib.parse.parse_qsl(url.query))
                    code = secrets.token_urlsafe(16)
                    server.codes[code] = q
                    loc = f"{q['redirect_uri']}?{urllib.parse.urlencode({'code': code, 'state': q['state']})}"
                    self.send_response(302)
                    self.send_header("location", loc)
                    self.send_header("content-length", "0")
                    self.end_headers()
                else:
                    self._json(404, {})

            def do_POST(self) -> None:  # noqa: N802
                url = urllib.parse.urlsplit(self.path)
                server.paths.append(url.path)
                body = self.rfile.read(int(self.headers.get("content-length", "0"))).decode()
                if url.path == "/register":
                    meta = json.loads(body)
                    meta.update({"client_id": "client-1", "token_endpoint_auth_method": "none"})
                    self._json(201, meta)
                elif url.path == "/token":
                    form = dict(urllib.parse.parse_qsl(body))
                    server.token_requests.append(form)
                    grant = server.codes.pop(form.get("code", ""), None)
                    verifier = form.get("code_verifier", "")
                    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
                    if grant is None or grant["code_challenge"] != challenge:
                        self._json(400, {"error": "invalid_grant"})
                        return
                    now = int(time.time())
                    token = jwt.encode(
                        {"iss": server.url, "sub": "sdk-user", "aud": form.get("resource") or grant.get("resource"),
                         "iat": now, "exp": now + 300, "scope": grant.get("scope", "")},
                        server.key, algorithm="RS256", headers={"kid": "k1"},
                    )
                    self._json(200, {"access_token": token, "token_type": "Bearer", "expires_in": 300,
                                     "scope": grant.get("scope", "")})
                else:
                    self._json(404, {})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def metadata(self) -> dict[str, object]:
        return {
            "issuer": self.url,
            "authorization_endpoint": f"{self.url}/authorize",
            "token_endpoint": f"{self.url}/token",
            "registration_endpoint": f"{self.url}/register",
            "jwks_uri": f"{self.url}/jwks",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["none"],
        }


class MemoryStorage:
    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


@pytest.fixture
def auth_gateway(request: pytest.FixtureRequest, tmp_path: Path):
    """(base_url, auth server): a gateway on a known port whose JWTs come from the stand-in."""
    auth = AuthServer()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    config = tmp_path / "gateway.yaml"
    config.write_text(
        f"http: {{ public_url: {json.dumps(base)} }}\n"
        f"auth:\n  jwt: {{ issuer: {json.dumps(auth.url)}, jwks_url: {json.dumps(auth.url + '/jwks')}, algorithms: [RS256] }}\n"
        + fixture_config("fx")
    )
    log_path = tmp_path / "gateway.log"
    attach_log(request, "gateway log", log_path)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [switchboard_bin(), "serve", "--config", str(config), "--listen", f"127.0.0.1:{port}"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=gateway_env(),
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"{base}/readyz", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "gateway did not become ready"
            time.sleep(0.1)
        yield base, auth
    finally:
        proc.kill()
        proc.wait()
        auth.httpd.shutdown()


async def test_sdk_discovers_metadata_and_calls_a_tool_with_its_token(auth_gateway) -> None:
    base, auth = auth_gateway
    seen: list[str] = []
    location: list[str] = []

    async def redirect_handler(url: str) -> None:
        # The "user" approves at once: follow the authorization URL to its redirect.
        parts = urllib.parse.urlsplit(url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port)
        conn.request("GET", f"{parts.path}?{parts.query}")
        resp = conn.getresponse()
        assert resp.status == 302, resp.status
        location.append(resp.getheader("location") or "")

    async def callback_handler() -> AuthorizationCodeResult:
        q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location[-1]).query))
        return AuthorizationCodeResult(code=q["code"], state=q["state"])

    provider = OAuthClientProvider(
        server_url=f"{base}/mcp",
        client_metadata=OAuthClientMetadata(client_name="switchboard-test", redirect_uris=[REDIRECT]),
        storage=MemoryStorage(),
        redirect_handler=redirect_handler,
        callback_handler=callback_handler,
    )

    async def record(req: httpx2.Request) -> None:
        seen.append(f"{req.method} {req.url}")

    http_client = httpx2.AsyncClient(auth=provider, event_hooks={"request": [record]}, timeout=30)
    with anyio.fail_after(60):
        async with http_client, Client(streamable_http_client(f"{base}/mcp", http_client=http_client), mode="legacy") as client:
            echoed = await client.call_tool("fx__echo", {"message": "through oauth"})
            assert not echoed.is_error, echoed

    # The SDK found the metadata where the gateway's 401 pointed, then the issuer's metadata.
    assert f"GET {base}/.well-known/oauth-protected-resource/mcp" in seen, seen
    assert "/.well-known/oauth-authorization-server" in auth.paths, auth.paths
    # It asked for a token for this server's canonical URL, with the scopes the challenge named.
    (token_request,) = auth.token_requests
    assert token_request["resource"] == f"{base}/mcp", token_request
    grant_scope = token_request.get("scope")
    assert grant_scope is None or "mcp.invoke" in grant_scope, token_request
    # The gateway fetched the issuer's keys to verify it.
    assert "/jwks" in auth.paths, auth.paths


def test_inspector_cli_discovers_metadata_and_lists_tools_with_its_token(auth_gateway, tmp_path: Path) -> None:
    """The Inspector CLI's own OAuth flow, run without a person: it prints the authorization URL
    ("Please navigate to: …") and waits on its loopback callback; the test plays the browser,
    following that URL to the stand-in's at-once approval and the redirect to the callback."""
    base, auth = auth_gateway
    callback = f"http://127.0.0.1:{free_port()}/oauth/callback"
    cmd = [inspector_bin(), "--cli", f"{base}/mcp", "--transport", "http", "--method", "tools/list",
           "--callback-url", callback]
    # A fresh home: no stored tokens or clients from elsewhere.
    env = peers_env({"HOME": str(tmp_path), "MCP_AUTO_OPEN_ENABLED": "true"})
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    followed: list[str] = []
    stderr: list[str] = []

    def browse() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            stderr.append(line)
            plain = re.sub(r"\x1b\[[0-9;]*m|\x1b\]8;;[^\x07\x1b]*(?:\x07|\x1b\\)", "", line)
            found = re.search(rf"({re.escape(auth.url)}/authorize\?\S+)", plain)
            if not found or followed:
                continue
            url = urllib.parse.urlsplit(found.group(1))
            conn = http.client.HTTPConnection(url.hostname, url.port)
            conn.request("GET", f"{url.path}?{url.query}")
            location = conn.getresponse().getheader("location") or ""
            back = urllib.parse.urlsplit(location)
            conn = http.client.HTTPConnection(back.hostname, back.port)
            conn.request("GET", f"{back.path}?{back.query}")
            followed.append(f"{found.group(1)} -> {conn.getresponse().status}")

    stdout: list[str] = []

    def collect() -> None:
        assert proc.stdout is not None
        stdout.append(proc.stdout.read())

    # Both pipes are read by threads of their own (the browser must see stderr as it comes).
    threads = [threading.Thread(target=browse, daemon=True), threading.Thread(target=collect, daemon=True)]
    for t in threads:
        t.start()
    try:
        proc.wait(timeout=60)
    finally:
        proc.kill()
    for t in threads:
        t.join(timeout=5)
    out = "".join(stdout)
    assert proc.returncode == 0, f"{cmd} exited {proc.returncode}\nstdout: {out}\nstderr: {''.join(stderr)}"
    assert followed, "".join(stderr)
    names = [t["name"] for t in json.loads(out)["tools"]]
    assert "fx__echo" in names, names
    # It found the issuer through the gateway's metadata (nothing else names it), registered,
    # and asked for a token for this server's canonical URL.
    assert auth.paths[0] == "/.well-known/oauth-authorization-server", auth.paths
    assert "/register" in auth.paths and "/token" in auth.paths, auth.paths
    (token_request,) = auth.token_requests
    assert token_request["resource"] == f"{base}/mcp", token_request
    assert "/jwks" in auth.paths, auth.paths
