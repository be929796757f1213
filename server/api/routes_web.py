"""The web playground: the page at `/` and its static files, from the server.web package."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}
# A plain file name, so no path can leave WEB_DIR.
STATIC_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*\.(css|js|svg)$")
# The page may load only its own files and talk only to this server; images the user picks are
# data:/blob: URLs, and an image URL they type may be previewed from anywhere.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data: blob: http: https:; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
HEADERS = {
    "Cache-Control": "no-cache",  # revalidate, so an upgraded server serves its own page
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

router = APIRouter(include_in_schema=False)


@router.get("/")
async def playground_page() -> FileResponse:
    return _file("index.html")


@router.get("/static/{name}")
async def playground_static(name: str) -> FileResponse:
    if not STATIC_NAME.match(name):
        raise HTTPException(404, f"No static file named {name!r}.")  # the OpenAI envelope
    return _file(name)


def public_paths() -> frozenset[str]:
    """The page and its files. A browser cannot send an API key to load a page, so these must stay
    open when keys are set; they hold no secret, and the page sends the key the user types."""
    files = {f"/static/{path.name}" for path in WEB_DIR.iterdir() if STATIC_NAME.match(path.name)}
    return frozenset({"/", *files})


def _file(name: str) -> FileResponse:
    path = WEB_DIR / name
    if not path.is_file():
        raise HTTPException(404, f"No static file named {name!r}.")  # the OpenAI envelope
    # FileResponse reads the file in a worker thread, never on the event loop.
    return FileResponse(path, media_type=MEDIA_TYPES[path.suffix], headers=HEADERS)
