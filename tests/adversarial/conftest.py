"""Fixtures of the ADVERSARIAL.md §4 catalogue tests (memory backend, virtual time)."""

from __future__ import annotations

import pytest
import trio.testing


@pytest.fixture
def clock() -> trio.testing.MockClock:
    """Virtual time for the memory backend (pytest-trio runs the test under this clock)."""
    return trio.testing.MockClock(autojump_threshold=0)
