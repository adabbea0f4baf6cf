"""Regression: IP over a one-to-one link counts as "via link" only under the link's protection.

L2 IDs are unauthenticated (PROTOCOL.md §4.1): anyone can put a linked peer's source L2 ID on
a frame. A GMK I_MESSAGE arriving "via link" is authorised by the link's authenticated peer
URI (gmk_receiver step 5), so a PDU with KD-sess ID 0 (no context, no MAC-I, no ciphering)
must never be taken as coming from the link peer (ADVERSARIAL.md §3). The packet used is a
genuine ad-hoc GMK I_MESSAGE signed by the peer: the positive control at the end shows the
very same packet is installed when it comes under the link's protection, so only the
protection check stands between the spoofed copy and the GMK machine.
"""

from __future__ import annotations

import pytest
import trio
import trio.testing
from _node_helpers import ADHOC, running_ues, scenario

from prose_mesh.node.machines import LCID_IP_UNICAST
from prose_mesh.node.provision import group_config
from prose_mesh.protocol.actions import SendUnicastIp
from prose_mesh.protocol.gmk_distribution import GmkDistributor
from prose_mesh.wire import fast


@pytest.fixture
def clock():
    return trio.testing.MockClock(autojump_threshold=0)


def gmk_state(ue):
    """Everything of the victim's GMK machine a delivered I_MESSAGE would change or count."""
    m = ue.gmk_member
    return (m.accepted, dict(m.rejects), dict(m.crypto_ops), m.replay.stats(),
            m.current(ADHOC_ID, ue.clock.now()), ue.directory.get(ADHOC_ID),
            len(ue.events("gmk_installed")),
            sorted((k, n) for k, n in ue.log.rejected.items() if k[0] == "gmk"),
            ue.log.accepted["gmk"])


ADHOC_ID = ADHOC.uri or ADHOC.id


def spoofed(attacker_mac: bytes, peer_l2id: int, victim_l2id: int, lcid: int, sdu_type: int,
            packet: bytes) -> bytes:
    """An unprotected one-to-one PDU (KD-sess ID 0, no MAC-I) with the peer's source L2 ID."""
    return fast.ethernet(attacker_mac, fast.build_sl_sch(
        lcid=lcid, src_l2id=peer_l2id, dst_l2id=victim_l2id, cast=fast.CAST_ONE_TO_ONE,
        sdu_type=sdu_type, sdu=packet, key_id=0, sn=0))


async def test_unprotected_link_ip_with_a_linked_peers_l2id_never_reaches_the_gmk_machine(clock):
    scen = scenario((ADHOC,))
    async with running_ues("memory", scen) as (_air, ues):
        u1, victim = ues["u1"], ues["u2"]
        await u1.connect(victim.l2id, victim.uri)
        with trio.fail_after(10):
            await victim.wait_event("link_up", peer_l2id=u1.l2id)
        # a genuine I_MESSAGE from the link peer (the creator), for the victim
        cfg = group_config(scen, ADHOC).with_members(frozenset({u1.uri, victim.uri}))
        creator = GmkDistributor(keys=u1.prov.keys, src_l2id=u1.l2id)
        _issue, actions = creator.distribute(cfg, now=u1.clock.now(),
                                             member_l2ids={victim.uri: victim.l2id})
        (send,) = [a for a in actions if isinstance(a, SendUnicastIp)]
        assert send.peer_l2id == victim.l2id
        before = gmk_state(victim)
        rx_before = victim.link_rx[u1.l2id]
        # 1) the SLRB of IP (LCID 1) with KD-sess ID 0: no security context is named, so PDCP
        #    refuses it before any SDU is looked at (TS 33.303 §6.5.3.2: KD-sess ID 0 only
        #    for PC5 signalling that is not protected)
        await victim.handle_frame(spoofed(b"\x02\x66\x66\x66\x66\x66", u1.l2id, victim.l2id,
                                          LCID_IP_UNICAST, fast.SDU_IP, send.packet))
        assert victim.log.rejected[("pdcp", "UNKNOWN_KEY")] == 1
        # 2) the never-protected PC5-S LCID 28 with SDU type IP: not a PC5-S SDU, refused by
        #    the frame parser with its header reason
        await victim.handle_frame(spoofed(u1.radio.mac, u1.l2id, victim.l2id,
                                          fast.LCID_PC5S_PLAIN, fast.SDU_IP, send.packet))
        assert victim.log.rejected[("frame", "BAD_HEADER")] == 1
        assert gmk_state(victim) == before  # neither reached the GMK machine
        assert victim.link_rx[u1.l2id] == rx_before  # nor counted as a protected PDU
        assert victim.log.unaccounted == 0  # one verdict each
        assert victim.links.link(u1.l2id).established  # the link itself is untouched
        # positive control: the same packet under the link's protection is installed
        await u1.intent(lambda: u1._execute([send], "test"))
        with trio.fail_after(5):
            _t, ev = await victim.wait_event("gmk_installed", group_id=ADHOC_ID)
        assert ev.data["distributor"] == u1.uri


async def test_a_non_ip_sdu_under_the_links_protection_is_refused_by_policy(clock):
    """The node's own rule: on a link only IP (to the MIKEY port) goes anywhere; a protected
    SDU of another type from the genuine peer is refused as POLICY ("link_sdu")."""
    scen = scenario((ADHOC,))
    async with running_ues("memory", scen) as (_air, ues):
        u1, victim = ues["u1"], ues["u2"]
        await u1.connect(victim.l2id, victim.uri)
        with trio.fail_after(10):
            await victim.wait_event("link_up", peer_l2id=u1.l2id)
        before = gmk_state(victim)
        rx_before = victim.link_rx[u1.l2id]
        kd = u1.links.link(victim.l2id).kd_sess_id
        await u1.intent(lambda: u1._send_unicast(victim.l2id, LCID_IP_UNICAST, fast.SDU_NON_IP,
                                                 b"\x00" * 48, "full", kd))
        await trio.sleep(0.2)
        assert victim.link_rx[u1.l2id] == rx_before + 1  # PDCP opened it: a genuine PDU
        assert victim.log.rejected[("link_sdu", "POLICY")] == 1
        assert gmk_state(victim) == before
        assert victim.log.unaccounted == 0
