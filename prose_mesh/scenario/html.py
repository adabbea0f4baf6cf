"""``report.html``: one self-contained page per run (issue #8 "Reports").

Made from the run folder alone (``report.json``, ``events.jsonl``, ``manifest.json``), so it can
be re-rendered at any time (``prose-mesh report RUN --html``) and needs nothing else to open:
the plots are matplotlib PNGs (Agg backend: no display needed) embedded as base64 ``data:``
URIs, the style is inline, there is no script.

What the page holds:

* a **timeline** of the run - one row per node: frames sent, accept/reject verdicts, the UE
  events (links up, GMKs installed, calls joined), medium drops; frames an attacker injected in
  their own colour; calls as shaded spans, timeline steps as dashed lines;
* a **sequence chart** of the signalling (PC5-S, MIKEY-SAKKE, MONP, discovery) between 2-4 UEs:
  the busiest in signalling by default, or the ones asked for. Arrows go from the sender's
  ``tx`` to the receiver's ``deliver`` (medium events); each is labelled with the kind the
  receiver judged it as (its ``accept``/``reject`` line with the same ``frame_sha256``),
  rejects in red;
* **latency distributions** (histogram and CDF) of call setup, late entry, media one-way delay
  and GMK delivery. ``report.json`` keeps only percentiles, so the samples are taken from
  ``report["samples"]`` when a runner provides them and are otherwise rebuilt from the event
  log (the definitions follow scenario/runner.py; the GMK delivery is counted from the
  distributor's ``gmk_distributed`` event, i.e. without the distributor's own signing time);
* the **expectations**, the **adversarial verdict** and the **invariants** as tables (rendered
  generically: whatever rows the report carries), the figures, failures, notes and the UEs.

Large runs have 10^5-10^6 event lines: the log is streamed (never loaded whole; three passes:
everything, then the chosen UEs' signalling verdicts, then those frames' tx/deliver lines) and
each plotted series is thinned to at most ``max_points`` points; the statistics use every
sample (the media delays are one float each).
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import re
from array import array
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prose_mesh.errors import ConfigError

HTML_NAME = "report.html"
MAX_POINTS = 20_000  # per plotted series
MAX_ROWS = 40  # nodes on the timeline
MAX_ARROWS = 80  # messages on the sequence chart
# The kinds of verdict that are signalling (everything but media), and how the chart names them.
SIGNALLING = {"pc5s": "PC5-S", "gmk": "MIKEY-SAKKE GMK", "call_key": "MONP call key",
              "floor": "MONP floor", "discovery": "discovery", "monp": "MONP"}  # fmt: skip
KEY_EVENTS = frozenset({"gmk_installed", "gmk_distributed", "member_added", "member_removed",
                        "group_created"})  # fmt: skip
LATENCIES = (("call.setup_time", "call setup"), ("late_entry.time", "late entry"),
             ("media.delay", "media one-way delay"), ("gmk.delivery_time", "GMK delivery"))
_SHA = re.compile(r'"frame_sha256":"([0-9a-f]+)"')


class Thinned:
    """Keeps every k-th item offered, doubling k whenever ``cap`` items are held: a bounded,
    deterministic and evenly spread sample of a stream of unknown length."""

    def __init__(self, cap: int = MAX_POINTS) -> None:
        self.cap = max(2, cap)
        self.items: list[Any] = []
        self.step = 1
        self.seen = 0

    def add(self, item: Any) -> None:
        if self.seen % self.step == 0:
            self.items.append(item)
            if len(self.items) >= self.cap:
                self.items = self.items[::2]
                self.step *= 2
        self.seen += 1


@dataclass
class RunEvents:
    """What one pass over events.jsonl keeps (bounded, except the per-message send times)."""

    series: dict[str, Thinned] = field(default_factory=dict)  # category -> (t, node)
    ue_events: list[tuple[float, str, str, dict[str, Any]]] = field(default_factory=list)
    ue_events_dropped: int = 0
    counts: Counter[str] = field(default_factory=Counter)  # event type -> lines
    node_activity: Counter[str] = field(default_factory=Counter)  # tx + verdicts per node
    signalling_by_node: Counter[str] = field(default_factory=Counter)
    media_delay: array[float] = field(default_factory=lambda: array("d"))
    t_max: float = 0.0
    bad_lines: int = 0

    def point(self, category: str, t: float, node: str, cap: int) -> None:
        series = self.series.get(category)
        if series is None:
            series = self.series[category] = Thinned(cap)
        series.add((t, node))


def scan_events(path: Path, *, max_points: int = MAX_POINTS,
                max_ue_events: int = 200_000) -> RunEvents:
    """Stream ``events.jsonl`` once; a malformed line is counted, never fatal."""
    ev = RunEvents()
    sends: dict[tuple[str, str, int], float] = {}
    pending: list[tuple[tuple[str, str, int], float]] = []
    if not path.exists():
        return ev
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if '"event":"deliver"' in line:  # the bulk: only counted in this pass
                ev.counts["deliver"] += 1
                continue
            try:
                e = json.loads(line)
                t = float(e["t"])
                kind = e["event"]
                node = str(e.get("node"))
            except (ValueError, KeyError, TypeError):
                ev.bad_lines += 1
                continue
            ev.counts[kind] += 1
            ev.t_max = max(ev.t_max, t)
            if kind == "tx":
                ev.node_activity[node] += 1
                ev.point("attack" if e.get("attack") else "tx", t, node, max_points)
            elif kind in ("accept", "reject"):
                ev.node_activity[node] += 1
                vkind = str(e.get("kind"))
                ev.point(kind, t, node, max_points)
                if vkind != "media":
                    ev.signalling_by_node[node] += 1
            elif kind == "drop":
                ev.point("drop", t, node, max_points)
            elif kind == "ue_event":
                if len(ev.ue_events) < max_ue_events:
                    data = e.get("data")
                    ev.ue_events.append((t, node, str(e.get("name")),
                                         data if isinstance(data, dict) else {}))
                else:
                    ev.ue_events_dropped += 1
            elif kind == "app_send":
                key = (str(e.get("stream")), str(e.get("talker")), int(e.get("seq", -1)))
                sends[key] = t
            elif kind == "app_deliver":
                key = (str(e.get("stream")), str(e.get("talker")), int(e.get("seq", -1)))
                sent = sends.get(key)
                if sent is None:
                    pending.append((key, t))
                else:
                    ev.media_delay.append(t - sent)
    for key, t in pending:  # a delivery logged before its send line (not how runs write)
        if key in sends:
            ev.media_delay.append(t - sends[key])
    return ev


@dataclass(frozen=True)
class Message:
    src: str
    dst: str
    t_tx: float
    t_rx: float
    label: str
    rejected: bool


def scan_verdicts(path: Path, ues: Sequence[str]) -> dict[tuple[str, str], tuple[str, str, Any]]:
    """(frame SHA, receiver) -> (accept|reject, kind, reason) of the signalling verdicts of
    ``ues`` only (a flood's millions of rejects elsewhere are never held)."""
    chosen = set(ues)
    out: dict[tuple[str, str], tuple[str, str, Any]] = {}
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if '"event":"accept"' not in line and '"event":"reject"' not in line:
                continue
            try:
                e = json.loads(line)
            except ValueError:
                continue
            node, sha, kind = e.get("node"), e.get("frame_sha256"), e.get("kind")
            if node in chosen and sha and kind != "media":
                out[(str(sha), str(node))] = (str(e.get("event")), str(kind), e.get("reason"))
    return out


def scan_signalling(path: Path, ues: Sequence[str], *,
                    limit: int = MAX_ARROWS) -> tuple[list[Message], int]:
    """The signalling frames delivered between ``ues`` (the first ``limit``, and how many there
    were): their verdicts first (:func:`scan_verdicts`), then only the tx/deliver lines whose
    SHA is one of those frames are parsed."""
    chosen = set(ues)
    if not path.exists():
        return [], 0
    verdicts = scan_verdicts(path, ues)
    shas = {sha for sha, _node in verdicts}
    if not shas:
        return [], 0
    tx_time: dict[int, float] = {}
    found: list[tuple[int, str, str, float, str]] = []
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            m = _SHA.search(line)
            if m is None or m.group(1) not in shas:
                continue
            try:
                e = json.loads(line)
                if e["event"] == "tx":
                    tx_time[int(e["tx"])] = float(e["t"])
                elif (e["event"] == "deliver" and e.get("src") in chosen
                      and e.get("dst") in chosen and e.get("src") != e.get("dst")):
                    found.append((int(e["tx"]), str(e["src"]), str(e["dst"]), float(e["t"]),
                                  m.group(1)))
            except (ValueError, KeyError, TypeError):
                continue
    out: list[Message] = []
    for tx, src, dst, t_rx, sha in found:
        verdict = verdicts.get((sha, dst))
        if verdict is None:
            continue
        outcome, vkind, reason = verdict
        label = SIGNALLING.get(vkind, vkind)
        if outcome == "reject":
            label += f" ✗ {reason}"
        out.append(Message(src, dst, tx_time.get(tx, t_rx), t_rx, label, outcome == "reject"))
    out.sort(key=lambda m: (m.t_tx, m.t_rx))
    return out[:limit], len(out)


# -- latency samples ------------------------------------------------------------------------------
def latency_samples(report: dict[str, Any], ev: RunEvents) -> dict[str, list[float]]:
    """Samples (s) per latency metric: the report's own when it carries them, else rebuilt."""
    given = report.get("samples")
    out: dict[str, list[float]] = {}
    if isinstance(given, dict):
        for metric, _title in LATENCIES:
            vals = given.get(metric)
            if isinstance(vals, list):
                out[metric] = [float(v) for v in vals if isinstance(v, int | float)]
    rebuilt = _rebuild_latencies(report, ev)
    for metric, vals in rebuilt.items():
        out.setdefault(metric, vals)
    return out


def _rebuild_latencies(report: dict[str, Any], ev: RunEvents) -> dict[str, list[float]]:
    uris = {name: u.get("uri") for name, u in (report.get("ues") or {}).items()
            if isinstance(u, dict)}  # fmt: skip
    by_node: dict[str, list[tuple[float, str, dict[str, Any]]]] = {}
    for t, node, name, data in ev.ue_events:
        by_node.setdefault(node, []).append((t, name, data))
    for lst in by_node.values():
        lst.sort(key=lambda x: x[0])
    added = [(t, d.get("group_id"), d.get("uri")) for t, _n, name, d in ev.ue_events
             if name == "member_added"]  # fmt: skip
    call_ends = {float(s.get("at", math.nan)): float(s.get("t_end", math.inf))
                 for s in report.get("steps") or [] if s.get("action") == "call"}  # fmt: skip
    setup: list[float] = []
    late: list[float] = []
    for call in (report.get("calls") or {}).values():
        try:
            start = float(call["start"])
            speaker = str(call["speaker"])
        except (KeyError, TypeError, ValueError):
            continue
        end = call_ends.get(start, math.inf)
        gid = next((d.get("group") for t, name, d in by_node.get(speaker, [])
                    if name == "call_joined" and t >= start - 1e-6), None)  # fmt: skip
        if gid is None:
            continue
        for node, lst in by_node.items():
            if node == speaker:
                continue
            joined = next((t for t, name, d in lst if name == "call_joined"
                           and d.get("group") == gid and start <= t <= end), None)  # fmt: skip
            if joined is None:
                continue
            adds = [t for t, g, uri in added if g == gid and uri == uris.get(node) and t <= joined]
            if adds:
                entry = next((t for t, name, d in lst if name == "gmk_installed"
                              and d.get("group_id") == gid and t >= min(adds)), min(adds))
                late.append(joined - max(start, entry))
            else:
                setup.append(joined - start)
    distributed: dict[Any, tuple[float, str]] = {}  # gmk_id -> (time, distributor)
    for t, node, name, d in ev.ue_events:
        if name in ("gmk_distributed", "member_added", "member_removed") and "gmk_id" in d:
            distributed.setdefault(d["gmk_id"], (t, node))
    gmk = []
    for t, node, name, d in ev.ue_events:
        sent = distributed.get(d.get("gmk_id")) if name == "gmk_installed" else None
        if sent is not None and node != sent[1] and t >= sent[0]:
            gmk.append(t - sent[0])
    return {"call.setup_time": setup, "late_entry.time": late,
            "media.delay": list(ev.media_delay), "gmk.delivery_time": gmk}


# -- plots ---------------------------------------------------------------------------------------
def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)  # layout="constrained": one draw
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)  # no display; renders the same everywhere
    import matplotlib.pyplot as plt

    return plt


_STYLE = {  # category -> (marker, colour, size, label, row offset)
    "tx": ("|", "#888888", 30, "frame sent", -0.25),
    "accept": (".", "#2ca02c", 12, "accepted", 0.0),
    "reject": ("x", "#d62728", 25, "rejected", 0.1),
    "drop": ("v", "#ff7f0e", 15, "dropped by the medium", 0.2),
    "attack": ("*", "#e377c2", 60, "attacker frame", -0.25),
}


def plot_timeline(report: dict[str, Any], ev: RunEvents, *, max_rows: int = MAX_ROWS) -> str:
    plt = _plt()
    nodes = [n for n, _ in ev.node_activity.most_common()] or list(report.get("ues") or {})
    for _t, node, _n, _d in ev.ue_events:
        if node not in nodes:
            nodes.append(node)
    hidden = max(0, len(nodes) - max_rows)
    rows = sorted(nodes[:max_rows])
    y = {n: i for i, n in enumerate(rows)}
    fig, ax = plt.subplots(figsize=(12, max(3.0, 0.32 * len(rows) + 1.6)), layout="constrained")
    for category, (marker, colour, size, label, dy) in _STYLE.items():
        pts = [(t, y[n] + dy) for t, n in ev.series.get(category, Thinned()).items if n in y]
        if pts:
            xs, ys = zip(*pts, strict=True)
            ax.scatter(xs, ys, marker=marker, c=colour, s=size, label=label, linewidths=1)
    for name_set, colour, label, marker in (
            (KEY_EVENTS, "#9467bd", "key change (GMK)", "D"),
            (None, "#1f77b4", "UE event (link up, call joined, ...)", "o")):
        pts = [(t, y[n] - 0.1) for t, n, name, _d in ev.ue_events if n in y
               and ((name in name_set) if name_set is not None else name not in KEY_EVENTS)]
        if pts:
            xs, ys = zip(*_thin(pts, MAX_POINTS), strict=True)
            ax.scatter(xs, ys, marker=marker, facecolors="none", edgecolors=colour, s=28,
                       label=label)
    call_ends = {s.get("at"): s.get("t_end") for s in report.get("steps") or []
                 if s.get("action") == "call"}  # fmt: skip
    for cid, call in (report.get("calls") or {}).items():
        start = call.get("start")
        end = call_ends.get(start) or ev.t_max
        if isinstance(start, int | float):
            ax.axvspan(start, end, color="#1f77b4", alpha=0.07)
            ax.text(start, len(rows) - 0.4, f"call {cid}", fontsize=8, color="#1f77b4")
    for step in (report.get("steps") or [])[:60]:
        at = step.get("at")
        if isinstance(at, int | float):
            ax.axvline(at, color="#bbbbbb", linestyle="--", linewidth=0.7)
            ax.text(at, -0.9, str(step.get("action")), rotation=90, fontsize=7,
                    va="top", color="#555555")
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    ax.set_ylim(-1.0, len(rows))
    ax.set_xlabel("time since the start of the run (s)", labelpad=55)  # below step names
    title = f"timeline of run {report.get('run', '?')}"
    if hidden:
        title += f" (the {len(rows)} busiest of {len(nodes)} nodes)"
    ax.set_title(title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    return _png(fig)


def _thin(items: list[Any], cap: int) -> list[Any]:
    step = max(1, math.ceil(len(items) / cap))
    return items[::step]


def plot_sequence(ues: Sequence[str], messages: list[Message], total: int, ev: RunEvents,
                  uris: dict[str, str] | None = None) -> str:
    """Lifelines of ``ues``; one row per message or UE event (a link_up only when its peer is
    one of ``ues``: ``uris`` maps names to URIs), in time order."""
    uris = uris or {}
    plt = _plt()
    x = {n: i for i, n in enumerate(ues)}
    t_end = max([m.t_rx for m in messages], default=1.0)
    t_start = min([m.t_tx for m in messages], default=0.0)
    peers = set(uris.get(n) for n in ues) - {None}
    marks = [(t, n, name) for t, n, name, d in ev.ue_events
             if n in x and t_start <= t <= t_end and name != "floor_taken"
             and d.get("peer_uri", next(iter(peers), None)) in peers][:MAX_ARROWS]
    # A row per message (time runs down, evenly spaced: signalling comes in bursts).
    items = sorted([(m.t_tx, 0, m) for m in messages] + [(t, 1, (n, name)) for t, n, name in marks],
                   key=lambda it: (it[0], it[1]))
    fig, ax = plt.subplots(figsize=(3.2 * max(2, len(ues)) + 2, 0.3 * len(items) + 1.8),
                           layout="constrained")
    for i, n in enumerate(ues):
        ax.plot([i, i], [-0.5, len(items) + 0.5], color="#999999", linewidth=1)
        ax.text(i, -1.0, n, ha="center", va="bottom", fontsize=10, fontweight="bold")
    for row, (t, what, item) in enumerate(items):
        ax.text(-0.45, row, f"{t:.3f} s", fontsize=7, ha="right", va="center", color="#555555")
        if what == 0:
            m: Message = item
            colour = "#d62728" if m.rejected else "#1f77b4"
            ax.annotate("", xy=(x[m.dst], row + 0.3), xytext=(x[m.src], row),
                        arrowprops={"arrowstyle": "->", "color": colour, "lw": 1.2})
            ax.text((x[m.src] + x[m.dst]) / 2, row - 0.1, m.label, ha="center", va="bottom",
                    fontsize=7, color=colour)
        else:
            node, name = item
            ax.text(x[node] + 0.04, row, f"● {name}", fontsize=7, va="center", color="#9467bd")
    ax.set_xlim(-0.9, len(ues) - 0.3)
    ax.set_ylim(len(items) + 0.5, -1.5)
    ax.axis("off")
    shown = f"{len(messages)} of {total}" if total > len(messages) else f"{total}"
    ax.set_title(f"signalling between {', '.join(ues)}: {shown} messages, with UE events")
    return _png(fig)


def plot_latencies(samples: dict[str, list[float]]) -> str:
    plt = _plt()
    fig, axes = plt.subplots(len(LATENCIES), 2, figsize=(11, 2.6 * len(LATENCIES)),
                             layout="constrained")
    for (metric, title), (hist, cdf) in zip(LATENCIES, axes, strict=True):
        vals = sorted(v * 1e3 for v in samples.get(metric, []) if math.isfinite(v))
        if not vals:
            for a in (hist, cdf):
                a.text(0.5, 0.5, f"{title}: no samples in this run", ha="center",
                       va="center", transform=a.transAxes, color="#777777")
                a.set_xticks([])
                a.set_yticks([])
            continue
        hist.hist(vals, bins=min(60, max(5, int(math.sqrt(len(vals))))), color="#1f77b4")
        hist.set_title(f"{title} (n={len(vals)})", fontsize=10)
        hist.set_xlabel("ms")
        hist.set_ylabel("samples")
        idx = list(range(0, len(vals), max(1, math.ceil(len(vals) / MAX_POINTS))))
        if idx[-1] != len(vals) - 1:
            idx.append(len(vals) - 1)  # the maximum is always drawn
        cdf.step([vals[0], *(vals[i] for i in idx)], [0.0, *((i + 1) / len(vals) for i in idx)],
                 where="post", color="#ff7f0e", marker="." if len(vals) < 50 else None)
        for q in (0.5, 0.95):
            v = vals[max(0, math.ceil(q * len(vals)) - 1)]
            cdf.axvline(v, color="#999999", linestyle=":", linewidth=0.8)
            cdf.text(v, q, f" p{int(q * 100)}={v:.1f} ms", fontsize=8, va="bottom")
        cdf.set_title(f"{title}: CDF", fontsize=10)
        cdf.set_xlabel("ms")
        cdf.set_ylim(0, 1.05)
        cdf.grid(alpha=0.3)
    return _png(fig)


# -- HTML ----------------------------------------------------------------------------------------
def _nested(value: Any) -> bool:
    """A value that reads better as a table of its own: rows of objects, or keyed objects."""
    if isinstance(value, list):
        return bool(value) and all(isinstance(v, dict) for v in value)
    return isinstance(value, dict) and bool(value) and all(isinstance(v, dict)
                                                            for v in value.values())


def _cell(value: Any, depth: int = 0) -> str:
    if depth < 2 and _nested(value):
        return f"<td>{table(value, depth=depth + 1)}</td>"
    if value is True:
        return '<td class="ok">✓</td>'
    if value is False:
        return '<td class="bad">✗</td>'
    if value is None:
        return '<td class="dim">-</td>'
    if isinstance(value, float):
        return f"<td>{value:.6g}</td>"
    if isinstance(value, dict | list):
        return f"<td><code>{html.escape(json.dumps(value, default=str))}</code></td>"
    return f"<td>{html.escape(str(value))}</td>"


def table(rows: Any, *, key_name: str = "", depth: int = 0) -> str:
    """Any JSON value as an HTML table: a list of objects (one row each, the union of their
    keys as columns), an object of objects (keyed rows), an object of other values (key/value).
    Rows of objects inside a cell become nested tables (two levels), the rest compact JSON."""
    if isinstance(rows, dict) and rows and all(isinstance(v, dict) for v in rows.values()):
        rows = [{key_name or "name": k, **v} for k, v in rows.items()]
    elif isinstance(rows, dict):
        return ("<table>" + "".join(f"<tr><th>{html.escape(str(k))}</th>{_cell(v, depth)}</tr>"
                                    for k, v in rows.items()) + "</table>")
    if not isinstance(rows, list) or not rows:
        return '<p class="dim">none</p>'
    if not all(isinstance(r, dict) for r in rows):
        return "<ul>" + "".join(f"<li>{html.escape(str(r))}</li>" for r in rows) + "</ul>"
    cols: list[str] = []
    for r in rows:
        cols.extend(k for k in r if k not in cols)
    if len(cols) > 10:  # sparse rows (each its own counters): common columns + the rest
        common = [c for c in cols if all(c in r for r in rows)]
        rows = [{**{c: r[c] for c in common},
                 "more": {k: v for k, v in r.items() if k not in common
                          and v not in (None, {}, [], "")}} for r in rows]  # fmt: skip
        cols = [*common, "more"]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(_cell(r.get(c), depth) for c in cols) + "</tr>"
                   for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


_CSS = """
body{font-family:sans-serif;margin:1.5em;max-width:1400px;color:#222}
h1{font-size:1.4em}h2{font-size:1.15em;border-bottom:1px solid #ddd;margin-top:1.6em}
table{border-collapse:collapse;font-size:.85em;margin:.4em 0}
td,th{border:1px solid #ddd;padding:2px 6px;text-align:left;vertical-align:top}
th{background:#f4f4f4}.ok{color:#2ca02c;font-weight:bold}.bad{color:#d62728;font-weight:bold}
.dim{color:#888}.pass{background:#e6f4e6;padding:.4em}.fail{background:#fbe9e9;padding:.4em}
img{max-width:100%;border:1px solid #eee}code{font-size:.95em}
"""


def choose_ues(ev: RunEvents, requested: Sequence[str] | None = None) -> list[str]:
    """The UEs of the sequence chart: those asked for, else the 2-4 busiest in signalling."""
    if requested:
        return list(dict.fromkeys(requested))
    busiest = [n for n, _ in ev.signalling_by_node.most_common(4)]
    if len(busiest) < 2:
        busiest = [n for n, _ in ev.node_activity.most_common(2)]
    return sorted(busiest)


def load_run(run_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(report, manifest) of a run folder; ConfigError when it is not one."""
    try:
        report = json.loads((run_dir / "report.json").read_text())
    except FileNotFoundError:
        raise ConfigError(f"{run_dir}: no report.json (not a finished run folder)") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{run_dir}/report.json: unreadable: {exc}") from None
    if not isinstance(report, dict):
        raise ConfigError(f"{run_dir}/report.json: not a JSON object")
    try:
        manifest = json.loads((run_dir / "manifest.json").read_text())
    except (OSError, ValueError):
        manifest = {}
    return report, manifest if isinstance(manifest, dict) else {}


def render_html(run_dir: str | Path, *, ues: Sequence[str] | None = None,
                out: str | Path | None = None, max_points: int = MAX_POINTS) -> Path:
    """Write ``report.html`` for the run in ``run_dir`` (or to ``out``) and return its path.

    ``ues``: the UEs of the sequence chart (default: the 2-4 busiest in signalling); a name
    that is not a node of the run is a ConfigError.
    """
    run_dir = Path(run_dir)
    report, manifest = load_run(run_dir)
    events_path = run_dir / "events.jsonl"
    ev = scan_events(events_path, max_points=max_points)
    known = set(report.get("ues") or {}) | set(ev.node_activity)
    if ues:
        unknown = [u for u in ues if u not in known]
        if unknown:
            raise ConfigError(f"--ues: not a node of run {report.get('run')}: "
                              f"{', '.join(unknown)} (nodes: {', '.join(sorted(known))})")
    chosen = choose_ues(ev, ues)
    messages, total = scan_signalling(events_path, chosen)
    samples = latency_samples(report, ev)
    timeline = plot_timeline(report, ev)
    uris = {n: str(u.get("uri")) for n, u in (report.get("ues") or {}).items()
            if isinstance(u, dict)}  # fmt: skip
    sequence = plot_sequence(chosen, messages, total, ev, uris) if len(chosen) >= 2 else None
    latency = plot_latencies(samples)
    target = Path(out) if out is not None else run_dir / HTML_NAME
    target.write_text(_page(run_dir, report, manifest, ev, timeline, sequence, latency, samples),
                      encoding="utf-8")
    return target


def _img(b64: str, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{b64}">'


def _page(run_dir: Path, report: dict[str, Any], manifest: dict[str, Any], ev: RunEvents,
          timeline: str,
          sequence: str | None, latency: str, samples: dict[str, list[float]]) -> str:
    e = html.escape
    failures = report.get("failures") or []
    status = manifest.get("status") or report.get("status") or "?"
    interrupted = status in ("cancelled", "interrupted") or report.get("interrupted")
    verdict_cls = "fail" if failures or interrupted else "pass"
    verdict = (f"{len(failures)} expectation(s) failed" if failures
               else f"all {len(report.get('expectations') or [])} expectations met")
    if interrupted:
        verdict = f"run interrupted ({status}); " + verdict
    info = {"scenario": report.get("scenario"), "source": report.get("source"),
            "backend": report.get("backend"), "time": report.get("time"),
            "seed": report.get("seed"), "duration (s)": report.get("duration_s"),
            "start": manifest.get("start"), "end": manifest.get("end"), "status": status,
            "events": sum(ev.counts.values()), "unreadable event lines": ev.bad_lines}
    files = sorted(p.name for p in run_dir.iterdir()
                   if p.suffix in (".pcapng", ".jsonl", ".json", ".log", ".txt"))
    src_note = ("from report.json" if isinstance(report.get("samples"), dict)
                else "rebuilt from events.jsonl")
    lat_rows = []
    for metric, title in LATENCIES:
        vals = sorted(v for v in samples.get(metric, []) if math.isfinite(v))
        lat_rows.append({"metric": metric, "what": title, "n": len(vals),
                         "p50 (ms)": _pct(vals, 50), "p95 (ms)": _pct(vals, 95),
                         "max (ms)": vals[-1] * 1e3 if vals else None})
    ue_rows = {name: {"uri": u.get("uri"), "kind": u.get("kind"), "accepted": u.get("accepted"),
                      "rejected": u.get("rejected"), "decrypted": u.get("decrypted"),
                      "frames in": u.get("frames_in"), "frames out": u.get("frames_out")}
               for name, u in (report.get("ues") or {}).items() if isinstance(u, dict)}
    parts = [
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>",
        f"<title>prose_mesh run {e(str(report.get('run')))}</title><style>{_CSS}</style>",
        "</head><body>",
        f"<h1>Run {e(str(report.get('run')))}: {e(str(report.get('scenario')))}</h1>",
        f'<p class="{verdict_cls}">{e(verdict)}</p>',
        table(info),
        "<p>Files in this folder: "
        + ", ".join(f'<a href="{e(f)}">{e(f)}</a>' for f in files) + "</p>",
        "<h2>Failures</h2>", table(list(failures)),
        "<h2>Timeline</h2>", _img(timeline, "timeline"),
        "<h2>Sequence chart</h2>",
        _img(sequence, "sequence chart") if sequence else
        '<p class="dim">fewer than two UEs exchanged signalling</p>',
        f"<h2>Latency distributions</h2><p class=dim>samples {src_note}</p>",
        _img(latency, "latency distributions"), table(lat_rows),
        "<h2>Expectations</h2>", table(report.get("expectations")),
    ]
    if "verdict" in report:
        parts += ["<h2>Adversarial verdict</h2>", verdict_html(report)]
    if "invariants" in report:
        parts += ["<h2>Invariants</h2>", table(report.get("invariants"), key_name="invariant")]
    parts += [
        "<h2>Figures</h2>", table(report.get("figures"), key_name="figure"),
        "<h2>Calls</h2>", table(report.get("calls"), key_name="call"),
        "<h2>Timeline steps</h2>", table(report.get("steps")),
        "<h2>UEs</h2>", table(ue_rows, key_name="UE"),
        "<h2>Medium</h2>", table(report.get("medium")),
        "<h2>Notes</h2>", table(list(report.get("notes") or [])),
        "<h2>Event log</h2>", table(dict(sorted(ev.counts.items()))),
        "</body></html>\n",
    ]
    return "\n".join(parts)


def verdict_html(report: dict[str, Any]) -> str:
    """The verdict table: the rows of :func:`prose_mesh.scenario.verdict.verdict_table`
    (attackers, then legitimate calls) when the report has that shape, else whatever rows
    ``report["verdict"]`` holds, rendered generically."""
    given = report.get("verdict")
    if isinstance(given, dict) and ("attackers" in given or "legit_traffic" in given):
        try:
            from prose_mesh.scenario.verdict import verdict_table
        except ImportError:  # an older checkout: the generic rendering below
            pass
        else:
            rows = verdict_table(report)
            attack = [r for r in rows if r.get("row") == "attack"]
            legit = [r for r in rows if r.get("row") == "legit"]
            return ("<h3>Attackers</h3>" + table(attack) + "<h3>Legitimate traffic</h3>"
                    + table(legit))
    return table(given, key_name="row")


def _pct(vals: list[float], q: float) -> float | None:
    if not vals:
        return None
    return vals[max(0, math.ceil(q / 100 * len(vals)) - 1)] * 1e3


def embedded_pngs(page: str) -> list[bytes]:
    """The PNG images embedded in a page (for checks and tools)."""
    return [base64.b64decode(m) for m in
            re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)]

