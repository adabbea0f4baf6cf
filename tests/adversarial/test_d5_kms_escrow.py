"""D5: KMS escrow — a DOCUMENTED LIMITATION, demonstrated, not a passed defence (ADVERSARIAL §4).

Given only the KMS master secret z and a recording of the air, the harness derives any member's
RSK (for any key period) and decrypts every recorded GMK; no member key is used. This test passes
when the limitation is demonstrated, i.e. when the escrow attack *works*; see
:mod:`prose_mesh.attack.escrow`.
"""

from __future__ import annotations

import pytest
from vectors.imessage_kit import MEMBERS, NOW, other_world, uri, world

from prose_mesh.attack.escrow import decrypt_recorded, derive_rsk
from prose_mesh.crypto.identity import Identity
from prose_mesh.errors import DecapsulationError, ParseError
from prose_mesh.protocol.actions import SendGroupIp
from prose_mesh.protocol.gmk_sender import GmkDistributor


def test_limitation_kms_master_secret_decrypts_every_recorded_gmk():
    w = world()
    issue, actions = GmkDistributor(keys=w.km("gms")).distribute(w.group, now=NOW)
    recorded = [a.packet for a in actions if isinstance(a, SendGroupIp)]  # what the air carried
    assert len(recorded) == len(MEMBERS)
    uids = {w.km(m).uid for m in MEMBERS}
    got = [decrypt_recorded(p, z=w.kms.z, z_pub=w.kms.z_pub) for p in recorded]
    assert {k.recipient_uid for k in got} == uids
    assert {k.key for k in got} == {issue.gmk}  # the group's GMK, from every copy
    assert {k.initiator_uid for k in got} == {w.km("gms").uid}


def test_limitation_any_rsk_for_any_period():
    w = world()
    for pn in (w.period_no - 1, w.period_no, w.period_no + 12):  # past, present, future
        uid = Identity(uri("alice"), "user", w.kms.uri, w.kms.period, w.kms.offset).uid(pn)
        assert derive_rsk(z=w.kms.z, identity=uid) == w.km("alice", pn).rsk


def test_escrow_tool_rejects_garbage_with_the_package_errors():
    w = world()
    with pytest.raises(ParseError):
        decrypt_recorded(b"\x01\x1a" + bytes(40), z=w.kms.z, z_pub=w.kms.z_pub)
    other = GmkDistributor(keys=w.km("gms")).distribute(w.group, now=NOW)[1][0].packet
    o = other_world()
    with pytest.raises(DecapsulationError):  # the wrong community's z: step 5 refuses
        decrypt_recorded(other, z=o.kms.z, z_pub=w.kms.z_pub)
