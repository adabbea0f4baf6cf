"""Eavesdropper (ADVERSARIAL.md §1, G3, H3, D5): records everything it hears, tries every key
it holds.

An outsider holds no group or link key, so what it can "decrypt" is what travels in clear.
It looks for the run's media canary (``World.canary``, or the ``canary`` option as text) in
every frame heard and counts hits (``canary_hits``, must stay 0: media is never on the air in
clear), and keeps per-kind counts of what it heard (traffic analysis, :mod:`.capture`).
It never transmits.

Two instruments ride on it (options), each handed its keys by the harness
(:mod:`prose_mesh.scenario.attacks`), never by guessing:

* ``nonce_monitor`` (H3, RFC 6507 §5.2.1) — every GMK I_MESSAGE it can read (in clear, or on a
  group bearer whose PGK it was handed: :meth:`Eavesdropper.hold_group_keys`) goes through
  :class:`~prose_mesh.attack.nonce_monitor.NonceMonitor` with the community's public KPAK.
  Figures ``signatures`` (distinct signed messages; ``signatures_heard`` counts copies too),
  ``nonce_repeats`` (a repeated r for a signer over a different message: must be 0),
  ``nonce_recovered`` (SSKs recovered from repeats), ``nonce_replays`` (the same signed
  message heard again: not a reuse).
* ``escrow`` (D5, RFC 6508 §6.1.1) — given the KMS master secret z
  (:meth:`Eavesdropper.hold_master_secret`) and the bearer's PGKs, every GMK I_MESSAGE heard is
  decapsulated with :func:`~prose_mesh.attack.escrow.decrypt_recorded`. Figure
  ``gmks_decrypted`` (distinct GMK distributions opened; a documented limitation, not a pass),
  ``escrow_failed`` (heard but not opened).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prose_mesh.attack import capture
from prose_mesh.attack.base import Heard, Role
from prose_mesh.attack.bearer import GroupKeys
from prose_mesh.attack.escrow import decrypt_recorded
from prose_mesh.attack.nonce_monitor import NonceMonitor
from prose_mesh.constants import MIKEY_PORT
from prose_mesh.errors import ProseMeshError


class Eavesdropper(Role):
    ROLE = "eavesdropper"
    OPTIONS = frozenset({"canary", "nonce_monitor", "escrow"})

    def __init__(self, name: str, **kw: Any) -> None:
        super().__init__(name, **kw)
        text = self.options.get("canary")
        self.canaries = [c for c in (self.world.canary, text.encode() if text else b"") if c]
        self.keys = GroupKeys()
        self._pending: dict[str, list[tuple[int, bytes]]] = {}
        self.monitor: NonceMonitor | None = None
        if self.options.get("nonce_monitor"):
            kpak = next((p.keys.kpak for p in self.world.prov.values()), None)
            self.monitor = NonceMonitor(kpak=kpak)
        self.escrow = bool(self.options.get("escrow"))
        self._z: tuple[bytes, bytes] | None = None
        self.escrowed: dict[tuple[bytes, bytes], bytes] = {}  # (IDRr, RAND) -> key

    # -- what the harness hands it -------------------------------------------------------------
    def hold_group_keys(self, pgks: Iterable[tuple[str, int, bytes]]) -> None:
        """PGKs (MCPTT group ID, PGK ID, PGK) of the group bearers it may open (an instrument,
        or an insider member's). A group's Layer-2 ID is known once the group exists (the
        run's groups are created by the timeline), so the keys are placed when first needed."""
        for group_id, pgk_id, pgk in pgks:
            self._pending.setdefault(group_id, []).append((pgk_id, pgk))

    def _place_keys(self) -> None:
        for cfg in self.world.groups.values():
            for pgk_id, pgk in self._pending.pop(cfg.group_id, ()):
                self.keys.add(cfg.l2_group_id, pgk_id, pgk)

    def hold_master_secret(self, z: bytes, z_pub: bytes) -> None:
        """The KMS master secret z and public Z (D5: the escrow holder)."""
        self._z = (z, z_pub)

    # -------------------------------------------------------------------------------------------
    def streams(self) -> list[Any]:
        return []  # it never transmits: no injection loop at all

    def on_heard(self, h: Heard) -> None:
        groups = self.world.groups.values()
        kinds = capture.kinds_of(
            h.frame,
            monp_ports=frozenset(g.monp_port for g in groups),
            media_ports=frozenset(g.media_port for g in groups),
        )
        for kind in kinds:
            self.counters[f"heard.{kind}"] += 1
        if any(c in h.frame for c in self.canaries):
            self.counters["canary_hits"] += 1
        if (self.monitor is not None or self.escrow) and "gmk_imessage" in kinds:
            self._mikey(h.frame)

    def _mikey(self, frame: bytes) -> None:
        if self._pending:
            self._place_keys()
        opened = self.keys.open(frame)
        if opened is None or opened[1].dport != MIKEY_PORT:
            self.counters["mikey_unopened"] += 1
            return
        data = opened[1].payload
        self.counters["mikey_read"] += 1
        if self.monitor is not None:
            self.monitor.observe_i_message(data)
        if self.escrow:
            if self._z is None:
                self.counters["escrow_failed"] += 1
                return
            try:
                got = decrypt_recorded(data, z=self._z[0], z_pub=self._z[1])
            except ProseMeshError:
                self.counters["escrow_failed"] += 1
                return
            self.escrowed[(got.recipient_uid, got.rand)] = got.key

    def figures(self) -> dict[str, float]:
        out = {"canary_hits": float(self.counters["canary_hits"])}
        if self.monitor is not None:
            c = self.monitor.counts
            out.update(
                signatures=float(c["signatures"] - c["replays"]),
                signatures_heard=float(c["signatures"]),
                nonce_repeats=float(c["repeats"]),
                nonce_recovered=float(c["recovered"]),
                nonce_replays=float(c["replays"]),
                nonce_signers=float(self.monitor.signers),
            )
        if self.escrow:
            out["gmks_decrypted"] = float(len(self.escrowed))
            out["escrow_failed"] = float(self.counters["escrow_failed"])
        return out
