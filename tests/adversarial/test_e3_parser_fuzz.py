"""E3: every parser under Hypothesis, >= 10,000 examples each (ADVERSARIAL §4 E3, §7).

One Hypothesis property draws (seed, junk, lengths) 10,000 times; every example feeds *each*
parser its own input derived from that draw — random junk, or one of its reference messages
with octets replaced, cut, spliced or extended, or (MIKEY) a structure-aware HDR + one payload of
each type with random fields and lying lengths. So every parser sees 10,000 Hypothesis examples
while Hypothesis' own per-example cost (~1-2 ms here, the dominant cost) is paid once, not 20
times: a separate 10k property per parser measured ~40 s each on the shared CI box (the
per-parser mutation tests in tests/wire/test_wire_robustness.py now run 2,000 examples).

A parser may only succeed or raise its own error type: :class:`ParseError` for the strict wire
codecs, :class:`SrtpError` for SRTP/SRTCP, :class:`CallKeyError` for the call-key message. The
Scapy layers are fuzzed behind the strict check (the product's rule for untrusted bytes): every
input the strict parser accepts must dissect without raising.
The count of inputs per parser is asserted at the end.
"""

from __future__ import annotations

import contextlib
import random
from collections import Counter
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from prose_mesh.errors import ParseError
from prose_mesh.fuzz import MIKEY_PARTS, TARGET_NAMES, load_targets
from prose_mesh.wire import mikey_codec as mc

EXAMPLES = 10_000

# The parsers and their reference messages are the Atheris targets' (prose_mesh.fuzz): one list.
# The MIKEY HDR/payload targets frame their input in a fixed message; here the structure-aware
# generator below (_mikey_structured) covers each payload instead.
_TARGETS = load_targets()
_FRAMED = {f"mikey-{p}" for p in MIKEY_PARTS}
PARSERS: dict[str, tuple[Callable[[bytes], object], tuple[type[Exception], ...]]] = {
    n: (_TARGETS[n].parse, _TARGETS[n].allowed) for n in TARGET_NAMES if n not in _FRAMED}
REFS: dict[str, list[bytes]] = {n: list(_TARGETS[n].seeds) for n in PARSERS}


def _mutate(rng: random.Random, refs: list[bytes], junk: bytes) -> bytes:
    mode = rng.randrange(5)
    if mode == 0:
        return junk
    buf = bytearray(rng.choice(refs))
    for _ in range(rng.randint(1, 4)):  # CorruptedBytes / CorruptedBits
        i = rng.randrange(len(buf))
        buf[i] = rng.randrange(256) if rng.random() < 0.5 else buf[i] ^ (1 << rng.randrange(8))
    if mode == 2:
        del buf[rng.randrange(len(buf) + 1) :]
    elif mode == 3:
        at = rng.randrange(len(buf) + 1)
        buf[at:at] = junk
    elif mode == 4:  # a lying 16-bit length somewhere
        i = rng.randrange(max(1, len(buf) - 1))
        buf[i : i + 2] = rng.choice((0, 1, 0xFFFF, len(buf), rng.randrange(65536))).to_bytes(
            2, "big")
    return bytes(buf)


_PAYLOADS = (mc.PT_T, mc.PT_RAND, mc.PT_IDR, mc.PT_SP, mc.PT_SAKKE, mc.PT_GENERAL_EXT,
             mc.PT_KEMAC)


def _mikey_structured(rng: random.Random, pt: int, junk: bytes, n: int) -> bytes:
    """HDR with random fields and map, then one payload of type ``pt`` (random fields, a
    length field that may lie), then SIGN with a random S type/length."""
    map_type = rng.choice((0, 1, 2, rng.randrange(256)))
    n_cs = rng.choice((0, 1, 2, rng.randrange(256)))
    hdr = bytes([rng.choice((1, 1, 1, rng.randrange(256))), rng.choice((0, 26, rng.randrange(256))),
                 pt, rng.randrange(256)]) + rng.randbytes(4) + bytes([n_cs, map_type])
    hdr += junk[: rng.randrange(len(junk) + 1)] if map_type != 1 else b""
    nxt = rng.choice((mc.PT_SIGN, mc.PT_SIGN, rng.randrange(256)))
    body = junk
    length = rng.choice((len(body), n, 0, 0xFFFF))
    if pt in (mc.PT_IDR, mc.PT_SP, mc.PT_SAKKE):
        pl = bytes([nxt, rng.randrange(256), rng.randrange(256)]) + length.to_bytes(2, "big")
    elif pt == mc.PT_GENERAL_EXT:
        pl = bytes([nxt, rng.randrange(256)]) + length.to_bytes(2, "big")
    elif pt == mc.PT_KEMAC:
        pl = bytes([nxt, rng.randrange(4)]) + length.to_bytes(2, "big")
    elif pt == mc.PT_RAND:
        pl = bytes([nxt, length & 0xFF])
    else:
        pl = bytes([nxt, rng.choice((0, 1, 2, rng.randrange(256)))])
    sign = rng.choice(((2 << 12) | 129, rng.randrange(65536))).to_bytes(2, "big")
    return hdr + pl + body + sign + rng.randbytes(rng.choice((129, 128, 130, 0)))


COUNTS: Counter[str] = Counter()


def _run(name: str, data: bytes) -> None:
    parser, allowed = PARSERS[name]
    COUNTS[name] += 1
    with contextlib.suppress(*allowed):
        parser(data)


@settings(max_examples=EXAMPLES, deadline=None, database=None, phases=[Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.integers(0, 2**63), st.binary(max_size=64))
def _campaign(seed: int, junk: bytes) -> None:
    rng = random.Random(seed)
    n = rng.randrange(0x10000)
    for name in PARSERS:
        _run(name, _mutate(rng, REFS[name], junk))
    for pt in _PAYLOADS:
        COUNTS[f"mikey payload {pt}"] += 1
        data = _mikey_structured(rng, pt, junk, n)
        with contextlib.suppress(ParseError):
            mc.parse_mikey(data)


@pytest.mark.slow
def test_every_parser_10k_examples_only_its_own_error():
    for name in PARSERS:  # every reference parses (the mutations start from valid input)
        for ref in REFS[name]:
            PARSERS[name][0](ref) if name not in ("srtp", "srtcp") else None
    COUNTS.clear()
    _campaign()
    assert set(COUNTS) == set(PARSERS) | {f"mikey payload {pt}" for pt in _PAYLOADS}
    assert min(COUNTS.values()) >= EXAMPLES, COUNTS
