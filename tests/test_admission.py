"""Admission control on a server with room for 2 running + 2 queued requests (the operations
profile of tests/support/pool.py): a burst at three
times that capacity gets, for each request, a correct completion or a 429 with Retry-After in
the OpenAI envelope (the SDK's RateLimitError); none hangs, none gets a 5xx, none is lost."""

from __future__ import annotations

import asyncio

import openai
import pytest

from server.admission import Admission
from server.errors import OverloadedError
from tests.ops_support import (
    CHAT_ROUTE,
    EVENT_TIMEOUT_S,
    engine_idle,
    frozen_engine,
    long_request,
    scrape,
    sdk_arguments,
    short_request,
    slots_taken,
    value,
    wait_for,
)
from tests.support.pool import OPS_MAX_RUNNING as MAX_RUNNING
from tests.support.pool import OPS_MAX_WAITING as MAX_WAITING
from tests.support.pool import OPS_RETRY_AFTER_S as RETRY_AFTER_S
from tests.support.servers import RemoteServer

CAPACITY = MAX_RUNNING + MAX_WAITING
BURST = 3 * CAPACITY
CLIENT_TIMEOUT_S = 300.0  # "none hangs": a request still open after this fails the test


# --- the Admission class alone (no server) ------------------------------------------------------


def test_admission_queues_in_order_and_refuses_past_the_queue() -> None:
    async def scenario() -> None:
        admission = Admission(max_running=1, max_waiting=2, retry_after_s=5)
        await admission.acquire()
        order: list[int] = []

        async def queued(index: int) -> None:
            await admission.acquire()
            order.append(index)

        waiters = [asyncio.ensure_future(queued(i)) for i in range(2)]
        await asyncio.sleep(0)
        assert (admission.running, admission.waiting) == (1, 2)
        with pytest.raises(OverloadedError) as refused:
            await admission.acquire()
        assert refused.value.retry_after_s == 5 and refused.value.status_code == 429
        admission.release()
        await waiters[0]
        admission.release()
        await waiters[1]
        assert order == [0, 1] and admission.running == 1 and admission.waiting == 0
        admission.release()
        await asyncio.wait_for(admission.wait_idle(), timeout=EVENT_TIMEOUT_S)

    asyncio.run(scenario())


def test_a_cancelled_waiter_leaves_the_queue() -> None:
    async def scenario() -> None:
        admission = Admission(max_running=1, max_waiting=1, retry_after_s=1)
        await admission.acquire()
        waiter = asyncio.ensure_future(admission.acquire())
        await asyncio.sleep(0)
        assert admission.waiting == 1
        waiter.cancel()  # a deadline or a disconnect while queued
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert admission.waiting == 0
        admission.release()
        assert admission.running == 0

    asyncio.run(scenario())


# --- a real server with small limits -------------------------------------------------------------


async def _one(client: openai.AsyncOpenAI, body: dict[str, object]) -> str:
    """'ok' for a correct completion, '429' for a well-formed rejection; anything else raises."""
    try:
        reply = await client.chat.completions.create(**sdk_arguments(body))
    except openai.RateLimitError as error:
        assert error.status_code == 429
        assert error.response.headers["retry-after"] == str(RETRY_AFTER_S)
        envelope = error.response.json()["error"]
        assert envelope["type"] == "rate_limit_error" and envelope["code"] == "server_overloaded"
        return "429"
    assert len(reply.choices) == body.get("n", 1)
    for choice in reply.choices:
        assert choice.message.content and choice.finish_reason in ("stop", "length")
    assert reply.usage is not None and reply.usage.completion_tokens >= len(reply.choices)
    return "ok"


async def _burst(server: RemoteServer, model_id: str) -> list[str]:
    """The whole burst at once while the engine is frozen: exactly CAPACITY requests are
    admitted (and held), the rest must be refused at once; then the engine is thawed and the
    admitted ones must complete."""
    client = server.async_client(timeout=CLIENT_TIMEOUT_S)
    with frozen_engine(server.pid):
        burst = [asyncio.ensure_future(_one(client, long_request(model_id))) for _ in range(BURST)]
        async with asyncio.timeout(CLIENT_TIMEOUT_S):  # the refusals must not wait for the engine
            while sum(task.done() for task in burst) < BURST - CAPACITY:
                await asyncio.sleep(0.02)
        # Polled in a thread so this event loop keeps serving the admitted requests meanwhile.
        await asyncio.to_thread(
            wait_for, lambda: slots_taken(server.url, MAX_RUNNING, MAX_WAITING), "every slot taken"
        )
    async with asyncio.timeout(CLIENT_TIMEOUT_S):
        outcomes = await asyncio.gather(*burst)
    await client.close()
    return list(outcomes)


def test_burst_at_three_times_capacity(ops_server: RemoteServer, model_id: str) -> None:
    url = ops_server.url
    before = scrape(url)
    outcomes = asyncio.run(_burst(ops_server, model_id))

    assert len(outcomes) == BURST  # none lost: every request has its answer
    assert sorted(outcomes) == ["429"] * (BURST - CAPACITY) + ["ok"] * CAPACITY
    wait_for(lambda: engine_idle(url), "the server to be idle after the burst")
    after = scrape(url)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    rejected = BURST - CAPACITY
    assert delta("llava_serve_rejections_total", reason="overloaded") == rejected
    assert delta("llava_serve_requests_total", route=CHAT_ROUTE, status="429") == rejected
    assert delta("llava_serve_requests_total", route=CHAT_ROUTE, status="200") == CAPACITY
    five_xx = sum(
        v
        for (name, labels), v in after.items()
        if name == "llava_serve_requests_total"
        and dict(labels)["route"] == CHAT_ROUTE
        and dict(labels)["status"].startswith("5")
    )
    assert five_xx == 0
    assert delta("llava_serve_request_queue_time_seconds_count") == CAPACITY


def test_server_recovers_after_the_burst(ops_server: RemoteServer, model_id: str) -> None:
    client = ops_server.client()
    replies = [
        client.chat.completions.create(**short_request(model_id)) for _ in range(CAPACITY + 1)
    ]
    assert all(reply.choices[0].message.content for reply in replies)
