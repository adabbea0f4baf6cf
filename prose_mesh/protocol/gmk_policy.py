"""GMK store rules: install, supersede, expire, revoke (PROTOCOL.md §8.1 R8, §8.4).

ADVERSARIAL.md scenarios A5 (old-GMK re-installation), D1 (expired / not-yet-active GMK) and
D2 (revoked member still transmitting) are decided here.

One :class:`GmkStore` holds the GMKs of one group. It is pure data plus decisions: key bytes are
opaque here, time is injected (float seconds), nothing is read from a clock.

Rules ([EMU] where 33.179/33.180 §7.3 leave the detail open):

* **R8.** A GMK-ID that is installed, superseded or retired is never installed again, whatever
  its T. The activation time of a new GMK must be strictly later than every GMK installed so far
  (activation never moves backwards; an older GMK replayed with a fresh T is refused, A5).
* **Lifetime (§8.4).** A receiver accepts frames under a GMK only in
  ``[activation, expiry + grace]``; a sender uses a GMK only in ``[activation, expiry]``.
* **Newest wins.** The sender uses the newest GMK whose lifetime covers ``now``.
* **Supersede.** A GMK is superseded once a newer GMK is installed. An ordinary (non-revoking)
  rekey leaves the old GMK receivable until its own expiry + grace, so members that switch at
  slightly different instants still hear each other.
* **Revocation (D2).** A rekey that excludes a member is installed with ``revoking=True``. Once
  its switchover is done (``now ≥ its activation + switchover``) every older GMK is rejected
  ``GMK_SUPERSEDED`` on receive, so the excluded member's traffic under the old GMK stops.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prose_mesh.errors import ConfigError
from prose_mesh.protocol.reasons import Reason, Rejected


class GmkPolicyError(Rejected):
    """A GMK install, receive or send decision was refused (reason says which)."""


@dataclass(slots=True)
class GmkRecord:
    """One installed GMK: its ID, lifetime and opaque key bytes."""

    gmk_id: int
    activation: float
    expiry: float
    key: bytes = field(repr=False)
    revoking: bool = False
    superseded: bool = False


class GmkStore:
    """The GMKs of one group, with the §8.1 R8 / §8.4 rules (see module docstring)."""

    def __init__(self, *, grace: float = 0.0, switchover: float = 0.0) -> None:
        if grace < 0 or switchover < 0:
            raise ConfigError("grace and switchover must be ≥ 0")
        self.grace = grace
        self.switchover = switchover
        self._gmks: dict[int, GmkRecord] = {}  # live records (key bytes held)
        self._retired: set[int] = set()  # expired and purged IDs; never re-installed
        self._latest_activation: float | None = None
        # Activation of the newest revoking rekey: older GMKs die at this + switchover.
        self._revoke_from: float | None = None

    # -- install

    def install_verdict(self, gmk_id: int, activation: float, expiry: float, now: float) -> (
        Reason | None
    ):
        """The §8.5 "GMK-ID/activation/expiry policy" step, without changing state."""
        if not 0 <= gmk_id <= 0xFFFF_FFFF or not expiry > activation:
            return Reason.MALFORMED
        if gmk_id in self._gmks or gmk_id in self._retired:
            return Reason.GMK_SUPERSEDED
        if self._latest_activation is not None and activation <= self._latest_activation:
            return Reason.GMK_SUPERSEDED
        if now > expiry + self.grace:
            return Reason.GMK_EXPIRED
        return None

    def install(
        self,
        gmk_id: int,
        key: bytes,
        *,
        activation: float,
        expiry: float,
        now: float,
        revoking: bool = False,
    ) -> GmkRecord:
        """Install a verified GMK (after the replay-cache insert, §8.5); raises if refused."""
        reason = self.install_verdict(gmk_id, activation, expiry, now)
        if reason is not None:
            raise GmkPolicyError(reason, f"GMK-ID {gmk_id:#010x}")
        for old in self._gmks.values():
            old.superseded = True
        rec = GmkRecord(gmk_id, activation, expiry, key, revoking=revoking)
        self._gmks[gmk_id] = rec
        self._latest_activation = activation
        if revoking:
            self._revoke_from = activation
        return rec

    # -- receive

    def receive_verdict(self, gmk_id: int, now: float) -> Reason | None:
        """May a frame protected under ``gmk_id`` be accepted at ``now``?"""
        rec = self._gmks.get(gmk_id)
        if rec is None:
            return Reason.GMK_EXPIRED if gmk_id in self._retired else Reason.UNKNOWN_KEY
        if now < rec.activation:
            return Reason.GMK_NOT_ACTIVE
        if now > rec.expiry + self.grace:
            return Reason.GMK_EXPIRED
        if (
            self._revoke_from is not None
            and rec.activation < self._revoke_from
            and now >= self._revoke_from + self.switchover
        ):
            return Reason.GMK_SUPERSEDED
        return None

    def check_receive(self, gmk_id: int, now: float) -> GmkRecord:
        """The record to use for a received frame; raises :class:`GmkPolicyError` otherwise."""
        reason = self.receive_verdict(gmk_id, now)
        if reason is not None:
            raise GmkPolicyError(reason, f"GMK-ID {gmk_id:#010x} at {now}")
        return self._gmks[gmk_id]

    # -- send

    def may_send(self, now: float) -> GmkRecord | None:
        """The GMK a compliant sender uses at ``now`` (newest in [activation, expiry]), or None."""
        best: GmkRecord | None = None
        for rec in self._gmks.values():
            if rec.activation <= now <= rec.expiry and (
                best is None or rec.activation > best.activation
            ):
                best = rec
        return best

    def send_verdict(self, gmk_id: int, now: float) -> Reason | None:
        """Why a sender must not use ``gmk_id`` now (None if it is the one to use)."""
        rec = self._gmks.get(gmk_id)
        if rec is None:
            return Reason.GMK_EXPIRED if gmk_id in self._retired else Reason.UNKNOWN_KEY
        if now < rec.activation:
            return Reason.GMK_NOT_ACTIVE
        if now > rec.expiry:
            return Reason.GMK_EXPIRED
        current = self.may_send(now)
        if current is not None and current.gmk_id != gmk_id:
            return Reason.GMK_SUPERSEDED
        return None

    # -- housekeeping

    def purge(self, now: float) -> list[int]:
        """Forget key bytes of GMKs past expiry + grace; their IDs stay refused forever."""
        dead = [i for i, r in self._gmks.items() if now > r.expiry + self.grace]
        for i in dead:
            del self._gmks[i]
            self._retired.add(i)
        return dead

    def get(self, gmk_id: int) -> GmkRecord | None:
        """The live record for ``gmk_id``, if any (no policy applied)."""
        return self._gmks.get(gmk_id)

    def known_ids(self) -> frozenset[int]:
        """Every GMK-ID ever installed (live or retired)."""
        return frozenset(self._gmks) | frozenset(self._retired)

    def __len__(self) -> int:
        return len(self._gmks)
