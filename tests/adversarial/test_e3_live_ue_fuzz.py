"""E3: a live UE under 100,000 random and mutated frames keeps serving (ADVERSARIAL §4 E3, §7).

Memory backend, virtual time. A real ad-hoc group (discovery, D2D links, a GMK, a call with media)
runs among u1-u3; a sniffer records the real frames, then injects 100,000 frames at u2: Scapy-
style corruption of the recorded frames (CorruptedBits: each bit flipped with a small
probability; CorruptedBytes: each octet replaced with a small probability — implemented inline
with the same semantics because Scapy's volatile objects cost ~100 µs per frame), truncation,
a lying shim LEN, spliced junk, and random bodies of 0-1,100 octets (what Scapy's
``fuzz(Raw())`` yields, secdev/scapy#4086) behind a PC5-EMU Ethernet header (the radio, like
the netns NIC filter, only carries EtherType 0x88B5 frames of 14-1,514 octets). Meanwhile the
legitimate traffic goes on: media of the call every 2,000 frames, and a GMK rekey half-way. At
the end: every frame accounted (``UeLog.unaccounted == 0``), no exception escaped (the UE runs),
the rekeyed GMK was installed and media sent during and after the flood was decrypted.
"""

from __future__ import annotations

import importlib.util
import random
import sys
from pathlib import Path

import pytest
import trio
import trio.testing

from prose_mesh.medium.air import MAX_FRAME
from prose_mesh.node.provision import group_config
from prose_mesh.protocol.reasons import Reason


def _node_helpers():
    """tests/node/_node_helpers.py (the UE fixtures of test_ue_fuzz), shared rather than copied."""
    if "_node_helpers" not in sys.modules:
        path = Path(__file__).resolve().parent.parent / "node" / "_node_helpers.py"
        spec = importlib.util.spec_from_file_location("_node_helpers", path)
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        sys.modules["_node_helpers"] = mod
        spec.loader.exec_module(mod)
    return sys.modules["_node_helpers"]


_h = _node_helpers()
ADHOC, running_ues, scenario = _h.ADHOC, _h.running_ues, _h.scenario

FRAMES = 100_000
MEDIA_EVERY = 2_000


@pytest.fixture
def clock():
    return trio.testing.MockClock(autojump_threshold=0)


def _count(rng: random.Random, n: int, p: float) -> int:
    """How many of n positions a per-position probability p hits (normal approximation of the
    binomial, at least 1): the same distribution as Scapy's per-octet/bit coin, ~50x cheaper."""
    mean = n * p
    return max(1, round(rng.gauss(mean, (mean * (1 - p)) ** 0.5)))


def corrupt(rng: random.Random, frame: bytes) -> bytes:
    buf = bytearray(frame)
    how = rng.randrange(7)
    n = len(buf) - 14
    if how == 0:  # CorruptedBits, p = 1 % (the count drawn once, then the positions)
        for _ in range(_count(rng, 8 * n, 0.01)):
            bit = rng.randrange(8 * n)
            buf[14 + bit // 8] ^= 1 << (bit % 8)
    elif how == 1:  # CorruptedBytes, p = 2 %
        for _ in range(_count(rng, n, 0.02)):
            buf[rng.randrange(14, len(buf))] = rng.randrange(256)
    elif how == 2:  # truncation (the radio carries whole Ethernet headers only)
        del buf[rng.randrange(14, len(buf)) :]
    elif how == 3:  # a lying shim LEN
        buf[23:25] = rng.choice((0, 1, 0xFFFF, rng.randrange(0x10000))).to_bytes(2, "big")
    elif how == 4:  # junk spliced after the shim
        at = rng.randrange(25, max(26, len(buf)))
        buf[at:at] = rng.randbytes(rng.randrange(1, 64))
    elif how == 5:  # one bit flip (the most dangerous: everything else is intact)
        i = rng.randrange(14, len(buf))
        buf[i] ^= 1 << rng.randrange(8)
    else:  # fuzz(Raw()): random octets of random length behind the Ethernet header
        return bytes(buf[:14]) + rng.randbytes(rng.randrange(0, 1100))
    return bytes(buf[:MAX_FRAME])


@pytest.mark.slow
async def test_100k_frames_the_ue_keeps_serving(clock):
    scen = scenario((ADHOC,))
    async with running_ues("memory", scen) as (air, ues):
        u1, u2, u3 = ues["u1"], ues["u2"], ues["u3"]
        sniffer = await air.attach("sniffer")
        for name in ("u1", "u2", "u3"):
            air.medium.connect("sniffer", name)
        await u1.start_discovery()
        for peer in (u2, u3):
            await u1.connect(peer.l2id, peer.uri)
            with trio.fail_after(5):
                await u1.wait_event("link_up", peer_l2id=peer.l2id)
        cfg = group_config(scen, ADHOC)
        members = {u2.uri: u2.l2id, u3.uri: u3.l2id}
        issue = await u1.distribute(cfg, member_l2ids=members)
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
        # from here on the sniffer talks to u2 only (u1/u3 stay legitimate peers)
        air.medium.disconnect("sniffer", "u1")
        air.medium.disconnect("sniffer", "u3")

        before_in, before_media = u2.log.frames_in, len(u2.media)
        rng = random.Random(0xE3)
        rekeyed = None
        sent_media = 0
        for n in range(FRAMES):
            await sniffer.send(corrupt(rng, rng.choice(seen)))
            if n % MEDIA_EVERY == MEDIA_EVERY - 1:
                await u3.send_media(cfg.group_id, b"\x55" * 160)
                sent_media += 1
                await trio.sleep(0.05)  # virtual time: lets buckets refill, timers run
            if n == FRAMES // 2:
                rekeyed = await u1.distribute(cfg, member_l2ids=members)
        await trio.sleep(1.0)
        assert rekeyed is not None
        with trio.fail_after(5):
            await u2.wait_event("gmk_installed", gmk_id=rekeyed.gmk_id)
        assert u2.running
        assert u2.log.frames_in - before_in >= FRAMES
        assert u2.log.unaccounted == 0
        reasons = {reason for (_kind, reason) in u2.log.rejected}
        assert reasons <= {r.value for r in Reason}
        flood_media = [p for _m, p in u2.media[before_media:] if p["payload"] == b"\x55" * 160]
        assert len(flood_media) >= sent_media * 0.99  # the call went on during the flood
        n = len(u2.media)
        await u3.send_media(cfg.group_id, b"\x77" * 160)
        await trio.sleep(0.2)
        assert u2.media[n:] and u2.media[-1][1]["payload"] == b"\x77" * 160
