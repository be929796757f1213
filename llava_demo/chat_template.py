"""The original `llava_v0` conversation as a Jinja chat template, for the llava-hf export.

It renders what server/prompts/conversations.py renders for llava_v0 (SINGLE separator "###"):
"<s>" + system + "###" + "Human: " + images ("<image>\\n" each) + texts joined by "\\n" + "###"
+ "Assistant: " + answer + "###" ... + "Assistant:"; for a model trained with the question
first (image_placement after_text), a user turn is its texts and then "\\n<image>" for each of
its images; with after_last_question, every image of the conversation follows the last user
turn's texts so. A system message replaces the default system text. The parts loop iterates a
variable named `content` because that is how vLLM's template sniffing recognises a template
taking content parts.
"""

from __future__ import annotations

from typing import Final

from server.prompts.conversations import CONVERSATIONS, ImagePlacement

_SYSTEM: Final = CONVERSATIONS["llava_v0"].system


def llava_v0_template(placement: ImagePlacement) -> str:
    """The template, its user turns laid out as model.yaml's image_placement would lay them."""
    if placement == "after_last_question":
        return _SYSTEM_HEAD + _COUNT_IMAGES + _TURN_HEAD + _TEXTS_THEN_ALL_IMAGES + _TAIL
    body = _TEXTS_THEN_IMAGES if placement == "after_text" else _IMAGES_THEN_TEXTS
    return _SYSTEM_HEAD + _TURN_HEAD + body + _TAIL


_SYSTEM_HEAD: Final = (
    "{%- set ns = namespace(system='" + _SYSTEM.replace("'", "\\'") + "') -%}"
    "{%- for message in messages -%}{%- if message['role'] == 'system' -%}"
    "{%- if message['content'] is string -%}{%- set ns.system = message['content'] -%}"
    "{%- else -%}{%- set ns.system = message['content'] | map(attribute='text') | join('\\n') -%}"
    "{%- endif -%}{%- endif -%}{%- endfor -%}"
    "{{- '<s>' + ns.system + '###' -}}"
)
_IMAGE_TYPES: Final = "['image', 'image_url']"
# The conversation's image count and the position of its last user turn among the turns.
_COUNT_IMAGES: Final = (
    "{%- set images = namespace(count=0, last_user=-1) -%}"
    "{%- for message in messages if message['role'] != 'system' -%}"
    "{%- if message['role'] == 'user' -%}{%- set images.last_user = loop.index0 -%}{%- endif -%}"
    "{%- if message['content'] is not string -%}"
    "{%- set images.count = images.count + (message['content'] | selectattr('type', 'in', "
    + _IMAGE_TYPES
    + ") | list | length) -%}"
    "{%- endif -%}{%- endfor -%}"
)
_TURN_HEAD: Final = (
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
_IMAGES: Final = "{%- for part in content if part['type'] in " + _IMAGE_TYPES + " -%}"
_IMAGES_THEN_TEXTS: Final = (
    _IMAGES + "{{ '<image>\\n' }}{%- endfor -%}{{- texts.items | join('\\n') -}}"
)
_TEXTS_THEN_IMAGES: Final = (
    "{%- set items = namespace(list=texts.items) -%}"
    + _IMAGES
    + "{%- set items.list = items.list + ['<image>'] -%}{%- endfor -%}"
    "{{- items.list | join('\\n') -}}"
)
_TEXTS_THEN_ALL_IMAGES: Final = (
    "{%- set items = namespace(list=texts.items) -%}"
    "{%- if loop.index0 == images.last_user -%}"
    "{%- set items.list = items.list + ['<image>'] * images.count -%}{%- endif -%}"
    "{{- items.list | join('\\n') -}}"
)
_TAIL: Final = (
    "{{- '###' -}}{%- endfor -%}{%- if add_generation_prompt -%}{{ 'Assistant:' }}{%- endif -%}"
)
