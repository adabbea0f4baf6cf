"""KMS provisioning and the strict UE key file."""

from __future__ import annotations

import json

import pytest

from prose_mesh.crypto import eccsi, sakke
from prose_mesh.crypto.kms import Kms, load_key_material, save_key_material
from prose_mesh.errors import ConfigError, DecapsulationError, InvalidSignature


@pytest.fixture(scope="module")
def kms():
    return Kms.generate("kms.test.example", period=86400, offset=0)


@pytest.fixture(scope="module")
def alice(kms):
    return kms.provision("sip:alice@test.example", 42)


def test_provision_and_use(kms, alice):
    alice.validate()
    assert alice.uid == kms.identity("sip:alice@test.example").uid(42)
    sig = eccsi.eccsi_sign(b"m", identity=alice.uid, ssk=alice.ssk, pvt=alice.pvt, kpak=kms.kpak)
    eccsi.eccsi_verify(b"m", sig, identity=alice.uid, kpak=kms.kpak)
    enc = sakke.sakke_encapsulate(bytes(16), identity=alice.uid, z_pub=kms.z_pub)
    assert sakke.sakke_decapsulate(enc, identity=alice.uid, rsk=alice.rsk,
                                   z_pub=kms.z_pub) == bytes(16)


def test_me_identity(kms):
    me = kms.provision("urn:gsma:imei:35209900-176148-1", 42)
    me.validate()
    assert me.uid == kms.identity("urn:gsma:imei:35209900-176148-1").uid(42)


def test_keyfile_roundtrip_without_secrets(kms, alice, tmp_path):
    path = tmp_path / "alice.json"
    save_key_material(alice, path)
    text = path.read_text()
    assert kms.ksak.hex() not in text and kms.z.hex() not in text
    assert load_key_material(path) == alice


@pytest.mark.parametrize("field", ["ssk", "rsk", "uid", "version", "period_no"])
def test_keyfile_missing_field(alice, field):
    doc = alice.to_json()
    del doc[field]
    with pytest.raises(ConfigError, match=field):
        load_key_material(doc)


def test_keyfile_unknown_field(alice):
    doc = alice.to_json() | {"ksak": "00"}
    with pytest.raises(ConfigError, match="ksak"):
        load_key_material(doc)


@pytest.mark.parametrize(("field", "value"), [("ssk", "zz"), ("pvt", "04"), ("version", 2),
                                              ("period", "1"), ("uri", "")])
def test_keyfile_bad_values(alice, field, value):
    with pytest.raises(ConfigError, match=field):
        load_key_material(alice.to_json() | {field: value})


def test_keyfile_invalid_keys_refused(kms, alice, tmp_path):
    bob = kms.provision("sip:bob@test.example", 42)
    for field in ("ssk", "rsk", "pvt"):
        doc = alice.to_json() | {field: getattr(bob, field).hex()}
        with pytest.raises(ConfigError, match="validation"):
            load_key_material(doc)
    doc = alice.to_json() | {"period_no": 43}
    with pytest.raises(ConfigError, match="UID"):
        load_key_material(doc)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([1]))
    with pytest.raises(ConfigError):
        load_key_material(bad)
    bad.write_text("{")
    with pytest.raises(ConfigError):
        load_key_material(bad)


def test_wrong_period_key_is_refused(kms, alice):
    next_period = kms.provision("sip:alice@test.example", 43)
    enc = sakke.sakke_encapsulate(bytes(range(16)), identity=next_period.uid, z_pub=kms.z_pub)
    with pytest.raises(DecapsulationError, match="step 5"):
        sakke.sakke_decapsulate(enc, identity=alice.uid, rsk=alice.rsk, z_pub=kms.z_pub)
    sig = eccsi.eccsi_sign(b"m", identity=next_period.uid, ssk=next_period.ssk,
                           pvt=next_period.pvt, kpak=kms.kpak)
    with pytest.raises(InvalidSignature):
        eccsi.eccsi_verify(b"m", sig, identity=alice.uid, kpak=kms.kpak)
