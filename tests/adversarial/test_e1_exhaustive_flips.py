"""E1: every bit flip (8L) and every prefix (L) of a reference GMK I_MESSAGE (ADVERSARIAL §4).

Through the real receiver (:class:`GmkMember`, flood control lifted so every variant meets the
checks): all 9L variants rejected with a named reason, none installed, and the receiver still
installs the untouched message afterwards. The strict parser alone, on the same variants, raises
only :class:`ParseError` (or parses: a flip inside a value field is syntactically fine — SIGN
then rejects it). No other exception type may escape either.
"""

from __future__ import annotations

from collections import Counter

from vectors.imessage_kit import NOW, feed, parts, signer_of, world

from prose_mesh.errors import ParseError
from prose_mesh.protocol.reasons import Reason
from prose_mesh.wire import mikey_codec as mc


def _variants(ref: bytes):
    buf = bytearray(ref)
    for i in range(len(buf)):
        for bit in range(8):
            buf[i] ^= 1 << bit
            yield bytes(buf)
            buf[i] ^= 1 << bit
    for n in range(len(ref)):
        yield ref[:n]


def test_every_flip_and_prefix_rejected_only_with_named_reasons():
    w = world()
    pp = parts(w)
    ref = pp.sign(signer_of(w.km("gms")))
    size = len(ref)
    m = w.member()
    verdicts: Counter[str] = Counter()
    parse_errors: Counter[str] = Counter()
    parsed = 0
    for data in _variants(ref):
        verdicts[feed(m, data)] += 1
        try:
            mc.parse_i_message(data)
            parsed += 1
        except ParseError as exc:
            parse_errors[exc.reason] += 1
    total = 8 * size + size
    assert sum(verdicts.values()) == total
    assert "ACCEPTED" not in verdicts and m.accepted == 0
    assert set(verdicts) <= {r.value for r in Reason}
    assert sum(m.rejects.values()) == total  # every one counted under its reason
    assert sum(parse_errors.values()) + parsed == total
    # flips that still parse die at a later check; the signature is the backstop
    assert verdicts["BAD_SIG"] >= 1 and verdicts["MALFORMED"] >= size
    # each distinct forgery is verified at most once: sending them all again costs no crypto
    verified = m.crypto_ops["eccsi_verify"]
    assert 0 < verified <= 8 * size
    # (newest first: the cache keeps the newest `capacity` forgeries; older ones were evicted,
    # which only costs one more verification each)
    again = Counter(feed(m, data) for data in reversed(list(_variants(ref))))
    evicted = max(0, verified - m.known_bad.capacity)
    assert m.crypto_ops["eccsi_verify"] - verified <= evicted, "a known forgery verified twice"
    assert "ACCEPTED" not in again and again["KNOWN_BAD"] >= 1
    # the untouched message still installs, after every forgery of it, on the same member
    assert feed(m, ref) == "ACCEPTED"
    assert m.current(w.group.group_id, NOW).key == pp.gmk


def test_a_forged_copy_first_does_not_poison_the_genuine_message():
    """Found by this campaign: with a known-bad key of (IDRi, RAND, T) alone, one forged copy
    that arrives first got the genuine I_MESSAGE refused KNOWN_BAD for the skew window."""
    w = world()
    pp = parts(w)
    ref = pp.sign(signer_of(w.km("gms")))
    m = w.member()
    forged = ref[:-1] + bytes([ref[-1] ^ 1])  # one PVT bit: BAD_SIG
    assert feed(m, forged) == "BAD_SIG"
    assert feed(m, ref) == "ACCEPTED"  # got: KNOWN_BAD
