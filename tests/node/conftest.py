"""Backends for the node tests: memory (MockClock) always, netns when root (cleaned up)."""

from __future__ import annotations

import os

import pytest
import trio.testing
from support import pm_namespaces, root_links


@pytest.fixture(params=["memory", "netns"])
def backend(request):
    if request.param == "netns":
        if os.geteuid() != 0:
            pytest.skip("netns backend needs root (CAP_NET_ADMIN); the memory backend still ran")
        links, named = root_links(), pm_namespaces()
        yield "netns"
        assert root_links() - links == set(), "interfaces left in the root namespace"
        assert pm_namespaces() - named == set(), "pm- namespaces left behind"
    else:
        yield "memory"


@pytest.fixture
def node_clock(backend):
    """pytest-trio takes a Clock from a fixture: virtual time for memory, real for netns."""
    return trio.testing.MockClock(autojump_threshold=0) if backend == "memory" else None
