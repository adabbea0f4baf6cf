"""Namespace tests run as root; each one checks afterwards that it left nothing behind."""

from __future__ import annotations

import os

import pytest


def root_links() -> set[str]:
    return set(os.listdir("/sys/class/net"))


def pm_namespaces() -> set[str]:
    try:
        return {n for n in os.listdir("/run/netns") if n.startswith("pm-")}
    except FileNotFoundError:
        return set()


@pytest.fixture(autouse=True)
def root_and_no_leaks():
    if os.geteuid() != 0:
        pytest.skip("network namespace tests need root (CAP_NET_ADMIN)")
    links, named = root_links(), pm_namespaces()
    yield
    assert root_links() - links == set(), "new interfaces appeared in the root namespace"
    assert pm_namespaces() - named == set(), "pm- namespaces left behind"
