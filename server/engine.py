"""Owns the vLLM AsyncLLM: start, generate, abort, health. vLLM's errors become ours here."""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections.abc import AsyncIterator
from typing import Any, cast

from vllm import SamplingParams
from vllm.engine.arg_utils import AsyncEngineArgs
from vllm.engine.protocol import EngineClient
from vllm.entrypoints.generate.beam_search.online import BeamSearchOnlineMixin
from vllm.exceptions import VLLMClientError
from vllm.inputs import EngineInput, TokensPrompt
from vllm.outputs import RequestOutput
from vllm.sampling_params import BeamSearchParams, StructuredOutputsParams
from vllm.v1.engine.async_llm import AsyncLLM
from vllm.v1.engine.exceptions import EngineDeadError, EngineGenerateError

from server import orphan_reaper
from server.engine_stats import SchedulerStatsRecorder
from server.errors import BadRequestError, NotReadyError, ServingError

logger = logging.getLogger(__name__)

# How often the watchdog looks at vLLM's liveness flag (set by vLLM's own monitor thread).
WATCHDOG_POLL_S = 0.5


class Engine:
    """The one vLLM engine of this server."""

    def __init__(self, llm: AsyncLLM):
        self._llm = llm
        self._live: set[str] = set()  # ids of the requests generate() is serving now
        # vLLM's engine processes are our children now: they must not outlive us.
        self._reaper = orphan_reaper.watch_children()

    @classmethod
    def start(cls, args: AsyncEngineArgs) -> Engine:
        """Blocks while vLLM starts its engine-core process and loads weights: call in a thread."""
        # Our stat logger feeds the KV-cache and scheduler gauges; vLLM keeps its own vllm:*
        # Prometheus logger too (it is added unless a custom one replaces it).
        llm = AsyncLLM.from_engine_args(args, stat_loggers=[SchedulerStatsRecorder])
        return cls(llm)

    async def warm_up(self) -> None:
        """Asks vLLM now for what it would otherwise ask its engine core inside the first
        request (the supported tasks, then cached): the first request skips that round trip,
        and a request never waits on the engine core before vLLM has counted it."""
        await self._llm.get_supported_tasks()

    @property
    def max_model_len(self) -> int:
        return int(self._llm.model_config.max_model_len)

    @property
    def is_dead(self) -> bool:
        return bool(self._llm.errored)

    @property
    def unfinished_requests(self) -> int:
        """Requests vLLM holds for us now; an abort takes effect here at once."""
        return int(self._llm.get_num_unfinished_requests())

    async def wait_until_dead(self) -> None:
        """Returns once the engine is dead: its engine-core process died (vLLM's monitor thread
        notices) or its output loop failed."""
        while not self.is_dead:
            await asyncio.sleep(WATCHDOG_POLL_S)

    async def generate(
        self, request_id: str, prompt: TokensPrompt | EngineInput, params: SamplingParams
    ) -> AsyncIterator[RequestOutput]:
        """Yields vLLM's outputs; the request is aborted in vLLM if the caller stops iterating."""
        self._live.add(request_id)
        try:
            async for output in self._llm.generate(prompt, params, request_id):
                yield output
        except VLLMClientError as error:
            raise BadRequestError(str(error)) from error
        except EngineDeadError as error:
            raise NotReadyError(
                "The inference engine has stopped; retry on another replica."
            ) from error
        except EngineGenerateError as error:
            raise _generate_error(error) from error
        finally:
            self._live.discard(request_id)

    async def beam_search(
        self, request_id: str, prompt: TokensPrompt, params: BeamSearchParams
    ) -> AsyncIterator[RequestOutput]:
        """vLLM's own beam search, the one `vllm serve` runs: one engine request per beam and
        step (`{request_id}-...`), each through generate(), so aborts, errors and liveness are
        those of any request. Yields one final output with a choice per beam, best first."""
        try:
            # Processed once (images included); each step's requests reuse it.
            engine_input = await self._llm.renderer.process_for_engine_async(prompt, time.time())
        except (ValueError, TypeError) as error:
            raise BadRequestError(f"The engine rejected the request: {error}") from error
        search = _BeamSearch(self, self._llm)
        async for output in search.beam_search(engine_input, request_id, params):
            yield output

    def check_structured_outputs(self, constraint: StructuredOutputsParams) -> None:
        """vLLM's own check of a constraint (the one its engine runs on each request, with its
        backend choice and fallbacks), on a throwaway copy; a refusal is a BadRequestError."""
        probe = SamplingParams(max_tokens=1, structured_outputs=copy.deepcopy(constraint))
        config = self._llm.vllm_config
        try:
            probe.verify(
                self._llm.model_config,
                config.speculative_config,
                config.structured_outputs_config,
                self._llm.input_processor.tokenizer,
            )
        except (VLLMClientError, ValueError) as error:
            raise BadRequestError(str(error)) from error

    async def abort(self, request_id: str) -> None:
        """Aborts the request and those derived from it (`{id}-{index}`: one per prompt of a
        batch); a no-op for requests already finished."""
        family = [live for live in self._live if live.startswith(f"{request_id}-")]
        await self._llm.abort([request_id, *family])

    def shutdown(self) -> None:
        self._llm.shutdown()
        # vLLM stops what it can reach; a killed engine core's workers it cannot.
        orphan_reaper.reap_now(self._reaper)


class _BeamSearch(BeamSearchOnlineMixin):  # type: ignore[misc]  # vLLM module, untyped here
    """vLLM's online beam search over this engine. The mixin reads the tokenizer from a
    renderer and sends its requests to an engine client: ours sends them through
    Engine.generate."""

    def __init__(self, engine: Engine, llm: AsyncLLM):
        self.renderer = llm.renderer
        self.engine_client = cast(EngineClient, _BeamSearchClient(engine, llm))


class _BeamSearchClient:
    """The two members of an engine client that the beam search uses."""

    def __init__(self, engine: Engine, llm: AsyncLLM):
        self._engine = engine
        self.input_processor = llm.input_processor  # the search asks it about watermarking

    def generate(
        self, prompt: EngineInput, params: SamplingParams, request_id: str, **_: Any
    ) -> AsyncIterator[RequestOutput]:
        return self._engine.generate(request_id, prompt, params)


def _generate_error(error: EngineGenerateError) -> ServingError:
    """vLLM wraps input-processing errors (e.g. an image its processor rejects) in this class."""
    cause = error.__cause__
    if isinstance(cause, ValueError | TypeError):
        return BadRequestError(f"The engine rejected the request: {cause}")
    logger.error("engine failed a request", exc_info=error)
    return ServingError("The engine failed to process the request.")
