"""One completions stream's state: which choices have sent their first chunk (which echoes the
prompt, or carries its token ids), where each choice's text offsets stand, the token counts
for usage."""

from __future__ import annotations

from typing import Any

from vllm.outputs import RequestOutput

from server.completions.logprobs import Position
from server.completions.prompts import TextPrompt
from server.completions.response import CompletionOptions, EchoedPrompt, choice, piece


class StreamedChoices:
    def __init__(self, prompts: list[TextPrompt], options: CompletionOptions):
        self._prompts = prompts
        self._options = options
        self._started: set[int] = set()  # choices that have sent a chunk
        self._offsets: dict[int, int] = {}
        # vLLM sends a prompt's logprobs once, with its first output; with n > 1 every choice
        # of that prompt echoes them.
        self._prompt_positions: dict[int, list[Position]] = {}
        self.prompt_tokens = [0] * len(prompts)
        self.cached_tokens = [0] * len(prompts)  # served by vLLM's prefix cache
        self.completion_tokens = 0

    def choices(self, prompt_index: int, output: RequestOutput) -> list[dict[str, Any]]:
        """The stream choices of one delta output of the prompt's engine request."""
        if output.prompt_token_ids:
            self.prompt_tokens[prompt_index] = len(output.prompt_token_ids)
        if output.num_cached_tokens:
            self.cached_tokens[prompt_index] = output.num_cached_tokens
        if output.prompt_logprobs:
            self._prompt_positions.setdefault(prompt_index, list(output.prompt_logprobs))
        bodies = []
        for completion in output.outputs:
            index = prompt_index * self._options.n + completion.index
            first = index not in self._started
            echoed = self._echoed_prompt(prompt_index) if first else None
            sent = piece(completion, echoed, self._options.echo_only)
            if not sent.token_ids and not sent.text and completion.finish_reason is None:
                continue
            self._started.add(index)
            if not self._options.echo_only:
                self.completion_tokens += len(completion.token_ids)
            prompt_ids = self._prompts[prompt_index].token_ids if first else None
            body, self._offsets[index] = choice(
                index,
                sent,
                completion.finish_reason,
                self._options,
                self._offsets.get(index, 0),
                prompt_ids,
            )
            bodies.append(body)
        return bodies

    def _echoed_prompt(self, prompt_index: int) -> EchoedPrompt | None:
        """The prompt a choice sends before its first text, with echo."""
        if not self._options.echo:
            return None
        prompt = self._prompts[prompt_index]
        return EchoedPrompt(prompt.text, prompt.token_ids, self._prompt_positions.get(prompt_index))
