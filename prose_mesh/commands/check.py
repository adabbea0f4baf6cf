"""``prose-mesh check SCENARIO``: validate a scenario file and print its plan.

Exit codes (``prose_mesh.cli``): 0 the scenario is valid, 2 it is not (every problem is printed
as ``FILE:LINE:COL: path.to.field: message`` on stderr). ``--yaml`` prints the normalised
scenario instead of the plan (UE sets and globs expanded, durations in seconds).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from rich.console import Console
from rich.table import Table

from prose_mesh.scenario import model as M
from prose_mesh.scenario.loader import ScenarioError, load_scenario

MAX_ROWS = 40  # long lists (2000 UEs) are cut, with a count of what is left out


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "check", help="validate a scenario file and print its plan"
    )
    parser.add_argument("scenario", help="scenario YAML file")
    parser.add_argument("--yaml", action="store_true", help="print the normalised scenario")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        scenario = load_scenario(args.scenario)
    except ScenarioError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        n = len(exc.problems)
        print(f"{args.scenario}: {n} problem{'s' if n != 1 else ''}", file=sys.stderr)
        return 2
    if args.yaml:
        sys.stdout.write(scenario.to_yaml())
        return 0
    print_plan(scenario, Console(width=max(Console().width, 110)))
    return 0


def _t(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds and abs(seconds) < 1:
        return f"{seconds * 1000:g} ms"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if abs(seconds) >= size and float(seconds / size).is_integer():
            return f"{seconds / size:g} {unit}"
    return f"{seconds:g} s"


def _names(names: tuple[str, ...], limit: int = 8) -> str:
    if len(names) <= limit:
        return ", ".join(names)
    return f"{', '.join(names[:limit])} … (+{len(names) - limit})"


def _opt(value: Any) -> str:
    if isinstance(value, tuple):
        return _names(tuple(str(v) for v in value), 4)
    if isinstance(value, M.Reorder):
        return value.to_yaml()
    return str(value)


def _imp(imp: M.Impairments) -> str:
    return "; ".join(f"{k} {v}" for k, v in imp.to_dict().items()) or "-"


def _table(title: str, *columns: str) -> Table:
    table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    for col in columns:
        table.add_column(col)
    return table


def _rows(console: Console, table: Table, rows: list[tuple[str, ...]]) -> None:
    if not rows:
        return
    for row in rows[:MAX_ROWS]:
        table.add_row(*row)
    if len(rows) > MAX_ROWS:
        table.add_row(f"… {len(rows) - MAX_ROWS} more", *[""] * (len(table.columns) - 1))
    console.print(table)
    console.print()


def print_plan(s: M.Scenario, console: Console) -> None:
    """The plan as tables: what runs, where, when, and what must hold at the end."""
    console.print(f"[bold]{s.name}[/bold] — {s.description or '(no description)'}")
    console.print(f"source {s.source}  duration {_t(s.duration)}  seed {s.seed}  "
                  f"KMS {s.kms.uri} (key period {_t(s.kms.key_period)})")  # fmt: skip
    if s.network:
        console.print(f"network namespace '{s.network.name}': {', '.join(s.network.services)}")
    console.print()
    ues = _table(f"UEs ({len(s.ues)})", "name", "identity", "roles", "position", "coverage",
                 "clock")  # fmt: skip
    _rows(console, ues, [
        (u.name, u.identity_uri, ",".join(u.roles),
         f"({u.position[0]:g}, {u.position[1]:g})" if u.position else "-",
         "yes" if u.in_coverage else "", _t(u.clock_offset) if u.clock_offset else "")
        for u in s.ues])  # fmt: skip
    if s.groups:
        groups = _table("Groups", "id", "type", "keyed by", "members", "L2 group ID", "GMK")
        _rows(console, groups, [
            (g.id, g.type, g.manager or g.creator or "-",
             f"{len(g.members)}: {_names(g.members)}",
             f"{g.l2_group_id:#08x}" if g.l2_group_id else "default",
             f"period {_t(g.gmk.period)}" if g.gmk.period else "on demand")
            for g in s.groups])  # fmt: skip
    m = s.medium
    head = f"Medium: {m.mode}"
    if m.mode == "range" and m.range is not None:
        head += f", range {m.range:g} m" + (f" (fades from {m.fade_start:g} m)"
                                            if m.fade_start is not None else "")  # fmt: skip
    elif m.path_loss is not None:
        pl = m.path_loss
        head += (f", path loss {pl.tx_dbm:g} dBm - {pl.pl0_db:g} dB - {10 * pl.exponent:g}"
                 f"·log10(d), sensitivity {pl.sensitivity_dbm:g} dBm, fade {pl.fade_margin_db:g}"
                 " dB")  # fmt: skip
    if m.capacity:
        head += f", capacity {m.capacity.rate} bit/s"
    console.print(f"{head}; default impairments: {_imp(m.default)}", soft_wrap=True)
    links = _table(f"Links ({len(m.links)})", "a", "b", "direction", "impairments", "down")
    if not m.links:
        console.print()
    _rows(console, links, [] if not m.links else [
        (x.a, x.b, "both" if x.symmetric else "a→b", _imp(x.impairments),
         ", ".join(f"{_t(w.at)} for {_t(w.length)}" for w in x.down))
        for x in m.links])  # fmt: skip
    if s.relays:
        relays = _table("Relays", "name", "UE", "kind", "RSC", "upstream", "serves")
        _rows(console, relays, [
            (r.name, r.ue, r.kind,
             f"{r.relay_service_code:#08x}" if r.relay_service_code is not None else "-",
             r.upstream or ("network" if r.kind == "ue_to_network" else "-"), _names(r.serves))
            for r in s.relays])  # fmt: skip
    if s.attackers:
        att = _table("Attackers", "name", "role", "targets", "window", "rate / count", "options")
        _rows(console, att, [
            (a.name, a.role, _names(a.targets) or "-",
             f"{_t(a.start)} – {_t(a.stop) if a.stop is not None else 'end'}",
             f"{a.rate or '-'} /s, {a.count or '∞'}",
             "; ".join(f"{k}={_opt(v)}" for k, v in a.options))
            for a in s.attackers])  # fmt: skip
    tl = _table("Timeline", "at", "action", "details")
    _rows(console, tl, [
        (_t(e.at), e.action.KEY,
         " ".join(f"{k}={_t(v) if k in e.action.DURATION_FIELDS else v}"
                  for k, v in e.action.to_dict().items()))
        for e in s.timeline])  # fmt: skip
    exp = _table("Expectations", "check", "condition")
    grouped: dict[tuple[str, bool], list[str]] = {}
    for d in s.expect.decrypt:
        target = f"call {d.call}" if d.call else f"group {d.group}"
        grouped.setdefault((target, d.must), []).append(d.ue)
    rows = [(f"{_names(tuple(ues))} decrypt {target}", "must" if must else "must not")
            for (target, must), ues in grouped.items()]  # fmt: skip
    rows += [(f.metric, f.to_yaml()) for f in s.expect.figures]
    rows.append(("security acceptances", "== 0" if s.expect.zero_security_acceptances
                 else "not checked"))  # fmt: skip
    rows.append(("§5 invariants", "hold" if s.expect.invariants else "not checked"))
    _rows(console, exp, rows)
