"""procstat.trim_heap: the C heap's free pages go back to the kernel (glibc), so a soak's RSS
measures what is held, not what the allocator kept (J2)."""

from __future__ import annotations

import platform

import pytest

from prose_mesh.procstat import rss_kb, trim_heap


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_trim_returns_the_pages_of_freed_blocks():
    # 1 KiB blocks (over pymalloc's 512 octets: the C allocator's), one in 64 kept: the heap
    # cannot shrink from its top, only a trim gives the free pages inside it back
    blocks = [bytes(1024) for _ in range(160_000)]
    kept = blocks[::64]
    del blocks
    before = rss_kb()
    assert trim_heap()
    after = rss_kb()
    assert before - after > 60 * 1024, (before, after)
    assert len(kept) == 2500
