"""Untrusted input: every bit flip and truncation of a reference message, and Hypothesis fuzz.

Each strict parser must either accept or raise ParseError; no other exception, no hang.
"""

import random

import pytest
from _wire_refs import built, decode_i_message, third_party_i_messages
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prose_mesh.errors import ParseError
from prose_mesh.wire import discovery, fast, monp, pc5s
from prose_mesh.wire import mikey as mikey_scapy
from prose_mesh.wire import mikey_codec as mc


def _refs():
    b = built()
    refs = []
    refs += [("pc5s", pc5s.parse_pc5s, x) for x in b["pc5s"]]
    refs += [("discovery", discovery.parse_discovery, x) for x in b["discovery"]]
    refs += [("monp", monp.parse_monp, x) for x in b["monp"]]
    refs += [("floor", monp.parse_floor, x) for x in b["floor"]]
    refs += [("mikey", mc.parse_mikey, x) for x in b["mikey"]]
    refs += [("frame", fast.parse_frame, x) for x in b["frames"]]
    refs += [("key_data", mc.parse_key_data, mc.KeyData(b"k" * 16, b"s" * 12, b"spi!").encode())]
    return refs


REFS = _refs()


def _check(parser, data):
    try:
        parser(data)
    except ParseError as exc:
        assert exc.reason in {"TRUNCATED", "BAD_HEADER", "BAD_LENGTH", "UNKNOWN_TYPE", "LOOP",
                              "TRAILING", "MISSING", "DUPLICATE", "BAD_ORDER"}


@pytest.mark.parametrize(("kind", "parser", "ref"), REFS,
                         ids=[f"{k}{i}" for i, (k, _, _) in enumerate(REFS)])
def test_bit_flips_and_truncations(kind, parser, ref):
    parser(ref)  # the reference itself is accepted
    buf = bytearray(ref)
    for i in range(len(buf)):
        for bit in range(8):
            buf[i] ^= 1 << bit
            _check(parser, bytes(buf))
            buf[i] ^= 1 << bit
    for n in range(len(ref)):
        _check(parser, ref[:n])


def test_third_party_i_messages_flips_and_truncations():
    for vec in third_party_i_messages().values():
        raw = decode_i_message(vec["I-MESSAGE"])
        buf = bytearray(raw)
        for i in range(len(buf)):
            for bit in range(8):
                buf[i] ^= 1 << bit
                _check(mc.parse_i_message, bytes(buf))
                buf[i] ^= 1 << bit
        for n in range(len(raw)):
            with pytest.raises(ParseError):
                mc.parse_i_message(raw[:n])


def test_scapy_entry_point_is_strict():
    raw = built()["mikey"][0]
    assert bytes(mikey_scapy.parse_mikey_scapy(raw)) == raw
    with pytest.raises(ParseError):
        mikey_scapy.parse_mikey_scapy(raw[:-3])


def _mutate(refs, seed, junk):
    """Junk bytes, or a reference message with octets replaced, cut, spliced or extended.

    Hypothesis draws the seed and the junk; the mutation itself is cheap Python, which keeps
    10,000 examples per parser within seconds.
    """
    rng = random.Random(seed)
    mode = seed % 4
    if mode == 0:
        return junk
    buf = bytearray(rng.choice(refs))
    for _ in range(rng.randint(1, 4)):
        buf[rng.randrange(len(buf))] = rng.randrange(256)
    if mode == 2:
        del buf[rng.randrange(len(buf) + 1) :]
    if mode == 3:
        at = rng.randrange(len(buf) + 1)
        buf[at:at] = junk
    return bytes(buf)


FUZZ = {
    "pc5s": pc5s.parse_pc5s,
    "discovery": discovery.parse_discovery,
    "monp": monp.parse_monp,
    "floor": monp.parse_floor,
    "mikey": mc.parse_i_message,
    "frame": fast.parse_frame,
}


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(FUZZ))
def test_fuzz_mutations_of_reference_frames(kind):
    """Mutations of this parser's own reference frames (the 10,000-example campaign over every
    parser is tests/adversarial/test_e3_parser_fuzz.py; this one aims at deeper structure)."""
    parser = FUZZ[kind]
    refs = [r for k, _, r in REFS if k == kind]

    @settings(max_examples=2_000, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(st.integers(0, 2**63), st.binary(max_size=48))
    def run(seed, junk):
        _check(parser, _mutate(refs, seed, junk))

    run()
