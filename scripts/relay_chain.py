"""A relay chain three hops deep and a UE-to-UE relayed cluster, built as Python objects.

The twin of ``relay-chain.yaml`` (a test checks both give the same scenario): far1/far2 reach
the network through r3 -> r2 -> r1, c1/c2 talk through x; one standard group spans both, keyed
by the GMS in the network namespace; the relays forward but must never hold the GMK. r3 is
switched off halfway and the far end reselects r3b.
"""

from __future__ import annotations

import sys

from _example import main

from prose_mesh.scenario.model import (
    UE,
    At,
    Call,
    CreateGroup,
    D2DLink,
    Decrypt,
    Delay,
    Discover,
    Expect,
    Figure,
    Gmk,
    Group,
    Impairments,
    Kill,
    Kms,
    Link,
    Loss,
    Medium,
    Network,
    Rekey,
    Relay,
    Scenario,
)


def build() -> Scenario:
    def user(name: str, local: str | None = None, **kw: object) -> UE:
        return UE(name, user=f"sip:{local or name}@fire.example.org", **kw)  # type: ignore[arg-type]

    return Scenario(
        name="relay-chain",
        description="Relay chain three hops deep plus a UE-to-UE relayed cluster; standard "
                    "group across both.",
        seed=11,
        duration=60.0,
        kms=Kms(uri="kms.fire.example.org", key_period=30 * 86400.0),
        network=Network("core", services=["kms", "gms", "pkmf"]),
        ues=[
            user("disp", "dispatch", in_coverage=True),
            user("r1", roles=["relay"], in_coverage=True),
            user("r2", roles=["relay"]),
            user("r3", roles=["relay"]),
            user("r3b", roles=["relay"]),
            user("far1"), user("far2"),
            user("x", roles=["relay", "member"]),
            user("c1"), user("c2"),
        ],
        relays=[
            Relay("rl1", "r1", "ue_to_network", relay_service_code=0x000101),
            Relay("rl2", "r2", "ue_to_network", relay_service_code=0x000101, upstream="rl1"),
            Relay("rl3", "r3", "ue_to_network", relay_service_code=0x000101, upstream="rl2"),
            Relay("rl3b", "r3b", "ue_to_network", relay_service_code=0x000101, upstream="rl2"),
            Relay("rlx", "x", "ue_to_ue", relay_service_code=0x000202, serves=["c1", "c2"]),
        ],
        groups=[Group("fire", type="standard", uri="sip:fire-group@fire.example.org",
                      manager="core", members=["disp", "far1", "far2", "x", "c1", "c2"],
                      l2_group_id=0x00F001, gmk=Gmk(period=600.0))],
        medium=Medium(mode="links", default=Impairments(delay=Delay(0.003)), links=[
            Link("r1", "r2"), Link("r2", "r3"), Link("r3", "far1"), Link("r3", "far2"),
            Link("r2", "r3b"), Link("r3b", "far1"), Link("r3b", "far2"),
            Link("r2", "x", impairments=Impairments(loss=Loss.parse("2%"))),
            Link("x", "c1"), Link("x", "c2"),
        ]),
        timeline=[
            At(0.5, Discover("far1", model="B", target="r3")),
            At(1.0, D2DLink("far1", "r3", via="rl3")),
            At(1.5, D2DLink("c1", "c2", via="rlx")),
            At(2.0, CreateGroup("fire")),
            At(8.0, Call("far_call", group="fire", speaker="far1", duration=10.0)),
            At(20.0, Rekey("fire")),
            At(30.0, Kill("r3")),
            At(35.0, Call("cluster_call", group="fire", speaker="c1", duration=10.0)),
        ],
        expect=Expect(
            decrypt=[
                Decrypt("c2", True, call="far_call"),
                Decrypt("disp", True, call="far_call"),
                Decrypt("far2", True, call="cluster_call"),
                Decrypt("r?", False, group="fire"),  # relays forward but never hold the GMK
            ],
            figures=[
                Figure.parse("relay.canary_hits", "== 0"),
                Figure.parse("relay.reselection_time.max", "<= 5s"),
                Figure.parse("call.setup_time.p95", "<= 300ms"),
            ],
        ),
    ).validate()


if __name__ == "__main__":
    sys.exit(main(build()))
