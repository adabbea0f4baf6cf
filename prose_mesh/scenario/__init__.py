"""Scenario description: the YAML format, its JSON schema, the strict loader and the Python model.

Describing a run (this package's model and loader) is kept apart from running it, as in Mininet.
"""

from prose_mesh.scenario.loader import ScenarioError, load_scenario, loads_scenario
from prose_mesh.scenario.model import UE, At, Group, Medium, Scenario

__all__ = [
    "UE",
    "At",
    "Group",
    "Medium",
    "Scenario",
    "ScenarioError",
    "load_scenario",
    "loads_scenario",
]
