"""One completions stream's state: which choices have echoed their prompt, where each choice's
text offsets stand, the token counts for usage."""

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
        self._echoed: set[int] = set()
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
            sent = piece(completion, self._echo_now(index, prompt_index), self._options.echo_only)
            if not sent.token_ids and not sent.text and completion.finish_reason is None:
                continue
            if not self._options.echo_only:
                self.completion_tokens += len(completion.token_ids)
            body, self._offsets[index] = choice(
                index, sent, completion.finish_reason, self._options, self._offsets.get(index, 0)
            )
            bodies.append(body)
        return bodies

    def _echo_now(self, index: int, prompt_index: int) -> EchoedPrompt | None:
        """The prompt to send before this choice's text: once per choice, with echo."""
        if not self._options.echo or index in self._echoed:
            return None
        self._echoed.add(index)
        prompt = self._prompts[prompt_index]
        return EchoedPrompt(prompt.text, prompt.token_ids, self._prompt_positions.get(prompt_index))
