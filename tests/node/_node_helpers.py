"""UEs built from a hand-made scenario and started on either backend (for tests/node)."""

from __future__ import annotations

from contextlib import asynccontextmanager

import trio
import trio.testing

from prose_mesh.medium.air import open_air
from prose_mesh.node.clock import VIRTUAL_EPOCH, UeClock, wall_epoch
from prose_mesh.node.log import UeLog
from prose_mesh.node.provision import provision
from prose_mesh.node.ue import Ue
from prose_mesh.scenario.model import UE, Group, Multicast, Scenario


def scenario(groups: tuple[Group, ...] = (), n: int = 3) -> Scenario:
    ues = [UE(f"u{i}", user=f"sip:u{i}@test.example.org", position=(10.0 * i, 0.0))
           for i in range(1, n + 1)]
    ues[0] = UE("u1", user="sip:u1@test.example.org", roles=("member", "group_manager"),
                position=(0.0, 0.0))
    return Scenario(name="node-test", duration=60.0, ues=tuple(ues), groups=groups)


STANDARD = Group("police", "standard", members=("u2", "u3"), manager="u1",
                 uri="sip:police@test.example.org", l2_group_id=0x00B001,
                 multicast=Multicast("ff15::b001"))
ADHOC = Group("rescue", "adhoc", members=("u1", "u2", "u3"), creator="u1", l2_group_id=0x00A001)


@asynccontextmanager
async def running_ues(backend: str, scen: Scenario, *, session=None, names=None,
                      adjust=None, known_peers=None):
    """Attach and start every UE of ``scen``; yields (air, {name: Ue}).

    ``adjust(prov)`` may replace entries of the provisioning (e.g. another PSDK) before the UEs
    are built; ``known_peers`` maps a UE name to its address book (default: every UE)."""
    epoch = VIRTUAL_EPOCH if backend == "memory" else wall_epoch()
    prov = provision(scen, epoch=epoch, seed=1)
    if adjust is not None:
        adjust(prov)
    known = frozenset(p.uri for p in prov.values())
    books = known_peers or {}
    async with open_air(backend, seed=1, session=session) as air:
        names = names or [u.name for u in scen.ues]
        radios = await air.attach_many(names)
        for a in names:
            for b in names:
                if a < b:
                    air.medium.connect(a, b)
        ues = {}
        for name, radio in zip(names, radios, strict=True):
            ues[name] = Ue(prov[name], clock=UeClock(epoch), log=UeLog(name), radio=radio,
                           known_peers=books.get(name, known))
        async with trio.open_nursery() as nursery:
            for ue in ues.values():
                await nursery.start(ue.run)
            yield air, ues
            nursery.cancel_scope.cancel()


async def rekey_link(ue: Ue, peer_l2id: int) -> None:
    """[test] Rekey a direct link as the user/policy would."""
    await ue.rekey_link(peer_l2id)


async def solicit(ue: Ue, target: bytes | None = None) -> None:
    """[test] Model B: a group member solicitation in the UE's Discovery Group (as the
    scenario runner's ``discover`` action does)."""
    dgid, _psdk = ue.prov.discovery_group
    await ue.solicit(dgid, target=target)
