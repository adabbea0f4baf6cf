"""The small standard-group scenario the scale tests run (a 2000-member one's shape)."""

from __future__ import annotations


def county(name: str, n: int, *, seed: int, duration: str, columns: int,
           group_extra: str = "", timeline: str = "") -> str:
    """YAML of a GMS and ``n`` members m01.. in one standard group keyed at 1 s; ``timeline``
    lines follow the create_group step, ``group_extra`` lines the group's keys."""
    return f"""
version: 1
name: {name}
seed: {seed}
duration: {duration}
kms: {{uri: kms.county.example.org, key_period: 30d}}
ues:
  gms: {{identity: {{user: "sip:gms@county.example.org"}}, roles: [group_manager],
         position: [50, 50]}}
ue_sets:
  m:
    count: {n}
    digits: 2
    identity: {{user: "sip:m{{index:2}}@county.example.org"}}
    grid: {{origin: [0, 0], spacing: 10, columns: {columns}}}
groups:
  county:
    type: standard
    manager: gms
    members: ["m*"]
    l2_group_id: 0x00D001
{group_extra}medium:
  mode: range
  range: 1000
  default: {{delay: 2ms}}
timeline:
  - {{at: 1s, create_group: {{group: county}}}}
{timeline}"""
