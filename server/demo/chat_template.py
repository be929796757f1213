"""The original `llava_v0` conversation as a Jinja chat template, for the llava-hf export.

It renders what server/chat/conversations.py renders for llava_v0 (SINGLE separator "###"):
"<s>" + system + "###" + "Human: " + images ("<image>\\n" each) + texts joined by "\\n" + "###"
+ "Assistant: " + answer + "###" ... + "Assistant:". A system message replaces the default
system text. The parts loop iterates a variable named `content` because that is how vLLM's
template sniffing recognises a template taking content parts.
"""

from __future__ import annotations

from typing import Final

from server.chat.conversations import CONVERSATIONS

_SYSTEM: Final = CONVERSATIONS["llava_v0"].system

LLAVA_V0_TEMPLATE: Final = (
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
    "{%- for part in content -%}"
    "{%- if part['type'] in ['image', 'image_url'] -%}{{ '<image>\\n' }}{%- endif -%}"
    "{%- endfor -%}"
    "{%- set texts = namespace(items=[]) -%}"
    "{%- for part in content -%}"
    "{%- if part['type'] == 'text' -%}{%- set texts.items = texts.items + [part['text']] -%}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{{- texts.items | join('\\n') + '###' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ 'Assistant:' }}{%- endif -%}"
)
