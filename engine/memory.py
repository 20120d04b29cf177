"""Give the memory a finished stage freed back to the system before the next one allocates.

glibc's allocator keeps freed blocks below its mmap threshold (up to 32 MiB each, which is
most of a stage's intermediate tensors) in its arenas for reuse, so a process's RSS stays near
its highest point after ``del``: the next stage then allocates beside the pages the last one
left instead of in them. ``malloc_trim(0)`` returns the free pages of every arena.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Callable


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    return getattr(ctypes.CDLL(name), "malloc_trim", None)  # glibc only (not musl or macOS)


def release_freed_memory() -> bool:
    """Return the allocator's free pages to the system; False where libc cannot (not glibc)."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
