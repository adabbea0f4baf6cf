"""Run a scenario: provision the UEs, open the air, play the timeline, measure, judge.

``await run_scenario(scenario, backend=..., seed=..., out=..., capture=...)`` inside Trio (the
memory backend wants ``trio.testing.MockClock(autojump_threshold=0)``; :func:`run_scenario_sync`
starts Trio with the right clock). The run writes ``captures/<run>/`` through a medium
:class:`~prose_mesh.medium.session.Session` (air.pcapng, events.jsonl with the medium's and
every UE's accept/reject lines, manifest.json) and ``report.json`` (:mod:`.report`).

Timeline actions run as tasks at their time; those that wait for the protocol (a D2D link up,
a GMK installed) wait at most :data:`STEP_TIMEOUT` and then record a note (an observation: a UE
out of range misses a GMK) instead of hanging; the expectations judge the consequences. A step
that a machine or the node refuses (no GMK, UE killed) is a failure of the run.
Actions and scenario parts not implemented yet are refused by :func:`plan` before anything
starts (:class:`NotSupportedYet`), never skipped.

Measurements, all on Trio's clock (one clock for every UE of the process, so one-way delays
need no clock sync; per-UE clock offsets only affect what the machines see):

* group setup — ``create_group`` issued → the last member's ``gmk_installed``;
* GMK delivery — distribution sent → each recipient's ``gmk_installed`` (the distributor
  resends until it, or a newer GMK, is installed: ``_resend_until_installed``);
* call setup — ``start_call`` issued → each member's ``call_joined``;
* late entry — a member's entry (its GMK installed, or its move into range) → its
  ``call_joined``, counted from the call's start when the call started after the entry;
* media one-way delay — the send timestamp in each 160-octet payload → the ``media`` event;
* rekey switchover — ``rekey``/``remove_member`` issued → the last remaining member's
  ``gmk_installed`` of the new GMK;
* who decrypted which call — ``media`` events whose payload carries this run's random canary
  and the call's tag (a UE that cannot decrypt never sees the canary).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import secrets
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio
import trio.testing

from prose_mesh.errors import ConfigError, ProseMeshError
from prose_mesh.medium.air import Air, open_air
from prose_mesh.medium.params import GilbertElliott, LinkParams, PathLoss
from prose_mesh.medium.session import Session
from prose_mesh.node.clock import VIRTUAL_EPOCH, UeClock, wall_epoch
from prose_mesh.node.keylog import KEYLOG_NAME, KeyLog
from prose_mesh.node.log import UeLog
from prose_mesh.node.media_log import MediaSpool
from prose_mesh.node.provision import (
    Provisioned,
    group_config,
    group_uri,
    learned_defaults_note,
    provision,
)
from prose_mesh.node.ue import Ue
from prose_mesh.procstat import peak_rss_kb, reset_peak_rss, trim_heap, trimmed_rss_kb
from prose_mesh.protocol.groups import GroupConfig
from prose_mesh.scenario import attacks, figures_adversarial, relays
from prose_mesh.scenario import model as M

STEP_TIMEOUT = 5.0  # s: longest a timeline step waits for the protocol (link up, GMK installed)
MEDIA_RATE = 50.0  # packets/s (20 ms voice frames)
MEDIA_PAYLOAD = 160  # octets (G.711 20 ms)
MOVE_STEP = 0.5  # s between position updates of a move with a speed
# canary, call tag, talker (index of the UE in the scenario), sequence, send time (Trio clock)
_MEDIA_HDR = struct.Struct(">8s8sHId")


class NotSupportedYet(ConfigError):
    """The scenario uses something the runner does not implement yet (refused up front)."""

    reason = "NOT_SUPPORTED_YET"


_SUPPORTED = (M.Discover, M.D2DLink, M.CreateGroup, M.Call, M.Talk, M.AddMember,
              M.RemoveMember, M.Rekey, M.Move, M.LinkDown, M.LinkUp, M.Kill, M.AttackStart,
              M.AttackStop, M.SetClock)  # fmt: skip


def plan(scenario: M.Scenario) -> None:
    """Refuse, before anything starts, what this runner cannot do yet."""
    problems: list[str] = [*attacks.plan(scenario), *relays.plan(scenario)]
    for step in scenario.timeline:
        a = step.action
        if not isinstance(a, _SUPPORTED):
            problems.append(f"timeline action {a.KEY!r} at {step.at} s")
    if problems:
        raise NotSupportedYet("not supported yet: " + "; ".join(problems))


# -- medium configuration ----------------------------------------------------------------------
def link_params(imp: M.Impairments, down: tuple[M.Window, ...] = ()) -> LinkParams:
    """netem-vocabulary impairments of the scenario → the medium's :class:`LinkParams`."""
    kw: dict[str, Any] = {}
    if imp.delay is not None:
        dist = imp.delay.distribution or "uniform"
        if dist not in ("uniform", "normal"):
            raise NotSupportedYet(f"delay distribution {dist!r}: not supported yet")
        kw.update(delay_ms=imp.delay.mean * 1e3, jitter_ms=imp.delay.jitter * 1e3,
                  delay_corr=imp.delay.correlation, distribution=dist)
    if imp.loss is not None:
        if imp.loss.model == "gemodel":
            kw["gemodel"] = GilbertElliott(imp.loss.p, imp.loss.r, imp.loss.one_minus_h,
                                           imp.loss.one_minus_k)
        elif imp.loss.correlation:
            raise NotSupportedYet("correlated random loss: not supported yet (use gemodel)")
        else:
            kw["loss"] = imp.loss.p
    if imp.duplicate is not None:
        kw["duplicate"] = imp.duplicate.p
    if imp.corrupt is not None:
        kw["corrupt"] = imp.corrupt.p
    if imp.reorder is not None:
        kw.update(reorder=imp.reorder.p, reorder_gap=imp.reorder.gap or 0)
    if imp.rate is not None:
        kw["rate_bps"] = float(imp.rate)
    if down:
        kw["down"] = tuple((w.at, w.at + w.length) for w in down)
    return LinkParams(**kw)


def configure_medium(air: Air, med: M.Medium) -> None:
    m = air.medium
    if not med.default.empty:
        m.set_default(link_params(med.default))
    for link in med.links:
        # A link's own impairments override the medium default key by key (a link that only
        # says `loss: 2%` keeps the default delay), as a netem user would expect.
        imp = M.Impairments(**{f.name: (getattr(link.impairments, f.name)
                                        if getattr(link.impairments, f.name) is not None
                                        else getattr(med.default, f.name))
                               for f in dataclasses.fields(M.Impairments)})
        params = link_params(imp, link.down)
        if med.mode == "links":
            m.connect(link.a, link.b, symmetric=link.symmetric)
        m.set_link(link.a, link.b, params, symmetric=link.symmetric)
    if med.capacity is not None:
        # [EMU] a queue of N frames = N full-size (1514-octet) frames of air time.
        queue_ms = (med.capacity.queue * 1514 * 8 / med.capacity.rate * 1e3
                    if med.capacity.queue else 50.0)  # fmt: skip
        m.set_capacity(float(med.capacity.rate), queue_ms,
                       **({"cr_limit": med.capacity.cr_limit}
                          if med.capacity.cr_limit is not None else {}))


def medium_geometry(med: M.Medium) -> tuple[float | None, PathLoss | None]:
    """(range in metres, path-loss model) for ``open_air``; both None in ``links`` mode."""
    if med.mode != "range":
        return None, None
    pl = med.effective_path_loss()
    return (med.range, None) if pl is None else (None, pl)


# -- run state -----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Played:
    """One media packet a UE played out, decoded from the runner's payload header."""

    t: float  # Trio time it was played
    index: int  # its position in the UE's ``media`` list
    call: str | None  # the call ID (None: the tag of no call of this run)
    tag: bytes
    talker: str
    seq: int
    sent: float  # Trio time the talker sent it


@dataclass
class CallRecord:
    id: str
    group: str  # scenario group id
    group_id: str  # MCPTT group ID
    speaker: str
    tag: bytes
    start: float = math.nan  # Trio time start_call was issued
    end: float = math.nan
    sent: int = 0
    senders: set[str] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)


@dataclass
class RunState:
    scenario: M.Scenario
    air: Air
    ues: dict[str, Ue]
    prov: dict[str, Provisioned]
    canary: bytes
    origin: float
    session: Session | None = None
    attackers: dict[str, Any] = field(default_factory=dict)  # scenario.attacks: name -> role
    relays: dict[str, Any] = field(default_factory=dict)  # scenario.relays: name -> relay state
    verdict: list[dict[str, Any]] = field(default_factory=list)  # rows of the verdict table
    talker_ids: dict[str, int] = field(default_factory=dict)  # UE name -> index (media header)
    groups: dict[str, GroupConfig] = field(default_factory=dict)  # scenario id -> config
    members: dict[str, set[str]] = field(default_factory=dict)  # scenario id -> UE names
    calls: dict[str, CallRecord] = field(default_factory=dict)
    talking: dict[str, str] = field(default_factory=dict)  # call id -> UE holding the floor
    samples: dict[str, list[float]] = field(default_factory=dict)
    entries: list[tuple[str, str, float]] = field(default_factory=list)  # (ue, group, t)
    counts: dict[str, float] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)
    killed: set[str] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)
    first_keying_at: dict[str, float] = field(default_factory=dict)  # group -> first keying
    keyed: dict[str, trio.Event] = field(default_factory=dict)  # group -> first keying over
    rss_peak_kb: int = 0  # peak RSS up to the end of the timeline (process.rss_mb)
    rss_end_kb: int = 0  # RSS at the end of the timeline
    rss_at_attack_kb: int = 0  # RSS when an attack was first seen active (rss_growth_pct)
    rss_after_warmup_kb: int = 0  # RSS attacks.RSS_WARMUP_S later (rss_steady_growth_pct)
    background: trio.Nursery | None = None  # the run's nursery: tasks that outlive a step
    _played: dict[str, list[Played]] | None = field(default=None, repr=False)
    _foreign: dict[str, int] = field(default_factory=dict, repr=False)

    def sample(self, metric: str, value: float) -> None:
        self.samples.setdefault(metric, []).append(value)

    def played(self) -> dict[str, list[Played]]:
        """Per UE, the media of this run it played out, decoded once (after the run: the
        report, the attack verdicts, the relay and catalogue figures all read it)."""
        if self._played is None:
            calls = {rec.tag: rec.id for rec in self.calls.values()}
            names = list(self.talker_ids)
            self._played = {}
            for name, ue in self.ues.items():
                out = self._played[name] = []
                for i, (t, data) in enumerate(ue.media):
                    parsed = parse_media(bytes(data.get("payload", b"")))
                    if parsed is None or parsed[0] != self.canary:
                        self._foreign[name] = self._foreign.get(name, 0) + 1
                        continue
                    _canary, tag, who, seq, sent = parsed
                    talker = names[who] if who < len(names) else f"#{who}"
                    out.append(Played(t, i, calls.get(tag), tag, talker, seq, sent))
        return self._played

    def foreign_media(self) -> int:
        """Media packets UEs played that carry no payload header of this run (forged)."""
        self.played()
        return sum(self._foreign.values())

    def fail(self, text: str) -> None:
        self.failures.append(text)

    def note(self, text: str) -> None:
        self.notes.append(text)

    def t(self) -> float:
        return trio.current_time() - self.origin

    def log(self, node: str, event: str, **fields: Any) -> None:
        """One line of the run's own (application-level) events into events.jsonl."""
        if self.session is not None:
            self.session.log([{"t": round(self.t(), 6), "run": self.session.run_id,
                               "node": node, "event": event, **fields}])


# -- the run ---------------------------------------------------------------------------------------
@dataclass
class RunResult:
    run_id: str
    path: Path
    report: dict[str, Any]
    passed: bool

    @property
    def exit_code(self) -> int:
        return 0 if self.passed else 1


async def run_scenario(
    scenario: M.Scenario,
    *,
    backend: str = "memory",
    seed: int | None = None,
    out: str | Path = "captures",
    capture: str = "air",
    run_id: str | None = None,
    charge_cpu: bool | None = None,
    backend_note: str | None = None,
    progress: Callable[[str, dict[str, Any]], None] | None = None,
    ue_factory: Callable[[dict[str, Provisioned]], Callable[..., Ue]] | None = None,
) -> RunResult:
    """Play ``scenario`` on ``backend`` and return the report (also written to report.json).

    ``charge_cpu`` (default: on for the memory backend) spends each UE's measured crypto CPU
    time as virtual time, so memory-backend latencies include the cost of the crypto.
    ``progress(phase, info)`` is called at each phase (``provisioning``, ``attaching``,
    ``running`` with ``t``/``duration`` about every second, ``stopping``, ``report``) for a
    live status line; it must not block. ``ue_factory(provisioned)`` (scale runs, see
    :mod:`prose_mesh.scale.addressed`) returns the constructor used instead of :class:`Ue`.

    Ctrl-C (SIGINT, when called in the main thread) while the timeline plays ends the run
    early, as if its duration were over: the UEs stop, the captures and events are flushed,
    and report.json is written with ``"interrupted": {"at": t}`` and a failure saying so
    (the manifest's status is ``interrupted``). A Ctrl-C before or after that phase raises
    KeyboardInterrupt as usual (the air still closes its namespaces on the way out).
    """
    import json
    import signal
    import threading

    from prose_mesh.scenario.report import build_report

    interrupted: list[float] = []
    reset_peak_rss()  # process.rss_mb is this run's peak, not that of what ran before it

    async def stop_on_sigint(scope: trio.CancelScope) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        with trio.open_signal_receiver(signal.SIGINT) as signals:
            async for _sig in signals:
                interrupted.append(trio.current_time() - origin)
                report_progress("interrupted", {"t": interrupted[0]})
                scope.cancel()
                return

    plan(scenario)
    seed = scenario.seed if seed is None else seed
    if charge_cpu is None:
        charge_cpu = backend == "memory"
    report_progress = progress or (lambda phase, info: None)
    session = Session(out, run_id, scenario=scenario.name, seed=seed, capture=capture)
    epoch = VIRTUAL_EPOCH if backend == "memory" else wall_epoch()
    report_progress("provisioning", {"ues": len(scenario.ues)})
    prov = provision(scenario, epoch=epoch, seed=seed)
    known = frozenset(p.uri for p in prov.values())
    canary = secrets.token_bytes(8)
    range_m, path_loss = medium_geometry(scenario.medium)
    medium_seed = scenario.medium.seed if scenario.medium.seed is not None else seed
    state: RunState | None = None
    spool = MediaSpool()  # closed when the report is written (on an error: when collected)
    async with open_air(backend, seed=medium_seed, session=session, range_m=range_m,
                        path_loss=path_loss) as air:
        origin = air.medium.origin
        report_progress("attaching", {"ues": len(scenario.ues)})
        names = [u.name for u in scenario.ues]
        radios = await air.attach_many(names, [u.position for u in scenario.ues])
        configure_medium(air, scenario.medium)
        ues: dict[str, Ue] = {}
        make_ue = Ue if ue_factory is None else ue_factory(prov)
        for u, radio in zip(scenario.ues, radios, strict=True):
            log = UeLog(u.name, run=session.run_id, sink=session.log, origin=origin)
            ues[u.name] = make_ue(prov[u.name], clock=UeClock(epoch, u.clock_offset), log=log,
                                  radio=radio, known_peers=known, charge_cpu=charge_cpu)
            # a long run's record of played media goes to disk, not into the RSS J2 measures
            ues[u.name].media.spool = spool
        state = RunState(scenario, air, ues, prov, canary, origin, session=session)
        state.talker_ids = {name: i for i, name in enumerate(names)}
        state.notes.extend(learned_defaults_note(scenario))
        keylog = KeyLog(session.path / KEYLOG_NAME)
        for ue in ues.values():
            ue.on_event = keylog.on_event
        await attacks.setup(state)
        await relays.setup(state)
        for g in scenario.groups:
            state.groups[g.id] = group_config(scenario, g)
            state.members[g.id] = set(g.members)
        async with trio.open_nursery() as nursery:
            state.background = nursery  # (GMK resends outlive their step)
            for ue in ues.values():
                await nursery.start(ue.run)
            await relays.run(state, nursery)
            await attacks.run(state, nursery)
            nursery.start_soon(_tick, state, report_progress)
            nursery.start_soon(_trim_heap_every, HEAP_TRIM_PERIOD)
            async with trio.open_nursery() as steps:
                first = state.first_keying_at  # group -> its earliest create_group step
                for st in scenario.timeline:
                    if isinstance(st.action, M.CreateGroup):
                        first[st.action.group] = min(st.at, first.get(st.action.group, math.inf))
                for g in scenario.groups:
                    if g.type == "standard":
                        steps.start_soon(_standard_keying, state, g, g.id not in first)
                        first.setdefault(g.id, 0.0)  # pre-provisioned: keyed at t = 0
                for step in scenario.timeline:
                    steps.start_soon(_at, state, step)
                steps.start_soon(stop_on_sigint, steps.cancel_scope)
                await trio.sleep_until(origin + scenario.duration)
                steps.cancel_scope.cancel()
            report_progress("stopping", {})
            # the run's memory, before the offline figures read the event log into memory
            state.rss_peak_kb, state.rss_end_kb = peak_rss_kb(), trimmed_rss_kb()
            nursery.cancel_scope.cancel()
        # the medium's last batch before the UEs' verdicts: a verdict line must not precede
        # the `deliver` line of its frame (attack attribution reads the file in order)
        figures_adversarial.flush_medium_events(state)
        for ue in ues.values():
            ue.log.flush()
        keylog.close()
        _log_deliveries(state)
        relays.finish(state)
        attacks.finish(state)
        figures_adversarial.add_figures(state)
    report_progress("report", {})
    if interrupted and state is not None:
        state.fail(f"run interrupted (Ctrl-C) at {interrupted[0]:.3f} s of "
                   f"{scenario.duration:g} s")
    report = build_report(state, session, backend=backend, seed=seed, charge_cpu=charge_cpu,
                          backend_note=backend_note)
    if interrupted:
        report["interrupted"] = {"at": round(interrupted[0], 6)}
        (session.path / "report.json").write_text(json.dumps(report, indent=1, default=str)
                                                   + "\n")
        session.close("interrupted")  # again: only the manifest's status and end time change
    spool.close()
    return RunResult(session.run_id, session.path, report, not report["failures"])


async def _tick(state: RunState, progress: Callable[[str, dict[str, Any]], None]) -> None:
    """About once a second: the live status line's data."""
    while True:
        progress("running", {"t": state.t(), "duration": state.scenario.duration,
                             "frames": state.air.medium.transmissions,
                             "calls": len(state.calls), "failures": len(state.failures)})
        await trio.sleep(1.0)


async def _trim_heap_every(period: float) -> None:
    """Return the C heap's free pages to the kernel now and then (procstat.trim_heap): a
    long run's RSS then measures what the UEs and the emulator hold (J2 "no memory growth"),
    not what the allocator kept after frames were freed."""
    while trim_heap():
        await trio.sleep(period)


def _log_deliveries(state: RunState) -> None:
    """``app_deliver`` lines (ADVERSARIAL.md §5, event 4) for every media packet of this run a
    UE played out: (stream = call id, talker, seq), matched offline to the ``app_send`` lines."""
    if state.session is None:
        return
    for name, played in state.played().items():
        state.session.log([{"t": round(p.t - state.origin, 6), "run": state.session.run_id,
                            "node": name, "event": "app_deliver", "stream": p.call,
                            "talker": p.talker, "seq": p.seq}
                           for p in played if p.call is not None])


def run_scenario_sync(scenario: M.Scenario, *, backend: str, **kw: Any) -> RunResult:
    """Start Trio (virtual time for the memory backend) and run the scenario."""
    clock = trio.testing.MockClock(autojump_threshold=0) if backend == "memory" else None
    return trio.run(lambda: run_scenario(scenario, backend=backend, **kw), clock=clock)


async def _at(state: RunState, step: M.At) -> None:
    await trio.sleep_until(state.origin + step.at)
    action = step.action
    record: dict[str, Any] = {"at": step.at, "action": action.KEY, "t_start": state.t()}
    state.steps.append(record)
    try:
        await _ACTIONS[type(action)](state, action)
    except ProseMeshError as exc:  # refused by a machine or the node (no GMK, UE killed, ...)
        state.fail(f"{action.KEY} at {step.at} s: {exc}")
        record["error"] = str(exc)
    record["t_end"] = state.t()


# -- timeline actions ------------------------------------------------------------------------------
async def _wait(ue: Ue, name: str, *, since: int = 0, timeout: float = STEP_TIMEOUT,
                **match: Any) -> float | None:
    """Trio time of the first matching event, or None after ``timeout``."""
    with trio.move_on_after(timeout):
        t, _ev = await ue.wait_event(name, since=since, **match)
        return t
    return None


async def _discover(s: RunState, a: M.Discover) -> None:
    ue = s.ues[a.ue]
    if a.model == "A":
        await ue.start_discovery()
        return
    dgid, _psdk = ue.prov.discovery_group
    target = None
    if a.target is not None:
        from prose_mesh.node.machines import user_info

        target = user_info(s.ues[a.target].uri)
    t0 = trio.current_time()
    asked = ue.clock.now()
    await ue.solicit(dgid, target=target)
    if a.target is None:
        return
    want = s.ues[a.target].l2id
    with trio.move_on_after(STEP_TIMEOUT):
        while True:  # a response refreshes a known entry without an event: poll the table
            if any(p.l2id == want and p.model == "B" and p.last_seen >= asked
                   for p in ue.discovery.peers()):
                s.sample("discovery.model_b.time", trio.current_time() - t0)
                return
            await trio.sleep(0.005)
    s.note(f"{s.t():.3f} s: discover model B: {a.ue} did not discover {a.target}")


async def _link(s: RunState, a_name: str, b_name: str) -> float | None:
    """Set up (or reuse) the D2D link a → b; returns the setup time or None on failure."""
    a, b = s.ues[a_name], s.ues[b_name]
    info = a.links.link(b.l2id)
    if info is not None and info.established:
        return 0.0
    since = len(a.history)
    t0 = trio.current_time()
    await a.connect(b.l2id, b.uri)
    t = await _wait(a, "link_up", since=since, peer_l2id=b.l2id)
    if t is None:
        s.note(f"{s.t():.3f} s: d2d link {a_name} -> {b_name} not up within {STEP_TIMEOUT} s")
        return None
    s.sample("d2d_link.setup_time", t - t0)
    return t - t0


async def _d2d(s: RunState, a: M.D2DLink) -> None:
    if a.via:
        await relays.link_via(s, a)
        return
    if await _link(s, a.a, a.b) is not None:
        s.counts["d2d_link.established"] = s.counts.get("d2d_link.established", 0) + 1


# Groups whose GMKs the distributor sends over secured D2D links (gmk_sender: ad-hoc, and the
# temporary group of a user regroup); standard groups use the group bearer.
_OVER_LINKS = ("adhoc", "temporary")
# [EMU] s between the distributor's resends of a GMK a member has not installed. No backoff: a
# member that lacks the current GMK when its link comes back must have it well within J1's 2 s
# resume target (with a 2 s cap, a member that lost four copies in a row got it 2.06 s after
# link-up in a clean-checkout CI run). The cost is one I_MESSAGE a second per missing member.
GMK_RESEND_GAP = 1.0
HEAP_TRIM_PERIOD = 30.0  # s between trims of the C heap during a run (procstat.trim_heap)
ADHOC_LINK_PATIENCE = 1.0  # [EMU] s an ad-hoc creator waits for all links before distributing


def _distributor(s: RunState, group: str) -> Ue:
    g = s.scenario.group(group)
    return s.ues[g.creator if g.type == "adhoc" else g.manager]  # type: ignore[index]


async def _gmk_installed(s: RunState, ue: Ue, group_id: str, gmk_id: int, since: int,
                         t0: float, metric: str) -> float | None:
    t = await _wait(ue, "gmk_installed", since=since, group_id=group_id, gmk_id=gmk_id)
    if t is None:  # out of range, lost: an observation; expectations judge the consequences
        s.note(f"{s.t():.3f} s: {ue.name} did not install GMK {gmk_id:#010x} of {group_id} "
               f"within {STEP_TIMEOUT} s")
        return None
    s.sample(metric, t - t0)
    return t


def _installed(ue: Ue, gmk_id: int, since: int) -> float | None:
    """Trio time of ``ue``'s ``gmk_installed`` of ``gmk_id`` after history index ``since``."""
    return next((t for t, ev in ue.history[since:]
                 if ev.name == "gmk_installed" and ev.data.get("gmk_id") == gmk_id), None)


async def _resend_until_installed(s: RunState, dist: Ue, r: Ue, group: str, gmk_id: int,
                                  since: int, *, wait_for: trio.Event | None = None) -> None:
    """[EMU] The GMS's reliable transport: resend (fresh T) until the member installs the GMK.

    The sidelink has no ARQ and an I_MESSAGE no acknowledgement on the air, so the distributor
    stands in for the GMS's transport (SIP/HTTP over TCP on-network), which retransmits until
    acknowledged, not a fixed number of times: a member that has not installed GMK ``gmk_id``
    gets it again every GMK_RESEND_GAP.
    Gilbert-Elliott loss is per frame, and the GMS sends little, so its link to one member can
    stay in the bad state for seconds (J1 seed 18: six frames in a row lost). It stops when the
    member installed the GMK, the GMK is superseded (a newer one issued for the group), the
    member left the group or was killed, or the distributor stopped. ``wait_for``: an ad-hoc
    member's late link (``catch_up`` sends it the GMK when it comes up)."""
    group_id = s.groups[group].group_id
    while True:
        await trio.sleep(GMK_RESEND_GAP)
        current = dist.gmk_distributor.issued(group_id)
        if (_installed(r, gmk_id, since) is not None or not dist.running
                or current is None or current.gmk_id != gmk_id
                or r.name not in s.members[group] or r.name in s.killed):
            return
        if wait_for is not None and not wait_for.is_set():
            continue  # its link is not up yet: catch_up sends it
        if s.scenario.group(group).type in _OVER_LINKS and dist.links.link(r.l2id) is None:
            continue
        s.counts["gmk.resends"] = s.counts.get("gmk.resends", 0) + 1
        try:
            await dist.resend_gmk(group_id, [r.uri])
        except ProseMeshError as exc:  # e.g. the GMK expired at the distributor: rekey's job
            s.note(f"{s.t():.3f} s: resend of GMK {gmk_id:#010x} to {r.name}: {exc}")
            return


def _resend_in_background(s: RunState, dist: Ue, r: Ue, group: str, issue: Any, since: int,
                          metric: str, t0: float, measured: set[str],
                          step_nursery: trio.Nursery, wait_for: trio.Event | None = None) -> None:
    """Start the resends in the run's nursery: they outlive the step, which waits at most
    STEP_TIMEOUT for the installs (the J1 bound is GMK_DELIVERY_BOUND, 10 s). A member that
    installs after the step gave up (not in ``measured``) still gets its ``metric`` sample."""

    async def resend_and_measure() -> None:
        await _resend_until_installed(s, dist, r, group, issue.gmk_id, since, wait_for=wait_for)
        t = _installed(r, issue.gmk_id, since)
        if t is not None and r.name not in measured:  # the step's wait had given up on it
            s.sample(metric, t - t0)
            s.entries.append((r.name, group, t))
            s.note(f"{s.t():.3f} s: {r.name} installed GMK {issue.gmk_id:#010x} of "
                   f"{s.groups[group].group_id} {t - t0:.3f} s after it was sent (resends)")

    (s.background or step_nursery).start_soon(resend_and_measure)


async def _distribute(s: RunState, group: str, *, metric: str, op: Callable[..., Any]) -> float:
    """Run a distribution ``op`` at the distributor; wait for every recipient's install.
    Returns the Trio time of the last install, or +inf if a recipient missed the GMK (the
    switchover never completed: a bound on it must fail)."""
    g = s.scenario.group(group)
    cfg = s.groups[group]
    dist = _distributor(s, group)
    recipients = [s.ues[n] for n in sorted(s.members[group]) if n != dist.name
                  and n not in s.killed]  # fmt: skip
    marks = {r.name: len(r.history) for r in recipients}
    l2ids = {r.uri: r.l2id for r in recipients}
    done: list[float] = []
    measured: set[str] = set()  # recipients whose install the step saw

    async def one(r: Ue, issue: Any, t0: float) -> None:
        t = await _gmk_installed(s, r, cfg.group_id, issue.gmk_id, marks[r.name], t0,
                                 "gmk.delivery_time")
        if t is not None:
            measured.add(r.name)
            done.append(t)
            s.entries.append((r.name, group, t))

    async with trio.open_nursery() as n:
        late: dict[str, trio.Event] = {}
        if g.type in _OVER_LINKS:
            # Ad-hoc (and temporary) GMKs travel over D2D links: link to every member in
            # parallel, distribute once all are up or after ADHOC_LINK_PATIENCE, and resend the
            # same GMK to a member whose link comes up later (a lost DCR costs T4100; it must
            # not hold the group).
            up = {r.name: trio.Event() for r in recipients}
            late = {r.name: trio.Event() for r in recipients}

            async def link(r: Ue) -> None:
                if await _link(s, dist.name, r.name) is not None:
                    up[r.name].set()
                late[r.name].set()

            for r in recipients:
                n.start_soon(link, r)
            with trio.move_on_after(ADHOC_LINK_PATIENCE):
                for ev in up.values():
                    await ev.wait()
            late = {name: ev for name, ev in late.items() if not up[name].is_set()}
        t0 = trio.current_time()
        issue = await op(dist, cfg, l2ids, recipients)

        async def catch_up(r: Ue) -> None:
            await late[r.name].wait()
            if dist.links.link(r.l2id) is not None:
                await dist.resend_gmk(cfg.group_id, [r.uri])

        for r in recipients:
            if r.name in late:
                n.start_soon(catch_up, r)
            n.start_soon(one, r, issue, t0)
            _resend_in_background(s, dist, r, group, issue, marks[r.name], "gmk.delivery_time",
                                  t0, measured, n, wait_for=late.get(r.name))
    return max(done) if len(done) == len(recipients) else math.inf


async def _create_group(s: RunState, a: M.CreateGroup) -> None:
    try:
        await _create_group_keyed(s, a)
    finally:
        s.keyed.setdefault(a.group, trio.Event()).set()


async def _create_group_keyed(s: RunState, a: M.CreateGroup) -> None:
    t0 = trio.current_time()
    if relays.manages(s, a.group):  # the GMS is on the network side: GMKs over IP and relays
        s.sample("group.setup_time", await relays.distribute(s, a.group, "create") - t0)
        return

    async def op(dist: Ue, cfg: GroupConfig, l2ids: dict[str, int], rec: list[Ue]) -> Any:
        members = {s.ues[n].uri for n in s.members[a.group]}
        return await dist.distribute(cfg, member_l2ids=l2ids, members=members)

    done = await _distribute(s, a.group, metric="gmk.delivery_time", op=op)
    s.sample("group.setup_time", done - t0)


async def _standard_keying(s: RunState, g: M.Group, initial: bool) -> None:
    """A standard group's GMS: the GMK pre-provisioned before deployment (distributed at t=0
    when the timeline has no ``create_group``), then a rekey every ``gmk.period``."""
    if initial:
        await _at(s, M.At(0.0, M.CreateGroup(g.id)))
    if g.gmk.period:
        n = 1
        while True:
            await _at(s, M.At(g.gmk.period * n, M.Rekey(g.id)))
            n += 1


async def _rekey(s: RunState, a: M.Rekey) -> None:
    if relays.manages(s, a.group):
        t0 = trio.current_time()
        s.sample("rekey.switchover", await relays.distribute(s, a.group, "rekey") - t0)
        return

    async def op(dist: Ue, cfg: GroupConfig, l2ids: dict[str, int], rec: list[Ue]) -> Any:
        members = {s.ues[n].uri for n in s.members[a.group]}
        return await dist.distribute(cfg, member_l2ids=l2ids, members=members)

    t0 = trio.current_time()
    done = await _distribute(s, a.group, metric="gmk.delivery_time", op=op)
    s.sample("rekey.switchover", done - t0)


def _push_standard_config(s: RunState, group: str, *, to: set[str]) -> None:
    """[EMU] A standard group's configuration (TS 24.383) changes with its member list. The
    group management (and PKMF) that would push it is out of scope, so the new list - and, for
    a new member, the bearer's PGK - is loaded into the members ``to`` directly. The removed
    member keeps its old configuration: only the rekey keeps it out (its own view of the group
    is not trusted for that)."""
    if s.scenario.group(group).type != "standard" or relays.manages(s, group):
        return  # (a network GMS holds the list itself: relays.distribute tells it)
    cfg = s.groups[group] = s.groups[group].with_members(
        frozenset(s.ues[n].uri for n in s.members[group]))
    dist = s.ues[_distributor(s, group).name]
    dist.directory.put(cfg)
    pgk = dict(dist.prov.pgks).get(cfg.group_id)
    for name in to:
        ue = s.ues[name]
        ue.directory.put(cfg)
        if pgk is not None and cfg.group_id not in ue.pdcp.pgks:
            ue.pdcp.set_pgk(cfg, pgk)  # the PKMF's PGK of the group bearer, for a new member


async def _remove_member(s: RunState, a: M.RemoveMember) -> None:
    removed = s.ues[a.ue]
    s.members[a.group].discard(a.ue)
    if relays.manages(s, a.group):
        t0 = trio.current_time()
        done = await relays.distribute(s, a.group, "remove", ue=a.ue)
        s.sample("rekey.switchover", done - t0)
        return
    _push_standard_config(s, a.group, to=s.members[a.group])

    async def op(dist: Ue, cfg: GroupConfig, l2ids: dict[str, int], rec: list[Ue]) -> Any:
        return await dist.remove_member(cfg.group_id, removed.uri, member_l2ids=l2ids)

    t0 = trio.current_time()
    done = await _distribute(s, a.group, metric="gmk.delivery_time", op=op)
    s.sample("rekey.switchover", done - t0)


async def _add_member(s: RunState, a: M.AddMember) -> None:
    if relays.manages(s, a.group):
        s.members[a.group].add(a.ue)
        await relays.distribute(s, a.group, "add", ue=a.ue)
        return
    g = s.scenario.group(a.group)
    cfg = s.groups[a.group]
    dist = _distributor(s, a.group)
    new = s.ues[a.ue]
    s.members[a.group].add(a.ue)
    _push_standard_config(s, a.group, to=s.members[a.group])
    if g.type in _OVER_LINKS and await _link(s, dist.name, a.ue) is None:
        return
    issue = dist.gmk_distributor.issued(cfg.group_id)
    if issue is None:
        raise ConfigError(f"add_member {a.ue}: group {a.group} has no GMK yet")
    since = len(new.history)
    t0 = trio.current_time()
    # ad-hoc: the add is a rekey to every member (GmkDistributor.add_member); wait for its GMK
    issue = await dist.add_member(cfg.group_id, new.uri, l2id=new.l2id) or issue
    measured: set[str] = set()
    async with trio.open_nursery() as n:
        _resend_in_background(s, dist, new, a.group, issue, since, "gmk.delivery_time", t0,
                              measured, n)
        t = await _gmk_installed(s, new, cfg.group_id, issue.gmk_id, since, t0,
                                 "gmk.delivery_time")
        if t is not None:
            measured.add(a.ue)
    if t is None:
        return
    s.entries.append((a.ue, a.group, t))
    await new.probe(cfg.group_id)  # late entry: ask for the announcement of a call in progress


def call_tag(call_id: str) -> bytes:
    """The 8-octet tag of a call in the runner's media header: a digest of the call ID (its
    first 8 octets made calls with a common prefix, such as a_first_1 ... a_first_30, one
    stream to the accounting)."""
    return hashlib.sha256(b"prose_mesh call " + call_id.encode()).digest()[:8]


async def _call(s: RunState, a: M.Call) -> None:
    g = s.scenario.group(a.group)
    rec = s.calls[a.id] = CallRecord(a.id, a.group, group_uri(g), a.speaker, call_tag(a.id))
    speaker = s.ues[a.speaker]
    rec.start = trio.current_time()
    rec.end = rec.start + a.duration
    if rec.start - s.origin >= s.first_keying_at.get(a.group, math.inf):
        # The group's first GMK distribution is due but not over (a busy host set the run up
        # late and both steps came due at once): nobody starts a call of a group with no key
        # yet, so the speaker waits for it, as a user would, within the call's duration.
        with trio.move_on_at(rec.end):
            await s.keyed.setdefault(a.group, trio.Event()).wait()
    try:
        if speaker.calls.call(rec.group_id) is not None:
            s.fail(f"call {a.id}: {a.speaker} is still in a call of {a.group}; talks in it")
        elif not await _start(s, rec, speaker):
            return
        if a.media:
            await _talk_until(s, rec, speaker, rec.end, floor_holder=False)
        else:
            await trio.sleep_until(rec.end)
    finally:
        # The call's users hang up at its end (the release is local: no MONP release message
        # is emulated, and a listener would otherwise keep the call for RELEASE_AFTER_S).
        with trio.CancelScope(shield=True), trio.move_on_after(1.0):
            for ue in s.ues.values():
                if ue.running and ue.calls.call(rec.group_id) is not None:
                    await ue.end_call(rec.group_id)


async def _start(s: RunState, rec: CallRecord, speaker: Ue) -> bool:
    """PROBE, TFG1, then the call is the speaker's own (or one it joined meanwhile)."""
    since = len(speaker.history)
    await speaker.start_call(rec.group_id)
    with trio.move_on_at(rec.end):
        _t, ev = await speaker.wait_event(("call_joined", "call_refused"), since=since,
                                          group=rec.group_id)
        if ev.name == "call_joined":
            return True
        rec.errors.append(f"{speaker.name}: call refused {ev.data}")
    s.fail(f"call {rec.id}: {speaker.name} could not start it: {rec.errors[-1:]}")
    return False


async def _talk(s: RunState, a: M.Talk) -> None:
    rec = s.calls.get(a.call)
    if rec is None:
        raise ConfigError(f"talk: call {a.call} has not started")
    end = min(trio.current_time() + a.duration, rec.end)
    await _talk_until(s, rec, s.ues[a.ue], end, floor_holder=True)


async def _talk_until(s: RunState, rec: CallRecord, ue: Ue, end: float, *,
                      floor_holder: bool) -> None:
    """Send 160-octet media at MEDIA_RATE until ``end``; the call's speaker yields the floor
    while another UE talks (``talk`` steps), then takes it back."""
    if floor_holder:
        s.talking[rec.id] = ue.name
    period = 1.0 / MEDIA_RATE
    seq = 0
    next_t = trio.current_time()
    try:
        while next_t < end and ue.running:
            holder = s.talking.get(rec.id)
            if ue.calls.call(rec.group_id) is None:
                if len(rec.errors) < 5:
                    rec.errors.append(f"{ue.name}: not in a call of {rec.group} at "
                                      f"{s.t():.3f} s")
            elif holder is None or holder == ue.name:
                payload = _MEDIA_HDR.pack(s.canary, rec.tag, s.talker_ids[ue.name], seq,
                                          trio.current_time())
                try:
                    s.log(ue.name, "app_send", stream=rec.id, talker=ue.name, seq=seq)
                    await ue.send_media(rec.group_id, payload.ljust(MEDIA_PAYLOAD, b"\0"))
                    rec.sent += 1
                    rec.senders.add(ue.name)
                except ProseMeshError as exc:
                    if len(rec.errors) < 5:
                        rec.errors.append(f"{ue.name}: {exc}")
                seq += 1
            next_t += period
            await trio.sleep_until(next_t)
    finally:
        if floor_holder and s.talking.get(rec.id) == ue.name:
            del s.talking[rec.id]


async def _move(s: RunState, a: M.Move) -> None:
    medium = s.air.medium
    if a.speed is None or medium.position(a.ue) is None:
        medium.move(a.ue, a.to)
        return
    x, y = medium.position(a.ue)  # type: ignore[misc]
    dist = math.dist((x, y), a.to)
    steps = max(1, math.ceil(dist / (a.speed * MOVE_STEP)))
    for i in range(1, steps + 1):
        medium.move(a.ue, (x + (a.to[0] - x) * i / steps, y + (a.to[1] - y) * i / steps))
        if i < steps:
            await trio.sleep(MOVE_STEP)


async def _link_down(s: RunState, a: M.LinkDown) -> None:
    s.air.medium.link_down(a.a, a.b)


async def _link_up(s: RunState, a: M.LinkUp) -> None:
    s.air.medium.link_up(a.a, a.b)


async def _attack_start(s: RunState, a: M.AttackStart) -> None:
    await attacks.start(s, a.attacker)


async def _attack_stop(s: RunState, a: M.AttackStop) -> None:
    await attacks.stop(s, a.attacker)


async def _kill(s: RunState, a: M.Kill) -> None:
    s.killed.add(a.ue)
    s.ues[a.ue].stop()
    await s.air.detach(a.ue)


async def _set_clock(s: RunState, a: M.SetClock) -> None:
    """I1: step the UE's clock (userspace on both backends, so the same on memory and netns)."""
    ue = s.ues[a.ue]
    was = ue.clock.offset
    ue.clock.set_offset(a.offset)
    s.log(a.ue, "clock_set", offset=a.offset, was=was)


_ACTIONS: dict[type, Callable[..., Any]] = {
    M.Discover: _discover, M.D2DLink: _d2d, M.CreateGroup: _create_group, M.Call: _call,
    M.Talk: _talk, M.AddMember: _add_member, M.RemoveMember: _remove_member, M.Rekey: _rekey,
    M.Move: _move, M.LinkDown: _link_down, M.LinkUp: _link_up, M.Kill: _kill,
    M.AttackStart: _attack_start, M.AttackStop: _attack_stop, M.SetClock: _set_clock,
}  # fmt: skip


def parse_media(payload: bytes) -> tuple[bytes, bytes, int, int, float] | None:
    """(canary, call tag, talker index, seq, send time) of a runner media payload, or None."""
    if len(payload) < _MEDIA_HDR.size:
        return None
    return _MEDIA_HDR.unpack_from(payload)  # type: ignore[return-value]
