"""Freed memory goes back to the system between stages."""

from __future__ import annotations

import torch

from engine.memory import release_freed_memory


def _rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def test_the_pages_freed_between_live_blocks_are_returned() -> None:
    # 6,000 blocks of 64 KiB (below the allocator's mmap threshold, so on its heap), written
    # so their pages are resident; every other one freed leaves ~190 MiB of holes that the
    # allocator keeps until trimmed
    blocks = [torch.ones(16_384) for _ in range(6_000)]
    kept = blocks[::2]
    del blocks
    before = _rss_mib()
    assert release_freed_memory()
    after = _rss_mib()
    assert before - after > 100, (before, after)
    assert all(float(block[0]) == 1.0 for block in kept)  # what is alive stays intact
