"""The UE's clock: Unix seconds as this UE reads them (ADVERSARIAL.md §2 "Clocks").

Namespaces do not isolate CLOCK_REALTIME, so every UE gets an injectable clock instead of
reading the host's: ``now() = trio.current_time() + epoch + offset``. The protocol machines are
given ``now`` on every call and never read a clock themselves.

* ``epoch`` maps Trio's clock to Unix time. On the memory backend Trio runs under
  ``trio.testing.MockClock`` whose virtual 0 is the start of the run, so the runner passes a
  fixed, realistic epoch (:data:`VIRTUAL_EPOCH`): a run is then reproducible from (scenario,
  seed), key period numbers included. On the netns backend the epoch is taken from the wall
  clock once (:func:`wall_epoch`).
* ``offset`` is this UE's clock error (scenario ``clock_offset``, ADVERSARIAL.md I1). It can
  change at run time (:meth:`UeClock.set_offset`, the scenario's ``set_clock`` action: a resync):
  every holder of the clock (the UE, its relay roles, bound ``now`` methods) reads the new
  time at once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import trio

#: 2026-09-21T20:26:40Z: a realistic Unix time for virtual 0 on the memory backend [EMU].
VIRTUAL_EPOCH = 1_790_000_000.0


def wall_epoch() -> float:
    """The epoch that makes ``trio.current_time() + epoch`` the host's Unix time now."""
    return time.time() - trio.current_time()


@dataclass(slots=True)
class UeClock:
    """Unix time as one UE reads it; ``to_trio`` turns a deadline back into Trio time."""

    epoch: float = VIRTUAL_EPOCH
    offset: float = 0.0

    def set_offset(self, offset: float) -> None:
        """Step the clock (I1 resync). [EMU] Timers already armed keep their Trio time, as
        timers on a monotonic clock do; deadlines set from now on read the new offset."""
        self.offset = offset

    def now(self) -> float:
        return trio.current_time() + self.epoch + self.offset

    def to_trio(self, unix: float) -> float:
        """The Trio time at which this UE's clock reads ``unix`` (for SetTimer deadlines)."""
        return unix - self.epoch - self.offset

    def at(self, trio_time: float) -> float:
        """What this UE's clock read (or will read) at Trio time ``trio_time``."""
        return trio_time + self.epoch + self.offset
