"""The radio medium, sans-I/O: who hears a frame, and what happens to each copy.

ARCHITECTURE.md decision 2 and ADVERSARIAL.md §2, §5. No sockets and no clock here: a driver
(the ``memory`` or ``netns`` backend) hands in ``transmit(sender, frame, now)`` and gets back
the deliveries to make, each with the time it is due; it reports back with ``delivered`` or
``dropped`` when it hands a copy over (or cannot). Every decision is appended to ``events``
(JSON-ready dicts the driver drains into events.jsonl), and ``counters`` keep, per
(sender, receiver), ``sent = delivered + dropped (by reason) + in flight``.

Who hears whom:

* **explicit** (no range, no path loss): a directed pair hears each other once ``connect`` or
  ``set_link`` named it;
* **range**: UEs with positions hear each other within ``range_m`` and/or while the
  :class:`PathLoss` budget allows; ``connect`` adds extra pairs on top.

A UE that has left coverage hears nobody and nobody hears it. Pairs that do not hear each other
are not receivers, so they produce no events; ``link_down`` keeps the pair and drops with reason
``link_down``, a timed ``down`` window with ``down_window``.

Airtime (``set_capacity``): a transmission of L octets lasts τ = 8L / capacity and occupies the
channel of the sender and of every UE that hears it. The sender starts when its own channel is
free; each receiver takes the copy when *its* channel is free. A copy that would wait more than
``max_queue_ms`` is dropped with reason ``capacity`` (a whole transmission, when the sender's
own channel is that busy). Sidelink congestion control bounds what one node may take: over any
CR_WINDOW_S its transmissions occupy at most ``cr_limit`` of the channel (TS 36.213 §14.1.1.4C,
the channel occupancy ratio limit); a frame beyond it is not sent (reason ``cr_limit``). So a
flooder near a UE takes at most that share of the UE's air time: the UE's other traffic queues
behind it, then drops - counted, never silent.

Randomness comes from one ``random.Random(seed)``; receivers are visited in attach order, so a
run is reproducible from (scenario, seed).
"""

from __future__ import annotations

import hashlib
import math
import random
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from prose_mesh.errors import ConfigError
from prose_mesh.medium.params import PERFECT, LinkParams, PathLoss

Position = tuple[float, float]
ETH_HEADER = 14
# [EMU] one node's largest share of the channel over CR_WINDOW_S (3GPP configures CR_limit per
# priority and channel busy ratio; one value here, the scenario's capacity.cr_limit)
CR_LIMIT = 0.25
CR_WINDOW_S = 1.0  # the CR evaluation window (TS 36.214 §5.1.31: 1000 ms)
SHA_HEX = 16  # frame_sha256 is the first 16 hex digits (64 bits) of SHA-256 over the frame


def frame_sha(frame: bytes) -> str:
    """A frame's ``frame_sha256`` (first :data:`SHA_HEX` hex digits of SHA-256): the name the
    medium's, the UEs', the relays' and the attackers' lines all give it."""
    return hashlib.sha256(frame).hexdigest()[:SHA_HEX]


class Delivery:
    """One copy of a frame due at ``receiver`` at time ``at`` (medium clock, seconds)."""

    __slots__ = ("at", "dup", "flags", "flip", "frame", "receiver", "sender", "sha", "tx")

    def __init__(
        self, sender: str, receiver: str, frame: bytes, at: float, flags: tuple[str, ...],
        tx: int, sha: str, dup: bool = False, flip: tuple[int, int] | None = None,
    ) -> None:
        self.sender = sender
        self.receiver = receiver
        self.frame = frame
        self.at = at
        self.flags = flags
        self.tx = tx
        self.sha = sha
        self.dup = dup
        self.flip = flip  # (octet, bit) the medium's ``corrupt`` flipped in this copy

    def __repr__(self) -> str:
        return f"Delivery({self.sender}->{self.receiver} tx={self.tx} at={self.at:.6f})"


@dataclass
class PairCount:
    """Per directed pair. Duplicated copies are counted apart so ``sent`` stays one per tx."""

    sent: int = 0
    delivered: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    dup_created: int = 0
    dup_delivered: int = 0
    dup_dropped: int = 0

    @property
    def in_flight(self) -> int:
        return self.sent - self.delivered - sum(self.dropped.values())


class _Node:
    __slots__ = ("attack", "covered", "name", "position", "serial")

    def __init__(
        self, name: str, serial: int, position: Position | None, attack: str | None
    ) -> None:
        self.name = name
        self.serial = serial
        self.position = position
        self.attack = attack
        self.covered = True


class _LinkState:
    """Parameters of one directed link plus the state netem keeps per qdisc."""

    __slots__ = ("busy_until", "ge_bad", "last_jitter", "params", "reorder_count")

    def __init__(self, params: LinkParams) -> None:
        self.params = params
        self.ge_bad = False
        self.last_jitter = 0.0
        self.reorder_count = 0
        self.busy_until = 0.0


class Medium:
    """The shared channel. See the module docstring for the model; all times are seconds."""

    def __init__(
        self,
        seed: int = 0,
        run: str = "",
        *,
        range_m: float | None = None,
        path_loss: PathLoss | None = None,
        origin: float = 0.0,
    ) -> None:
        self.run = run
        self.seed = seed
        self.origin = origin  # medium time that the event log calls t = 0
        self.rng = random.Random(seed)
        self.range_m = range_m
        self.path_loss = path_loss
        self.default = PERFECT
        self.capacity_bps: float | None = None
        self.max_queue_s = 0.05
        self.cr_limit = CR_LIMIT
        self._cr: dict[str, deque[tuple[float, float]]] = {}  # sender -> (start, air time)
        self._cr_used: dict[str, float] = {}
        self.events: list[dict[str, Any]] = []
        self.counters: dict[tuple[str, str], PairCount] = {}
        self._nodes: dict[str, _Node] = {}
        self._serial = 0
        self._links: dict[tuple[str, str], _LinkState] = {}
        self._default_links: dict[tuple[str, str], _LinkState] = {}
        self._connected: set[tuple[str, str]] = set()
        self._admin_down: set[tuple[str, str]] = set()
        self._busy: dict[str, float] = {}
        self._hearers: dict[str, list[tuple[str, _LinkState | None, float]]] = {}
        self._tx = 0
        self.unaddressed = 0  # hearers not carried a copy of an addressed frame (scale runs)

    # -- nodes ----------------------------------------------------------------------------
    def add_node(
        self, name: str, position: Position | None = None, *, attack: str | None = None
    ) -> None:
        """Add a UE; ``attack`` tags every event of its frames (ADVERSARIAL.md §5)."""
        if name in self._nodes:
            raise ConfigError(f"UE {name!r} is already on the medium")
        self._serial += 1
        self._nodes[name] = _Node(name, self._serial, _pos(position), attack)
        self._hearers.clear()

    def remove_node(self, name: str) -> None:
        self._node(name)
        del self._nodes[name]
        self._busy.pop(name, None)
        self._hearers.clear()

    @property
    def nodes(self) -> list[str]:
        return list(self._nodes)

    def mark_attacker(self, name: str, tag: str | None) -> None:
        self._node(name).attack = tag

    def move(self, name: str, position: Position) -> None:
        self._node(name).position = _pos(position)
        self._hearers.clear()

    def position(self, name: str) -> Position | None:
        return self._node(name).position

    def leave_coverage(self, name: str) -> None:
        self._node(name).covered = False
        self._hearers.clear()

    def enter_coverage(self, name: str) -> None:
        self._node(name).covered = True
        self._hearers.clear()

    # -- topology and impairments ------------------------------------------------------------
    def set_range(self, range_m: float | None) -> None:
        if range_m is not None and range_m < 0:
            raise ConfigError("range must be >= 0")
        self.range_m = range_m
        self._hearers.clear()

    def set_path_loss(self, model: PathLoss | None) -> None:
        self.path_loss = model
        self._hearers.clear()

    def connect(self, a: str, b: str, *, symmetric: bool = True) -> None:
        for pair in _pairs(a, b, symmetric):
            self._node(pair[0]), self._node(pair[1])
            self._connected.add(pair)
        self._hearers.clear()

    def disconnect(self, a: str, b: str, *, symmetric: bool = True) -> None:
        for pair in _pairs(a, b, symmetric):
            self._connected.discard(pair)
        self._hearers.clear()

    def set_link(self, a: str, b: str, params: LinkParams, *, symmetric: bool = True) -> None:
        """Impair a → b (and b → a). In explicit mode this also connects the pair."""
        for pair in _pairs(a, b, symmetric):
            self._node(pair[0]), self._node(pair[1])
            self._links[pair] = _LinkState(params)
            if self._explicit:
                self._connected.add(pair)
        self._hearers.clear()

    def set_default(self, params: LinkParams) -> None:
        """Parameters of every pair that has none of its own."""
        self.default = params
        self._default_links.clear()
        self._hearers.clear()

    def link_down(self, a: str, b: str, *, symmetric: bool = True) -> None:
        self._admin_down.update(_pairs(a, b, symmetric))

    def link_up(self, a: str, b: str, *, symmetric: bool = True) -> None:
        self._admin_down.difference_update(_pairs(a, b, symmetric))

    def set_capacity(self, capacity_bps: float | None, max_queue_ms: float = 50.0,
                     cr_limit: float = CR_LIMIT) -> None:
        """Turn the airtime model on (bits per second per neighbourhood) or off (None).

        ``cr_limit``: the largest share of the channel one node may occupy over any
        CR_WINDOW_S (sidelink congestion control, TS 36.213 §14.1.1.4C: a UE keeps its channel
        occupancy ratio CR at or below CR_limit). A frame that would exceed it is not sent:
        every copy is dropped with reason ``cr_limit`` (so one node, a flooder included, cannot
        take the whole channel)."""
        if capacity_bps is not None and not capacity_bps > 0:
            raise ConfigError("capacity must be > 0 bit/s")
        if not 0.0 < cr_limit <= 1.0:
            raise ConfigError("cr_limit must be in (0, 1]")
        self.capacity_bps = capacity_bps
        self.max_queue_s = max_queue_ms / 1000.0
        self.cr_limit = cr_limit

    def reset_impairments(self) -> None:
        """Back to perfect links: no per-pair parameters, no admin downs, no capacity limit."""
        self._links.clear()
        self._default_links.clear()
        self._admin_down.clear()
        self.default = PERFECT
        self.capacity_bps = None
        self._hearers.clear()

    def hears(self, sender: str) -> list[str]:
        """The UEs that currently receive ``sender``'s frames, in attach order."""
        return [r for r, _st, _edge in self._hearers_of(sender)]

    # -- the hot path ---------------------------------------------------------------------------
    def transmit(self, sender: str, frame: bytes, now: float, *,
                 addressees: frozenset[str] | None = None) -> list[Delivery]:
        """``sender`` put ``frame`` on the air at ``now``: decide the fate of every copy.

        ``addressees`` (scale runs only, see :mod:`prose_mesh.scale.addressed`): the frame is
        carried to these UEs only; the other hearers get no copy, no per-copy event and no
        pair count - the ``tx`` line says how many (``unaddressed``) instead. The airtime
        model still charges the whole neighbourhood (the frame is on the air)."""
        node = self._node(sender)
        self._tx += 1
        tx = self._tx
        sha = frame_sha(frame)
        attack = node.attack
        t = self._t(now)
        line: dict[str, Any] = {"t": t, "run": self.run, "node": sender, "event": "tx",
                                "tx": tx, "frame_sha256": sha, "src": sender,
                                "len": len(frame), "attack": attack}
        self.events.append(line)
        out: list[Delivery] = []
        hearers = self._hearers_of(sender)
        skipped: list[str] = []
        if addressees is not None and hearers:
            skipped = [h[0] for h in hearers if h[0] not in addressees]
            if skipped:
                hearers = [h for h in hearers if h[0] in addressees]
                line["unaddressed"] = len(skipped)
                self.unaddressed += len(skipped)
        if not hearers and not skipped:
            return out
        start = now
        tau = 0.0
        cap = self.capacity_bps
        if cap is not None:
            tau = len(frame) * 8.0 / cap
            start = max(now, self._busy.get(sender, now))
            refused = "capacity" if start - now > self.max_queue_s else self._cr_refuses(
                sender, now, tau)
            if refused is not None:
                for receiver, _st, _edge in hearers:
                    self._count(sender, receiver).sent += 1
                    self._drop_now(sender, receiver, tx, sha, attack, t, refused)
                return out
            self._busy[sender] = start + tau
            if skipped:
                self._charge_unaddressed(skipped, start, tau)
        rng = self.rng
        admin_down = self._admin_down
        for receiver, st, edge in hearers:
            self._count(sender, receiver).sent += 1
            if (sender, receiver) in admin_down:
                self._drop_now(sender, receiver, tx, sha, attack, t, "link_down")
                continue
            if st is None and not edge and cap is None:  # perfect link: no draws at all
                out.append(Delivery(sender, receiver, frame, now, (), tx, sha))
                continue
            p = st.params if st is not None else PERFECT
            if p.down and any(a <= t < b for a, b in p.down):
                self._drop_now(sender, receiver, tx, sha, attack, t, "down_window")
                continue
            at = now
            if cap is not None:
                rx_start = max(start, self._busy.get(receiver, start))
                if rx_start - start > self.max_queue_s:
                    self._drop_now(sender, receiver, tx, sha, attack, t, "capacity")
                    continue
                self._busy[receiver] = rx_start + tau
                at = rx_start + tau
            if st is None:  # only the cell-edge fade applies
                if edge and rng.random() < edge:
                    self._drop_now(sender, receiver, tx, sha, attack, t, "fading")
                    continue
                out.append(Delivery(sender, receiver, frame, at, (), tx, sha))
                continue
            reason = _lose(p, st, rng)
            if reason is None and edge and rng.random() < edge:
                reason = "fading"
            if reason is not None:
                self._drop_now(sender, receiver, tx, sha, attack, t, reason)
                continue
            flags: list[str] = []
            if p.rate_bps is not None:
                at = max(at, st.busy_until) + len(frame) * 8.0 / p.rate_bps
                st.busy_until = at
            delay = _delay(p, st, rng)
            if delay and (p.reorder or p.reorder_gap):
                if p.reorder_gap == 0 or st.reorder_count >= p.reorder_gap - 1:
                    if rng.random() < p.reorder:
                        delay = 0.0
                        flags.append("reorder")
                        st.reorder_count = 0
                    else:
                        st.reorder_count += 1
                else:
                    st.reorder_count += 1
            copy = frame
            flip = None
            if p.corrupt and len(frame) > ETH_HEADER and rng.random() < p.corrupt:
                buf = bytearray(frame)
                flip = (rng.randrange(ETH_HEADER, len(frame)), rng.randrange(8))
                buf[flip[0]] ^= 1 << flip[1]
                copy = bytes(buf)
                flags.append("corrupt")
            out.append(Delivery(sender, receiver, copy, at + delay, tuple(flags), tx, sha,
                                flip=flip))
            if p.duplicate and rng.random() < p.duplicate:
                self._count(sender, receiver).dup_created += 1
                dup_delay = _delay(p, st, rng)
                out.append(Delivery(sender, receiver, copy, at + dup_delay, (*flags, "dup"), tx,
                                    sha, True, flip))
        return out

    def delivered(self, d: Delivery, now: float) -> None:
        """The driver handed ``d`` to its receiver at ``now``."""
        c = self._count(d.sender, d.receiver)
        if d.dup:
            c.dup_delivered += 1
        else:
            c.delivered += 1
        node = self._nodes.get(d.sender)
        line = {"t": self._t(now), "run": self.run, "node": d.receiver, "event": "deliver",
                "tx": d.tx, "frame_sha256": d.sha, "src": d.sender, "dst": d.receiver,
                "flags": list(d.flags), "attack": node.attack if node else None}
        if d.flip is not None:
            # which bit of the copy was flipped, and the copy's own SHA (what the receiver's
            # verdict line names): a verdict on it is matched to this line exactly, and the
            # figures can tell a flip in a field end-to-end integrity covers from one in a header
            # nothing checks (scenario.figures_adversarial, scenario.invariants)
            line["copy_sha256"] = frame_sha(d.frame)
            line["flip"] = {"octet": d.flip[0], "bit": d.flip[1], "len": len(d.frame)}
        self.events.append(line)

    def dropped(self, d: Delivery, reason: str, now: float) -> None:
        """The driver could not hand ``d`` over (receiver gone, queue full, run closed)."""
        c = self._count(d.sender, d.receiver)
        if d.dup:
            c.dup_dropped += 1
            self.events.append(self._drop_event(d.sender, d.receiver, d.tx, d.sha, None,
                                                self._t(now), reason, dup=True))
            return
        node = self._nodes.get(d.sender)
        c.dropped[reason] += 1
        self.events.append(self._drop_event(d.sender, d.receiver, d.tx, d.sha,
                                            node.attack if node else None, self._t(now),
                                            reason))

    @property
    def transmissions(self) -> int:
        """Frames put on the air so far (the ``tx`` counter of the event log)."""
        return self._tx

    def take_events(self) -> list[dict[str, Any]]:
        out, self.events = self.events, []
        return out

    def totals(self) -> PairCount:
        total = PairCount()
        for c in self.counters.values():
            total.sent += c.sent
            total.delivered += c.delivered
            total.dropped.update(c.dropped)
            total.dup_created += c.dup_created
            total.dup_delivered += c.dup_delivered
            total.dup_dropped += c.dup_dropped
        return total

    # -- internals --------------------------------------------------------------------------
    @property
    def _explicit(self) -> bool:
        return self.range_m is None and self.path_loss is None

    def _t(self, now: float) -> float:
        """Event-log time: seconds since the run began, to the nanosecond (so that runs that
        start at different clock readings log identical times)."""
        return round(now - self.origin, 9)

    def _node(self, name: str) -> _Node:
        try:
            return self._nodes[name]
        except KeyError:
            raise ConfigError(f"no UE called {name!r} on the medium") from None

    def _count(self, s: str, r: str) -> PairCount:
        c = self.counters.get((s, r))
        if c is None:
            c = self.counters[(s, r)] = PairCount()
        return c

    def _cr_refuses(self, sender: str, now: float, tau: float) -> str | None:
        """``cr_limit`` if sending ``tau`` s of air time now would take ``sender``'s channel
        occupancy over the last CR_WINDOW_S above ``cr_limit``; else record it and None."""
        window = self._cr.get(sender)
        if window is None:
            window = self._cr[sender] = deque()
        used = self._cr_used.get(sender, 0.0)
        while window and window[0][0] <= now - CR_WINDOW_S:
            used -= window.popleft()[1]
        if used + tau > self.cr_limit * CR_WINDOW_S + 1e-12:
            self._cr_used[sender] = used
            return "cr_limit"
        window.append((now, tau))
        self._cr_used[sender] = used + tau
        return None

    def _charge_unaddressed(self, skipped: list[str], start: float, tau: float) -> None:
        """The channels of hearers an addressed frame skips are busy for its air time all the
        same: advance them as a carried copy would (no queueing verdict, no event)."""
        busy = self._busy
        for receiver in skipped:
            rx_start = max(start, busy.get(receiver, start))
            if rx_start - start <= self.max_queue_s:
                busy[receiver] = rx_start + tau

    def _drop_event(
        self, s: str, r: str, tx: int, sha: str, attack: str | None, t: float, reason: str,
        dup: bool = False,
    ) -> dict[str, Any]:
        ev = {"t": t, "run": self.run, "node": r, "event": "drop", "tx": tx,
              "frame_sha256": sha, "src": s, "dst": r, "reason": reason, "attack": attack}
        if dup:
            ev["flags"] = ["dup"]
        return ev

    def _drop_now(
        self, s: str, r: str, tx: int, sha: str, attack: str | None, t: float, reason: str
    ) -> None:
        self._count(s, r).dropped[reason] += 1
        self.events.append(self._drop_event(s, r, tx, sha, attack, t, reason))

    def _hearers_of(self, sender: str) -> list[tuple[str, _LinkState | None, float]]:
        cached = self._hearers.get(sender)
        if cached is not None:
            return cached
        me = self._node(sender)
        out: list[tuple[str, _LinkState | None, float]] = []
        impaired_default = not self.default.perfect
        if me.covered:
            for other in self._nodes.values():  # dicts keep attach order
                if other is me or not other.covered:
                    continue
                pair = (sender, other.name)
                edge = self._reach(me, other)
                if edge is None and pair not in self._connected:
                    continue
                st = self._links.get(pair)
                if st is None and impaired_default:
                    st = self._default_links.get(pair)
                    if st is None:
                        st = self._default_links[pair] = _LinkState(self.default)
                out.append((other.name, st, edge or 0.0))
        self._hearers[sender] = out
        return out

    def _reach(self, a: _Node, b: _Node) -> float | None:
        """None if b cannot hear a by distance, else b's extra (cell-edge) loss probability."""
        if self._explicit or a.position is None or b.position is None:
            return None
        d = math.dist(a.position, b.position)
        if self.range_m is not None and d > self.range_m:
            return None
        if self.path_loss is not None:
            return self.path_loss.edge_loss(d)
        return 0.0


def _lose(p: LinkParams, st: _LinkState, rng: random.Random) -> str | None:
    if p.gemodel is not None:
        ge = p.gemodel
        # netem's order: move the chain, then draw the loss in the new state.
        if st.ge_bad:
            if rng.random() < ge.r:
                st.ge_bad = False
        elif rng.random() < ge.p:
            st.ge_bad = True
        lossy = ge.one_minus_h if st.ge_bad else ge.one_minus_k
        return "loss_gemodel" if lossy and rng.random() < lossy else None
    if p.loss and rng.random() < p.loss:
        return "loss"
    return None


def _delay(p: LinkParams, st: _LinkState, rng: random.Random) -> float:
    if not p.jitter_ms:
        return p.delay_ms / 1000.0
    sample = rng.gauss(0.0, 1.0) if p.distribution == "normal" else 2.0 * rng.random() - 1.0
    if p.delay_corr:
        sample = (1.0 - p.delay_corr) * sample + p.delay_corr * st.last_jitter
        st.last_jitter = sample
    return max(0.0, p.delay_ms + p.jitter_ms * sample) / 1000.0


def _pairs(a: str, b: str, symmetric: bool) -> list[tuple[str, str]]:
    if a == b:
        raise ConfigError("a link needs two different UEs")
    return [(a, b), (b, a)] if symmetric else [(a, b)]


def _pos(position: Position | None) -> Position | None:
    if position is None:
        return None
    x, y = position
    return (float(x), float(y))
