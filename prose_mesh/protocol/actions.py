"""What the sans-I/O protocol machines ask their driver to do (ARCHITECTURE.md decision 1).

Every machine of :mod:`prose_mesh.protocol` is a plain object that takes events (bytes received
with the time, time passed, a user intent) and returns a list of the actions below; it never
touches a socket or a clock. The Trio node (:mod:`prose_mesh.node`) executes them; tests and the
memory backend can execute them in virtual time. The same machine therefore runs on real
namespaces and under ``trio.testing.MockClock``, and adversarial tests are exact.

Actions fall in four kinds:

* *send* — bytes for the air, with enough addressing for the node's PDCP/shim layer;
* *timers* — ``SetTimer``/``CancelTimer`` keyed by any hashable the machine chooses, answered
  by the driver calling the machine's ``on_timer(key, now)``;
* *verdicts* — every security-relevant input ends in exactly one ``Accepted`` or ``Rejected``
  (ADVERSARIAL.md §5: received = accepted + rejected with a reason);
* *domain events* — what happened, for the node's state, logs and the scenario report.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from prose_mesh.protocol.reasons import Reason


class Cast(IntEnum):
    """PC5-EMU shim CAST values (PROTOCOL.md §1.1)."""

    BROADCAST = 0
    GROUP = 1  # one-to-many
    UNICAST = 2  # one-to-one


# --- send -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SendDiscovery:
    """A 29-octet PC5_DISCOVERY message for SL-DCH (PROTOCOL.md §3)."""

    message: bytes


@dataclass(frozen=True, slots=True)
class SendSignalling:
    """A PC5-S message to ``peer_l2id`` on LCID 28/29/30 (SDU type 2).

    ``protect`` names the security of the one-to-one PDCP PDU: ``"none"`` (KD-sess ID 0; DCR,
    REJECT, DSM REJECT), ``"integrity"`` (DSM COMMAND: MAC-I under the *new* context, unciphered)
    or ``"full"`` (ciphered and integrity protected; on a data bearer, LCID 1-10, which has no
    MAC-I, this means ciphered only and is delivered as ``"ciphered"``). ``kd_sess_id`` selects
    the context.
    """

    peer_l2id: int
    lcid: int
    message: bytes
    protect: str = "none"
    kd_sess_id: int = 0


@dataclass(frozen=True, slots=True)
class SendGroupIp:
    """An IP packet (IPv6/UDP built by the machine) on the one-to-many bearer of a group."""

    group_l2id: int
    packet: bytes


@dataclass(frozen=True, slots=True)
class SendUnicastIp:
    """An IP packet on a secured one-to-one link (SDU type IP, full PDCP protection)."""

    peer_l2id: int
    packet: bytes
    kd_sess_id: int | None = None  # None: the node uses the established link to the peer


# --- timers ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SetTimer:
    """Call the machine's ``on_timer(key, now)`` at time ``at`` (replaces a timer of that key)."""

    key: Hashable
    at: float


@dataclass(frozen=True, slots=True)
class CancelTimer:
    key: Hashable


# --- verdicts -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Accepted:
    """A security-relevant input passed every check. ``kind`` names what it was
    (``"gmk"``, ``"call_key"``, ``"media"``, ``"floor"``, ``"discovery"``, ``"pc5s"``, ...)."""

    kind: str
    peer: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Noted:
    """An unauthenticated input that carries no authority (a MONP GROUP CALL PROBE or ACCEPT,
    TS 24.379: no signature, no replay protection): counted as this frame's verdict, never a
    security acceptance. It changes no security state; at most it solicits a signed answer,
    rate-limited by the machine (e.g. PROBE_ANSWER_GAP_S)."""

    kind: str
    what: str
    peer: str | None = None


@dataclass(frozen=True, slots=True)
class Rejected:
    """An input was dropped at the first failing check: no state change, no reply."""

    kind: str
    reason: Reason
    peer: str | None = None
    detail: str = ""


# --- domain events --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Event:
    """Something the node and the report care about, e.g. ``Event("gmk_installed", {...})``.

    Names in use — GMK: ``gmk_installed``, ``gmk_distributed``, ``group_created``,
    ``member_removed``, ``member_added``; direct links: ``link_up``, ``link_down``,
    ``link_rekeyed``; group calls: ``call_joined``, ``call_rekeyed``, ``call_ended``,
    ``call_refused``, ``floor_taken``, ``media``; discovery: ``peer_discovered``,
    ``peer_lost``, ``relay_discovered``, ``relay_lost``.
    """

    name: str
    data: dict[str, Any] = field(default_factory=dict)


Action = (
    SendDiscovery
    | SendSignalling
    | SendGroupIp
    | SendUnicastIp
    | SetTimer
    | CancelTimer
    | Accepted
    | Rejected
    | Event
)
