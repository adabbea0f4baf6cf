"""Attackers in a scenario run (ADVERSARIAL.md): the runner's side of ``prose_mesh.attack``.

Contract with :mod:`prose_mesh.scenario.runner` (the runner calls these, in this order):

* :func:`plan` — problems that refuse the scenario before anything starts (unsupported roles);
* :func:`setup` — after the UEs exist, before any of them runs: attach every attacker's radio
  (``air.attach(name, attack=name)``, so the medium tags what it sends) and build the role
  objects into ``state.attackers``;
* :func:`run` — started in the UEs' nursery: each attacker's lifetime (start, stop, rate,
  count) per its configuration;
* :func:`start` / :func:`stop` — the timeline's ``attack_start`` / ``attack_stop``;
* :func:`finish` — after the run, before the report: figures into ``state.counts`` and the
  per-attacker rows of the verdict table into ``state.verdict``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from prose_mesh.scenario import model as M

if TYPE_CHECKING:
    from prose_mesh.scenario.runner import RunState


def plan(scenario: M.Scenario) -> list[str]:
    return [f"attacker {a.name} ({a.role}): not supported yet" for a in scenario.attackers]


async def setup(state: RunState) -> None:
    """Attach attacker radios and build the role objects (none supported yet)."""


async def run(state: RunState, nursery: trio.Nursery) -> None:
    """Start each attacker's scheduled lifetime."""


async def start(state: RunState, name: str) -> None:
    raise NotImplementedError


async def stop(state: RunState, name: str) -> None:
    raise NotImplementedError


def finish(state: RunState) -> None:
    """Figures and verdict rows of every attacker."""
