"""Crafted GMK I_MESSAGEs for the crypto-input attacks (ADVERSARIAL.md §4 C2, C4, C5, C6, E2, H4).

Each class is a fixed, enumerated list of variants built from one captured, opened I_MESSAGE
(TS 33.180 §E.2 / RFC 6509 layout, parsed by :mod:`prose_mesh.wire.mikey_codec`). Every
variant gets a fresh RAND and T first (so neither the replay cache nor the known-bad cache of
PROTOCOL.md §8.5 answers for it: each one reaches the check under test), then the class's edit:

* ``sig_range`` — r or s in {0, 1, q-1, q, q+1, p, 2^256-1} (RFC 6507 §5.2.2 step 1): BAD_SIG;
* ``pvt_invalid`` — PVT prefix 0x00/0x02/0x03/0x05, off the curve, on the twist, a coordinate
  >= p, (0, 0) (RFC 6507 §5.2.2 step 2): BAD_SIG;
* ``sig_length`` — a SIGN of 128 or 130 octets (4N and 4N+2; RFC 6509 §4.3): MALFORMED;
* ``sakke_r_invalid`` — R prefix != 0x04, R off the curve, on the twist, a coordinate >= p, the
  order-2 point (0, 0), all-zero data, H = 0 or 2^128-1 (RFC 6508 §6.2.2): BAD_SAKKE;
* ``sakke_length`` — SAKKE data of 272, 274, 0 or 289 octets: MALFORMED at parse;
* ``sakke_h_flip`` / ``sakke_r_flip`` — one bit of H (128 variants) / of R (2,056) per variant
  (RFC 6508 §6.2.2 step 5 or R parsing): BAD_SAKKE;
* ``sp_downgrade`` / ``csid_map`` / ``prf`` — weak or altered SP, CS ID map, PRF (H4). Not
  re-signed: SIGN covers them (BAD_SIG) unless the cheaper policy/header check fires first
  (POLICY / BAD_HEADER). Re-signed: only variants local policy must refuse (POLICY /
  BAD_HEADER) — a validly signed message *without* SP, or with the CS-ID-4 GENERIC-ID map, is
  not a downgrade (the default profile) and is not sent;
* ``lying_length`` / ``payload_loop`` / ``nested_payloads`` / ``oversize`` / ``unknown_type``
  (E2) — length fields that lie, next-payload loops, a chain of General Extensions as deep as
  one PC5 PDU carries, messages padded to the frame limit, unknown types and header values:
  MALFORMED or BAD_HEADER, before any crypto;
* ``third_party_kat`` — the four third-party I_MESSAGEs (another KMS community), verbatim.

With ``sign`` (the role holds a signer's SSK: ``resign``), every variant whose class is about a
field other than SIGN is re-signed, so the signature verifies and only the check under test can
reject. ``sig_leading_zero`` (an honest r or s with a leading 0x00 must be *accepted*) is not an
attack and is refused in a scenario (:data:`NOT_IN_SCENARIOS`); the memory tests cover it.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import random
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final

from prose_mesh.crypto.p256 import B as P256_B
from prose_mesh.crypto.p256 import P as P256_P
from prose_mesh.crypto.p256 import Q as P256_Q
from prose_mesh.crypto.sakke_params import p as SAKKE_P_MPZ
from prose_mesh.errors import ConfigError
from prose_mesh.scenario.schema import CRAFTED
from prose_mesh.wire import fast
from prose_mesh.wire import mikey_codec as mc

CLASSES: Final = CRAFTED  # the scenario schema's list is the one definition
NOT_IN_SCENARIOS: Final = {
    "sig_leading_zero": "an honest leading-zero r/s must be ACCEPTED, so it is no attack; it is "
    "covered by tests/adversarial/test_c2_eccsi_inputs.py",
}
#: classes whose variants edit SIGN itself (never re-signed: that would undo the edit)
SIG_CLASSES: Final = frozenset({"sig_range", "pvt_invalid", "sig_length"})
#: the largest MIKEY message one PC5 PDU carries (no segmentation): SDU − IPv6 − UDP
MAX_BODY: Final = fast.MAX_SDU - 40 - 8
#: TS 33.180 §E.1 / RFC 6509: the third-party vector file (in the shared vectors directory)
THIRD_PARTY_FILE: Final = "mikey_sakke_i_messages_thirdparty.json"
NESTED_WANTED: Final = 1000

SAKKE_P: Final = int(SAKKE_P_MPZ)
_N = 32
_SAKKE_R = 257  # 04 ‖ Rx ‖ Ry
_SAKKE_H_BITS = 128
_SAKKE_R_BITS = _SAKKE_R * 8
_RANGE_VALUES: Final = (0, 1, P256_Q - 1, P256_Q, P256_Q + 1, P256_P, 2**256 - 1)
_FILL_LENGTHS: Final = ("zero", "one", "real-1", "real+1", "total", "0xfffe", "0xffff")

Signer = Callable[[bytes], bytes]


def _i(v: int, n: int) -> bytes:
    return v.to_bytes(n, "big")


def _twist_point(x: int) -> tuple[int, int]:
    """A point of the P-256 quadratic twist by -1 (p ≡ 3 mod 4): -y^2 = x^3 - 3x + b."""
    while True:
        rhs = (x**3 - 3 * x + P256_B) % P256_P
        if pow(rhs, (P256_P - 1) // 2, P256_P) == P256_P - 1:
            return x, pow((-rhs) % P256_P, (P256_P + 1) // 4, P256_P)
        x += 1


def count(cls: str, *, resign: bool, third_party: int = 4) -> int:
    """How many distinct variants ``cls`` has (the role cycles through them)."""
    fixed = {
        "sig_range": 2 * len(_RANGE_VALUES), "pvt_invalid": 9, "sig_length": 2,
        "sakke_r_invalid": 12, "sakke_length": 6, "sakke_h_flip": _SAKKE_H_BITS,
        "sakke_r_flip": _SAKKE_R_BITS, "sp_downgrade": len(_sp_variants(resign)),
        "csid_map": 2, "prf": 1, "lying_length": 4 * len(_FILL_LENGTHS) + 4,
        "payload_loop": 2, "nested_payloads": 2, "oversize": 3, "unknown_type": 11,
        "third_party_kat": third_party,
    }  # fmt: skip
    if cls not in fixed:
        raise ConfigError(f"crafted class {cls!r} cannot be sent in a scenario")
    return fixed[cls]


# -- SP / header variants (H4) --------------------------------------------------------------------
def _sp(**changes: bytes) -> mc.SP:
    names = {"encr": 0, "encr_key_len": 1, "auth": 2, "srtp_tag": 18, "aead_tag": 20}
    params = dict(mc.DEFAULT_SP_PARAMS)
    for k, v in changes.items():
        params[names[k]] = v
    return mc.SP(tuple(params.items()))


def _sp_variants(resign: bool) -> list[mc.SP | None]:
    """SPs of ``sp_downgrade``; None = SP removed (a downgrade only when not re-signed: a
    validly signed message without SP means the TS 33.180 Table E.2-1 defaults)."""
    common: list[mc.SP | None] = [
        _sp(encr=b"\x00"), _sp(srtp_tag=b"\x01"), _sp(aead_tag=b"\x04"),
        _sp(encr_key_len=b"\x05"), mc.SP(mc.DEFAULT_SP_PARAMS, prot_type=1),
    ]  # fmt: skip
    if not resign:
        return [*common, None]
    return [*common, _sp(encr=b"\x01"), _sp(auth=b"\x00"), _sp(encr_key_len=b"\x00"),
            mc.SP((*mc.DEFAULT_SP_PARAMS, (12, b"\x01"))),
            mc.SP((*mc.DEFAULT_SP_PARAMS, (0, b"\x00")))]  # fmt: skip


def _csid_hdr(hdr: mc.Hdr, i: int, resign: bool, rng: random.Random) -> mc.Hdr:
    if i == 0:
        return mc.Hdr(hdr.csb_id, map_type=mc.MAP_SRTP_ID,
                      srtp_map=(mc.SrtpIdEntry(0, rng.randrange(1 << 32), 0),))  # fmt: skip
    # not re-signed: a well-formed CS-ID-4 map that SIGN must catch; re-signed: CS-ID 6,
    # which local policy refuses (the CS-ID-4 map is the honest form)
    cs_id = 6 if resign else 4
    spi = (rng.randbytes(4) if not resign else _i(hdr.csb_id, 4)) + _i(hdr.csb_id, 4)
    return mc.Hdr(hdr.csb_id, map_type=mc.MAP_GENERIC_ID,
                  generic_map=(mc.GenericIdEntry(cs_id, spi=spi),))  # fmt: skip


# -- building -----------------------------------------------------------------------------------
@dataclasses.dataclass
class Crafter:
    """Builds variant ``i`` of a class from a captured I_MESSAGE (see the module docstring)."""

    rng: random.Random
    sign: Signer | None = None  # re-sign with this SSK (``resign``); None: keep captured SIGN
    third_party: Sequence[bytes] = ()

    def fresh(self, msg: mc.MikeyMessage, t_ntp: int) -> list[mc.Payload]:
        out: list[mc.Payload] = []
        for p in msg.payloads:
            if isinstance(p, mc.T):
                p = dataclasses.replace(p, value=t_ntp)
            elif isinstance(p, mc.Rand):
                p = dataclasses.replace(p, rand=self.rng.randbytes(len(p.rand)))
            out.append(p)
        return out

    def _seal(self, hdr: mc.Hdr, payloads: Sequence[mc.Payload], sig: bytes) -> bytes:
        if self.sign is not None:
            return mc.sign_message(hdr, payloads, self.sign)
        return mc.encode_message(hdr, payloads, sig)

    def build(self, cls: str, i: int, msg: mc.MikeyMessage, t_ntp: int) -> bytes:
        """The MIKEY octets of variant ``i`` (taken modulo the class's count)."""
        if cls == "third_party_kat":
            if not self.third_party:
                raise ConfigError("third_party_kat: no third-party I_MESSAGEs loaded")
            return self.third_party[i % len(self.third_party)]
        n = count(cls, resign=self.sign is not None)
        i %= n
        hdr, pl = msg.hdr, self.fresh(msg, t_ntp)
        sig = msg.signature
        if cls in SIG_CLASSES:
            return self._signature(cls, i, hdr, pl, sig)
        if cls in ("sakke_r_invalid", "sakke_length", "sakke_h_flip", "sakke_r_flip"):
            data = _sakke_variant(cls, i, msg.sakke.data if msg.sakke else bytes(273))
            pl = [dataclasses.replace(p, data=data) if isinstance(p, mc.Sakke) else p for p in pl]
            return self._seal(hdr, pl, sig)
        if cls == "sp_downgrade":
            sp = _sp_variants(self.sign is not None)[i]
            if sp is None:
                pl = [p for p in pl if not isinstance(p, mc.SP)]
            elif any(isinstance(p, mc.SP) for p in pl):
                pl = [sp if isinstance(p, mc.SP) else p for p in pl]
            else:  # the captured message had no SP: put the weak one before SAKKE
                at = next(k for k, p in enumerate(pl) if isinstance(p, mc.Sakke))
                pl.insert(at, sp)
            return self._seal(hdr, pl, sig)
        if cls == "csid_map":
            return self._seal(_csid_hdr(hdr, i, self.sign is not None, self.rng), pl, sig)
        if cls == "prf":
            return self._seal(dataclasses.replace(hdr, prf=mc.PRF_MIKEY_1), pl, sig)
        ref = self._seal(hdr, pl, sig)
        return _e2_variant(cls, i, hdr, pl, ref)

    def _signature(
        self, cls: str, i: int, hdr: mc.Hdr, pl: list[mc.Payload], captured: bytes
    ) -> bytes:
        """The edit applies to a valid signature when the role holds an SSK, else to the
        captured one (valid PVT, r and s over the original RAND/T)."""
        tbs = mc.bytes_to_sign(hdr, pl)
        sig = self.sign(tbs) if self.sign is not None else captured
        r, s, pvt = sig[:_N], sig[_N : 2 * _N], sig[2 * _N :]
        if cls == "sig_range":
            v = _i(_RANGE_VALUES[i // 2], _N)
            return tbs + (v + s + pvt if i % 2 == 0 else r + v + pvt)
        if cls == "pvt_invalid":
            x, y = int.from_bytes(pvt[1:33], "big"), int.from_bytes(pvt[33:], "big")
            if i < 4:
                return tbs + r + s + bytes([(0x00, 0x02, 0x03, 0x05)[i]]) + pvt[1:]
            pts = [(x, (y + 1) % P256_P), _twist_point(x), (P256_P + x % (2**256 - P256_P), y),
                   (x, P256_P), (0, 0)]  # fmt: skip
            px, py = pts[i - 4]
            return tbs + r + s + b"\x04" + _i(px, _N) + _i(py, _N)
        length = (128, 130)[i]
        body = sig[:length] if length < mc.SIGNATURE_LEN else sig + b"\x00"
        return tbs[:-2] + _i((mc.S_TYPE_ECCSI << 12) | length, 2) + body


def _flip(data: bytes, bit: int) -> bytes:
    buf = bytearray(data)
    buf[bit // 8] ^= 0x80 >> (bit % 8)
    return bytes(buf)


def _sakke_variant(cls: str, i: int, enc: bytes) -> bytes:
    if cls == "sakke_h_flip":
        return _flip(enc, _SAKKE_R_BITS + i)
    if cls == "sakke_r_flip":
        return _flip(enc, i)
    if cls == "sakke_length":
        return [enc[:-1], enc + b"\x00", enc[:1] + enc[2:], enc[:129] + b"\x00" + enc[129:], b"",
                enc + enc[257:]][i]  # fmt: skip
    rx, ry, h = int.from_bytes(enc[1:129], "big"), int.from_bytes(enc[129:257], "big"), enc[257:]

    def r(x: int, y: int, hh: bytes = h) -> bytes:
        return b"\x04" + _i(x, 128) + _i(y, 128) + hh

    prefixes = [bytes([v]) + enc[1:] for v in (0x00, 0x02, 0x03, 0x05)]
    points = [r(rx, (ry + 1) % SAKKE_P), r(SAKKE_P, ry), r(rx, 2**1024 - 1),
              r((-rx) % SAKKE_P, ry), r(0, 0)]  # fmt: skip
    cases = [*prefixes, *points, bytes(len(enc) or 273), enc[:257] + bytes(16),
             enc[:257] + b"\xff" * 16]  # fmt: skip
    return cases[i]


def _offsets(hdr: mc.Hdr, payloads: Sequence[mc.Payload]) -> dict[str, int]:
    """Offset of each payload kind's first occurrence (its next-payload octet), and SIGN's."""
    out: dict[str, int] = {}
    at = len(hdr.encode(0))
    for p in payloads:
        out.setdefault(type(p).__name__, at)
        at += len(p.encode(0))
    out["SIGN"] = at
    return out


def _put16(data: bytes, at: int, v: int) -> bytes:
    return data[:at] + _i(v & 0xFFFF, 2) + data[at + 2 :]


def _e2_variant(cls: str, i: int, hdr: mc.Hdr, pl: Sequence[mc.Payload], ref: bytes) -> bytes:
    off = _offsets(hdr, pl)
    if cls == "lying_length":
        fields = [("Idr", 3), ("Sakke", 3), ("GeneralExt", 2), ("SP", 3)]
        if i < 4 * len(_FILL_LENGTHS):
            name, delta = fields[i // len(_FILL_LENGTHS)]
            if name not in off:  # no SP in the captured message: lie in the IDR instead
                name, delta = fields[0]
            at = off[name] + delta
            real = int.from_bytes(ref[at : at + 2], "big")
            lies = [0, 1, real - 1, real + 1, len(ref), 0xFFFE, 0xFFFF]
            v = lies[i % len(_FILL_LENGTHS)]
            if v == real:
                v = real + 2
            return _put16(ref, at, v)
        j = i - 4 * len(_FILL_LENGTHS)
        rand_at = off["Rand"] + 1
        if j < 2:
            return ref[:rand_at] + bytes([(0, 255)[j]]) + ref[rand_at + 1 :]
        return _put16(ref, off["SIGN"], (0x2FFF, 0x2000)[j - 2])
    if cls == "payload_loop":
        if i == 0:
            t_at = off["T"]
            return ref[:t_at] + bytes([mc.PT_T]) + ref[t_at + 1 :]
        idr = mc.Idr(mc.ROLE_IDRAPP, mc.ID_URI, b"x")
        return (
            hdr.encode(mc.PT_IDR)
            + idr.encode(mc.PT_IDR) * 40
            + _i((mc.S_TYPE_ECCSI << 12) | mc.SIGNATURE_LEN, 2)
            + bytes(mc.SIGNATURE_LEN)
        )
    if cls == "nested_payloads":
        ext = mc.GeneralExt(99, b"")
        head = hdr.encode(mc.PT_GENERAL_EXT)
        tail = ext.encode(mc.PT_SIGN) + _i((2 << 12) | 129, 2) + bytes(129)
        if i == 1:  # a chain that never reaches SIGN
            return head + ext.encode(mc.PT_GENERAL_EXT) * 10 + mc.T(1).encode(0)
        depth = min(NESTED_WANTED, (MAX_BODY - len(head) - len(tail)) // len(ext.encode(0)))
        return head + ext.encode(mc.PT_GENERAL_EXT) * depth + tail
    if cls == "oversize":
        if i == 0:
            return ref + bytes(max(0, MAX_BODY - len(ref)))
        if i == 1:
            return b"\xff" * MAX_BODY
        return (bytes(range(256)) * (MAX_BODY // 256 + 1))[:MAX_BODY]
    # unknown_type
    t_at = off["T"]
    return [
        ref[:2] + b"\x03" + ref[3:],
        ref[:2] + bytes([200]) + ref[3:],
        b"\x00" + ref[1:],
        b"\x02" + ref[1:],
        ref[:1] + b"\x00" + ref[2:],
        ref[:1] + b"\x1b" + ref[2:],
        ref[:1] + b"\xff" + ref[2:],
        ref[:9] + b"\x07" + ref[10:],
        ref[:8] + b"\xff\x00" + ref[10:],
        ref[: t_at + 1] + b"\x09" + ref[t_at + 2 :],
        _put16(ref, off["SIGN"], 0xF000 | mc.SIGNATURE_LEN),
    ][i]


# -- the third-party known answers (C6) -----------------------------------------------------------
#: environment variable naming the shared vectors directory
VECTORS_ENV: Final = "PROSE_MESH_VECTORS"


def vectors_dir() -> Path:
    """``$PROSE_MESH_VECTORS``, else ``../shared/vectors`` next to the repository."""
    env = os.environ.get(VECTORS_ENV)
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2].parent / "shared" / "vectors"


_I_MESSAGE = re.compile(r"I-MESSAGE\s*:\s*mikey\s+([A-Za-z0-9+/=]+)")


def load_third_party(vectors: Path) -> list[bytes]:
    """The third-party I_MESSAGEs of ``vectors/`` :data:`THIRD_PARTY_FILE` (base64 after
    ``mikey`` in its markdown). Raises :class:`ConfigError` when absent or unreadable."""
    path = vectors / THIRD_PARTY_FILE
    try:
        doc = json.loads(path.read_text())
        found = _I_MESSAGE.findall(doc["markdown"])
        out = [base64.b64decode(b64, validate=True) for b64 in found]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"third_party_kat: cannot read {path}: {exc}") from None
    if not out:
        raise ConfigError(f"third_party_kat: no I-MESSAGE found in {path}")
    return out
