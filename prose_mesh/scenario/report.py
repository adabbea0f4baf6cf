"""The report of a run: what each UE accepted and rejected, who decrypted what, the figures,
and the verdict on ``scenario.expect`` (``report.json`` in the run folder; a rich summary).

The figures are named as in the scenario files (``call.setup_time.p95``): a metric name, then
an optional statistic (``p50``, ``p95``, ``max``, ``min``, ``mean``, ``count``; default
``max``). An expected figure nobody measured fails the run ("not measured") — an expectation is
never passed by default.

After the run, :func:`prose_mesh.scenario.invariants.check_run` checks the run folder (the same
check ``prose-mesh report RUN`` can repeat on an old run). Keys of ``report.json`` it fills:

* ``invariants`` — the checker's result: ``valid``; ``invariants`` {name: {``ok``, ``detail``,
  counts}} for ``zero_security_acceptances``, ``medium_conservation``,
  ``every_frame_one_verdict``, ``keystream_unique``, ``no_plaintext_in_captures``,
  ``eccsi_r_unique``; ``classes`` (Jepsen set-full classes of the media messages);
  ``rejections_by_reason``, ``rejections_by_kind``, ``security_acceptances``,
  ``frame_classes``, ``legit_traffic``, ``attack_frames``; plus, kept from before,
  ``every_frame_one_verdict`` (bool), ``frames_received``, ``medium_delivered``;
* ``verdict`` — ``attackers`` (the attack runner's rows, ``state.verdict``), ``attack_frames``
  and ``legit_traffic`` (the checker's), ``security_acceptances``: the input of
  :func:`prose_mesh.scenario.verdict.verdict_table`.

``expect.zero_security_acceptances`` fails the run on any security acceptance;
``expect.invariants`` fails it on any other violated invariant.
"""

from __future__ import annotations

import fnmatch
import json
import math
import statistics
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prose_mesh.scenario import model as M
from prose_mesh.scenario.invariants import check_run
from prose_mesh.scenario.verdict import render_verdict, verdict_table

if TYPE_CHECKING:
    from prose_mesh.medium.session import Session
    from prose_mesh.scenario.runner import RunState

_STATS = ("p50", "p95", "p99", "max", "min", "mean", "count")


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in [0, 100]) of the finite values; NaN if there are none."""
    vals = sorted(v for v in values if not math.isnan(v))
    if not vals:
        return math.nan
    rank = max(1, math.ceil(q / 100.0 * len(vals)))
    return vals[rank - 1]


def stat(values: list[float], which: str) -> float:
    finite = [v for v in values if not math.isnan(v)]
    if which == "count":
        return float(len(finite))
    if not finite:
        return math.nan
    if which.startswith("p"):
        return percentile(finite, float(which[1:]))
    return {"max": max, "min": min, "mean": statistics.fmean}[which](finite)


def summarise(values: list[float]) -> dict[str, float | None]:
    out = {k: _r(stat(values, k)) for k in ("count", "p50", "p95", "max")}
    never = sum(1 for v in values if math.isinf(v))
    if never:
        out["never_completed"] = never
    return out


def _r(x: float) -> float | None:
    """JSON-safe: NaN (nothing measured) and +inf (never completed) become null."""
    return round(x, 6) if math.isfinite(x) else None


def decrypted_calls(state: RunState) -> tuple[dict[str, dict[str, int]], list[float]]:
    """Per UE: media packets of each call it decrypted; and every one-way media delay (s)."""
    out: dict[str, dict[str, int]] = {}
    delays: list[float] = []
    for name, played in state.played().items():
        counts: dict[str, int] = {}
        for p in played:
            if p.call is not None:
                counts[p.call] = counts.get(p.call, 0) + 1
                delays.append(p.t - p.sent)
        out[name] = counts
    return out, delays


def call_setup(state: RunState) -> tuple[list[float], list[float]]:
    """Call setup samples (call start → each member's ``call_joined``) and late-entry samples
    (a member added after the group was set up: max(its entry, call start) → ``call_joined``)."""
    setup: list[float] = []
    late: list[float] = []
    for rec in state.calls.values():
        original = set(state.scenario.group(rec.group).members)
        for name, ue in state.ues.items():
            if name == rec.speaker:
                continue
            for t, ev in ue.events("call_joined"):
                if ev.data.get("group") != rec.group_id or not rec.start <= t <= rec.end:
                    continue
                entry = [te for u, g, te in state.entries if u == name and g == rec.group]
                if name not in original and entry:
                    late.append(t - max(rec.start, min(entry)))
                else:
                    setup.append(t - rec.start)
                break
    return setup, late


def evaluate(expect: M.Expect, state: RunState, figures: dict[str, list[float]],
             decrypted: dict[str, dict[str, int]]) -> tuple[list[dict[str, Any]], list[str]]:
    checks: list[dict[str, Any]] = []
    failures: list[str] = []
    names = list(state.ues)
    for d in expect.decrypt:
        matched = fnmatch.filter(names, d.ue) or [d.ue]
        for ue in matched:
            calls = ([d.call] if d.call is not None else
                     [c for c, rec in state.calls.items() if rec.group == d.group])
            what = f"call {d.call}" if d.call is not None else f"group {d.group}"
            n = sum(decrypted.get(ue, {}).get(c, 0) for c in calls)
            # A UE that talked in the call protected media under the call's key: it holds it.
            spoke = any(ue in state.calls[c].senders for c in calls if c in state.calls)
            ok = (n > 0 or spoke) == d.must
            checks.append({"ue": ue, "what": what, "must": d.must, "packets": n,
                           "talked": spoke, "ok": ok})
            if not ok:
                verb = "must decrypt" if d.must else "must not decrypt"
                failures.append(f"{ue} {verb} {what}: decrypted {n} media packets"
                                + (" (and talked in it)" if spoke else ""))
    for f in expect.figures:
        metric, which = f.metric, "max"
        head, _, tail = f.metric.rpartition(".")
        if tail in _STATS:
            metric, which = head, tail
        values = figures.get(metric)
        measured = stat(values, which) if values is not None else math.nan
        ok = not math.isnan(measured) and f.holds(measured)
        checks.append({"figure": f.metric, "op": f.op, "bound": f.value, "unit": f.unit,
                       "measured": _r(measured), "ok": ok})
        if not ok:
            shown = "not measured" if math.isnan(measured) else f"measured {measured:.6g}"
            failures.append(f"{f.metric} {f.op} {f.value:g}{f.unit}: {shown}")
    return checks, failures


def build_report(state: RunState | None, session: Session, *, backend: str, seed: int,
                 charge_cpu: bool, backend_note: str | None = None) -> dict[str, Any]:
    if state is None:
        raise RuntimeError("the run ended before it started")
    decrypted, delays = decrypted_calls(state)
    setup, late = call_setup(state)
    figures: dict[str, list[float]] = {k: list(v) for k, v in state.samples.items()}
    figures["call.setup_time"] = setup
    figures["late_entry.time"] = late
    figures["media.delay"] = delays
    for k, v in state.counts.items():
        figures[k] = [v]
    for name, ue in state.ues.items():
        figures[f"d2d_link.frames_decrypted_by.{name}"] = [float(sum(ue.link_rx.values()))]
    expect = state.scenario.expect
    checks, failures = evaluate(expect, state, figures, decrypted)
    ue_counts = {n: ue.log.summary() for n, ue in state.ues.items()}
    inv = check_run(session.path, canary=state.canary,
                    report={"ues": ue_counts, "medium": state.air.summary()})
    security = inv["invariants"]["zero_security_acceptances"]
    if expect.zero_security_acceptances:
        checks.append({"check": "zero_security_acceptances", "ok": security["ok"],
                       "security_acceptances": inv["security_acceptances"],
                       "detail": security["detail"]})
        if not security["ok"]:
            failures.append(f"security acceptances: {security['detail']} "
                            f"{security['examples']}")
    repeats = {ue.mikey_repeats for ue in state.ues.values()}
    if repeats != {0}:
        state.notes.append(
            f"every MIKEY packet is sent {1 + max(repeats)} times (node MIKEY_REPEAT_GAP apart): "
            "a receiver that installed the first copy rejects the others as gmk REPLAY")
    failures = [*state.failures, *failures]
    unaccounted = {n: ue.log.unaccounted for n, ue in state.ues.items() if ue.log.unaccounted}
    if expect.invariants:
        for name, result in inv["invariants"].items():
            if not result["ok"] and name != "zero_security_acceptances":
                failures.append(f"invariant {name} violated (ADVERSARIAL.md §5): "
                                f"{result['detail']}")
    canary_on_air = _canary_in_capture(session.path / "air.pcapng", state.canary)
    if canary_on_air:
        failures.append(f"media canary seen in clear on the air {canary_on_air} times")
    ues: dict[str, Any] = {}
    for name in state.ues:
        p = state.prov[name]
        ues[name] = {
            "uri": p.uri, "kind": p.kind, "l2id": f"{p.l2id:06x}", "roles": list(p.roles),
            "clock_offset": p.clock_offset, **ue_counts[name],
            "decrypted": decrypted.get(name, {}),
            "imei_check_digit_ok": p.imei_check_digit_ok,
        }  # fmt: skip
    cpu = [ue.log.crypto_cpu_s * 1e3 for ue in state.ues.values()]
    report = {
        "run": session.run_id,
        "scenario": state.scenario.name,
        "source": state.scenario.source,
        "backend": backend,
        "backend_note": backend_note,
        "time": "virtual (MockClock)" if backend == "memory" else "real",
        "crypto_cpu_charged_as_time": charge_cpu,
        "seed": seed,
        "duration_s": state.scenario.duration,
        "figures": {k: summarise(v) for k, v in sorted(figures.items())},
        "crypto_cpu_ms_per_ue": {"mean": round(statistics.fmean(cpu), 3) if cpu else None,
                                 "max": round(max(cpu), 3) if cpu else None},
        "calls": {c.id: {"group": c.group, "speaker": c.speaker, "start": c.start - state.origin,
                         "media_sent": c.sent, "talkers": sorted(c.senders),
                         "errors": c.errors}
                  for c in state.calls.values()},
        "steps": state.steps,
        "notes": state.notes,
        "expectations": checks,
        "canary": state.canary.hex(),  # the media marker (never on the air in clear)
        "canary_in_air_capture": canary_on_air,
        "invariants": {
            **inv,
            "every_frame_one_verdict": not unaccounted
            and inv["invariants"]["every_frame_one_verdict"]["ok"],
            "frames_received": sum(ue.log.frames_in for ue in state.ues.values()),
            "medium_delivered": state.air.summary()["delivered"],
        },
        "verdict": {
            "attackers": state.verdict,
            "attack_frames": inv["attack_frames"],
            "legit_traffic": inv["legit_traffic"],
            "security_acceptances": inv["security_acceptances"],
        },
        "medium": state.air.summary(),
        "ues": ues,
        "failures": failures,
        "path": str(session.path),
    }  # fmt: skip
    (session.path / "report.json").write_text(json.dumps(report, indent=1, default=str) + "\n")
    return report


def _canary_in_capture(path: Path, canary: bytes) -> int:
    """How often the run's media canary appears in clear in the air capture (must be 0)."""
    try:
        return path.read_bytes().count(canary)
    except FileNotFoundError:
        return 0


def print_summary(report: dict[str, Any], *, console: Any = None) -> None:
    """A short terminal summary (rich), ending with the report path."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    table = Table(title=f"{report['scenario']} on {report['backend']} "
                        f"(run {report['run']}, seed {report['seed']})")
    for col in ("UE", "accepted", "rejected (reason: n)", "decrypted calls", "crypto ms"):
        table.add_column(col)
    for name, u in report["ues"].items():
        acc = ", ".join(f"{k} {v}" for k, v in u["accepted"].items()) or "-"
        rej = "; ".join(f"{k}: " + ", ".join(f"{r} {n}" for r, n in rs.items())
                        for k, rs in u["rejected"].items()) or "-"
        dec = ", ".join(f"{c} ({n})" for c, n in sorted(u["decrypted"].items())) or "-"
        table.add_row(name, acc, rej, dec, f"{u['crypto_cpu_ms']:.0f}")
    console.print(table)
    verdict = report.get("verdict") or {}
    if verdict.get("attackers") or verdict.get("attack_frames"):
        render_verdict(verdict_table(report), console)
    inv = report.get("invariants") or {}
    if "valid" in inv:
        bad = [k for k, v in inv["invariants"].items() if not v["ok"]]
        console.print("  invariants: " + ("[green]all hold[/green]" if not bad else
                                          "[red]violated: " + ", ".join(bad) + "[/red]")
                      + f" (security acceptances: {inv['security_acceptances']})")
    figs = report["figures"]
    for key in ("group.setup_time", "call.setup_time", "late_entry.time", "media.delay",
                "rekey.switchover"):
        f = figs.get(key)
        if f and f["count"]:
            never = f" ({f['never_completed']} never completed)" if "never_completed" in f else ""
            console.print(f"  {key}: n={f['count']:.0f} p50={_ms(f['p50'])} "
                          f"p95={_ms(f['p95'])} max={_ms(f['max'])}{never}")
    if report["failures"]:
        console.print(f"[red]{len(report['failures'])} expectation(s) failed:[/red]")
        for line in report["failures"]:
            console.print(f"  [red]x[/red] {line}", soft_wrap=True)
    else:
        n = len(report["expectations"])
        console.print(f"[green]all {n} expectations met[/green]")
    console.file.flush()
    print(f"report: {report['path']}/report.json", flush=True)  # never wrapped: copy-paste


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v * 1e3:.1f}ms"
