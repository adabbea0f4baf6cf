"""Issue #5 procedures end to end on real UE nodes, on both backends (memory + MockClock, netns).

Discovery (Model A / Model B / foreign PSDK), the direct-link lifecycle (setup, keepalive,
rekey, release, an unauthorised initiator), a temporary group (user regroup) beside two
standard groups, rekey-with-revoke of an ad-hoc group, and late entry into a call in progress.
Real crypto and frames throughout; timeouts are virtual on memory and real on netns, so the
netns variants wait out real protocol timers only where the procedure needs one (T4101).
"""

from __future__ import annotations

from dataclasses import replace

import trio
from _node_helpers import STANDARD, rekey_link, running_ues, scenario, solicit

from prose_mesh.constants import T4101_S
from prose_mesh.node.provision import group_config
from prose_mesh.protocol.groups import GroupConfig
from prose_mesh.scenario.model import Group, Multicast

STEP = 10.0  # s: generous on netns where the 2 shared cores are busy


async def wait(ue, name, since=0, **match):
    with trio.fail_after(STEP):
        return await ue.wait_event(name, since=since, **match)


async def until(predicate, what: str) -> None:
    """Poll ``predicate`` (state that changes without an event) until it holds."""
    with trio.move_on_after(STEP):
        while not predicate():
            await trio.sleep(0.01)
        return
    raise AssertionError(f"timed out waiting for {what}")


async def talk(ue, group_id: str, n: int, tag: int = 0) -> list[bytes]:
    payloads = [bytes([tag, i]) * 80 for i in range(n)]
    for p in payloads:
        await ue.send_media(group_id, p)
        await trio.sleep(0.02)
    await trio.sleep(0.5)
    return payloads


def media_of(ue, group_id: str, since: int = 0) -> list[bytes]:
    return [d["payload"] for _t, d in ue.media[since:] if d["group"] == group_id]


async def link(a, b) -> None:
    await a.connect(b.l2id, b.uri)
    await wait(a, "link_up", peer_l2id=b.l2id)
    await wait(b, "link_up", peer_l2id=a.l2id)


# ------------------------------------------------------------------------------- discovery
async def test_discovery_model_b_then_model_a_and_a_foreign_psdk_finds_nothing(
        backend, node_clock):
    """u1-u3 share the community's PSDK; u4 is provisioned with the same Discovery Group ID
    but another PSDK (another PKMF's), so nothing it hears descrambles and nothing it sends
    is accepted by the others."""
    scen = scenario((), n=4)

    def foreign_psdk(prov):
        dgid, psdk = prov["u4"].discovery_group
        prov["u4"] = replace(prov["u4"], discovery_group=(dgid, bytes(b ^ 0x5A for b in psdk)))

    async with running_ues(backend, scen, adjust=foreign_psdk) as (_air, ues):
        u1, u2, u3, u4 = (ues[f"u{i}"] for i in range(1, 5))
        assert u4.prov.discovery_group[0] == u1.prov.discovery_group[0]
        # Model B: u3 solicits; u1 and u2 respond; u3 learns both from the responses
        await solicit(u3)
        for peer in (u1, u2):
            _t, ev = await wait(u3, "peer_discovered", l2id=peer.l2id)
            assert ev.data["model"] == "B"
            assert ev.data["group_id"] == u1.prov.discovery_group[0]
        assert {p.l2id for p in u3.discovery.peers()} == {u1.l2id, u2.l2id}  # never u4
        assert not u1.events("peer_discovered")  # u2's response was not solicited by u1
        # Model A: u1 announces; u2 discovers it; u3 only refreshes its entry (no new event)
        await u1.start_discovery()
        _t, ev = await wait(u2, "peer_discovered", l2id=u1.l2id)
        assert ev.data["model"] == "A"
        await until(lambda: next(p for p in u3.discovery.peers() if p.l2id == u1.l2id).model
                    == "A", "u3 to refresh u1's entry from the announcement")
        assert len(u3.events("peer_discovered")) == 2
        # the foreign-PSDK UE announces and solicits too: nobody accepts it, it finds nobody
        await u4.start_discovery()
        await solicit(u4)
        await until(lambda: all(u.log.rejected[("discovery", "UNKNOWN_KEY")] >= 2
                                for u in (u1, u2, u3)), "the others to reject u4's messages")
        await trio.sleep(0.2)
        assert not u4.events("peer_discovered") and u4.discovery.peers() == []
        # everything u4 heard (u2's/u1's responses, u1's announcement) failed to descramble
        assert u4.log.rejected[("discovery", "UNKNOWN_KEY")] >= 3
        assert u4.log.accepted["discovery"] == 0
        for ue in (u1, u2, u3):
            assert u4.l2id not in {p.l2id for p in ue.discovery.peers()}
            assert ue.log.unaccounted == 0


# ------------------------------------------------------------------------------- direct link
async def test_direct_link_setup_keepalive_rekey_release_and_an_unauthorised_initiator(
        backend, node_clock):
    """u2's address book holds u1 but not u3. Keepalive: on memory six T4101 rounds (60 s
    virtual, past the 50 s Maximum Inactivity Period, so the link only survives if each
    keepalive resets the responder's T4102); on netns one real round."""
    scen = scenario((), n=3)
    books = {"u2": frozenset({"sip:u1@test.example.org"})}
    async with running_ues(backend, scen, known_peers=books) as (_air, ues):
        u1, u2, u3 = ues["u1"], ues["u2"], ues["u3"]
        await link(u1, u2)
        t_up = trio.current_time()
        kd0 = u1.links.link(u2.l2id).kd_sess_id
        assert kd0 and u2.links.link(u1.l2id).kd_sess_id == kd0
        # keepalive: KEEPALIVE accepted by the responder, KEEPALIVE_ACK by the initiator
        rounds = 6 if backend == "memory" else 1
        pc5s = (u1.log.accepted["pc5s"], u2.log.accepted["pc5s"])
        await trio.sleep_until(t_up + rounds * T4101_S + T4101_S / 2)
        assert u2.log.accepted["pc5s"] - pc5s[1] == rounds  # KEEPALIVEs
        assert u1.log.accepted["pc5s"] - pc5s[0] == rounds  # their ACKs
        assert u1.links.link(u2.l2id).established and u2.links.link(u1.l2id).established
        assert not u1.events("link_down") and not u2.events("link_down")
        # rekey: a new KD-sess ID on both sides
        marks = (len(u1.history), len(u2.history))
        await rekey_link(u1, u2.l2id)
        _t, ev1 = await wait(u1, "link_rekeyed", since=marks[0], peer_l2id=u2.l2id)
        _t, ev2 = await wait(u2, "link_rekeyed", since=marks[1], peer_l2id=u1.l2id)
        kd1 = ev1.data["kd_sess_id"]
        assert kd1 != kd0 and ev2.data["kd_sess_id"] == kd1
        assert u1.links.link(u2.l2id).kd_sess_id == kd1 == u2.links.link(u1.l2id).kd_sess_id
        # data still flows: an ad-hoc GMK goes to u2 over the link, under the new context
        cfg = GroupConfig("sip:pair@test.example.org", "adhoc", u1.uri,
                          frozenset({u1.uri, u2.uri}), max_gmk_period=600.0)
        rx = u2.link_rx[u1.l2id]
        issue = await u1.distribute(cfg, member_l2ids={u2.uri: u2.l2id})
        await wait(u2, "gmk_installed", group_id=cfg.group_id, gmk_id=issue.gmk_id)
        assert u2.link_rx[u1.l2id] > rx
        # release: both sides down
        marks = (len(u1.history), len(u2.history))
        await u1.release(u2.l2id)
        await wait(u1, "link_down", since=marks[0], peer_l2id=u2.l2id)
        _t, ev = await wait(u2, "link_down", since=marks[1], peer_l2id=u1.l2id)
        assert "released by peer" in ev.data["reason"]
        assert u1.links.link(u2.l2id) is None
        peer_view = u2.links.link(u1.l2id)
        assert peer_view is None or not peer_view.established
        # an initiator not in u2's address book is refused (REJECT #1 after its signature)
        since3 = len(u3.history)
        await u3.connect(u2.l2id, u2.uri)
        _t, ev = await wait(u3, "link_down", since=since3, peer_l2id=u2.l2id)
        assert "cause #1" in ev.data["reason"] and not ev.data["established"]
        assert u2.log.rejected[("pc5s", "UNAUTHORISED_SIGNER")] == 1
        assert u2.links.link(u3.l2id) is None
        assert not [e for _t, e in u2.history if e.name == "link_up"
                    and e.data["peer_l2id"] == u3.l2id]
        assert u2.log.unaccounted == 0 and u1.log.unaccounted == 0


# ------------------------------------------------------------------------------- temporary group
FIRE = Group("fire", "standard", members=("u4", "u5"), manager="u1",
             uri="sip:fire@test.example.org", l2_group_id=0x00B002,
             multicast=Multicast("ff15::b002"))
REGROUP_ID = "sip:regroup-1@test.example.org"


def standard_state(ues, group_ids):
    """Per UE and standard group: its current GMK record, group configuration and PGK."""
    out = {}
    for name, ue in ues.items():
        now = ue.clock.now()
        for gid in group_ids:
            out[(name, gid)] = (ue.gmk_member.current(gid, now), ue.directory.get(gid),
                                ue.pdcp.pgks.get(gid))
    return out


async def _regroup(scen, ues):
    """u1 (GMS of police and fire) creates a temporary group of u2, u3 (police) and u4 (fire),
    adding them one at a time over D2D links; u5 (fire) stays out."""
    u1 = ues["u1"]
    police, fire = group_config(scen, STANDARD), group_config(scen, FIRE)
    for cfg, members in ((police, ("u2", "u3")), (fire, ("u4", "u5"))):
        issue = await u1.distribute(cfg)
        for n in members:
            await wait(ues[n], "gmk_installed", group_id=cfg.group_id, gmk_id=issue.gmk_id)
    for n in ("u2", "u3", "u4"):
        await link(u1, ues[n])
    before = standard_state(ues, (police.group_id, fire.group_id))
    temp = GroupConfig(REGROUP_ID, "temporary", u1.uri, frozenset({u1.uri}),
                       max_gmk_period=600.0, constituents=(police.group_id, fire.group_id))
    await u1.distribute(temp)
    for n in ("u2", "u3", "u4"):
        since = len(ues[n].history)
        await u1.add_member(REGROUP_ID, ues[n].uri, l2id=ues[n].l2id)
        _t, ev = await wait(ues[n], "gmk_installed", since=since, group_id=REGROUP_ID)
        assert ev.data["kind"] == "temporary" and ev.data["distributor"] == u1.uri
    members = ("u1", "u2", "u3", "u4")

    def converged():
        issued = u1.gmk_distributor.issued(REGROUP_ID).gmk_id
        return all((r := ues[n].gmk_member.current(REGROUP_ID, ues[n].clock.now()))
                   and r.gmk_id == issued for n in members)

    await until(converged, "every temporary-group member to hold the creator's current GMK")
    return police, fire, before, members


async def test_temporary_group_leaves_the_standard_groups_alone_and_reaches_its_members(
        backend, node_clock):
    scen = scenario((STANDARD, FIRE), n=5)
    async with running_ues(backend, scen) as (_air, ues):
        police, fire, before, members = await _regroup(scen, ues)
        u5 = ues["u5"]
        for n in members[1:]:
            g = ues[n].directory.get(REGROUP_ID)
            assert g.kind == "temporary" and g.distributor == ues["u1"].uri
            assert g.constituents == (police.group_id, fire.group_id)
        assert u5.directory.get(REGROUP_ID) is None
        assert u5.gmk_member.current(REGROUP_ID, u5.clock.now()) is None
        # nothing of the constituent groups changed anywhere
        assert standard_state(ues, (police.group_id, fire.group_id)) == before
        # a call by u2 (a police member) reaches the temporary group's members, not u5
        marks = {n: (len(u.history), len(u.media)) for n, u in ues.items()}
        filtered5 = u5.log.filtered["group_not_mine"]
        u2 = ues["u2"]
        await u2.start_call(REGROUP_ID)
        for n in ("u1", "u3", "u4"):
            _t, ev = await wait(ues[n], "call_joined", since=marks[n][0], group=REGROUP_ID)
            assert ev.data["caller"] == u2.uri
        payloads = await talk(u2, REGROUP_ID, 5, tag=0x7E)
        for n in ("u1", "u3", "u4"):
            assert media_of(ues[n], REGROUP_ID, marks[n][1]) == payloads, n
        assert len(u5.media) == marks["u5"][1]
        assert not [e for _t, e in u5.history[marks["u5"][0]:] if e.name == "call_joined"]
        assert u5.log.filtered["group_not_mine"] > filtered5  # it heard the frames
        assert standard_state(ues, (police.group_id, fire.group_id)) == before


async def test_temporary_group_call_by_the_last_added_member_reaches_the_first(
        backend, node_clock):
    """Members learn the member list only from the creator's signed key parameters: u2, added
    first, must accept u4, added last (each add re-keys every member with the new list)."""
    scen = scenario((STANDARD, FIRE), n=5)
    async with running_ues(backend, scen) as (_air, ues):
        await _regroup(scen, ues)
        u2, u4 = ues["u2"], ues["u4"]
        assert u4.uri in u2.directory.get(REGROUP_ID).members
        since = len(u2.history)
        await u4.start_call(REGROUP_ID)
        await wait(u2, "call_joined", since=since, group=REGROUP_ID)
        payloads = await talk(u4, REGROUP_ID, 3, tag=0x44)
        assert media_of(u2, REGROUP_ID) == payloads
        assert u2.log.rejected[("call_key", "UNAUTHORISED_SIGNER")] == 0


# ------------------------------------------------------------------------------- rekey / revoke
RESCUE4 = Group("rescue", "adhoc", members=("u2", "u3", "u4"), creator="u1",
                l2_group_id=0x00A004)


async def test_removing_a_member_rekeys_the_rest_and_shuts_it_out_of_the_next_call(
        backend, node_clock):
    scen = scenario((RESCUE4,), n=4)
    async with running_ues(backend, scen) as (_air, ues):
        u1, u2, u3, u4 = (ues[f"u{i}"] for i in range(1, 5))
        for peer in (u2, u3, u4):
            await link(u1, peer)
        cfg = group_config(scen, RESCUE4)
        l2ids = {u.uri: u.l2id for u in (u2, u3, u4)}
        first = await u1.distribute(cfg, member_l2ids=l2ids)
        for ue in (u2, u3, u4):
            await wait(ue, "gmk_installed", group_id=cfg.group_id, gmk_id=first.gmk_id)
        marks = {n: len(u.history) for n, u in ues.items()}
        second = await u1.remove_member(cfg.group_id, u4.uri)
        assert second.gmk_id != first.gmk_id and u4.uri not in second.members
        assert second.revoking
        for ue in (u2, u3):
            _t, ev = await wait(ue, "gmk_installed", since=marks[ue.name],
                                group_id=cfg.group_id, gmk_id=second.gmk_id)
            assert ev.data["revoking"]
            assert ue.directory.get(cfg.group_id).members == second.members
            await until(lambda ue=ue: ue.gmk_member.current(cfg.group_id, ue.clock.now())
                        .gmk_id == second.gmk_id, f"{ue.name} to send with the new GMK")
        await trio.sleep(0.2)
        assert not [e for _t, e in u4.history[marks["u4"]:] if e.name == "gmk_installed"]
        assert u4.gmk_member.by_gmk_id(second.gmk_id) is None
        # a call under the new GMK: u1 and u3 decrypt it, u4 nothing
        media4, call_key4 = len(u4.media), u4.log.rejected[("call_key", "UNKNOWN_KEY")]
        await u2.start_call(cfg.group_id)
        for ue in (u1, u3):
            _t, ev = await wait(ue, "call_joined", since=marks[ue.name], group=cfg.group_id)
            assert ev.data["caller"] == u2.uri
        payloads = await talk(u2, cfg.group_id, 5, tag=0x5E)
        for ue in (u1, u3):
            assert media_of(ue, cfg.group_id) == payloads, ue.name
        assert len(u4.media) == media4  # zero media events for the removed member
        assert not [e for _t, e in u4.history[marks["u4"]:] if e.name == "call_joined"]
        # it did hear the call: the announcement names a GMK it does not hold
        assert u4.log.rejected[("call_key", "UNKNOWN_KEY")] > call_key4
        assert u4.log.accepted["media"] == 0


# ------------------------------------------------------------------------------- late entry
async def test_a_member_coming_into_range_mid_call_decrypts_the_rest(backend, node_clock):
    """u3 holds the group's GMK but is out of u2's range when u2 starts the call; once in
    range it enters the call (late entry) and decrypts media. Only the fact is checked."""
    scen = scenario((STANDARD,))
    async with running_ues(backend, scen) as (air, ues):
        gms, u2, u3 = ues["u1"], ues["u2"], ues["u3"]
        cfg = group_config(scen, STANDARD)
        issue = await gms.distribute(cfg)
        for ue in (u2, u3):
            await wait(ue, "gmk_installed", group_id=cfg.group_id, gmk_id=issue.gmk_id)
        air.medium.link_down("u2", "u3")
        since = len(u3.history)
        await u2.start_call(cfg.group_id)
        await wait(u2, "call_joined", group=cfg.group_id)
        await talk(u2, cfg.group_id, 5, tag=1)
        assert u3.calls.call(cfg.group_id) is None and not u3.media  # out of range
        air.medium.link_up("u2", "u3")
        for burst in range(2, 40):  # talk until u3 has decrypted something (bounded)
            await talk(u2, cfg.group_id, 5, tag=burst)
            if media_of(u3, cfg.group_id):
                break
        _t, ev = await wait(u3, "call_joined", since=since, group=cfg.group_id)
        assert ev.data["caller"] == u2.uri
        got = media_of(u3, cfg.group_id)
        assert got and all(p[0] >= 2 for p in got)  # only what was sent after coming in range
        assert u3.log.accepted["media"] == len(got)
