"""The web playground end to end: headless Chromium (Debian's package, driven by Playwright, no
browser download) against the real shared server (its routes alone: test_playground_routes.py).

The browser's answers are checked against the API's greedy answers for the same request.
Set PLAYGROUND_SCREENSHOT=docs/playground.png to refresh the README's screenshot (the demo
model's test takes it).
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from playwright.sync_api import BrowserContext, Page, expect, sync_playwright

from tests.images import data_url, encode, scene, user_message
from tests.support.servers import RemoteServer

DEMO_PICTURE = Path(__file__).parents[1] / "docs" / "demo" / "scene-1000000.png"
DEMO_PICTURE_DESCRIPTION = (  # the README's sample exchange
    "There are three objects. A green triangle is at the top left. A yellow square is at the top "
    "center. A red circle is at the top right."
)
CHROMIUM = Path("/usr/bin/chromium")  # Debian's chromium package, installed by scripts/setup.sh
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",  # CI runs as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# A bound on waiting, not a timing assertion: CI machines are small and shared.
WAIT_MS = 180_000
SYSTEM_PROMPT = "Answer in one short sentence."
API_KEY = "playground-test-key"
CLICK_STOP_ON_FIRST_TEXT = """() => new MutationObserver((_, observer) => {
  const text = document.querySelector(".message.assistant .answer");
  if (text && text.textContent) {
    observer.disconnect();
    document.getElementById("stop").click();
  }
}).observe(document.getElementById("conversation"), { subtree: true, childList: true })"""
# Drops one PNG on the page and pastes another, as the browser would deliver them.
DROP_AND_PASTE = """(base64) => {
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  const transfer = (name) => {
    const data = new DataTransfer();
    data.items.add(new File([bytes], name, { type: "image/png" }));
    return data;
  };
  const options = { bubbles: true, cancelable: true };
  const dropped = transfer("dropped.png");
  document.body.dispatchEvent(new DragEvent("dragover", { ...options, dataTransfer: dropped }));
  const overlayShown = !document.getElementById("drop-overlay").hidden;
  document.body.dispatchEvent(new DragEvent("drop", { ...options, dataTransfer: dropped }));
  document.getElementById("message").dispatchEvent(
    new ClipboardEvent("paste", { ...options, clipboardData: transfer("pasted.png") }));
  return overlayShown;
}"""


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/setup.sh (it installs Debian's chromium)")
    profile = tmp_path_factory.mktemp("chromium-profile")  # a fresh user-data dir
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1200, "height": 820},
        )
        context.set_default_timeout(WAIT_MS)
        expect.set_options(timeout=WAIT_MS)  # its own default is 5 s, too short on a busy machine
        yield context
        context.close()


def open_playground(browser: BrowserContext, server_url: str) -> Iterator[Page]:
    page = browser.new_page()
    script_errors: list[str] = []
    page.on("pageerror", lambda error: script_errors.append(str(error)))
    page.goto(f"{server_url}/")
    expect(page.locator("#model option")).to_have_count(1)  # the picker is filled from /v1/models
    yield page
    page.close()
    assert not script_errors


@pytest.fixture
def page(browser: BrowserContext, base_url: str) -> Iterator[Page]:
    yield from open_playground(browser, base_url)


@pytest.fixture
def demo_page(browser: BrowserContext, demo_server: RemoteServer) -> Iterator[Page]:
    yield from open_playground(browser, demo_server.url)


def attach_file(page: Page, path: Path) -> None:
    with page.expect_file_chooser() as chooser:
        page.get_by_text("Choose image…").click()
    chooser.value.set_files(str(path))
    expect(page.locator("#attachments li")).to_have_count(1)


def set_sampling(page: Page, max_tokens: int) -> None:
    page.get_by_label("Temperature").fill("0")
    page.get_by_label("Max tokens").fill(str(max_tokens))


def send_with_enter(page: Page) -> dict[str, Any]:
    """Presses Enter in the message box; returns the chat request the page sent."""
    with page.expect_request(lambda request: request.url.endswith("/chat/completions")) as sent:
        page.get_by_label("Message").press("Enter")
    body: dict[str, Any] = dict(sent.value.post_data_json or {})
    body["_authorization"] = sent.value.headers.get("authorization")
    return body


def last_answer(page: Page, state: str) -> Any:
    answer = page.locator(".message.assistant").last
    expect(answer).to_have_attribute("data-state", state)
    return answer


def stat(answer: Any, name: str) -> str:
    return str(answer.locator(f'[data-stat="{name}"] strong').text_content())


def png_file(tmp_path: Path, seed: int) -> Path:
    path = tmp_path / f"scene-{seed}.png"
    path.write_bytes(encode(scene(256, 192, seed)))
    return path


def test_streamed_answer_equals_the_api_greedy_answer(
    page: Page, client: openai.OpenAI, model_id: str, tmp_path: Path
) -> None:
    image = png_file(tmp_path, 3)
    page.get_by_label("System prompt").fill(SYSTEM_PROMPT)
    page.get_by_label("API key").fill(API_KEY)
    set_sampling(page, max_tokens=48)
    attach_file(page, image)
    message = page.get_by_label("Message")
    message.fill("What is in the picture?")
    message.press("Shift+Enter")  # a new line, not a send
    message.press_sequentially("Be brief.")
    question = "What is in the picture?\nBe brief."
    expect(message).to_have_value(question)
    sent = send_with_enter(page)
    answer = last_answer(page, "done")

    messages: list[Any] = [
        {"role": "system", "content": SYSTEM_PROMPT},
        user_message(question, data_url(image.read_bytes())),
    ]
    assert sent["messages"] == messages  # the same image bytes, text and turns
    assert (sent["temperature"], sent["max_tokens"], sent["model"]) == (0, 48, model_id)
    assert sent["_authorization"] == f"Bearer {API_KEY}"
    reply = client.chat.completions.create(
        model=model_id, messages=messages, temperature=0, top_p=1, max_tokens=48
    )
    assert answer.locator(".answer").text_content() == reply.choices[0].message.content
    assert reply.usage is not None
    assert stat(answer, "prompt-tokens") == str(reply.usage.prompt_tokens)
    assert stat(answer, "completion-tokens") == str(reply.usage.completion_tokens)
    assert stat(answer, "images") == "1"
    assert re.fullmatch(r"\d+ ms|\d+\.\d\d s", stat(answer, "ttft"))
    # The key lives in this tab's session only.
    stored = page.evaluate("[sessionStorage.length, localStorage.length]")
    assert stored == [1, 0]


def test_the_demo_model_describes_the_readme_picture(
    demo_page: Page, demo_server: RemoteServer
) -> None:
    """The first impression: the default model with its own (greedy) sampling defaults and the
    README's picture. The answer is the API's for the conversation the page sent, and right."""
    client = openai.OpenAI(base_url=f"{demo_server.url}/v1", api_key="unused", max_retries=0)
    attach_file(demo_page, DEMO_PICTURE)
    demo_page.get_by_label("Message").fill("Describe the image in detail.")
    sent = send_with_enter(demo_page)
    shown = last_answer(demo_page, "done").locator(".answer").text_content()
    reply = client.chat.completions.create(model=sent["model"], messages=sent["messages"])
    assert shown == reply.choices[0].message.content
    assert shown == DEMO_PICTURE_DESCRIPTION
    if screenshot := os.environ.get("PLAYGROUND_SCREENSHOT"):
        demo_page.get_by_label("Message").focus()
        demo_page.screenshot(path=screenshot)


def test_stop_cancels_mid_stream_and_the_server_goes_on(
    page: Page,
    client: openai.OpenAI,
    model_id: str,
    base_url: str,
    image_host: tuple[str, Path],
    tmp_path: Path,
) -> None:
    image = png_file(tmp_path, 30)
    question = "Tell me a long story about this image."
    messages: list[Any] = [user_message(question, data_url(image.read_bytes()))]
    full = client.chat.completions.create(
        model=model_id, messages=messages, temperature=0, top_p=1, max_tokens=400
    ).choices[0]
    assert full.finish_reason == "length"  # the greedy answer runs the full 400 tokens
    set_sampling(page, max_tokens=400)
    attach_file(page, image)
    page.get_by_label("Message").fill(question)
    # The tiny model streams 400 tokens in well under a second: the page itself clicks Stop the
    # moment the first text shows, through the button's own click handler, as a user would.
    page.evaluate(CLICK_STOP_ON_FIRST_TEXT)
    send_with_enter(page)
    answer = last_answer(page, "stopped")
    expect(answer.locator(".answer-status")).to_contain_text("Stopped")
    expect(page.get_by_role("button", name="Send")).to_be_visible()
    expect(page.get_by_role("button", name="Stop")).to_be_hidden()
    stopped = str(answer.locator(".answer").text_content())
    full_text = str(full.message.content)
    assert stopped and full_text.startswith(stopped) and len(stopped) < len(full_text)

    assert httpx.get(f"{base_url}/ready").status_code == 200
    second_turn_goes_on_with_an_image_url(page, base_url, image_host, stopped)
    page.get_by_role("button", name="Clear conversation").click()
    expect(page.locator("#conversation > li")).to_have_count(0)
    expect(page.locator("#empty-hint")).to_be_visible()


def second_turn_goes_on_with_an_image_url(
    page: Page, base_url: str, image_host: tuple[str, Path], stopped: str
) -> None:
    """A turn on top of a stopped answer, with an image URL; checked against the API."""
    host, folder = image_host
    (folder / "playground.png").write_bytes(encode(scene(64, 64, 31)))
    page.get_by_label("Image URL").fill(f"{host}/playground.png")
    page.get_by_role("button", name="Add URL").click()
    page.get_by_label("Message").fill("Go on.")
    follow_up = send_with_enter(page)
    assert follow_up["messages"][1] == {"role": "assistant", "content": stopped}
    assert follow_up["messages"][2] == user_message("Go on.", f"{host}/playground.png")
    second = last_answer(page, "done")
    replay = {key: value for key, value in follow_up.items() if not key.startswith("_")}
    replay.update(stream=False, stream_options=None)
    reply = httpx.post(f"{base_url}/v1/chat/completions", json=replay, timeout=120).json()
    assert second.locator(".answer").text_content() == reply["choices"][0]["message"]["content"]
    assert stat(second, "images") == "2"


def test_images_attach_by_drop_paste_and_url(page: Page, image_host: tuple[str, Path]) -> None:
    png = encode(scene(32, 32, 5))
    assert page.evaluate(DROP_AND_PASTE, base64.b64encode(png).decode())  # the drop overlay
    thumbnails = page.locator("#attachments img")
    expect(thumbnails).to_have_count(2)
    for name in ("dropped.png", "pasted.png"):
        thumbnail = page.get_by_alt_text(f"Attached image: {name}")
        assert thumbnail.get_attribute("src") == data_url(png)
    expect(page.locator("#drop-overlay")).to_be_hidden()
    page.get_by_label("Image URL").fill("not a URL")
    page.get_by_role("button", name="Add URL").click()
    expect(page.locator("#composer-note")).to_contain_text("starts with http")
    host, folder = image_host
    (folder / "tray.png").write_bytes(png)
    page.get_by_label("Image URL").fill(f"{host}/tray.png")
    page.get_by_label("Image URL").press("Enter")  # adds the URL; does not send
    expect(thumbnails).to_have_count(3)
    page.get_by_role("button", name="Remove dropped.png").click()
    expect(thumbnails).to_have_count(2)
    expect(page.locator("#conversation > li")).to_have_count(0)


def test_bad_image_shows_the_api_error_on_a_narrow_screen(
    page: Page, base_url: str, model_id: str, tmp_path: Path
) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    expect(page.locator("#model option")).to_have_count(1)
    assert page.locator("#settings").get_attribute("open") is None  # collapsed on a phone
    bad = tmp_path / "notes.png"
    bad.write_text("a text file renamed to .png")
    attach_file(page, bad)
    page.get_by_label("Message").fill("What is this?")
    page.get_by_role("button", name="Send").click()
    answer = last_answer(page, "error")

    body = {
        "model": model_id,
        "messages": [user_message("What is this?", data_url(bad.read_bytes()))],
        "max_tokens": 8,
    }
    refused = httpx.post(f"{base_url}/v1/chat/completions", json=body, timeout=60)
    assert refused.status_code == 400
    error = refused.json()["error"]
    expect(answer.get_by_role("alert")).to_contain_text("Error 400")
    assert answer.locator(".error-message").text_content() == error["message"]
    # The failed turn is left out of the conversation and handed back to be fixed.
    expect(page.get_by_label("Message")).to_have_value("What is this?")
    expect(page.locator("#attachments li")).to_have_count(1)
    assert "not-sent" in str(page.locator(".message.user").last.get_attribute("class"))
    widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1]  # nothing wider than the phone's screen


def test_sampling_fields_start_empty_so_the_model_defaults_apply(
    page: Page, tmp_path: Path
) -> None:
    for label in ("Temperature", "Top p", "Max tokens"):
        expect(page.get_by_label(label)).to_have_value("")
    attach_file(page, png_file(tmp_path, 40))
    page.get_by_label("Message").fill("What is in the picture?")
    sent = send_with_enter(page)
    assert not {"temperature", "top_p", "max_tokens"} & set(sent)  # the server's defaults
    last_answer(page, "done")


def test_a_picture_beyond_the_models_limit_offers_a_new_conversation(
    page: Page, tmp_path: Path
) -> None:
    """tiny-llava-hf takes 4 images per request: a fifth in the same conversation gets a
    button that starts a new conversation with it and the question, instead of a dead end."""
    page.get_by_label("Max tokens").fill("4")
    with page.expect_file_chooser() as chooser:
        page.get_by_text("Choose image…").click()
    chooser.value.set_files([str(png_file(tmp_path, seed)) for seed in range(50, 54)])
    expect(page.locator("#attachments li")).to_have_count(4)
    page.get_by_label("Message").fill("Compare these.")
    send_with_enter(page)
    last_answer(page, "done")
    attach_file(page, png_file(tmp_path, 54))
    page.get_by_label("Message").fill("And this one?")
    send_with_enter(page)
    failed = last_answer(page, "error")
    expect(failed.get_by_role("alert")).to_contain_text("at most 4")
    with page.expect_request(lambda request: request.url.endswith("/chat/completions")) as sent:
        failed.get_by_role("button", name="Start a new conversation with this picture").click()
    body = sent.value.post_data_json
    assert body is not None
    assert [message["role"] for message in body["messages"]] == ["user"]
    assert body["messages"][0]["content"][-1] == {"type": "text", "text": "And this one?"}
    assert len(body["messages"][0]["content"]) == 2  # this picture and the question
    last_answer(page, "done")
    expect(page.locator("#conversation > li")).to_have_count(2)
    expect(page.locator("#attachments li")).to_have_count(0)


def test_clear_conversation_also_empties_the_image_tray(page: Page, tmp_path: Path) -> None:
    attach_file(page, png_file(tmp_path, 60))
    page.get_by_role("button", name="Clear conversation").click()
    expect(page.locator("#attachments li")).to_have_count(0)
    expect(page.locator("#composer-note")).to_have_text("Conversation cleared.")
