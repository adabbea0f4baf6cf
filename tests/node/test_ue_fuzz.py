"""Mutated real frames thrown at a UE: each ends in one counted verdict, the UE keeps working."""

from __future__ import annotations

import random

import pytest
import trio
import trio.testing
from _node_helpers import ADHOC, running_ues, scenario

from prose_mesh.node.provision import group_config
from prose_mesh.protocol.reasons import Reason


@pytest.fixture
def clock():
    return trio.testing.MockClock(autojump_threshold=0)


def mutate(rng: random.Random, frame: bytes) -> bytes:
    buf = bytearray(frame)
    how = rng.randrange(4)
    if how == 0:  # bit flips anywhere after the Ethernet header
        for _ in range(rng.randrange(1, 4)):
            i = rng.randrange(14, len(buf))
            buf[i] ^= 1 << rng.randrange(8)
    elif how == 1:  # truncation
        del buf[rng.randrange(14, len(buf)):]
    elif how == 2:  # a lying shim LEN
        buf[23:25] = rng.randrange(0x10000).to_bytes(2, "big")
    else:  # random octets after the shim
        i = rng.randrange(25, max(26, len(buf)))
        buf[i:] = rng.randbytes(max(0, len(buf) - i))
    return bytes(buf)


async def test_mutated_frames_are_each_accounted_and_the_ue_survives(clock):
    scen = scenario((ADHOC,))
    async with running_ues("memory", scen) as (air, ues):
        u1, u2, u3 = ues["u1"], ues["u2"], ues["u3"]
        sniffer = await air.attach("sniffer")
        for name in ("u1", "u2", "u3"):
            air.medium.connect("sniffer", name)
        # real traffic: discovery, two D2D links, an ad-hoc GMK, a call with media
        await u1.start_discovery()
        for peer in (u2, u3):
            await u1.connect(peer.l2id, peer.uri)
            with trio.fail_after(5):
                await u1.wait_event("link_up", peer_l2id=peer.l2id)
        cfg = group_config(scen, ADHOC)
        issue = await u1.distribute(cfg, member_l2ids={u2.uri: u2.l2id, u3.uri: u3.l2id})
        with trio.fail_after(5):
            await u2.wait_event("gmk_installed", gmk_id=issue.gmk_id)
        await u3.start_call(cfg.group_id)
        await trio.sleep(0.3)
        for i in range(5):
            await u3.send_media(cfg.group_id, bytes([i]) * 160)
        await trio.sleep(0.2)
        seen = []
        with trio.move_on_after(0.1):
            while True:
                seen.append(await sniffer.receive())
        assert len(seen) >= 18
        before = u2.log.frames_in
        rng = random.Random(2026)
        for _ in range(600):
            await sniffer.send(mutate(rng, rng.choice(seen)))
        await trio.sleep(1.0)
        assert u2.log.frames_in - before >= 600
        assert u2.log.unaccounted == 0
        assert u2.running
        reasons = {reason for (_kind, reason) in u2.log.rejected}
        assert {"MALFORMED", "BAD_HEADER"} <= reasons
        assert reasons <= {r.value for r in Reason}  # one shared vocabulary of reasons
        # still fully working: new media of the call is decrypted
        n = len(u2.media)
        await u3.send_media(cfg.group_id, b"\x77" * 160)
        await trio.sleep(0.2)
        assert u2.media[n:] and u2.media[-1][1]["payload"] == b"\x77" * 160
