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
from scapy.layers.l2 import Ether

import prose_mesh.wire.pc5  # noqa: F401 -- binds the PC5 Scapy layers to Ether
from prose_mesh.crypto.srtp import SrtpError, SrtpProfile, SrtpReceiver
from prose_mesh.errors import ParseError
from prose_mesh.protocol.call_key import CallKeyError, parse_key_message
from prose_mesh.protocol.key_params import KeyParameters, parse_key_parameters
from prose_mesh.wire import discovery, fast, monp, pc5s, samples
from prose_mesh.wire import mikey as mikey_scapy
from prose_mesh.wire import mikey_codec as mc
from prose_mesh.wire.ipudp import build_udp6, link_local, parse_udp6
from prose_mesh.wire.relay import build_envelope, parse_envelope

EXAMPLES = 10_000


def _refs() -> dict[str, list[bytes]]:
    sign, enc = samples.placeholder_crypto()
    frames = samples.build_sample_frames(sign, enc)
    media = samples.media_packets()
    mikey = samples.mikey_messages(sign, enc)
    psk = mc.build_group_call_key_message(
        csb_id=0x1234, t_ntp=samples.T_NTP, rand=bytes(16), initiator_uri=b"sip:a@x",
        initiator_uid=bytes(32), encr_key_data=bytes(40), sign=sign)
    env = build_envelope(0x0A0B0C, 7, 3, 1, frames[0][fast.ETH_LEN:])
    return {
        "frame": frames,
        "pc5": [f[fast.ETH_LEN:] for f in frames],
        "pc5 scapy": frames,
        "pc5s": [m for m, _ in samples.pc5s_messages(sign, enc)],
        "discovery": samples.discovery_messages(),
        "monp": samples.monp_messages(),
        "floor": samples.floor_messages(),
        "ipudp": [build_udp6(link_local(1), link_local(2), 2269, 2269, m) for m in mikey[:1]],
        "mikey": mikey,
        "mikey scapy": mikey,
        "psk key message": [psk],
        "call key message": [psk],
        "key data": [mc.KeyData(b"k" * 16, b"s" * 12, b"spi!").encode()],
        "key parameters": [KeyParameters(1.0, 2.0, "sip:g@x", "adhoc", ("sip:a@x",)).encode()],
        "relay envelope": [env],
        "srtp": media[:1],
        "srtcp": media[1:],
    }


REFS = _refs()
_rx = SrtpReceiver(SrtpProfile.AEAD_AES_128_GCM, mki_len=8)
_rx.add_key(samples.SAMPLE_MKI, samples.SAMPLE_SRTP_KEY, samples.SAMPLE_SRTP_SALT)


def _relay(data: bytes) -> object:
    return parse_envelope(fast.parse_pc5(data))


def _scapy(data: bytes) -> object:
    """The PC5 Scapy layers behind the strict check, as :func:`mikey_scapy.parse_mikey_scapy`
    does for MIKEY: Scapy is the readable reference, not an untrusted-input parser (bare
    ``Ether(b"\x04")`` raises struct.error inside Scapy itself)."""
    fast.parse_frame(data)
    return Ether(data)


PARSERS: dict[str, tuple[Callable[[bytes], object], tuple[type[Exception], ...]]] = {
    "frame": (fast.parse_frame, (ParseError,)),
    "pc5": (fast.parse_pc5, (ParseError,)),
    "pc5 scapy": (_scapy, (ParseError,)),
    "pc5s": (pc5s.parse_pc5s, (ParseError,)),
    "discovery": (discovery.parse_discovery, (ParseError,)),
    "monp": (monp.parse_monp, (ParseError,)),
    "floor": (monp.parse_floor, (ParseError,)),
    "ipudp": (parse_udp6, (ParseError,)),
    "mikey": (mc.parse_mikey, (ParseError,)),
    "mikey scapy": (mikey_scapy.parse_mikey_scapy, (ParseError,)),
    "psk key message": (mc.parse_psk_message, (ParseError,)),
    "call key message": (parse_key_message, (CallKeyError,)),
    "key data": (mc.parse_key_data, (ParseError,)),
    "key parameters": (parse_key_parameters, (ParseError,)),
    "relay envelope": (_relay, (ParseError,)),
    "srtp": (_rx.unprotect_rtp, (SrtpError,)),
    "srtcp": (_rx.unprotect_rtcp, (SrtpError,)),
}


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
