"""A standard group: eight members keyed by a group manager (GMS), built as Python objects.

The twin of ``standard-group.yaml`` (a test checks both give the same scenario): periodic
rekeys every minute, a member that walks out of range and back, a removal and an on-demand
rekey. Run it with ``.venv/bin/python scripts/standard_group.py``.
"""

from __future__ import annotations

import sys

from _example import main

from prose_mesh.scenario.model import (
    UE,
    At,
    Call,
    Decrypt,
    Delay,
    Expect,
    Figure,
    Gmk,
    Group,
    Impairments,
    Kms,
    Loss,
    Medium,
    Move,
    Multicast,
    Rekey,
    RemoveMember,
    Scenario,
    Talk,
)

POSITIONS = {"p1": (0, 0), "p2": (30, 0), "p3": (60, 0), "p4": (90, 0),
             "p5": (0, 60), "p6": (30, 60), "p7": (60, 60), "p8": (90, 60)}  # fmt: skip


def build() -> Scenario:
    ues = [UE("gms", user="sip:gms@police.example.org", roles=["group_manager"],
              position=(50, 50))]
    ues += [UE(name, user=f"sip:{name}@police.example.org", position=pos,
               clock_offset=-4.0 if name == "p4" else 0.0) for name, pos in POSITIONS.items()]
    return Scenario(
        name="standard-group",
        description="Eight members, one group manager, periodic and on-demand rekeys.",
        seed=3,
        duration=120.0,
        kms=Kms(uri="kms.police.example.org", key_period=30 * 86400.0),
        ues=ues,
        groups=[Group("police", type="standard", uri="sip:patrol@police.example.org",
                      manager="gms", members=["p?"], l2_group_id=0x00B001,
                      multicast=Multicast("ff15::b001"), gmk=Gmk(period=60.0))],
        medium=Medium(mode="range", range=200, default=Impairments(
            delay=Delay.parse("4ms 2ms distribution normal"),
            loss=Loss.parse("gemodel 1% 20% 70% 0.1%"))),
        timeline=[
            At(5.0, Call("patrol1", group="police", speaker="p1", duration=20.0)),
            At(10.0, Talk("patrol1", "p4", duration=5.0)),
            At(30.0, Move("p8", to=(900, 60), speed=30.0)),
            At(45.0, RemoveMember("police", "p6")),
            At(46.0, Rekey("police")),
            At(60.0, Move("p8", to=(90, 60))),
            At(70.0, Call("patrol2", group="police", speaker="p2", duration=20.0)),
        ],
        expect=Expect(
            decrypt=[
                Decrypt("p[1-8]", True, call="patrol1"),
                Decrypt("p6", False, call="patrol2"),
                Decrypt("p[1-5]", True, call="patrol2"),
                Decrypt("p[78]", True, call="patrol2"),
            ],
            figures=[
                Figure.parse("gmk.delivery_time.p95", "<= 1s"),
                Figure.parse("call.setup_time.p95", "<= 300ms"),
                Figure.parse("media.delay.p95", "<= 150ms"),
            ],
        ),
    ).validate()


if __name__ == "__main__":
    sys.exit(main(build()))
