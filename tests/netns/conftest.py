"""Namespace tests run as root; each one checks afterwards that it left nothing behind."""

from __future__ import annotations

import os

import pytest
from support import no_netns_leaks


@pytest.fixture(autouse=True)
def root_and_no_leaks():
    if os.geteuid() != 0:
        pytest.skip("network namespace tests need root (CAP_NET_ADMIN)")
    with no_netns_leaks():
        yield
