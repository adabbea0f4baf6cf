"""The run's key log (``keys.jsonl``, like SSLKEYLOGFILE): the keys UEs installed, for
``prose-mesh decrypt``. Stub: the decrypt work fills :meth:`KeyLog.on_event`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prose_mesh.node.ue import Ue
    from prose_mesh.protocol.actions import Event

KEYLOG_NAME = "keys.jsonl"


class KeyLog:
    """Appends one JSON line per key a UE installs. ``on_event`` is the UE's ``on_event``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lines: list[dict[str, Any]] = []

    def on_event(self, ue: Ue, t: float, event: Event) -> None:
        """Called for every domain event of every UE (keys are read from the UE's machines)."""

    def close(self) -> None:
        if self._lines:
            with self.path.open("a") as f:
                for line in self._lines:
                    f.write(json.dumps(line, sort_keys=True) + "\n")
        self._lines = []
