"""Spoofer (ADVERSARIAL.md §4 B1): transmits with another UE's Layer-2 ID.

The sidelink Layer-2 ID is unauthenticated (PROTOCOL.md §4.1): anyone can put any source in the
shim. The spoofer takes the Layer-2 ID of ``as`` (a UE name) and sends, at ``rate``:

* ``media`` (default) — group-bearer PDUs to each target group's Layer-2 group ID that look like
  the victim's voice stream: its current PGK index and PTK ID, the next SNs, a body of voice
  size. Without the PGK the body is random: receivers derive the victim's PTK and decipher
  garbage, which never parses as the group's IPv6/UDP/SRTP. On an unciphered bearer (ad-hoc
  groups without a PGK) it copies the victim's last SRTP header (SSRC, MKI, a later sequence
  number) over random ciphertext: SRTP authentication rejects it;
* ``signalling`` — unprotected PC5-S (LCID 28) PDUs to each target UE;
* ``discovery`` — 29-octet PC5_DISCOVERY messages (random MIC and counter);
* ``imessage`` — group-bearer PDUs of I_MESSAGE size to the target groups.

Targets are UE names; the groups attacked are those the targets are members of.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from prose_mesh.attack.base import Heard, Role
from prose_mesh.errors import ConfigError, ProseMeshError
from prose_mesh.node.machines import LCID_IP_GROUP
from prose_mesh.scenario.schema import SPOOF_PAYLOADS
from prose_mesh.wire import fast
from prose_mesh.wire.ipudp import UdpDatagram, build_udp6, parse_udp6

PAYLOADS = SPOOF_PAYLOADS  # the scenario schema's list is the one definition
MEDIA_BODY = 236  # IPv6 40 + UDP 8 + RTP 12 + 160 voice octets + 16-octet SRTP tag
IMESSAGE_BODY = 640


class Spoofer(Role):
    ROLE = "spoofer"
    OPTIONS = frozenset({"as", "payload"})

    def __init__(self, name: str, **kw: Any) -> None:
        super().__init__(name, **kw)
        self.victim = self.options.get("as")
        self.payload = str(self.options.get("payload", "media"))
        if self.payload not in PAYLOADS:
            raise ConfigError(f"attacker {name}: payload must be one of {PAYLOADS}")
        if self.victim is None or self.victim not in self.world.l2ids:
            raise ConfigError(f"attacker {name}: 'as' must name a UE of the scenario")
        self.src = self.world.l2ids[self.victim]
        # group L2 ID -> (pgk index, PTK ID, next SN) last heard from the victim
        self.stream: dict[int, tuple[int, int, int]] = {}
        # group L2 ID -> the victim's last media datagram, when its bearer is unciphered
        self.clear: dict[int, UdpDatagram] = {}

    def group_l2ids(self) -> list[int]:
        out = []
        targets = set(self.targets)
        for gid, cfg in self.world.groups.items():
            if targets & set(self.world.members.get(gid, ())) or not targets:
                out.append(cfg.l2_group_id)
        return out

    def on_heard(self, h: Heard) -> None:
        if h.sha in self.sent:
            return
        try:
            _mac, pdu = fast.parse_frame(h.frame)
        except ProseMeshError:  # junk on the air: nothing to learn
            return
        pdcp = pdu.pdcp
        if (
            pdu.shim.src_l2id == self.src
            and isinstance(pdcp, fast.PdcpO2M)
            and pdu.shim.cast == fast.CAST_ONE_TO_MANY
        ):
            self.stream[pdu.shim.dst_l2id] = (pdcp.pgk_index, pdcp.ptk_id, pdcp.sn + 1)
            if pdcp.pgk_index == 0 and pdcp.ptk_id == 0 and len(pdu.body) >= MEDIA_BODY - 16:
                with contextlib.suppress(ProseMeshError):
                    self.clear[pdu.shim.dst_l2id] = parse_udp6(pdu.body)

    def _group_pdu(self, group_l2: int, size: int) -> bytes:
        last = self.clear.get(group_l2)
        if last is not None and size == MEDIA_BODY:
            # Unciphered bearer: the victim's own SRTP header (SSRC, a later sequence number)
            # over random ciphertext and tag - it reaches SRTP, whose authentication rejects it.
            rtp = bytearray(last.payload[:12])
            seq = (int.from_bytes(rtp[2:4], "big") + self.rng.randrange(1, 32)) & 0xFFFF
            rtp[2:4] = seq.to_bytes(2, "big")
            body = bytes(rtp) + self.rng.randbytes(len(last.payload) - 12)
            packet = build_udp6(last.src, last.dst, last.sport, last.dport, body)
            return fast.build_sl_sch(
                lcid=LCID_IP_GROUP,
                src_l2id=self.src,
                dst_l2id=group_l2,
                cast=fast.CAST_ONE_TO_MANY,
                sdu_type=fast.SDU_IP,
                sdu=packet,
            )
        pgk_index, ptk_id, sn = self.stream.get(group_l2, (1, 1, 0))
        self.stream[group_l2] = (pgk_index, ptk_id, (sn + 1) & 0xFFFF)
        return fast.build_sl_sch(
            lcid=LCID_IP_GROUP,
            src_l2id=self.src,
            dst_l2id=group_l2,
            cast=fast.CAST_ONE_TO_MANY,
            sdu_type=fast.SDU_IP,
            sdu=self.rng.randbytes(size),
            key_id=ptk_id or 1,
            sn=sn,
            pgk_index=pgk_index,
        )

    def frames(self) -> Iterator[tuple[str, bytes]]:
        while True:
            if self.payload in ("media", "imessage"):
                size = MEDIA_BODY if self.payload == "media" else IMESSAGE_BODY
                groups = self.group_l2ids()
                if not groups:
                    return
                for g in groups:
                    yield self.payload, self.eth(self._group_pdu(g, size))
            elif self.payload == "signalling":
                peers = [self.world.l2ids[t] for t in self.targets if t in self.world.l2ids]
                if not peers:
                    return
                for peer in peers:
                    body = self.rng.randbytes(self.rng.randrange(8, 120))
                    yield (
                        "signalling",
                        self.eth(
                            fast.build_sl_sch(
                                lcid=fast.LCID_PC5S_PLAIN,
                                src_l2id=self.src,
                                dst_l2id=peer,
                                cast=fast.CAST_ONE_TO_ONE,
                                sdu_type=fast.SDU_PC5S,
                                sdu=body,
                            )
                        ),
                    )
            else:
                yield (
                    "discovery",
                    self.eth(fast.build_sl_dch(self.src, self.rng.randbytes(fast.DISCOVERY_LEN))),
                )
