"""The exact bytes of each vocabulary token, for OpenAI's logprobs `bytes` and `token` fields.

A token can hold part of a UTF-8 character; decoding it alone loses those bytes, and OpenAI's
`bytes` field exists so clients can join such pieces. Covers both vocabularies LLaVA models use:
byte-level BPE (GPT-2 style) and SentencePiece ("▁" for spaces, "<0xAB>" byte tokens).
"""

from __future__ import annotations

import re
from functools import cache

from transformers import PreTrainedTokenizerBase

_BYTE_TOKEN = re.compile(r"<0x([0-9A-Fa-f]{2})>")


@cache
def _byte_level_decoder() -> dict[str, int]:
    """Inverse of GPT-2's bytes_to_unicode: printable stand-ins back to raw bytes."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    codes = list(printable)
    shift = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + shift)
            shift += 1
    return {chr(code): byte for byte, code in zip(printable, codes, strict=True)}


def token_id_spelling(token_id: int) -> bytes:
    """vLLM's `return_tokens_as_token_ids`: a token spelt "token_id:N", so a client can tell
    apart tokens whose text is not valid UTF-8 alone or that decode alike."""
    return f"token_id:{token_id}".encode()


class TokenBytes:
    """Maps token ids to their bytes, computed once per id."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase):
        self._tokenizer = tokenizer
        self._byte_level = "Ġ" in tokenizer.get_vocab() or _uses_byte_level(tokenizer)
        self._cache: dict[int, bytes] = {}

    def __call__(self, token_id: int) -> bytes:
        found = self._cache.get(token_id)
        if found is None:
            found = self._cache[token_id] = self._compute(token_id)
        return found

    def _compute(self, token_id: int) -> bytes:
        piece = str(self._tokenizer.convert_ids_to_tokens(token_id))
        if token_id in self._tokenizer.all_special_ids:
            return piece.encode()
        if match := _BYTE_TOKEN.fullmatch(piece):
            return bytes([int(match.group(1), 16)])
        if self._byte_level:
            decoder = _byte_level_decoder()
            return bytes(decoder[char] for char in piece if char in decoder)
        return piece.replace("▁", " ").encode()


def _uses_byte_level(tokenizer: PreTrainedTokenizerBase) -> bool:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    decoder = getattr(backend, "decoder", None)
    return type(decoder).__name__ == "ByteLevel"
