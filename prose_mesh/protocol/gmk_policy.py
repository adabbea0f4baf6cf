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
  ``[activation, expiry + grace]``; a sender uses a GMK only in ``[activation, expiry]`` (one
  exception, for revocation, below).
* **Newest wins.** New traffic (a new call) uses the newest GMK whose lifetime covers ``now``
  (:meth:`GmkStore.may_send`).
* **Supersede.** A GMK is superseded once a newer GMK is installed. An ordinary (non-revoking)
  rekey leaves the old GMK receivable until its own expiry + grace, so members that switch at
  slightly different instants still hear each other, and traffic already keyed under it (a
  call in progress) may go on until its expiry (:meth:`GmkStore.send_verdict`): everyone who
  holds the old GMK is still a member, so nothing is gained by cutting the call.
* **Revocation (D2).** A rekey that excludes a member is installed with ``revoking=True``.
  *Receive*: once its switchover is done (``now ≥ its activation + switchover``) every older
  GMK is rejected ``GMK_SUPERSEDED``, so the excluded member's traffic under the old GMK stops.
  *Send*: from the moment it is installed, this UE never again sends under an older GMK,
  whatever its clock says (the excluded member still holds those). Clocks differ by up to the
  MIKEY skew (R1), so a UE whose clock lags the distributor's sees the new activation in its
  future: it sends under the revoking GMK when the activation is within ``tolerance`` of its
  own ``now`` and otherwise refuses (``GMK_NOT_ACTIVE``) rather than fall back (ADVERSARIAL.md
  D2, I1).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prose_mesh.constants import MIKEY_SKEW_S
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

    def __init__(
        self, *, grace: float = 0.0, switchover: float = 0.0, tolerance: float = MIKEY_SKEW_S
    ) -> None:
        """``grace``: receive after expiry; ``switchover``: receive old GMKs after a revoking
        rekey's activation; ``tolerance``: how far in this UE's future a revoking GMK's
        activation may lie for it to be sent under (the clock skew allowed, R1)."""
        if grace < 0 or switchover < 0 or tolerance < 0:
            raise ConfigError("grace, switchover and tolerance must be ≥ 0")
        self.grace = grace
        self.switchover = switchover
        self.tolerance = tolerance
        self._gmks: dict[int, GmkRecord] = {}  # live records (key bytes held)
        self._retired: set[int] = set()  # expired and purged IDs; never re-installed
        self._latest_activation: float | None = None
        # Activation of the newest revoking rekey: older GMKs are never sent under again, and
        # are refused on receive from this + switchover. Kept after purge (IDs stay refused).
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
        """The GMK new traffic uses at ``now``, or None (module docstring: newest wins, D2).

        The newest GMK in ``[activation, expiry]`` that no revoking rekey has replaced; failing
        that, the newest revoking GMK itself when its activation is at most ``tolerance`` ahead
        of ``now`` (a lagging clock); never a GMK older than a revoking one.
        """
        floor = self._revoke_from
        best: GmkRecord | None = None
        for rec in self._gmks.values():
            if (
                (floor is None or rec.activation >= floor)
                and rec.activation <= now <= rec.expiry
                and (best is None or rec.activation > best.activation)
            ):
                best = rec
        if best is None and floor is not None:
            early = next((r for r in self._gmks.values() if r.activation == floor), None)
            if early is not None and early.activation - self.tolerance <= now <= early.expiry:
                return early
        return best

    def send_verdict(self, gmk_id: int, now: float) -> Reason | None:
        """Why traffic must not be sent under ``gmk_id`` now (None: it may).

        None for :meth:`may_send`'s choice, and for an older GMK superseded only by ordinary
        rekeys while inside its own ``[activation, expiry]`` (a call in progress keyed under it
        may go on). A GMK older than a revoking one is ``GMK_SUPERSEDED`` for good.
        """
        rec = self._gmks.get(gmk_id)
        if rec is None:
            return Reason.GMK_EXPIRED if gmk_id in self._retired else Reason.UNKNOWN_KEY
        if self._revoke_from is not None and rec.activation < self._revoke_from:
            return Reason.GMK_SUPERSEDED
        if now > rec.expiry:
            return Reason.GMK_EXPIRED
        if now < rec.activation and self.may_send(now) is not rec:
            return Reason.GMK_NOT_ACTIVE
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
