"""``prose-mesh bench medium``: frames in and deliveries out per second, 1 sender -> 8 receivers.

Three measurements (ARCHITECTURE.md decision 2 targets: >= 5,000 frames in and >= 40,000
deliveries per second on one core):

* ``core``: the sans-I/O :class:`Medium` alone (decide, report delivered, drain events);
* ``memory``: the memory backend end to end (Trio channels, receivers draining), real clock;
* ``netns_inprocess``: the netns backend with sender and 8 receivers in the same process
  (AF_PACKET in and out through veths), when root;
* ``netns``: the same, but the UE side (sending, draining) runs in a forked child, so the
  numbers are the medium's own on its core - the figure the targets are about.

Each writes the event log to a session in a temporary folder (capture "air"), as a run would.
``memory_10min_wall_s`` is the wall time of a 10-minute virtual scenario under MockClock
(5 UEs, a beacon every 500 ms, 20 ± 5 ms links: 30,000 timer events);
``memory_10min_light_wall_s`` the same with 4 UEs and a beacon a second (the test's scenario,
9,600 timer events). Trio's own floor under MockClock is about 70 µs per jump on this machine.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from typing import Any

import trio
import trio.testing

from prose_mesh.bench._common import emit, host_info

RECEIVERS = 8


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("medium", help="radio medium throughput")
    parser.add_argument("--frames", type=int, default=20000)
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(func=run)


def _frame(i: int) -> bytes:
    return b"\xff" * 6 + b"\x02\x50\x4d\x00\x00\x01\x88\xb5" + i.to_bytes(4, "big") + bytes(100)


def bench_core(n: int, folder: str) -> dict[str, float]:
    from prose_mesh.medium.core import Medium
    from prose_mesh.medium.session import Session

    session = Session(folder, "core")
    session.start(backend="core", origin=0.0)
    m = Medium(0, "core")
    names = ["tx"] + [f"rx{i}" for i in range(RECEIVERS)]
    for name in names:
        m.add_node(name)
        session.add_ue(name, b"\0" * 6, None)
    for r in names[1:]:
        m.connect("tx", r)
    t0 = time.perf_counter()
    deliveries = 0
    for i in range(n):
        f = _frame(i)
        now = time.perf_counter()
        session.on_air("tx", f, now)
        for d in m.transmit("tx", f, now):
            m.delivered(d, now)
            deliveries += 1
        if i % 256 == 0:
            session.log(m.take_events())
    session.log(m.take_events())
    wall = time.perf_counter() - t0
    session.close("ok")
    return {"frames_in_per_s": n / wall, "deliveries_per_s": deliveries / wall}


async def _through_air(backend: str, n: int, folder: str) -> dict[str, float]:
    from prose_mesh.medium.air import open_air
    from prose_mesh.medium.session import Session

    got = 0
    async with open_air(backend, session=Session(folder, backend)) as air:
        tx, *rxs = await air.attach_many(["tx"] + [f"rx{i}" for i in range(RECEIVERS)])
        for r in rxs:
            air.medium.connect("tx", r.name, symmetric=False)
        done = trio.Event()

        async def drain(radio: Any) -> None:
            nonlocal got
            async for _ in radio:
                got += 1
                if got == n * RECEIVERS:
                    done.set()

        async with trio.open_nursery() as nursery:
            for r in rxs:
                nursery.start_soon(drain, r)
            t0 = time.perf_counter()
            for i in range(n):
                await tx.send(_frame(i))
                # Pace to what the medium has taken in, so no socket buffer overflows.
                while air.medium.transmissions < i - 256:
                    await trio.sleep(0)
            with trio.move_on_after(10):
                await done.wait()
            wall = time.perf_counter() - t0
            nursery.cancel_scope.cancel()
        frames_in = air.medium.transmissions
    return {"frames_in_per_s": frames_in / wall, "deliveries_per_s": got / wall,
            "lost": n * RECEIVERS - got}


def _peer_process(tx: Any, rxs: list[Any], n: int) -> None:
    """Forked child: send ``n`` frames, at most 128 ahead of what rx0 got; drain all receivers."""
    import select

    for sock in [tx, *rxs]:
        sock.setblocking(False)
    counts = [0] * len(rxs)
    sent = 0
    deadline = time.monotonic() + 60
    while counts[0] < n and time.monotonic() < deadline:
        while sent < n and sent - counts[0] < 128:
            try:
                tx.send(_frame(sent))
                sent += 1
            except BlockingIOError:
                break
        ready, _, _ = select.select(rxs, [], [], 0.5)
        for sock in ready:
            i = rxs.index(sock)
            while True:
                try:
                    sock.recv(2048)
                    counts[i] += 1
                except BlockingIOError:
                    break


async def _netns_medium_only(n: int, folder: str) -> dict[str, float]:
    """The medium process alone: the UEs' sending and reading happen in a forked child."""
    from prose_mesh.medium.air import open_air
    from prose_mesh.medium.session import Session

    async with open_air("netns", session=Session(folder, "netns-medium")) as air:
        tx, *rxs = await air.attach_many(["tx"] + [f"rx{i}" for i in range(RECEIVERS)])
        for r in rxs:
            air.medium.connect("tx", r.name, symmetric=False)
        t0 = time.perf_counter()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child
            try:
                _peer_process(tx.sock, [r.sock for r in rxs], n)  # type: ignore[attr-defined]
            finally:
                os._exit(0)
        await trio.to_thread.run_sync(os.waitpid, pid, 0)
        wall = time.perf_counter() - t0
        total = air.medium.totals()
        return {
            "frames_in_per_s": air.medium.transmissions / wall,
            "deliveries_per_s": total.delivered / wall,
        }


async def _ten_minutes(folder: str, ues: int, period: float) -> float:
    from prose_mesh.medium.air import open_air
    from prose_mesh.medium.params import LinkParams
    from prose_mesh.medium.session import Session

    run = f"tenmin-{ues}-{period}"
    async with open_air("memory", seed=1, session=Session(folder, run)) as air:
        radios = await air.attach_many([f"ue{i}" for i in range(ues)])
        air.medium.set_default(LinkParams(delay_ms=20, jitter_ms=5))
        for a in radios:
            for b in radios:
                if a is not b:
                    air.medium.connect(a.name, b.name, symmetric=False)

        async def beacon(r: Any) -> None:
            for i in range(round(600 / period)):
                await r.send(_frame(i))
                await trio.sleep(period)

        async def listen(r: Any) -> None:
            async for _ in r:
                pass

        async with trio.open_nursery() as n:
            for r in radios:
                n.start_soon(listen, r)
            async with trio.open_nursery() as senders:
                for r in radios:
                    senders.start_soon(beacon, r)
            n.cancel_scope.cancel()
    return 0.0


def run(args: argparse.Namespace) -> int:
    result: dict[str, Any] = {"receivers": RECEIVERS, "frames": args.frames, **host_info()}
    with tempfile.TemporaryDirectory() as folder:
        for key, value in bench_core(args.frames, folder).items():
            result[f"core_{key}"] = round(value)
        for key, value in trio.run(_through_air, "memory", args.frames, folder).items():
            result[f"memory_{key}"] = round(value)
        if os.geteuid() == 0:
            for key, value in trio.run(_through_air, "netns", args.frames, folder).items():
                result[f"netns_inprocess_{key}"] = round(value)
            for key, value in trio.run(_netns_medium_only, args.frames, folder).items():
                result[f"netns_{key}"] = round(value)
        else:
            result["netns"] = "skipped: needs root"
        for key, ues, period in (("memory_10min_wall_s", 5, 0.5),
                                 ("memory_10min_light_wall_s", 4, 1.0)):
            t0 = time.perf_counter()
            trio.run(_ten_minutes, folder, ues, period,
                     clock=trio.testing.MockClock(autojump_threshold=0))
            result[key] = round(time.perf_counter() - t0, 2)
    if "netns_frames_in_per_s" in result:
        result["frames_in_per_s"] = result["netns_frames_in_per_s"]
        result["deliveries_per_s"] = result["netns_deliveries_per_s"]
    else:
        result["frames_in_per_s"] = result["memory_frames_in_per_s"]
        result["deliveries_per_s"] = result["memory_deliveries_per_s"]
    emit(result, args.json)
    return 0
