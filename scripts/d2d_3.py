"""Three UEs and one secure PC5 one-to-one link, built as Python objects.

The twin of ``d2d-3.yaml`` (a test checks both give the same scenario). Run it with
``.venv/bin/python scripts/d2d_3.py`` (memory backend, virtual time) and open the report.html
it prints; ``--backend netns`` runs it on network namespaces (root).
"""

from __future__ import annotations

import sys

from _example import main

from prose_mesh.scenario.model import (
    UE,
    At,
    D2DLink,
    Delay,
    Discover,
    Expect,
    Figure,
    Impairments,
    Kms,
    Link,
    LinkDown,
    Loss,
    Medium,
    Scenario,
    Window,
)


def build() -> Scenario:
    """ue1 and ue2 set up a link (Model A and B discovery first); ue3, an out-of-the-box ME,
    hears everything but holds no key of the link, so it must decrypt nothing."""
    return Scenario(
        name="d2d-3",
        description="Three UEs, one PC5 one-to-one link between ue1 and ue2; ue3 listens in.",
        seed=7,
        duration=30.0,
        kms=Kms(uri="kms.example.org", key_period=30 * 86400.0),
        ues=[
            UE("ue1", user="sip:ue1@example.org", position=(0, 0)),
            UE("ue2", user="sip:ue2@example.org", position=(40, 0)),
            UE("ue3", imei="353456789012347", position=(20, 30)),
        ],
        medium=Medium(mode="links", links=[
            Link("ue1", "ue2", impairments=Impairments(delay=Delay.parse("5ms 1ms"),
                                                       loss=Loss.parse("1%"))),
            Link("ue1", "ue3", impairments=Impairments(delay=Delay(0.005))),
            Link("ue2", "ue3", impairments=Impairments(delay=Delay(0.005)),
                 down=[Window(at=20.0, length=3.0)]),
        ]),
        timeline=[
            At(0.5, Discover("ue2", model="A")),
            At(1.0, Discover("ue1", model="B", target="ue2")),
            At(2.0, D2DLink("ue1", "ue2")),
            At(25.0, LinkDown("ue1", "ue2")),
        ],
        expect=Expect(figures=[
            Figure.parse("d2d_link.setup_time", "<= 300ms"),
            Figure.parse("d2d_link.established", "== 1"),
            Figure.parse("d2d_link.frames_decrypted_by.ue3", "== 0"),
        ]),
    ).validate()


if __name__ == "__main__":
    sys.exit(main(build()))
