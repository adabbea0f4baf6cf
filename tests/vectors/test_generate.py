"""The checked-in vector files are exactly what the deterministic generator writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from .generate import generate

HERE = Path(__file__).resolve().parent


@pytest.mark.slow
@pytest.mark.parametrize("stream", ["eccsi_sakke", "mikey"])
def test_generator_reproduces_checked_in_files(stream):
    for name, text in generate(only=stream).items():
        assert (HERE / name).read_text() == text, f"{name} differs from the generator output"
