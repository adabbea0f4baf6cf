"""The Trio UE: a thin driver around the sans-I/O protocol machines (ARCHITECTURE.md decision 1).

A :class:`Ue` owns an identity (key material from provisioning), a self-assigned 24-bit source
Layer-2 ID, an injectable clock, a keystore, a :class:`GroupDirectory`, its roles and the
machines: discovery, direct links, GMK distribution (member and distributor side) and group
calls. ``run()`` starts three loops in a nursery:

* **receive** — ``wire.fast.parse_frame`` then the cheap checks of ADVERSARIAL.md §3 (header,
  DST is me / a group I know / SL-DCH broadcast), then by channel and cast:

  - SL-DCH → discovery;
  - CAST 2 (one-to-one) → ``DirectLinks.unprotect`` → PC5-S → ``on_pc5s``; IP → UDP 2269 →
    ``GmkMember.on_i_message(via="link")`` (ad-hoc / temporary GMKs, PCK);
  - CAST 1 (one-to-many) → the group of the DST Layer-2 group ID → one-to-many PDCP → IPv6/UDP
    to the group address → 2269: ``GmkMember.on_i_message(via="group")``; MONP and media
    ports: ``GroupCalls.on_udp``.

  A frame the package's parsers refuse is dropped and counted with the parser's reason; the node
  never catches anything else (any other exception is a bug and must surface).
* **timers** — one heap of (Trio time, machine, key); ``SetTimer`` replaces, ``CancelTimer``
  removes; the machine's ``on_timer(key, now)`` runs when due.
* **intents** — user intents (``connect``, ``start_call``, ...) queued by the scenario runner and
  run one at a time, like a user pressing buttons.

Every machine output is executed in order: sends become PC5 frames (shim + PDCP, one-to-one
protection by the direct-link machine, one-to-many by the group's PDCP entity), verdicts go to the
UE's log, domain events to :attr:`Ue.history` where :meth:`Ue.wait_event` finds them. Process CPU
time spent inside machine calls (mostly ECCSI/SAKKE/AES) is accounted per UE; with
``charge_cpu`` (the memory backend's default) it is also spent as virtual time before the
resulting frames leave, so virtual-time latencies include the cost of the crypto.
"""

from __future__ import annotations

import heapq
import math
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Hashable
from itertools import pairwise
from typing import TYPE_CHECKING, Any

import trio

from prose_mesh.constants import MIKEY_PORT
from prose_mesh.crypto.kms import KeyMaterial
from prose_mesh.errors import ConfigError, ProseMeshError
from prose_mesh.medium.air import Radio
from prose_mesh.medium.core import frame_sha
from prose_mesh.node.clock import UeClock
from prose_mesh.node.keystore import Keystore
from prose_mesh.node.log import FRAME, UeLog
from prose_mesh.node.machines import LCID_IP_GROUP, LCID_IP_UNICAST, build
from prose_mesh.node.media_log import MediaLog
from prose_mesh.node.provision import Provisioned
from prose_mesh.protocol.actions import (
    Accepted,
    CancelTimer,
    Event,
    Noted,
    Rejected,
    SendDiscovery,
    SendGroupIp,
    SendSignalling,
    SendUnicastIp,
    SetTimer,
)
from prose_mesh.protocol.groups import GroupConfig, GroupDirectory
from prose_mesh.protocol.reasons import Reason
from prose_mesh.wire import fast
from prose_mesh.wire.ipudp import link_local, parse_udp6

if TYPE_CHECKING:
    from prose_mesh.node.relay import RelayNode

ROLES = frozenset({"member", "group_manager", "relay"})
MIKEY_REPEAT_GAP = 0.02  # [EMU] s between copies of a MIKEY packet (see Ue._repeat)
#: [EMU] s: first gap between media-triggered probes; under the 350 ms late-entry target, so a
#: probe (or its answer) the medium lost is retried in time (J1: 1 s cost ~50 frames)
LATE_ENTRY_PROBE_GAP = 0.25
#: [EMU] s after the user leaves a group's call in which its media (the talker's last packets
#: still in flight) does not trigger a late-entry probe: leaving is not to be undone by the
#: call's own tail (TS 24.379 has an "ignoring same call ID" state for this; [R] its timer)
LEFT_CALL_HOLD_S = 2.0


class UeStopped(ProseMeshError):
    """An intent was sent to a UE that is not running (killed or never started)."""

    reason = "UE_STOPPED"


class Ue:
    """One public-safety UE, built from what provisioning loaded into it; drive with :meth:`run`.

    ``known_peers`` is the address book of identities allowed to set up a direct link with it
    (None: any identity of the KMS community). ``charge_cpu`` spends machine CPU time as (virtual)
    time before the resulting frames leave. ``mikey_repeats`` copies of every MIKEY packet follow
    the first (see :meth:`_repeat`)."""

    def __init__(
        self,
        prov: Provisioned,
        *,
        clock: UeClock,
        log: UeLog,
        radio: Radio | None = None,
        known_peers: frozenset[str] | None = None,
        charge_cpu: bool = False,
        mikey_repeats: int = 1,
        rng: random.Random | None = None,
    ) -> None:
        bad = set(prov.roles) - ROLES
        if bad:
            raise ConfigError(f"{prov.name}: unknown role(s) {sorted(bad)}")
        if not 0 < prov.l2id < 1 << 24:
            raise ConfigError(f"{prov.name}: Layer-2 ID must be 24 bits and not 0")
        self.name = prov.name
        self.uri = prov.uri
        self.l2id = prov.l2id
        self.roles = frozenset(prov.roles)
        self.prov = prov
        self.clock = clock
        self.log = log
        self.radio = radio
        self.rng = rng
        self.charge_cpu = charge_cpu
        self.keystore = Keystore([prov.keys])
        self.directory = GroupDirectory(list(prov.groups))
        # Who may set up a link with me (TS 24.334 §10.4.2: the responder checks the signer
        # may do so): the address book provisioned with the UE; None = any community identity.
        self.known_peers = known_peers
        self.history: list[tuple[float, Event]] = []  # (Trio time, event), media excluded
        self.media = MediaLog()  # (Trio time, media event data); a runner may give it a spool
        self.link_rx: Counter[int] = Counter()  # protected one-to-one PDUs opened, by source
        self.on_event: Callable[[Ue, float, Event], None] | None = None
        self._changed = trio.Event()
        self._timers: dict[tuple[str, Hashable], int] = {}
        self._heap: list[tuple[float, int, str, Hashable]] = []
        self._tseq = 0
        self._timer_scope: trio.CancelScope | None = None
        self._cpu_debt = 0.0
        self._busy_until = -math.inf
        self._scope: trio.CancelScope | None = None
        self._nursery: trio.Nursery | None = None
        self.mikey_repeats = mikey_repeats
        self._probes: dict[str, tuple[float, float]] = {}  # group -> (last probe, gap)
        self.late_entry_probes = 0
        self._left: dict[str, float] = {}  # group -> when the user last left its call
        self._intent_tx, self._intent_rx = trio.open_memory_channel[Any](64)
        self.running = False
        self._build_machines()

    # -- machines ----------------------------------------------------------------------------
    def _build_machines(self) -> None:
        m = build(self)
        self.links = m.links
        self.gmk_member = m.gmk_member
        self.gmk_distributor = m.gmk_distributor
        self.calls = m.calls
        self.discovery = m.discovery
        self.pdcp = m.pdcp
        # the machines that set timers, by the name their SetTimer/CancelTimer are filed under
        self.machines: dict[str, Any] = {
            "links": self.links, "calls": self.calls, "discovery": self.discovery,
        }  # fmt: skip

    def authorise_link(self, peer_uri: str) -> bool:
        """May ``peer_uri`` (whose signature has verified) set up a one-to-one link with me?"""
        return self.known_peers is None or peer_uri in self.known_peers

    @property
    def keys(self) -> KeyMaterial:
        """The identity key material of the key period this UE's clock is in."""
        return self.keystore.for_time(self.clock.now())

    # -- lifecycle ---------------------------------------------------------------------------
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Receive, timer and intent loops until cancelled or :meth:`stop`."""
        if self.radio is None:
            raise ConfigError(f"{self.name}: no radio attached")
        with trio.CancelScope() as scope:
            self._scope = scope
            try:
                async with trio.open_nursery() as nursery:
                    self._nursery = nursery
                    nursery.start_soon(self._receive_loop)
                    nursery.start_soon(self._timer_loop)
                    nursery.start_soon(self._intent_loop)
                    self.running = True
                    task_status.started()
            finally:
                self.running = False
                self.log.flush()
                while True:  # intents still queued fail with UeStopped, never hang
                    try:
                        _fn, _box, done = self._intent_rx.receive_nowait()
                    except (trio.WouldBlock, trio.EndOfChannel):
                        break
                    done.set()

    def stop(self) -> None:
        """Stop the UE now (a kill: no goodbye on the air); queued intents fail."""
        self.running = False
        if self._scope is not None:
            self._scope.cancel()

    # -- the receive path --------------------------------------------------------------------
    async def _receive_loop(self) -> None:
        assert self.radio is not None
        radio = self.radio
        while True:
            frame = await radio.receive()
            await self.handle_frame(frame)

    async def handle_frame(self, frame: bytes) -> None:
        """One frame from the air, through the cheap checks to the right machine.

        Accounting (ADVERSARIAL.md §5): every frame ends in exactly one verdict (accept or
        reject with a reason) or one ``filtered`` count; :attr:`UeLog.unaccounted` counts
        frames that did not, and must stay 0."""
        self.log.frames_in += 1
        token = FRAME.set(frame_sha(frame)) if self.log.sink else None
        try:
            outcomes = await self._dispatch(frame)
        finally:
            if token is not None:
                FRAME.reset(token)
        if outcomes != 1:
            self.log.unaccounted += 1

    async def _dispatch(self, frame: bytes) -> int:
        try:
            _src_mac, pdu = fast.parse_frame(frame)
        except ProseMeshError as exc:
            self.log.reject("frame", _reason(exc), detail=exc.reason)
            return 1
        if self.relay is not None:  # relaying (issue #6): envelopes, duplicates, forwarding
            outcome = await self.relay.on_frame(frame, pdu)
            if outcome is not None:
                return outcome
        return await self.dispatch_pdu(pdu)

    async def dispatch_pdu(self, pdu: fast.Pc5Pdu) -> int:
        """A parsed PC5 PDU (heard directly, or the inner frame of a relay envelope) through
        the cheap checks to the right machine; returns the number of outcomes (1)."""
        shim = pdu.shim
        if shim.channel == fast.CH_SL_DCH:
            return await self._feed("discovery", self.discovery.on_message, pdu.body,
                                    src_l2id=shim.src_l2id, now=self.clock.now())
        if shim.cast == fast.CAST_ONE_TO_ONE:
            if shim.dst_l2id != self.l2id:
                self.log.filter("unicast_not_for_me")
                return 1
            return await self._on_unicast(shim, pdu)
        if shim.cast == fast.CAST_ONE_TO_MANY:
            group = self.directory.by_l2(shim.dst_l2id)
            if group is None:
                self.log.filter("group_not_mine")
                return 1
            return await self._on_group(group, shim, pdu)
        self.log.filter("sl_sch_broadcast")  # no SL-SCH broadcast service is emulated
        return 1

    async def _on_unicast(self, shim: fast.Shim, pdu: fast.Pc5Pdu) -> int:
        pdcp = pdu.pdcp
        assert isinstance(pdcp, fast.PdcpO2O)
        now = self.clock.now()
        peer = _hex(shim.src_l2id)
        got = self._measure(self.links.unprotect, shim.src_l2id, shim.lcid, pdcp.kdsess_id,
                            pdcp.sn, pdu.body, pdcp.mac_i, now, sdu_type=pdcp.sdu_type)
        if isinstance(got, Rejected):
            return await self._execute([got], "links")
        if got.protected != "none":
            self.link_rx[shim.src_l2id] += 1
        if got.sdu_type == fast.SDU_PC5S:
            return await self._feed("links", self.links.on_pc5s, shim.src_l2id, shim.lcid,
                                    got.sdu, protected=got.protected,
                                    kd_sess_id=got.kd_sess_id, now=now)
        # IP over a link must come under the link's protection: a KD-sess ID 0 PDU carries no
        # proof of its sender (L2 IDs are unauthenticated), so it never counts as "via link".
        if got.sdu_type != fast.SDU_IP or got.protected == "none":
            self.log.reject("link_sdu", Reason.POLICY, peer)
            return 1
        try:
            dgram = parse_udp6(got.sdu)
        except ProseMeshError as exc:
            self.log.reject("link_ip", _reason(exc), peer, detail=exc.reason)
            return 1
        if dgram.dst != link_local(self.l2id) and self.relay is not None:
            # relaying (issue #6): IP to or through a UE-to-network relay, on a secured link
            return await self.relay.on_link_ip(shim.src_l2id, got.sdu, dgram)
        if dgram.dst != link_local(self.l2id) or dgram.dport != MIKEY_PORT:
            self.log.reject("link_ip", Reason.NOT_FOR_ME, peer)
            return 1
        link = self.links.link(shim.src_l2id)
        if link is None:  # the context was released between unprotect and here
            self.log.reject("link_ip", Reason.UNKNOWN_KEY, peer)
            return 1
        return await self._feed("gmk", self.gmk_member.on_i_message, dgram.payload,
                                src_l2id=shim.src_l2id, via="link", now=now,
                                link_peer_uri=link.peer_uri)

    async def _on_group(self, group: GroupConfig, shim: fast.Shim, pdu: fast.Pc5Pdu) -> int:
        pdcp = pdu.pdcp
        assert isinstance(pdcp, fast.PdcpO2M)
        peer = _hex(shim.src_l2id)
        if pdcp.sdu_type != fast.SDU_IP:
            self.log.reject("group_sdu", Reason.BAD_HEADER, peer)
            return 1
        got = self._measure(self.pdcp.unprotect, group, shim, pdcp, pdu.body)
        if isinstance(got, Rejected):
            return await self._execute([got], "pdcp")
        try:
            dgram = parse_udp6(got)
        except ProseMeshError as exc:
            self.log.reject("group_ip", _reason(exc), peer, detail=exc.reason)
            return 1
        if dgram.dst != group.multicast:
            self.log.reject("group_ip", Reason.NOT_FOR_ME, peer)
            return 1
        now = self.clock.now()
        if dgram.dport == MIKEY_PORT:
            return await self._feed("gmk", self.gmk_member.on_i_message, dgram.payload,
                                    src_l2id=shim.src_l2id, via="group", now=now)
        if dgram.dport in (group.monp_port, group.media_port, group.media_port + 1):
            out = self._measure(self.calls.on_udp, dgram, src_l2id=shim.src_l2id, now=now)
            verdicts = await self._execute(out, "calls")
            if dgram.dport == group.media_port:
                # media no key of mine opens: I missed the call (no call), or its re-key (my
                # call is on the old key after a lost announcement): probe for the current one
                await self._late_entry(group, out)
            return verdicts
        self.log.reject("group_ip", Reason.NOT_FOR_ME, peer)
        return 1

    # -- machine calls -------------------------------------------------------------------------
    def _measure(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call a machine, accounting the process CPU time it spent (mostly crypto)."""
        t0 = time.process_time()
        try:
            return fn(*args, **kwargs)
        finally:
            spent = time.process_time() - t0
            self.log.crypto_cpu_s += spent
            self._cpu_debt += spent

    async def _feed(self, source: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> int:
        return await self._execute(self._measure(fn, *args, **kwargs), source)

    # -- the send path and the other outputs ---------------------------------------------------
    async def _execute(self, actions: Any, source: str) -> int:
        """Carry out a machine's actions in order; returns how many verdicts were among them."""
        verdicts = 0
        if self.charge_cpu and self._cpu_debt > 0.0:
            self._busy_until = max(trio.current_time(), self._busy_until) + self._cpu_debt
            self._cpu_debt = 0.0
            await trio.sleep_until(self._busy_until)
        else:
            self._cpu_debt = 0.0
        for action in actions:
            if isinstance(action, Accepted):
                self.log.accept(action.kind, action.peer, action.detail.get("octets"))
                verdicts += 1
            elif isinstance(action, Rejected):
                self.log.reject(action.kind, action.reason, action.peer,
                                action.detail or None)
                verdicts += 1
            elif isinstance(action, Noted):
                self.log.note(action.kind, action.what, action.peer)
                verdicts += 1
            elif isinstance(action, Event):
                self._on_domain_event(action)
                if action.name == "gmk_installed":
                    # New key material: media of the group this UE could not open may open
                    # now, so its late-entry probes start again from the shortest gap (J1: a
                    # member whose I_MESSAGE came by resend had backed off to seconds).
                    self._probes.pop(action.data["group_id"], None)
                    # A call of that group may have to re-key under the new GMK at once (an
                    # ordinary rekey lets newcomers in; a revoking one shuts the removed out).
                    await self._execute(self._measure(
                        self.calls.on_gmk_change, action.data["group_id"], self.clock.now()),
                        "calls")
            elif isinstance(action, SetTimer):
                self._set_timer(source, action.key, action.at)
            elif isinstance(action, CancelTimer):
                self._timers.pop((source, action.key), None)
            elif isinstance(action, SendDiscovery):
                await self._send(fast.build_sl_dch(self.l2id, action.message))
            elif isinstance(action, SendSignalling):
                await self._send_unicast(action.peer_l2id, action.lcid, fast.SDU_PC5S,
                                         action.message, action.protect, action.kd_sess_id)
            elif isinstance(action, SendUnicastIp):
                kd = action.kd_sess_id
                if kd is None:
                    link = self.links.link(action.peer_l2id)
                    if link is None:
                        self.log.reject("send_unicast_ip", Reason.UNKNOWN_KEY,
                                        _hex(action.peer_l2id))
                        continue
                    kd = link.kd_sess_id
                await self._send_unicast(action.peer_l2id, LCID_IP_UNICAST, fast.SDU_IP,
                                         action.packet, "full", kd)
                if self.mikey_repeats and _is_mikey(action.packet):
                    self._repeat(self._send_unicast, action.peer_l2id, LCID_IP_UNICAST,
                                 fast.SDU_IP, action.packet, "full", kd)
            elif isinstance(action, SendGroupIp):
                await self._send_group(action.group_l2id, action.packet)
                if self.mikey_repeats and _is_mikey(action.packet):
                    self._repeat(self._send_group, action.group_l2id, action.packet)
            else:
                raise TypeError(f"unknown action {action!r} from {source}")
        return verdicts

    async def _send_unicast(self, peer: int, lcid: int, sdu_type: int, sdu: bytes,
                            protect: str, kd_sess_id: int) -> None:
        try:
            pdu = self._measure(self.links.protect, peer, lcid, sdu_type, sdu, protect=protect,
                                kd_sess_id=kd_sess_id)
        except ProseMeshError as exc:  # no context / SN exhausted: the send is refused, logged
            self.log.reject("pdcp_send", _reason(exc), _hex(peer), detail=exc.reason)
            return
        await self._send(fast.build_sl_sch(
            lcid=lcid, src_l2id=self.l2id, dst_l2id=peer, cast=fast.CAST_ONE_TO_ONE,
            sdu_type=sdu_type, sdu=pdu.body, key_id=pdu.key_id, sn=pdu.sn, mac_i=pdu.mac_i,
        ))  # fmt: skip

    async def _send_group(self, group_l2id: int, packet: bytes) -> None:
        group = self.directory.by_l2(group_l2id)
        if group is None:
            raise ConfigError(f"{self.name}: send to unknown group L2 ID {group_l2id:#08x}")
        try:
            pgk_index, ptk_id, sn, body = self._measure(self.pdcp.protect, group, packet)
        except ProseMeshError as exc:  # PTK ID space exhausted: refused, logged
            self.log.reject("pdcp_send", _reason(exc), _hex(group_l2id), detail=exc.reason)
            return
        await self._send(fast.build_sl_sch(
            lcid=LCID_IP_GROUP, src_l2id=self.l2id, dst_l2id=group_l2id,
            cast=fast.CAST_ONE_TO_MANY, sdu_type=fast.SDU_IP, sdu=body, key_id=ptk_id, sn=sn,
            pgk_index=pgk_index,
        ))  # fmt: skip

    async def _late_entry(self, group: GroupConfig, out: list[Any]) -> None:
        """[EMU] Media of my group that no call of mine can open (I missed the ANNOUNCEMENT or
        the call's re-key announcement, or joined the group late): probe for the call (TS 24.379
        late entry) instead of waiting for the next periodic announcement (TFG2, 10 s). Backs
        off exponentially (0.25, 0.5, 1 ... 8 s) while probing brings nothing, e.g. for a member
        rekeyed out."""
        if not any(isinstance(a, Rejected) and a.reason == Reason.UNKNOWN_KEY for a in out):
            return
        now = trio.current_time()
        if now - self._left.get(group.group_id, -math.inf) < LEFT_CALL_HOLD_S:
            return  # the user just left this group's call
        last, gap = self._probes.get(group.group_id, (-math.inf, LATE_ENTRY_PROBE_GAP))
        if now - last < gap:
            return
        self._probes[group.group_id] = (now, min(gap * 2, 8.0) if now - last < 2 * gap
                                        else LATE_ENTRY_PROBE_GAP)
        self.late_entry_probes += 1
        await self._feed("calls", self.calls.probe, group.group_id, self.clock.now())

    def _repeat(self, send: Callable[..., Any], *args: Any) -> None:
        """[EMU] Send a MIKEY packet again ``mikey_repeats`` times, MIKEY_REPEAT_GAP apart.

        The sidelink user plane has no ARQ and a GMK I_MESSAGE has no acknowledgement, so one
        lost frame would leave a member without the group key. Repeating the identical packet
        (a new PDCP PDU, the same I_MESSAGE) is harmless: a receiver that already installed it
        rejects the copy as REPLAY (its replay cache, PROTOCOL.md §8.1)."""
        if self._nursery is None:
            return

        async def again() -> None:
            for _ in range(self.mikey_repeats):
                await trio.sleep(MIKEY_REPEAT_GAP)
                await send(*args)

        self._nursery.start_soon(again)

    async def _send(self, payload: bytes) -> None:
        if self.relay is not None:
            self.relay.on_own_send(payload)
        await self.send_frame(payload)

    async def send_frame(self, payload: bytes) -> None:
        """Put one PC5 payload (shim onwards) on the air as is (relayed copies use it)."""
        assert self.radio is not None
        self.log.frames_out += 1
        await self.radio.send(fast.ethernet(self.radio.mac, payload))

    # -- events ------------------------------------------------------------------------------
    def _on_domain_event(self, event: Event) -> None:
        now = trio.current_time()
        if event.name == "media":
            self.media.append((now, event.data))
        elif event.name == "srtp_tx":  # per packet sent: a log line for the H1 audit only
            self.log.event(event.name, event.data)
        else:
            self.history.append((now, event))
            self.log.event(event.name, event.data)
            self._changed.set()
            self._changed = trio.Event()
        if self.on_event is not None:
            self.on_event(self, now, event)

    async def wait_event(self, name: str | tuple[str, ...], *, since: int = 0,
                         **match: Any) -> tuple[float, Event]:
        """The first event named ``name`` (or any of a tuple of names) in :attr:`history` from
        index ``since`` whose data has every ``key=value`` of ``match``; waits for it if it has
        not happened yet."""
        names = (name,) if isinstance(name, str) else name
        i = since
        while True:
            while i < len(self.history):
                t, ev = self.history[i]
                i += 1
                if ev.name in names and all(ev.data.get(k) == v for k, v in match.items()):
                    return t, ev
            await self._changed.wait()

    def events(self, name: str) -> list[tuple[float, Event]]:
        return [(t, ev) for t, ev in self.history if ev.name == name]

    # -- timers ------------------------------------------------------------------------------
    def _set_timer(self, source: str, key: Hashable, at_unix: float) -> None:
        at = self.clock.to_trio(at_unix)
        self._tseq += 1
        self._timers[(source, key)] = self._tseq
        heapq.heappush(self._heap, (at, self._tseq, source, key))
        scope = self._timer_scope
        if scope is not None and at < scope.deadline:
            scope.deadline = at

    async def _timer_loop(self) -> None:
        heap = self._heap
        while True:
            while heap and heap[0][0] <= trio.current_time():
                _at, seq, source, key = heapq.heappop(heap)
                if self._timers.get((source, key)) != seq:
                    continue  # replaced or cancelled
                del self._timers[(source, key)]
                machine = self.machines[source]
                await self._feed(source, machine.on_timer, key, self.clock.now())
            with trio.CancelScope(deadline=heap[0][0] if heap else math.inf) as scope:
                self._timer_scope = scope
                await trio.sleep_forever()
            self._timer_scope = None

    def pending_timers(self) -> dict[tuple[str, Hashable], float]:
        """Live timers: (machine, key) → Trio time due."""
        live = {seq: (src, key) for (src, key), seq in self._timers.items()}
        return {live[seq]: at for at, seq, _s, _k in self._heap if seq in live}

    # -- intents -----------------------------------------------------------------------------
    async def _intent_loop(self) -> None:
        async for fn, box, done in self._intent_rx:
            try:
                box.append(("ok", await fn()))
            except ProseMeshError as exc:  # a refused intent (no GMK, no link, ...) is reported
                box.append(("error", exc))
            finally:
                done.set()

    async def intent(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` (an async callable) in the UE's intent loop and return its result."""
        if not self.running:
            raise UeStopped(f"{self.name} is not running")
        box: list[tuple[str, Any]] = []
        done = trio.Event()
        await self._intent_tx.send((fn, box, done))
        await done.wait()
        if not box:
            raise UeStopped(f"{self.name} stopped before the intent ran")
        status, value = box[0]
        if status == "error":
            raise value
        return value

    async def _user(self, source: str, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        """Call a machine's intent method with ``now``; run its actions; return its value."""
        out = self._measure(fn, *args, now=self.clock.now(), **kw)
        value = None
        if isinstance(out, tuple):
            value, out = out
        await self._execute(out, source)
        return value

    # User intents (the runner's buttons). Each is queued and run in order.
    async def start_discovery(self) -> None:
        await self.intent(lambda: self._user("discovery", self.discovery.start))

    async def connect(self, peer_l2id: int, peer_uri: str) -> None:
        await self.intent(lambda: self._user("links", self.links.connect, peer_l2id, peer_uri))

    async def release(self, peer_l2id: int) -> None:
        await self.intent(lambda: self._user("links", self.links.release, peer_l2id))

    async def rekey_link(self, peer_l2id: int) -> None:
        """Start a rekeying of the one-to-one link with ``peer_l2id`` (new KD-sess)."""
        await self.intent(lambda: self._user("links", self.links.rekey, peer_l2id))

    async def solicit(self, discovery_group_id: int, target: bytes | None = None) -> None:
        """Model B: solicit members of a discovery group (optionally one target user)."""
        await self.intent(lambda: self._user("discovery", self.discovery.solicit,
                                             discovery_group_id, target=target))

    async def distribute(self, group: GroupConfig, *, batch: int | None = None,
                         pace: Callable[[Any, list[str]], Awaitable[None]] | None = None,
                         **kw: Any) -> Any:
        """Distribute a (new) GMK of ``group`` as its GMS / ad-hoc creator; returns the issue.

        ``batch``: build and send the I_MESSAGEs that many members at a time, each batch with
        its own T (``GmkDistributor.distribute(recipients=...)`` then ``resend``): 2000 of
        them take the GMS 16-35 s to build, and stamped once they arrive out of the window.
        ``pace(issue, sent)``, if given, is awaited with each batch just sent before the next
        one goes (a host of many emulated UEs holds the GMS until it has decrypted enough)."""
        if batch is None:
            return await self.intent(lambda: self._distributor_op(
                group.group_id, self.gmk_distributor.distribute, group, **kw))
        members = kw.get("members")
        todo = sorted((frozenset(members) if members is not None else group.members)
                      - {self.uri})
        batches = [todo[i:i + batch] for i in range(0, len(todo), batch)] or [[]]
        issue = await self.intent(lambda: self._distributor_op(
            group.group_id, self.gmk_distributor.distribute, group,
            recipients=batches[0], **kw))
        for sent, nxt in pairwise(batches):
            if pace is not None:
                await pace(issue, sent)
            await self.resend_gmk(group.group_id, nxt)
        return issue

    async def add_member(self, group_id: str, uri: str, **kw: Any) -> Any:
        return await self.intent(lambda: self._distributor_op(
            group_id, self.gmk_distributor.add_member, group_id, uri, **kw))

    async def remove_member(self, group_id: str, uri: str, **kw: Any) -> Any:
        return await self.intent(lambda: self._distributor_op(
            group_id, self.gmk_distributor.remove_member, group_id, uri, **kw))

    async def resend_gmk(self, group_id: str, uris: list[str]) -> None:
        """As distributor: send the current GMK of ``group_id`` again (fresh T) to ``uris``,
        e.g. to a member whose D2D link came up after the distribution."""
        await self.intent(lambda: self._user("gmk", self.gmk_distributor.resend, group_id,
                                             list(uris)))

    async def _distributor_op(self, group_id: str, fn: Callable[..., Any], *args: Any,
                              **kw: Any) -> Any:
        """A GMS / creator operation, then the distributor's own bookkeeping: it installs the
        GMK it issued when it is a member (ad-hoc creator), and its directory follows the
        member list it keyed (so its call machine accepts the members it added)."""
        issue = await self._user("gmk", fn, *args, **kw)
        group = self.gmk_distributor.group(group_id)
        if group is None:
            return issue
        if issue is not None and self.uri in issue.members:
            await self._feed("gmk", self.gmk_member.adopt, issue, group, now=self.clock.now())
        if self.uri in group.members or group.kind != "standard":
            self.directory.put(group)
        return issue

    async def start_call(self, group_id: str) -> Any:
        return await self.intent(lambda: self._user("calls", self.calls.start_call, group_id))

    async def send_media(self, group_id: str, payload: bytes) -> Any:
        return await self.intent(
            lambda: self._user("calls", self.calls.send_media, group_id, payload))

    async def end_call(self, group_id: str) -> Any:
        """Leave the group's call locally. Media of it still in flight does not pull the user
        back in: no late-entry probe for the group for LEFT_CALL_HOLD_S (see there)."""
        self._left[group_id] = trio.current_time()
        return await self.intent(lambda: self._user("calls", self.calls.end_call, group_id))

    async def probe(self, group_id: str) -> Any:
        return await self.intent(lambda: self._user("calls", self.calls.probe, group_id))

    # Relaying (issue #6): a RelayNode (node/relay.py) attached by the scenario's relay setup
    # sees every received frame first and every sent one; None = no relaying in this run.
    relay: RelayNode | None = None

    def emit(self, event: Event) -> None:
        """Record a domain event raised outside the machines (e.g. relay selection)."""
        self._on_domain_event(event)


def _reason(exc: ProseMeshError) -> Reason:
    """The shared reject vocabulary (protocol/reasons.py) for a package error: its own reason
    when it is one of them, else MALFORMED (the parser's finer reason goes in the detail)."""
    try:
        return Reason(exc.reason)
    except ValueError:
        return Reason.MALFORMED


def _is_mikey(packet: bytes) -> bool:
    """An IPv6/UDP packet (built by our own machines) to the MIKEY port."""
    return len(packet) >= 44 and int.from_bytes(packet[42:44], "big") == MIKEY_PORT


def _hex(l2id: int) -> str:
    return f"{l2id:06x}"

