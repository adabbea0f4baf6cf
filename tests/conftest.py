"""Root fixtures. Shared helper functions live in ``tests/support.py`` (import ``support``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import VECTORS, have_tshark, is_root, load_vector

__all__ = ["have_tshark", "is_root", "load_vector"]


@pytest.fixture
def vectors_dir() -> Path:
    if not VECTORS.is_dir():
        pytest.skip(f"shared vectors not found at {VECTORS} (set PROSE_MESH_VECTORS)")
    return VECTORS
