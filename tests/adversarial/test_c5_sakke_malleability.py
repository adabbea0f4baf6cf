"""C5: SAKKE ciphertext malleability under a valid insider signature (ADVERSARIAL §4).

Every bit of H (128) is flipped in turn, and of R (2,056 bits, prefix included) every bit of
the prefix and of the first and last octet of Rx and Ry plus every 16th bit elsewhere (R flips
leave the curve, so they all die in the same cheap on-curve check; the full R sweep costs
~5 s of CI for no new path — tests/vectors covers more R flips). Each message is re-signed with
the GMS's real key — a compromised insider — so SIGN verifies. RFC 6508 §6.2.2 step 5
(TEST == R), or R parsing, must reject every one: 0 installs, no related-key GMK.
"""

from __future__ import annotations

import os

from vectors.imessage_kit import NOW, feed, parts, signer_of, world


def _flip(data: bytes, bit: int) -> bytes:
    buf = bytearray(data)
    buf[bit // 8] ^= 0x80 >> (bit % 8)
    return bytes(buf)


def test_every_h_and_r_bit_flip_rejected_by_step_5():
    w = world()
    pp = parts(w)
    sign = signer_of(w.km("gms"))
    enc = pp.sakke_data
    m = w.member()
    r_octets = {0, 1, 128, 129, 256}  # prefix, Rx first/last, Ry first/last
    bits = [b for b in range(257 * 8) if b // 8 in r_octets or b % 16 == 5]
    bits += list(range(257 * 8, 273 * 8))  # every bit of H
    reasons: dict[str, int] = {}
    for bit in bits:
        # a fresh RAND per message: the known-bad cache must not answer for SAKKE here
        data = pp.with_rand(os.urandom(16)).with_sakke(_flip(enc, bit)).sign(sign)
        r = feed(m, data)
        reasons[r] = reasons.get(r, 0) + 1
    assert len(bits) > 128 + 160
    assert reasons == {"BAD_SAKKE": len(bits)}
    assert m.crypto_ops == {"eccsi_verify": len(bits), "sakke_decapsulate": len(bits)}
    assert m.accepted == 0 and m.current(w.group.group_id, NOW) is None
    # the receiver is intact: the untouched message installs the GMK
    assert feed(m, pp.sign(sign)) == "ACCEPTED"
    assert m.current(w.group.group_id, NOW).key == pp.gmk
