"""Greedy tokens of one checkpoint on fixed prompts and images, through vLLM's offline engine.

Run as `python -m tests.original_export_check original|hf MODEL_DIR PLACEHOLDER_ID [TOWER_DIR]`;
prints one line `RESULT <json>`. A separate process per engine, since vLLM keeps global state.
"""

from __future__ import annotations

import json
import sys

from vllm import LLM, SamplingParams

from tests.images import scene

MAX_TOKENS = 12


def main() -> None:
    mode, model, placeholder = sys.argv[1], sys.argv[2], int(sys.argv[3])
    options: dict[str, object] = {}
    if mode == "original":
        options = {
            "config_format": "llava_original",
            "hf_overrides": {"mm_vision_tower": sys.argv[4]},
        }
    llm = LLM(
        model=model,
        dtype="float32",
        enforce_eager=True,
        max_model_len=512,
        limit_mm_per_prompt={"image": 2},
        **options,
    )
    tokenizer = llm.get_tokenizer()

    def ids(text: str) -> list[int]:
        return list(tokenizer(text, add_special_tokens=False).input_ids)

    bos = [tokenizer.bos_token_id]
    cases = [
        (
            [scene(90, 40, 31)],
            bos + ids("USER: ") + [placeholder] + ids("\nWhat is this? ASSISTANT:"),
        ),
        ([scene(30, 77, 32)], bos + ids("Look: ") + [placeholder] + ids("\nDescribe it.")),
        (
            [scene(64, 20, 33), scene(41, 41, 34)],
            [*bos, placeholder, *ids("\n"), placeholder, *ids("\nWhich is brighter?")],
        ),
    ]
    prompts = [{"prompt_token_ids": p, "multi_modal_data": {"image": imgs}} for imgs, p in cases]
    outputs = llm.generate(prompts, SamplingParams(temperature=0, max_tokens=MAX_TOKENS))
    print("RESULT " + json.dumps([list(out.outputs[0].token_ids) for out in outputs]))


if __name__ == "__main__":
    main()
