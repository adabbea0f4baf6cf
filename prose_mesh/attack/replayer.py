"""Replayer (ADVERSARIAL.md §4 A1, A5, A6): captures frames and re-injects them later.

Options (``M.Attacker.options``, schema ``_attacker_options``):

* ``capture`` — which frames to keep (:mod:`.capture` kinds; default ``any``);
* ``copies`` — replays of each captured frame (default 1);
* ``delay`` — seconds between hearing a frame and its first replay (default 0);
* ``to`` — UE names to re-address unicast frames to (the DST Layer-2 ID is rewritten; the
  frame is otherwise verbatim). Group frames reach every member in range anyway, so they are
  replayed verbatim once per copy.

Frames are replayed round-robin over everything captured (one copy of each in turn), so a
``count`` smaller than ``copies`` × captures spreads evenly. Captures heard before the attack
starts count (the attacker listens from the beginning of the run).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prose_mesh.attack import capture
from prose_mesh.attack.base import Heard, Role
from prose_mesh.errors import ConfigError
from prose_mesh.wire import fast

#: [EMU] distinct frames a replayer keeps (the oldest is forgotten first).
MAX_CAPTURES = 1024


class Replayer(Role):
    ROLE = "replayer"
    OPTIONS = frozenset({"capture", "copies", "delay", "to"})

    def __init__(self, name: str, **kw: Any) -> None:
        super().__init__(name, **kw)
        self.capture_kind = str(self.options.get("capture", "any"))
        if self.capture_kind not in capture.KINDS:
            raise ConfigError(f"attacker {name}: capture must be one of {capture.KINDS}")
        self.copies = int(self.options.get("copies", 1))
        self.delay = float(self.options.get("delay", 0.0))
        self.to = tuple(self.options.get("to", ()))
        if self.copies < 1 or self.delay < 0:
            raise ConfigError(f"attacker {name}: copies >= 1 and delay >= 0")
        # captured: sha -> [heard, replays still due]
        self.captures: dict[str, list[Any]] = {}

    def _ports(self) -> tuple[frozenset[int], frozenset[int]]:
        groups = self.world.groups.values()
        return (frozenset(g.monp_port for g in groups), frozenset(g.media_port for g in groups))

    def on_heard(self, h: Heard) -> None:
        if h.sha in self.captures or h.sha in self.sent:
            return
        monp, media = self._ports()
        if self.capture_kind not in capture.kinds_of(h.frame, monp_ports=monp, media_ports=media):
            return
        if len(self.captures) >= MAX_CAPTURES:
            self.counters["captures_forgotten"] += 1
            del self.captures[next(iter(self.captures))]
        self.captures[h.sha] = [h, self.copies]
        self.counters["captured"] += 1

    def _variants(self, frame: bytes) -> list[bytes]:
        """The frame as replayed: verbatim, or re-addressed to each ``to`` UE (unicast)."""
        pdu = capture.parse(frame)
        if pdu is None or pdu.shim.cast != fast.CAST_ONE_TO_ONE or not self.to:
            return [frame]
        out = []
        for name in self.to:
            l2 = self.world.l2ids.get(name)
            if l2 is None:
                continue
            buf = bytearray(frame)
            buf[14 + 5 : 14 + 8] = l2.to_bytes(3, "big")  # shim octets 5-7: DST L2 ID
            out.append(bytes(buf))
        return out or [frame]

    def frames(self) -> Iterator[tuple[str, bytes]]:
        import trio

        while True:
            sent = False
            for entry in list(self.captures.values()):
                h, due = entry
                if due <= 0 or trio.current_time() < h.t + self.delay:
                    continue
                entry[1] -= 1
                sent = True
                for frame in self._variants(h.frame):
                    yield self.capture_kind, frame
            if not sent:
                return
