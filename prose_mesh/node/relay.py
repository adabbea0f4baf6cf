"""The Trio side of relaying, hooked into a :class:`~prose_mesh.node.ue.Ue` (issue #6).

A :class:`RelayNode` attached as ``ue.relay`` sees every frame the UE receives before the
cheap checks (:meth:`RelayNode.on_frame`), and every frame it sends (:meth:`on_own_send`):

* a relay envelope (:mod:`prose_mesh.wire.relay`) is opened, checked against the duplicate
  cache, forwarded when the rules of :class:`~prose_mesh.protocol.relay.Forwarder` say so, and
  its inner frame goes down the UE's normal receive path (:meth:`Ue.dispatch_pdu`), where the
  end-to-end protections (one-to-many PDCP, SRTP, ECCSI-signed MIKEY, the one-to-one link's
  PDCP integrity) judge it exactly as if it had been heard directly — a relay holds none of
  those keys unless it is a member;
* a frame heard directly is remembered (a relayed copy arriving later is a duplicate) and, on a
  relay, forwarded in an envelope;
* a remote UE with a :class:`~prose_mesh.protocol.relay.Selector` follows relay discovery,
  keeps a one-to-one link with its selected relay (the link is its selection: a relay forwards
  the frames of UEs linked to it) and reselects when the relay goes away or stops forwarding.

A :class:`Misbehaviour` turns a relay malicious (ADVERSARIAL.md G1/G2): it drops, delays,
reorders, flips bits in, or cross-forwards the frames it relays; the receivers' end-to-end
checks catch it, and the per-hop counters attribute it.
"""

from __future__ import annotations

import gc
import math
import random
import types
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import trio

from prose_mesh.errors import ProseMeshError
from prose_mesh.medium.core import frame_sha
from prose_mesh.protocol.actions import Event
from prose_mesh.protocol.reasons import Reason
from prose_mesh.protocol.relay import Forwarder, Selector
from prose_mesh.wire import fast
from prose_mesh.wire.relay import (
    LCID_RELAY,
    MAX_HOP_LIMIT,
    RELAY_VERSION,
    build_envelope,
    is_envelope,
    parse_envelope,
)

if TYPE_CHECKING:
    from prose_mesh.node.ue import Ue

SELECT_TICK_S = 0.25  # [EMU] how often a remote UE judges its relay
ATTACH_TIMEOUT_S = 5.0  # a selected relay's link must be up within this
TUNNEL_PORT = 5799  # [EMU] UDP port of PC5 frames carried over Uu between in-coverage UEs
UPLINK_ID = 0xFFFFFE  # [EMU] the pseudo relay ID of frames that came over the uplink
OWN_MAX = 512  # own frames remembered for echo detection


@dataclass(frozen=True, slots=True)
class Tamper:
    """What a malicious relay did to a frame it forwards: its name, ``what`` (modify,
    cross_forward) and, for a bit flip, the flipped octet counted from the frame's end."""

    attack: str
    what: str
    from_end: int | None = None


@dataclass
class Misbehaviour:
    """A malicious relay's forwarding (ADVERSARIAL.md G1, G2). Fractions are 0..1; ``delay``
    in seconds; ``reorder`` the fraction of frames held back and sent after the next one;
    ``cross_forward`` (group A's L2 ID, group B's): A's one-to-many frames are rewritten into
    B (their DST Layer-2 ID). ``name``: the attacker's, on the ``relay_tampered`` event the relay
    logs for each frame it modified or cross-forwarded (the medium tags transmissions per node,
    and this node is also an honest relay: the offline invariants read the event instead)."""

    drop: float = 0.0
    delay: float = 0.0
    reorder: float = 0.0
    modify: float = 0.0
    cross_forward: tuple[int, int] | None = None
    seed: int = 0
    start_at: float = -math.inf  # Trio time the misbehaviour starts
    stop_at: float = math.inf  # ... and stops (honest forwarding outside)
    name: str = "malicious_relay"
    counters: Counter[str] = field(default_factory=Counter)
    _held: tuple[bytes, int, int, Tamper | None] | None = None

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    async def forward(self, node: RelayNode, inner: bytes, hop_limit: int, hops: int) -> None:
        if not self.start_at <= trio.current_time() < self.stop_at:
            if self._held is not None:  # a frame held back for reordering goes out now
                held, self._held = self._held, None
                await node.send_envelope(*held[:3], tamper=held[3])
            await node.send_envelope(inner, hop_limit, hops)
            return
        c = self.counters
        c["seen"] += 1
        rng = self.rng
        if self.drop and rng.random() < self.drop:
            c["dropped"] += 1
            return
        cross = self.cross_forward
        tamper: Tamper | None = None
        if (cross is not None and len(inner) > fast.SHIM_LEN
                and inner[8] & 0xF == fast.CAST_ONE_TO_MANY
                and int.from_bytes(inner[5:8], "big") == cross[0]):  # fmt: skip
            inner = inner[:5] + cross[1].to_bytes(3, "big") + inner[8:]
            c["cross_forwarded"] += 1
            tamper = Tamper(self.name, "cross_forward")
        body_at = fast.SHIM_LEN + fast.PDCP_LEN
        if self.modify and len(inner) > body_at and rng.random() < self.modify:
            i = rng.randrange(body_at, len(inner))
            inner = inner[:i] + bytes([inner[i] ^ (1 << rng.randrange(8))]) + inner[i + 1:]
            c["modified"] += 1
            # the inner frame ends the envelope: the flipped octet, counted from the end
            tamper = Tamper(self.name, "modify" if tamper is None else "cross_forward+modify",
                            len(inner) - i)
        if self.reorder and self._held is None and rng.random() < self.reorder:
            self._held = (inner, hop_limit, hops, tamper)
            c["reordered"] += 1
            return
        if self.delay:
            c["delayed"] += 1
            node.later(self.delay, inner, hop_limit, hops, tamper)
        else:
            await node.send_envelope(inner, hop_limit, hops, tamper=tamper)
        if self._held is not None:
            held, self._held = self._held, None
            await node.send_envelope(*held[:3], tamper=held[3])



class RelayNode:
    """Relaying state of one UE (see the module docstring)."""

    def __init__(self, ue: Ue, forwarder: Forwarder, *, selector: Selector | None = None,
                 relay_code: int | None = None, uris: dict[bytes, str] | None = None) -> None:
        self.ue = ue
        self.fwd = forwarder
        self.selector = selector
        self.relay_code = relay_code
        self.uris = uris or {}  # Announcer Info -> URI (the address book)
        self.misbehaviour: Misbehaviour | None = None
        self.media_hops: dict[int, int] = {}  # index in ue.media -> relays it came through
        self.rejected_via: Counter[int] = Counter()  # relay L2 ID -> inner frames rejected
        self.echoes = 0
        self._own: OrderedDict[int, None] = OrderedDict()
        self._nursery: trio.Nursery | None = None
        self.selection_log: list[tuple[float, str, dict[str, Any]]] = []
        # IP relaying toward the network (UE-to-network relay) [EMU routing, see on_link_ip]
        self.address: bytes | None = None  # my IPv6 address (uplink's, or given by my relay)
        self.routes: dict[bytes, int] = {}  # remote UE address -> next hop (a linked UE)
        self.upstream: int | None = None  # the relay toward the network (linked)
        self.uplink: Any = None  # prose_mesh.network.Uplink when I am in coverage
        self.ip_counts: Counter[str] = Counter()
        # a relay UE that also selects a relay monitors relay discovery with this machine
        # (its own announces only its code); verdicts stay with the UE's own machine
        self.monitor: Any = None
        self.tunnel_peers: list[bytes] = []  # the other in-coverage UEs' uplink addresses
        self.on_link_up: Callable[[int], Awaitable[None]] | None = None  # relay attached
        self._ip_tx, self._ip_rx = trio.open_memory_channel[bytes](64)
        ue.relay = self

    # -- receive side ----------------------------------------------------------------------
    async def on_frame(self, frame: bytes, pdu: fast.Pc5Pdu) -> int | None:
        """Called by the UE for every parsed frame; returns the outcome count when the frame
        was handled here, None to let the UE's receive path continue with it."""
        shim = pdu.shim
        if shim.channel == fast.CH_SL_DCH:
            if self.monitor is not None:  # a relay that is itself a remote UE: watch relays
                self.monitor.on_message(pdu.body, src_l2id=shim.src_l2id, now=self.ue.clock.now())
            return None  # discovery is per hop
        if is_envelope(pdu):
            return await self._on_envelope(pdu)
        inner = frame[fast.ETH_LEN:]
        links = self.ue.links.link(shim.src_l2id)
        v = self.fwd.on_direct(shim, hash(inner), self.ue.clock.now(),
                               linked=links is not None and links.established)
        if v.duplicate:
            self.ue.log.filter("relay_duplicate")
            return 1
        if v.forward:
            await self._forward(inner, v.hop_limit, v.hops)
        return None

    async def _on_envelope(self, pdu: fast.Pc5Pdu) -> int:
        ue = self.ue
        peer = f"{pdu.shim.src_l2id:06x}"
        try:
            env = parse_envelope(pdu)
            inner_pdu = fast.parse_pc5(env.inner)
        except ProseMeshError as exc:
            ue.log.reject("relay", _reason(exc), peer, detail=exc.reason)
            return 1
        if is_envelope(inner_pdu):
            ue.log.reject("relay", Reason.BAD_HEADER, peer, detail="nested envelope")
            return 1
        return await self._relayed(env.relay_l2id, env.sn, env.hop_limit, env.hops,
                                   env.inner, inner_pdu)

    async def _relayed(self, relay_l2id: int, sn: int | None, hop_limit: int, hops: int,
                       inner: bytes, inner_pdu: fast.Pc5Pdu) -> int:
        """A relayed copy (over the air, or tunnelled over Uu): duplicates, forwarding, then
        the inner frame down the normal receive path. One outcome."""
        ue = self.ue
        key = hash(inner)
        v = self.fwd.on_envelope(relay_l2id, sn, hop_limit, hops, inner_pdu.shim, key,
                                 ue.clock.now())
        if v.duplicate:
            if key in self._own:  # my own frame, forwarded by a relay: it is forwarding
                self.echoes += 1
                if self.selector is not None:
                    self.selector.echo(relay_l2id)
                ue.log.filter("relay_echo")
            else:
                ue.log.filter("relay_duplicate")
            return 1
        if v.forward:
            await self._forward(inner, v.hop_limit, v.hops, tunnel=relay_l2id != UPLINK_ID)
        rejected = sum(ue.log.rejected.values())
        media = len(ue.media)
        outcome = await ue.dispatch_pdu(inner_pdu)
        if sum(ue.log.rejected.values()) > rejected:
            self.rejected_via[relay_l2id] += 1
        for i in range(media, len(ue.media)):
            self.media_hops[i] = hops
        return outcome

    # -- PC5 frames over Uu [EMU] ----------------------------------------------------------
    async def tunnel(self, inner: bytes, hop_limit: int, hops: int) -> None:
        """Copy a relayed (or my own) frame over my uplink to the other in-coverage UEs, as
        IPv6/UDP to :data:`TUNNEL_PORT` (the network routes between uplinks): the emulator's
        stand-in for the group's Uu path, so in-coverage members and relays reach each other.
        The frame inside keeps its end-to-end protection; the network sees ciphertext only."""
        from prose_mesh.wire.ipudp import build_udp6

        if self.uplink is None or self.address is None:
            return
        payload = bytes([RELAY_VERSION << 4, hop_limit, hops]) + inner
        for peer in self.tunnel_peers:
            if peer != self.address:
                self.ip_counts["tunnel_out"] += 1
                await self.uplink.send(build_udp6(self.address, peer, TUNNEL_PORT, TUNNEL_PORT,
                                                  payload))

    async def _from_tunnel(self, payload: bytes) -> None:
        ue = self.ue
        try:
            if len(payload) < 3 + fast.SHIM_LEN or payload[0] != RELAY_VERSION << 4:
                raise ProseMeshError("tunnelled frame header")
            inner = payload[3:]
            inner_pdu = fast.parse_pc5(inner)
        except ProseMeshError as exc:
            ue.log.reject("uplink_tunnel", _reason(exc), "uplink", detail=exc.reason)
            return
        if is_envelope(inner_pdu):
            ue.log.reject("uplink_tunnel", Reason.BAD_HEADER, "uplink", detail="nested")
            return
        self.ip_counts["tunnel_in"] += 1
        # Not a radio frame: the UE's per-frame accounting (frames in = verdicts + filtered,
        # checked against the medium's deliveries) must not see it; its filter counts go here.
        before = ue.log.filtered.copy()
        await self._relayed(UPLINK_ID, None, min(payload[1], MAX_HOP_LIMIT),
                            max(payload[2], 1), inner, inner_pdu)
        extra = sum(ue.log.filtered.values()) - sum(before.values())
        if extra:
            ue.log.filtered = before
            self.ip_counts["tunnel_filtered"] += extra

    # -- IP relaying (UE-to-network relay, TS 23.303 §5.4.4) ---------------------------------
    async def on_link_ip(self, src_l2id: int, packet: bytes, dgram: Any) -> int:
        """An IPv6 packet that came over a secured one-to-one link and is not for my
        link-local address: for my relay-given address, or to route on. One outcome."""
        if dgram.dst == self.address:
            return await self.deliver_ip(packet, dgram, src_l2id)
        return await self.route_ip(packet, src_l2id)

    async def deliver_ip(self, packet: bytes, dgram: Any, src_l2id: int) -> int:
        """A packet for my own address: a GMK from the network's GMS goes to the GMK receiver
        (which checks everything: the GMS's signature, the group, replay); anything else (a
        KMS answer) waits in :meth:`receive_ip`."""
        from prose_mesh.constants import MIKEY_PORT
        from prose_mesh.network.gms import is_gms_packet

        ue = self.ue
        if dgram.dport == MIKEY_PORT and is_gms_packet(packet):
            self.ip_counts["gmk_in"] += 1
            return await ue._feed("gmk", ue.gmk_member.on_i_message, dgram.payload,
                                  src_l2id=src_l2id, via="group", now=ue.clock.now())
        try:
            self._ip_tx.send_nowait(packet)
        except trio.WouldBlock:
            ue.log.reject("relay_ip", Reason.RATE_LIMITED, f"{src_l2id:06x}", detail="inbox")
            return 1
        ue.log.accept("relay_ip", f"{src_l2id:06x}")
        return 1

    async def receive_ip(self) -> bytes:
        """The next packet for my address that is not a GMK (e.g. the KMS's answer)."""
        return await self._ip_rx.receive()

    async def route_ip(self, packet: bytes, from_l2id: int | None) -> int:
        """Forward toward ``dst``: down to a registered remote UE's next hop, else up (to the
        uplink, or the upstream relay). The IPv6 hop limit drops by one per relay; a packet
        with nowhere to go is rejected (one outcome)."""
        ue = self.ue
        peer = None if from_l2id is None else f"{from_l2id:06x}"
        if len(packet) < 40 or packet[7] <= 1:
            ue.log.reject("relay_ip", Reason.MALFORMED, peer, detail="hop limit")
            return 1
        packet = packet[:7] + bytes([packet[7] - 1]) + packet[8:]
        dst = packet[24:40]
        hop = self.routes.get(dst)
        nxt = hop if hop is not None else (None if self.uplink is not None else self.upstream)
        if nxt is not None and nxt != from_l2id:
            info = ue.links.link(nxt)
            if info is None or not info.established:  # my link to the next hop is gone
                ue.log.reject("relay_ip", Reason.UNKNOWN_KEY, peer, detail=f"to {nxt:06x}")
                return 1
        if hop is not None and hop != from_l2id:
            self.ip_counts["down"] += 1
            await self.send_link_ip(hop, packet)
        elif hop is None and self.uplink is not None and from_l2id is not None:
            self.ip_counts["up"] += 1
            await self.uplink.send(packet)
        elif hop is None and self.upstream is not None and from_l2id != self.upstream:
            self.ip_counts["up"] += 1
            await self.send_link_ip(self.upstream, packet)
        else:
            ue.log.reject("relay_ip", Reason.NOT_FOR_ME, peer)
            return 1
        ue.log.accept("relay_ip", peer)
        return 1

    async def send_link_ip(self, peer_l2id: int, packet: bytes) -> None:
        """An IP packet on my secured link with ``peer_l2id`` (refused and logged without)."""
        from prose_mesh.protocol.actions import SendUnicastIp

        await self.ue._execute([SendUnicastIp(peer_l2id, packet)], "relay")

    async def from_uplink(self, packet: bytes) -> None:
        """A packet from the network on my uplink (I am in coverage)."""
        from prose_mesh.wire.ipudp import parse_udp6

        ue = self.ue
        if not ue.running:  # killed: its uplink is as dead as its radio
            self.ip_counts["uplink_dead"] += 1
            return
        try:
            dgram = parse_udp6(packet)
        except ProseMeshError as exc:
            ue.log.reject("uplink_ip", _reason(exc), "uplink", detail=exc.reason)
            return
        if dgram.dst == self.address and dgram.dport == TUNNEL_PORT:
            await self._from_tunnel(dgram.payload)
        elif dgram.dst == self.address:
            await self.deliver_ip(packet, dgram, 0)
        else:
            await self.route_ip(packet, None)

    async def send_ip(self, packet: bytes) -> None:
        """Send one of my own packets toward the network (uplink, or my relay's link)."""
        if not self.ue.running:
            return
        if self.uplink is not None:
            await self.uplink.send(packet)
        elif self.upstream is not None:
            await self.send_link_ip(self.upstream, packet)

    # -- send side -------------------------------------------------------------------------
    def on_own_send(self, payload: bytes) -> None:
        """A frame this UE sends (not a relayed copy): remember it for echoes and duplicates;
        a remote UE counts the ones its relay should forward."""
        if len(payload) < fast.SHIM_LEN or payload[1] == LCID_RELAY or payload[0] & 0xF:
            return  # an envelope, or SL-DCH (discovery)
        key = hash(payload)
        self.fwd.own(key, self.ue.clock.now())
        own = self._own
        own[key] = None
        if len(own) > OWN_MAX:
            own.popitem(last=False)
        if (self.uplink is not None and self.tunnel_peers and self._nursery is not None
                and payload[8] & 0xF == fast.CAST_ONE_TO_MANY):  # fmt: skip
            self._nursery.start_soon(self.tunnel, payload, self.fwd.hop_limit - 1, 1)
        sel = self.selector
        if sel is not None and sel.selected is not None:
            cast = payload[8] & 0xF
            dst = int.from_bytes(payload[5:8], "big")
            if cast == fast.CAST_ONE_TO_MANY or (cast == fast.CAST_ONE_TO_ONE
                                                 and dst != sel.selected):  # fmt: skip
                sel.sent(self.ue.clock.now())

    async def _forward(self, inner: bytes, hop_limit: int, hops: int, *,
                       tunnel: bool = True) -> None:
        if self.misbehaviour is not None:
            await self.misbehaviour.forward(self, inner, hop_limit, hops)
        else:
            await self.send_envelope(inner, hop_limit, hops, tunnel=tunnel)

    async def send_envelope(self, inner: bytes, hop_limit: int, hops: int, *,
                            tunnel: bool = True, tamper: Tamper | None = None) -> None:
        if not self.ue.running:
            return
        if tunnel and self.uplink is not None and self.tunnel_peers:
            await self.tunnel(inner, hop_limit, hops)
        envelope = build_envelope(self.ue.l2id, self.fwd.next_sn(), hop_limit, hops, inner)
        if tamper is not None and self.ue.radio is not None:
            # the SHA the medium's tx line and the receivers' verdict lines will carry
            frame = fast.ethernet(self.ue.radio.mac, envelope)
            self.ue.log.event("relay_tampered", {
                "frame_sha256": frame_sha(frame),
                "attack": tamper.attack, "what": tamper.what, "len": len(frame),
                "flip_octet": None if tamper.from_end is None else len(frame) - tamper.from_end,
            })  # fmt: skip
        await self.ue.send_frame(envelope)

    def later(self, delay: float, inner: bytes, hop_limit: int, hops: int,
              tamper: Tamper | None = None) -> None:
        """Send a relayed copy ``delay`` seconds from now (a delaying relay)."""
        if self._nursery is None:
            return

        async def send() -> None:
            await trio.sleep(delay)
            await self.send_envelope(inner, hop_limit, hops, tamper=tamper)

        self._nursery.start_soon(send)

    # -- selection -------------------------------------------------------------------------
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
                  ) -> None:
        """The relay node's tasks: delayed sends, and a remote UE's relay selection."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started()
            if self.selector is not None:
                await self._select_loop()
            else:
                await trio.sleep_forever()

    async def _select_loop(self) -> None:
        sel = self.selector
        assert sel is not None
        ue = self.ue
        while ue.running:
            now = ue.clock.now()
            for e in (self.monitor or ue.discovery).relays(self.relay_code):
                sel.heard(e.l2id, e.last_seen, self.uris.get(e.user_info))
            for ev in sel.tick(now):
                self.selection_log.append((trio.current_time(), ev.name, dict(ev.data)))
                ue.emit(ev)
                if ev.name in ("relay_selected", "relay_reselected") and ev.data["uri"]:
                    assert self._nursery is not None
                    self._nursery.start_soon(self._attach, ev.data["l2id"], ev.data["uri"])
            await trio.sleep(SELECT_TICK_S)

    async def _attach(self, l2id: int, uri: str) -> None:
        """Set up the secured one-to-one link with the selected relay (it then forwards my
        frames); a refused intent is the UE's to report, not a crash."""
        info = self.ue.links.link(l2id)
        if info is not None and info.established:
            return
        since = len(self.ue.history)
        try:
            await self.ue.connect(l2id, uri)
        except ProseMeshError as exc:
            self.ue.emit(Event("relay_attach_failed", {"l2id": l2id, "reason": exc.reason}))
            return
        with trio.move_on_after(ATTACH_TIMEOUT_S):
            await self.ue.wait_event("link_up", since=since, peer_l2id=l2id)
            if self.on_link_up is not None:
                await self.on_link_up(l2id)


def canary_hits(root: Any, canary: bytes, *, exclude: Callable[[Any], bool] | None = None,
                limit: int = 300_000) -> tuple[int, int]:
    """(hits, objects scanned): octet strings holding ``canary`` among the objects reachable
    from ``root`` (``gc.get_referents`` walk, at most ``limit`` objects).

    The walk stays inside one UE: it does not enter other :class:`Ue` objects, the medium,
    the session, Trio's scheduler, modules, classes or code (they are shared by every UE of the
    process), nor objects ``exclude`` names. What it proves: nothing the UE holds — its
    machines, keys, caches, queues, logs — contains the plaintext."""
    from prose_mesh.node.ue import Ue

    seen: set[int] = set()
    stack: list[Any] = [root]
    hits = scanned = 0
    hex_canary = canary.hex()
    while stack and scanned < limit:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        scanned += 1
        if isinstance(obj, bytes | bytearray | memoryview):
            if canary in bytes(obj):
                hits += 1
            continue
        if isinstance(obj, str):
            hits += hex_canary in obj
            continue
        if obj is not root and _foreign(obj, Ue, exclude):
            continue
        stack.extend(gc.get_referents(obj))
    return hits, scanned


_SHARED_MODULES = ("prose_mesh.medium", "prose_mesh.scenario", "trio", "_pytest", "outcome",
                   "sniffio")


def _foreign(obj: Any, ue_type: type, exclude: Callable[[Any], bool] | None) -> bool:
    if isinstance(obj, ue_type | type | types.ModuleType | types.FunctionType
                  | types.CodeType | types.FrameType | types.CoroutineType
                  | types.BuiltinFunctionType):
        return True
    if isinstance(obj, types.MethodType):
        return True  # bound methods lead to their (possibly shared) owner
    mod = type(obj).__module__ or ""
    if mod.startswith(_SHARED_MODULES):
        return True
    return exclude is not None and exclude(obj)


def _reason(exc: ProseMeshError) -> Reason:
    try:
        return Reason(exc.reason)
    except ValueError:
        return Reason.MALFORMED


def relay_counts(nodes: Iterable[RelayNode]) -> dict[str, float]:
    """Totals over ``nodes`` for the run report."""
    out: Counter[str] = Counter()
    for n in nodes:
        for k, v in n.fwd.counts.items():
            out[f"relay.{k}"] += v
        out["relay.dup_cache_early_evictions"] += n.fwd.cache.early_evictions
        for stats in n.fwd.hops.values():
            out["relay.hop_sn_gaps"] += stats.gaps
            out["relay.hop_reordered"] += stats.reordered
        out["relay.inner_rejected"] += sum(n.rejected_via.values())
        if n.selector is not None:
            out["relay.reselections"] += n.selector.reselections
        if n.misbehaviour is not None:
            for k, v in n.misbehaviour.counters.items():
                out[f"relay.malicious.{k}"] += v
    return {k: float(v) for k, v in sorted(out.items())}

