"""The network side on the memory backend: provisioning through a relay, GMKs, rekey (issue #6)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import trio
import trio.testing
from _net_helpers import (
    DISP,
    EPOCH,
    FAR1,
    GROUP,
    KMS,
    RELAY,
    TRKS,
    check_flow,
    issue,
    period_no,
    relay_flow,
)

from prose_mesh.crypto.kms import Kms
from prose_mesh.errors import ConfigError, ParseError
from prose_mesh.medium.session import Session
from prose_mesh.network import (
    CORE_ADDRESS,
    KMS_PORT,
    KmsClient,
    KmsRefused,
    KmsService,
    open_network,
)
from prose_mesh.network.kms_service import pack_key_material, unpack_key_material
from prose_mesh.wire.ipudp import build_udp6, parse_udp6

SRC = bytes.fromhex("20010db8000000070000000000000002")


@pytest.fixture
def clock() -> trio.testing.MockClock:
    return trio.testing.MockClock(autojump_threshold=0)


def now() -> float:
    return EPOCH + trio.current_time()


async def test_relay_flow_memory(clock: trio.testing.MockClock, tmp_path: Path) -> None:
    session = Session(tmp_path, "net", capture="none")
    session.start(backend="memory", origin=trio.current_time())
    async with open_network("memory", kms=KMS, groups=[GROUP], trks=TRKS, clock=now,
                            issue=issue, session=session) as network:
        out = await relay_flow(network, now)
    session.close("ok")
    check_flow(out, EPOCH)
    assert out["stats"]["router"].get("drop:spoofed_source", 0) == 0
    lines = [json.loads(x) for x in (tmp_path / "net" / "events.jsonl").read_text().split()]
    verdicts = [(x["event"], x["reason"], x["peer"]) for x in lines if x["node"] == "core"]
    assert verdicts.count(("accept", None, FAR1)) == 1
    assert ("reject", "POLICY", FAR1) in verdicts and ("reject", "BAD_TAG", FAR1) in verdicts
    assert len(verdicts) == 5  # 3 issued, 1 refused, 1 bad tag: one line per request


async def test_spoofed_source_and_unknown_destination_are_dropped(
        clock: trio.testing.MockClock) -> None:
    async with open_network("memory", kms=KMS, trks=TRKS, clock=now, issue=issue) as network:
        a = await network.attach_uplink("a", uri=DISP)
        b = await network.attach_uplink("b")
        # a claims b's address: dropped, the KMS never sees it
        await a.send(KmsClient(uri=DISP, trk=TRKS[DISP], src=b.address).request(
            period_no(now())))
        # to nobody's address
        await a.send(build_udp6(a.address, bytes(15) + b"\x01", 1, 2, b"x"))
        # UE to UE through the network: forwarded with the hop limit decremented
        await a.send(build_udp6(a.address, b.address, 7, 7, b"hello"))
        with trio.fail_after(1):
            got = await b.receive()
        await trio.sleep(0.1)
        counts = network.stats()["router"]
    assert counts["drop:spoofed_source"] == 1 and counts["drop:no_route"] == 1
    assert parse_udp6(got).payload == b"hello" and got[7] == 254
    assert network.kms_service.accepted == 0


def test_key_material_codec_roundtrip_and_size() -> None:
    km = issue(KMS, FAR1, period_no(EPOCH))
    raw = pack_key_material(km)
    assert len(raw) < 800  # one PC5 SDU through a relay
    assert unpack_key_material(raw) == km
    for bad in (raw[:-1], raw + b"\0", b"", b"\x05ab"):
        with pytest.raises(ParseError):
            unpack_key_material(bad)


def _service() -> KmsService:
    return KmsService(KMS, TRKS, issue=issue)


def _request(client: KmsClient, n: int) -> bytes:
    return parse_udp6(client.request(n)).payload


def _reply(payload: bytes) -> bytes:
    return build_udp6(CORE_ADDRESS, SRC, KMS_PORT, KMS_PORT, payload)


def test_kms_drops_unauthenticated_requests_silently() -> None:
    svc = _service()
    n = period_no(EPOCH)
    good = _request(KmsClient(uri=FAR1, trk=TRKS[FAR1], src=SRC), n)
    cases = {
        "BAD_TAG": good[:-1] + bytes([good[-1] ^ 1]),
        "MALFORMED": good[:10],
        "BAD_HEADER": b"XXXX" + good[4:],
        "UNKNOWN_KEY": _request(KmsClient(uri="sip:nobody@x", trk=TRKS[FAR1], src=SRC), n),
    }
    wrong_trk = _request(KmsClient(uri=FAR1, trk=TRKS[DISP], src=SRC), n)
    for reason, payload in [*cases.items(), ("BAD_TAG", wrong_trk)]:
        answer = svc.on_request(payload, now=EPOCH)
        assert answer.response is None and answer.verdict.reason == reason
    assert svc.accepted == 0 and sum(svc.rejects.values()) == 5


def test_kms_response_is_bound_to_trk_nonce_and_identity() -> None:
    svc = _service()
    n = period_no(EPOCH)
    client = KmsClient(uri=FAR1, trk=TRKS[FAR1], src=SRC, kms_uri=KMS.uri)
    response = svc.on_request(_request(client, n), now=EPOCH).response
    assert response is not None
    # a relay flipping any bit of the wrapped material: refused, nothing installed
    tampered = response[:60] + bytes([response[60] ^ 0x80]) + response[61:]
    assert client.on_packet(_reply(tampered)) is None
    assert client.rejects["BAD_TAG"] == 1
    # another UE cannot open it with its own TrK (its nonce is not outstanding either)
    other = KmsClient(uri=RELAY, trk=TRKS[RELAY], src=SRC)
    other.request(n)
    assert other.on_packet(_reply(response)) is None
    # the genuine response installs once; replaying it afterwards is refused
    km = client.on_packet(_reply(response))
    assert km == issue(KMS, FAR1, n)
    assert client.on_packet(_reply(response)) is None and client.rejects["REPLAY"] == 1
    # from an address other than the KMS's: not even looked at
    assert client.on_packet(build_udp6(SRC, SRC, KMS_PORT, KMS_PORT, response)) is None


def test_kms_refuses_other_periods_authenticated() -> None:
    svc = _service()
    n = period_no(EPOCH)
    client = KmsClient(uri=FAR1, trk=TRKS[FAR1], src=SRC)
    assert svc.on_request(_request(client, n + 1), now=EPOCH).verdict.kind == "kms"
    for ask in (n - 1, n + 2):
        answer = svc.on_request(_request(client, ask), now=EPOCH)
        assert answer.verdict.reason == "POLICY" and answer.response is not None
        with pytest.raises(KmsRefused):
            client.on_packet(_reply(answer.response))
    assert svc.refused == 2 and svc.accepted == 1


def test_kms_answer_from_another_kms_is_refused() -> None:
    other_kms = Kms.generate("kms.other.example.org", period=KMS.period)
    svc = KmsService(other_kms, TRKS, issue=issue)
    client = KmsClient(uri=FAR1, trk=TRKS[FAR1], src=SRC, kms_uri=KMS.uri)
    response = svc.on_request(_request(client, period_no(EPOCH)), now=EPOCH).response
    assert client.on_packet(_reply(response)) is None and client.rejects["POLICY"] == 1


async def test_gms_refuses_groups_it_does_not_manage(clock: trio.testing.MockClock) -> None:
    from dataclasses import replace

    with pytest.raises(ConfigError):
        async with open_network("memory", kms=KMS, groups=[replace(GROUP, distributor=DISP)],
                                clock=now, issue=issue):
            pass
    async with open_network("memory", kms=KMS, groups=[GROUP], clock=now,
                            issue=issue) as network:
        with pytest.raises(ConfigError):
            await network.distribute("sip:unknown@x")


def test_kms_and_client_never_crash_on_mutated_input() -> None:
    """Every mutation of a valid request or response ends in a counted verdict, no exception."""
    import random

    rng = random.Random(6)
    svc = _service()
    n = period_no(EPOCH)
    client = KmsClient(uri=FAR1, trk=TRKS[FAR1], src=SRC)
    request = _request(client, n)
    response = svc.on_request(request, now=EPOCH).response
    assert response is not None
    for i in range(300):
        buf = bytearray(request if i % 2 else response)
        for _ in range(rng.randrange(1, 4)):
            op = rng.randrange(3)
            if op == 0 and buf:
                buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)
            elif op == 1:
                del buf[rng.randrange(len(buf) + 1):]
            else:
                buf += rng.randbytes(rng.randrange(1, 8))
        if i % 2:
            answer = svc.on_request(bytes(buf), now=EPOCH)
            assert answer.response is None or answer.verdict.kind == "kms"
        else:
            assert client.on_packet(_reply(bytes(buf))) is None
    assert svc.accepted + sum(svc.rejects.values()) == 151
    assert sum(client.rejects.values()) == 150


async def test_relay_loss_makes_remote_pending_until_it_registers_again(
        clock: trio.testing.MockClock) -> None:
    from _net_helpers import BlindRelay, install, member, next_gmk

    far1 = member(issue(KMS, FAR1, period_no(EPOCH)))
    async with open_network("memory", kms=KMS, groups=[GROUP], clock=now,
                            issue=issue) as network, trio.open_nursery() as nursery:
        r1 = BlindRelay(await network.attach_uplink("r1"))
        r2 = BlindRelay(await network.attach_uplink("r2"))
        nursery.start_soon(r1.run)
        nursery.start_soon(r2.run)
        via_r1, via_r2 = r1.remote(1), r2.remote(1)
        network.register_remote("r1", FAR1, via_r1.address)
        first = await network.distribute(GROUP.group_id)
        assert install(far1, await next_gmk(via_r1), now())["gmk_id"] == first.gmk_id
        await network.detach_uplink("r1")  # the relay is switched off
        second = await network.rekey(GROUP.group_id)
        assert FAR1 in network.gms.pending[GROUP.group_id]
        network.register_remote("r2", FAR1, via_r2.address)  # far1 found another relay
        assert install(far1, await next_gmk(via_r2), now())["gmk_id"] == second.gmk_id
        assert FAR1 not in network.gms.pending[GROUP.group_id]
        with pytest.raises(ConfigError):
            network.register_remote("r1", FAR1, via_r1.address)
        nursery.cancel_scope.cancel()
