"""The scenario file's value syntax and its JSON schema (JSON Schema Draft 2020-12).

One module owns both the regular expressions the published schema uses and the parsers that turn
the matching strings into numbers, so the schema and the loader cannot drift apart. The packaged
``scenario.schema.json`` is generated from :func:`build_schema`
(``python -m prose_mesh.scenario.schema > prose_mesh/scenario/scenario.schema.json``); a test
checks the file is up to date.

Value syntax (one form each, documented in the schema's ``description`` fields):

* **duration**: a number of seconds (``1.5``) or a string ``<number><unit>`` with unit ``us``,
  ``ms``, ``s``, ``m`` (minutes), ``h`` or ``d`` (``"500ms"``, ``"10m"``). Offsets may be negative.
* **percentage**: a string ``"<0..100>%"`` (``"10%"``); the model holds a probability in [0, 1].
* **netem impairments** use tc-netem(8) vocabulary, per directed pair (``delay "20ms 5ms 25%
  distribution normal"``, ``loss "random 5%"`` or ``"gemodel 1% 10% 70% 0.1%"``, ``duplicate``,
  ``corrupt``, ``reorder "25% 50% gap 5"``, ``rate "1mbit"``). ARCHITECTURE.md decision 2: the
  userspace medium applies them, never ``tc``.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any, Final

SCHEMA_ID: Final = "https://prose-mesh.example.org/schema/scenario-v1.json"
DRAFT: Final = "https://json-schema.org/draft/2020-12/schema"

# --- lexical pieces (Python `re` and ECMA-262 agree on this subset; separators are ASCII
# spaces only, since `\s` means different things in the two dialects)
_NUM = r"[0-9]+(?:\.[0-9]+)?"
_UNIT = r"(?:us|ms|s|m|h|d)"
_PCT = r"(?:100(?:\.0+)?|[0-9]{1,2}(?:\.[0-9]+)?)%"
_DUR = _NUM + _UNIT
_DIST = r"(?:uniform|normal|pareto|paretonormal)"

DURATION_RE: Final = rf"^{_DUR}$"
SIGNED_DURATION_RE: Final = rf"^[+-]?{_DUR}$"
PERCENT_RE: Final = rf"^{_PCT}$"
DELAY_RE: Final = rf"^{_DUR}(?: +{_DUR}(?: +{_PCT})?)?(?: +distribution +{_DIST})?$"
LOSS_RE: Final = (
    rf"^(?:(?:random +)?{_PCT}(?: +{_PCT})?|gemodel +{_PCT} +{_PCT}(?: +{_PCT}(?: +{_PCT})?)?)$"
)
PCT_CORR_RE: Final = rf"^{_PCT}(?: +{_PCT})?$"
REORDER_RE: Final = rf"^{_PCT}(?: +{_PCT})?(?: +gap +[1-9][0-9]*)?$"
RATE_RE: Final = rf"^{_NUM}(?:bit|kbit|mbit|gbit|bps|kbps|mbps|gbps)$"
FIGURE_RE: Final = rf"^(?:<=|>=|==|<|>) *{_NUM}(?:{_UNIT}|%)?$"
NAME_RE: Final = r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$"
SELECTOR_RE: Final = r"^[A-Za-z0-9_.*?!\[\]-]{1,64}$"  # a name, or an fnmatch glob over names
METRIC_RE: Final = r"^[a-z][a-z0-9_]*(?:\.[A-Za-z0-9_]+)*$"
USER_URI_RE: Final = r"^(?:sip|sips|tel):\S+$"
IMEI_RE: Final = r"^[0-9]{15}$"  # TS 23.003 §6.2.1: 14 digits + check digit (not verified)
TEMPLATE_RE: Final = r"^[^{}]*(?:\{(?:name|index(?::[1-9])?)\}[^{}]*)*$"

_UNIT_S: Final = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_RATE_BPS: Final = {
    "bit": 1, "kbit": 10**3, "mbit": 10**6, "gbit": 10**9,
    "bps": 8, "kbps": 8 * 10**3, "mbps": 8 * 10**6, "gbps": 8 * 10**9,
}  # fmt: skip


# --- parsers (called only on values the schema accepted; ValueError otherwise)
def parse_duration(value: float | int | str) -> float:
    """Seconds from a number of seconds or a ``<number><unit>`` string."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        return float(value)
    m = re.fullmatch(rf"([+-]?{_NUM})({_UNIT})", value.strip())
    if not m:
        raise ValueError(f"not a duration: {value!r}")
    return float(m.group(1)) * _UNIT_S[m.group(2)]


def format_duration(seconds: float) -> float | int:
    """The number form of a duration (what ``to_dict`` writes)."""
    return int(seconds) if float(seconds).is_integer() else float(seconds)


def parse_percent(value: str) -> float:
    """A probability in [0, 1] from ``"12.5%"``."""
    m = re.fullmatch(_PCT, value.strip())
    if not m:
        raise ValueError(f"not a percentage: {value!r}")
    return float(value.strip()[:-1]) / 100.0


def decimal(x: float, places: int = 9) -> str:
    """A plain decimal (never exponent notation, which the grammar does not accept)."""
    text = f"{x:.{places}f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


def format_percent(p: float) -> str:
    return f"{decimal(p * 100.0)}%"


def parse_rate(value: str) -> int:
    """Bits per second from a tc rate (``kbit`` = 1000 bit/s, ``kbps`` = 1000 bytes/s)."""
    m = re.fullmatch(rf"({_NUM})([a-z]+)", value.strip())
    if not m or m.group(2) not in _RATE_BPS:
        raise ValueError(f"not a rate: {value!r}")
    return round(float(m.group(1)) * _RATE_BPS[m.group(2)])


def format_rate(bps: int) -> str:
    return f"{bps}bit"


def parse_figure(value: str) -> tuple[str, float, str]:
    """``"<= 300ms"`` → ``("<=", 0.3, "s")``; ``">= 99%"`` → ``(">=", 0.99, "%")``."""
    m = re.fullmatch(rf"(<=|>=|==|<|>) *({_NUM})({_UNIT}|%)?", value.strip())
    if not m:
        raise ValueError(f"not a figure condition: {value!r}")
    op, num, unit = m.group(1), float(m.group(2)), m.group(3) or ""
    if unit == "%":
        return op, num / 100.0, "%"
    if unit:
        return op, num * _UNIT_S[unit], "s"
    return op, num, ""


# --- schema construction helpers
def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/$defs/{name}"}


def _obj(
    props: dict[str, Any], required: tuple[str, ...] = (), title: str | None = None, **kw: Any
) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "properties": props, "additionalProperties": False}
    if required:
        out["required"] = list(required)
    if title:
        out["title"] = title
    out.update(kw)
    return out


def _list(item: Any, **kw: Any) -> dict[str, Any]:
    return {"type": "array", "items": item, **kw}


def _map(value: Any, title: str) -> dict[str, Any]:
    """A mapping from names to objects (UEs, groups, relays, attackers)."""
    return {
        "type": "object",
        "title": title,
        "propertyNames": _ref("name"),
        "additionalProperties": value,
    }


def _str(pattern: str, title: str, description: str) -> dict[str, Any]:
    return {"type": "string", "pattern": pattern, "title": title, "description": description}


_NAMES = _list(_ref("name"), uniqueItems=True)
_SELECTORS = _list(_ref("selector"), uniqueItems=True, minItems=1)

ROLES: Final = ("member", "group_manager", "relay")
GROUP_TYPES: Final = ("standard", "adhoc", "temporary")
ATTACKER_ROLES: Final = (
    "eavesdropper", "replayer", "spoofer", "tamperer", "flooder", "insider", "malicious_relay",
)  # fmt: skip
RELAY_KINDS: Final = ("ue_to_network", "ue_to_ue")
NETWORK_SERVICES: Final = ("kms", "gms", "pkmf")
CAPTURE_KINDS: Final = ("gmk_imessage", "pck_imessage", "srtp", "srtcp", "monp", "discovery", "any")
MUTATIONS: Final = ("bitflip", "truncate", "length_lie", "sig_r", "sig_s", "sig_pvt", "idri_resign")
CRAFTED: Final = (
    "sig_range", "pvt_invalid", "sig_length", "sig_leading_zero", "sakke_r_invalid",
    "sakke_length", "sakke_h_flip", "sakke_r_flip", "sp_downgrade", "csid_map", "prf",
    "lying_length", "payload_loop", "nested_payloads", "oversize", "unknown_type",
    "third_party_kat",
)  # fmt: skip
FLOOD_KINDS: Final = ("junk", "discovery", "imessage_bad_sign", "dcr")
SPOOF_PAYLOADS: Final = ("media", "signalling", "discovery", "imessage")
INSIDER_ACTIONS: Final = ("send_old_gmk", "decrypt_new", "resign_mutated")
DISCOVERY_MODELS: Final = ("A", "B")
TIMELINE_ACTIONS: Final = (
    "call", "talk", "move", "link_down", "link_up", "add_member", "remove_member", "rekey",
    "attack_start", "attack_stop", "kill", "discover", "d2d_link", "create_group", "set_clock",
)  # fmt: skip


def _impairments() -> dict[str, Any]:
    return {
        "delay": _ref("delay"),
        "loss": _ref("loss"),
        "duplicate": _ref("pct_corr"),
        "corrupt": _ref("pct_corr"),
        "reorder": _ref("reorder"),
        "rate": _ref("rate"),
    }


def _attacker_options() -> dict[str, dict[str, Any]]:
    """The ``options`` keys each attacker role accepts (ADVERSARIAL.md §4)."""
    return {
        "eavesdropper": {
            "canary": {"type": "string", "minLength": 1},
            # H3: run prose_mesh.attack.nonce_monitor.NonceMonitor over every heard I_MESSAGE
            "nonce_monitor": {"type": "boolean"},
            # D5: the harness hands it the KMS master secret z (prose_mesh.attack.escrow)
            "escrow": {"type": "boolean"},
        },
        "replayer": {
            "capture": {"enum": list(CAPTURE_KINDS)},
            "copies": {"type": "integer", "minimum": 1},
            "delay": _ref("duration"),
            "to": _SELECTORS,
        },
        "spoofer": {
            "as": _ref("name"),
            "payload": {"enum": list(SPOOF_PAYLOADS)},
        },
        "tamperer": {
            "capture": {"enum": list(CAPTURE_KINDS)},
            "mutations": _list({"enum": list(MUTATIONS)}, minItems=1, uniqueItems=True),
            "variants": {"type": "integer", "minimum": 1},
            "idri": _ref("name"),
            "signer": _ref("name"),
            # C2/C4/C5/C6/E2/H4: crafted I_MESSAGE classes (tests/vectors/mikey_sakke_imessage)
            "crafted": _list({"enum": list(CRAFTED)}, minItems=1, uniqueItems=True),
            # re-sign crafted messages with ``signer``'s SSK (the insider holds the GMS key)
            "resign": {"type": "boolean"},
        },
        "flooder": {
            "kinds": _list({"enum": list(FLOOD_KINDS)}, minItems=1, uniqueItems=True),
            "rotate_l2_ids": {"type": "boolean"},
            "discovery_rate": {"type": "number", "exclusiveMinimum": 0},
        },
        "insider": {
            "as": _ref("name"),
            "actions": _list({"enum": list(INSIDER_ACTIONS)}, minItems=1, uniqueItems=True),
        },
        "malicious_relay": {
            "relay": _ref("name"),
            "drop": _ref("percent"),
            "delay": _ref("duration"),
            "reorder": _ref("reorder"),
            "modify": _ref("percent"),
            "cross_forward": {"type": "array", "items": _ref("name"), "minItems": 2, "maxItems": 2},
        },
    }


def _timeline_actions() -> dict[str, Any]:
    n = _ref("name")
    return {
        "call": _obj(
            {"id": n, "group": n, "speaker": n, "duration": _ref("duration"),
             "media": {"type": "boolean"}, "confirm": {"type": "boolean"}},
            ("id", "group", "speaker"), title="call"),
        "talk": _obj({"call": n, "ue": n, "duration": _ref("duration")}, ("call", "ue"),
                     title="talk"),
        "move": _obj({"ue": n, "to": _ref("position"), "speed": {"type": "number",
                      "exclusiveMinimum": 0}}, ("ue", "to"), title="move"),
        "link_down": _obj({"a": n, "b": n}, ("a", "b"), title="link_down"),
        "link_up": _obj({"a": n, "b": n}, ("a", "b"), title="link_up"),
        "add_member": _obj({"group": n, "ue": n}, ("group", "ue"), title="add_member"),
        "remove_member": _obj({"group": n, "ue": n}, ("group", "ue"), title="remove_member"),
        "rekey": _obj({"group": n}, ("group",), title="rekey"),
        "attack_start": _obj({"attacker": n}, ("attacker",), title="attack_start"),
        "attack_stop": _obj({"attacker": n}, ("attacker",), title="attack_stop"),
        "kill": _obj({"ue": n}, ("ue",), title="kill"),
        "discover": _obj({"ue": n, "model": {"enum": list(DISCOVERY_MODELS)}, "target": n},
                         ("ue",), title="discover"),
        "d2d_link": _obj({"a": n, "b": n, "via": n}, ("a", "b"), title="d2d_link"),
        "create_group": _obj({"group": n}, ("group",), title="create_group"),
        # I1: a UE's clock stepped at run time (a resync, or a new error)
        "set_clock": _obj({"ue": n, "offset": _ref("signed_duration")}, ("ue", "offset"),
                          title="set_clock"),
    }  # fmt: skip


def build_schema() -> dict[str, Any]:
    """The published scenario schema, version 1."""
    identity = _obj(
        {"user": _ref("user_uri"), "me": _obj({"imei": _ref("imei")}, ("imei",), title="me")},
        title="identity",
        description="exactly one of 'user' (an MC service user ID) or 'me' (an ME identity, "
        "for out-of-the-box use)",
        minProperties=1,
        maxProperties=1,
    )
    set_identity = _obj(
        {"user": _str(TEMPLATE_RE, "template", "a URI with {name}, {index} or {index:N}"),
         "me": _obj({"imei": _str(TEMPLATE_RE, "template", "15 digits after substitution")},
                    ("imei",))},
        title="identity", minProperties=1, maxProperties=1,
        description="exactly one of 'user' or 'me'",
    )  # fmt: skip
    ue_common = {
        "roles": _list({"enum": list(ROLES)}, uniqueItems=True),
        "in_coverage": {"type": "boolean"},
        "clock_offset": _ref("signed_duration"),
    }
    test_hooks = {  # [EMU] H1's forced SSRC collision: several UEs given one SSRC and SEQ
        "ssrc": {"type": "integer", "minimum": 1, "maximum": 0xFFFF_FFFF,
                 "description": "[EMU] test hook: the SRTP SSRC this UE starts every MKI on"},
        "first_seq": {"type": "integer", "minimum": 0, "maximum": 0x7FFF,
                      "description": "[EMU] test hook: the RTP SEQ of that SSRC's first packet"},
    }  # fmt: skip
    ue = _obj(
        {"identity": identity, "position": _ref("position"), **ue_common, **test_hooks},
        ("identity",),
        title="UE",
    )
    ue_set = _obj(
        {
            "count": {"type": "integer", "minimum": 1, "maximum": 10000},
            "start": {"type": "integer", "minimum": 0},
            "digits": {"type": "integer", "minimum": 1, "maximum": 9},
            "identity": set_identity,
            "grid": _obj(
                {"origin": _ref("position"), "spacing": {"type": "number", "exclusiveMinimum": 0},
                 "columns": {"type": "integer", "minimum": 1}},
                ("spacing", "columns"),
            ),
            **ue_common,
        },
        ("count", "identity"),
        title="UE set",
        description="count UEs named <set name><index>, index zero-padded to digits.",
    )  # fmt: skip
    gmk = _obj(
        {"period": _ref("duration"), "activation": _ref("duration"),
         "max_adhoc_period": _ref("duration")},
        title="gmk",
    )  # fmt: skip
    group = _obj(
        {
            "type": {"enum": list(GROUP_TYPES)},
            "uri": _ref("user_uri"),
            "manager": _ref("name"),
            "creator": _ref("name"),
            "members": _SELECTORS,
            "constituents": _NAMES,
            "l2_group_id": {"type": "integer", "minimum": 1, "maximum": 0xFFFFFF},
            "multicast": _obj(
                {"address": {"type": "string", "minLength": 2},
                 "port": {"type": "integer", "minimum": 1, "maximum": 65535}},
                ("address",),
            ),
            "gmk": gmk,
        },
        ("type",),
        title="group",
    )  # fmt: skip
    link = _obj(
        {"a": _ref("name"), "b": _ref("name"), "symmetric": {"type": "boolean"},
         "down": _list(_ref("window")), **_impairments()},
        ("a", "b"),
        title="link",
    )  # fmt: skip
    medium = _obj(
        {
            "mode": {"enum": ["links", "range"]},
            "range": {"type": "number", "exclusiveMinimum": 0},
            "fade_start": {"type": "number", "minimum": 0},
            "default": _obj(_impairments(), title="impairments"),
            "links": _list(link),
            "capacity": _obj({"rate": _ref("rate"), "queue": {"type": "integer", "minimum": 1},
                              "cr_limit": _ref("percent")},
                             ("rate",), title="capacity",
                             description="air time: rate shared in range, queue frames, "
                                         "cr_limit = one node's largest channel share "
                                         "(sidelink CR limit, default 25%)"),
            "seed": {"type": "integer", "minimum": 0, "maximum": 2**64 - 1},
            "path_loss": _obj(
                {"tx_dbm": {"type": "number"}, "pl0_db": {"type": "number"},
                 "exponent": {"type": "number", "exclusiveMinimum": 0},
                 "sensitivity_dbm": {"type": "number"},
                 "fade_margin_db": {"type": "number", "minimum": 0}},
                title="path_loss",
                description="log-distance model: rx = tx_dbm - pl0_db - 10*exponent*log10(d)",
            ),
        },
        ("mode",),
        title="medium",
    )  # fmt: skip
    relay = _obj(
        {"ue": _ref("name"), "kind": {"enum": list(RELAY_KINDS)},
         "relay_service_code": {"type": "integer", "minimum": 0, "maximum": 0xFFFFFF},
         "upstream": _ref("name"), "serves": _NAMES},
        ("ue", "kind"),
        title="relay",
    )  # fmt: skip
    options = _attacker_options()
    attacker = _obj(
        {
            "role": {"enum": list(ATTACKER_ROLES)},
            "position": _ref("position"),
            "targets": _SELECTORS,
            "start": _ref("duration"),
            "stop": _ref("duration"),
            "rate": {"type": "number", "exclusiveMinimum": 0, "maximum": 1_000_000},
            "count": {"type": "integer", "minimum": 1, "maximum": 1_000_000_000},
            "seed": {"type": "integer", "minimum": 0, "maximum": 2**64 - 1},
            "clock_offset": _ref("signed_duration"),
            "options": {"type": "object"},
        },
        ("role",),
        title="attacker",
        allOf=[
            {
                "if": {"properties": {"role": {"const": role}}, "required": ["role"]},
                "then": {"properties": {"options": _obj(props, title=f"{role} options")}},
            }
            for role, props in options.items()
        ],
    )
    timeline_entry = _obj(
        {"at": _ref("duration"), **_timeline_actions()},
        ("at",),
        title="timeline entry",
        description="'at' and exactly one action: " + ", ".join(TIMELINE_ACTIONS),
        minProperties=2,
        maxProperties=2,
    )
    expect = _obj(
        {
            "decrypt": _list(
                _obj({"ue": _ref("selector"), "call": _ref("name"), "group": _ref("name"),
                      "must": {"type": "boolean"}},
                     ("ue", "must"), title="decrypt expectation",
                     description="'ue', 'must', and exactly one of 'call' or 'group'",
                     minProperties=3, maxProperties=3)),
            "figures": {"type": "object", "title": "figures",
                        "propertyNames": {"pattern": METRIC_RE},
                        "additionalProperties": _ref("figure")},
            "zero_security_acceptances": {"type": "boolean"},
            "invariants": {"type": "boolean"},
        },
        title="expect",
    )  # fmt: skip
    kms = _obj(
        {"uri": {"type": "string", "minLength": 1}, "key_period": _ref("duration"),
         "key_period_offset": _ref("duration"), "community": {"type": "string", "minLength": 1}},
        ("uri",),
        title="kms",
    )  # fmt: skip
    network = _obj(
        {"name": _ref("name"),
         "services": _list({"enum": list(NETWORK_SERVICES)}, uniqueItems=True, minItems=1)},
        ("name",),
        title="network",
    )  # fmt: skip
    return {
        "$schema": DRAFT,
        "$id": SCHEMA_ID,
        "title": "prose_mesh scenario",
        "description": "A prose_mesh scenario: UEs, groups, medium, relays, attackers, timeline "
        "and expectations. Unknown keys are errors everywhere.",
        **_obj(
            {
                "version": {"const": 1},
                "name": _ref("name"),
                "description": {"type": "string"},
                "seed": {"type": "integer", "minimum": 0, "maximum": 2**64 - 1},
                "duration": _ref("duration"),
                "kms": kms,
                "network": network,
                "ues": _map(ue, "ues"),
                "ue_sets": _map(ue_set, "ue_sets"),
                "groups": _map(group, "groups"),
                "medium": medium,
                "relays": _map(relay, "relays"),
                "attackers": _map(attacker, "attackers"),
                "timeline": _list(timeline_entry),
                "expect": expect,
            },
            ("version", "name", "duration", "medium"),
        ),
        "$defs": {
            "name": _str(NAME_RE, "name", "a letter, then letters, digits, '_', '.', '-'"),
            "selector": _str(SELECTOR_RE, "selector", "a name or an fnmatch glob such as 'ue*'"),
            "user_uri": _str(USER_URI_RE, "user URI", "an MC service user ID: sip:, sips: or "
                             "tel: URI"),
            "imei": _str(IMEI_RE, "IMEI", "15 decimal digits (TS 23.003 §6.2.1)"),
            "duration": {"title": "duration", "description": "seconds, or a string such as "
                         "'500ms', '10s', '10m', '1h' (units us, ms, s, m, h, d)",
                         "oneOf": [{"type": "number", "minimum": 0},
                                   {"type": "string", "pattern": DURATION_RE}]},
            "signed_duration": {"title": "duration", "description": "seconds, or a string "
                                "such as '-6s', '+500ms'",
                                "oneOf": [{"type": "number"},
                                          {"type": "string", "pattern": SIGNED_DURATION_RE}]},
            "percent": _str(PERCENT_RE, "percentage", "a string such as '10%' (0 to 100)"),
            "pct_corr": _str(PCT_CORR_RE, "netem percentage", "'P%' or 'P% CORRELATION%'"),
            "delay": {"title": "netem delay", "description": "seconds, or 'TIME [JITTER "
                      "[CORRELATION%]] [distribution uniform|normal|pareto|paretonormal]'",
                      "oneOf": [{"type": "number", "minimum": 0},
                                {"type": "string", "pattern": DELAY_RE}]},
            "loss": _str(LOSS_RE, "netem loss", "'[random] P% [CORR%]' or "
                         "'gemodel P% R% [1-H% [1-K%]]'"),
            "reorder": _str(REORDER_RE, "netem reorder", "'P% [CORR%] [gap N]'"),
            "rate": _str(RATE_RE, "rate", "a tc rate such as '1mbit', '250kbit', '100kbps'"),
            "figure": _str(FIGURE_RE, "figure condition", "an operator and a value, such as "
                           "'<= 300ms', '>= 99%', '== 0'"),
            "position": {"title": "position", "description": "[x, y] in metres",
                         "type": "array", "prefixItems": [{"type": "number"}, {"type": "number"}],
                         "minItems": 2, "maxItems": 2},
            "window": _obj({"at": _ref("duration"), "for": _ref("duration")}, ("at", "for"),
                           title="window"),
        },
    }  # fmt: skip


def main() -> int:
    json.dump(build_schema(), sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
