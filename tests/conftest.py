"""Root fixtures. Shared helper functions live in ``tests/support.py`` (import ``support``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import VECTORS, have_tshark, is_root, load_vector

__all__ = ["have_tshark", "is_root", "load_vector"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist (``make test`` runs ``-n auto --dist loadgroup``): a module's tests stay
    on one worker (module fixtures such as a shared scenario run are built once), and every test
    that makes namespaces runs on the same worker, one at a time, so that the leak checks of one
    (no new root links, no pm- namespaces) never see another's namespaces."""
    for item in items:
        netns = "netns" in item.nodeid.lower() or "tests/network/" in item.nodeid
        group = "netns" if netns else item.nodeid.split("::", 1)[0]
        item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture
def vectors_dir() -> Path:
    if not VECTORS.is_dir():
        pytest.skip(f"shared vectors not found at {VECTORS} (set PROSE_MESH_VECTORS)")
    return VECTORS
