"""Helpers shared by the test suite (a unique module name: several folders have a conftest.py)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
VECTORS = Path(os.environ.get("PROSE_MESH_VECTORS", REPO.parent / "shared" / "vectors"))
LUA_PLUGIN = REPO / "prose_mesh" / "wireshark" / "prose_mesh.lua"


def load_vector(name: str) -> dict[str, Any]:
    """Load one JSON file of ../shared/vectors (skips with the reason if the folder is absent)."""
    path = VECTORS / name
    if not path.exists():
        pytest.skip(f"shared vectors not found at {path} (set PROSE_MESH_VECTORS)")
    return json.loads(path.read_text())


def have_tshark() -> str | None:
    return shutil.which("tshark")


def is_root() -> bool:
    return os.geteuid() == 0


def root_links() -> set[str]:
    """Interface names in the root namespace (a namespace test must not add any)."""
    return set(os.listdir("/sys/class/net"))


@contextlib.contextmanager
def no_netns_leaks() -> Iterator[None]:
    """Assert that the block left no interface in the root namespace and no pm- namespace."""
    links, named = root_links(), pm_namespaces()
    yield
    assert root_links() - links == set(), "new interfaces appeared in the root namespace"
    assert pm_namespaces() - named == set(), "pm- namespaces left behind"


def pm_namespaces() -> set[str]:
    """Named prose_mesh namespaces under /run/netns (a test must not leave any). Those of the
    debug-names test (``pm-dbg...``, which checks its own clean-up) are left out: it may run
    on another pytest-xdist worker at the same time as a test that checks for leaks."""
    try:
        return {n for n in os.listdir("/run/netns")
                if n.startswith("pm-") and not n.startswith("pm-dbg")}
    except FileNotFoundError:
        return set()
