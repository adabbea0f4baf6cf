"""Load a scenario file strictly, and say where it is wrong.

Three passes, each reporting ``FILE:LINE:COL: path.to.field: message``:

1. **YAML**: PyYAML *composes* the node tree (every node keeps its line and column). Duplicate
   keys, merge keys, non-plain values (timestamps, binary, sets), recursive aliases and oversized
   documents are rejected here.
2. **Structure**: the plain data is checked against the published JSON schema
   (``scenario.schema.json``, Draft 2020-12) with ``jsonschema``; each error's path is mapped
   back to its YAML node. So an editor validating with the schema and this loader agree.
3. **Meaning**: references resolve, names are unique, times lie within the duration, a standard
   group has a manager with an MC service user identity, an ad-hoc group's creator is a member,
   the timeline is consistent when played in time order, and so on.

All problems found by a pass are reported together (sorted by position), as one
:class:`ScenarioError`, a :class:`prose_mesh.errors.ConfigError`.
"""

from __future__ import annotations

import difflib
import fnmatch
import ipaddress
import json
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Final

import jsonschema
import yaml

from prose_mesh.errors import ConfigError
from prose_mesh.scenario import model as M
from prose_mesh.scenario import schema as S

# libyaml's parser keeps the same marks and is about 10x faster (2000-UE dumps).
_YamlLoader: Final[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
MAX_FILE_BYTES: Final = 8 * 1024 * 1024
MAX_NODES: Final = 200_000  # after alias expansion: stops "billion laughs" documents
MAX_DEPTH: Final = 32  # a scenario nests 7 deep; the composers recurse (libyaml's can crash)
_PLAIN_TAGS: Final = {
    "tag:yaml.org,2002:str", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool", "tag:yaml.org,2002:null",
}  # fmt: skip

Path_ = tuple[str | int, ...]


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with a scenario, with its position (1-based; 0 when unknown)."""

    line: int
    column: int
    path: str
    message: str
    source: str = ""

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}:{self.column}" if self.line else self.source
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ScenarioError(ConfigError):
    """A scenario is invalid; ``problems`` lists every problem found by the failing pass."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(set(problems))  # a UE set repeats its members' problems
        super().__init__("\n".join(str(p) for p in self.problems))


@cache
def published_schema() -> dict[str, Any]:
    """The packaged ``scenario.schema.json``."""
    text = resources.files("prose_mesh.scenario").joinpath("scenario.schema.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def _validator() -> jsonschema.protocols.Validator:
    schema = published_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def dotted(path: Iterable[str | int]) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


# --- pass 1: YAML nodes -> plain data + positions
class _Marks:
    """Positions of every value (and every mapping key) by path."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.value: dict[Path_, tuple[int, int]] = {}
        self.key: dict[Path_, tuple[int, int]] = {}

    def at(self, path: Path_, *, key: bool = False) -> tuple[int, int]:
        p = tuple(path)
        if key and p in self.key:
            return self.key[p]
        while p:
            if p in self.value:
                return self.value[p]
            p = p[:-1]
        return self.value.get((), (0, 0))

    def problem(self, path: Path_, message: str, *, key: bool = False) -> Problem:
        line, col = self.at(path, key=key)
        return Problem(line, col, dotted(path), message, self.source)


def _pos(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


class _Converter:
    def __init__(self, marks: _Marks) -> None:
        self.marks = marks
        self.problems: list[Problem] = []
        self.count = 0
        self.constructor = yaml.SafeLoader("")

    def fail(self, node: yaml.Node, path: Path_, message: str) -> None:
        line, col = _pos(node)
        self.problems.append(Problem(line, col, dotted(path), message, self.marks.source))

    def convert(self, node: yaml.Node, path: Path_, stack: frozenset[int]) -> Any:
        self.count += 1
        if len(path) > MAX_DEPTH:  # only reachable through aliases: events were checked
            raise ScenarioError([Problem(*_pos(node), dotted(path[:MAX_DEPTH]),
                                         f"nested deeper than {MAX_DEPTH} levels",
                                         self.marks.source)])  # fmt: skip
        if self.count > MAX_NODES:
            raise ScenarioError([Problem(*_pos(node), dotted(path),
                                         f"document too large (more than {MAX_NODES} nodes "
                                         "after alias expansion)", self.marks.source)])  # fmt: skip
        # A block collection starts on the line after its key: point at the key instead.
        collection = isinstance(node, yaml.MappingNode | yaml.SequenceNode)
        here = self.marks.key.get(path, _pos(node)) if collection else _pos(node)
        self.marks.value.setdefault(path, here)
        if id(node) in stack:
            self.fail(node, path, "recursive alias")
            return None
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path, stack | {id(node)})
        if isinstance(node, yaml.SequenceNode):
            inner = stack | {id(node)}
            return [self.convert(n, (*path, i), inner) for i, n in enumerate(node.value)]
        if node.tag not in _PLAIN_TAGS:
            self.fail(node, path, f"unsupported YAML value {node.value!r} ({node.tag}); "
                      "quote it to make it a string")  # fmt: skip
            return None
        value = self.constructor.construct_object(node)
        if isinstance(value, float) and not math.isfinite(value):
            self.fail(node, path, f"not a finite number: {node.value!r}")
            return None
        return value

    def _mapping(self, node: yaml.MappingNode, path: Path_, stack: frozenset[int]) -> Any:
        out: dict[str, Any] = {}
        first: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                self.fail(key_node, path, "merge keys ('<<') are not supported")
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self.fail(key_node, path, "a key must be a plain string")
                continue
            key = str(key_node.value)
            kpath = (*path, key)
            if key in first:
                line = first[key].start_mark.line + 1
                self.fail(key_node, kpath, f"duplicate key '{key}' (first defined at line {line})")
                continue
            first[key] = key_node
            self.marks.key[kpath] = _pos(key_node)
            out[key] = self.convert(value_node, kpath, stack)
        return out


def _check_depth(text: str, source: str) -> None:
    """Reject deep nesting from the event stream (iterative) before anything recurses."""
    depth = 0
    for event in yaml.parse(text, Loader=_YamlLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                line, col = event.start_mark.line + 1, event.start_mark.column + 1
                raise ScenarioError([Problem(line, col, "", f"nested deeper than {MAX_DEPTH} "
                                             "levels", source)])  # fmt: skip
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _compose(text: str, source: str) -> tuple[Any, _Marks]:
    marks = _Marks(source)
    try:
        _check_depth(text, source)
        nodes = list(yaml.compose_all(text, Loader=_YamlLoader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        raise ScenarioError(
            [Problem(line, col, "", f"YAML syntax: {exc.problem or exc}", source)]
        ) from None
    except yaml.YAMLError as exc:  # e.g. a reader error on bad characters
        raise ScenarioError([Problem(0, 0, "", f"YAML: {exc}", source)]) from None
    if len(nodes) != 1:
        raise ScenarioError([Problem(1, 1, "", f"expected one YAML document, found {len(nodes)}",
                                     source)])  # fmt: skip
    conv = _Converter(marks)
    data = conv.convert(nodes[0], (), frozenset())
    if conv.problems:
        raise ScenarioError(conv.problems)
    return data, marks


# --- pass 2: JSON schema
def _describe(value: Any) -> str:
    kind = {bool: "boolean", int: "integer", float: "number", str: "string", list: "list",
            dict: "mapping", type(None): "null"}.get(type(value), type(value).__name__)  # fmt: skip
    shown = repr(value) if not isinstance(value, list | dict) else ""
    return f"{kind} {shown}".strip()


def _suggest(word: str, choices: Iterable[str]) -> str:
    choices = list(choices)
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    if not close and len(word) >= 3:  # a truncated key: 'clock' for 'clock_offset'
        close = [c for c in choices if c.startswith(word)][:1]
    return f" (did you mean '{close[0]}'?)" if close else ""


def schema_problems(data: Any, marks: _Marks) -> list[Problem]:
    """Every structural problem, mapped to its YAML position."""
    out: list[Problem] = []
    for err in _validator().iter_errors(data):
        out.extend(_explain(err, marks))
    return sorted(set(out))


def _explain(err: jsonschema.ValidationError, marks: _Marks) -> Iterator[Problem]:
    path: Path_ = tuple(err.absolute_path)
    schema: Any = err.schema
    kind, inst = err.validator, err.instance
    title = schema.get("title") if isinstance(schema, dict) else None
    if kind == "additionalProperties" and isinstance(inst, dict):
        known = list(schema.get("properties", {}))
        for extra in sorted(set(inst) - set(known)):
            hint = _suggest(extra, known) or (f" (expected one of: {', '.join(known)})"
                                              if len(known) <= 16 else "")  # fmt: skip
            yield marks.problem((*path, extra), f"unknown key '{extra}'{hint}", key=True)
        return
    if "propertyNames" in err.relative_schema_path:
        desc = schema.get("description", "") if isinstance(schema, dict) else ""
        yield marks.problem((*path, inst), f"bad name {inst!r}: {desc}".rstrip(": "), key=True)
        return
    if kind == "required":
        missing = err.validator_value
        missing = [k for k in missing if k not in inst] if isinstance(inst, dict) else missing
        for key in missing:
            yield marks.problem(path, f"missing required key '{key}'")
        return
    if kind in ("oneOf", "anyOf", "pattern") and title:
        yield marks.problem(path, f"bad {title} {inst!r}: {schema.get('description', '')}")
        return
    if kind == "type":
        yield marks.problem(path, f"expected {_type_words(err.validator_value)}, "
                            f"got {_describe(inst)}")  # fmt: skip
        return
    if kind == "enum":
        opts = [str(o) for o in err.validator_value]
        hint = _suggest(str(inst), opts)
        yield marks.problem(path, f"{inst!r} is not one of: {', '.join(opts)}{hint}")
        return
    if kind == "const":
        yield marks.problem(path, f"must be {err.validator_value!r}, got {inst!r}")
        return
    if kind in ("minProperties", "maxProperties") and isinstance(schema, dict):
        desc = schema.get("description")
        yield marks.problem(path, f"needs {desc}" if desc else err.message)
        return
    if kind == "uniqueItems":
        yield marks.problem(path, "list has duplicate entries")
        return
    yield marks.problem(path, err.message)


def _type_words(t: Any) -> str:
    names = {"object": "a mapping", "array": "a list", "string": "a string",
             "integer": "an integer", "number": "a number", "boolean": "true or false",
             "null": "null"}  # fmt: skip
    ts = t if isinstance(t, list) else [t]
    return " or ".join(names.get(x, x) for x in ts)


# --- pass 3: meaning
@dataclass
class _Names:
    ues: dict[str, Path_]  # UE name -> path of its definition
    ue_me: set[str]
    ue_roles: dict[str, set[str]]
    attackers: set[str]
    groups: set[str]
    relays: set[str]
    network: str | None
    calls: dict[str, Path_]


def match_names(selector: str, names: Iterable[str]) -> list[str]:
    """The names a selector picks, in ``names`` order: itself, or every fnmatch match of a glob
    (``*``, ``?``, ``[...]``, ``[!...]``)."""
    if any(c in selector for c in "*?["):
        return [x for x in names if fnmatch.fnmatchcase(x, selector)]
    if isinstance(names, set | dict | frozenset):
        return [selector] if selector in names else []
    return [selector] if selector in set(names) else []


def _set_members(set_name: str, spec: dict[str, Any]) -> Iterator[tuple[str, int]]:
    """(name, index) of each UE of a set: the set name then the index, zero-padded."""
    start, count = spec.get("start", 1), spec["count"]
    digits = spec.get("digits", len(str(start + count - 1)))
    for index in range(start, start + count):
        yield f"{set_name}{str(index).zfill(digits)}", index


def expand_ue_sets(data: dict[str, Any]) -> dict[str, tuple[Path_, dict[str, Any]]]:
    """All UEs as name -> (path of the definition, UE mapping in ``ues`` form)."""
    out: dict[str, tuple[Path_, dict[str, Any]]] = {
        name: (("ues", name), ue) for name, ue in data.get("ues", {}).items()
    }
    for set_name, spec in data.get("ue_sets", {}).items():
        grid = spec.get("grid")
        for i, (name, index) in enumerate(_set_members(set_name, spec)):
            ident = spec["identity"]
            if "user" in ident:
                identity: dict[str, Any] = {"user": M.expand_template(ident["user"], name, index)}
            else:
                imei = M.expand_template(ident["me"]["imei"], name, index)
                identity = {"me": {"imei": imei}}
            ue: dict[str, Any] = {"identity": identity}
            for key in ("roles", "in_coverage", "clock_offset"):
                if key in spec:
                    ue[key] = spec[key]
            if grid:
                ox, oy = grid.get("origin", [0, 0])
                row, col = divmod(i, grid["columns"])
                ue["position"] = [ox + col * grid["spacing"], oy + row * grid["spacing"]]
            out.setdefault(name, (("ue_sets", set_name), ue))
    return out


class _Semantics:
    def __init__(self, data: dict[str, Any], marks: _Marks) -> None:
        self.d = data
        self.marks = marks
        self.problems: list[Problem] = []
        self.duration = S.parse_duration(data["duration"])

    def err(self, path: Path_, message: str, *, key: bool = False) -> None:
        self.problems.append(self.marks.problem(path, message, key=key))

    def run(self) -> list[Problem]:
        self.names = self._names()
        self._ues()
        self._medium()
        self._groups()
        self._relays()
        self._attackers()
        self._timeline()
        self._expect()
        return self.problems

    # names and identities
    def _names(self) -> _Names:
        d = self.d
        all_ues = expand_ue_sets(d)
        seen: dict[str, str] = {}

        def claim(name: str, what: str, path: Path_) -> None:
            if name in seen:
                self.err(path, f"name '{name}' is already used by {seen[name]}", key=True)
            else:
                seen[name] = f"{what} '{name}'"

        for name in d.get("ues", {}):
            claim(name, "UE", ("ues", name))
        for set_name, spec in d.get("ue_sets", {}).items():
            for name, _ in _set_members(set_name, spec):
                claim(name, f"UE set '{set_name}' member", ("ue_sets", set_name))
        for section, what in (("groups", "group"), ("relays", "relay"), ("attackers", "attacker")):
            for name in d.get(section, {}):
                claim(name, what, (section, name))
        net = d.get("network", {}).get("name")
        if net:
            claim(net, "the network", ("network", "name"))
        calls: dict[str, Path_] = {}
        for i, entry in enumerate(d.get("timeline", [])):
            if "call" in entry:
                cid = entry["call"]["id"]
                path: Path_ = ("timeline", i, "call", "id")
                if cid in calls:
                    self.err(path, f"call id '{cid}' is already used at {dotted(calls[cid])}")
                calls.setdefault(cid, path)
        self.all_ues = all_ues
        return _Names(
            ues={n: p for n, (p, _) in all_ues.items()},
            ue_me={n for n, (_, u) in all_ues.items() if "me" in u["identity"]},
            ue_roles={n: set(u.get("roles", ["member"])) for n, (_, u) in all_ues.items()},
            attackers=set(d.get("attackers", {})),
            groups=set(d.get("groups", {})),
            relays=set(d.get("relays", {})),
            network=net,
            calls=calls,
        )

    def _ues(self) -> None:
        ids: dict[str, str] = {}
        reported: set[Path_] = set()
        has_net = "network" in self.d
        for name, (path, ue) in self.all_ues.items():
            ident = ue["identity"]
            value = ident["user"] if "user" in ident else ident["me"]["imei"]
            ipath = (*path, "identity")
            if path[0] == "ue_sets" and path not in reported:
                if "user" in ident and not re.match(S.USER_URI_RE, value):
                    self.err(ipath, f"template gives '{value}', not a sip:/sips:/tel: URI")
                    reported.add(path)
                elif "me" in ident and not re.match(S.IMEI_RE, value):
                    self.err(ipath, f"template gives IMEI '{value}', not 15 digits")
                    reported.add(path)
            if value in ids and path not in reported:
                self.err(ipath, f"identity '{value}' is also UE '{ids[value]}''s identity")
                reported.add(path)
            ids.setdefault(value, name)
            if ue.get("in_coverage") and not has_net:
                self.err((*path, "in_coverage"), "in_coverage needs a 'network' section")
            if "group_manager" in ue.get("roles", []) and "me" in ident:
                self.err((*path, "roles"), "an ME identity cannot be a group manager (a GMS "
                         "distributes GMKs under an MC service identity)")  # fmt: skip

    # medium
    def _medium(self) -> None:
        med = self.d["medium"]
        nodes = set(self.names.ues) | self.names.attackers | (
            {self.names.network} if self.names.network else set())
        if med["mode"] == "range":
            if ("range" in med) == ("path_loss" in med):
                self.err(("medium",), "mode 'range' needs exactly one of 'range' (metres) or "
                         "'path_loss'")  # fmt: skip
            if "fade_start" in med and "range" not in med:
                self.err(("medium", "fade_start"), "fade_start goes with 'range'", key=True)
            if "fade_start" in med and "range" in med and med["fade_start"] >= med["range"]:
                self.err(("medium", "fade_start"), "fade_start must be below range")
            for name, (path, ue) in self.all_ues.items():
                if "position" not in ue and path[0] == "ues":
                    self.err(path, f"UE '{name}' needs a position (medium mode is 'range')",
                             key=True)
                elif "position" not in ue and "grid" not in self.d["ue_sets"][path[1]]:
                    self.err(path, "UE set needs a grid (medium mode is 'range')", key=True)
            for name, att in self.d.get("attackers", {}).items():
                if "position" not in att:
                    self.err(("attackers", name), f"attacker '{name}' needs a position "
                             "(medium mode is 'range')", key=True)  # fmt: skip
        else:
            for key in ("range", "fade_start", "path_loss"):
                if key in med:
                    self.err(("medium", key), f"'{key}' is only used in mode 'range'", key=True)
        default_delay = "delay" in med.get("default", {})
        if "reorder" in med.get("default", {}) and not default_delay:
            self.err(("medium", "default", "reorder"), "reorder needs a delay (as in netem)")
        pairs: dict[frozenset[str] | tuple[str, str], int] = {}
        for i, link in enumerate(med.get("links", [])):
            path: Path_ = ("medium", "links", i)
            for end in ("a", "b"):
                if link[end] not in nodes:
                    self.err((*path, end), self._unknown(link[end], nodes, "UE or attacker"))
            if link["a"] == link["b"]:
                self.err((*path, "b"), "a link joins two different nodes")
            key: Any = ((link["a"], link["b"]) if link.get("symmetric", True) is False
                        else frozenset((link["a"], link["b"])))  # fmt: skip
            if key in pairs:
                self.err(path, f"link {link['a']}–{link['b']} is already defined at "
                         f"medium.links[{pairs[key]}]")  # fmt: skip
            pairs.setdefault(key, i)
            if "reorder" in link and "delay" not in link and not default_delay:
                self.err((*path, "reorder"), "reorder needs a delay (as in netem)")
            for j, w in enumerate(link.get("down", [])):
                end_t = S.parse_duration(w["at"]) + S.parse_duration(w["for"])
                if end_t > self.duration:
                    self.err((*path, "down", j), f"window ends at {end_t:g}s, after the "
                             f"scenario's duration {self.duration:g}s")  # fmt: skip
        self.links = {frozenset((x["a"], x["b"])) for x in med.get("links", [])}

    # groups
    def _manager_ok(self, path: Path_, who: str, gtype: str) -> None:
        n = self.names
        if who == n.network:
            if "gms" not in self.d["network"].get("services", ["kms", "gms"]):
                self.err(path, f"network '{who}' does not host a 'gms' service")
            return
        if who not in n.ues:
            self.err(path, self._unknown(who, n.ues, "UE or network"))
        elif who in n.ue_me:
            self.err(path, f"UE '{who}' has an ME identity and cannot manage a {gtype} group "
                     "(the GMS signs GMKs under an MC service identity, TS 33.179 §7.3.1)")
        elif "group_manager" not in n.ue_roles[who]:
            self.err(path, f"UE '{who}' lacks the 'group_manager' role")

    def _groups(self) -> None:
        self.members: dict[str, list[str]] = {}
        l2ids: dict[int, str] = {}
        groups = self.d.get("groups", {})
        for gid, g in groups.items():
            path: Path_ = ("groups", gid)
            gtype = g["type"]
            members = self._select(g.get("members", []), (*path, "members"))
            for other in ("manager", "creator", "constituents"):
                allowed = {"manager": ("standard", "temporary"), "creator": ("adhoc",),
                           "constituents": ("temporary",)}[other]  # fmt: skip
                if other in g and gtype not in allowed:
                    self.err((*path, other), f"'{other}' is not used by a {gtype} group",
                             key=True)  # fmt: skip
            if gtype in ("standard", "temporary"):
                if "manager" not in g:
                    self.err(path, f"a {gtype} group needs a 'manager' (its GMS)", key=True)
                else:
                    self._manager_ok((*path, "manager"), g["manager"], gtype)
            if gtype == "adhoc":
                if "creator" not in g:
                    self.err(path, "an ad-hoc group needs a 'creator'", key=True)
                elif g["creator"] not in self.names.ues:
                    self.err((*path, "creator"), self._unknown(g["creator"], self.names.ues))
                elif g["creator"] not in members:
                    self.err((*path, "creator"), f"the creator '{g['creator']}' must be a "
                             "member of the ad-hoc group")  # fmt: skip
            if gtype == "temporary":
                cons = g.get("constituents", [])
                if len(cons) < 1:
                    self.err(path, "a temporary group needs 'constituents' (groups to regroup)",
                             key=True)  # fmt: skip
                for j, c in enumerate(cons):
                    if c not in groups:
                        self.err((*path, "constituents", j), self._unknown(c, groups, "group"))
                    elif groups[c]["type"] != "standard":
                        kind = groups[c]["type"]
                        self.err((*path, "constituents", j), f"'{c}' is not a standard group "
                                 f"({kind}); a regroup combines standard groups")  # fmt: skip
                    else:
                        members += [m for m in self._select(groups[c].get("members", []), None)
                                    if m not in members]  # fmt: skip
            elif not members:
                self.err(path, f"a {gtype} group needs 'members'", key=True)
            if "l2_group_id" in g:
                lid = g["l2_group_id"]
                if lid in l2ids:
                    self.err((*path, "l2_group_id"), f"L2 group ID {lid:#08x} is also group "
                             f"'{l2ids[lid]}''s")  # fmt: skip
                l2ids.setdefault(lid, gid)
            if "multicast" in g:
                addr = g["multicast"]["address"]
                try:
                    ok = ipaddress.IPv6Address(addr).is_multicast
                except ValueError:
                    ok = False
                if not ok:
                    self.err((*path, "multicast", "address"),
                             f"'{addr}' is not an IPv6 multicast address (ff00::/8)")
            if "max_adhoc_period" in g.get("gmk", {}) and gtype != "adhoc":
                self.err((*path, "gmk", "max_adhoc_period"), "only ad-hoc groups use "
                         "max_adhoc_period", key=True)  # fmt: skip
            self.members[gid] = members

    # relays
    def _relays(self) -> None:
        relays = self.d.get("relays", {})
        for name, r in relays.items():
            path: Path_ = ("relays", name)
            ue = r["ue"]
            if ue not in self.names.ues:
                self.err((*path, "ue"), self._unknown(ue, self.names.ues))
            elif "relay" not in self.names.ue_roles[ue]:
                self.err((*path, "ue"), f"UE '{ue}' lacks the 'relay' role")
            if r["kind"] == "ue_to_network":
                if "network" not in self.d:
                    self.err((*path, "kind"), "a UE-to-network relay needs a 'network' section")
                elif ("upstream" not in r and ue in self.all_ues
                      and not self.all_ues[ue][1].get("in_coverage")):
                    self.err((*path, "ue"), f"UE '{ue}' relays to the network but is not "
                             "in_coverage (and has no upstream relay)")  # fmt: skip
            up = r.get("upstream")
            if up is not None and up not in relays:
                self.err((*path, "upstream"), self._unknown(up, relays, "relay"))
            for j, s in enumerate(r.get("serves", [])):
                if s not in self.names.ues:
                    self.err((*path, "serves", j), self._unknown(s, self.names.ues))
        for name in relays:  # chains must end
            seen, cur = [name], relays[name].get("upstream")
            while cur in relays and cur not in seen:
                seen.append(cur)
                cur = relays[cur].get("upstream")
            if cur in seen:
                self.err(("relays", name, "upstream"), "relay chain loops: "
                         + " → ".join([*seen, cur]))  # fmt: skip

    # attackers
    def _attackers(self) -> None:
        n = self.names
        for name, a in self.d.get("attackers", {}).items():
            path: Path_ = ("attackers", name)
            start = S.parse_duration(a.get("start", 0))
            if start > self.duration:
                self.err((*path, "start"), f"start {start:g}s is after the scenario's duration "
                         f"{self.duration:g}s")  # fmt: skip
            if "stop" in a:
                stop = S.parse_duration(a["stop"])
                if stop <= start:
                    self.err((*path, "stop"), f"stop {stop:g}s is not after start {start:g}s")
                elif stop > self.duration:
                    self.err((*path, "stop"), f"stop {stop:g}s is after the scenario's "
                             f"duration {self.duration:g}s")  # fmt: skip
            for j, t in enumerate(a.get("targets", [])):
                if t not in n.groups and not self._matches(t, n.ues):
                    self.err((*path, "targets", j), self._unknown(t, set(n.ues) | n.groups,
                                                                  "UE or group"))  # fmt: skip
            opts = a.get("options", {})
            opath: Path_ = (*path, "options")
            for key in ("as",):
                if key in opts and opts[key] not in n.ues:
                    self.err((*opath, key), self._unknown(opts[key], n.ues))
            if a["role"] in ("insider", "spoofer") and "as" not in opts:
                self.err(path, f"a {a['role']} needs options.as (the UE it acts as)", key=True)
            if a["role"] == "insider" and opts.get("as") in n.ues:
                who = opts["as"]
                if not any(who in m for m in self.members.values()):
                    self.err((*opath, "as"), f"insider '{who}' is not a member of any group")
            for key in ("idri", "signer"):
                if key in opts and opts[key] not in n.ues and opts[key] != n.network:
                    self.err((*opath, key), self._unknown(opts[key], n.ues, "UE or network"))
            if a["role"] == "malicious_relay":
                if "relay" not in opts:
                    self.err(path, "a malicious_relay needs options.relay", key=True)
                elif opts["relay"] not in n.relays:
                    self.err((*opath, "relay"), self._unknown(opts["relay"], n.relays, "relay"))
            for j, g in enumerate(opts.get("cross_forward", [])):
                if g not in n.groups:
                    self.err((*opath, "cross_forward", j), self._unknown(g, n.groups, "group"))
            for j, t in enumerate(opts.get("to", [])):
                if not self._matches(t, n.ues):
                    self.err((*opath, "to", j), self._unknown(t, n.ues))

    # timeline, played in time order
    def _timeline(self) -> None:
        entries = self.d.get("timeline", [])
        order = sorted(range(len(entries)), key=lambda i: S.parse_duration(entries[i]["at"]))
        play = _Play(self, {e["create_group"]["group"] for e in entries if "create_group" in e})
        for i in order:
            entry = entries[i]
            at = S.parse_duration(entry["at"])
            if at > self.duration:
                self.err(("timeline", i, "at"), f"time {at:g}s is beyond the scenario's "
                         f"duration {self.duration:g}s")  # fmt: skip
            key = next(k for k in entry if k != "at")
            getattr(play, f"on_{key}")(("timeline", i, key), entry[key], at)

    def _expect(self) -> None:
        n = self.names
        seen: dict[tuple[str, str], tuple[bool, int]] = {}
        for i, d in enumerate(self.d.get("expect", {}).get("decrypt", [])):
            path: Path_ = ("expect", "decrypt", i)
            matched = self._matches(d["ue"], n.ues)
            if not matched:
                self.err((*path, "ue"), self._unknown(d["ue"], n.ues))
            what = f"call {d['call']}" if "call" in d else f"group {d.get('group')}"
            for ue in matched:
                before = seen.setdefault((ue, what), (d["must"], i))
                if before[0] != d["must"]:
                    self.err((*path, "must"), f"contradicts expect.decrypt[{before[1]}] for "
                             f"'{ue}' and {what}")  # fmt: skip
                    break
            if "call" in d and d["call"] not in n.calls:
                self.err((*path, "call"), self._unknown(d["call"], n.calls, "call"))
            if "group" in d and d["group"] not in n.groups:
                self.err((*path, "group"), self._unknown(d["group"], n.groups, "group"))
            if "call" not in d and "group" not in d:
                self.err(path, "needs 'call' or 'group'")

    # helpers
    def _matches(self, selector: str, names: Iterable[str]) -> list[str]:
        return match_names(selector, names)

    def _select(self, selectors: list[str], path: Path_ | None) -> list[str]:
        """Group members picked by selectors; each must carry the 'member' role."""
        out: dict[str, None] = {}
        for j, sel in enumerate(selectors):
            found = match_names(sel, self.names.ues)
            if path is not None:
                if not found:
                    self.err((*path, j), self._unknown(sel, self.names.ues))
                for ue in found:
                    if "member" not in self.names.ue_roles[ue]:
                        self.err((*path, j), f"UE '{ue}' lacks the 'member' role")
            out.update(dict.fromkeys(found))
        return list(out)

    @staticmethod
    def _unknown(name: str, known: Iterable[str], what: str = "UE") -> str:
        if any(c in name for c in "*?["):
            return f"no {what} matches '{name}'"
        return f"unknown {what} '{name}'{_suggest(name, known)}"


class _Play:
    """Replays the timeline in time order, tracking membership, calls, created groups and killed
    UEs, so each action is checked against the state at its time."""

    def __init__(self, sem: _Semantics, created_later: set[str]) -> None:
        self.sem, self.n = sem, sem.names
        self.groups: dict[str, Any] = sem.d.get("groups", {})
        self.created = set(self.n.groups) - created_later  # the rest exist from the start
        self.members = {gid: set(m) for gid, m in sem.members.items()}
        # who distributes a group's GMKs: its manager (a UE or the network) or its creator
        self.keyer = {gid: g.get("manager") or g.get("creator") for gid, g in self.groups.items()}
        self.dead: set[str] = set()
        self.calls: dict[str, tuple[str, float]] = {}  # call id -> (group, end time)
        self.mode = sem.d["medium"]["mode"]
        self.nodes = set(self.n.ues) | self.n.attackers | (
            {self.n.network} if self.n.network else set())

    def ue(self, path: Path_, act: dict[str, Any], field: str) -> str | None:
        name = act[field]
        if name not in self.n.ues:
            self.sem.err((*path, field), self.sem._unknown(name, self.n.ues))
            return None
        if name in self.dead:
            self.sem.err((*path, field), f"UE '{name}' was killed earlier")
        return str(name)

    def group(self, path: Path_, act: dict[str, Any], at: float, *, keyed: bool = False,
              exists: bool = True) -> str | None:  # fmt: skip
        gid = act["group"]
        if gid not in self.n.groups:
            self.sem.err((*path, "group"), self.sem._unknown(gid, self.n.groups, "group"))
            return None
        if exists and gid not in self.created:
            self.sem.err((*path, "group"), f"group '{gid}' is not created yet at {at:g}s")
        if keyed and self.keyer.get(gid) in self.dead:
            self.sem.err((*path, "group"), f"'{self.keyer[gid]}', who distributes the GMKs of "
                         f"'{gid}', was killed earlier")  # fmt: skip
        return str(gid)

    def on_call(self, path: Path_, act: dict[str, Any], at: float) -> None:
        g, s = self.group(path, act, at), self.ue(path, act, "speaker")
        if g and s and s not in self.members[g]:
            self.sem.err((*path, "speaker"), f"'{s}' is not a member of '{g}' at {at:g}s")
        if g:
            self.calls[act["id"]] = (g, at + S.parse_duration(act.get("duration", 10.0)))

    def on_talk(self, path: Path_, act: dict[str, Any], at: float) -> None:
        u, cid = self.ue(path, act, "ue"), act["call"]
        if cid not in self.n.calls:
            self.sem.err((*path, "call"), self.sem._unknown(cid, self.n.calls, "call"))
        elif cid not in self.calls:
            self.sem.err((*path, "call"), f"call '{cid}' has not started at {at:g}s")
        elif at > self.calls[cid][1]:
            self.sem.err((*path, "call"), f"call '{cid}' ended at {self.calls[cid][1]:g}s")
        elif u and u not in self.members[self.calls[cid][0]]:
            self.sem.err((*path, "ue"), f"'{u}' is not a member of '{self.calls[cid][0]}' at "
                         f"{at:g}s")  # fmt: skip

    def on_move(self, path: Path_, act: dict[str, Any], at: float) -> None:
        if act["ue"] not in self.n.attackers:
            self.ue(path, act, "ue")
        if self.mode != "range":
            self.sem.err(path, "move needs medium mode 'range'", key=True)

    def on_link_down(self, path: Path_, act: dict[str, Any], at: float) -> None:
        for end in ("a", "b"):
            if act[end] not in self.nodes:
                self.sem.err((*path, end), self.sem._unknown(act[end], self.nodes,
                                                             "UE or attacker"))  # fmt: skip
        if self.mode == "links" and frozenset((act["a"], act["b"])) not in self.sem.links:
            self.sem.err(path, f"no link {act['a']}–{act['b']} in medium.links", key=True)

    on_link_up = on_link_down

    def on_add_member(self, path: Path_, act: dict[str, Any], at: float) -> None:
        g, u = self.group(path, act, at, keyed=True), self.ue(path, act, "ue")
        if u and "member" not in self.n.ue_roles[u]:
            self.sem.err((*path, "ue"), f"UE '{u}' lacks the 'member' role")
        if g and u:
            if u in self.members[g]:
                self.sem.err((*path, "ue"), f"'{u}' is already a member of '{g}' at {at:g}s")
            self.members[g].add(u)

    def on_remove_member(self, path: Path_, act: dict[str, Any], at: float) -> None:
        g, u = self.group(path, act, at, keyed=True), self.ue(path, act, "ue")
        if g and u:
            if u == self.groups[g].get("creator"):
                self.sem.err((*path, "ue"), f"'{u}' created ad-hoc group '{g}' and distributes "
                             "its GMKs: it cannot be removed")  # fmt: skip
            elif u not in self.members[g]:
                self.sem.err((*path, "ue"), f"'{u}' is not a member of '{g}' at {at:g}s")
            self.members[g].discard(u)

    def on_rekey(self, path: Path_, act: dict[str, Any], at: float) -> None:
        self.group(path, act, at, keyed=True)

    def on_create_group(self, path: Path_, act: dict[str, Any], at: float) -> None:
        g = self.group(path, act, at, keyed=True, exists=False)
        if g in self.created:
            self.sem.err((*path, "group"), f"group '{g}' already exists at {at:g}s")
        if g:
            self.created.add(g)

    def on_attack_start(self, path: Path_, act: dict[str, Any], at: float) -> None:
        if act["attacker"] not in self.n.attackers:
            self.sem.err((*path, "attacker"), self.sem._unknown(act["attacker"],
                                                                self.n.attackers, "attacker"))

    on_attack_stop = on_attack_start

    def on_kill(self, path: Path_, act: dict[str, Any], at: float) -> None:
        u = self.ue(path, act, "ue")
        if u:
            self.dead.add(u)

    def on_discover(self, path: Path_, act: dict[str, Any], at: float) -> None:
        self.ue(path, act, "ue")
        t = act.get("target")
        if t is None:
            return
        if act.get("model", "A") == "A":
            self.sem.err((*path, "target"), "a target is only used with model 'B' "
                         "(solicitation); model A announces")  # fmt: skip
        if t not in self.n.ues and t not in self.n.groups:
            self.sem.err((*path, "target"), self.sem._unknown(t, set(self.n.ues) | self.n.groups,
                                                              "UE or group"))  # fmt: skip

    def on_set_clock(self, path: Path_, act: dict[str, Any], at: float) -> None:
        self.ue(path, act, "ue")

    def on_d2d_link(self, path: Path_, act: dict[str, Any], at: float) -> None:
        a, b = self.ue(path, act, "a"), self.ue(path, act, "b")
        if a and a == b:
            self.sem.err((*path, "b"), "a direct link joins two different UEs")
        if "via" in act and act["via"] not in self.n.relays:
            self.sem.err((*path, "via"), self.sem._unknown(act["via"], self.n.relays, "relay"))


# --- building the model (after all checks pass)
def _build(data: dict[str, Any], source: str) -> M.Scenario:
    all_ues = expand_ue_sets(data)
    ue_names = list(all_ues)

    def select(selectors: Iterable[str], extra: Iterable[str] = ()) -> tuple[str, ...]:
        pool = dict.fromkeys([*ue_names, *extra])  # ordered, O(1) membership
        out: dict[str, None] = {}
        for sel in selectors:
            out.update(dict.fromkeys(match_names(sel, pool)))
        return tuple(out)

    ues = []
    for name, (_, u) in all_ues.items():
        ident = u["identity"]
        ues.append(M.UE(name, user=ident.get("user"), imei=ident.get("me", {}).get("imei"),
                        roles=tuple(u.get("roles", ["member"])), position=u.get("position"),
                        in_coverage=u.get("in_coverage", False),
                        clock_offset=S.parse_duration(u.get("clock_offset", 0)),
                        ssrc=u.get("ssrc"), first_seq=u.get("first_seq")))  # fmt: skip
    groups = []
    raw_groups = data.get("groups", {})
    for gid, g in raw_groups.items():
        members = list(select(g.get("members", [])))
        for c in g.get("constituents", []):
            members += [m for m in select(raw_groups[c].get("members", [])) if m not in members]
        gmk = g.get("gmk", {})
        mc = g.get("multicast")
        groups.append(M.Group(
            gid, g["type"], tuple(members), g.get("manager"), g.get("creator"),
            tuple(g.get("constituents", ())), g.get("uri"), g.get("l2_group_id"),
            M.Multicast(mc["address"], mc.get("port", M.MONP_PORT)) if mc else None,
            M.Gmk(S.parse_duration(gmk["period"]) if "period" in gmk else None,
                  S.parse_duration(gmk.get("activation", 0)),
                  S.parse_duration(gmk["max_adhoc_period"]) if "max_adhoc_period" in gmk
                  else None),
        ))  # fmt: skip
    relays = [M.Relay(name, r["ue"], r["kind"], r.get("relay_service_code"), r.get("upstream"),
                      tuple(r.get("serves", ())))
              for name, r in data.get("relays", {}).items()]  # fmt: skip
    group_ids = list(raw_groups)
    attackers = [
        M.Attacker(name, a["role"], select(a.get("targets", []), group_ids), a.get("position"),
                   S.parse_duration(a.get("start", 0)),
                   S.parse_duration(a["stop"]) if "stop" in a else None, a.get("rate"),
                   a.get("count"), a.get("seed"), S.parse_duration(a.get("clock_offset", 0)),
                   tuple(M.Attacker.parse_options(
                       {**a.get("options", {}),
                        **({"to": list(select(a["options"]["to"]))}
                           if "to" in a.get("options", {}) else {})}).items()))
        for name, a in data.get("attackers", {}).items()
    ]  # fmt: skip
    timeline = []
    for entry in data.get("timeline", []):
        key = next(k for k in entry if k != "at")
        timeline.append(M.At(S.parse_duration(entry["at"]), M.ACTIONS[key].from_dict(entry[key])))
    exp = data.get("expect", {})
    decrypt = [M.Decrypt(u, d["must"], d.get("call"), d.get("group"))
               for d in exp.get("decrypt", []) for u in select([d["ue"]])]  # fmt: skip
    figures = [M.Figure.parse(k, v) for k, v in exp.get("figures", {}).items()]
    kms = data.get("kms", {})
    net = data.get("network")
    default_kms = M.Kms()
    return M.Scenario(
        name=data["name"],
        duration=S.parse_duration(data["duration"]),
        description=data.get("description", ""),
        seed=data.get("seed", 0),
        version=data["version"],
        kms=M.Kms(kms.get("uri", default_kms.uri),
                  S.parse_duration(kms.get("key_period", default_kms.key_period)),
                  S.parse_duration(kms.get("key_period_offset", 0)), kms.get("community")),
        network=M.Network(net["name"], tuple(net.get("services", ("kms", "gms"))))
        if net else None,
        ues=tuple(ues),
        groups=tuple(groups),
        medium=M.Medium.from_dict(data["medium"]),
        relays=tuple(relays),
        attackers=tuple(attackers),
        timeline=tuple(timeline),
        expect=M.Expect(tuple(decrypt), tuple(figures),
                        exp.get("zero_security_acceptances", True), exp.get("invariants", True)),
        source=source,
    )  # fmt: skip


# --- entry points
def _check_and_build(data: Any, marks: _Marks) -> M.Scenario:
    problems = schema_problems(data, marks)
    if problems:
        raise ScenarioError(problems)
    try:
        problems = _Semantics(data, marks).run()
        if problems:
            raise ScenarioError(problems)
        return _build(data, marks.source)
    except (ValueError, KeyError, TypeError) as exc:  # the schema let through what we cannot use
        raise ScenarioError([Problem(0, 0, "", f"cannot use this scenario ({exc!r}); please "
                                     "report it: the schema should have rejected it",
                                     marks.source)]) from exc  # fmt: skip


def scenario_from_data(data: Any, *, source: str = "<dict>") -> M.Scenario:
    """Validate plain data (no positions: errors carry the path only) and build the model."""
    return _check_and_build(data, _Marks(source))


def loads_scenario(text: str, source: str = "<string>") -> M.Scenario:
    """Parse, validate and build a scenario from YAML text."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        raise ScenarioError([Problem(0, 0, "", f"file larger than {MAX_FILE_BYTES} bytes",
                                     source)])  # fmt: skip
    data, marks = _compose(text, source)
    return _check_and_build(data, marks)


def load_scenario(path: str | Path) -> M.Scenario:
    """Load ``path`` (YAML). Raises :class:`ScenarioError` (a ConfigError) with every problem as
    ``FILE:LINE:COL: path.to.field: message``."""
    p = Path(path)
    try:
        if p.stat().st_size > MAX_FILE_BYTES:
            raise ScenarioError([Problem(0, 0, "", f"file larger than {MAX_FILE_BYTES} bytes",
                                         str(p))])  # fmt: skip
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError([Problem(0, 0, "", f"cannot read: {exc.strerror}", str(p))]) from None
    except UnicodeDecodeError as exc:
        raise ScenarioError([Problem(0, 0, "", f"not UTF-8 text ({exc.reason} at byte "
                                     f"{exc.start})", str(p))]) from None  # fmt: skip
    return loads_scenario(text, str(p))
