"""A UE's accept/reject log: counters by kind and reason plus JSON Lines (ADVERSARIAL.md §5).

Every security-relevant input ends in exactly one ``Accepted`` or ``Rejected`` from a protocol
machine; the node adds its own drops at the boundary (a frame the package's parsers refused,
with the parser's reason). Counters answer "received = accepted + rejected with a reason";
the lines ``{"t","run","node","event":"accept"|"reject","kind","reason","peer"}`` (plus
``detail`` of a reject and ``octets`` of an accepted SRTP packet when known) go to the same
events log as the medium's own (``t`` on the medium's clock, seconds from the start of the run),
so one file tells a frame's story from ``tx`` to ``accept``.

Frames that are merely not addressed to this UE (another UE's unicast, a group it is not in)
are counted as ``filtered`` and not logged line by line: every UE in range hears them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

import trio

Sink = Callable[[list[dict[str, Any]]], None]

# The ``frame_sha256`` (medium.core.SHA_HEX digits) of the frame the current task is judging.
# A context variable, because Trio gives each task its own context: verdicts of a timer or an
# intent running meanwhile are not attributed to the frame being received.
FRAME: ContextVar[str | None] = ContextVar("prose_mesh_frame", default=None)


class UeLog:
    """Counters and JSONL lines of one UE. ``sink`` receives batches of event dicts."""

    def __init__(self, node: str, *, run: str = "", sink: Sink | None = None,
                 origin: float = 0.0) -> None:
        self.node = node
        self.run = run
        self.sink = sink
        self.origin = origin  # Trio time of t = 0 (the medium's origin)
        self.accepted: Counter[str] = Counter()  # by kind
        self.rejected: Counter[tuple[str, str]] = Counter()  # by (kind, reason)
        self.filtered: Counter[str] = Counter()  # not for me, by channel
        self.noted: Counter[str] = Counter()  # unauthenticated, no authority, by kind:what
        self.crypto_cpu_s = 0.0  # process time spent inside the protocol machines
        self.frames_in = 0
        self.frames_out = 0
        self.unaccounted = 0  # frames that ended in no verdict/filter, or in several (bug)
        self._lines: list[dict[str, Any]] = []

    def _line(self, event: str, kind: str, reason: str | None, peer: str | None,
              detail: str | None = None, octets: int | None = None) -> None:
        line: dict[str, Any] = {
            "t": round(trio.current_time() - self.origin, 6), "run": self.run,
            "node": self.node, "event": event, "kind": kind, "reason": reason, "peer": peer,
        }  # fmt: skip
        if detail:
            line["detail"] = detail
        if octets is not None:
            line["octets"] = octets
        frame = FRAME.get()
        if frame is not None:
            line["frame_sha256"] = frame
        self._lines.append(line)
        if len(self._lines) >= 256:
            self.flush()

    def accept(self, kind: str, peer: str | None = None, octets: int | None = None) -> None:
        """``octets``: the size of the unit end-to-end integrity covered (an SRTP packet), when
        the machine says; the offline figures use it to place a medium bit flip."""
        self.accepted[kind] += 1
        self._line("accept", kind, None, peer, octets=octets)

    def reject(self, kind: str, reason: str, peer: str | None = None,
               detail: str | None = None) -> None:
        self.rejected[(kind, str(reason))] += 1
        self._line("reject", kind, str(reason), peer, detail)

    def note(self, kind: str, what: str, peer: str | None = None) -> None:
        """An unauthenticated input that carries no authority (actions.Noted): the frame's
        verdict, but never an acceptance."""
        self.noted[f"{kind}:{what}"] += 1
        self._line("note", kind, None, peer, what)

    def event(self, name: str, data: dict[str, Any]) -> None:
        """A domain event (link_up, gmk_installed, call_joined, ...) as one JSONL line."""
        self._lines.append({
            "t": round(trio.current_time() - self.origin, 6), "run": self.run,
            "node": self.node, "event": "ue_event", "name": name,
            "data": {k: _jsonable(v) for k, v in data.items()},
        })  # fmt: skip
        if len(self._lines) >= 256:
            self.flush()

    def filter(self, what: str) -> None:
        self.filtered[what] += 1

    def flush(self) -> None:
        if self._lines and self.sink is not None:
            self.sink(self._lines)
        self._lines = []

    def summary(self) -> dict[str, Any]:
        by_kind: dict[str, dict[str, int]] = {}
        for (kind, reason), n in sorted(self.rejected.items()):
            by_kind.setdefault(kind, {})[reason] = n
        return {
            "frames_in": self.frames_in,
            "frames_out": self.frames_out,
            "unaccounted": self.unaccounted,
            "accepted": dict(sorted(self.accepted.items())),
            "rejected": by_kind,
            "filtered": dict(sorted(self.filtered.items())),
            "noted": dict(sorted(self.noted.items())),
            "crypto_cpu_ms": round(self.crypto_cpu_s * 1000.0, 3),
        }


def _jsonable(value: Any) -> Any:
    """Event data as JSON: octets as hex, sets as sorted lists, anything exotic as text."""
    if isinstance(value, bytes | bytearray):
        return bytes(value).hex()
    if isinstance(value, set | frozenset):
        return sorted(_jsonable(v) for v in value)
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)
