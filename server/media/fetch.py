"""image_url -> bytes: base64 data: URLs, and http(s) URLs fetched with a timeout and a byte cap."""

from __future__ import annotations

import asyncio
import base64
import binascii

import httpx

from server.errors import BadRequestError, PayloadTooLargeError

MAX_REDIRECTS = 5


def decode_data_url(url: str, max_bytes: int) -> bytes:
    """Decodes `data:image/<type>;base64,<payload>`; other data: URLs are refused."""
    header, comma, payload = url.partition(",")
    if not comma:
        raise BadRequestError("The data: URL has no ',' before its payload.", param="image_url")
    media_type, *options = header[len("data:") :].split(";")
    if "base64" not in options:
        raise BadRequestError("Only base64 data: URLs are accepted.", param="image_url")
    if media_type and not media_type.lower().startswith("image/"):
        raise BadRequestError(
            f"The data: URL's media type is {media_type!r}, not an image.", param="image_url"
        )
    if len(payload) * 3 // 4 > max_bytes:
        raise PayloadTooLargeError(
            f"The image is larger than the {max_bytes}-byte limit.", param="image_url"
        )
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as error:
        raise BadRequestError(
            f"The data: URL is not valid base64: {error}", param="image_url"
        ) from error


async def fetch_url(client: httpx.AsyncClient, url: str, max_bytes: int, timeout_s: float) -> bytes:
    """GETs an http(s) URL, stopping as soon as the body passes max_bytes."""
    try:
        async with asyncio.timeout(timeout_s):
            return await _read_capped(client, url, max_bytes)
    except TimeoutError as error:
        raise BadRequestError(
            f"Fetching the image URL took longer than {timeout_s:g} s.", param="image_url"
        ) from error
    except httpx.HTTPError as error:
        raise BadRequestError(
            f"The image URL could not be fetched: {type(error).__name__}: {error}",
            param="image_url",
        ) from error


async def _read_capped(client: httpx.AsyncClient, url: str, max_bytes: int) -> bytes:
    async with client.stream("GET", url) as response:
        if response.status_code != 200:
            raise BadRequestError(
                f"The image URL answered HTTP {response.status_code}.", param="image_url"
            )
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > max_bytes:
                raise BadRequestError(
                    f"The image at the URL is larger than the {max_bytes}-byte limit.",
                    param="image_url",
                )
        return bytes(body)
