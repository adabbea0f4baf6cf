"""Twenty out-of-the-box UEs form an ad-hoc group and talk - the demo, built as Python objects.

The twin of ``adhoc-20.yaml`` (a test checks both give the same scenario): three calls, a late
joiner (ue20), a removal (ue05) and a rekey. The YAML's ``ue_sets`` is a loop here. Run it with
``.venv/bin/python scripts/adhoc_20.py`` and open the report.html it prints.
"""

from __future__ import annotations

import sys

from _example import main

from prose_mesh.scenario.model import (
    UE,
    AddMember,
    At,
    Call,
    Capacity,
    CreateGroup,
    Decrypt,
    Delay,
    Discover,
    Expect,
    Figure,
    Gmk,
    Group,
    Impairments,
    Kms,
    Loss,
    Medium,
    Multicast,
    Rekey,
    RemoveMember,
    Scenario,
    Talk,
)


def build() -> Scenario:
    # ue01 ... ue20 on a 5-column grid, 15 m apart; IMEIs 353456789000001 ... (check digit last)
    ues = [UE(f"ue{i:02d}", imei=f"3534567890{i:05d}", position=((i - 1) % 5 * 15,
                                                                  (i - 1) // 5 * 15))
           for i in range(1, 21)]  # fmt: skip
    return Scenario(
        name="adhoc-20",
        description="20 ME UEs, an ad-hoc group of 19, three calls, a late joiner, a removal "
                    "and a rekey.",
        seed=2026,
        duration=45.0,
        kms=Kms(uri="kms.adhoc.example.org", key_period=30 * 86400.0),
        ues=ues,
        groups=[Group("rescue", type="adhoc", creator="ue01", members=["ue0*", "ue1*"],
                      l2_group_id=0x00A001, multicast=Multicast("ff15::a001", 40000),
                      gmk=Gmk(max_adhoc_period=3600.0))],
        medium=Medium(mode="range", range=150, fade_start=120,
                      default=Impairments(delay=Delay.parse("2ms 1ms"), loss=Loss.parse("0.5%")),
                      capacity=Capacity(rate=2_000_000, queue=200)),
        timeline=[
            At(0.5, Discover("ue01", model="A")),
            At(1.0, CreateGroup("rescue")),
            At(3.0, Call("c1", group="rescue", speaker="ue01", duration=10.0)),
            At(6.0, Talk("c1", "ue07", duration=3.0)),
            At(15.0, AddMember("rescue", "ue20")),
            At(16.0, Call("c2", group="rescue", speaker="ue12", duration=8.0)),
            At(18.0, Talk("c2", "ue20", duration=2.0)),
            At(26.0, RemoveMember("rescue", "ue05")),
            At(26.5, Rekey("rescue")),
            At(30.0, Call("c3", group="rescue", speaker="ue20", duration=10.0)),
        ],
        expect=Expect(
            decrypt=[
                Decrypt("ue0*", True, call="c1"),
                Decrypt("ue1*", True, call="c1"),
                Decrypt("ue20", False, call="c1"),  # not yet a member
                Decrypt("ue*", True, call="c2"),  # ue20 by late entry
                Decrypt("ue0[!5]", True, call="c3"),
                Decrypt("ue1*", True, call="c3"),
                Decrypt("ue20", True, call="c3"),
                Decrypt("ue05", False, call="c3"),  # removed and rekeyed out
            ],
            figures=[
                Figure.parse("call.setup_time.p95", "<= 300ms"),
                Figure.parse("media.delay.p95", "<= 150ms"),
                Figure.parse("late_entry.time.max", "<= 350ms"),
                Figure.parse("rekey.switchover", "<= 5s"),
            ],
        ),
    ).validate()


if __name__ == "__main__":
    sys.exit(main(build()))
