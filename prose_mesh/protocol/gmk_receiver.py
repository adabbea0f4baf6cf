"""GMK distribution, receiving side: every UE's checks on a GMK I_MESSAGE (PROTOCOL.md §8.5).

The order is exactly PROTOCOL.md §8.5 / ADVERSARIAL.md §3, cheap → expensive, stopping at the
first failure with one named :class:`~prose_mesh.protocol.reasons.Reason`:

1. frame size; 2. header parse (strict codec); 3. version / data type 26 / PRF 1, GMK purpose
tag, CS-ID map (empty or GENERIC-ID, both accepted), NTP-UTC T, local SRTP policy (H4);
4. **IDRr is me** (my UID and KMS) → ``NOT_FOR_ME``; 5. **IDRi authorised** → the UID expected
for T's key period of a configured distributor of a group I am in (standard groups, via the
group bearer), or of the authenticated D2D link peer (ad-hoc/temporary groups, also
``may_create_adhoc``) → ``UNAUTHORISED_SIGNER``; 6. T within ±skew (R1); 7. replay cache keyed
on (IDRi, IDRr, CSB ID, RAND, T) — never the signature (R3) — and the known-bad cache;
8. per-source and global token buckets; 9. ECCSI verify; 10. SAKKE decapsulation incl. RFC 6508
§6.2.2 step 5; then GMK-ID = GUK-ID ⊕ UserSalt (33.180 F.1.3), the E.6 key parameters (decrypted
under the GMK), the group binding (the decrypted group ID must be one the signer is authorised
for), the key-ID space, the ad-hoc period bound and the GMK store rules (R8); 11. replay-cache
insert (R4); 12. install.

Steps 4 and 5 run before any crypto (ADVERSARIAL B4): a message for someone else or from an
unauthorised signer costs one SHA-256 per candidate group at most. Rejected inputs change no
state except the known-bad cache (a forgery is verified at most once per skew window) and the
rate limiter's counters; nothing is ever sent back (R9).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from prose_mesh.constants import KEY_PURPOSE_GMK, MIKEY_PORT
from prose_mesh.crypto.eccsi import eccsi_verify
from prose_mesh.crypto.identity import NTP_UNIX_OFFSET, key_period_number
from prose_mesh.crypto.kdf import gmk_id_from_guk_id, guk_id
from prose_mesh.crypto.kms import KeyMaterial
from prose_mesh.crypto.sakke import sakke_decapsulate
from prose_mesh.errors import ConfigError, CryptoError, ParseError, ProseMeshError
from prose_mesh.protocol.actions import Accepted, Action, Event, Rejected
from prose_mesh.protocol.gmk_policy import GmkStore
from prose_mesh.protocol.gmk_sender import GmkIssue, is_adhoc_gmk_id, member_uid
from prose_mesh.protocol.groups import GroupConfig, GroupDirectory
from prose_mesh.protocol.key_params import (
    KEY_TYPE_GMK,
    STATUS_NOT_REVOKED,
    KeyParameters,
    KeyParamsTagError,
    unprotect,
)
from prose_mesh.protocol.ratelimit import SourceLimiter
from prose_mesh.protocol.reasons import Reason
from prose_mesh.protocol.replay import (
    KnownBadCache,
    KnownBadKey,
    MikeyReplayCache,
    MikeyReplayKey,
    ntp_to_seconds,
)
from prose_mesh.wire import mikey_codec as mc
from prose_mesh.wire._common import BAD_HEADER
from prose_mesh.wire.ipudp import parse_udp6

MAX_PACKET: Final = 8192  # [EMU] an I_MESSAGE with a 64-member ad-hoc list is ~3 KB
MIN_I_MESSAGE: Final = 10 + 2 + mc.SIGNATURE_LEN
DEFAULT_MAX_ADHOC_PERIOD: Final = 4 * 3600.0  # [EMU] when the group sets no max_gmk_period
_DEFAULT_SP: Final = dict(mc.DEFAULT_SP_PARAMS)


@dataclass(frozen=True)
class GmkRecord:
    """An installed GMK of one group (the group-aware view of ``gmk_policy.GmkRecord``)."""

    group_id: str
    gmk_id: int
    guk_id: int  # this UE's GUK-ID: CSB ID of its own group-call SRTP (PROTOCOL.md §6.5)
    key: bytes = field(repr=False)
    rand: bytes  # RAND of the GMK I_MESSAGE, input to the SRTP key derivation
    activation: float
    expiry: float
    kind: str = "standard"
    distributor: str = ""
    revoking: bool = False


class _Reject(Exception):
    def __init__(self, reason: Reason, detail: str = "") -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def _sp_within_policy(sp: mc.SP) -> bool:
    """Local policy (H4): only SRTP, and every parameter equal to the E.2-1 default."""
    if sp.prot_type != 0:
        return False
    return all(_DEFAULT_SP.get(t) == v for t, v in sp.params)


class GmkMember:
    """Receives GMK I_MESSAGEs for one UE and keeps its GMKs per group."""

    def __init__(
        self,
        *,
        keys: KeyMaterial,
        directory: GroupDirectory,
        skew: float = 5.0,
        limiter: SourceLimiter | None = None,
        cache_capacity: int = 4096,
        may_create_adhoc: Callable[[str], bool] = lambda uri: True,
        grace: float = 0.0,
        switchover: float = 2.0,
        max_adhoc_period: float = DEFAULT_MAX_ADHOC_PERIOD,
    ) -> None:
        self.keys = keys
        self.directory = directory
        self.replay = MikeyReplayCache(skew=skew, capacity=cache_capacity)
        self.known_bad = KnownBadCache(skew=skew, capacity=cache_capacity)
        self.limiter = limiter if limiter is not None else SourceLimiter()
        self.may_create_adhoc = may_create_adhoc
        self.grace = grace
        self.switchover = switchover
        self.max_adhoc_period = max_adhoc_period
        self.skew = skew
        self._stores: dict[str, GmkStore] = {}
        self._records: dict[str, dict[int, GmkRecord]] = {}
        self._group_of: dict[int, str] = {}
        self._kms = keys.kms_uri.encode()
        #: Rejects by reason, accepted count, and crypto operations actually run.
        self.rejects: Counter[str] = Counter()
        self.accepted = 0
        self.crypto_ops: Counter[str] = Counter()

    # -- receive

    def on_i_message(
        self,
        data: bytes,
        *,
        src_l2id: int,
        via: str,
        now: float,
        link_peer_uri: str | None = None,
    ) -> list[Action]:
        """Process one GMK I_MESSAGE (or the IPv6/UDP packet carrying it on port 2269).

        ``via`` is ``"group"`` (one-to-many bearer) or ``"link"`` (a secured D2D link whose peer
        authenticated as ``link_peer_uri``). Returns one Accepted/Rejected verdict, plus an
        ``Event("gmk_installed")`` on success.
        """
        if via not in ("group", "link") or (via == "link" and not link_peer_uri):
            raise ConfigError("via must be 'group', or 'link' with the link peer's URI")
        try:
            return self._receive(bytes(data), src_l2id, via, now, link_peer_uri)
        except _Reject as rej:
            self.rejects[rej.reason] += 1
            return [Rejected("gmk", rej.reason, link_peer_uri, rej.detail)]

    def _receive(
        self, data: bytes, src_l2id: int, via: str, now: float, link_peer: str | None
    ) -> list[Action]:
        # 1-3: size, parse, fixed header fields and local policy
        msg = self._parse(data)
        hdr = msg.hdr
        uid_i, uid_r = msg.idr(mc.ROLE_UID_I), msg.idr(mc.ROLE_UID_R)
        # 4: IDRr is me
        if uid_r != self.keys.uid or msg.idr(mc.ROLE_IDRKMSR) != self._kms:
            raise _Reject(Reason.NOT_FOR_ME, "IDRr/IDRkmsr is not this UE")
        # 5: IDRi authorised (no crypto yet)
        if msg.idr(mc.ROLE_IDRKMSI) != self._kms:
            raise _Reject(Reason.UNAUTHORISED_SIGNER, "signer from another KMS community")
        t_unix = ntp_to_seconds(msg.t.value) - NTP_UNIX_OFFSET
        try:
            period_no = key_period_number(t_unix, self.keys.period, self.keys.offset)
        except ConfigError:
            raise _Reject(Reason.TS_OUT_OF_WINDOW, "T before the key period offset") from None
        signer, candidates, may_create = self._authorised(uid_i, period_no, via, link_peer)
        # 6-7: T window, replay cache, known-bad cache
        rkey = MikeyReplayKey(uid_i, uid_r, hdr.csb_id, msg.rand, msg.t.value)
        # the known-bad key adds a digest of the whole message to (IDRi, RAND, T): a forged
        # copy that arrives first must not get the genuine message dropped as KNOWN_BAD for the
        # skew window (a one-bit flip on the air would do it); an identical forgery repeated
        # still hits the cache and is never verified twice
        bad_key = KnownBadKey(uid_i, msg.rand + hashlib.sha256(msg.signed_part + msg.signature)
                              .digest(), msg.t.value)
        now_ntp = now + NTP_UNIX_OFFSET
        reason = self.replay.verdict(rkey, now_ntp) or self.known_bad.verdict(bad_key, now_ntp)
        if reason is not None:
            raise _Reject(reason)
        # 8: flood control (a link peer is authenticated by the link: priority pool)
        reason = self.limiter.verdict(src_l2id, now, verified=via == "link")
        if reason is not None:
            raise _Reject(reason)
        # 9-10: crypto, then everything that needs the GMK
        try:
            gmk, gmk_id, params = self._crypto(msg, uid_i)
            group = self._bind(params, signer, candidates, may_create, gmk_id)
        except _Reject:
            self.known_bad.add(bad_key, now_ntp)  # never spend crypto on this again
            raise
        store = self._stores.get(group.group_id) or self._new_store()
        reason = store.install_verdict(gmk_id, params.activation, params.expiry, now)
        if reason is None and self._group_of.get(gmk_id, group.group_id) != group.group_id:
            reason = Reason.POLICY  # keep by_gmk_id unambiguous across groups
        if reason is not None:
            raise _Reject(reason, f"GMK-ID {gmk_id:#010x}")
        # 11: remember the message only now (R4); a full cache means no install (R7)
        try:
            self.replay.insert(rkey, now_ntp)
        except ProseMeshError as exc:
            raise _Reject(Reason(exc.reason), "replay cache refused the insert") from None
        # 12: install
        rec = self._install(group, store, gmk, gmk_id, msg.rand, params, signer, now)
        self.accepted += 1
        info = {
            "group_id": group.group_id, "gmk_id": gmk_id, "guk_id": rec.guk_id,
            "kind": group.kind, "activation": rec.activation, "expiry": rec.expiry,
            "distributor": signer, "revoking": rec.revoking,
        }  # fmt: skip
        return [Accepted("gmk", signer, dict(info)), Event("gmk_installed", info)]

    def _new_store(self) -> GmkStore:
        # A revoking GMK may be sent under up to one MIKEY skew early (a lagging clock, D2/I1).
        return GmkStore(grace=self.grace, switchover=self.switchover, tolerance=self.skew)

    def _parse(self, data: bytes) -> mc.MikeyMessage:
        if not MIN_I_MESSAGE <= len(data) <= MAX_PACKET:
            raise _Reject(Reason.MALFORMED, f"{len(data)} octets")
        try:
            if data[0] >> 4 == 6:  # an IPv6/UDP packet rather than the bare I_MESSAGE
                dgram = parse_udp6(data)
                if dgram.dport != MIKEY_PORT:
                    raise _Reject(Reason.MALFORMED, f"UDP port {dgram.dport}")
                data = dgram.payload
            msg = mc.parse_i_message(data)
        except ParseError as exc:
            reason = Reason.BAD_HEADER if exc.reason == BAD_HEADER else Reason.MALFORMED
            raise _Reject(reason, exc.detail) from None
        hdr = msg.hdr
        if hdr.data_type != mc.DATA_TYPE_SAKKE or hdr.prf != mc.PRF_HMAC_SHA256 or hdr.v:
            raise _Reject(Reason.BAD_HEADER, "not a SAKKE I_MESSAGE with PRF-HMAC-SHA-256")
        if hdr.csb_id >> 28 != KEY_PURPOSE_GMK:
            raise _Reject(Reason.BAD_HEADER, "CSB ID lacks the GMK purpose tag")
        if hdr.map_type == mc.MAP_GENERIC_ID:
            entry = hdr.generic_map[0] if len(hdr.generic_map) == 1 else None
            if (
                entry is None
                or entry.cs_id != 4
                or entry.prot_type != 0
                or len(entry.spi) != 8
                or int.from_bytes(entry.spi[4:], "big") != hdr.csb_id
            ):
                raise _Reject(Reason.BAD_HEADER, "GENERIC-ID map is not CS-ID 4, GMK-ID‖GUK-ID")
        elif hdr.map_type != mc.MAP_EMPTY:
            raise _Reject(Reason.BAD_HEADER, f"CS ID map type {hdr.map_type}")
        if msg.t.ts_type != mc.TS_NTP_UTC:
            raise _Reject(Reason.BAD_HEADER, "T is not NTP-UTC")
        if msg.sakke.id_scheme != mc.SAKKE_ID_SCHEME_3GPP_UID:
            raise _Reject(Reason.BAD_HEADER, f"SAKKE ID scheme {msg.sakke.id_scheme}")
        for role in (mc.ROLE_UID_I, mc.ROLE_UID_R):
            uid = msg.idr(role)
            if uid is None or len(uid) != 32:
                raise _Reject(Reason.MALFORMED, f"IDR role {role} missing or not a UID")
        exts = [p for p in msg.payloads
                if isinstance(p, mc.GeneralExt) and p.type == mc.EXT_KEY_PARAMETERS]  # fmt: skip
        if len(exts) != 1:
            raise _Reject(Reason.MALFORMED, "need exactly one key-parameters extension")
        if msg.sp is not None and not _sp_within_policy(msg.sp):
            raise _Reject(Reason.POLICY, "SP weaker than / different from the default profile")
        return msg

    def _authorised(
        self, uid_i: bytes, period_no: int, via: str, link_peer: str | None
    ) -> tuple[str, dict[str, GroupConfig], bool]:
        """(signer URI, groups it may key for me, may it create a new group?) or reject."""
        k = self.keys
        me = k.uri
        if via == "link":
            assert link_peer is not None
            if member_uid(link_peer, k.kms_uri, k.period, k.offset, period_no) != uid_i:
                raise _Reject(Reason.UNAUTHORISED_SIGNER, "IDRi is not the link peer")
            may_create = bool(self.may_create_adhoc(link_peer))
            # standard groups it manages; ad-hoc/temporary ones only while it may create them
            groups = {g.group_id: g for g in self.directory
                      if g.distributor == link_peer and me in g.members
                      and (may_create or g.kind == "standard")}  # fmt: skip
            if not groups and not may_create:
                raise _Reject(Reason.UNAUTHORISED_SIGNER, f"{link_peer} may not create groups")
            return link_peer, groups, may_create
        signer: str | None = None
        groups = {}
        for g in self.directory:
            if g.kind != "standard" or me not in g.members:
                continue
            if member_uid(g.distributor, k.kms_uri, k.period, k.offset, period_no) == uid_i:
                signer = g.distributor
                groups[g.group_id] = g
        if signer is None:
            raise _Reject(Reason.UNAUTHORISED_SIGNER, "IDRi is no distributor of my groups")
        return signer, groups, False

    def _crypto(self, msg: mc.MikeyMessage, uid_i: bytes) -> tuple[bytes, int, KeyParameters]:
        k = self.keys
        self.crypto_ops["eccsi_verify"] += 1
        try:
            eccsi_verify(msg.signed_part, msg.signature, identity=uid_i, kpak=k.kpak)
        except CryptoError as exc:
            raise _Reject(Reason.BAD_SIG, exc.detail) from None
        self.crypto_ops["sakke_decapsulate"] += 1
        try:
            gmk = sakke_decapsulate(msg.sakke.data, identity=k.uid, rsk=k.rsk, z_pub=k.z_pub)
        except CryptoError as exc:
            raise _Reject(Reason.BAD_SAKKE, exc.detail) from None
        csb_id = msg.hdr.csb_id
        gmk_id = gmk_id_from_guk_id(gmk, csb_id, k.uri)
        spi = msg.spi
        if spi is not None and int.from_bytes(spi[:4], "big") != gmk_id:
            raise _Reject(Reason.MALFORMED, "SPI GMK-ID differs from GUK-ID ⊕ UserSalt")
        try:
            params = unprotect(msg.ext(mc.EXT_KEY_PARAMETERS).data, gmk=gmk, dppk_id=csb_id)
        except KeyParamsTagError as exc:
            raise _Reject(Reason.BAD_TAG, exc.detail) from None
        except ParseError as exc:
            raise _Reject(Reason.MALFORMED, f"key parameters: {exc.detail}") from None
        if params.key_type != KEY_TYPE_GMK or not params.status & STATUS_NOT_REVOKED:
            raise _Reject(Reason.POLICY, "key parameters: not a GMK, or revoked")
        return gmk, gmk_id, params

    def _bind(
        self,
        params: KeyParameters,
        signer: str,
        candidates: dict[str, GroupConfig],
        may_create: bool,
        gmk_id: int,
    ) -> GroupConfig:
        """The group this GMK is for, checked against what the signer may key."""
        known = self.directory.get(params.group_id)
        if params.kind == "standard":
            group = candidates.get(params.group_id)
            if group is None or group.kind != "standard":
                raise _Reject(Reason.UNAUTHORISED_SIGNER, f"{signer} does not manage the group")
            if is_adhoc_gmk_id(gmk_id):
                raise _Reject(Reason.POLICY, "ad-hoc key-ID space used for a standard group")
            return group
        if not is_adhoc_gmk_id(gmk_id):
            raise _Reject(Reason.POLICY, "standard key-ID space used for an ad-hoc group")
        if not may_create:
            raise _Reject(Reason.UNAUTHORISED_SIGNER, f"{signer} may not key ad-hoc groups")
        if known is not None:
            if known.kind != params.kind:
                raise _Reject(Reason.POLICY, f"{params.group_id} exists as a {known.kind} group")
            if params.group_id not in candidates:
                raise _Reject(Reason.UNAUTHORISED_SIGNER, f"{signer} did not create it")
        if self.keys.uri not in params.members:
            raise _Reject(Reason.POLICY, "this UE is not in the ad-hoc member list")
        limit = known.max_gmk_period if known and known.max_gmk_period else self.max_adhoc_period
        if params.expiry - params.activation > limit:
            raise _Reject(Reason.POLICY, f"ad-hoc GMK period exceeds {limit} s")
        return GroupConfig(
            params.group_id, params.kind, signer, frozenset(params.members),  # type: ignore[arg-type]
            l2_group_id=params.l2_group_id, max_gmk_period=limit,
            constituents=params.constituents,
        )  # fmt: skip

    def _install(
        self,
        group: GroupConfig,
        store: GmkStore,
        gmk: bytes,
        gmk_id: int,
        rand: bytes,
        params: KeyParameters,
        signer: str,
        now: float,
    ) -> GmkRecord:
        store.install(gmk_id, gmk, activation=params.activation, expiry=params.expiry,
                      now=now, revoking=params.revoking)  # fmt: skip
        gid = group.group_id
        self._stores[gid] = store
        if group.kind != "standard":
            self.directory.put(group)  # learn / update the ad-hoc or temporary group
        rec = GmkRecord(gid, gmk_id, guk_id(gmk, gmk_id, self.keys.uri), gmk, rand,
                        params.activation, params.expiry, group.kind, signer, params.revoking)
        self._records.setdefault(gid, {})[gmk_id] = rec
        self._group_of[gmk_id] = gid
        return rec

    # -- the creator's own copy

    def adopt(self, issue: GmkIssue, group: GroupConfig, *, now: float) -> list[Action]:
        """Install a GMK this UE issued itself (creator / group manager that is also a member).

        Idempotent: the GMK already installed under ``issue.gmk_id`` yields no actions (e.g. a
        GMS that is a member adding another member without a rekey)."""
        have = self._records.get(issue.group_id, {}).get(issue.gmk_id)
        if have is not None and have.key == issue.gmk:
            return []
        store = self._stores.get(issue.group_id) or self._new_store()
        params = KeyParameters(issue.activation, issue.expiry, issue.group_id, issue.kind,
                               tuple(issue.members), issue.revoking)
        rec = self._install(group.with_members(issue.members), store, issue.gmk, issue.gmk_id,
                            issue.rand, params, self.keys.uri, now)
        return [Event("gmk_installed", {"group_id": rec.group_id, "gmk_id": rec.gmk_id,
                                        "guk_id": rec.guk_id, "kind": rec.kind, "own": True})]

    # -- queries

    def current(self, group_id: str, now: float) -> GmkRecord | None:
        """The GMK new traffic uses now (:meth:`GmkStore.may_send`: the newest in [activation,
        expiry], never one older than a revoking GMK)."""
        store = self._stores.get(group_id)
        best = store.may_send(now) if store is not None else None
        return None if best is None else self._records[group_id][best.gmk_id]

    def by_gmk_id(self, gmk_id: int) -> tuple[str, GmkRecord] | None:
        """(group ID, record) of a live GMK, for call-key and media receivers."""
        gid = self._group_of.get(gmk_id)
        rec = self._records.get(gid, {}).get(gmk_id) if gid is not None else None
        return None if rec is None else (gid, rec)  # type: ignore[return-value]

    def receive_verdict(self, gmk_id: int, now: float) -> Reason | None:
        """May traffic under ``gmk_id`` be accepted now (lifetime + grace, revocation after the
        switchover)? The ``GmkSource`` hook the group-call machine uses per packet (D1, D2)."""
        gid = self._group_of.get(gmk_id)
        return Reason.UNKNOWN_KEY if gid is None else self._stores[gid].receive_verdict(gmk_id, now)

    def send_verdict(self, gmk_id: int, now: float) -> Reason | None:
        """May this UE send under ``gmk_id`` now? Never under a GMK older than a revoking one
        it installed, whatever its clock (:meth:`GmkStore.send_verdict`, D2)."""
        gid = self._group_of.get(gmk_id)
        return Reason.UNKNOWN_KEY if gid is None else self._stores[gid].send_verdict(gmk_id, now)

    def guk_id(self, group_id: str, now: float | None = None) -> int | None:
        """My GUK-ID under the current GMK (``now`` given) or the newest installed one."""
        if now is not None:
            rec = self.current(group_id, now)
            return None if rec is None else rec.guk_id
        recs = self._records.get(group_id)
        if not recs:
            return None
        return max(recs.values(), key=lambda r: r.activation).guk_id

    def store(self, group_id: str) -> GmkStore | None:
        """The group's :class:`GmkStore` (receive-side lifetime and revocation decisions)."""
        return self._stores.get(group_id)

    def purge(self, now: float) -> list[int]:
        """Forget GMKs past expiry + grace (their IDs stay refused, R8); returns the IDs."""
        dropped: list[int] = []
        for gid, store in self._stores.items():
            for gmk_id in store.purge(now):
                self._records[gid].pop(gmk_id, None)
                self._group_of.pop(gmk_id, None)
                dropped.append(gmk_id)
        return dropped

    def stats(self) -> dict[str, object]:
        """Counters for reports: verdicts, crypto operations, cache state."""
        return {"accepted": self.accepted, "rejects": dict(self.rejects),
                "crypto_ops": dict(self.crypto_ops), "replay": self.replay.stats(),
                "limiter": self.limiter.stats()}  # fmt: skip
