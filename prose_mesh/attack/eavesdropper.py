"""Eavesdropper (ADVERSARIAL.md §1, G3): records everything it hears, tries every key it holds.

An outsider holds no group or link key, so what it can "decrypt" is what travels in clear.
It looks for the run's media canary (``World.canary``, or the ``canary`` option as text) in
every frame heard and counts hits (``canary_hits``, must stay 0: media is never on the air in
clear), and keeps per-kind counts of what it heard (traffic analysis, :mod:`.capture`).
It never transmits.
"""

from __future__ import annotations

from typing import Any

from prose_mesh.attack import capture
from prose_mesh.attack.base import Heard, Role


class Eavesdropper(Role):
    ROLE = "eavesdropper"
    OPTIONS = frozenset({"canary"})

    def __init__(self, name: str, **kw: Any) -> None:
        super().__init__(name, **kw)
        text = self.options.get("canary")
        self.canaries = [c for c in (self.world.canary, text.encode() if text else b"") if c]

    def streams(self) -> list[Any]:
        return []  # it never transmits: no injection loop at all

    def on_heard(self, h: Heard) -> None:
        for kind in capture.kinds_of(h.frame):
            self.counters[f"heard.{kind}"] += 1
        if any(c in h.frame for c in self.canaries):
            self.counters["canary_hits"] += 1

    def figures(self) -> dict[str, float]:
        return {"canary_hits": float(self.counters["canary_hits"])}
