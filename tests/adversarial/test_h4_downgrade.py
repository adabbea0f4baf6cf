"""H4: downgrade of the security parameters (ADVERSARIAL §4 H4).

(1) An on-path attacker strips or alters the SP payload (NULL cipher, short tag), the CS ID map
or the PRF of a GMS-signed GMK I_MESSAGE: SIGN covers everything, and the receiver refuses each
(the cheap policy/header checks may fire before the signature does). (2) The GMS itself — or a
compromised GMS key — signs weak parameters: local policy (gmk_receiver: SRTP only, every SP
parameter equal to the TS 33.180 Table E.2-1 default; PRF 1; empty or CS-ID-4 GENERIC-ID map;
E.6 key type GMK, not revoked) refuses them although the signature is valid. 0 sessions below
policy: nothing is installed in any case.
"""

from __future__ import annotations

import os

import pytest
from vectors.imessage_kit import NOW, feed, parts, signer_of, world

from prose_mesh.protocol.key_params import KEY_TYPE_GMK, KeyParameters, quantize
from prose_mesh.wire import mikey_codec as mc

DEFAULT = dict(mc.DEFAULT_SP_PARAMS)


def _sp(**changes: bytes) -> mc.SP:
    names = {"encr": 0, "encr_key_len": 1, "auth": 2, "salt_len": 4, "srtp_tag": 18,
             "aead_tag": 20}
    params = dict(DEFAULT)
    for k, v in changes.items():
        params[names[k]] = v
    return mc.SP(tuple(params.items()))


@pytest.fixture(scope="module")
def signed():
    w = world()
    pp = parts(w)
    return w, pp, pp.sign(signer_of(w.km("gms")))


def _sp_offset(pp) -> int:
    at = len(pp.hdr.encode(0))
    for p in pp.payloads:
        if isinstance(p, mc.SP):
            return at
        at += len(p.encode(0))
    raise AssertionError("no SP")


def test_tampered_parameters_are_rejected(signed):
    w, pp, msg = signed
    sp_at = _sp_offset(pp)
    body = msg[sp_at + 5 :]

    def param(ptype: int, value: int) -> bytes:
        """The signed message with SP parameter ``ptype``'s one-octet value replaced in place."""
        i = sp_at + 5
        while True:
            t, n = msg[i], msg[i + 1]
            if t == ptype:
                return msg[: i + 2] + bytes([value]) + msg[i + 3 :]
            i += 2 + n

    sp_len = 5 + int.from_bytes(msg[sp_at + 3 : sp_at + 5], "big")
    # remove SP: the previous payload's next-payload octet now names SAKKE
    prev = [p for p in pp.payloads][[type(p) for p in pp.payloads].index(mc.SP) - 1]
    prev_at = sp_at - len(prev.encode(0))
    stripped = bytearray(msg[:sp_at] + msg[sp_at + sp_len :])
    stripped[prev_at] = mc.PT_SAKKE
    generic = mc.Hdr(pp.hdr.csb_id, map_type=mc.MAP_GENERIC_ID, generic_map=(
        mc.GenericIdEntry(4, spi=os.urandom(4) + pp.hdr.csb_id.to_bytes(4, "big")),))
    cases = {
        "SP NULL cipher": param(0, 0),
        "SP SRTP tag 1 octet": param(18, 1),
        "SP AEAD tag 4 octets": param(20, 4),
        "SP session key 5 octets": param(1, 5),
        "SP prot type 1 (not SRTP)": msg[: sp_at + 2] + b"\x01" + msg[sp_at + 3 :],
        "SP removed": bytes(stripped),
        "PRF 0 (MIKEY-1)": msg[:3] + b"\x00" + msg[4:],
        "CS ID map -> GENERIC-ID": generic.encode(msg[2]) + msg[10:],
        "CS ID map -> SRTP-ID": mc.Hdr(pp.hdr.csb_id, map_type=mc.MAP_SRTP_ID, srtp_map=(
            mc.SrtpIdEntry(0, 0xCAFEBABE, 0),)).encode(msg[2]) + msg[10:],
    }
    assert body  # the SP really has parameters to alter
    got = {}
    for name, data in cases.items():
        m = w.member()
        got[name] = feed(m, data)
        assert m.current(w.group.group_id, NOW) is None, name
    assert "ACCEPTED" not in got.values(), got
    assert got["SP removed"] == "BAD_SIG" and got["CS ID map -> GENERIC-ID"] == "BAD_SIG"
    assert set(got.values()) <= {"POLICY", "BAD_HEADER", "BAD_SIG"}
    assert feed(w.member(), msg) == "ACCEPTED"  # the untouched message is fine


WEAK_SIGNED = {
    "SP NULL cipher": {"sp": _sp(encr=b"\x00")},
    "SP AES-CM instead of GCM": {"sp": _sp(encr=b"\x01")},
    "SP SRTP tag 1 octet": {"sp": _sp(srtp_tag=b"\x01")},
    "SP AEAD tag 8 octets": {"sp": _sp(aead_tag=b"\x08")},
    "SP key length 0": {"sp": _sp(encr_key_len=b"\x00")},
    "SP NULL auth": {"sp": _sp(auth=b"\x00")},
    "SP prot type 1": {"sp": mc.SP(mc.DEFAULT_SP_PARAMS, prot_type=1)},
    "SP unknown parameter 12": {"sp": mc.SP((*mc.DEFAULT_SP_PARAMS, (12, b"\x01")))},
    "SP default then NULL cipher again": {"sp": mc.SP((*mc.DEFAULT_SP_PARAMS, (0, b"\x00")))},
    "PRF 0": {"hdr": "prf0"},
    "SRTP-ID map": {"hdr": "srtp"},
    "GENERIC-ID map, CS-ID 6": {"hdr": "cs6"},
    "key type PCK in E.6": {"key_type": 1},
    "E.6 status revoked": {"status": 0},
}


@pytest.mark.parametrize("name", sorted(WEAK_SIGNED))
def test_weak_parameters_refused_even_when_validly_signed(name):
    w = world()
    kw = dict(WEAK_SIGNED[name])
    gmk = os.urandom(16)
    probe = parts(w, gmk=gmk)
    csb = probe.hdr.csb_id
    hdrs = {
        "prf0": mc.Hdr(csb, prf=mc.PRF_MIKEY_1),
        "srtp": mc.Hdr(csb, map_type=mc.MAP_SRTP_ID, srtp_map=(mc.SrtpIdEntry(0, 1, 0),)),
        "cs6": mc.Hdr(csb, map_type=mc.MAP_GENERIC_ID,
                      generic_map=(mc.GenericIdEntry(6, spi=csb.to_bytes(4, "big") * 2),)),
    }
    hdr = hdrs.get(kw.pop("hdr", ""))
    key_params = None
    if "key_type" in kw or "status" in kw:
        act = quantize(NOW)
        key_params = KeyParameters(act, act + 3600, w.group.group_id, "standard", (),
                                   key_type=kw.pop("key_type", KEY_TYPE_GMK),
                                   status=kw.pop("status", 1))
    pp = parts(w, gmk=gmk, hdr=hdr, key_params=key_params, **kw)
    m = w.member()
    verdict = feed(m, pp.sign(signer_of(w.km("gms"))))
    assert verdict in {"POLICY", "BAD_HEADER"}, verdict
    assert m.current(w.group.group_id, NOW) is None and m.accepted == 0


def test_validly_signed_message_without_sp_uses_the_default_profile():
    """Not a downgrade: no SP means the Table E.2-1 defaults, which is what the policy wants."""
    w = world()
    m = w.member()
    assert feed(m, parts(w, sp=None).sign(signer_of(w.km("gms")))) == "ACCEPTED"
