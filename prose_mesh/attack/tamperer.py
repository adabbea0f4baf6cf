"""Tamperer (ADVERSARIAL.md §4 B2, E1, E2, H4): mutates captured frames and sends them again.

Options:

* ``capture`` — which frames to mutate (:mod:`.capture` kinds; default ``gmk_imessage``);
* ``mutations`` — cycled in order, one per variant:

  - ``bitflip`` — one random bit of the PDU body (on a ciphered group bearer, CTR mode flips
    the same plaintext bit: no key needed);
  - ``truncate`` — the frame cut short (the shim LEN then lies);
  - ``length_lie`` — the shim LEN field rewritten to another value;
  - ``sig_r`` / ``sig_s`` / ``sig_pvt`` — a GMK I_MESSAGE with fresh RAND and T (so neither the
    replay cache nor the known-bad cache short-cuts it, ADVERSARIAL.md §3) and a random
    mutation of the ECCSI signature's r, s or PVT;
  - ``idri_resign`` — IDRi set to ``idri``'s UID, the message (fresh RAND and T) signed with
    ``signer``'s own valid SSK: HS binds IDRi (RFC 6507 §5.2.1), so it cannot verify;

* ``crafted`` — instead of ``mutations``: classes of crafted GMK I_MESSAGEs (:mod:`.crafted`;
  C2, C4, C5, C6, E2, H4), each an enumerated list of variants sent one after the other (and
  again from the start); each is built from a captured I_MESSAGE the ``signer``'s PGK opens,
  with a fresh RAND and T, and re-ciphered on the group bearer. ``third_party_kat`` reads the
  shared vectors directory (``$PROSE_MESH_VECTORS``, default ``../shared/vectors``);
* ``resign`` — re-sign crafted messages with the ``signer``'s SSK (C4, C5, H4 "weak": the
  attacker holds the GMS key, so SIGN verifies and only the check under test can reject);
* ``variants`` — how many mutated frames to make in all (default: ``count``);
* ``idri`` — the UE whose identity the ``idri_resign`` forgeries claim (default: as captured);
* ``signer`` — the insider whose keys the attacker holds: its SSK/PVT sign ``idri_resign``
  forgeries and its PGKs open and re-cipher group-bearer I_MESSAGEs for the signature
  mutations (an outsider cannot; those variants then fall back to a ciphertext bit flip in the
  signature, which the UDP checksum catches first - counted ``keyless``).

Group-bearer forgeries are sent from a fresh random source Layer-2 ID each, under a PTK derived
for that source (the receivers' per-source buckets are no defence against a spoofer; the global
bucket is). Only captured I_MESSAGEs addressed (IDRr) to a target UE are used when targets are
given.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

from prose_mesh.attack import capture, crafted
from prose_mesh.attack.base import Heard, Role, random_l2id
from prose_mesh.attack.bearer import GroupKeys
from prose_mesh.crypto.eccsi import eccsi_sign
from prose_mesh.errors import ConfigError, ProseMeshError
from prose_mesh.node.machines import LCID_IP_GROUP
from prose_mesh.protocol.pdcp import O2mSender
from prose_mesh.scenario.schema import MUTATIONS as SCHEMA_MUTATIONS
from prose_mesh.wire import fast
from prose_mesh.wire import mikey_codec as mc
from prose_mesh.wire.ipudp import UdpDatagram, build_udp6

MUTATIONS = SCHEMA_MUTATIONS  # the scenario schema's list is the one definition
_SIG_FIELDS = {"sig_r": (0, 32), "sig_s": (32, 64), "sig_pvt": (64, 129)}
MAX_CAPTURES = 256
_HEAD = 14 + 11 + 5  # Ethernet + shim + PDCP header


class Tamperer(Role):
    ROLE = "tamperer"
    OPTIONS = frozenset({"capture", "mutations", "variants", "idri", "signer", "crafted", "resign"})

    def __init__(self, name: str, **kw: Any) -> None:
        super().__init__(name, **kw)
        self.capture_kind = str(self.options.get("capture", "gmk_imessage"))
        if self.capture_kind not in capture.KINDS:
            raise ConfigError(f"attacker {name}: capture must be one of {capture.KINDS}")
        self.mutations = tuple(self.options.get("mutations", ("bitflip",)))
        bad = set(self.mutations) - set(MUTATIONS)
        if bad or not self.mutations:
            raise ConfigError(f"attacker {name}: mutations must be among {MUTATIONS}")
        self.variants = int(self.options.get("variants", self.count))
        self.signer = self.options.get("signer")
        self.idri = self.options.get("idri")
        for who in (self.signer, self.idri):
            if who is not None and who not in self.world.prov:
                raise ConfigError(f"attacker {name}: {who!r} is not a UE of the scenario")
        if "idri_resign" in self.mutations and self.signer is None:
            raise ConfigError(f"attacker {name}: idri_resign needs a 'signer' whose keys it holds")
        self.crafted = tuple(self.options.get("crafted", ()))
        self.resign = bool(self.options.get("resign", False))
        self.crafter = crafted.Crafter(self.rng)
        self._crafted_counts: list[tuple[str, int]] = []
        self._crafted_order: list[tuple[str, int]] = []
        if self.crafted or self.resign:
            self._setup_crafted(name)
        self.captures: list[Heard] = []
        self._seen: set[str] = set()
        self.made = 0
        self._legit = set(self.world.l2ids.values())
        self._keys: GroupKeys | None = None  # the signer's group-bearer keys, built on first use

    def _setup_crafted(self, name: str) -> None:
        problems = crafted_problems(name, dict(self.options))
        if problems:
            raise ConfigError("; ".join(problems))
        if self.signer not in self.world.prov:
            raise ConfigError(f"attacker {name}: 'signer' {self.signer!r} is not a UE")
        if self.resign:
            k = self.world.prov[self.signer].keys
            self.crafter.sign = lambda tbs: eccsi_sign(
                tbs, identity=k.uid, ssk=k.ssk, pvt=k.pvt, kpak=k.kpak
            )
        if "third_party_kat" in self.crafted:
            self.crafter.third_party = crafted.load_third_party(crafted.vectors_dir())
        n_kat = len(self.crafter.third_party)
        self._crafted_counts = [(c, crafted.count(c, resign=self.resign, third_party=n_kat))
                                for c in self.crafted]  # fmt: skip
        keyed = [((j + 0.5) / k, c, j) for c, k in self._crafted_counts for j in range(k)]
        self._crafted_order = [(c, j) for _key, c, j in sorted(keyed)]

    # -- keys the attacker holds (the signer's, as an insider) ---------------------------------
    def _signer_pgks(self) -> Iterator[tuple[int, tuple[int, bytes]]]:
        """(group L2 ID, (PGK ID, PGK)) of every group bearer the signer was provisioned for."""
        if self.signer is None:
            return
        groups = {cfg.group_id: cfg for cfg in self.world.groups.values()}
        for gid, pgk in self.world.prov[self.signer].pgks:
            cfg = groups.get(gid)
            if cfg is not None:
                yield cfg.l2_group_id, pgk

    def _pgk_for(self, group_l2: int) -> tuple[int, bytes] | None:
        return next((pgk for l2, pgk in self._signer_pgks() if l2 == group_l2), None)

    def _target_uids(self) -> set[bytes]:
        return {self.world.prov[t].keys.uid for t in self.targets if t in self.world.prov}

    # -- capture --------------------------------------------------------------------------------
    def on_heard(self, h: Heard) -> None:
        if h.sha in self._seen or h.sha in self.sent or len(self.captures) >= MAX_CAPTURES:
            return
        groups = self.world.groups.values()
        kinds = capture.kinds_of(
            h.frame,
            monp_ports=frozenset(g.monp_port for g in groups),
            media_ports=frozenset(g.media_port for g in groups),
        )
        if self.capture_kind not in kinds:
            return
        self._seen.add(h.sha)
        if self.crafted:
            # crafted variants start from what a UE (the GMS) sent: the UEs' Layer-2 IDs are
            # public, and another attacker's forgeries would only compound its edits
            pdu = capture.parse(h.frame)
            if pdu is None or pdu.shim.src_l2id not in self._legit:
                self.counters["captures_not_from_ues"] += 1
                return
            if self._open(h.frame) is None:  # e.g. a shim-level tamperer's mangled copy
                self.counters["captures_unopened"] += 1
                return
        if self.targets and self.capture_kind == "gmk_imessage":
            opened = self._open(h.frame)
            if opened is not None and opened[2].idr(mc.ROLE_UID_R) not in self._target_uids():
                self.counters["captures_not_for_targets"] += 1
                return
        self.captures.append(h)
        self.counters["captured"] += 1

    def _open(self, frame: bytes) -> tuple[fast.Pc5Pdu, Any, mc.MikeyMessage] | None:
        """(PDU, UDP datagram, I_MESSAGE) of a group-bearer frame the held PGK opens."""
        if self._keys is None:
            self._keys = GroupKeys((l2, pgk_id, pgk)
                                   for l2, (pgk_id, pgk) in self._signer_pgks())
        opened = self._keys.open(frame)
        if opened is None:
            return None
        pdu, dgram = opened
        try:
            return pdu, dgram, mc.parse_i_message(dgram.payload)
        except ProseMeshError:
            return None

    # -- mutations --------------------------------------------------------------------------------
    def mutate(self, frame: bytes, mutation: str) -> bytes:
        """One mutated copy of ``frame`` (a captured Ethernet frame)."""
        rng = self.rng
        if mutation == "bitflip":
            buf = bytearray(frame)
            i = rng.randrange(min(_HEAD, len(buf) - 1), len(buf))
            buf[i] ^= 1 << rng.randrange(8)
            return bytes(buf)
        if mutation == "truncate":
            return frame[: rng.randrange(14 + 11, len(frame))]
        if mutation == "length_lie":
            buf = bytearray(frame)
            true_len = int.from_bytes(buf[14 + 9 : 14 + 11], "big")
            lie = rng.choice([0, 1, true_len - 1, true_len + 1, 0xFFFF, rng.randrange(0x10000)])
            if lie == true_len:
                lie = (true_len + 2) & 0xFFFF
            buf[14 + 9 : 14 + 11] = lie.to_bytes(2, "big")
            return bytes(buf)
        forged = self._forge(frame, mutation)
        if forged is not None:
            return forged
        self.counters["keyless"] += 1  # no key to open it: flip ciphertext in the signature
        buf = bytearray(frame)
        lo, hi = _SIG_FIELDS.get(mutation, (0, 129))
        i = len(buf) - 129 + rng.randrange(lo, hi)
        buf[i] ^= 1 << rng.randrange(8)
        return bytes(buf)

    def _forge(self, frame: bytes, mutation: str) -> bytes | None:
        opened = self._open(frame)
        if opened is None:
            return None
        pdu, dgram, msg = opened
        rng = self.rng
        payloads = []
        for p in msg.payloads:
            if isinstance(p, mc.T):
                p = dataclasses.replace(p, value=mc.ntp_from_unix(self.clock.now()))
            elif isinstance(p, mc.Rand):
                p = dataclasses.replace(p, rand=rng.randbytes(len(p.rand)))
            elif (
                isinstance(p, mc.Idr)
                and p.role == mc.ROLE_UID_I
                and mutation == "idri_resign"
                and self.idri is not None
            ):
                p = dataclasses.replace(p, id=self.world.prov[self.idri].keys.uid)
            payloads.append(p)
        if mutation == "idri_resign":
            assert self.signer is not None
            k = self.world.prov[self.signer].keys
            tbs = mc.bytes_to_sign(msg.hdr, payloads)
            sig = eccsi_sign(tbs, identity=k.uid, ssk=k.ssk, pvt=k.pvt, kpak=k.kpak)
        else:
            lo, hi = _SIG_FIELDS[mutation]
            sig_buf = bytearray(msg.signature)
            if rng.random() < 0.5:
                sig_buf[lo:hi] = rng.randbytes(hi - lo)
            else:
                sig_buf[rng.randrange(lo, hi)] ^= 1 << rng.randrange(8)
            sig = bytes(sig_buf)
        body = mc.encode_message(msg.hdr, payloads, sig, msg.s_type)
        return self._envelope(pdu, dgram, body)

    def _envelope(self, pdu: fast.Pc5Pdu, dgram: UdpDatagram, body: bytes) -> bytes:
        """``body`` (MIKEY octets) in the captured datagram's IPv6/UDP addressing, re-ciphered
        on the captured group bearer from a fresh random source Layer-2 ID."""
        rng = self.rng
        packet = build_udp6(dgram.src, dgram.dst, dgram.sport, dgram.dport, body)
        group_l2 = pdu.shim.dst_l2id
        src = random_l2id(rng, lambda v: v in self._legit)
        pgk = self._pgk_for(group_l2)
        tx = O2mSender(
            src_l2id=src,
            group_l2id=group_l2,
            pgk=pgk[1] if pgk else None,
            pgk_id=pgk[0] if pgk else 0,
            ptk_id=rng.randrange(1, 0x10000),
            sn=rng.randrange(0x8000),
        )
        out = tx.protect(LCID_IP_GROUP, packet)
        return self.eth(
            fast.build_sl_sch(
                lcid=LCID_IP_GROUP,
                src_l2id=src,
                dst_l2id=group_l2,
                cast=fast.CAST_ONE_TO_MANY,
                sdu_type=fast.SDU_IP,
                sdu=out.body,
                key_id=out.ptk_id,
                sn=out.sn,
                pgk_index=out.pgk_index,
            )
        )

    # -- crafted I_MESSAGEs (C2, C4, C5, C6, E2, H4; :mod:`.crafted`) ----------------------------
    def _variant(self, n: int) -> tuple[str, int]:
        """Class and index of the ``n``-th crafted variant (from the start again when all
        were sent). The classes are interleaved in proportion to their sizes, so every class
        shows early in a short run and costly variants (a SAKKE decapsulation) are spread
        out rather than bunched (a receiver working off a backlog would hit its flood
        control, PROTOCOL.md §8.5 step 8, which is not the check under test)."""
        return self._crafted_order[n % len(self._crafted_order)]

    def craft(self, frame: bytes, cls: str, i: int) -> bytes | None:
        """Variant ``i`` of ``cls`` built from a captured group-bearer I_MESSAGE, fresh RAND
        and T, re-ciphered; None when the held PGK does not open the capture."""
        opened = self._open(frame)
        if opened is None:
            self.counters["keyless"] += 1
            return None
        pdu, dgram, msg = opened
        body = self.crafter.build(cls, i, msg, mc.ntp_from_unix(self.clock.now()))
        if len(body) + 48 > fast.MAX_SDU:
            self.counters[f"too_big.{cls}"] += 1
            return None
        return self._envelope(pdu, dgram, body)

    def frames(self) -> Iterator[tuple[str, bytes]]:
        while self.made < self.variants and self.captures and self.crafted:
            h = self.captures[self.made % len(self.captures)]
            cls, i = self._variant(self.made)
            self.made += 1
            out = self.craft(h.frame, cls, i)
            if out is None:
                return  # counted; the injection loop idles, then asks again
            yield cls, out
        while self.made < self.variants and self.captures and not self.crafted:
            h = self.captures[self.made % len(self.captures)]
            mutation = self.mutations[self.made % len(self.mutations)]
            self.made += 1
            yield mutation, self.mutate(h.frame, mutation)

    def figures(self) -> dict[str, float]:
        return {"variants": float(self.made), "keyless": float(self.counters["keyless"])}


def crafted_problems(name: str, options: dict[str, Any]) -> list[str]:
    """Why a tamperer's ``crafted`` / ``resign`` options cannot run (empty: they can)."""
    out: list[str] = []
    classes = list(options.get("crafted", ()))
    where = f"attacker {name} (tamperer)"
    for cls in classes:
        if cls not in crafted.CLASSES:
            out.append(f"{where}: unknown crafted class {cls!r}")
        elif cls in crafted.NOT_IN_SCENARIOS:
            why = crafted.NOT_IN_SCENARIOS[cls]
            out.append(f"{where}: crafted class {cls!r} is refused: {why}")
    if options.get("resign") and not classes:
        out.append(f"{where}: 'resign' re-signs crafted messages: it needs 'crafted'")
    if classes and options.get("signer") is None:
        out.append(f"{where}: 'crafted' needs a 'signer' whose PGK opens the group bearer")
    if classes and "mutations" in options:
        out.append(f"{where}: use 'mutations' or 'crafted', not both (two attackers)")
    if options.get("capture", "gmk_imessage") != "gmk_imessage" and classes:
        out.append(f"{where}: 'crafted' works on captured GMK I_MESSAGEs (capture: gmk_imessage)")
    if "third_party_kat" in classes:
        try:
            crafted.load_third_party(crafted.vectors_dir())
        except ConfigError as exc:
            out.append(f"{where}: {exc} (set PROSE_MESH_VECTORS to the shared vectors directory)")
    return out
