"""The original LLaVA conversation templates (haotian-liu/LLaVA llava/conversation.py), by name.

A template renders (role, text) turns into the prompt text exactly as the original
`Conversation.get_prompt` does for each separator style. Images are placed as the original
serving code places them: each image of a user turn becomes "<image>\\n" (or
"<im_start><image><im_end>\\n" when the checkpoint sets mm_use_im_start_end) in front of the
turn's text, as in llava/serve/cli.py and llava/eval/run_llava.py; a model trained with its
images after the question (model.yaml's image_placement: after_text) gets "text\\n<image>", and
one trained with them after the latest question (after_last_question) gets them there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Final, Literal

from server.errors import BadRequestError
from server.prompts.ending import PromptEnding

ImagePlacement = Literal["before_text", "after_text", "after_last_question"]

IMAGE_PLACEHOLDER: Final = "<image>"
IM_START: Final = "<im_start>"
IM_END: Final = "<im_end>"


class SeparatorStyle(Enum):
    SINGLE = "single"
    TWO = "two"
    MPT = "mpt"
    PLAIN = "plain"
    LLAMA_2 = "llama_2"


@dataclass(frozen=True)
class Conversation:
    """One template: its system prompt, role names, separators and any few-shot turns."""

    system: str
    roles: tuple[str, str]
    sep_style: SeparatorStyle
    sep: str = "###"
    sep2: str | None = None
    few_shot: tuple[tuple[str, str], ...] = ()
    # ChatML templates keep the system role's header in the system text; a request's own
    # system prompt gets the same header.
    system_header: str = ""

    def render(
        self,
        turns: Sequence[str],
        system: str | None = None,
        ending: PromptEnding = PromptEnding.GENERATION_PROMPT,
    ) -> str:
        """Alternating user/assistant turn texts (user first), then by default the generation
        prompt. CONTINUE cuts the rendering just after the final turn's text, so the answer
        goes on with it (as transformers' continue_final_message cuts a chat template's)."""
        messages: list[tuple[str, str | None]] = list(self.few_shot)
        messages += [(self.roles[index % 2], text) for index, text in enumerate(turns)]
        if ending is PromptEnding.GENERATION_PROMPT:
            messages.append((self.roles[len(turns) % 2], None))
        system_text = self.system_header + (self.system if system is None else system)
        rendered = _RENDERERS[self.sep_style](self, system_text, messages)
        if ending is PromptEnding.CONTINUE:
            final = turns[-1]
            if not final or final not in rendered:
                raise BadRequestError(
                    "continue_final_message needs a final message with text to continue.",
                    param="messages",
                )
            rendered = rendered[: rendered.rindex(final) + len(final)]
        return rendered


def _render_single(conv: Conversation, system: str, messages: list[tuple[str, str | None]]) -> str:
    ret = system + conv.sep
    for role, message in messages:
        ret += f"{role}: {message}{conv.sep}" if message else f"{role}:"
    return ret


def _render_two(conv: Conversation, system: str, messages: list[tuple[str, str | None]]) -> str:
    seps = [conv.sep, conv.sep2 or ""]
    ret = system + seps[0]
    for index, (role, message) in enumerate(messages):
        ret += f"{role}: {message}{seps[index % 2]}" if message else f"{role}:"
    return ret


def _render_mpt(conv: Conversation, system: str, messages: list[tuple[str, str | None]]) -> str:
    ret = system + conv.sep
    for role, message in messages:
        ret += f"{role}{message}{conv.sep}" if message else role
    return ret


def _render_llama_2(conv: Conversation, system: str, messages: list[tuple[str, str | None]]) -> str:
    ret = ""
    for index, (_, message) in enumerate(messages):
        if not message:
            continue
        if index == 0 and system:
            message = f"<<SYS>>\n{system}\n<</SYS>>\n\n{message}"
        if index % 2 == 0:
            ret += f"{conv.sep}[INST] {message} [/INST]"
        else:
            ret += f" {message} {conv.sep2}"
    # The original strips the leading separator with str.lstrip, i.e. as a set of characters.
    return ret.lstrip(conv.sep)


def _render_plain(conv: Conversation, system: str, messages: list[tuple[str, str | None]]) -> str:
    seps = [conv.sep, conv.sep2 or ""]
    ret = system
    for index, (_, message) in enumerate(messages):
        if message:
            ret += message + seps[index % 2]
    return ret


_RENDERERS: Final = {
    SeparatorStyle.SINGLE: _render_single,
    SeparatorStyle.TWO: _render_two,
    SeparatorStyle.MPT: _render_mpt,
    SeparatorStyle.LLAMA_2: _render_llama_2,
    SeparatorStyle.PLAIN: _render_plain,
}

_HUMAN_SYSTEM: Final = (
    "A chat between a curious human and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the human's questions."
)
_USER_SYSTEM: Final = (
    "A chat between a curious user and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the user's questions."
)
_VICUNA_V0_EXAMPLE: Final = (
    ("Human", "What are the key differences between renewable and non-renewable energy sources?"),
    (
        "Assistant",
        "Renewable energy sources are those that can be replenished naturally in a relatively "
        "short amount of time, such as solar, wind, hydro, geothermal, and biomass. "
        "Non-renewable energy sources, on the other hand, are finite and will eventually be "
        "depleted, such as coal, oil, and natural gas. Here are some key differences between "
        "renewable and non-renewable energy sources:\n"
        "1. Availability: Renewable energy sources are virtually inexhaustible, while "
        "non-renewable energy sources are finite and will eventually run out.\n"
        "2. Environmental impact: Renewable energy sources have a much lower environmental "
        "impact than non-renewable sources, which can lead to air and water pollution, "
        "greenhouse gas emissions, and other negative effects.\n"
        "3. Cost: Renewable energy sources can be more expensive to initially set up, but they "
        "typically have lower operational costs than non-renewable sources.\n"
        "4. Reliability: Renewable energy sources are often more reliable and can be used in "
        "more remote locations than non-renewable sources.\n"
        "5. Flexibility: Renewable energy sources are often more flexible and can be adapted to "
        "different situations and needs, while non-renewable sources are more rigid and "
        "inflexible.\n"
        "6. Sustainability: Renewable energy sources are more sustainable over the long term, "
        "while non-renewable sources are not, and their depletion can lead to economic and "
        "social instability.\n",
    ),
)
_CHATML_ROLES: Final = ("<|im_start|>user\n", "<|im_start|>assistant\n")
_CHATML_SYSTEM: Final = "<|im_start|>system\n"

_TEMPLATES: Final[dict[str, Conversation]] = {
    "v0": Conversation(
        _HUMAN_SYSTEM, ("Human", "Assistant"), SeparatorStyle.SINGLE, few_shot=_VICUNA_V0_EXAMPLE
    ),
    "vicuna_v1": Conversation(_USER_SYSTEM, ("USER", "ASSISTANT"), SeparatorStyle.TWO, " ", "</s>"),
    "llava_v0": Conversation(_HUMAN_SYSTEM, ("Human", "Assistant"), SeparatorStyle.SINGLE),
    "llava_v1": Conversation(_HUMAN_SYSTEM, ("USER", "ASSISTANT"), SeparatorStyle.TWO, " ", "</s>"),
    "llava_llama_2": Conversation(
        "You are a helpful language and vision assistant. "
        "You are able to understand the visual content that the user provides, "
        "and assist the user with a variety of tasks using natural language.",
        ("USER", "ASSISTANT"),
        SeparatorStyle.LLAMA_2,
        "<s>",
        "</s>",
    ),
    "mistral_instruct": Conversation("", ("USER", "ASSISTANT"), SeparatorStyle.LLAMA_2, "", "</s>"),
    "chatml_direct": Conversation(
        "Answer the questions.",
        _CHATML_ROLES,
        SeparatorStyle.MPT,
        "<|im_end|>",
        system_header=_CHATML_SYSTEM,
    ),
    "mpt": Conversation(
        "A conversation between a user and an LLM-based AI assistant. "
        "The assistant gives helpful and honest answers.",
        _CHATML_ROLES,
        SeparatorStyle.MPT,
        "<|im_end|>",
        system_header=_CHATML_SYSTEM,
    ),
    "plain": Conversation("", ("", ""), SeparatorStyle.PLAIN, "\n"),
}
# With the original's other names for the same templates.
CONVERSATIONS: Final[dict[str, Conversation]] = {
    **_TEMPLATES,
    "default": _TEMPLATES["v0"],
    "v1": _TEMPLATES["vicuna_v1"],
    "v0_plain": _TEMPLATES["plain"],
    "mistral_direct": _TEMPLATES["chatml_direct"],
}

TEMPLATE_NAMES: Final = tuple(sorted(CONVERSATIONS))


def image_marker(use_im_start_end: bool) -> str:
    """What one image becomes in a user turn's text, before the text (run_llava.py's rule)."""
    token = f"{IM_START}{IMAGE_PLACEHOLDER}{IM_END}" if use_im_start_end else IMAGE_PLACEHOLDER
    return token + "\n"


def user_turn_text(
    texts: Sequence[str], num_images: int, use_im_start_end: bool, images_after_text: bool = False
) -> str:
    """One user turn: its images first, each on its own line, then its text parts; or, for a
    model trained so (LLaVA-Instruct puts some questions before their image), the text first."""
    if images_after_text:
        images = [image_marker(use_im_start_end).removesuffix("\n")] * num_images
        return "\n".join([*texts, *images])
    return image_marker(use_im_start_end) * num_images + "\n".join(texts)


def turn_texts(
    texts: Sequence[Sequence[str]],
    images: Sequence[int],
    use_im_start_end: bool,
    placement: ImagePlacement = "before_text",
) -> list[str]:
    """Each turn's text (user turns at even indices) with the images each turn brought, placed
    as `placement` says: in their own turn before or after its text, or all of them after the
    text of the last user turn. The last is for a model trained so: the image's tokens then
    come after, and so can attend to, the question being asked, also in a follow-up turn."""
    counts = list(images)
    if placement == "after_last_question" and counts:
        last_user = (len(counts) - 1) // 2 * 2
        counts = [0] * len(counts)
        counts[last_user] = sum(images)
    after = placement != "before_text"
    return [
        user_turn_text(turn, count, use_im_start_end, after)
        for turn, count in zip(texts, counts, strict=True)
    ]
