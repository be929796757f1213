"""image_url -> (bytes, declared media type): base64 data: URLs, guarded http(s) fetches, and
file: URLs jailed in a media root. Every byte cap is enforced while reading, never after."""

from __future__ import annotations

import asyncio
import binascii
import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import httpcore
import httpx
import pybase64

from server.errors import BadRequestError, PayloadTooLargeError
from server.media.guard import MediaPolicy, check_url, refused, resolve_checked

# Media types an image may be declared as; what the bytes really are is checked when decoding.
IMAGE_MEDIA_TYPES = frozenset({"image/png", "image/jpeg", "image/jpg", "image/webp", "image/gif"})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Media:
    data: bytes
    media_type: str | None  # as declared by the data: URL or Content-Type; None for files


def too_large(max_bytes: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(
        f"The image is larger than the {max_bytes}-byte limit.", param="image_url"
    )


def media_type_base(media_type: str) -> str:
    return media_type.split(";", 1)[0].strip().lower()


def declared_image_type(media_type: str, where: str) -> str:
    """The media type without parameters, if it is an allowed image type."""
    base = media_type_base(media_type)
    if base not in IMAGE_MEDIA_TYPES:
        allowed = ", ".join(sorted(IMAGE_MEDIA_TYPES))
        raise BadRequestError(
            f"The {where} media type is {base or 'missing'!r}; accepted image types: {allowed}.",
            param="image_url",
        )
    return base


def unfetchable(url: str, detail: str) -> BadRequestError:
    """What a client learns when an allowed URL's server fails or answers wrongly: nothing of
    its answer (status, content type, connection errors and delays would map the ports and
    services the server can reach); the operator's log has the detail, with the host only
    (a signed URL's query is a credential)."""
    try:
        where = httpx.URL(url).netloc.decode("ascii", "replace")
    except (httpx.InvalidURL, ValueError):
        where = "(unparsable URL)"
    logger.warning("could not fetch an image from %s: %s", where, detail)
    return BadRequestError("Could not fetch the image.", param="image_url")


def decode_data_url(url: str, max_bytes: int) -> Media:
    """Decodes `data:image/<type>;base64,<payload>`; other data: URLs are refused. The media
    type and the base64 token are case-insensitive (RFC 2397, RFC 2045)."""
    header, comma, payload = url.partition(",")
    if not comma:
        raise BadRequestError("The data: URL has no ',' before its payload.", param="image_url")
    media_type, *options = header[len("data:") :].split(";")
    if "base64" not in (option.strip().lower() for option in options):
        raise BadRequestError("Only base64 data: URLs are accepted.", param="image_url")
    declared = declared_image_type(media_type, "data: URL's")
    if len(payload) * 3 // 4 > max_bytes + 2:
        raise too_large(max_bytes)
    try:
        # SIMD base64 (vLLM's own choice): ~100x the standard library's validating decoder
        # (a 9.8 MB data URL: 0.5 ms instead of 113 ms).
        data = pybase64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as error:
        raise BadRequestError(
            f"The data: URL is not valid base64: {error}", param="image_url"
        ) from error
    if len(data) > max_bytes:
        raise too_large(max_bytes)
    return Media(data, declared)


class GuardedNetworkBackend(httpcore.AsyncNetworkBackend):
    """Resolves each host once, checks every address, and connects to the checked one; TLS
    still verifies the certificate against the host name (httpcore passes it as SNI)."""

    def __init__(self, policy: MediaPolicy):
        self._policy = policy
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: object = None,
    ) -> httpcore.AsyncNetworkStream:
        address = await resolve_checked(host, port, self._policy)
        return await self._inner.connect_tcp(address, port, timeout, local_address)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: object = None
    ) -> httpcore.AsyncNetworkStream:
        raise refused("Unix sockets are never used for image fetches.")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def guarded_client(
    policy: MediaPolicy, connect_timeout_s: float, total_s: float, max_connections: int = 32
) -> httpx.AsyncClient:
    """An HTTP client that only reaches checked addresses, ignores proxy env vars, never
    follows redirects itself (fetch_url checks each hop) and never decompresses."""
    transport = httpx.AsyncHTTPTransport(retries=0)
    # httpx has no public hook for the network backend; the pool is rebuilt with ours.
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=httpx.create_ssl_context(),
        max_connections=max_connections,
        network_backend=GuardedNetworkBackend(policy),
    )
    return httpx.AsyncClient(
        transport=transport,
        follow_redirects=False,
        trust_env=False,
        timeout=httpx.Timeout(total_s, connect=connect_timeout_s),
        headers={
            "Accept": "image/png, image/jpeg, image/webp, image/gif",
            "Accept-Encoding": "identity",
        },
    )


@dataclass(frozen=True)
class FetchLimits:
    max_bytes: int
    max_redirects: int
    timeout_s: float


async def fetch_url(
    client: httpx.AsyncClient, url: str, policy: MediaPolicy, limits: FetchLimits
) -> Media:
    """GETs an http(s) image, re-checking every redirect hop, within one total deadline."""
    first = url
    try:
        async with asyncio.timeout(limits.timeout_s):
            for _ in range(limits.max_redirects + 1):
                check_url(url, policy)
                media, location = await _get_once(client, url, limits.max_bytes)
                if media is not None:
                    return media
                url = urljoin(url, location)
    except TimeoutError as error:
        raise unfetchable(first, f"took longer than {limits.timeout_s:g} s") from error
    except (httpx.HTTPError, httpx.InvalidURL, ValueError, OverflowError) as error:
        raise unfetchable(url, f"{type(error).__name__}: {error}") from error
    raise refused(f"The image URL redirected more than {limits.max_redirects} times.")


async def _get_once(
    client: httpx.AsyncClient, url: str, max_bytes: int
) -> tuple[Media | None, str]:
    """One hop: (the image, "") or (None, the redirect's Location)."""
    async with client.stream("GET", url) as response:
        if response.status_code in REDIRECT_STATUSES:
            location = response.headers.get("location", "")
            if not location:
                raise unfetchable(url, f"HTTP {response.status_code} without a Location")
            return None, location
        if response.status_code != 200:
            raise unfetchable(url, f"HTTP {response.status_code}")
        declared = _check_response_headers(url, response, max_bytes)
        return Media(await _read_capped(response, max_bytes), declared), ""


def _check_response_headers(url: str, response: httpx.Response, max_bytes: int) -> str:
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise unfetchable(url, f"a {encoding!r}-encoded body (only unencoded images are taken)")
    length = response.headers.get("content-length", "")
    if length.isdigit() and int(length) > max_bytes:
        raise too_large(max_bytes)
    content_type = response.headers.get("content-type", "")
    if media_type_base(content_type) not in IMAGE_MEDIA_TYPES:
        raise unfetchable(url, f"the media type {content_type[:100]!r}, not an image type")
    return media_type_base(content_type)


async def _read_capped(response: httpx.Response, max_bytes: int) -> bytes:
    body = bytearray()
    async for chunk in response.aiter_raw():
        body += chunk
        if len(body) > max_bytes:
            raise too_large(max_bytes)
    return bytes(body)


def read_jailed_file(url: str, root: Path | None, max_bytes: int) -> Media:
    """Reads a file: URL inside the media root: no '..', no symlink out, regular files only.
    Blocking: runs in a worker thread."""
    if root is None:
        raise refused("file: image URLs are refused (no media_file_root is configured).")
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise refused("file: image URLs must not name a host.")
    raw_path = unquote(parts.path)
    if "\x00" in raw_path or ".." in Path(raw_path).parts or not raw_path.startswith("/"):
        raise refused("file: image URLs need an absolute path without '..' or NUL.")
    jail = root.resolve()
    try:
        real = Path(raw_path).resolve(strict=True)
    except (OSError, RuntimeError) as error:
        raise BadRequestError("The image file does not exist.", param="image_url") from error
    if not real.is_relative_to(jail):
        raise refused("The image file is outside the media root.")
    try:
        return Media(_read_regular_file(real, max_bytes), None)
    except OSError as error:
        raise BadRequestError("The image file could not be read.", param="image_url") from error


def _read_regular_file(path: Path, max_bytes: int) -> bytes:
    # O_NOFOLLOW: a symlink swapped in after resolve() is not followed; O_NONBLOCK: a FIFO
    # swapped in does not hang the open (its fstat then refuses it).
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as file:
        if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
            raise refused("The image path is not a regular file.")
        data = file.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise too_large(max_bytes)
    return data
