"""The playground's routes without a server or browser: the page and its static files are
served from the package, load nothing from outside, and the `playground` setting turns them off."""

from __future__ import annotations

import re

import httpx
from fastapi import FastAPI

from server.api.routes_web import WEB_DIR, public_paths
from tests.support.inprocess import app_without_engine, request


def get(app: FastAPI, path: str) -> httpx.Response:
    return request(app, "GET", path)


def test_page_and_static_files_are_served_locally() -> None:
    app = app_without_engine(playground=True)
    page = get(app, "/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    links = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert links and all(link.startswith("/static/") for link in links)
    for link in links:
        assert get(app, link).status_code == 200, link
    for script in WEB_DIR.glob("*.js"):
        imports = re.findall(r'from "([^"]+)"', script.read_text())
        assert all(name.startswith("./") for name in imports), script
    assert get(app, "/static/main.js").headers["content-type"].startswith("text/javascript")
    for name in ("missing.js", "__init__.py", "..%2Fapi%2Fapp.py"):
        missing = get(app, f"/static/{name}")
        assert missing.status_code == 404 and "error" in missing.json()


def test_the_playground_setting_turns_the_page_off() -> None:
    app = app_without_engine(playground=False)
    assert get(app, "/").status_code == 404
    assert get(app, "/static/main.js").status_code == 404


def test_public_paths_are_the_page_and_its_files_only() -> None:
    paths = public_paths()
    assert {"/", "/static/main.js", "/static/playground.css"} <= paths
    assert not any(path.endswith(".py") or path.startswith("/v1") for path in paths)
    app = app_without_engine(playground=True)
    assert all(get(app, path).status_code == 200 for path in paths)
