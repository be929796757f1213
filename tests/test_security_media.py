"""Image URLs against the real shared server (loopback allowed for exactly 127.0.0.1/32): every
refused address class, numeric host forms, redirects into refused addresses, lying or encoded
responses, byte caps and deadlines. A refused address is refused before any connection."""

from __future__ import annotations

import asyncio
import gzip
import http.server
import ipaddress
import logging
import time
from collections.abc import Callable, Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from server.errors import BadRequestError
from server.media import guard
from server.media.fetch import FetchLimits, fetch_url, guarded_client
from server.media.guard import MediaPolicy
from tests.images import encode, scene, user_message
from tests.support.http_host import http_host
from tests.support.servers import free_port

PNG = encode(scene(48, 48, 7))
# All a client learns of an allowed server's failure: its status, content type, encoding,
# connection errors and delays would map what the server can reach.
UNFETCHABLE = "Could not fetch the image."
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="48" height="48"/>'


class HostileImageHandler(http.server.BaseHTTPRequestHandler):
    """Serves good and bad image answers by path; /redirect?to=URL redirects anywhere."""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        routes: dict[str, Callable[[], None]] = {
            "/ok.png": lambda: self._send(PNG, "image/png"),
            "/svg-as-png.png": lambda: self._send(SVG, "image/png"),
            "/png-as-html": lambda: self._send(PNG, "text/html"),
            "/gzip.png": lambda: self._send(gzip.compress(PNG), "image/png", gzip=True),
            "/claims-huge.png": self._claims_huge,
            "/endless.png": self._endless,
            "/slow.png": self._slow,
            "/loop": lambda: self._redirect("/loop"),
            "/redirect": lambda: self._redirect(parse_qs(parts.query)["to"][0]),
        }
        routes.get(parts.path, self._not_found)()

    def _not_found(self) -> None:
        self.send_error(404)

    def _send(self, body: bytes, content_type: str, gzip: bool = False) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        if gzip:
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _claims_huge(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(10**10))
        self.end_headers()

    def _endless(self) -> None:
        """A chunked body that never ends: only a cap enforced while streaming stops it."""
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        block = PNG[:8] + b"\x00" * (1 << 20)
        try:
            while True:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(block), block))
        except OSError:
            return

    def _slow(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(PNG)))
        self.end_headers()
        for byte in PNG:  # a trickle: the total deadline, not a per-read timeout, stops it
            try:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
            except OSError:
                return
            time.sleep(0.1)


@pytest.fixture(scope="module")
def hostile_host() -> Iterator[str]:
    with http_host(HostileImageHandler) as url:
        yield url


def ask_with_image(base_url: str, model_id: str, url: str) -> httpx.Response:
    body = {"model": model_id, "messages": [user_message("What is it?", url)], "max_tokens": 4}
    return httpx.post(f"{base_url}/v1/chat/completions", json=body, timeout=120)


def assert_refused(response: httpx.Response, *fragments: str, status: int = 400) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == "image_url"
    for fragment in fragments:
        assert fragment in error["message"], error["message"]


# One URL per refused class; the shared server allows only 127.0.0.1/32.
REFUSED_URLS = {
    "http://127.0.0.2/x.png": "loopback",
    "http://[::1]/x.png": "loopback",
    "http://0.0.0.0/x.png": "unspecified",
    "http://10.0.0.1/x.png": "private",
    "http://172.16.0.1/x.png": "private",
    "http://192.168.0.1/x.png": "private",
    "http://[fd12::1]/x.png": "private",
    "http://169.254.169.254/latest/meta-data/": "cloud metadata",
    "http://[fd00:ec2::254]/latest/meta-data/": "cloud metadata",
    "http://169.254.10.10/x.png": "link-local",
    "http://[fe80::1]/x.png": "link-local",
    "http://100.64.0.1/x.png": "carrier-grade NAT",
    "http://224.0.0.1/x.png": "multicast",
    "http://240.0.0.1/x.png": "reserved",
    "http://[::ffff:127.0.0.1]/x.png": "embedding IPv4",
    "http://[::ffff:169.254.169.254]/x.png": "embedding IPv4",
    "http://2852039166/latest/meta-data/": "cloud metadata",  # decimal 169.254.169.254
    "http://0xa9.0xfe.0xa9.0xfe/": "cloud metadata",  # hex
    "http://0251.0376.0251.0376/": "cloud metadata",  # octal
    "http://10.1/x.png": "private",  # short form of 10.0.0.1
    "http://metadata.google.internal/computeMetadata/v1/": "metadata",
}


@pytest.mark.parametrize(("url", "reason"), list(REFUSED_URLS.items()))
def test_image_url_to_refused_class(base_url: str, model_id: str, url: str, reason: str) -> None:
    assert_refused(ask_with_image(base_url, model_id, url), reason)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("file:///etc/passwd", "no media_file_root"),
        ("ftp://example.com/x.png", "scheme"),
        ("gopher://127.0.0.1:70/", "scheme"),
        ("http://user:secret@127.0.0.1/x.png", "credentials"),
        ("http://example.com\\@169.254.169.254/", "backslash"),
    ],
)
def test_image_url_bad_scheme_or_form(base_url: str, model_id: str, url: str, reason: str) -> None:
    assert_refused(ask_with_image(base_url, model_id, url), reason)


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("http://169.254.169.254/latest/meta-data/", "cloud metadata"),
        ("http://10.1.2.3/x.png", "private"),
        ("http://2130706434/x.png", "loopback"),  # 127.0.0.2, outside the allowance
        ("http://[::1]/x.png", "loopback"),
        ("file:///etc/passwd", "scheme"),
    ],
)
def test_redirect_into_refused_destination_is_refused_at_the_hop(
    base_url: str, model_id: str, hostile_host: str, target: str, reason: str
) -> None:
    url = f"{hostile_host}/redirect?to={target}"
    assert_refused(ask_with_image(base_url, model_id, url), reason)


def test_redirect_to_an_allowed_image_is_followed(
    base_url: str, model_id: str, hostile_host: str
) -> None:
    response = ask_with_image(base_url, model_id, f"{hostile_host}/redirect?to=/ok.png")
    assert response.status_code == 200, response.text


def test_redirect_loop_hits_the_cap(base_url: str, model_id: str, hostile_host: str) -> None:
    assert_refused(ask_with_image(base_url, model_id, f"{hostile_host}/loop"), "redirected more")


@pytest.mark.parametrize(
    ("path", "status", "fragment"),
    [
        ("/svg-as-png.png", 400, "not in a supported format"),
        ("/png-as-html", 400, UNFETCHABLE),
        ("/gzip.png", 400, UNFETCHABLE),
        ("/claims-huge.png", 413, "byte limit"),
        ("/endless.png", 413, "byte limit"),
        ("/missing.png", 400, UNFETCHABLE),
    ],
)
def test_hostile_image_responses(
    base_url: str, model_id: str, hostile_host: str, path: str, status: int, fragment: str
) -> None:
    response = ask_with_image(base_url, model_id, f"{hostile_host}{path}")
    assert_refused(response, fragment, status=status)


def test_connection_goes_to_the_checked_address(
    hostile_host: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding: the name is resolved once, checked, and the socket connects to exactly
    that address. 'images.invalid' has no DNS entry, so a second lookup could not succeed."""
    lookups: list[str] = []

    async def resolver(host: str, port: int) -> list[guard.IPAddress]:
        lookups.append(host)
        return [ipaddress.ip_address("127.0.0.1")]

    monkeypatch.setattr(guard, "_resolve", resolver)
    policy = MediaPolicy(allowed_networks=(ipaddress.ip_network("127.0.0.1/32"),))
    port = urlsplit(hostile_host).port

    async def fetch() -> bytes:
        async with guarded_client(policy, 5, 10) as client:
            limits = FetchLimits(max_bytes=1 << 20, max_redirects=2, timeout_s=10)
            media = await fetch_url(client, f"http://images.invalid:{port}/ok.png", policy, limits)
            return media.data

    assert asyncio.run(fetch()) == PNG
    assert lookups == ["images.invalid"]


LOOPBACK_POLICY = MediaPolicy(allowed_networks=(ipaddress.ip_network("127.0.0.1/32"),))


@pytest.mark.parametrize(
    ("path", "detail"),
    [
        ("/png-as-html", "'text/html'"),
        ("/gzip.png", "'gzip'-encoded"),
        ("/missing.png", "HTTP 404"),
        # A byte every 0.1 s: every read is quick, only the deadline on the whole fetch stops it.
        ("/slow.png", "took longer than 0.5 s"),
        ("closed-port", "ConnectError"),
    ],
)
def test_an_allowed_servers_failure_is_logged_not_told(
    hostile_host: str, caplog: pytest.LogCaptureFixture, path: str, detail: str
) -> None:
    url = f"http://127.0.0.1:{free_port()}/x.png" if path == "closed-port" else hostile_host + path

    async def fetch() -> None:
        async with guarded_client(LOOPBACK_POLICY, 5, 1) as client:
            limits = FetchLimits(max_bytes=1 << 20, max_redirects=2, timeout_s=0.5)
            await fetch_url(client, url, LOOPBACK_POLICY, limits)

    logged = caplog.at_level(logging.WARNING, "server.media.fetch")
    with logged, pytest.raises(BadRequestError) as refusal:
        asyncio.run(fetch())
    assert refusal.value.message == UNFETCHABLE
    assert detail in caplog.text and "127.0.0.1:" in caplog.text
