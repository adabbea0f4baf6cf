"""The reason vocabulary: stable counter names, RFC 3711 lower-case replay names."""

from __future__ import annotations

from prose_mesh.errors import ProseMeshError
from prose_mesh.protocol.reasons import Reason, Rejected


def test_values_are_the_counter_names():
    assert Reason.REPLAY_OLD == "replay_old" and Reason.REPLAY_FAIL == "replay_fail"
    assert {r.value for r in Reason} >= {
        "MALFORMED", "BAD_HEADER", "NOT_FOR_ME", "UNAUTHORISED_SIGNER", "TS_OUT_OF_WINDOW",
        "REPLAY", "RATE_LIMITED", "QUEUE_FULL", "CACHE_FULL", "KNOWN_BAD", "BAD_SIG",
        "BAD_SAKKE", "GMK_SUPERSEDED", "GMK_NOT_ACTIVE", "GMK_EXPIRED", "UNKNOWN_KEY",
        "BAD_TAG", "BAD_MAC_I", "POLICY"}
    assert f"{Reason.BAD_TAG}" == "BAD_TAG"


def test_rejected_is_a_prose_mesh_error_with_reason():
    err = Rejected(Reason.REPLAY, "seen")
    assert isinstance(err, ProseMeshError)
    assert err.reason == "REPLAY" and str(err) == "REPLAY: seen"
