"""E2: oversize input, lying lengths, next-payload loops, deep chains, unknown types.

ADVERSARIAL.md §4 E2.

Each crafted message goes to the strict parser (which must raise only :class:`ParseError`) and to
the real receiver (one named reject, nothing installed). Allocation is bounded: tracemalloc's
peak while handling one message stays <= 1 MB, even for 64 KB input and 0xFFFF length fields
(the parser slices what is there; it never allocates what a length field claims). Time is not
asserted (speed is measured by benchmarks only).
"""

from __future__ import annotations

import tracemalloc

import pytest
from vectors.imessage_kit import feed, parts, signer_of, world

from prose_mesh.errors import ParseError
from prose_mesh.wire import mikey_codec as mc

LIMIT = 1 << 20


def _ref():
    w = world()
    pp = parts(w)
    return w, pp, pp.sign(signer_of(w.km("gms")))


def _offsets(pp) -> dict[str, int]:
    """Offset of each payload's first octet (its next-payload field) in the message."""
    out, at = {}, len(pp.hdr.encode(0))
    for p in pp.payloads:
        name = type(p).__name__
        if name not in out:
            out[name] = at
        at += len(p.encode(0))
    out["SIGN"] = at
    return out


def _cases() -> dict[str, bytes]:
    _w, pp, ref = _ref()
    off = _offsets(pp)
    cases: dict[str, bytes] = {}

    def put16(data: bytes, at: int, v: int) -> bytes:
        return data[:at] + v.to_bytes(2, "big") + data[at + 2 :]

    idr_len, sakke_len, ext_len = off["Idr"] + 3, off["Sakke"] + 3, off["GeneralExt"] + 2
    sp_len = off["SP"] + 3
    for field, at in (("IDR", idr_len), ("SAKKE", sakke_len), ("EXT", ext_len), ("SP", sp_len)):
        real = int.from_bytes(ref[at : at + 2], "big")
        for v in {0, 1, real - 1, real + 1, len(ref), 0xFFFE, 0xFFFF}:
            if v != real:
                cases[f"{field} length {v:#x}"] = put16(ref, at, v)
    cases["RAND length 0"] = ref[: off["Rand"] + 1] + b"\x00" + ref[off["Rand"] + 2 :]
    cases["RAND length 255"] = ref[: off["Rand"] + 1] + b"\xff" + ref[off["Rand"] + 2 :]
    cases["SIGN length 0xFFF"] = put16(ref, off["SIGN"], 0x2FFF)
    cases["SIGN length 0"] = put16(ref, off["SIGN"], 0x2000)
    # next-payload loops: T → T, and IDR → IDR forever (a repeatable type)
    t_at = off["T"]
    cases["T points at T"] = ref[:t_at] + bytes([mc.PT_T]) + ref[t_at + 1 :]
    idr = mc.Idr(mc.ROLE_IDRAPP, mc.ID_URI, b"x")
    hdr = mc.Hdr(0x01020304)
    loop = hdr.encode(mc.PT_IDR) + idr.encode(mc.PT_IDR) * 40 + ((2 << 12) | 129).to_bytes(2, "big")
    cases["IDR chain of 40 (a loop)"] = loop + bytes(129)
    ext = mc.GeneralExt(99, b"")
    nested = hdr.encode(mc.PT_GENERAL_EXT) + ext.encode(mc.PT_GENERAL_EXT) * 1000
    cases["1000 nested General Extensions"] = nested + ext.encode(mc.PT_SIGN) + (
        (2 << 12) | 129).to_bytes(2, "big") + bytes(129)
    cases["chain never reaches SIGN (ends in 0)"] = hdr.encode(mc.PT_T) + mc.T(1).encode(0)
    # sizes
    cases["64 KB of junk"] = bytes(range(256)) * 256
    cases["64 KB: the message padded after SIGN"] = ref + bytes(65536 - len(ref))
    cases["65535 octets: 0xFF"] = b"\xff" * 0xFFFF
    cases["empty"] = b""
    # unknown types and header values
    cases["unknown payload type 3 (DH)"] = ref[:2] + bytes([3]) + ref[3:]
    cases["unknown payload type 200"] = ref[:2] + bytes([200]) + ref[3:]
    cases["version 0"] = b"\x00" + ref[1:]
    cases["version 2"] = b"\x02" + ref[1:]
    cases["data type 0"] = ref[:1] + b"\x00" + ref[2:]
    cases["data type 27"] = ref[:1] + b"\x1b" + ref[2:]
    cases["data type 255"] = ref[:1] + b"\xff" + ref[2:]
    cases["CS ID map type 7"] = ref[:9] + b"\x07" + ref[10:]
    cases["SRTP-ID map claiming 255 entries"] = ref[:8] + b"\xff\x00" + ref[10:]
    cases["GENERIC-ID map claiming 255 entries"] = ref[:8] + b"\xff\x02" + ref[10:]
    cases["TS type 9"] = ref[: t_at + 1] + b"\x09" + ref[t_at + 2 :]
    cases["S type 15"] = put16(ref, off["SIGN"], 0xF000 | 129)
    return cases


CASES = _cases()


def test_enough_cases():
    assert len(CASES) >= 50


@pytest.mark.parametrize("name", sorted(CASES))
def test_rejected_within_memory_bound(name):
    data = CASES[name]
    w = world()
    m = w.member()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        with pytest.raises(ParseError):
            mc.parse_i_message(data)
        verdict = feed(m, data)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert verdict in {"MALFORMED", "BAD_HEADER"}, verdict
    assert m.accepted == 0 and m.crypto_ops == {}  # refused before any crypto
    assert peak <= LIMIT, f"{peak} octets allocated"
