"""The original LLaVA conversation templates render exactly as llava/conversation.py's
get_prompt(): pinned strings for a multi-turn conversation with a system prompt and an image,
and the image placement of the original serving code."""

from __future__ import annotations

import pytest

from server.errors import BadRequestError
from server.prompts.conversations import CONVERSATIONS, TEMPLATE_NAMES, turn_texts, user_turn_text
from server.prompts.ending import PromptEnding

SYSTEM = "You are terse."
TURNS = [user_turn_text(["What is it?"], 1, False), "A cat.", "Its colour?"]
HUMAN_SYSTEM = (
    "A chat between a curious human and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the human's questions."
)
USER_SYSTEM = (
    "A chat between a curious user and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the user's questions."
)

PINNED_WITH_SYSTEM = {
    "vicuna_v1": (
        "You are terse. USER: <image>\nWhat is it? ASSISTANT: A cat.</s>"
        "USER: Its colour? ASSISTANT:"
    ),
    "llava_v1": (
        "You are terse. USER: <image>\nWhat is it? ASSISTANT: A cat.</s>"
        "USER: Its colour? ASSISTANT:"
    ),
    "llava_v0": (
        "You are terse.###Human: <image>\nWhat is it?###Assistant: A cat.###Human: Its colour?"
        "###Assistant:"
    ),
    "llava_llama_2": (
        "[INST] <<SYS>>\nYou are terse.\n<</SYS>>\n\n<image>\nWhat is it? [/INST] A cat. </s>"
        "<s>[INST] Its colour? [/INST]"
    ),
    "mistral_instruct": (
        "[INST] <<SYS>>\nYou are terse.\n<</SYS>>\n\n<image>\nWhat is it? [/INST] A cat. </s>"
        "[INST] Its colour? [/INST]"
    ),
    "chatml_direct": (
        "<|im_start|>system\nYou are terse.<|im_end|><|im_start|>user\n<image>\nWhat is it?"
        "<|im_end|><|im_start|>assistant\nA cat.<|im_end|><|im_start|>user\nIts colour?"
        "<|im_end|><|im_start|>assistant\n"
    ),
    "mpt": (
        "<|im_start|>system\nYou are terse.<|im_end|><|im_start|>user\n<image>\nWhat is it?"
        "<|im_end|><|im_start|>assistant\nA cat.<|im_end|><|im_start|>user\nIts colour?"
        "<|im_end|><|im_start|>assistant\n"
    ),
    "plain": "You are terse.<image>\nWhat is it?\nA cat.Its colour?\n",
}

PINNED_DEFAULT_SYSTEM = {
    "vicuna_v1": f"{USER_SYSTEM} USER: <image>\nWhat is it? ASSISTANT: A cat.</s>"
    "USER: Its colour? ASSISTANT:",
    # Not an alias of vicuna_v1: the system prompt speaks of a "human".
    "llava_v1": f"{HUMAN_SYSTEM} USER: <image>\nWhat is it? ASSISTANT: A cat.</s>"
    "USER: Its colour? ASSISTANT:",
    "llava_v0": f"{HUMAN_SYSTEM}###Human: <image>\nWhat is it?###Assistant: A cat.###"
    "Human: Its colour?###Assistant:",
    "llava_llama_2": "[INST] <<SYS>>\nYou are a helpful language and vision assistant. You are "
    "able to understand the visual content that the user provides, and assist the user with a "
    "variety of tasks using natural language.\n<</SYS>>\n\n<image>\nWhat is it? [/INST] A cat. "
    "</s><s>[INST] Its colour? [/INST]",
    # Its system prompt is empty, and the original then leaves out the <<SYS>> block.
    "mistral_instruct": "[INST] <image>\nWhat is it? [/INST] A cat. </s>[INST] Its colour? [/INST]",
    "chatml_direct": "<|im_start|>system\nAnswer the questions.<|im_end|><|im_start|>user\n"
    "<image>\nWhat is it?<|im_end|><|im_start|>assistant\nA cat.<|im_end|><|im_start|>user\n"
    "Its colour?<|im_end|><|im_start|>assistant\n",
    "plain": "<image>\nWhat is it?\nA cat.Its colour?\n",
}


@pytest.mark.parametrize("name", sorted(PINNED_WITH_SYSTEM))
def test_multi_turn_with_system_prompt_and_image(name: str) -> None:
    assert CONVERSATIONS[name].render(TURNS, SYSTEM) == PINNED_WITH_SYSTEM[name]


@pytest.mark.parametrize("name", sorted(PINNED_DEFAULT_SYSTEM))
def test_multi_turn_with_the_templates_own_system_prompt(name: str) -> None:
    assert CONVERSATIONS[name].render(TURNS) == PINNED_DEFAULT_SYSTEM[name]


def test_v0_keeps_the_original_few_shot_example() -> None:
    prompt = CONVERSATIONS["v0"].render([TURNS[0]])
    assert prompt.startswith(
        f"{HUMAN_SYSTEM}###Human: What are the key differences between renewable and "
        "non-renewable energy sources?###Assistant: Renewable energy sources are those"
    )
    assert prompt.endswith(
        "economic and social instability.\n###Human: <image>\nWhat is it?###Assistant:"
    )


def test_single_turn_ends_with_the_assistant_prompt() -> None:
    assert CONVERSATIONS["vicuna_v1"].render(["Hi"]) == f"{USER_SYSTEM} USER: Hi ASSISTANT:"


def test_the_original_names_are_all_there() -> None:
    wanted = {"vicuna_v1", "llava_v1", "v0", "llava_v0", "llava_llama_2"}
    wanted |= {"mistral_instruct", "chatml_direct", "mpt", "plain", "v1", "default"}
    assert wanted <= set(TEMPLATE_NAMES)
    assert CONVERSATIONS["v1"] is CONVERSATIONS["vicuna_v1"]
    assert CONVERSATIONS["default"] is CONVERSATIONS["v0"]


def test_images_go_first_each_on_its_own_line() -> None:
    assert user_turn_text(["Compare."], 2, False) == "<image>\n<image>\nCompare."
    assert user_turn_text(["Look."], 1, True) == "<im_start><image><im_end>\nLook."
    assert user_turn_text(["a", "b"], 0, False) == "a\nb"


def test_images_after_the_text_each_on_its_own_line() -> None:
    """image_placement after_text: "question\\n<image>", as LLaVA-Instruct places some images."""
    assert user_turn_text(["Compare."], 2, False, True) == "Compare.\n<image>\n<image>"
    assert user_turn_text(["Look."], 1, True, True) == "Look.\n<im_start><image><im_end>"
    assert user_turn_text(["a", "b"], 0, False, True) == "a\nb"
    assert user_turn_text([], 1, False, True) == "<image>"


def test_images_after_the_last_question_move_there_from_every_turn() -> None:
    """image_placement after_last_question: the conversation's images, in order, after the
    last user turn's text (turn 2 here; turn 2 also when an assistant turn ends it)."""
    texts = [["Look."], ["A circle."], ["Its colour?", "And shape?"]]
    assert turn_texts(texts, [1, 0, 1], False, "after_last_question") == [
        "Look.",
        "A circle.",
        "Its colour?\nAnd shape?\n<image>\n<image>",
    ]
    continued = turn_texts([*texts, ["It is"]], [1, 0, 0, 0], True, "after_last_question")
    assert continued[2] == "Its colour?\nAnd shape?\n<im_start><image><im_end>"
    assert continued[0] == "Look."
    assert turn_texts(texts, [1, 0, 1], False, "after_text")[0] == "Look.\n<image>"
    assert turn_texts(texts, [1, 0, 1], False)[0] == "<image>\nLook."


@pytest.mark.parametrize("name", TEMPLATE_NAMES)
def test_continuing_cuts_just_after_the_final_message(name: str) -> None:
    """continue_final_message: the rendering with the final (assistant) message, cut right
    after its text, so the answer goes on with it; no generation prompt follows."""
    conversation = CONVERSATIONS[name]
    partial = "A small"
    continued = conversation.render([TURNS[0], partial], SYSTEM, ending=PromptEnding.CONTINUE)
    opened = conversation.render([TURNS[0]], SYSTEM)
    assert continued.endswith(partial)
    assert continued.startswith(opened.rstrip())
    closed = conversation.render([TURNS[0], partial], SYSTEM, ending=PromptEnding.NONE)
    assert closed.startswith(continued)


def test_a_continued_message_needs_text() -> None:
    with pytest.raises(BadRequestError, match="continue"):
        CONVERSATIONS["llava_v1"].render([TURNS[0], ""], SYSTEM, ending=PromptEnding.CONTINUE)
