"""A temporary group: fire and police regrouped into one incident group, as Python objects.

The twin of ``temporary-regroup.yaml`` (a test checks both give the same scenario). The
dispatcher manages both standard groups and creates the temporary group from them (user
regroup, TS 23.280); calls in a constituent group stay private to it.
"""

from __future__ import annotations

import sys

from _example import main

from prose_mesh.scenario.model import (
    UE,
    At,
    Call,
    CreateGroup,
    Decrypt,
    Delay,
    Expect,
    Figure,
    Gmk,
    Group,
    Impairments,
    Kms,
    Medium,
    Scenario,
    Talk,
)


def build() -> Scenario:
    ues = [UE("disp", user="sip:dispatch@city.example.org", roles=["group_manager", "member"],
              position=(0, 0))]
    ues += [UE(f"fire{i}", user=f"sip:fire{i}@city.example.org", position=(20 * i, 0))
            for i in (1, 2, 3)]
    ues += [UE(f"pol{i}", user=f"sip:pol{i}@city.example.org", position=(20 * i, 40))
            for i in (1, 2, 3)]
    return Scenario(
        name="temporary-regroup",
        description="Fire and police regrouped into a temporary incident group.",
        seed=5,
        duration=90.0,
        kms=Kms(uri="kms.city.example.org"),
        ues=ues,
        groups=[
            Group("fire", type="standard", manager="disp", members=["fire*"],
                  l2_group_id=0x00C001),
            Group("police", type="standard", manager="disp", members=["pol*"],
                  l2_group_id=0x00C002),
            Group("incident", type="temporary", manager="disp", constituents=["fire", "police"],
                  members=["disp"], l2_group_id=0x00C0FF, gmk=Gmk(period=1800.0)),
        ],
        medium=Medium(mode="range", range=300, default=Impairments(delay=Delay(0.003))),
        timeline=[
            At(2.0, Call("fire_only", group="fire", speaker="fire1", duration=8.0)),
            At(20.0, CreateGroup("incident")),
            At(25.0, Call("regroup_call", group="incident", speaker="pol2", duration=15.0)),
            At(30.0, Talk("regroup_call", "fire3", duration=5.0)),
            At(60.0, Call("police_only", group="police", speaker="pol1", duration=8.0)),
        ],
        expect=Expect(
            decrypt=[
                Decrypt("pol*", False, call="fire_only"),
                Decrypt("fire*", True, call="regroup_call"),
                Decrypt("pol*", True, call="regroup_call"),
                Decrypt("fire*", False, call="police_only"),
            ],
            figures=[Figure.parse("call.setup_time.p95", "<= 300ms")],
        ),
    ).validate()


if __name__ == "__main__":
    sys.exit(main(build()))
