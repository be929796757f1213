"""The original `llava_v0` conversation as a Jinja chat template, for the llava-hf export.

It renders what server/prompts/conversations.py renders for llava_v0 (SINGLE separator "###"):
"<s>" + system + "###" + "Human: " + images ("<image>\\n" each) + texts joined by "\\n" + "###"
+ "Assistant: " + answer + "###" ... + "Assistant:", or, for a model trained with the question
first (image_placement after_text), the texts and then "\\n<image>" for each image, joined by
"\\n". A system message replaces the default
system text. The parts loop iterates a variable named `content` because that is how vLLM's
template sniffing recognises a template taking content parts.
"""

from __future__ import annotations

from typing import Final

from server.prompts.conversations import CONVERSATIONS

_SYSTEM: Final = CONVERSATIONS["llava_v0"].system


def llava_v0_template(images_after_text: bool) -> str:
    """The template; with images_after_text a user turn is its texts, then "\\n<image>" each."""
    return _HEAD + (_TEXTS_THEN_IMAGES if images_after_text else _IMAGES_THEN_TEXTS) + _TAIL


_HEAD: Final = (
    "{%- set ns = namespace(system='" + _SYSTEM.replace("'", "\\'") + "') -%}"
    "{%- for message in messages -%}{%- if message['role'] == 'system' -%}"
    "{%- if message['content'] is string -%}{%- set ns.system = message['content'] -%}"
    "{%- else -%}{%- set ns.system = message['content'] | map(attribute='text') | join('\\n') -%}"
    "{%- endif -%}{%- endif -%}{%- endfor -%}"
    "{{- '<s>' + ns.system + '###' -}}"
    "{%- for message in messages if message['role'] != 'system' -%}"
    "{%- if message['content'] is string -%}"
    "{%- set content = [{'type': 'text', 'text': message['content']}] -%}"
    "{%- else -%}{%- set content = message['content'] -%}{%- endif -%}"
    "{{- ('Human' if message['role'] == 'user' else 'Assistant') + ': ' -}}"
    "{%- set texts = namespace(items=[]) -%}"
    "{%- for part in content -%}"
    "{%- if part['type'] == 'text' -%}{%- set texts.items = texts.items + [part['text']] -%}"
    "{%- endif -%}"
    "{%- endfor -%}"
)
_IMAGES: Final = "{%- for part in content if part['type'] in ['image', 'image_url'] -%}"
_IMAGES_THEN_TEXTS: Final = (
    _IMAGES + "{{ '<image>\\n' }}{%- endfor -%}{{- texts.items | join('\\n') -}}"
)
_TEXTS_THEN_IMAGES: Final = (
    "{%- set items = namespace(list=texts.items) -%}"
    + _IMAGES
    + "{%- set items.list = items.list + ['<image>'] -%}{%- endfor -%}"
    "{{- items.list | join('\\n') -}}"
)
_TAIL: Final = (
    "{{- '###' -}}{%- endfor -%}{%- if add_generation_prompt -%}{{ 'Assistant:' }}{%- endif -%}"
)
