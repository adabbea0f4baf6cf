"""Relays and the network side in a scenario run: the runner's side of relaying (issue #6).

Contract with :mod:`prose_mesh.scenario.runner` (the runner calls these, in this order):

* :func:`plan` — problems that refuse the scenario before anything starts;
* :func:`setup` — after the UEs exist, before any of them runs: the network side (KMS, GMS),
  relay roles on the relay UEs, stored in ``state.relays``;
* :func:`run` — started in the UEs' nursery: relay discovery, selection, forwarding tasks;
* :func:`link_via` — the timeline's ``d2d_link`` with ``via``;
* :func:`finish` — after the run, before the report: figures into ``state.counts`` /
  ``state.samples``, failures through ``state.fail``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from prose_mesh.scenario import model as M

if TYPE_CHECKING:
    from prose_mesh.scenario.runner import RunState


def plan(scenario: M.Scenario) -> list[str]:
    problems = [f"relay {r.name}: not supported yet" for r in scenario.relays]
    if scenario.network is not None:
        problems.append("a network-side namespace (KMS/GMS services): not supported yet")
    problems += [f"in-coverage UE {u.name}: not supported yet"
                 for u in scenario.ues if u.in_coverage]  # fmt: skip
    for step in scenario.timeline:
        if isinstance(step.action, M.D2DLink) and step.action.via:
            problems.append(f"d2d_link via a relay at {step.at} s: not supported yet")
    return problems


async def setup(state: RunState) -> None:
    """Network side and relay roles (none supported yet)."""


async def run(state: RunState, nursery: trio.Nursery) -> None:
    """Relay tasks."""


async def link_via(state: RunState, a: M.D2DLink) -> None:
    raise NotImplementedError


def finish(state: RunState) -> None:
    """Relay figures."""
