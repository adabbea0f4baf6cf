"""Attack scenarios built as Python objects (ADVERSARIAL.md): each is the twin of a file in
``scripts/attacks/`` (a test checks they give the same scenarios).

* ``a1-gmk-replay`` - a captured GMK I_MESSAGE replayed 1000 times within the MIKEY skew;
* ``b1-spoofed-l2`` - an attacker transmits with a legitimate UE's layer-2 ID;
* ``d2-revoked-member`` - the rekey excludes m4, which keeps sending under the old GMK.

``.venv/bin/python scripts/attacks.py a1-gmk-replay`` runs one (memory backend) and prints the
report paths; the attack roles are refused up front if this checkout's runner lacks them.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from _example import main

from prose_mesh.scenario.model import (
    UE,
    At,
    Attacker,
    Call,
    CreateGroup,
    Decrypt,
    Expect,
    Figure,
    Group,
    Kms,
    Medium,
    Rekey,
    RemoveMember,
    Scenario,
)


def _members(*names_pos: tuple[str, tuple[float, float]], gms: bool = True) -> list[UE]:
    ues = [UE("gms", user="sip:gms@example.org", roles=["group_manager"], position=(0, 0))]
    return (ues if gms else []) + [UE(n, user=f"sip:{n}@example.org", position=p)
                                   for n, p in names_pos]


def a1_gmk_replay() -> Scenario:
    """A replayer captures the GMS's GMK I_MESSAGE and sends 1000 copies within SKEW: every
    copy must be rejected as REPLAY before any signature check, and no GMK reinstalled."""
    return Scenario(
        name="a1-gmk-replay",
        description="Replay a captured GMK I_MESSAGE 1000x within SKEW.",
        seed=101,
        duration=12.0,
        kms=Kms(uri="kms.example.org"),
        ues=_members(("m1", (20, 0)), ("m2", (40, 0)), ("m3", (60, 0))),
        groups=[Group("g1", type="standard", manager="gms", members=["m*"])],
        medium=Medium(mode="range", range=200),
        attackers=[Attacker(
            "replay", role="replayer", position=(30, 10), targets=["g1"], start=2.0,
            stop=7.0, rate=400, count=1000,  # 1000 replays in 2.5 s: all inside SKEW
            options=Attacker.parse_options({"capture": "gmk_imessage", "copies": 1000,
                                            "to": ["m*"], "delay": "100ms"}))],
        timeline=[At(1.0, CreateGroup("g1")),
                  At(8.0, Call("after", group="g1", speaker="m1", duration=3.0))],
        expect=Expect(
            decrypt=[Decrypt("m*", True, call="after")],
            figures=[Figure.parse("attack.replay.accepted", "== 0"),
                     Figure.parse("rejected.REPLAY.before_verify", ">= 999"),
                     Figure.parse("gmk.reinstalls", "== 0")],
        ),
    ).validate()


def b1_spoofed_l2() -> Scenario:
    """A spoofer sends media with m2's layer-2 ID while m2 talks: nothing it sends may be
    accepted, and m2's own media must still arrive."""
    grid = [(f"m{i}", ((i - 1) % 3 * 20.0, (i - 1) // 3 * 20.0)) for i in range(1, 7)]
    return Scenario(
        name="b1-spoofed-l2",
        description="Transmit with a legitimate UE's L2 ID.",
        seed=102,
        duration=12.0,
        kms=Kms(uri="kms.example.org"),
        ues=_members(*grid, gms=False),
        groups=[Group("g1", type="adhoc", creator="m1", members=["m*"])],
        medium=Medium(mode="range", range=150),
        attackers=[Attacker("spoof", role="spoofer", position=(20, 30), targets=["g1"],
                            start=4.0, stop=10.0, rate=50,
                            options={"as": "m2", "payload": "media"})],
        timeline=[At(1.0, CreateGroup("g1")),
                  At(3.0, Call("victim_talks", group="g1", speaker="m2", duration=8.0))],
        expect=Expect(
            decrypt=[Decrypt("m*", True, call="victim_talks")],
            figures=[Figure.parse("attack.spoof.accepted", "== 0"),
                     Figure.parse("victim.delivery", ">= 99%")],
        ),
    ).validate()


def d2_revoked_member() -> Scenario:
    """m4 is removed and the group rekeyed; as an insider it keeps sending under the old GMK
    and tries to decrypt the new calls: it must fail at both."""
    return Scenario(
        name="d2-revoked-member",
        description="Rekey excludes m4; m4 keeps sending on the old GMK.",
        seed=104,
        duration=26.0,
        kms=Kms(uri="kms.example.org"),
        ues=_members(("m1", (20, 0)), ("m2", (40, 0)), ("m3", (60, 0)), ("m4", (80, 0))),
        groups=[Group("g1", type="standard", manager="gms", members=["m[1-4]"])],
        medium=Medium(mode="range", range=200),
        attackers=[Attacker("revoked", role="insider", position=(80, 0), targets=["g1"],
                            start=11.0, stop=25.0, rate=50,
                            options={"as": "m4", "actions": ["send_old_gmk", "decrypt_new"]})],
        timeline=[At(1.0, Call("before", group="g1", speaker="m1", duration=4.0)),
                  At(7.0, RemoveMember("g1", "m4")),
                  At(7.5, Rekey("g1")),
                  At(13.0, Call("after", group="g1", speaker="m2", duration=12.0))],
        expect=Expect(
            decrypt=[Decrypt("m4", True, call="before"),
                     Decrypt("m4", False, call="after"),
                     Decrypt("m[1-3]", True, call="after")],
            figures=[Figure.parse("attack.revoked.accepted", "== 0"),
                     Figure.parse("rekey.switchover", "<= 5s")],
        ),
    ).validate()


ATTACKS: dict[str, Callable[[], Scenario]] = {
    "a1-gmk-replay": a1_gmk_replay,
    "b1-spoofed-l2": b1_spoofed_l2,
    "d2-revoked-member": d2_revoked_member,
}


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in ATTACKS:
        print(f"usage: attacks.py {{{'|'.join(ATTACKS)}}} [--backend ...]", file=sys.stderr)
        sys.exit(2)
    sys.exit(main(ATTACKS[sys.argv[1]](), sys.argv[2:]))
