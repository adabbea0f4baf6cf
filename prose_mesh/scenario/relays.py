"""Relays and the network side in a scenario run: the runner's side of relaying (issue #6).

Contract with :mod:`prose_mesh.scenario.runner` (the runner calls these, in this order):

* :func:`plan` — problems that refuse the scenario before anything starts;
* :func:`setup` — after the UEs exist, before any of them runs: relay roles on the relay UEs,
  duplicate caches and relay selectors, stored in ``state.relays``;
* :func:`run` — started in the UEs' nursery: relay discovery, selection, forwarding tasks;
* :func:`link_via` — the timeline's ``d2d_link`` with ``via``;
* :func:`finish` — after the run, before the report: figures into ``state.counts`` /
  ``state.samples``, failures through ``state.fail``.

The attack runner calls :func:`misbehave` (a ``malicious_relay`` attacker; :func:`behave`
ends it early). The runner's GMK steps for a group whose manager is the network go to
:func:`distribute` (see :func:`manages`).

``state.relays`` holds each scenario relay's :class:`~prose_mesh.node.relay.RelayNode` by
relay name, and under :data:`NODES` the RelayNode of every UE by UE name.

What is emulated [EMU]:

* UE-to-UE relaying: a relay forwards whole PC5 frames (group traffic, one-to-one signalling
  and data) in the relay envelope of :mod:`prose_mesh.wire.relay`, over as many relays as the
  topology needs; every UE suppresses duplicates; relay discovery uses one PSDK per Relay
  Service Code, generated per run (the PKMF's, provisioned before deployment).
* With a ``network`` section (:mod:`prose_mesh.network`, R2): the network side opens for the
  run; in-coverage UEs get an uplink; a chained relay links to its upstream relay; a remote UE
  (one that links to a relay with ``d2d_link via``, or any member out of coverage, which
  selects a relay on its own) gets an address of the /64 of the in-coverage relay its chain
  ends at, the chain's relays learn their next hop to it, the network registers it
  (REMOTE_UE_INFO, done here rather than over the air), and it fetches its key material from
  the KMS through the relays. GMKs of network-managed groups (:func:`distribute`) travel GMS
  -> uplink -> relays (IP over their secured links) -> the remote UE's GMK receiver. Relayed
  group frames are also carried between in-coverage UEs over their uplinks (the group's Uu
  path, reduced to copying the PC5 frames, still end-to-end protected).
"""

from __future__ import annotations

import math
import secrets
from typing import TYPE_CHECKING, Any

import trio

from prose_mesh.errors import ConfigError
from prose_mesh.node.machines import user_info
from prose_mesh.node.relay import Misbehaviour, RelayNode, canary_hits, relay_counts
from prose_mesh.protocol.discovery import Discovery
from prose_mesh.protocol.relay import RELAY_ANNOUNCE_S, Forwarder, Selector
from prose_mesh.scenario import model as M

if TYPE_CHECKING:
    from prose_mesh.scenario.runner import RunState

NODES = "_nodes"  # key of state.relays holding every UE's RelayNode
NETWORK = "_network"  # key of state.relays holding the network side (prose_mesh.network)
PENDING = "_pending"  # malicious behaviours set before setup, by relay name


def plan(scenario: M.Scenario) -> list[str]:
    """Nothing of the relay and network sections is refused any more (the loader has already
    checked their consistency)."""
    return []


def _nodes(state: RunState) -> dict[str, RelayNode]:
    return state.relays.setdefault(NODES, {})


async def setup(state: RunState) -> None:
    """Duplicate caches on every UE, forwarding on the relay UEs, relay discovery keys, and a
    relay selector on every UE that links to a relay (a ``d2d_link`` ``via`` a relay)."""
    scen = state.scenario
    if not scen.relays:
        return
    ues = state.ues
    psdks = {r.relay_service_code or 0x000001: secrets.token_bytes(32) for r in scen.relays}
    relay_ues = {r.ue: r for r in scen.relays}
    peer_relays = {ues[r.ue].l2id for r in scen.relays}
    uris = {user_info(ue.uri): ue.uri for ue in ues.values()}
    remote: dict[str, int] = {}  # UE -> Relay Service Code it selects relays of
    for step in scen.timeline:
        a = step.action
        if isinstance(a, M.D2DLink) and a.via and a.b == scen.relay(a.via).ue:
            # the user links to the relay itself: that is the remote UE's selection
            remote.setdefault(a.a, scen.relay(a.via).relay_service_code or 0x000001)
    if scen.network is not None:
        # [EMU] with a network side, every member out of coverage picks a relay on its own
        # (any Relay Service Code) and reaches the network through it; chained relays reach it
        # through their upstream relay
        chained = {r.ue for r in scen.relays if r.upstream is not None}
        members = {m for g in scen.groups for m in g.members}
        for u in scen.ues:
            if u.name in members and not u.in_coverage and u.name not in chained:
                remote.setdefault(u.name, 0)
    nodes = _nodes(state)
    for name, ue in ues.items():
        r = relay_ues.get(name)
        fwd = Forwarder(ue.l2id, relay=r is not None,
                        serves={ues[s].l2id for s in r.serves} if r else set(),
                        peer_relays=peer_relays - {ue.l2id})  # fmt: skip
        code = remote.get(name)
        dgid, psdk = ue.prov.discovery_group
        # the relay codes' PSDKs join the UE's discovery machine (it announces as a relay on
        # its own code; a remote UE monitors them)
        disc = Discovery(l2id=ue.l2id, user_info=user_info(ue.uri),
                         groups={dgid: psdk} if psdk else {},
                         relay_codes=psdks if r is None else
                         {r.relay_service_code or 0x000001: psdks[r.relay_service_code or 1]},
                         relay=r is not None,
                         announce_interval=RELAY_ANNOUNCE_S if r is not None else 5.0)
        ue.discovery = ue.machines["discovery"] = disc
        # a remote UE's first relay is the one its user links to; it reselects on its own
        auto = code == 0  # selects on its own (no d2d_link via in the timeline)
        node = RelayNode(ue, fwd, selector=None if code is None else
                         Selector(relay_code=code or None, active=auto),
                         relay_code=code or None, uris=uris)  # fmt: skip
        if r is not None and code is not None:
            node.monitor = Discovery(l2id=ue.l2id, user_info=user_info(ue.uri),
                                     relay_codes=psdks)
        if scen.network is not None and node.selector is not None:
            node.on_link_up = _attach_cb(state, name)
        nodes[name] = node
        if r is not None:
            state.relays[r.name] = node
            node.misbehaviour = state.relays.get(PENDING, {}).pop(r.name, None)


async def run(state: RunState, nursery: trio.Nursery) -> None:
    """Relay UEs start announcing; every RelayNode's tasks start; with a ``network`` section,
    the network side opens, in-coverage UEs get their uplinks and chained relays link to their
    upstream relay."""
    for name, node in _nodes(state).items():
        await nursery.start(node.run)
        if node.fwd.relay:
            await state.ues[name].start_discovery()
    if state.scenario.network is None:
        return
    network = await nursery.start(_network_task, state)
    ns_of = getattr(getattr(state.air, "fabric", None), "ports", None)
    for u in state.scenario.ues:
        if not u.in_coverage:
            continue
        ue = state.ues[u.name]
        ns = ns_of[u.name].ns if ns_of is not None and u.name in ns_of else None
        uplink = await network.attach_uplink(u.name, uri=ue.uri, namespace=ns)
        node = _nodes(state)[u.name]
        node.uplink, node.address = uplink, uplink.address
        nursery.start_soon(_uplink_reader, node)
    peers = [n.address for n in _nodes(state).values() if n.uplink is not None]
    for node in _nodes(state).values():
        if node.uplink is not None:
            node.tunnel_peers = [a for a in peers if a != node.address]
    for r in state.scenario.relays:
        if r.upstream is not None:
            nursery.start_soon(_link_upstream, state, r)


def _attach_cb(state: RunState, name: str) -> Any:
    async def attached(relay_l2id: int) -> None:
        by_l2 = {ue.l2id: n for n, ue in state.ues.items()}
        if relay_l2id in by_l2:
            await _remote_attach(state, name, by_l2[relay_l2id])

    return attached


async def _network_task(state: RunState, *,
                        task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED) -> None:
    """The network side (KMS + GMS, :mod:`prose_mesh.network`) for the whole run."""
    from prose_mesh.network import gms_uri, open_network
    from prose_mesh.node.provision import community

    scen = state.scenario
    assert scen.network is not None
    epoch = next(iter(state.ues.values())).clock.epoch
    gms = gms_uri(scen.network.name)
    groups = [cfg for cfg in state.groups.values() if cfg.distributor == gms]
    trks = {p.uri: p.trk for p in state.prov.values() if p.trk}
    async with open_network(state.air.backend, kms=community(scen.kms), groups=groups,
                            trks=trks, name=scen.network.name, session=state.session,
                            # netns: the host clock (its services run in threads, where
                            # Trio's clock is out of reach); memory: the virtual one
                            clock=None if state.air.backend == "netns"
                            else lambda: trio.current_time() + epoch,
                            origin=state.origin) as network:
        state.relays[NETWORK] = network
        task_status.started(network)
        await trio.sleep_forever()


async def _uplink_reader(node: RelayNode) -> None:
    async for packet in node.uplink:
        await node.from_uplink(packet)


async def _link_upstream(state: RunState, r: M.Relay) -> None:
    """A chained relay's secured link with its upstream relay (its path to the network)."""
    from prose_mesh.scenario.runner import _link

    up = state.scenario.relay(r.upstream or "")
    node = _nodes(state)[r.ue]
    node.upstream = state.ues[up.ue].l2id
    if await _link(state, r.ue, up.ue) is None:
        state.note(f"relay {r.name}: no link with its upstream relay {up.name}")


class _RemotePath:
    """A remote UE's IP path to the network: its secured link with its relay."""

    def __init__(self, node: RelayNode) -> None:
        self.node = node

    async def send(self, packet: bytes) -> None:
        await self.node.send_ip(packet)

    async def receive(self) -> bytes:
        return await self.node.receive_ip()


async def _remote_attach(state: RunState, remote: str, relay_ue: str) -> None:
    """[EMU] REMOTE_UE_INFO, kept simple: the remote UE gets the next address of the /64 of
    the in-coverage relay its relay chain ends at (as if by the link's IP Address Config,
    IPv6 router), every relay of the chain learns its next hop toward it, and the network
    registers it. The chain is followed through each relay's upstream (a chained relay's
    configured one, or the relay a relay UE itself selected), waiting up to STEP_TIMEOUT for
    it to reach the network. Then the remote UE fetches its key material from the KMS through
    the relays (the provisioning time)."""
    from prose_mesh.network import provision_over_ip
    from prose_mesh.scenario.runner import STEP_TIMEOUT

    scen = state.scenario
    if scen.network is None:
        return
    nodes = _nodes(state)
    by_l2 = {ue.l2id: n for n, ue in state.ues.items()}
    chain: list[str] = []
    with trio.move_on_after(STEP_TIMEOUT):
        while NETWORK not in state.relays:  # still opening (netns: a namespace to make)
            await trio.sleep(0.1)
        while True:
            chain = [relay_ue]
            while (nodes[chain[-1]].uplink is None and nodes[chain[-1]].upstream in by_l2
                   and len(chain) < 16):  # fmt: skip
                chain.append(by_l2[nodes[chain[-1]].upstream])  # type: ignore[index]
            if nodes[chain[-1]].uplink is not None:
                break
            await trio.sleep(0.1)
    head = nodes[chain[-1]] if chain else None
    if head is None or head.uplink is None:
        state.note(f"{state.t():.3f} s: {remote}: relay {relay_ue} has no path to the network")
        return
    network = state.relays[NETWORK]
    counter = state.relays.setdefault("_remote_k", {})
    counter[head.ue.name] = k = counter.get(head.ue.name, 0) + 1
    addr = head.uplink.remote_address(k)
    rnode = nodes[remote]
    old = rnode.address
    rnode.address = addr
    rnode.upstream = state.ues[relay_ue].l2id
    hop = state.ues[remote].l2id
    for name in chain:
        nodes[name].routes[addr] = hop
        if old is not None:
            nodes[name].routes.pop(old, None)
        hop = state.ues[name].l2id
    ue = state.ues[remote]
    if old is not None:
        network.unregister_remote(old)
    network.register_remote(head.ue.name, ue.uri, addr)
    state.log(remote, "remote_ue_info", relay=relay_ue, via=chain, address=addr.hex())
    if not ue.prov.trk:
        return
    t0 = trio.current_time()
    try:
        with trio.fail_after(STEP_TIMEOUT):
            km = await provision_over_ip(
                _RemotePath(rnode), uri=ue.uri, trk=ue.prov.trk, src=addr, now=ue.clock.now,
                kms_period=(int(scen.kms.key_period), int(scen.kms.key_period_offset)),
                kms_uri=scen.kms.uri)  # fmt: skip
    except (TimeoutError, trio.TooSlowError) as exc:
        state.note(f"{remote}: no key material through relay {relay_ue}: {exc}")
        return
    if (km.ssk, km.rsk) != (ue.keys.ssk, ue.keys.rsk):
        state.fail(f"{remote}: key material through the relay differs from provisioning")
    state.sample("relay.provisioning_time", trio.current_time() - t0)


def manages(state: RunState, group: str) -> bool:
    """Is ``group``'s GMS the network side (its manager is the network's name)?"""
    net = state.scenario.network
    return net is not None and state.scenario.group(group).manager == net.name


async def distribute(state: RunState, group: str, kind: str, *, ue: str | None = None,
                     metric: str = "gmk.delivery_time") -> float:
    """The runner's GMK steps for a group the network manages: ``kind`` = ``create``,
    ``rekey``, ``remove`` (``ue`` removed, revoking rekey) or ``add`` (``ue`` added). The GMS
    sends each member's I_MESSAGE to its address (uplink or relayed). Waits for every
    remaining member's install, like the runner's own distribution; returns the Trio time of
    the last install, or +inf when one missed it."""
    from prose_mesh.scenario.runner import _gmk_installed

    network = state.relays[NETWORK]
    cfg = state.groups[group]
    recipients = [state.ues[n] for n in sorted(state.members[group]) if n not in state.killed]
    marks = {r.name: len(r.history) for r in recipients}
    t0 = trio.current_time()
    if kind == "create":
        issue = await network.distribute(cfg.group_id)
    elif kind == "rekey":
        issue = await network.rekey(cfg.group_id)
    elif kind == "remove":
        issue = await network.rekey(cfg.group_id, remove=state.ues[ue or ""].uri)
    elif kind == "add":
        await network.add_member(cfg.group_id, state.ues[ue or ""].uri)
        issue = network.gms.distributor.issued(cfg.group_id)
        if issue is None:
            return t0
    else:
        raise ValueError(f"unknown distribution {kind!r}")
    done: list[float] = []

    async def one(r: Any) -> None:
        t = await _gmk_installed(state, r, cfg.group_id, issue.gmk_id, marks[r.name], t0, metric)
        if t is not None:
            done.append(t)
            state.entries.append((r.name, group, t))

    async with trio.open_nursery() as n:
        for r in recipients:
            n.start_soon(one, r)
    return max(done) if len(done) == len(recipients) else math.inf


async def link_via(state: RunState, a: M.D2DLink) -> None:
    """``a`` links to ``b`` through relay ``via``: when ``b`` is the relay UE itself this is the
    remote UE's relay selection (its secured one-to-one link with the relay); otherwise the
    link to ``b`` is set up through the relay, which forwards its signalling and data."""
    from prose_mesh.scenario.runner import _link

    relay = state.scenario.relay(a.via or "")
    node = _nodes(state)[a.a]
    relay_ue = state.ues[relay.ue]
    if node.selector is not None and a.b == relay.ue:
        node.selector.heard(relay_ue.l2id, state.ues[a.a].clock.now(), relay_ue.uri)
        node.selector.selected = relay_ue.l2id
        node.selector.selections += 1
        node.selector.active = True
    t = await _link(state, a.a, a.b)
    if t is not None:
        state.counts["d2d_link.established"] = state.counts.get("d2d_link.established", 0) + 1
        state.sample("relay.link_setup_time", t)
        if relay.kind == "ue_to_network" and a.b == relay.ue:
            await _remote_attach(state, a.a, relay.ue)


async def misbehave(state: RunState, attacker: M.Attacker) -> Misbehaviour:
    """Turn the relay named by the attacker's option ``relay`` malicious (ADVERSARIAL.md G1,
    G2) with its options ``drop``, ``delay``, ``reorder``, ``modify`` and ``cross_forward``
    ([group A, group B]: A's frames forwarded into B), from the attacker's ``start`` to its
    ``stop`` (honest forwarding outside). The behaviour is also ``state.attackers[name]``; its
    ``counters`` count what it did. May be called before :func:`setup` (the attack runner's
    setup comes first): the behaviour then waits there for its relay."""
    from prose_mesh.node.provision import group_config

    scen = state.scenario
    name = attacker.option("relay")
    if not isinstance(name, str) or name not in {r.name for r in scen.relays}:
        raise ConfigError(f"attacker {attacker.name}: no relay {name!r} in this run")
    reorder = attacker.option("reorder", 0.0)
    cross = attacker.option("cross_forward")
    l2 = (lambda g: group_config(scen, scen.group(g)).l2_group_id)  # noqa: E731
    bad = Misbehaviour(
        drop=float(attacker.option("drop", 0.0)),
        delay=float(attacker.option("delay", 0.0)),
        reorder=float(getattr(reorder, "p", reorder)),
        modify=float(attacker.option("modify", 0.0)),
        cross_forward=(l2(cross[0]), l2(cross[1])) if cross else None,
        seed=attacker.seed if attacker.seed is not None else scen.seed or 0,
        start_at=state.origin + attacker.start,
        stop_at=math.inf if attacker.stop is None else state.origin + attacker.stop,
        name=attacker.name,
    )  # fmt: skip
    state.attackers[attacker.name] = bad
    node = state.relays.get(name)
    if node is not None:
        node.misbehaviour = bad
    else:
        state.relays.setdefault(PENDING, {})[name] = bad
    return bad


async def behave(state: RunState, attacker: M.Attacker) -> None:
    """The malicious relay forwards honestly from now on (the attacker's stop)."""
    bad = state.attackers.get(attacker.name)
    if isinstance(bad, Misbehaviour):
        bad.stop_at = min(bad.stop_at, trio.current_time())


def finish(state: RunState) -> None:
    """Relay counters, per-hop media delay, reselection time, the relay-memory canary scan."""
    nodes = _nodes(state)
    if not nodes:
        return
    for k, v in relay_counts(nodes.values()).items():
        state.counts[k] = v
    played = state.played()
    for name, node in nodes.items():
        for p in played[name]:
            hops = node.media_hops.get(p.index, 0) + 1  # radio hops: relays + 1
            state.sample(f"relay.media_delay.hops{hops}", p.t - p.sent)
    _reselection(state, nodes)
    _canary_scan(state)
    _out_of_order(state)


def _reselection(state: RunState, nodes: dict[str, RelayNode]) -> None:
    """Time from a selected relay's death (its ``kill``) to the remote UE's link with the
    relay it reselected; also the failure-detection part of it."""
    killed_at = {st.action.ue: state.origin + st.at for st in state.scenario.timeline
                 if isinstance(st.action, M.Kill)}  # fmt: skip
    l2_of = {ue.l2id: n for n, ue in state.ues.items()}
    for name, node in nodes.items():
        if node.selector is None:
            continue
        ue = state.ues[name]
        for t, ev, data in node.selection_log:
            if ev == "relay_failed":
                dead = killed_at.get(l2_of.get(data["l2id"], ""))
                if dead is not None and t >= dead:
                    state.sample("relay.failure_detect_time", t - dead)
            if ev != "relay_reselected" or data["previous"] is None:
                continue
            failed = [tf for tf, e, d in node.selection_log
                      if e == "relay_failed" and d["l2id"] == data["previous"] and tf <= t]
            up_new = [te for te, e in ue.history if te >= t and e.name == "link_up"
                      and e.data.get("peer_l2id") == data["l2id"]]  # fmt: skip
            if failed and up_new:
                # when the relay stopped forwarding (not killed): detection at the failure
                state.sample("relay.reselection_after_failure", up_new[0] - failed[-1])
            dead = killed_at.get(l2_of.get(data["previous"], ""), math.nan)
            up = [te for te, e in ue.history if te >= t and e.name == "link_up"
                  and e.data.get("peer_l2id") == data["l2id"]]  # fmt: skip
            if up and not math.isnan(dead) and up[0] >= dead:
                state.sample("relay.reselection_time", up[0] - dead)
            elif not up:
                state.note(f"{name}: reselected relay {data['l2id']:06x} but no link came up")


def _canary_scan(state: RunState) -> None:
    """ADVERSARIAL.md G3: the media canary never appears in what a non-member relay holds
    (a bounded walk of the objects reachable from its Ue, see ``canary_hits``)."""
    members = set().union(*state.members.values()) if state.members else set()
    hits = scanned = 0
    for r in state.scenario.relays:
        if r.ue in members:
            continue
        h, n = canary_hits(state.ues[r.ue], state.canary)
        hits += h
        scanned += n
    state.counts["relay.canary_hits"] = float(hits)
    state.counts["relay.canary_objects_scanned"] = float(scanned)
    # the control: the same walk over a member that played media must find the canary (else
    # the scan proves nothing)
    for name in sorted(members):
        if state.ues[name].media:
            state.counts["relay.canary_control_hits"] = float(
                canary_hits(state.ues[name], state.canary)[0])
            break


def _out_of_order(state: RunState) -> None:
    """Media played out of sequence (a reordering relay; in-window reorder is accepted)."""
    n = 0
    for played in state.played().values():
        last: dict[tuple[bytes, str], int] = {}
        for p in played:
            key = (p.tag, p.talker)
            if key in last and p.seq < last[key]:
                n += 1
            last[key] = max(p.seq, last.get(key, -1))
    state.counts["relay.media_out_of_order"] = float(n)


def summary(state: RunState) -> dict[str, Any]:
    """Per-relay forwarding counters (for tests and tools)."""
    return {name: dict(node.fwd.counts) for name, node in state.relays.items()
            if not name.startswith("_")}  # fmt: skip
