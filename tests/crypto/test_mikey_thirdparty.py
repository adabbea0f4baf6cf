"""Third-party MIKEY-SAKKE I_MESSAGEs (Streamwide, LGPL-2.1 data): verify, decapsulate, keys."""

from __future__ import annotations

import pytest
from _mikey_vectors import load, walk

from prose_mesh.crypto import eccsi, sakke
from prose_mesh.crypto.identity import mikey_sakke_uid
from prose_mesh.crypto.kdf import gmk_id_from_guk_id, guk_id
from prose_mesh.errors import DecapsulationError, InvalidSignature

KMS, USERS, MESSAGES = load()
Z = bytes.fromhex(KMS["PubEncKey"])
KPAK = bytes.fromhex(KMS["PubAuthKey"])
PERIOD, OFFSET = int(KMS["UserKeyPeriod"]), int(KMS["UserKeyOffset"])


@pytest.mark.parametrize("uri", ["gms@streamwide.com", "sip:alice@streamwide.com",
                                 "sip:bob@streamwide.com"])
def test_uid_reproduced(uri):
    assert mikey_sakke_uid(uri, KMS["KmsUri"], PERIOD, OFFSET, 236) == USERS[uri].uid


@pytest.mark.parametrize("uri", sorted(USERS))
def test_provisioned_keys_validate(uri):
    u = USERS[uri]
    eccsi.validate_ssk(identity=u.uid, ssk=u.ssk, pvt=u.pvt, kpak=KPAK)
    sakke.validate_rsk(identity=u.uid, rsk=u.rsk, z_pub=Z)


@pytest.mark.parametrize("m", MESSAGES, ids=lambda m: m.name)
def test_i_message_signature_and_key(m):
    payloads = walk(m.raw)
    sig = payloads[4][0]
    assert len(sig) == 129
    signed = m.raw[: len(m.raw) - 129]  # PROTOCOL.md §6.4: up to and including S type/length
    signer = USERS[m.initiator]
    eccsi.eccsi_verify(signed, sig, identity=signer.uid, kpak=KPAK)
    assert sig[64:] == signer.pvt
    # The 2 S-type/length octets are covered: without them the signature fails.
    with pytest.raises(InvalidSignature):
        eccsi.eccsi_verify(signed[:-2], sig, identity=signer.uid, kpak=KPAK)
    sakke_payload = payloads[26][0]
    assert sakke_payload[1] == 1  # parameter set 1
    assert int.from_bytes(sakke_payload[3:5], "big") == 273
    recipient = USERS[m.responder]
    ssv = sakke.sakke_decapsulate(sakke_payload[5:], identity=recipient.uid, rsk=recipient.rsk,
                                  z_pub=Z)
    assert ssv == m.key
    # The wrong recipient's key is refused by step 5, not silently wrong.
    other = next(u for u in USERS.values() if u.uri not in (m.responder, m.initiator))
    with pytest.raises(DecapsulationError):
        sakke.sakke_decapsulate(sakke_payload[5:], identity=other.uid, rsk=other.rsk, z_pub=Z)
    # The RAND payload carries the stated RAND.
    rand = payloads[11][0]
    assert rand[2 : 2 + rand[1]] == m.rand


def test_guk_id_vector():
    gmk_msg = MESSAGES[0]
    assert gmk_msg.guk_id == 0x06A12AEA
    got = guk_id(gmk_msg.key, gmk_msg.key_id, "sip:alice@streamwide.com")
    assert got == 0x06A12AEA
    assert gmk_id_from_guk_id(gmk_msg.key, got, "sip:alice@streamwide.com") == 0x0DF9BC39
    # HDR CSB ID of the GMK I_MESSAGE is the recipient's GUK-ID
    assert int.from_bytes(gmk_msg.raw[4:8], "big") == 0x06A12AEA
