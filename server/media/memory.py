"""Give decoded images' memory back to the system when they are freed.

glibc serves allocations below its mmap threshold from heaps it keeps, and raises that
threshold (up to 32 MiB) after each large free: Pillow's 16 MiB image blocks then come from
the heaps and stay there after the image is gone (four 6000x6600 PNGs held ~800 MiB for good).
A fixed threshold keeps every large block mmap-ed, so freeing it unmaps it."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

logger = logging.getLogger(__name__)

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number
LARGE_ALLOCATION_BYTES = 1 << 20


def return_large_blocks_to_the_system() -> bool:
    """Process-wide; True when set (glibc), False elsewhere (musl, macOS: nothing to do)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    if mallopt(M_MMAP_THRESHOLD, LARGE_ALLOCATION_BYTES) != 1:
        logger.warning("mallopt(M_MMAP_THRESHOLD) failed; freed image memory may be kept")
        return False
    return True
