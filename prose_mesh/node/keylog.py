"""The run's key log (``keys.jsonl``, like SSLKEYLOGFILE): the keys UEs installed, for
``prose-mesh decrypt`` (:mod:`prose_mesh.scenario.decrypt`).

Why a separate file: the air capture must stay what an eavesdropper sees (no key is ever
written into it), while a run's owner still wants to read the plaintext MIKEY, PC5 signalling
and media in Wireshark. The runner sets every UE's ``on_event`` to :meth:`KeyLog.on_event`; on
the domain events that install a key the log reads the key from the UE's machines and appends
one JSON line per key (sorted keys, hex octets, Layer-2 IDs as integers):

* ``pc5_link`` (``link_up``, ``link_rekeyed``; TS 33.303 §6.5, PROTOCOL.md §4.3/§5): the UE's
  ``l2id``, ``peer_l2id``, ``kd_sess_id``, the UE's ``direction`` (0 = DCR sender), ``eea``,
  ``eia``, ``pek``, ``pik``. Frames from the peer use DIRECTION ``1 - direction``.
* ``pdcp_group`` (the first event of a UE, and whenever a new PGK appears; TS 33.303 §6.2.3):
  ``group_id``, ``l2_group_id``, ``pgk_id``, ``pgk_index`` (5 LSBs), ``pgk``, ``eea``. A
  decrypting party derives PTK = KDF(PGK, sender L2 ID, PTK ID, group L2 ID) → PEK per frame.
* ``gmk`` (``gmk_installed``; TS 33.180 §7.3, F.1.3): ``group_id``, ``gmk_id``, ``gmk``,
  ``rand`` (of the GMK I_MESSAGE), ``guk_id`` and its input ``uri`` (MC service user ID).
* ``group_call`` (``call_joined``, ``call_rekeyed``; TS 33.180 §7.4 [EMU] call key):
  ``group_id``, ``call_id``, ``gmk_id``, ``call_key`` (the TGK), ``rand``, ``profile``,
  ``media_port``. Each sender's SRTP master key/salt is derived from it with CS-ID 4 and
  CSB ID = the sender's GUK-ID, which the packet's MKI (GMK-ID ‖ GUK-ID) carries.
* ``srtp`` (with each ``group_call``): the UE's own sender ``mki``, ``master_key`` and
  ``master_salt`` (SRTP and, off-network, SRTCP: 33.180 §7.4.1).

Every line also has ``type``, ``ue`` and ``t`` (Trio time). Identical keys are written once per
UE. There are no PCK (private call) lines: off-network private calls are not emulated; the KD of
a link (SAKKE SSV of the DCR's PCK-format I_MESSAGE) is not needed to open frames and is not
logged. Lines are written as they come (a crashed run keeps what it had) and flushed by
:meth:`KeyLog.close`, which also leaves an empty file for a run that installed no key.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from prose_mesh.constants import EEA2
from prose_mesh.crypto.srtp import group_mki
from prose_mesh.protocol.call_key import sender_master

if TYPE_CHECKING:
    from prose_mesh.node.ue import Ue
    from prose_mesh.protocol.actions import Event

KEYLOG_NAME = "keys.jsonl"
KEYLOG_VERSION = 1

_PER_PACKET = frozenset({"media", "srtp_tx"})  # one per packet received / sent: no key
_LINK_EVENTS = frozenset({"link_up", "link_rekeyed"})
_CALL_EVENTS = frozenset({"call_joined", "call_rekeyed"})


class KeyLog:
    """Appends one JSON line per key a UE installs. ``on_event`` is the UE's ``on_event``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: IO[str] | None = None
        self._seen: set[tuple[Any, ...]] = set()
        #: lines written, by ``type`` (for tests and the run summary)
        self.counts: dict[str, int] = {}

    # -- input -------------------------------------------------------------------------------
    def on_event(self, ue: Ue, t: float, event: Event) -> None:
        """Called for every domain event of every UE (keys are read from the UE's machines).

        Per-packet events (``media`` received, ``srtp_tx`` sent) return at once: they install
        nothing and come by the thousand."""
        name = event.name
        if name in _PER_PACKET:
            return
        self._group_bearers(ue, t)
        data = event.data
        if name in _LINK_EVENTS:
            self._link(ue, t, int(data["peer_l2id"]))
        elif name == "gmk_installed":
            self._gmk(ue, t, int(data["gmk_id"]))
        elif name in _CALL_EVENTS:
            self._call(ue, t, str(data["group"]))

    def _link(self, ue: Ue, t: float, peer_l2id: int) -> None:
        ctx = ue.links.security_context(peer_l2id)
        if ctx is None:
            return
        self._write(ue, t, "pc5_link", {
            "l2id": ue.l2id, "peer_l2id": peer_l2id, "kd_sess_id": ctx.kd_sess_id,
            "direction": ctx.direction, "eea": ctx.eea, "eia": ctx.eia,
            "pek": ctx.pek.hex(), "pik": ctx.pik.hex(),
        })  # fmt: skip

    def _group_bearers(self, ue: Ue, t: float) -> None:
        """PGKs are pre-provisioned (or loaded by the runner for a new member) without an
        event of their own, so every event of a UE checks for a PGK not yet logged."""
        for group_id, (pgk_id, pgk) in ue.pdcp.pgks.items():
            group = ue.directory.get(group_id)
            if group is None:
                continue
            self._write(ue, t, "pdcp_group", {
                "group_id": group_id, "l2_group_id": group.l2_group_id, "pgk_id": pgk_id,
                "pgk_index": pgk_id & 0x1F, "pgk": pgk.hex(), "eea": EEA2,
            })  # fmt: skip  (GroupBearers ciphers with the O2mSender/O2mReceiver default)

    def _gmk(self, ue: Ue, t: float, gmk_id: int) -> None:
        found = ue.gmk_member.by_gmk_id(gmk_id)
        if found is None:
            return
        group_id, rec = found
        self._write(ue, t, "gmk", {
            "group_id": group_id, "gmk_id": rec.gmk_id, "gmk": rec.key.hex(),
            "rand": rec.rand.hex(), "guk_id": rec.guk_id, "uri": ue.uri,
        })  # fmt: skip

    def _call(self, ue: Ue, t: float, group_id: str) -> None:
        c = ue.calls.call(group_id)
        if c is None:
            return
        profile = ue.calls.profile
        self._write(ue, t, "group_call", {
            "group_id": group_id, "call_id": c.call_id, "gmk_id": c.gmk_id,
            "call_key": c.call_key.hex(), "rand": c.rand.hex(), "profile": profile.name,
            "media_port": c.group.media_port,
        })  # fmt: skip
        key, salt = sender_master(c.call_key, c.rand, c.my_guk, profile)
        self._write(ue, t, "srtp", {
            "group_id": group_id, "call_id": c.call_id, "mki": group_mki(c.gmk_id, c.my_guk).hex(),
            "profile": profile.name, "master_key": key.hex(), "master_salt": salt.hex(),
        })  # fmt: skip

    # -- output ------------------------------------------------------------------------------
    def _write(self, ue: Ue, t: float, kind: str, fields: dict[str, Any]) -> None:
        ident = (ue.name, kind, *sorted(fields.items()))
        if ident in self._seen:
            return
        self._seen.add(ident)
        if self._fh is None:
            self._fh = self.path.open("a", encoding="utf-8")
            if self.path.stat().st_size == 0:
                self._fh.write(json.dumps({"type": "keylog", "version": KEYLOG_VERSION}) + "\n")
        line = {"type": kind, "ue": ue.name, "t": t, **fields}
        self._fh.write(json.dumps(line, sort_keys=True) + "\n")
        self.counts[kind] = self.counts.get(kind, 0) + 1

    def close(self) -> None:
        """Flush and close the file (an empty one when nothing was installed)."""
        if self._fh is None:
            self.path.touch()
            return
        self._fh.close()
        self._fh = None
