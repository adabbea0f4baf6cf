"""§5 invariant 4 classes of prose_mesh.scenario.figures_adversarial on a hand-made event log."""

from __future__ import annotations

from typing import Any

from prose_mesh.scenario import figures_adversarial as F


def _frame(sha: str, t: float, reason: str | None, node: str = "m2",
           attack: str | None = None) -> list[dict[str, Any]]:
    verdict: dict[str, Any] = {"t": t, "node": node, "event": "reject" if reason else "accept",
                               "kind": "media", "reason": reason, "frame_sha256": sha}
    return [{"t": t - 0.001, "node": node, "event": "deliver", "frame_sha256": sha,
             "flags": [], "attack": attack}, verdict]


def _key(name: str, t: float, node: str = "m2") -> dict[str, Any]:
    return {"t": t, "node": node, "event": "ue_event", "name": name, "data": {}}


def test_unknown_key_is_allowed_only_just_before_the_key_arrives():
    events = [
        *_frame("a1", 5.0, "UNKNOWN_KEY"), _key("call_rekeyed", 5.4),  # overtook its re-key
        *_frame("a2", 8.0, "UNKNOWN_KEY"), _key("call_joined", 8.0 + F.PRE_KEY_WINDOW / 2),
        *_frame("b1", 12.0, "UNKNOWN_KEY"), _key("call_rekeyed", 12.0 + F.PRE_KEY_WINDOW + 0.5),
        *_frame("c1", 20.0, None),
        *_frame("c2", 21.0, "UNKNOWN_KEY", node="m3"),  # another UE's key event does not count
        *_frame("d1", 22.0, "replay_old", attack="replayer"),  # only an attacker delivered it
    ]
    counts: dict[str, float] = {}
    F._first_verdicts(None, events, counts)  # type: ignore[arg-type]
    assert counts["media.first_verdicts"] == 5
    assert counts["media.rejected_before_key"] == 2
    assert counts["media.false_rejects"] == 2


def test_unknown_key_for_a_gmk_still_on_its_way_is_rejected_before_gmk():
    """UNKNOWN_KEY for the GMK the MKI names is allowed only when this receiver installed that
    GMK later, within the delivery bound; another GMK, another UE's install, an install before
    the reject or after the bound leave it a false reject."""
    from prose_mesh.protocol.group_call import mki_detail

    def unknown(sha: str, t: float, gmk_id: int, node: str = "m4") -> list[dict[str, Any]]:
        deliver, verdict = _frame(sha, t, "UNKNOWN_KEY", node=node)
        return [deliver, {**verdict, "detail": mki_detail(gmk_id)}]

    def installed(t: float, gmk_id: int, node: str = "m4") -> dict[str, Any]:
        return {**_key("gmk_installed", t, node), "data": {"gmk_id": gmk_id}}

    events = [
        installed(1.0, 0x11),
        *unknown("a1", 10.0, 0x22), *unknown("a2", 12.0, 0x22),  # GMK 0x22 came at 13 s
        *unknown("b1", 12.5, 0x33),  # 0x33 never reached m4
        *unknown("b2", 12.6, 0x22, node="m3"),  # m3 never installed 0x22
        *unknown("b3", 14.0, 0x11),  # m4 held 0x11 since 1 s: not a key on its way
        installed(13.0, 0x22), installed(13.5, 0x22, node="m2"),
        *unknown("b4", 15.0, 0x44), installed(15.0 + F.GMK_DELIVERY_BOUND + 1, 0x44),
    ]
    counts: dict[str, float] = {}
    F._first_verdicts(None, events, counts)  # type: ignore[arg-type]
    assert counts["media.first_verdicts"] == 6
    assert counts["media.rejected_before_gmk"] == 2
    assert counts["media.false_rejects"] == 4
