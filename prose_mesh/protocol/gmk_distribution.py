"""GMK distribution (TS 33.179/33.180 §7.3, Annex E.2, E.6): the public face of issue #5's keying.

* :class:`GmkDistributor` (:mod:`~prose_mesh.protocol.gmk_sender`) — the GMS / group manager of a
  standard group, or the creator of an ad-hoc or temporary group: issues, adds members, rekeys
  with revocation.
* :class:`GmkMember` (:mod:`~prose_mesh.protocol.gmk_receiver`) — every UE: the PROTOCOL.md §8.5
  receive order, the GMK store per group, lookups for call-key and media receivers.
* The E.6 key-parameters extension lives in :mod:`~prose_mesh.protocol.key_params`.
"""

from __future__ import annotations

from prose_mesh.protocol.gmk_receiver import GmkMember, GmkRecord
from prose_mesh.protocol.gmk_sender import (
    AdhocRefused,
    GmkDistributor,
    GmkIssue,
    is_adhoc_gmk_id,
    member_uid,
)
from prose_mesh.protocol.key_params import KeyParameters

__all__ = [
    "AdhocRefused",
    "GmkDistributor",
    "GmkIssue",
    "GmkMember",
    "GmkRecord",
    "KeyParameters",
    "is_adhoc_gmk_id",
    "member_uid",
]
