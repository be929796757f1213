"""A stream whose status line went out ends with an error event and [DONE] whatever fails, an
unforeseen error included: the chat service's stream, in-process, on an engine stand-in that
yields real vLLM outputs and then fails as a bug would (no server, no model run)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from vllm import SamplingParams
from vllm.inputs import TokensPrompt
from vllm.outputs import CompletionOutput, RequestOutput

from server.chat.response import SSE_DONE, ResponseHeader
from server.chat.service import ChatService, PreparedChat
from server.media.loader import MediaLoader
from server.model_repo import resolve_model
from server.prompts.hf import HfPromptBuilder
from server.settings import REPO_MODEL_DIR, Settings


class EngineFailingMidStream:
    """Stands in for server/engine.py's Engine: `tokens` real outputs, then an error that is no
    ServingError (the kind of failure nothing maps)."""

    max_model_len = 512

    def __init__(self, tokens: int):
        self.tokens = tokens

    async def generate(
        self, request_id: str, prompt: TokensPrompt, params: SamplingParams
    ) -> AsyncIterator[RequestOutput]:
        for token in range(self.tokens):
            completion = CompletionOutput(0, f"t{token}", [token + 5], None, None)
            yield RequestOutput(
                request_id, None, prompt["prompt_token_ids"], None, [completion], False
            )
        raise RuntimeError("an unforeseen failure")


def _stream(tiny_checkpoint: Path, tokens: int) -> list[bytes]:
    async def run() -> list[bytes]:
        prompts = HfPromptBuilder.for_hf_checkpoint(tiny_checkpoint, None)
        media = MediaLoader(Settings(), tower_input_size=32)
        spec = resolve_model("tiny-llava-hf", REPO_MODEL_DIR)
        engine = EngineFailingMidStream(tokens)
        chat = ChatService(engine, prompts, media, spec, spec.name)  # type: ignore[arg-type]
        header = ResponseHeader("chatcmpl-test", 0, spec.name)
        prepared = PreparedChat(
            header, TokensPrompt(prompt_token_ids=[1, 2, 3]), SamplingParams(), None, False
        )
        try:
            return [event async for event in chat.stream(prepared)]
        finally:
            await media.aclose()

    return asyncio.run(run())


@pytest.mark.parametrize("tokens", [0, 2])
def test_an_unforeseen_failure_ends_the_stream_with_an_error_event(
    tiny_checkpoint: Path, tokens: int
) -> None:
    events = _stream(tiny_checkpoint, tokens)
    assert events[-1] == SSE_DONE
    error = json.loads(events[-2].removeprefix(b"data: "))["error"]
    assert error["type"] == "server_error" and "streaming" in error["message"]
    chunks = [json.loads(event.removeprefix(b"data: ")) for event in events[:-2]]
    deltas = [chunk["choices"][0]["delta"] for chunk in chunks]
    # What was generated before the failure was sent: the role chunk, then each token's text.
    expected = [{"role": "assistant", "content": ""}] if tokens else []
    expected += [{"content": f"t{token}"} for token in range(tokens)]
    assert deltas == expected
