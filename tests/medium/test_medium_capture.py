"""Air capture (pcapng, one interface per UE) read back by tshark, and long virtual-time runs."""

from __future__ import annotations

import shutil
import struct
import subprocess

import pytest
import trio

from prose_mesh.medium.air import open_air
from prose_mesh.medium.params import LinkParams
from prose_mesh.medium.session import Session


def frame(mac: bytes, n: int) -> bytes:
    return b"\xff" * 6 + mac + b"\x88\xb5" + n.to_bytes(4, "big") + bytes(30)


async def test_tshark_shows_each_frame_on_its_senders_interface(backend, air_clock, tmp_path):
    if shutil.which("tshark") is None:
        pytest.skip("tshark not installed")
    session = Session(tmp_path, "cap", capture="ue")
    sent: list[str] = []
    async with open_air(backend, session=session) as air:
        radios = await air.attach_many(["alpha", "bravo", "charlie"])
        for r in radios:
            for other in radios:
                if other is not r:
                    air.medium.connect(r.name, other.name, symmetric=False)
        for i, name in enumerate(["bravo", "alpha", "charlie", "bravo"]):
            await air.radios[name].send(frame(air.radios[name].mac, i))
            sent.append(name)
        for r in radios:  # wait for every copy: 4 frames x 2 receivers
            for _ in range(sum(1 for s in sent if s != r.name)):
                with trio.fail_after(5):
                    await r.receive()
    out = subprocess.run(
        ["tshark", "-r", str(session.path / "air.pcapng"), "-T", "fields",
         "-e", "frame.interface_name", "-e", "eth.src", "-e", "eth.type"],
        capture_output=True, text=True, check=True,
    ).stdout.split("\n")
    rows = [line.split("\t") for line in out if line]
    assert [r[0] for r in rows] == sent
    macs = {r.name: r.mac.hex(":") for r in radios}
    assert all(row[1] == macs[row[0]] and row[2] == "0x88b5" for row in rows)
    # Per-UE capture: bravo sent 2 frames and received 2 (from alpha and charlie).
    out = subprocess.run(
        ["tshark", "-r", str(session.path / "ue-bravo.pcapng"), "-T", "fields",
         "-e", "frame.interface_name", "-e", "frame.packet_flags_direction"],
        capture_output=True, text=True, check=True,
    ).stdout.split("\n")
    rows = sorted(tuple(line.split("\t")) for line in out if line)
    rows = [(name, int(flag, 16)) for name, flag in rows]
    assert rows == [("bravo", 1)] * 2 + [("bravo", 2)] * 2  # 1 inbound, 2 outbound


def test_pcapng_blocks_are_well_formed(tmp_path):
    from prose_mesh.medium.pcapng import PcapngWriter

    path = tmp_path / "x.pcapng"
    with open(path, "wb") as fh:
        w = PcapngWriter(fh)
        assert w.add_interface("ue1") == 0
        w.write(0, 1_700_000_000_123_456_789, b"\x01" * 15)
    data = path.read_bytes()
    off, kinds = 0, []
    while off < len(data):
        kind, length = struct.unpack_from("<II", data, off)
        assert length % 4 == 0 and struct.unpack_from("<I", data, off + length - 4)[0] == length
        kinds.append(kind)
        off += length
    assert kinds == [0x0A0D0D0A, 1, 6] and off == len(data)


async def test_ten_minute_scenario_in_virtual_time(autojump_clock, tmp_path):
    """600 s of beacons every second from 4 UEs over 20 ± 5 ms links, all under MockClock.

    Wall time is measured by `prose-mesh bench medium` (``memory_10min_wall_s``), not here.
    """

    async def scenario() -> tuple[float, dict]:
        async with open_air("memory", seed=3, session=Session(tmp_path, "long")) as air:
            names = [f"ue{i}" for i in range(4)]
            radios = await air.attach_many(names)
            for a in names:
                for b in names:
                    if a < b:
                        air.medium.set_link(a, b, LinkParams(delay_ms=20, jitter_ms=5))
            t0 = trio.current_time()
            got = dict.fromkeys(names, 0)

            async def beacon(r):
                for i in range(600):
                    await r.send(frame(r.mac, i))
                    await trio.sleep(1.0)

            async def listen(r):
                async for _ in r:
                    got[r.name] += 1

            async with trio.open_nursery() as n:
                for r in radios:
                    n.start_soon(listen, r)
                async with trio.open_nursery() as senders:
                    for r in radios:
                        senders.start_soon(beacon, r)
                await trio.sleep(1.0)  # let the last copies land
                n.cancel_scope.cancel()
            return trio.current_time() - t0, got, air.summary()

    elapsed, got, summary = await scenario()
    assert 600.0 <= elapsed <= 602.0
    assert got == {f"ue{i}": 600 * 3 for i in range(4)}
    assert summary["sent"] == summary["delivered"] == 4 * 600 * 3


async def test_memory_backend_is_deterministic_for_a_seed(autojump_clock, tmp_path):
    """Same scenario and seed -> byte-identical event logs (run ids aside); another seed differs."""
    from prose_mesh.medium.params import GilbertElliott

    async def scenario(seed: int, run: str) -> str:
        session = Session(tmp_path, run)
        async with open_air("memory", seed=seed, session=session) as air:
            radios = await air.attach_many(["a", "b", "c"])
            air.medium.set_default(LinkParams(delay_ms=10, jitter_ms=8, duplicate=0.2,
                                              corrupt=0.1, reorder=0.3, reorder_gap=3,
                                              gemodel=GilbertElliott(p=0.1, r=0.3)))
            for x in radios:
                for y in radios:
                    if x is not y:
                        air.medium.connect(x.name, y.name, symmetric=False)
            for i in range(200):
                await radios[i % 3].send(frame(radios[i % 3].mac, i))
                await trio.sleep(0.003)
            await trio.sleep(1)
        return (session.path / "events.jsonl").read_text().replace(run, "RUN")

    first = await scenario(11, "one")
    assert first == await scenario(11, "two")
    assert first != await scenario(12, "three")
    assert '"reason":"loss_gemodel"' in first and '"dup"' in first and '"corrupt"' in first
