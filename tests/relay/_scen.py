"""Scenario texts shared by the relay tests (memory and netns backends)."""

from __future__ import annotations

CHAIN = """
version: 1
name: relay-3hop
description: A group call over three radio hops through two UE-to-UE relays, four through three.
seed: 21
duration: {duration}
kms: {{uri: kms.relay.example.org, key_period: 30d}}
ues:
  gms: {{identity: {{user: "sip:gms@relay.example.org"}}, roles: [group_manager]}}
  s:   {{identity: {{user: "sip:s@relay.example.org"}}}}
  ra:  {{identity: {{user: "sip:ra@relay.example.org"}}, roles: [relay]}}
  rb:  {{identity: {{user: "sip:rb@relay.example.org"}}, roles: [relay]}}
  rc:  {{identity: {{user: "sip:rc@relay.example.org"}}, roles: [relay]}}
  m1:  {{identity: {{user: "sip:m1@relay.example.org"}}}}
  m2:  {{identity: {{user: "sip:m2@relay.example.org"}}}}
relays:
  rla: {{ue: ra, kind: ue_to_ue, relay_service_code: 0x000202, serves: [gms, s]}}
  rlb: {{ue: rb, kind: ue_to_ue, relay_service_code: 0x000202, serves: [m1]}}
  rlc: {{ue: rc, kind: ue_to_ue, relay_service_code: 0x000202, serves: [m2]}}
groups:
  g:
    type: standard
    uri: "sip:g@relay.example.org"
    manager: gms
    members: [s, m1, m2]
    l2_group_id: 0x00C001
medium:
  mode: links
  links:
    - {{a: gms, b: ra, delay: 3ms}}
    - {{a: s, b: ra, delay: 3ms}}
    - {{a: ra, b: rb, delay: 3ms}}
    - {{a: rb, b: m1, delay: 3ms}}
    - {{a: rb, b: rc, delay: 3ms}}
    - {{a: rc, b: m2, delay: 3ms}}
timeline:
  - {{at: 1s, d2d_link: {{a: m1, b: m2, via: rlc}}}}
  - {{at: {call_at}, call: {{id: c1, group: g, speaker: s, duration: {call}}}}}
  - {{at: {talk_at}, talk: {{call: c1, ue: m2, duration: 1s}}}}
expect:
  decrypt:
    - {{ue: "m?", call: c1, must: true}}
    - {{ue: "r?", group: g, must: false}}
  figures:
    relay.canary_hits: "== 0"
  zero_security_acceptances: true
"""


def chain(duration: str = "8s", call_at: str = "2s", call: str = "5s",
          talk_at: str = "5s") -> str:
    return CHAIN.format(duration=duration, call_at=call_at, call=call, talk_at=talk_at)
