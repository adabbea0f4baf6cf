"""Run the medium suite on both backends: ``memory`` (MockClock, autojump) and ``netns``."""

from __future__ import annotations

import os

import pytest
import trio.testing
from support import pm_namespaces, root_links


@pytest.fixture(params=["memory", "netns"])
def backend(request):
    if request.param == "netns":
        if os.geteuid() != 0:
            pytest.skip("netns backend needs root (CAP_NET_ADMIN); memory backend still ran")
        links, named = root_links(), pm_namespaces()
        try:
            yield "netns"
        finally:
            assert root_links() - links == set(), "new interfaces appeared in the root namespace"
            assert pm_namespaces() - named == set(), "pm- namespaces left behind"
    else:
        yield "memory"


@pytest.fixture
def air_clock(backend):
    """pytest-trio picks up a Clock fixture value: virtual time for memory, real for netns."""
    return trio.testing.MockClock(autojump_threshold=0) if backend == "memory" else None
