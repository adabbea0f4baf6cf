"""The verdict table of a run under attack (issue #7): per attacker, what it tried and what
the receivers made of it; per call, what legitimate traffic still got through and how much
latency the attack added (ADVERSARIAL.md §5, "Reported under attack").

Input is ``report["verdict"]`` (:mod:`prose_mesh.scenario.report`):

* ``attackers`` — the attack runner's rows (``state.verdict``: ``attacker``, ``role``,
  ``injected``, ``accepted``, ``rejected_by_reason``, any other figures it measured);
* ``attack_frames`` — the invariant checker's view of the same attackers from the medium's log
  (:func:`prose_mesh.scenario.invariants.check_run`): frames ``injected`` on the air,
  ``rejected`` by reason, ``accepted`` (security acceptances), ``replayed_authentic_accepted``,
  ``accepted_header_flips`` (a malicious relay's bit flips in headers nothing end to end covers),
  ``window_s``;
* ``legit_traffic`` — per call (stream): ``sent``, ``receivers``, ``deliveries``,
  ``delivered_ratio``, ``lost``, ``never_read``, delay percentiles, ``latency_added_p95_s``
  (p95 one-way delay of media sent while an attacker transmitted minus that of the rest; none
  when either side has no sample).

Where both sources give a figure, the attack runner's (it knows what it meant to send) wins and
the medium's is kept as ``on_air``. :func:`verdict_table` flattens that into rows (``row`` =
``"attack"`` or ``"legit"``) for JSON and the HTML report; :func:`render_verdict` prints them.
"""

from __future__ import annotations

from typing import Any


def verdict_table(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows of the verdict table of ``report`` (attackers first, then each call)."""
    v = report.get("verdict") or {}
    frames: dict[str, dict[str, Any]] = dict(v.get("attack_frames") or {})
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for given in v.get("attackers") or []:
        name = str(given.get("attacker", "?"))
        seen.add(name)
        rows.append(_attack_row(name, given, frames.get(name, {})))
    for name, medium in sorted(frames.items()):
        if name not in seen:
            rows.append(_attack_row(name, {}, medium))
    for stream, t in sorted((v.get("legit_traffic") or {}).items()):
        rows.append({
            "row": "legit", "stream": stream, "talkers": t.get("talkers", []),
            "sent": t.get("sent", 0), "receivers": len(t.get("receivers", [])),
            "deliveries": t.get("deliveries", 0), "lost": t.get("lost", 0),
            "never_read": t.get("never_read", 0),
            "delivered_ratio": t.get("delivered_ratio"),
            "delay_p95_s": t.get("delay_p95_s"),
            "latency_added_p95_s": t.get("latency_added_p95_s"),
        })  # fmt: skip
    return rows


def _attack_row(name: str, given: dict[str, Any], medium: dict[str, Any]) -> dict[str, Any]:
    rejected = given.get("rejected_by_reason")
    if rejected is None:
        rejected = medium.get("rejected", {})
    row = {
        "row": "attack", "attacker": name, "role": given.get("role"),
        "injected": given.get("injected", medium.get("injected", 0)),
        "accepted": given.get("accepted", medium.get("accepted", 0)),
        "rejected": sum(rejected.values()), "rejected_by_reason": dict(rejected),
        "on_air": medium.get("injected", 0),
        "security_acceptances": medium.get("accepted", 0),
        "replayed_authentic_accepted": medium.get("replayed_authentic_accepted", 0),
        "accepted_header_flips": medium.get("accepted_header_flips", 0),
        "window_s": medium.get("window_s"),
    }  # fmt: skip
    extra = {k: val for k, val in given.items() if k not in row and k not in
             ("attacker", "rejected_by_reason")}  # fmt: skip
    return {**row, **extra}


def render_verdict(rows: list[dict[str, Any]], console: Any) -> None:
    """Print the verdict table (rich): one table for the attackers, one for the calls."""
    from rich.table import Table

    attacks = [r for r in rows if r["row"] == "attack"]
    legit = [r for r in rows if r["row"] == "legit"]
    if attacks:
        t = Table(title="verdict: attacks")
        for col in ("attacker", "role", "injected", "accepted", "rejected (reason: n)",
                    "replays of authentic accepted"):
            t.add_column(col)
        for r in attacks:
            acc = r["accepted"]
            style = "red" if acc or r["security_acceptances"] else "green"
            reasons = ", ".join(f"{k} {n}" for k, n in r["rejected_by_reason"].items()) or "-"
            if r.get("accepted_header_flips"):  # a relay's flips nothing end to end covers
                reasons += f"; accepted with a header bit flipped: {r['accepted_header_flips']}"
            t.add_row(r["attacker"], str(r["role"] or "-"), str(r["injected"]),
                      f"[{style}]{acc}[/{style}]", reasons,
                      str(r["replayed_authentic_accepted"]))
        console.print(t)
    if legit:
        t = Table(title="verdict: legitimate traffic")
        for col in ("call", "talkers", "sent", "receivers", "delivered", "lost", "ratio",
                    "p95 delay", "latency added (p95)"):
            t.add_column(col)
        for r in legit:
            ratio = r["delivered_ratio"]
            t.add_row(r["stream"], ", ".join(r["talkers"]), str(r["sent"]), str(r["receivers"]),
                      str(r["deliveries"]), str(r["lost"]),
                      "-" if ratio is None else f"{ratio:.1%}", _ms(r["delay_p95_s"]),
                      _ms(r["latency_added_p95_s"]))
        console.print(t)


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v * 1e3:.1f}ms"
