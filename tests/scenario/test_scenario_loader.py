"""The scenario loader: examples load, broken files fail at the right line, schema agreement."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from prose_mesh.errors import ConfigError
from prose_mesh.scenario import model as M
from prose_mesh.scenario.loader import ScenarioError, load_scenario, loads_scenario
from prose_mesh.scenario.schema import DRAFT, build_schema

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "scripts").glob("*.yaml")) + sorted(
    (REPO / "scripts" / "attacks").glob("*.yaml")
)
BROKEN = sorted((Path(__file__).parent / "broken").glob("*.yaml"))
SCHEMA_FILE = REPO / "prose_mesh" / "scenario" / "scenario.schema.json"


def _ids(paths):
    return [p.stem for p in paths]


def _independent_validator():
    """A validator built straight from the published file, not through the loader."""
    schema = json.loads(SCHEMA_FILE.read_text())
    return jsonschema.Draft202012Validator(schema)


def _header(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        m = re.match(r"# (kind|path|message): ?(.*)$", line)
        if m:
            out[m.group(1)] = m.group(2)
    lines = [i for i, t in enumerate(path.read_text().splitlines(), 1) if "# <-- error" in t]
    assert len(lines) == 1, f"{path.name}: exactly one '# <-- error' marker"
    out["line"] = str(lines[0])
    return out


# --- examples
def test_required_examples_exist():
    names = {p.relative_to(REPO / "scripts").as_posix() for p in EXAMPLES}
    required = {"d2d-3.yaml", "adhoc-20.yaml", "relay-chain.yaml", "standard-group.yaml",
                "temporary-regroup.yaml", "standard-2000.yaml"}
    assert required <= names
    attacks = {n for n in names if n.startswith("attacks/")}
    for tag in ("a1-", "b1-", "b2-", "d2-", "f2-"):
        assert any(n.startswith(f"attacks/{tag}") for n in attacks), tag


@pytest.mark.parametrize("path", EXAMPLES, ids=_ids(EXAMPLES))
def test_example_loads_with_header(path):
    text = path.read_text()
    assert text.startswith("# "), "each example opens with a comment saying what it shows"
    s = load_scenario(path)
    assert s.name == path.stem
    assert s.ues and s.timeline
    assert all(a.at <= s.duration for a in s.timeline)
    assert [e.at for e in s.timeline] == sorted(e.at for e in s.timeline)


def test_adhoc_20_is_the_demo_described():
    s = load_scenario(REPO / "scripts" / "adhoc-20.yaml")
    assert len(s.ues) == 20 and all(u.is_me for u in s.ues)
    (g,) = s.groups
    assert g.type == "adhoc" and g.creator in g.members and len(g.members) == 19
    calls = s.calls()
    assert len(calls) == 3 and len({c.speaker for c in calls}) == 3
    kinds = [e.action.KEY for e in s.timeline]
    assert "add_member" in kinds
    assert kinds.index("remove_member") < kinds.index("rekey")
    late = next(e.action.ue for e in s.timeline if isinstance(e.action, M.AddMember))
    assert late not in g.members
    removed = next(e.action.ue for e in s.timeline if isinstance(e.action, M.RemoveMember))
    last_call = calls[-1].id
    assert M.Decrypt(removed, False, call=last_call) in s.expect.decrypt
    # glob expectations are expanded to one per UE: 19 + 1 for c1, 20 for c2, 20 for c3
    assert len(s.expect.decrypt) == 60


def test_relay_chain_depth_and_kill():
    s = load_scenario(REPO / "scripts" / "relay-chain.yaml")
    depth = {}
    for r in s.relays:
        d, cur = 1, r
        while cur.upstream:
            cur, d = s.relay(cur.upstream), d + 1
        depth[r.name] = d
    assert max(depth.values()) == 3
    assert any(r.kind == "ue_to_ue" for r in s.relays)
    # halfway, the relay the far end links to first dies; a second relay of the same code
    # serves the same far UEs (the reselection target)
    via = next(e.action.via for e in s.timeline if isinstance(e.action, M.D2DLink)
               and e.action.a == "far1")
    first = s.relay(via)
    kill = next(e for e in s.timeline if isinstance(e.action, M.Kill))
    assert kill.action.ue == first.ue and kill.at == s.duration / 2
    others = [r for r in s.relays if r.relay_service_code == first.relay_service_code
              and r.upstream == first.upstream and r.name != first.name]
    assert others, "no relay to reselect"
    assert s.network is not None and s.group("fire").manager == s.network.name


def test_standard_2000_is_compact_and_complete():
    path = REPO / "scripts" / "standard-2000.yaml"
    assert len(path.read_text().splitlines()) < 100
    s = load_scenario(path)
    g = s.group("county")
    assert len(g.members) == 2000 and len(set(g.members)) == 2000
    assert s.ue("m0001").user == "sip:m0001@county.example.org"
    assert s.ue("m2000").position == (490.0, 390.0)  # index 1999: column 49, row 39, 10 m grid


# --- broken files
def test_enough_broken_files():
    assert len(BROKEN) >= 15


@pytest.mark.parametrize("path", BROKEN, ids=_ids(BROKEN))
def test_broken_file_reports_line_and_message(path):
    want = _header(path)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    problems = info.value.problems
    hits = [p for p in problems if want["message"] in p.message and p.path == want["path"]]
    assert hits, f"expected {want} in:\n{info.value.detail}"
    assert hits[0].line == int(want["line"])
    assert hits[0].source == str(path)
    assert str(hits[0]).startswith(f"{path}:{want['line']}:")


@pytest.mark.parametrize("path", BROKEN, ids=_ids(BROKEN))
def test_schema_agrees_on_broken_file(path):
    """Structural faults are faults for any Draft 2020-12 validator using the published schema;
    semantic faults are invisible to it (the loader adds them)."""
    kind = _header(path)["kind"]
    if kind == "yaml":
        pytest.skip("YAML-level fault (duplicate key, alias, syntax): not visible as JSON")
    data = yaml.safe_load(path.read_text())
    errors = list(_independent_validator().iter_errors(data))
    if kind == "schema":
        assert errors
        want_path = _header(path)["path"]
        assert any(".".join(map(str, e.absolute_path)) in want_path.replace("[", ".").replace(
            "]", "") for e in errors)
    else:
        assert kind == "semantic" and not errors


@pytest.mark.parametrize("path", EXAMPLES, ids=_ids(EXAMPLES))
def test_schema_agrees_on_example_and_its_dump(path):
    validator = _independent_validator()
    assert not list(validator.iter_errors(yaml.safe_load(path.read_text())))
    assert not list(validator.iter_errors(load_scenario(path).to_dict()))


def test_schema_and_model_name_the_same_actions():
    """Each timeline action's schema keys are exactly the dataclass fields, and every action
    has a semantic check; so a field added on one side only fails here."""
    from prose_mesh.scenario.loader import _Play
    from prose_mesh.scenario.schema import TIMELINE_ACTIONS

    entry = build_schema()["properties"]["timeline"]["items"]["properties"]
    assert set(M.ACTIONS) == set(TIMELINE_ACTIONS) == set(entry) - {"at"}
    for key, cls in M.ACTIONS.items():
        fields = {f.name for f in dataclasses.fields(cls)}
        assert set(entry[key]["properties"]) == fields, key
        required = {f.name for f in dataclasses.fields(cls)
                    if f.default is dataclasses.MISSING}
        assert set(entry[key].get("required", ())) == required, key
        assert callable(getattr(_Play, f"on_{key}")), key


def test_schema_file_is_generated_and_valid():
    published = json.loads(SCHEMA_FILE.read_text())
    assert published == build_schema(), "regenerate: python -m prose_mesh.scenario.schema"
    assert published["$schema"] == DRAFT == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(published)


# --- round trips
@pytest.mark.parametrize("path", EXAMPLES, ids=_ids(EXAMPLES))
def test_round_trip(path):
    s = load_scenario(path)
    assert M.Scenario.from_dict(s.to_dict()) == s
    assert loads_scenario(s.to_yaml(), "dump.yaml") == s


# --- Python API
def _built() -> M.Scenario:
    return M.Scenario(
        name="py", duration=20.0,
        ues=[M.UE("ue1", user="sip:ue1@example.org", position=(0, 0)),
             M.UE("ue2", imei="353456789012347", position=(10, 0)),
             M.UE("ue3", user="sip:ue3@example.org", position=(20, 0))],
        groups=[M.Group("g1", "adhoc", creator="ue2", members=["ue1", "ue2", "ue3"])],
        medium=M.Medium(range=100.0, default=M.Impairments(delay=M.Delay(0.005),
                                                           loss=M.Loss(0.01))),
        timeline=[M.At(3.0, M.Call(id="c1", group="g1", speaker="ue3")),
                  M.At(1.0, M.CreateGroup(group="g1"))],
        expect=M.Expect(decrypt=[M.Decrypt("ue1", True, call="c1")]),
    )  # fmt: skip


PY_YAML = """
version: 1
name: py
duration: 20s
ues:
  ue1: {identity: {user: "sip:ue1@example.org"}, position: [0, 0]}
  ue2: {identity: {me: {imei: "353456789012347"}}, position: [10, 0]}
  ue3: {identity: {user: "sip:ue3@example.org"}, position: [20, 0]}
groups:
  g1: {type: adhoc, creator: ue2, members: ["ue*"]}
medium: {mode: range, range: 100, default: {delay: 5ms, loss: "1%"}}
timeline:
  - {at: 3s, call: {id: c1, group: g1, speaker: ue3}}
  - {at: 1s, create_group: {group: g1}}
expect:
  decrypt: [{ue: ue1, call: c1, must: true}]
"""


def test_python_objects_equal_yaml():
    built = _built().validate()
    assert built == loads_scenario(PY_YAML)
    assert [e.action.KEY for e in built.timeline] == ["create_group", "call"]


def test_python_objects_are_checked():
    bad = M.Scenario(name="py", duration=5.0, ues=[M.UE("ue1", imei="353456789012347",
                                                        position=(0, 0))],
                     groups=[M.Group("g1", "standard", members=["ue1"])],
                     medium=M.Medium(range=50.0))  # fmt: skip
    with pytest.raises(ScenarioError) as info:
        bad.validate()
    (p,) = info.value.problems
    assert p.path == "groups.g1" and "needs a 'manager'" in p.message and p.line == 0


def test_from_dict_reports_paths():
    data = yaml.safe_load(PY_YAML)
    data["ues"]["ue1"]["clock"] = 1
    with pytest.raises(ScenarioError) as info:
        M.Scenario.from_dict(data)
    assert str(info.value.problems[0]) == (
        "<dict>: ues.ue1.clock: unknown key 'clock' (did you mean 'clock_offset'?)")


def test_me_identity_uri_is_rfc7254_urn():
    # the example instance-id of TS 24.229 / RFC 7254 §4
    assert M.UE("x", imei="904201560257630").identity_uri == "urn:gsma:imei:90420156-025763-0"
    assert M.UE("y", user="sip:y@example.org").identity_uri == "sip:y@example.org"


def test_model_is_frozen():
    s = _built()
    with pytest.raises(AttributeError):
        s.name = "other"  # type: ignore[misc]
    assert isinstance(s.ues, tuple) and isinstance(s.groups[0].members, tuple)


# --- loader robustness
def test_collects_all_problems_sorted():
    text = PY_YAML.replace("position: [10, 0]", "positon: [10, 0]").replace(
        "seed", "x").replace("duration: 20s", "duration: 20s\nseed: -1")
    with pytest.raises(ScenarioError) as info:
        loads_scenario(text, "many.yaml")
    probs = info.value.problems
    assert [p.path for p in probs] == ["seed", "ues.ue2.positon"]
    assert [p.line for p in probs] == sorted(p.line for p in probs)
    assert isinstance(info.value, ConfigError) and info.value.reason == "BAD_CONFIG"


def test_semantic_problems_collected_together():
    text = PY_YAML.replace("speaker: ue3", "speaker: ue7").replace("ue: ue1,", "ue: ue8,")
    with pytest.raises(ScenarioError) as info:
        loads_scenario(text)
    assert {p.path for p in info.value.problems} == {
        "timeline[0].call.speaker", "expect.decrypt[0].ue"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- 1\n- 2\n", "expected a mapping, got list"),
        ("version: 1\n---\nversion: 1\n", "expected one YAML document, found 2"),
        ("", "expected one YAML document, found 0"),
        ("a: &a [1, 2]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
         "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
         "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
         "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
         "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n", "document too large"),
        ("version: 1\nname: !!binary aGk=\n", "unsupported YAML value"),
        ("version: 1\nduration: .inf\n", "not a finite number"),
        ("? [a, b]\n: 1\n", "a key must be a plain string"),
        ("a: " + "[" * 100_000 + "]" * 100_000 + "\n", "nested deeper than 32 levels"),
        ("a0: &a0 [1]\n" + "".join(f"a{i}: &a{i} [*a{i - 1}]\n" for i in range(1, 40)),
         "nested deeper than 32 levels"),
    ],
    ids=["list", "two-docs", "empty", "billion-laughs", "binary", "inf", "complex-key",
         "deep-nesting", "deep-aliases"],
)
def test_hostile_yaml_rejected(text, message):
    with pytest.raises(ScenarioError) as info:
        loads_scenario(text, "h.yaml")
    assert any(message in p.message for p in info.value.problems), info.value.detail


def test_unreadable_inputs(tmp_path):
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario(tmp_path / "missing.yaml")
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes(b"name: caf\xe9\n")
    with pytest.raises(ScenarioError, match="not UTF-8"):
        load_scenario(bad)
    with pytest.raises(ScenarioError, match="larger than"):
        loads_scenario("#" * (9 * 1024 * 1024))


def test_range_becomes_path_loss():
    # defaults: tx 23 dBm, PL0 40 dB, n = 3. rx(100 m) = 23 - 40 - 30*2 = -77 dBm; the margin
    # at 50 m is 30*log10(2) = 9.0309 dB.
    m = M.Medium(range=100.0, fade_start=50.0).effective_path_loss()
    assert m.sensitivity_dbm == pytest.approx(-77.0)
    assert m.fade_margin_db == pytest.approx(9.0309, abs=1e-4)
    hard = M.Medium(range=100.0).effective_path_loss()
    assert hard.fade_margin_db == 0.0
    explicit = M.PathLoss(exponent=2.0)
    assert M.Medium(path_loss=explicit).effective_path_loss() == explicit
    assert M.Medium(mode="links").effective_path_loss() is None


def test_range_and_path_loss_are_exclusive():
    text = PY_YAML.replace("medium: {mode: range, range: 100,",
                           "medium: {mode: range, range: 100, path_loss: {exponent: 2},")
    with pytest.raises(ScenarioError, match="exactly one of 'range'"):
        loads_scenario(text)
    ok = loads_scenario(PY_YAML.replace("range: 100,", "path_loss: {exponent: 2.5},"))
    assert ok.medium.path_loss == M.PathLoss(exponent=2.5)
    assert M.Scenario.from_dict(ok.to_dict()) == ok


def test_set_clock_action_loads_round_trips_and_is_checked():
    """I1's resync: ``set_clock`` steps a UE's clock at run time (signed offset); a misspelt
    field is named with its file and line, a later step of a killed UE is refused."""
    text = PY_YAML.replace(
        "  - {at: 1s, create_group: {group: g1}}\n",
        "  - {at: 1s, create_group: {group: g1}}\n"
        "  - {at: 4s, set_clock: {ue: ue2, offset: -1.5s}}\n"
        "  - {at: 5s, set_clock: {ue: ue2, offset: 0}}\n",
    )
    s = loads_scenario(text, "clock.yaml")
    steps = [st for st in s.timeline if isinstance(st.action, M.SetClock)]
    assert [(st.at, st.action) for st in steps] == [
        (4.0, M.SetClock(ue="ue2", offset=-1.5)), (5.0, M.SetClock(ue="ue2", offset=0.0))]
    assert loads_scenario(s.to_yaml(), "dump.yaml") == s
    assert M.Scenario.from_dict(s.to_dict()) == s
    with pytest.raises(ScenarioError) as info:
        loads_scenario(text.replace("offset: -1.5s", "ofset: -1.5s"), "clock.yaml")
    missing, unknown = info.value.problems
    assert (missing.path, missing.message) == ("timeline[2].set_clock",
                                               "missing required key 'offset'")
    assert (unknown.source, unknown.line, unknown.path) == ("clock.yaml", 15,
                                                            "timeline[2].set_clock.ofset")
    assert unknown.message == "unknown key 'ofset' (did you mean 'offset'?)"
    with pytest.raises(ScenarioError) as info:
        loads_scenario(text.replace("offset: -1.5s", "offset: 1.5 s"), "clock.yaml")
    assert [p.path for p in info.value.problems] == ["timeline[2].set_clock.offset"]
    with pytest.raises(ScenarioError) as info:
        loads_scenario(text.replace("create_group: {group: g1}}\n",
                                    "create_group: {group: g1}}\n  - {at: 2s, kill: {ue: ue2}}\n"))
    assert {(p.path, p.message) for p in info.value.problems} == {
        ("timeline[3].set_clock.ue", "UE 'ue2' was killed earlier"),
        ("timeline[4].set_clock.ue", "UE 'ue2' was killed earlier")}
