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


def test_unknown_key_before_the_first_call_key_under_its_gmk_is_rejected_before_key():
    """J1 seed 689: m4 installed the rekey's GMK late, the call's re-key announcements came
    before it (refused: no GMK), three probes after it were lost, then the link went down; the
    call key under that GMK came 4.5 s after the first reject. UNKNOWN_KEY for GMK X is allowed
    while the receiver has taken no call key under X and takes one within the delivery bound;
    a reject after such a key, one under a GMK never keyed, or past the bound is false."""
    from prose_mesh.protocol.group_call import mki_detail

    def unknown(sha: str, t: float, gmk_id: int) -> list[dict[str, Any]]:
        deliver, verdict = _frame(sha, t, "UNKNOWN_KEY", node="m4")
        return [deliver, {**verdict, "detail": mki_detail(gmk_id)}]

    def keyed(name: str, t: float, gmk_id: int) -> dict[str, Any]:
        return {**_key(name, t, "m4"), "data": {"gmk_id": gmk_id}}

    events = [
        keyed("call_joined", 4.0, 0x11),
        *unknown("a1", 10.0, 0x22), *unknown("a2", 11.4, 0x22),  # before the 0x22 call key
        keyed("call_rekeyed", 14.5, 0x22),
        *unknown("b1", 15.0, 0x22),  # after it: the receiver held the key
        *unknown("b2", 16.0, 0x11),  # 0x11 keyed since 4 s
        *unknown("b3", 17.0, 0x33),  # never keyed under 0x33
        *unknown("b4", 18.0, 0x44), keyed("call_rekeyed", 18.0 + F.GMK_DELIVERY_BOUND + 1, 0x44),
    ]
    counts: dict[str, float] = {}
    F._first_verdicts(None, events, counts)  # type: ignore[arg-type]
    assert counts["media.first_verdicts"] == 6
    assert counts["media.rejected_before_key"] == 2
    assert counts["media.false_rejects"] == 4


def test_a_flip_before_the_srtp_packet_is_a_header_flip_inside_it_a_corrupt_accept():
    """The medium names the corrupted copy and its flipped octet; the receiver's accept names
    the SRTP packet's size. Accepting a copy flipped in front of the SRTP packet (e.g. the IPv6
    flow label of a one-to-many SDU, ciphered without integrity) is right; accepting one flipped
    inside it, or one whose flip nobody logged, is a corrupt acceptance."""

    def corrupted(orig: str, copy: str, octet: int, t: float, octets: int | None = 60,
                  size: int = 130, flip: bool = True) -> list[dict[str, Any]]:
        deliver: dict[str, Any] = {"t": t - 0.001, "node": "m2", "event": "deliver",
                                   "frame_sha256": orig, "flags": ["corrupt"], "attack": None}
        if flip:
            deliver |= {"copy_sha256": copy, "flip": {"octet": octet, "bit": 5, "len": size}}
        accept: dict[str, Any] = {"t": t, "node": "m2", "event": "accept", "kind": "media",
                                  "reason": None, "frame_sha256": copy}
        if octets is not None:
            accept["octets"] = octets
        return [deliver, accept]

    events = [
        *corrupted("o1", "c1", 18, 1.0),  # IPv6 flow label: header flip
        *corrupted("o2", "c2", 69, 2.0),  # the octet just before the SRTP packet (130 - 60 - 1)
        *corrupted("o3", "c3", 70, 3.0),  # the SRTP packet's first octet
        *corrupted("o4", "c4", 129, 4.0),  # its last (the tag)
        *corrupted("o5", "c5", 18, 5.0, octets=None),  # the receiver did not say its size
        *corrupted("o6", "c6", 18, 6.0, flip=False),  # a log without the flip
        *_frame("ok", 7.0, None),  # an untouched copy
    ]
    counts: dict[str, float] = {}
    F._first_verdicts(None, events, counts)  # type: ignore[arg-type]
    assert counts["media.accepted_header_flips"] == 2
    assert counts["media.corrupt_accepted"] == 4
    assert counts["media.first_verdicts"] == 1


def test_gmk_installed_before_the_distributor_logged_its_send_is_delivered():
    """The distributor logs gmk_distributed after its send returns; a member in the same
    process may have installed the GMK by then (J2-30m on netns: 0.2-0.7 ms before)."""
    from types import SimpleNamespace as NS

    def ue(name: str, events: dict[str, list[tuple[float, dict[str, Any]]]]) -> Any:
        def of(kind: str) -> list[tuple[float, Any]]:
            return [(t, NS(data=d)) for t, d in events.get(kind, [])]

        return NS(name=name, uri=f"sip:{name}", events=of)

    gms = ue("gms", {"gmk_distributed": [(10.0, {"gmk_id": 7, "recipients": ["sip:a", "sip:b",
                                                                             "sip:c"]})]})
    a = ue("a", {"gmk_installed": [(9.9996, {"gmk_id": 7})]})  # logged before the send
    b = ue("b", {"gmk_installed": [(10.2, {"gmk_id": 7})]})
    c = ue("c", {"gmk_installed": [(10.0 + F.GMK_DELIVERY_BOUND + 1, {"gmk_id": 7}),
                                   (10.1, {"gmk_id": 8})]})  # too late; another GMK
    state = NS(ues={"gms": gms, "a": a, "b": b, "c": c}, killed=set(), origin=0.0,
               scenario=NS(duration=60.0))
    counts: dict[str, float] = {}
    F._gmk_delivery(state, counts)  # type: ignore[arg-type]
    assert counts["gmk.expected_installs"] == 3
    assert counts["gmk.delivery_ratio"] == 2 / 3
