"""Root fixtures. Shared helper functions live in ``tests/support.py`` (import ``support``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import VECTORS, have_tshark, is_root, load_vector

__all__ = ["have_tshark", "is_root", "load_vector"]


@pytest.hookimpl(tryfirst=True)  # before xdist appends the group to each node ID
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist (``make test`` runs ``-n auto --dist loadgroup``): a module's tests stay
    on one worker (module fixtures such as a shared scenario run are built once), and every test
    that makes namespaces runs on the same worker, one at a time, so that the leak checks of one
    (no new root links, no pm- namespaces) never see another's namespaces; the modules that
    pool scenario runs in subprocesses form a second namespace group (POOLED_NETNS)."""
    for item in items:
        module = item.nodeid.split("::", 1)[0]
        netns = "netns" in item.nodeid.lower() or "tests/network/" in item.nodeid
        # scenario files run as subprocesses: a group of their own
        group = "netns-pool" if module in POOLED_NETNS else "netns" if netns else module
        if module in PER_TEST:  # long, independent tests: spread them over the workers
            group = item.nodeid
        item.add_marker(pytest.mark.xdist_group(group))
    # The longest groups first: xdist hands the groups out in collection order, and one of
    # them (the vector generator, ~1 min of CPU) collected last kept a worker busy alone.
    items.sort(key=lambda item: item.nodeid.split("::", 1)[0] not in FIRST)


# Modules whose tests are long and share no module fixture: each test is its own group.
PER_TEST = frozenset({
    "tests/vectors/test_generate.py",
    "tests/wire/test_wire_robustness.py",
})

# Modules whose groups are handed out first (longest first).
FIRST = frozenset({
    "tests/vectors/test_generate.py",
    "tests/adversarial/test_catalogue_netns.py",
    "tests/adversarial/test_crafted_netns.py",
    "tests/wire/test_wire_robustness.py",
    "tests/adversarial/test_e3_atheris.py",  # the CI Atheris campaign, ~40 s
})

# Modules that run many scenario files on netns as subprocesses, a few at a time. They never
# touch the root namespace or name namespaces (nothing else does but the debug-names test,
# which support.pm_namespaces leaves out), so they may overlap the other namespace tests.
POOLED_NETNS = frozenset({
    "tests/adversarial/test_catalogue_netns.py",
    "tests/adversarial/test_crafted_netns.py",
})


@pytest.fixture
def vectors_dir() -> Path:
    if not VECTORS.is_dir():
        pytest.skip(f"shared vectors not found at {VECTORS} (set PROSE_MESH_VECTORS)")
    return VECTORS
