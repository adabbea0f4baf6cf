"""Namespace tests run as root; each one checks afterwards that it left nothing behind."""

from __future__ import annotations

import os

import pytest
from support import pm_namespaces, root_links


@pytest.fixture(autouse=True)
def root_and_no_leaks():
    if os.geteuid() != 0:
        pytest.skip("network namespace tests need root (CAP_NET_ADMIN)")
    links, named = root_links(), pm_namespaces()
    yield
    assert root_links() - links == set(), "new interfaces appeared in the root namespace"
    assert pm_namespaces() - named == set(), "pm- namespaces left behind"
