"""H3: ECCSI nonce-reuse detector (ADVERSARIAL §4 H3): r unique per signer.

Honest run: 10,000 signatures from prose_mesh's hedged signer (2 signers) → 0 repeats.
Planted run: a faulty signer reuses j for two GMK I_MESSAGEs seen on the air → flagged, the
monitor recovers the SSK, the recovered key passes RFC 6507 §5.1.2, and (proving the impact) a
GMK I_MESSAGE forged with it is installed by a real member.
"""

from __future__ import annotations

import os
import secrets

import pytest
from vectors.imessage_kit import NOW, feed, parts, world

from prose_mesh.attack.nonce_monitor import NonceMonitor, recover_ssk
from prose_mesh.crypto.eccsi import _sign_with_j, eccsi_sign
from prose_mesh.crypto.p256 import Q
from prose_mesh.errors import InvalidKey

HONEST = 10_000


def test_honest_signers_never_repeat_r():
    w = world()
    mon = NonceMonitor(kpak=w.km("gms").kpak)
    signers = [w.km("gms"), w.km("alice")]
    for i in range(HONEST):
        km = signers[i % 2]
        msg = b"I_MESSAGE %d" % i
        sig = eccsi_sign(msg, identity=km.uid, ssk=km.ssk, pvt=km.pvt, kpak=km.kpak)
        assert mon.observe(km.uid, msg, sig) is None
    # the same signed message seen twice (a replay on the air) is not a nonce reuse
    assert mon.observe(km.uid, msg, sig) is None
    assert mon.stats() == {"signers": 2, "entries": HONEST, "signatures": HONEST + 1,
                           "replays": 1}
    assert mon.findings == []


def test_planted_j_reuse_is_flagged_and_the_ssk_recovered():
    w = world()
    gms = w.km("gms")
    j = secrets.randbelow(Q - 1) + 1

    def faulty(tbs: bytes) -> bytes:
        return _sign_with_j(tbs, j, identity=gms.uid, ssk=gms.ssk, pvt=gms.pvt, kpak=gms.kpak)

    mon = NonceMonitor(kpak=gms.kpak)
    first = parts(w, "alice").sign(faulty)
    second = parts(w, "bob").sign(faulty)
    assert mon.observe_i_message(first) is None
    finding = mon.observe_i_message(second)
    assert finding is not None and finding.signer == gms.uid
    assert finding.ssk == gms.ssk  # the GMS's long-term signing key, from two messages
    assert mon.stats()["repeats"] == 1 and mon.stats()["recovered"] == 1
    # impact: the attacker now signs as the GMS and a real member installs its GMK
    stolen = finding.ssk

    def forge(tbs: bytes) -> bytes:
        return eccsi_sign(tbs, identity=gms.uid, ssk=stolen, pvt=gms.pvt, kpak=gms.kpak)

    forged = parts(w, "carol")
    m = w.member("carol")
    assert feed(m, forged.sign(forge)) == "ACCEPTED"
    assert m.current(w.group.group_id, NOW).key == forged.gmk


def test_recover_ssk_refuses_pairs_that_do_not_share_j():
    w = world()
    gms = w.km("gms")
    a, b = b"one", b"two"
    sa = eccsi_sign(a, identity=gms.uid, ssk=gms.ssk, pvt=gms.pvt, kpak=gms.kpak)
    sb = eccsi_sign(b, identity=gms.uid, ssk=gms.ssk, pvt=gms.pvt, kpak=gms.kpak)
    with pytest.raises(InvalidKey):
        recover_ssk(a, sa, b, sb, identity=gms.uid, kpak=gms.kpak)
    # a forged "repeat" (r copied, s random) is flagged but yields no key
    mon = NonceMonitor(kpak=gms.kpak)
    mon.observe(gms.uid, a, sa)
    fake = sa[:32] + os.urandom(32) + sa[64:]
    finding = mon.observe(gms.uid, b, fake)
    assert finding is not None and finding.ssk is None
    assert mon.observe_i_message(b"\x01junk") is None and mon.stats()["unparsable"] == 1
