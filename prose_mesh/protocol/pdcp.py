"""Sidelink PDCP security entities (TS 36.323 §5.6, §5.7, §6.2.10; TS 33.303 §6.2.3, §6.5).

Pure, sans-I/O objects: the node hands the PDCP fields of :mod:`prose_mesh.wire.fast` in and out.

**One-to-one** (:class:`O2oContext`, PROTOCOL.md §4.2–4.3): one security context per KD-sess.

* COUNT = KD-sess ID (16) ‖ PDCP SN (16); BEARER = LCID; DIRECTION [EMU]: the DCR sender 0,
  the responder 1. PEK/PIK come from KD-sess (33.303 A.4), 128-EEA2 / 128-EIA2.
* Protection by LCID and sender role [EMU, 36.523-1 §19.1.10]: LCID 28 none (KD-sess ID 0);
  LCID 29 from the responder (DSM COMMAND) integrity only, from the initiator (DSM COMPLETE)
  ciphered + integrity; LCID 30 ciphered + integrity; SLRB LCIDs 1–10 ciphered only (the PC5
  user plane has no integrity and the frame has no MAC-I field). The receiver derives the mode
  from the LCID and the peer's DIRECTION, so a frame cannot choose weaker protection.
* MAC-I (36.323 §5.7): 128-EIA2 over the 5-octet PDCP header ‖ plaintext SDU, then SDU ‖ MAC-I
  is ciphered (§5.6), as on Uu SRBs. The receiver therefore deciphers first (AES-CTR, stateless),
  then verifies MAC-I.
* Receive order (PROTOCOL.md §8.3): COUNT pre-check against the replay window (no update) →
  decipher → MAC-I → window update. A rejected PDU changes no state.
* SN wrap forces a rekey: :meth:`O2oContext.protect` refuses (``KEY_EXHAUSTED``) rather than
  reuse a COUNT; :attr:`O2oContext.rekey_due` turns true at :data:`REKEY_SN` so the link
  machine can rekey early.
* Ciphered-only SLRBs keep no replay window: without integrity a forged high SN would advance it
  and block real traffic (same argument as §8.3 for one-to-many).

**One-to-many** (:class:`O2mSender`, :class:`O2mReceiver`, §4.3): PEK from the PTK of
(sender L2 ID, PTK ID, L2 group ID) under a pre-provisioned PGK; COUNT = PTK ID ‖ SN,
DIRECTION 0, no integrity, no replay window (§8.3: group replay protection lives in SRTP/SRTCP
and MIKEY). With no PGK the bearer is unciphered and PGK index = PTK ID = SN = 0 [V Rel-14].
[EMU] a ciphering sender never uses PTK ID 0, so (PGK index, PTK ID) = (0, 0) always means
"unciphered"; it moves to the next PTK ID when the SN wraps and stops at 0xFFFF.
"""

from __future__ import annotations

import struct
from collections import OrderedDict
from dataclasses import dataclass
from typing import Final, NamedTuple

from prose_mesh.constants import EEA2, EIA2
from prose_mesh.crypto import pdcp_cipher
from prose_mesh.crypto.prose_keys import pek, pik, ptk
from prose_mesh.errors import ProseMeshError
from prose_mesh.protocol.reasons import Reason
from prose_mesh.protocol.replay import ReplayWindow
from prose_mesh.wire.fast import (
    LCID_PC5S_DSM,
    LCID_PC5S_PLAIN,
    LCID_PC5S_PROTECTED,
    SDU_PC5S,
)

__all__ = [
    "DIR_INITIATOR",
    "DIR_RESPONDER",
    "REKEY_SN",
    "O2mReceiver",
    "O2mSender",
    "O2oContext",
    "O2oPdu",
    "PdcpRejected",
    "o2o_mode",
]

SN_MODULUS: Final = 1 << 16
REKEY_SN: Final = 0xF000  # [EMU] ask for a rekey when a bearer's SN reaches this
DIR_INITIATOR: Final = 0  # [EMU] the DCR sender
DIR_RESPONDER: Final = 1
DEFAULT_WINDOW: Final = 128  # [EMU] one-to-one replay window (PDUs), ≥ 64 as RFC 3711
_HDR = struct.Struct(">BHH")

# Protection modes, the values of Delivered.protected / SendSignalling.protect.
NONE: Final = "none"
INTEGRITY: Final = "integrity"
FULL: Final = "full"
CIPHERED: Final = "ciphered"  # SLRB user plane: ciphered, no MAC-I field on the wire


class PdcpRejected(ProseMeshError):
    """A PDCP PDU failed a check (``reason`` is a :class:`Reason`); no state was changed."""

    reason = Reason.MALFORMED


class O2oPdu(NamedTuple):
    """What to put on the air: ``build_sl_sch(key_id=key_id, sn=sn, mac_i=mac_i)`` + body."""

    key_id: int
    sn: int
    body: bytes
    mac_i: int | None


def o2o_mode(lcid: int, sender_direction: int) -> str:
    """The protection a one-to-one PDU on ``lcid`` from a sender with that DIRECTION has."""
    if lcid == LCID_PC5S_PLAIN:
        return NONE
    if lcid == LCID_PC5S_DSM:
        return INTEGRITY if sender_direction == DIR_RESPONDER else FULL
    if lcid == LCID_PC5S_PROTECTED:
        return FULL
    if 1 <= lcid <= 10:
        return CIPHERED
    raise PdcpRejected(f"LCID {lcid} is not a one-to-one bearer", reason=Reason.BAD_HEADER)


def _header(sdu_type: int, key_id: int, sn: int) -> bytes:
    return _HDR.pack(sdu_type << 5, key_id, sn)


@dataclass
class _Bearer:
    tx_sn: int = 0
    window: ReplayWindow | None = None


class O2oContext:
    """One one-to-one PDCP security context (KD-sess) seen from one UE.

    ``direction`` is this UE's DIRECTION (0 if it sent the DCR); frames from the peer use the
    other value.
    """

    def __init__(
        self,
        *,
        kd_sess_id: int,
        kd_sess: bytes,
        direction: int,
        eea: int = EEA2,
        eia: int = EIA2,
        window: int = DEFAULT_WINDOW,
    ) -> None:
        if not 1 <= kd_sess_id <= 0xFFFF:
            raise PdcpRejected("KD-sess ID 0 means no context", reason=Reason.UNKNOWN_KEY)
        if direction not in (DIR_INITIATOR, DIR_RESPONDER):
            raise ValueError("DIRECTION is 0 or 1")
        self.kd_sess_id = kd_sess_id
        self.direction = direction
        self.peer_direction = 1 - direction
        self.eea = eea
        self.eia = eia
        self.pek = pek(kd_sess, eea)
        self.pik = pik(kd_sess, eia)
        self.window_size = window
        self._tx: dict[int, _Bearer] = {}
        self._rx: dict[int, ReplayWindow] = {}
        #: True once any bearer's SN reached :data:`REKEY_SN`.
        self.rekey_due = False

    # ------------------------------------------------------------------ send
    def protect(self, lcid: int, sdu_type: int, sdu: bytes) -> O2oPdu:
        """Protect one SDU for the peer with the mode of :func:`o2o_mode` for this UE."""
        mode = o2o_mode(lcid, self.direction)
        if mode == NONE:
            raise ValueError("LCID 28 is not protected; use KD-sess ID 0")
        bearer = self._tx.setdefault(lcid, _Bearer())
        sn = bearer.tx_sn
        if sn >= SN_MODULUS:
            raise PdcpRejected(f"PDCP SN wrapped on LCID {lcid}: rekey first",
                               reason=Reason.KEY_EXHAUSTED)
        count = (self.kd_sess_id << 16) | sn
        bearer.tx_sn = sn + 1
        if bearer.tx_sn >= REKEY_SN:
            self.rekey_due = True
        if mode == CIPHERED:
            body = pdcp_cipher.cipher(self.eea, self.pek, count, lcid, self.direction, sdu)
            return O2oPdu(self.kd_sess_id, sn, body, None)
        mac = pdcp_cipher.mac(self.eia, self.pik, count, lcid, self.direction,
                              _header(sdu_type, self.kd_sess_id, sn) + sdu)
        if mode == INTEGRITY:
            return O2oPdu(self.kd_sess_id, sn, bytes(sdu), int.from_bytes(mac, "big"))
        sealed = pdcp_cipher.cipher(self.eea, self.pek, count, lcid, self.direction, sdu + mac)
        return O2oPdu(self.kd_sess_id, sn, sealed[:-4], int.from_bytes(sealed[-4:], "big"))

    def next_sn(self, lcid: int) -> int:
        bearer = self._tx.get(lcid)
        return 0 if bearer is None else bearer.tx_sn

    # ------------------------------------------------------------------ receive
    def check(self, lcid: int, sn: int) -> Reason | None:
        """Cheap COUNT pre-check (no state change): replay window of an integrity bearer."""
        window = self._rx.get(lcid)
        return None if window is None else window.verdict(sn)

    def unprotect(
        self, lcid: int, sdu_type: int, sn: int, body: bytes, mac_i: int | None
    ) -> tuple[bytes, str]:
        """Verify/decipher a PDU from the peer; returns (SDU, mode) or raises PdcpRejected.

        Order: mode/MAC-I presence → replay pre-check → decipher → MAC-I → window update.
        """
        mode = o2o_mode(lcid, self.peer_direction)
        if mode == NONE:
            raise PdcpRejected("LCID 28 carries no context", reason=Reason.MALFORMED)
        if (mac_i is None) != (mode == CIPHERED):
            raise PdcpRejected("MAC-I presence does not match the bearer", reason=Reason.MALFORMED)
        if not 0 <= sn < SN_MODULUS:
            raise PdcpRejected("SN is 16 bits", reason=Reason.MALFORMED)
        count = (self.kd_sess_id << 16) | sn
        pd = self.peer_direction
        if mode == CIPHERED:
            return pdcp_cipher.cipher(self.eea, self.pek, count, lcid, pd, body), mode
        verdict = self.check(lcid, sn)
        if verdict is not None:
            raise PdcpRejected(f"SN {sn} on LCID {lcid}", reason=verdict)
        assert mac_i is not None
        if not 0 <= mac_i <= 0xFFFF_FFFF:
            raise PdcpRejected("MAC-I is 32 bits", reason=Reason.MALFORMED)
        mac_octets = mac_i.to_bytes(4, "big")
        if mode == FULL:
            sealed = bytes(body) + mac_octets
            plain = pdcp_cipher.cipher(self.eea, self.pek, count, lcid, pd, sealed)
            sdu, mac_octets = plain[:-4], plain[-4:]
        else:
            sdu = bytes(body)
        try:
            if self.eia == EIA2:
                pdcp_cipher.verify_eia2(self.pik, count, lcid, pd,
                                        _header(sdu_type, self.kd_sess_id, sn) + sdu, mac_octets)
            else:
                raise PdcpRejected(f"EIA{self.eia} refused", reason=Reason.POLICY)
        except pdcp_cipher.PdcpCryptoError as exc:
            raise PdcpRejected(str(exc), reason=exc.reason) from None
        window = self._rx.get(lcid)
        if window is None:
            window = self._rx[lcid] = ReplayWindow(self.window_size)
        window.update(sn)
        return sdu, mode

    def snapshot(self) -> tuple[object, ...]:
        """The whole mutable state, so tests can prove a rejected PDU changed nothing."""
        return (
            tuple(sorted((k, b.tx_sn) for k, b in self._tx.items())),
            tuple(sorted((k, w.snapshot()) for k, w in self._rx.items())),
            self.rekey_due,
        )


# ============================================================================ one-to-many
class O2mPdu(NamedTuple):
    """``build_sl_sch(cast=1, pgk_index=..., key_id=ptk_id, sn=...)`` + body."""

    pgk_index: int
    ptk_id: int
    sn: int
    body: bytes


class O2mSender:
    """The sending PDCP entity of one UE on one group bearer (33.303 §6.2.3).

    ``pgk`` None → unciphered bearer (PGK index = PTK ID = SN = 0). ``ptk_id``/``sn`` let a
    restarted UE continue where it stopped (PROTOCOL.md §5 [EMU]: persist them or change L2 ID).
    """

    def __init__(
        self,
        *,
        src_l2id: int,
        group_l2id: int,
        pgk: bytes | None = None,
        pgk_id: int = 0,
        ptk_id: int = 1,
        sn: int = 0,
        eea: int = EEA2,
    ) -> None:
        self.src_l2id = src_l2id
        self.group_l2id = group_l2id
        self.pgk = pgk
        self.pgk_index = pgk_id & 0x1F
        if pgk is not None and not 1 <= ptk_id <= 0xFFFF:
            raise ValueError("a ciphering sender uses PTK IDs 1..0xFFFF [EMU]")
        self.ptk_id = ptk_id if pgk is not None else 0
        self.sn = sn
        self.eea = eea
        self._pek: bytes | None = None

    def _current_pek(self) -> bytes:
        if self._pek is None:
            assert self.pgk is not None
            key = ptk(self.pgk, sender_l2id=self.src_l2id, ptk_id=self.ptk_id,
                      group_l2id=self.group_l2id)
            self._pek = pek(key, self.eea)
        return self._pek

    def protect(self, lcid: int, sdu: bytes) -> O2mPdu:
        """Cipher one SDU (or pass it through on an unciphered bearer)."""
        if self.pgk is None:
            return O2mPdu(0, 0, 0, bytes(sdu))
        if self.sn >= SN_MODULUS:  # SN wrapped: next PTK ID, fresh PTK/PEK (key-stream unique)
            if self.ptk_id >= 0xFFFF:
                raise PdcpRejected("PTK ID space exhausted: new PGK needed",
                                   reason=Reason.KEY_EXHAUSTED)
            self.ptk_id += 1
            self.sn = 0
            self._pek = None
        sn = self.sn
        self.sn += 1
        count = (self.ptk_id << 16) | sn
        body = pdcp_cipher.cipher(self.eea, self._current_pek(), count, lcid, 0, sdu)
        return O2mPdu(self.pgk_index, self.ptk_id, sn, body)


class O2mReceiver:
    """Receiving side of one group bearer: PTKs per (sender, PTK ID, group) in a bounded LRU.

    ``pgks`` maps PGK index (5 LSBs of the PGK ID) → PGK. Eviction from the cache is safe (it
    only costs a re-derivation). No integrity and no replay window (PROTOCOL.md §8.3).
    """

    def __init__(
        self,
        *,
        group_l2id: int,
        pgks: dict[int, bytes] | None = None,
        allow_unciphered: bool = False,
        cache_size: int = 256,
        eea: int = EEA2,
    ) -> None:
        self.group_l2id = group_l2id
        self.pgks = dict(pgks or {})
        self.allow_unciphered = allow_unciphered
        self.cache_size = cache_size
        self.eea = eea
        self._cache: OrderedDict[tuple[int, int, int], bytes] = OrderedDict()
        self.derived = 0

    def _pek(self, src_l2id: int, pgk_index: int, ptk_id: int) -> bytes:
        key = (src_l2id, pgk_index, ptk_id)
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return hit
        pgk = self.pgks.get(pgk_index)
        if pgk is None:
            raise PdcpRejected(f"no PGK with index {pgk_index}", reason=Reason.UNKNOWN_KEY)
        value = pek(ptk(pgk, sender_l2id=src_l2id, ptk_id=ptk_id, group_l2id=self.group_l2id),
                    self.eea)
        self.derived += 1
        self._cache[key] = value
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return value

    def unprotect(
        self, src_l2id: int, lcid: int, pgk_index: int, ptk_id: int, sn: int, body: bytes
    ) -> bytes:
        """Decipher a group PDU. A spoofed source L2 ID selects another PTK: garbage out."""
        if pgk_index == 0 and ptk_id == 0:
            if sn != 0:
                raise PdcpRejected("unciphered PDU with SN != 0", reason=Reason.MALFORMED)
            if not self.allow_unciphered:
                raise PdcpRejected("unciphered group PDU refused", reason=Reason.POLICY)
            return bytes(body)
        if ptk_id == 0:
            raise PdcpRejected("PTK ID 0 is never used for ciphering [EMU]",
                               reason=Reason.MALFORMED)
        count = (ptk_id << 16) | sn
        return pdcp_cipher.cipher(self.eea, self._pek(src_l2id, pgk_index, ptk_id), count,
                                  lcid, 0, body)


def default_sdu_type(lcid: int) -> int:
    """SDU type implied by the LCID when the caller does not give it (PC5-S LCIDs → 2, else IP)."""
    return SDU_PC5S if lcid in (LCID_PC5S_PLAIN, LCID_PC5S_DSM, LCID_PC5S_PROTECTED) else 0
