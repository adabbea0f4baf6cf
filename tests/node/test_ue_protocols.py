"""The protocol machines driven by real UE nodes over the medium, on both backends.

Real crypto, real frames: a D2D link (PC5-S with ECCSI/SAKKE), standard GMK distribution over
a PGK-ciphered group bearer, an ad-hoc group keyed over D2D links, and a group call with SRTP
media. Timeouts are virtual on the memory backend and real on netns.
"""

from __future__ import annotations

import pytest
import trio
import trio.testing
from _node_helpers import ADHOC, STANDARD, running_ues, scenario

from prose_mesh.node.provision import group_config

STEP = 10.0  # s: generous on netns where the 2 shared cores are busy


@pytest.fixture
def mock_clock():
    return trio.testing.MockClock(autojump_threshold=0)


async def wait(ue, name, since=0, **match):
    with trio.fail_after(STEP):
        return await ue.wait_event(name, since=since, **match)


async def test_d2d_link_then_adhoc_group_then_call_with_media(backend, node_clock):
    scen = scenario((ADHOC,))
    async with running_ues(backend, scen) as (_air, ues):
        u1, u2, u3 = ues["u1"], ues["u2"], ues["u3"]
        # D2D link u1 -> u2: u3 hears every frame but holds no key of the link
        await u1.connect(u2.l2id, u2.uri)
        await wait(u1, "link_up", peer_l2id=u2.l2id)
        await wait(u2, "link_up", peer_l2id=u1.l2id)
        assert u1.links.link(u2.l2id).established and u2.links.link(u1.l2id).established
        assert u1.links.link(u2.l2id).peer_uri == u2.uri
        assert u3.log.filtered["unicast_not_for_me"] > 0 and not u3.link_rx
        # ad-hoc group: the creator needs a link with every member, then sends the GMK on it
        await u1.connect(u3.l2id, u3.uri)
        await wait(u1, "link_up", peer_l2id=u3.l2id)
        cfg = group_config(scen, ADHOC)
        issue = await u1.distribute(cfg, member_l2ids={u2.uri: u2.l2id, u3.uri: u3.l2id})
        for ue in (u2, u3):
            _t, ev = await wait(ue, "gmk_installed", group_id=cfg.group_id, gmk_id=issue.gmk_id)
            assert ev.data["kind"] == "adhoc" and ev.data["distributor"] == u1.uri
            assert ue.directory.get(cfg.group_id).members == issue.members  # learned the group
        assert u1.gmk_member.current(cfg.group_id, u1.clock.now()).gmk_id == issue.gmk_id
        # a group call by u3 (a member, not the creator) with media
        marks = {n: len(u.history) for n, u in ues.items()}
        await u3.start_call(cfg.group_id)
        await wait(u3, "call_joined", since=marks["u3"], group=cfg.group_id)
        for ue in (u1, u2):
            _t, ev = await wait(ue, "call_joined", since=marks[ue.name], group=cfg.group_id)
            assert ev.data["caller"] == u3.uri
        payloads = [bytes([i]) * 160 for i in range(5)]
        for p in payloads:
            await u3.send_media(cfg.group_id, p)
            await trio.sleep(0.02)
        await trio.sleep(0.5)
        for ue in (u1, u2):
            got = [d["payload"] for _t, d in ue.media if d["group"] == cfg.group_id]
            assert got == payloads, f"{ue.name} decrypted {len(got)} of 5"
            assert ue.log.accepted["media"] == 5
        assert not u3.media  # own media is never looped back to oneself


async def test_standard_gmk_over_pgk_bearer_and_call(backend, node_clock):
    scen = scenario((STANDARD,))
    async with running_ues(backend, scen) as (_air, ues):
        gms, u2, u3 = ues["u1"], ues["u2"], ues["u3"]
        cfg = group_config(scen, STANDARD)
        assert gms.prov.pgks and u2.prov.pgks  # the bearer is ciphered with the group's PGK
        issue = await gms.distribute(cfg)
        for ue in (u2, u3):
            _t, ev = await wait(ue, "gmk_installed", group_id=cfg.group_id, gmk_id=issue.gmk_id)
            assert ev.data["kind"] == "standard" and ev.data["distributor"] == gms.uri
        await trio.sleep(0.1)
        # each member hears both I_MESSAGEs on the group bearer and keeps only its own
        for ue in (u2, u3):
            assert ue.log.accepted["gmk"] == 1
            assert ue.log.rejected[("gmk", "NOT_FOR_ME")] >= 1
        since = len(u3.history)
        await u2.start_call(cfg.group_id)
        await wait(u3, "call_joined", since=since, group=cfg.group_id)
        await u2.send_media(cfg.group_id, b"\x55" * 160)
        await trio.sleep(0.3)
        assert [d["payload"] for _t, d in u3.media] == [b"\x55" * 160]
        assert not gms.media  # the GMS is not a member: no GMK of its own, no media


async def test_members_accept_media_from_a_member_added_to_an_adhoc_group(mock_clock):
    scen = scenario((ADHOC,), n=4)
    async with running_ues("memory", scen) as (_air, ues):
        u1, u2, u3, u4 = (ues[f"u{i}"] for i in range(1, 5))
        for peer in (u2, u3, u4):
            await u1.connect(peer.l2id, peer.uri)
            await wait(u1, "link_up", peer_l2id=peer.l2id)
        cfg = group_config(scen, ADHOC)
        issue = await u1.distribute(cfg, member_l2ids={u2.uri: u2.l2id, u3.uri: u3.l2id})
        await wait(u3, "gmk_installed", gmk_id=issue.gmk_id)
        # An ad-hoc add is a rekey: a new GMK (and member list) to every member, newcomer included.
        issue = await u1.add_member(cfg.group_id, u4.uri, l2id=u4.l2id)
        for ue in (u2, u3, u4):
            await wait(ue, "gmk_installed", gmk_id=issue.gmk_id)
        since = len(u4.history)
        await u2.start_call(cfg.group_id)
        await wait(u4, "call_joined", since=since, group=cfg.group_id)
        await u4.send_media(cfg.group_id, b"\x44" * 160)
        await trio.sleep(0.3)
        assert u2.log.rejected[("media", "UNKNOWN_KEY")] == 0  # today: 1 (sender not a member)
        assert [d["payload"] for _t, d in u2.media] == [b"\x44" * 160]
