"""The playground's routes without a server or browser: the page and its static files are
served from the package, load nothing from outside, and the `playground` setting turns them off."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from server.api.app import create_app
from server.api.routes_web import WEB_DIR, public_paths
from server.model_repo import resolve_model
from server.settings import REPO_MODEL_DIR, Settings


def playground_client(enabled: bool) -> TestClient:
    """The app without its lifespan: routes only, no engine."""
    spec = resolve_model("tiny-llava-hf", REPO_MODEL_DIR)
    return TestClient(create_app(Settings(playground=enabled), spec, lambda code: None))


def test_page_and_static_files_are_served_locally() -> None:
    client = playground_client(enabled=True)
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    links = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert links and all(link.startswith("/static/") for link in links)
    for link in links:
        assert client.get(link).status_code == 200, link
    for script in WEB_DIR.glob("*.js"):
        imports = re.findall(r'from "([^"]+)"', script.read_text())
        assert all(name.startswith("./") for name in imports), script
    assert client.get("/static/main.js").headers["content-type"].startswith("text/javascript")
    for name in ("missing.js", "__init__.py", "..%2Fapi%2Fapp.py"):
        missing = client.get(f"/static/{name}")
        assert missing.status_code == 404 and "error" in missing.json()


def test_the_playground_setting_turns_the_page_off() -> None:
    client = playground_client(enabled=False)
    assert client.get("/").status_code == 404
    assert client.get("/static/main.js").status_code == 404


def test_public_paths_are_the_page_and_its_files_only() -> None:
    paths = public_paths()
    assert {"/", "/static/main.js", "/static/playground.css"} <= paths
    assert not any(path.endswith(".py") or path.startswith("/v1") for path in paths)
    client = playground_client(enabled=True)
    assert all(client.get(path).status_code == 200 for path in paths)
