"""Shared pieces of the network-side tests: a small community, a group, a test relay."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import trio

from prose_mesh.crypto.identity import key_period_number
from prose_mesh.crypto.kms import KeyMaterial, Kms
from prose_mesh.network import Network, gms_uri, is_gms_packet, new_trk
from prose_mesh.network.uplink import Uplink
from prose_mesh.node.provision import key_material
from prose_mesh.protocol.gmk_distribution import GmkMember
from prose_mesh.protocol.groups import GroupConfig, GroupDirectory

EPOCH = 1_800_000_000.0
KMS = Kms.generate("kms.net.example.org", period=2_592_000)
DISP = "sip:disp@net.example.org"
FAR1 = "sip:far1@net.example.org"
FAR2 = "sip:far2@net.example.org"
RELAY = "sip:r1@net.example.org"
GROUP = GroupConfig(
    group_id="sip:fire@net.example.org", kind="standard", distributor=gms_uri("core"),
    members=frozenset({DISP, FAR1, FAR2}), l2_group_id=0xF001,
)
TRKS = {uri: new_trk(256 if i % 2 else 128) for i, uri in enumerate((DISP, FAR1, FAR2, RELAY))}


def period_no(now: float) -> int:
    return key_period_number(now, KMS.period, KMS.offset)


def issue(k: Kms, uri: str, n: int) -> KeyMaterial:
    return key_material(k, uri, n, validate=False)


def member(keys: KeyMaterial) -> GmkMember:
    return GmkMember(keys=keys, directory=GroupDirectory([GROUP]))


class RemotePath:
    """A remote UE's IP path through a relay: what the relay's forwarding gives it."""

    def __init__(self, relay: BlindRelay, address: bytes) -> None:
        self.relay = relay
        self.address = address
        self.tx, self.rx = trio.open_memory_channel[bytes](64)

    async def send(self, packet: bytes) -> None:
        self.relay.seen.append(packet)
        await self.relay.uplink.send(packet)

    async def receive(self) -> bytes:
        return await self.rx.receive()


@dataclass
class BlindRelay:
    """A stand-in for R1's relay: forwards bytes between remote UEs and its uplink, blindly."""

    uplink: Uplink
    remotes: dict[bytes, RemotePath] = field(default_factory=dict)
    own: list[bytes] = field(default_factory=list)
    seen: list[bytes] = field(default_factory=list)

    def remote(self, k: int) -> RemotePath:
        path = RemotePath(self, self.uplink.remote_address(k))
        self.remotes[path.address] = path
        return path

    async def run(self) -> None:
        async for packet in self.uplink:
            self.seen.append(packet)
            path = self.remotes.get(packet[24:40])
            if path is not None:
                await path.tx.send(packet)
            else:
                self.own.append(packet)


async def next_gmk(path: object, within: float = 5.0) -> bytes:
    """The next packet on ``path`` (an uplink or a remote path), which must be a GMK."""
    with trio.fail_after(within):
        packet = await path.receive()  # type: ignore[attr-defined]
    assert is_gms_packet(packet), "expected a GMK I_MESSAGE from the GMS"
    return packet


def install(m: GmkMember, packet: bytes, now: float) -> dict:
    """Feed a GMK packet to a member as a UE does; return the installed record's info."""
    actions = m.on_i_message(packet, src_l2id=0, via="group", now=now)
    events = [a for a in actions if getattr(a, "name", None) == "gmk_installed"]
    assert events, f"GMK refused: {actions}"
    return events[0].data


async def relay_flow(network: Network, now: Callable[[], float]) -> dict:
    """The issue #6 story over any backend; returns what the test asserts on."""
    from prose_mesh.network import KmsRefused, provision_over_ip

    period = (KMS.period, KMS.offset)
    out: dict = {}
    async with trio.open_nursery() as nursery:
        disp_up = await network.attach_uplink("disp", uri=DISP)
        r1_up = await network.attach_uplink("r1", uri=RELAY)
        relay = BlindRelay(r1_up)
        nursery.start_soon(relay.run)
        far1, far2 = relay.remote(1), relay.remote(2)
        network.register_remote("r1", FAR1, far1.address)

        # provisioning: through the relay (far1) and directly (disp)
        km_far1 = await provision_over_ip(far1, uri=FAR1, trk=TRKS[FAR1], src=far1.address,
                                          now=now, kms_period=period, kms_uri=KMS.uri)
        km_disp = await provision_over_ip(disp_up, uri=DISP, trk=TRKS[DISP],
                                          src=disp_up.address, now=now, kms_period=period)
        out["km"] = {FAR1: km_far1, DISP: km_disp}
        # far2 is provisioned before its relay registers it (its address is in r1's prefix)
        out["km"][FAR2] = km_far2 = await provision_over_ip(
            far2, uri=FAR2, trk=TRKS[FAR2], src=far2.address, now=now, kms_period=period)

        # GMK distribution: disp over its uplink, far1 through the relay; far2 not registered
        members = {DISP: member(km_disp), FAR1: member(km_far1), FAR2: member(km_far2)}
        first = await network.distribute(GROUP.group_id)
        got = {DISP: install(members[DISP], await next_gmk(disp_up), now()),
               FAR1: install(members[FAR1], await next_gmk(far1), now())}
        # far2 registers: the GMS sends the GMK it owes
        network.register_remote("r1", FAR2, far2.address)
        got[FAR2] = install(members[FAR2], await next_gmk(far2), now())
        out["first"], out["got_first"] = first, got

        # rekey revoking far2: the others get a new GMK-ID, far2 nothing
        second = await network.rekey(GROUP.group_id, remove=FAR2)
        out["second"] = second
        out["got_second"] = {DISP: install(members[DISP], await next_gmk(disp_up), now()),
                             FAR1: install(members[FAR1], await next_gmk(far1), now())}
        with trio.move_on_after(0.3):
            out["far2_after_revoke"] = await far2.receive()

        # an authenticated refusal, and a UE with the wrong TrK (silently dropped by the KMS)
        try:
            await provision_over_ip(far1, uri=FAR1, trk=TRKS[FAR1], src=far1.address,
                                    period_no=km_far1.period_no + 5)
        except KmsRefused as exc:
            out["refused"] = exc
        try:
            await provision_over_ip(far1, uri=FAR1, trk=TRKS[FAR2], src=far1.address,
                                    period_no=km_far1.period_no, attempts=1,
                                    attempt_timeout=0.5)
        except TimeoutError as exc:
            out["wrong_trk"] = exc
        out["relay_seen"] = list(relay.seen)
        out["stats"] = network.stats()
        nursery.cancel_scope.cancel()
    return out


def check_flow(out: dict, now: float) -> None:
    """Assertions shared by the memory and netns runs of :func:`relay_flow`."""
    for uri, km in out["km"].items():
        assert km == issue(KMS, uri, period_no(now)), f"{uri}: key material differs"
    # the relay forwarded every byte of it and saw none of the secrets, nor the GMKs
    seen = b"".join(out["relay_seen"])
    for km in out["km"].values():
        for secret in (km.ssk, km.rsk, km.pvt):
            assert secret not in seen
    for issue_ in (out["first"], out["second"]):
        assert issue_.gmk not in seen
    first, second = out["first"], out["second"]
    assert {d["gmk_id"] for d in out["got_first"].values()} == {first.gmk_id}
    assert {d["distributor"] for d in out["got_first"].values()} == {gms_uri("core")}
    assert {d["gmk_id"] for d in out["got_second"].values()} == {second.gmk_id}
    assert second.gmk_id != first.gmk_id and second.revoking
    assert FAR2 not in second.members and "far2_after_revoke" not in out
    assert "refused" in out and "wrong_trk" in out
    kms = out["stats"]["kms"]
    assert kms["accepted"] == 3 and kms["refused"] == 1
    assert kms["rejects"].get("BAD_TAG") == 1
