"""A small world for the crypto-input adversarial tests (ADVERSARIAL.md C2-C6, E1, E2, H3, H4, D5).

One KMS community, a GMS that manages one standard group, and members; GMK I_MESSAGEs are built
from the public pieces (wire codec, E.6 key parameters, SAKKE, ECCSI) so a test can re-sign a
mutated message with a *real* key (a compromised insider's) and feed it to the real receiver,
:class:`prose_mesh.protocol.gmk_receiver.GmkMember`. Used from tests/adversarial/test_[c-h]*.py
(``from vectors.imessage_kit import ...``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache

from prose_mesh.crypto.eccsi import eccsi_sign
from prose_mesh.crypto.identity import key_period_number
from prose_mesh.crypto.kdf import guk_id
from prose_mesh.crypto.kms import KeyMaterial, Kms
from prose_mesh.crypto.sakke import sakke_encapsulate
from prose_mesh.protocol.actions import Accepted, Rejected
from prose_mesh.protocol.gmk_receiver import GmkMember
from prose_mesh.protocol.groups import GroupConfig, GroupDirectory
from prose_mesh.protocol.key_params import KeyParameters, protect, quantize
from prose_mesh.protocol.ratelimit import SourceLimiter
from prose_mesh.wire import mikey_codec as mc

NOW = 1_780_000_000.0
KMS_URI = "kms.prose-mesh.example"
GMS = "sip:gms@prose-mesh.example"
GROUP_ID = "sip:fire@prose-mesh.example"
MEMBERS = ("alice", "bob", "carol")
GMK_ID = 0x0123_4567  # purpose tag 0 (GMK), standard key-ID space
DEFAULT_SP = mc.SP()  # the TS 33.180 Table E.2-1 profile


def uri(name: str) -> str:
    return GMS if name == "gms" else f"sip:{name}@prose-mesh.example"


@dataclass
class World:
    kms: Kms
    period_no: int
    keys: dict[str, KeyMaterial] = field(default_factory=dict)

    def km(self, name: str, period_no: int | None = None) -> KeyMaterial:
        pn = self.period_no if period_no is None else period_no
        key = f"{name}#{pn}"
        if key not in self.keys:
            self.keys[key] = self.kms.provision(uri(name), pn)
        return self.keys[key]

    @property
    def group(self) -> GroupConfig:
        return GroupConfig(GROUP_ID, "standard", GMS, frozenset(uri(m) for m in MEMBERS))

    def member(self, name: str = "alice", *, open_limits: bool = True) -> GmkMember:
        """A receiver; ``open_limits`` lifts the token buckets so a test of many crafted inputs
        measures the checks, not the flood control (which ADVERSARIAL F covers)."""
        limiter = (SourceLimiter(per_source_rate=1e9, per_source_burst=1e9, global_rate=1e9,
                                 global_burst=1e9) if open_limits else None)
        return GmkMember(keys=self.km(name), directory=GroupDirectory([self.group]),
                         limiter=limiter)


@cache
def world() -> World:
    kms = Kms.generate(KMS_URI)
    return World(kms, key_period_number(NOW, kms.period, kms.offset))


@cache
def other_world() -> World:
    """Another KMS community with the same URIs (ModifiedParameters cases)."""
    kms = Kms.generate(KMS_URI)
    return World(kms, key_period_number(NOW, kms.period, kms.offset))


def signer_of(km: KeyMaterial) -> Callable[[bytes], bytes]:
    return lambda tbs: eccsi_sign(tbs, identity=km.uid, ssk=km.ssk, pvt=km.pvt, kpak=km.kpak)


@dataclass
class Parts:
    """The pieces of one GMK I_MESSAGE, to be mutated and (re-)signed."""

    hdr: mc.Hdr
    payloads: list[mc.Payload]
    gmk: bytes
    recipient: KeyMaterial

    def tbs(self) -> bytes:
        return mc.bytes_to_sign(self.hdr, self.payloads)

    def sign(self, sign: Callable[[bytes], bytes]) -> bytes:
        return mc.sign_message(self.hdr, self.payloads, sign)

    def with_sakke(self, data: bytes) -> Parts:
        pl = [mc.Sakke(data) if isinstance(p, mc.Sakke) else p for p in self.payloads]
        return Parts(self.hdr, pl, self.gmk, self.recipient)

    def with_rand(self, rand: bytes) -> Parts:
        pl = [mc.Rand(rand) if isinstance(p, mc.Rand) else p for p in self.payloads]
        return Parts(self.hdr, pl, self.gmk, self.recipient)

    @property
    def sakke_data(self) -> bytes:
        return next(p.data for p in self.payloads if isinstance(p, mc.Sakke))


def parts(w: World, recipient: str = "alice", *, gmk: bytes | None = None, t: float = NOW,
          sp: mc.SP | None = DEFAULT_SP, hdr: mc.Hdr | None = None,
          initiator: KeyMaterial | None = None, sakke_data: bytes | None = None,
          key_params: KeyParameters | None = None) -> Parts:
    """An honest GMS → ``recipient`` GMK I_MESSAGE, unsigned."""
    r = w.km(recipient)
    s = initiator or w.km("gms")
    gmk = gmk or os.urandom(16)
    guk = guk_id(gmk, GMK_ID, r.uri)
    act = quantize(t)
    params = key_params or KeyParameters(act, act + 3600, GROUP_ID, "standard", ())
    payloads = mc.i_message_payloads(
        t_ntp=mc.ntp_from_unix(t), rand=os.urandom(16), initiator_uid=s.uid,
        responder_uid=r.uid, kms_uri_initiator=KMS_URI.encode(),
        kms_uri_responder=KMS_URI.encode(),
        sakke_data=sakke_data or sakke_encapsulate(gmk, identity=r.uid, z_pub=r.z_pub), sp=sp,
        extensions=(mc.GeneralExt(mc.EXT_KEY_PARAMETERS, protect(params, gmk=gmk, dppk_id=guk)),),
    )
    return Parts(hdr or mc.Hdr(guk, map_type=mc.MAP_EMPTY), payloads, gmk, r)


def feed(m: GmkMember, data: bytes, now: float = NOW) -> str:
    """Exactly one verdict per input; ``"ACCEPTED"`` or the reject reason."""
    out = m.on_i_message(data, src_l2id=0x999, via="group", now=now)
    verdicts = [a for a in out if isinstance(a, Accepted | Rejected)]
    assert len(verdicts) == 1, out
    v = verdicts[0]
    return "ACCEPTED" if isinstance(v, Accepted) else str(v.reason)
