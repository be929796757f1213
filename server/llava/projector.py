"""The original projector builder (llava/model/multimodal_projector/builder.py), by name.

Modules and their order are the original's, so checkpoint keys `model.mm_projector.*` load
as they are: `linear` is one nn.Linear; `mlpNx_gelu` is an nn.Sequential of N linears with
GELUs between (keys .0, .2, ...); `identity` has no weights.
"""

from __future__ import annotations

from torch import nn

from server.llava.config import PROJECTOR_PATTERN, OriginalConfigError


def build_projector(projector_type: str, mm_hidden_size: int, hidden_size: int) -> nn.Module:
    match = PROJECTOR_PATTERN.match(projector_type)
    if match is None:
        raise OriginalConfigError(f"mm_projector_type {projector_type!r} is not supported")
    if projector_type == "linear":
        return nn.Linear(mm_hidden_size, hidden_size)
    if projector_type == "identity":
        if mm_hidden_size != hidden_size:
            raise OriginalConfigError("identity projector needs mm_hidden_size == hidden_size")
        return nn.Identity()
    depth = int(match.group(2))
    modules: list[nn.Module] = [nn.Linear(mm_hidden_size, hidden_size)]
    for _ in range(1, depth):
        modules += [nn.GELU(), nn.Linear(hidden_size, hidden_size)]
    return nn.Sequential(*modules)
