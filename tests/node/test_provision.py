"""Provisioning before deployment and the UE clock."""

from __future__ import annotations

import pytest
import trio
import trio.testing
from _node_helpers import ADHOC, STANDARD, scenario

from prose_mesh.crypto.identity import key_period_number, mikey_sakke_uid
from prose_mesh.node.clock import VIRTUAL_EPOCH, UeClock
from prose_mesh.node.provision import assign_l2ids, provision
from prose_mesh.scenario.model import UE, Scenario


def test_groups_pgks_and_identities():
    scen = scenario((STANDARD, ADHOC))
    prov = provision(scen, epoch=VIRTUAL_EPOCH, seed=5)
    u1, u2 = prov["u1"], prov["u2"]
    # the standard group is configured in its manager and members, the ad-hoc one only in its
    # creator (members learn it from the signed GMK distribution)
    assert {g.group_id for g in u1.groups} == {"sip:police@test.example.org", "rescue"}
    assert {g.group_id for g in u2.groups} == {"sip:police@test.example.org"}
    police = next(g for g in u2.groups if g.kind == "standard")
    assert police.distributor == "sip:u1@test.example.org"
    assert police.members == {"sip:u2@test.example.org", "sip:u3@test.example.org"}
    assert police.l2_group_id == 0x00B001
    assert police.multicast == bytes.fromhex("ff15000000000000000000000000b001")
    # a PGK for the standard group's bearer, shared by every UE configured with it; none for
    # the ad-hoc group (no PKMF off-network)
    assert dict(u1.pgks).keys() == {"sip:police@test.example.org"}
    assert dict(u1.pgks) == dict(u2.pgks) and len(dict(u1.pgks)[police.group_id][1]) == 32
    assert u1.discovery_group == u2.discovery_group and len(u1.discovery_group[1]) == 32


def test_key_material_is_for_the_ue_clock_period_and_cached():
    scen = Scenario(name="k", duration=1.0, ues=(
        UE("a", user="sip:a@x.org", clock_offset=-4.0),
        UE("me", imei="490154203237518"),  # a Luhn-valid IMEI
        UE("bad", imei="353456789000001"),  # as in adhoc-20: wrong check digit
    ))
    prov = provision(scen, epoch=VIRTUAL_EPOCH, seed=1)
    km = prov["a"].keys
    number = key_period_number(VIRTUAL_EPOCH - 4.0, km.period, km.offset)
    assert km.period_no == number
    assert km.uid == mikey_sakke_uid("sip:a@x.org", scen.kms.uri, km.period, km.offset, number)
    km.validate()  # SSK (RFC 6507 §5.1.2) and RSK (RFC 6508 §6.1.2) checks
    assert prov["me"].uri == "urn:gsma:imei:49015420-323751-8"
    assert prov["me"].kind == "me" and prov["me"].imei_check_digit_ok is True
    assert prov["bad"].imei_check_digit_ok is False
    assert prov["bad"].uri == "urn:gsma:imei:35345678-900000-1"
    again = provision(scen, epoch=VIRTUAL_EPOCH, seed=1)
    assert again["a"].keys is km  # one extraction per (KMS, URI, period) per process


def test_l2ids_are_24_bit_distinct_nonzero_and_seeded():
    names = [f"n{i}" for i in range(3000)]
    ids = assign_l2ids(names, 7)
    assert len(set(ids.values())) == 3000
    assert all(0 < v < 1 << 24 for v in ids.values())
    assert assign_l2ids(names, 7) == ids and assign_l2ids(names, 8) != ids


@pytest.fixture
def clock():
    return trio.testing.MockClock(autojump_threshold=0)


async def test_ue_clock_maps_trio_time_with_offset(clock):
    c = UeClock(epoch=1000.0, offset=-4.0)
    await trio.sleep(2.5)
    assert c.now() == pytest.approx(998.5)
    assert c.to_trio(c.now() + 3.0) == pytest.approx(trio.current_time() + 3.0)
    assert c.at(trio.current_time()) == pytest.approx(c.now())
