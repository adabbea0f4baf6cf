"""Flooder (ADVERSARIAL.md §4 F2, J2; §2 bounds): frames at a set rate, bounded in count and time.

Options:

* ``kinds`` — any of ``junk`` (random octets after a PC5 EtherType: dropped at parse),
  ``discovery`` (29-octet PC5_DISCOVERY with a group-member announcement Message Type and
  random scrambled fields and MIC: dropped at the UTC-counter window or the MIC),
  ``imessage_bad_sign`` (group-bearer PDUs of I_MESSAGE size to the target groups: without the
  PGK they decipher to garbage) and ``dcr`` (unprotected PC5-S DIRECT_COMMUNICATION_REQUEST-
  typed PDUs to the target UEs); default ``[junk]``;
* ``rotate_l2_ids`` — a fresh random source Layer-2 ID per frame (defeats per-source limits;
  ADVERSARIAL.md §3 explains why receivers also keep a global bucket); default true;
* ``discovery_rate`` — when given with ``discovery`` in ``kinds``, discovery frames are a
  separate stream at this rate and ``rate`` paces the other kinds.

``count`` bounds all streams together; ``stop`` ends them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prose_mesh.attack.base import Role, random_l2id
from prose_mesh.errors import ConfigError
from prose_mesh.node.machines import LCID_IP_GROUP
from prose_mesh.scenario.schema import FLOOD_KINDS
from prose_mesh.wire import fast
from prose_mesh.wire.pc5s import DCR

KINDS = FLOOD_KINDS  # the scenario schema's list is the one definition
MT_GROUP_ANNOUNCEMENT = 0x99  # TS 24.334 §12.2.2.1: restricted, group member, Model A
IMESSAGE_BODY = 640


class Flooder(Role):
    ROLE = "flooder"
    OPTIONS = frozenset({"kinds", "rotate_l2_ids", "discovery_rate"})

    def __init__(self, name: str, **kw: Any) -> None:
        super().__init__(name, **kw)
        self.kinds = tuple(self.options.get("kinds", ("junk",)))
        bad = set(self.kinds) - set(KINDS)
        if bad or not self.kinds:
            raise ConfigError(f"attacker {name}: flood kinds must be among {KINDS}")
        self.rotate = bool(self.options.get("rotate_l2_ids", True))
        dr = self.options.get("discovery_rate")
        self.discovery_rate = float(dr) if dr is not None else None
        if self.discovery_rate is not None and self.discovery_rate <= 0:
            raise ConfigError(f"attacker {name}: discovery_rate must be > 0")
        self.own_l2 = random_l2id(self.rng)
        self._legit = set(self.world.l2ids.values())

    def _src(self) -> int:
        if not self.rotate:
            return self.own_l2
        return random_l2id(self.rng, lambda v: v in self._legit)

    def streams(self) -> list[tuple[float, Callable[[], Iterable[tuple[str, bytes]]]]]:
        if self.discovery_rate is not None and "discovery" in self.kinds:
            rest = tuple(k for k in self.kinds if k != "discovery")
            out: list[tuple[float, Callable[[], Iterable[tuple[str, bytes]]]]] = [
                (self.discovery_rate, lambda: self._gen(("discovery",)))
            ]
            if rest:
                out.append((self.rate, lambda: self._gen(rest)))
            return out
        return [(self.rate, lambda: self._gen(self.kinds))]

    def _groups(self) -> list[int]:
        targets = set(self.targets)
        return [
            cfg.l2_group_id
            for gid, cfg in self.world.groups.items()
            if not targets or targets & set(self.world.members.get(gid, ()))
        ]

    def make(self, kind: str) -> bytes | None:
        """One flood frame of ``kind`` (None when the kind has no target here)."""
        rng = self.rng
        if kind == "junk":
            return self.eth(rng.randbytes(rng.randrange(16, 400)))
        if kind == "discovery":
            msg = bytes([MT_GROUP_ANNOUNCEMENT]) + rng.randbytes(fast.DISCOVERY_LEN - 1)
            return self.eth(fast.build_sl_dch(self._src(), msg))
        if kind == "imessage_bad_sign":
            groups = self._groups()
            if not groups:
                return None
            return self.eth(
                fast.build_sl_sch(
                    lcid=LCID_IP_GROUP,
                    src_l2id=self._src(),
                    dst_l2id=rng.choice(groups),
                    cast=fast.CAST_ONE_TO_MANY,
                    sdu_type=fast.SDU_IP,
                    sdu=rng.randbytes(IMESSAGE_BODY),
                    key_id=rng.randrange(1, 0x10000),
                    sn=rng.randrange(0x10000),
                    pgk_index=rng.randrange(1, 32),
                )
            )
        peers = [self.world.l2ids[t] for t in self.targets if t in self.world.l2ids]
        if not peers:
            return None
        body = bytes([DCR]) + rng.randbytes(rng.randrange(40, 200))
        return self.eth(
            fast.build_sl_sch(
                lcid=fast.LCID_PC5S_PLAIN,
                src_l2id=self._src(),
                dst_l2id=rng.choice(peers),
                cast=fast.CAST_ONE_TO_ONE,
                sdu_type=fast.SDU_PC5S,
                sdu=body,
            )
        )

    def _gen(self, kinds: tuple[str, ...]) -> Iterator[tuple[str, bytes]]:
        while True:
            made = False
            for kind in kinds:
                frame = self.make(kind)
                if frame is not None:
                    made = True
                    yield kind, frame
            if not made:
                return
