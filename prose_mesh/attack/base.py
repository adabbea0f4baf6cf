"""What every attacker role shares: the world it knows, its radio, its bounds, its counters.

ADVERSARIAL.md §1 (an attacker is a node with raw medium access) and §2 (floods are bounded in
count and duration and rate-capped; attack generators inject through the same medium, and the
medium tags what they send). A role is built from a scenario's ``M.Attacker`` (:meth:`Role.
from_model`) or from keyword arguments, attached to the air with ``air.attach(name, position,
attack=name)`` (:meth:`Role.attach`), and run in a Trio nursery (:meth:`Role.run`):

* it **listens** from the moment it runs (an attacker records before it attacks: A1 captures the
  GMK distribution that precedes its start) into a bounded :attr:`Role.heard` ring;
* it **injects** only while active — between ``start`` and ``stop`` (seconds from the world's
  origin) or between :meth:`Role.activate` and :meth:`Role.deactivate` (the timeline's
  ``attack_start`` / ``attack_stop``) — paced by a token bucket at ``rate`` frames/s, and
  never more than ``count`` frames in all: both bounds always hold (defaults below);
* it **counts**: ``heard``, ``injected`` and ``injected.<kind>``, ``refused.<why>`` for frames
  it could not build, and the SHAs of the last :data:`MAX_SENT` frames it sent
  (:attr:`Role.sent`: a role does not capture its own frames back). A run attributes the
  receivers' verdicts to it by the medium's tag on its ``tx`` lines (``frame_sha256``), not by
  a set of every SHA, which a 30-minute flood would grow by hundreds of MB (J2).

Subclasses implement :meth:`Role.frames` (what to send next) and optionally :meth:`Role.on_heard`.
"""

from __future__ import annotations

import math
import random
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

import trio

from prose_mesh.errors import ConfigError, ProseMeshError
from prose_mesh.medium.core import frame_sha
from prose_mesh.node.clock import VIRTUAL_EPOCH, UeClock
from prose_mesh.protocol.ratelimit import TokenBucket
from prose_mesh.wire import fast

if TYPE_CHECKING:
    from prose_mesh.medium.air import Air, Radio
    from prose_mesh.node.provision import Provisioned
    from prose_mesh.protocol.groups import GroupConfig
    from prose_mesh.scenario import model as M

#: [EMU] default injection rate (frames/s) when a role is given none.
DEFAULT_RATE = 10.0
#: ADVERSARIAL.md §2: one Python flooder at full speed makes ~35 k frames/s; cap above it.
MAX_RATE = 50_000.0
#: [EMU] default bound on the frames one attacker injects when the scenario sets no count.
DEFAULT_COUNT = 1_000_000
#: [EMU] frames kept in the heard ring (oldest dropped first).
MAX_HEARD = 4096
#: [EMU] SHAs of its own injected frames a role remembers, so as not to capture them back.
MAX_SENT = 8192
#: [EMU] token-bucket burst as a share of a second's worth of frames (pacing granularity).
BURST_S = 0.01


class Heard(NamedTuple):
    """A frame the attacker's radio received: when (Trio time), the octets, and its SHA."""

    t: float
    frame: bytes
    sha: str


@dataclass
class World:
    """What an attacker knows or can learn about the deployment it attacks.

    ``l2ids``/``uris`` are public (heard on the air, or in the address book); ``prov`` is the
    provisioning of every UE, which a role may only use for an identity it is configured to
    hold (insider ``as``, tamperer ``signer``); ``groups`` maps scenario group IDs to their
    configuration (L2 group ID, multicast address and ports are public on the air).
    """

    origin: float = 0.0  # Trio time of the run's t = 0
    l2ids: dict[str, int] = field(default_factory=dict)
    uris: dict[str, str] = field(default_factory=dict)
    prov: Mapping[str, Provisioned] = field(default_factory=dict)
    groups: Mapping[str, GroupConfig] = field(default_factory=dict)
    members: Mapping[str, set[str]] = field(default_factory=dict)  # scenario group -> UE names
    epoch: float = VIRTUAL_EPOCH
    canary: bytes = b""  # the run's media canary (eavesdropper: must never be seen in clear)

    def clock(self, offset: float = 0.0) -> UeClock:
        return UeClock(self.epoch, offset)

    def name_of_l2(self, l2id: int) -> str | None:
        for name, v in self.l2ids.items():
            if v == l2id:
                return name
        return None


class Role:
    """Base of every attacker role; see the module docstring for the lifecycle."""

    ROLE: ClassVar[str] = ""
    #: option keys this role understands (anything else is refused by :meth:`check_options`).
    OPTIONS: ClassVar[frozenset[str]] = frozenset()

    def __init__(
        self,
        name: str,
        *,
        world: World | None = None,
        targets: Iterable[str] = (),
        start: float | None = 0.0,
        stop: float | None = None,
        rate: float | None = None,
        count: int | None = None,
        seed: int | None = None,
        clock_offset: float = 0.0,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        if rate is not None and not 0 < rate <= MAX_RATE:
            raise ConfigError(f"attacker {name}: rate must be in (0, {MAX_RATE:g}] frames/s")
        if count is not None and count < 0:
            raise ConfigError(f"attacker {name}: count must be >= 0")
        self.name = name
        self.world = world if world is not None else World()
        self.targets = tuple(targets)
        self.start = start  # None: only the timeline's attack_start activates it
        self.stop = stop
        self.rate = float(rate) if rate is not None else DEFAULT_RATE
        self.count = count if count is not None else DEFAULT_COUNT
        self.seed = seed
        self.rng = random.Random(seed)
        self.clock_offset = clock_offset
        self.options: dict[str, Any] = dict(options or {})
        self.check_options()
        self.radio: Radio | None = None
        self.heard: deque[Heard] = deque(maxlen=MAX_HEARD)
        self.counters: Counter[str] = Counter()
        self.sent = RecentShas(MAX_SENT)  # frame_sha256 of the frames injected last
        self.injected = 0
        self.active = False
        self.done = False  # a bound (count or stop) ended the attack for good
        self.active_since: float | None = None
        self.windows: list[tuple[float, float]] = []  # (from, to) Trio times it was active
        self._changed = trio.Event()

    # -- construction ----------------------------------------------------------------------
    @classmethod
    def from_model(cls, a: M.Attacker, world: World, targets: Iterable[str] = ()) -> Role:
        """Build from a scenario attacker; ``targets`` are its selectors already expanded to
        UE names (the caller knows the groups)."""
        return cls(a.name, world=world, targets=targets, start=a.start, stop=a.stop,
                   rate=a.rate, count=a.count, seed=a.seed, clock_offset=a.clock_offset,
                   options=dict(a.options))  # fmt: skip

    def check_options(self) -> None:
        unknown = set(self.options) - self.OPTIONS
        if unknown:
            raise ConfigError(
                f"attacker {self.name} ({self.ROLE}): unknown option(s) {sorted(unknown)}"
            )

    @property
    def clock(self) -> UeClock:
        """The attacker's own clock (its ``clock_offset`` applies to T values it writes)."""
        return self.world.clock(self.clock_offset)

    async def attach(self, air: Air, position: tuple[float, float] | None = None) -> Radio:
        """Attach a radio for this attacker; the medium tags what it sends with its name."""
        self.radio = await air.attach(self.name, position, attack=self.name)
        return self.radio

    # -- lifecycle ---------------------------------------------------------------------------
    def activate(self) -> None:
        if self.active or self.done:
            return
        self.active = True
        self.active_since = trio.current_time()
        self._wake()

    def deactivate(self) -> None:
        if not self.active:
            return
        self.active = False
        assert self.active_since is not None
        self.windows.append((self.active_since, trio.current_time()))
        self.active_since = None
        self._wake()

    def _finish(self) -> None:
        self.deactivate()
        self.done = True
        self._wake()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    def was_active(self, t: float) -> bool:
        """Was the attack active at Trio time ``t``?"""
        if self.active_since is not None and t >= self.active_since:
            return True
        return any(a <= t < b for a, b in self.windows)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Listen, follow the schedule, inject while active; until cancelled."""
        if self.radio is None:
            raise ConfigError(f"attacker {self.name}: no radio attached")
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._listen)
            nursery.start_soon(self._schedule)
            await self.started(nursery)
            for rate, make in self.streams():
                nursery.start_soon(self._inject_loop, rate, make)
            task_status.started()

    async def started(self, nursery: trio.Nursery) -> None:
        """Hook: extra tasks of a role (the insider's stolen UE), before injection starts."""

    async def _schedule(self) -> None:
        origin = self.world.origin
        if self.start is not None:
            await trio.sleep_until(origin + self.start)
            self.activate()
        if self.stop is not None:
            await trio.sleep_until(origin + self.stop)
            self._finish()

    async def _listen(self) -> None:
        assert self.radio is not None
        async for frame in self.radio:
            self.counters["heard"] += 1
            h = Heard(trio.current_time(), frame, frame_sha(frame))
            self.heard.append(h)
            try:
                self.on_heard(h)
            except ProseMeshError as exc:  # a frame the role cannot make sense of
                self.counters[f"unparsed.{exc.reason}"] += 1

    def on_heard(self, h: Heard) -> None:
        """Hook: look at a frame just heard (capture it for later, learn a sequence number)."""

    # -- injection -------------------------------------------------------------------------------
    def frames(self) -> Iterable[tuple[str, bytes]]:
        """Hook: the (kind, Ethernet frame) pairs to send, lazily; consumed one per token.
        An exhausted iterator is asked again after :meth:`idle` (nothing to send yet)."""
        return ()

    async def idle(self) -> None:
        """Nothing to send right now: wait a little (new captures may come)."""
        await trio.sleep(0.01)

    def streams(self) -> list[tuple[float, Callable[[], Iterable[tuple[str, bytes]]]]]:
        """(rate, frame source) of each paced stream; one at ``rate`` by default. The
        ``count`` bound is shared by all streams."""
        return [(self.rate, self.frames)]

    async def _inject_loop(
        self, rate: float, make: Callable[[], Iterable[tuple[str, bytes]]]
    ) -> None:
        bucket = TokenBucket(rate, max(1.0, rate * BURST_S))
        source = iter(make())
        while not self.done:
            if not self.active:
                await self._changed.wait()
                continue
            if self.injected >= self.count:
                self._finish()
                return
            now = trio.current_time()
            tokens = bucket.available(now)
            if tokens < 1.0:
                await pace(tokens, rate)
                continue
            item = next(source, None)
            if item is None:
                await self.idle()
                source = iter(make())
                continue
            bucket.take(now)
            await self.send(*item)

    async def send(self, kind: str, frame: bytes) -> bool:
        """Put one frame on the air now, within the bounds; returns False when refused."""
        if self.radio is None or self.done or self.injected >= self.count:
            return False
        try:
            await self.radio.send(frame)
        except ProseMeshError as exc:
            self.counters[f"refused.{exc.reason}"] += 1
            return False
        self.injected += 1
        self.counters["injected"] += 1
        self.counters[f"injected.{kind}"] += 1
        self.sent.add(frame_sha(frame))
        return True

    def eth(self, payload: bytes) -> bytes:
        """An Ethernet frame of this attacker's radio around a PC5-EMU payload."""
        mac = self.radio.mac if self.radio is not None else b"\x02\0\0\0\0\x01"
        return fast.ethernet(mac, payload)

    def figures(self) -> dict[str, float]:
        """Role-specific figures for the run's report (``attack.<name>.<key>``)."""
        return {}


def random_l2id(rng: random.Random, avoid: Callable[[int], bool] = lambda v: False) -> int:
    """A random 24-bit unicast Layer-2 ID (not 0, not the SL-DCH broadcast 0xFFFFFF)."""
    while True:
        v = rng.randrange(1, 0xFFFFFF)
        if not avoid(v):
            return v


def inf_or(x: float | None) -> float:
    return math.inf if x is None else x


#: shortest pacing sleep (s): float rounding must not leave the bucket a hair short forever
MIN_SLEEP = 1e-6


async def pace(tokens: float, rate: float) -> None:
    """Sleep until a bucket holding ``tokens`` (< 1) at ``rate`` tokens/s has one more."""
    await trio.sleep(max((1.0 - tokens) / rate, MIN_SLEEP))


class RecentShas:
    """The last ``size`` SHAs added, in a set-like view (``in``, ``len``, iteration): the
    oldest is forgotten first, so a long flood keeps its memory flat."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._shas: dict[str, None] = {}  # insertion-ordered: the first key is the oldest

    def add(self, sha: str) -> None:
        self._shas.pop(sha, None)
        self._shas[sha] = None
        if len(self._shas) > self.size:
            del self._shas[next(iter(self._shas))]

    def __contains__(self, sha: object) -> bool:
        return sha in self._shas

    def __len__(self) -> int:
        return len(self._shas)

    def __iter__(self) -> Iterator[str]:
        return iter(self._shas)
