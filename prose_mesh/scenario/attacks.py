"""Attackers in a scenario run (ADVERSARIAL.md): the runner's side of ``prose_mesh.attack``.

Contract with :mod:`prose_mesh.scenario.runner` (the runner calls these, in this order):

* :func:`plan` — problems that refuse the scenario before anything starts (unsupported roles);
* :func:`setup` — after the UEs exist, before any of them runs: attach every attacker's radio
  (``air.attach(name, attack=name)``, so the medium tags what it sends) and build the role
  objects into ``state.attackers``; the passive instruments (eavesdropper ``nonce_monitor``,
  H3, and ``escrow``, D5) are handed the group PGKs and, for escrow, the KMS master secret z;
* :func:`run` — started in the UEs' nursery: each attacker's lifetime (start, stop, rate,
  count) per its configuration;
* :func:`start` / :func:`stop` — the timeline's ``attack_start`` / ``attack_stop``;
* :func:`finish` — after the run, before the report: figures into ``state.counts`` and the
  per-attacker rows of the verdict table into ``state.verdict``.

**Attribution** (ADVERSARIAL.md §5, invariants 1 and 5). A receiver's verdict line carries the
``frame_sha256`` of the frame it judged; the medium's ``deliver`` lines say who transmitted each
copy (``attack`` = the attacker's name, or null). A receiver judges its frames in delivery
order, so the verdicts on one (receiver, SHA) are matched first-in first-out to its deliveries:
a verbatim replay of a legitimate frame is told apart from the original by its place in that
order. ``finish`` reads this from events.jsonl (the run's ground truth). Copies delivered to
another attacker's radio are not counted: no UE judges them.

Figures (``state.counts``; each also in the verdict row):

* ``attack.<name>.injected`` / ``.heard`` / ``.delivered`` / ``.accepted`` / ``.rejected`` /
  ``.rejected.<REASON>`` / ``.unjudged`` (delivered copies with no verdict line: frames a UE
  filtered as not addressed to it) and the role's own figures (``.canary_hits``,
  ``.decrypted_new``, ``.variants`` ...);
* ``attack.accepted`` — all attackers together (must be 0 for ``zero_security_acceptances``);
* ``rejected.<REASON>`` — every UE's rejections with that reason, whatever the input kind;
* ``rejected.REPLAY.before_verify`` — GMK I_MESSAGEs from attackers rejected ``REPLAY``: the
  replay cache is step 7 of PROTOCOL.md §8.5, before ECCSI (step 9), so each one cost no
  verification; ``gmk.eccsi_verifies`` (all UEs) shows what verification did cost;
* ``gmk.reinstalls`` — ``gmk_installed`` events of a (group, GMK-ID) a UE had installed before;
* ``victim.delivery`` — for a spoofer or insider acting ``as`` a UE: the share (a fraction, as
  the report's ``%`` bounds are) of that UE's own media, sent while the attack was active, that
  the other members of the call's group decrypted;
* ``voice.delivery`` — the same share for all media sent while any attacker was active
  (receivers: the group's members at the end of the run, other than the talker, not killed);
* ``attack.media_during`` — media packets decrypted while an attacker was active;
* ``latency.added`` — p95 of the media one-way delay while an attacker was active minus p95
  while none was (same run, no second run needed); with no quiet media, not measured;
* ``discovery.table_size`` — every UE's discovery table size, sampled every 0.5 s;
* ``process.fds`` — this process's open file descriptors, sampled every 0.5 s from the first
  attack seen active to the end of the timeline; ``process.fd_growth`` (J2 "no fd growth") —
  the last sample minus the first (0 when nothing leaked a socket or file under attack).
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter, defaultdict, deque
from typing import TYPE_CHECKING, Any

import trio

from prose_mesh import attack as A
from prose_mesh.attack.tamperer import crafted_problems
from prose_mesh.errors import ConfigError
from prose_mesh.node.provision import community
from prose_mesh.procstat import fd_count, trimmed_rss_kb
from prose_mesh.scenario import model as M
from prose_mesh.scenario import relays

if TYPE_CHECKING:
    from prose_mesh.scenario.runner import RunState

SAMPLE_PERIOD = 0.5  # s between discovery-table samples
#: s after the first attack before J2's steady-state RSS baseline (process.rss_steady_growth_pct)
RSS_WARMUP_S = 120.0
_SHA = re.compile(r'"frame_sha256":"([0-9a-f]+)"')
_NODE = re.compile(r'"node":"([^"]+)"')
_ATTACK = re.compile(r'"attack":"([^"]+)"')


def plan(scenario: M.Scenario) -> list[str]:
    """Problems that refuse the scenario up front (a role or option not implemented yet)."""
    problems: list[str] = []
    for a in scenario.attackers:
        if a.role == "malicious_relay":
            if not hasattr(relays, "misbehave"):
                problems.append(f"attacker {a.name} (malicious_relay): not supported yet")
            continue
        cls = A.ROLES.get(a.role)
        if cls is None:
            problems.append(f"attacker {a.name} ({a.role}): not supported yet")
            continue
        unknown = set(dict(a.options)) - cls.OPTIONS
        if unknown:
            problems.append(
                f"attacker {a.name} ({a.role}): option(s) {sorted(unknown)} not supported yet"
            )
        if a.role == "tamperer":
            problems += crafted_problems(a.name, dict(a.options))
        if a.role == "insider":
            bad = set(a.option("actions", ())) - set(A.insider.SUPPORTED_ACTIONS)
            if bad:
                problems.append(
                    f"attacker {a.name} (insider): action(s) {sorted(bad)} not supported yet"
                )
    return problems


def world(state: RunState) -> A.World:
    """What the attackers know of this run (live views of the groups and members)."""
    epoch = next(iter(state.ues.values())).clock.epoch if state.ues else 0.0
    return A.World(
        origin=state.origin,
        l2ids={n: p.l2id for n, p in state.prov.items()},
        uris={n: p.uri for n, p in state.prov.items()},
        prov=state.prov, groups=state.groups, members=state.members,
        epoch=epoch, canary=state.canary,
    )  # fmt: skip


def expand_targets(scenario: M.Scenario, targets: tuple[str, ...]) -> list[str]:
    """UE names of an attacker's targets: group IDs become their members."""
    groups = {g.id: g for g in scenario.groups}
    out: list[str] = []
    for t in targets:
        for name in groups[t].members if t in groups else (t,):
            if name not in out:
                out.append(name)
    return out


async def setup(state: RunState) -> None:
    """Attach attacker radios and build the role objects into ``state.attackers``."""
    scenario = state.scenario
    w = world(state)
    started_by_timeline = {st.action.attacker for st in scenario.timeline
                           if isinstance(st.action, M.AttackStart)}  # fmt: skip
    for a in scenario.attackers:
        if a.role == "malicious_relay":
            await relays.misbehave(state, a)  # type: ignore[attr-defined]
            continue
        role = A.build(a, w, expand_targets(scenario, a.targets))
        if isinstance(role, A.Eavesdropper):
            _hand_instrument_keys(state, role)
        if a.name in started_by_timeline:
            role.start = None  # the timeline's attack_start activates it
        await role.attach(state.air, a.position)
        state.attackers[a.name] = role


def _hand_instrument_keys(state: RunState, role: A.Eavesdropper) -> None:
    """H3 / D5: the harness hands the passive instruments what they are defined to hold.

    The nonce monitor (H3) is an audit of the deployment's own signers and the escrow listener
    (D5) is the KMS operator: both read GMK I_MESSAGEs on the group bearers, so both are handed
    every group's PGK; the escrow listener also gets the community's master secret z (the KMS
    of :func:`prose_mesh.node.provision.community`). A plain eavesdropper gets nothing."""
    if role.monitor is None and not role.escrow:
        return
    held = {(gid, pgk_id, pgk) for prov in state.prov.values() for gid, (pgk_id, pgk) in prov.pgks}
    role.hold_group_keys(sorted(held))
    if role.escrow:
        kms = community(state.scenario.kms)
        role.hold_master_secret(kms.z, kms.z_pub)


async def run(state: RunState, nursery: trio.Nursery) -> None:
    """Start each attacker's scheduled lifetime (and the discovery-table sampler)."""
    for role in state.attackers.values():
        if isinstance(role, A.Role):
            await nursery.start(role.run)
    if state.attackers:
        nursery.start_soon(_sample_discovery, state)


async def _sample_discovery(state: RunState) -> None:
    """Discovery table sizes, the RSS when the first attack became active and RSS_WARMUP_S
    later (J2's growth), and from then on the process's open fds (``process.fds``; J2: "no fd
    growth")."""
    first_attack = math.inf
    while True:
        if not state.rss_at_attack_kb and any(
            isinstance(r, A.Role) and r.active for r in state.attackers.values()
        ):
            state.rss_at_attack_kb, first_attack = trimmed_rss_kb(), trio.current_time()
        if not state.rss_after_warmup_kb and trio.current_time() >= first_attack + RSS_WARMUP_S:
            state.rss_after_warmup_kb = trimmed_rss_kb()
        if state.rss_at_attack_kb:
            state.sample("process.fds", float(fd_count()))
        for name, ue in state.ues.items():
            if name not in state.killed:
                state.sample("discovery.table_size", float(len(ue.discovery.peers())))
        await trio.sleep(SAMPLE_PERIOD)


def _role(state: RunState, name: str) -> A.Role:
    role = state.attackers.get(name)
    if not isinstance(role, A.Role):
        raise ConfigError(f"attacker {name!r} cannot be started or stopped by the timeline")
    return role


async def start(state: RunState, name: str) -> None:
    _role(state, name).activate()
    await trio.lowlevel.checkpoint()


async def stop(state: RunState, name: str) -> None:
    _role(state, name).deactivate()
    await trio.lowlevel.checkpoint()


# -- after the run -----------------------------------------------------------------------------
def attribute(state: RunState) -> dict[str, dict[str, Any]]:
    """Per attacker: deliveries of its frames and the verdicts on them, from events.jsonl.

    An attacker's frames are those the medium tagged with its name on their ``tx`` lines
    (``attack``). A frame only attackers transmitted: every verdict on it is theirs. A frame
    that was also transmitted by a UE (a verbatim replay): the verdicts on it at one receiver
    are matched first-in first-out to that receiver's deliveries of it, in time order
    (deliveries first on equal times) - the file's line order is not causal (the medium's
    lines are batched)."""
    roles = {n: r for n, r in state.attackers.items() if isinstance(r, A.Role)}
    out: dict[str, dict[str, Any]] = {
        n: {"delivered": 0, "accepted": 0, "accepted_kinds": Counter(), "rejected": Counter(),
            "rejected_kinds": Counter()} for n in roles}  # fmt: skip
    if state.session is None or not roles:
        return out
    state.session.log(state.air.medium.take_events())  # what the scheduler has not written yet
    state.session.flush()
    path = state.session.path / "events.jsonl"
    owner: dict[str, str] = {}  # frame SHA -> the attacker whose radio sent it first
    with open(path) as f:
        for line in f:
            if '"event":"tx"' in line and '"attack":null' not in line:
                sha, who = _SHA.search(line), _ATTACK.search(line)
                if sha is not None and who is not None and who.group(1) in roles:
                    owner.setdefault(sha.group(1), who.group(1))
    shared: set[str] = set()  # attack SHAs a UE also transmitted
    with open(path) as f:
        for line in f:
            if '"event":"tx"' in line and '"attack":null' in line:
                m = _SHA.search(line)
                if m is not None and m.group(1) in owner:
                    shared.add(m.group(1))
    ordered: list[tuple[float, int, str, str, str | None, str, str | None]] = []

    def verdict(who: str, event: str, kind: str | None, reason: str | None) -> None:
        if event == "accept":
            out[who]["accepted"] += 1
            out[who]["accepted_kinds"][kind] += 1
        else:
            if event == "note":  # unauthenticated, no authority (actions.Noted): not accepted
                reason = "NOTED"
            out[who]["rejected"][reason] += 1
            out[who]["rejected_kinds"][(kind, reason)] += 1

    with open(path) as f:
        for line in f:
            m = _SHA.search(line)
            if m is None or m.group(1) not in owner:
                continue
            sha = m.group(1)
            if '"event":"deliver"' in line:
                node = _NODE.search(line)
                if node is not None and node.group(1) in roles:
                    continue  # another attacker's radio heard it: no UE judged that copy
                if sha in shared:
                    e = json.loads(line)
                    ordered.append((e["t"], 0, e["node"], sha, e.get("attack"), "", None))
                else:
                    who = owner[sha]
                    out[who]["delivered"] += 1
            elif ('"event":"accept"' in line or '"event":"reject"' in line
                  or '"event":"note"' in line):
                e = json.loads(line)
                if sha in shared:
                    ordered.append(
                        (e["t"], 1, e["node"], sha, e.get("kind"), e["event"], e.get("reason"))
                    )
                else:
                    verdict(owner[sha], e["event"], e.get("kind"), e.get("reason"))
    ordered.sort(key=lambda x: (x[0], x[1]))
    pending: dict[tuple[str, str], deque[str | None]] = defaultdict(deque)
    for _t, order, node, sha, who_or_kind, event, reason in ordered:
        if order == 0:
            pending[(node, sha)].append(who_or_kind)
            if who_or_kind in out:
                out[who_or_kind]["delivered"] += 1
            continue
        q = pending.get((node, sha))
        who = q.popleft() if q else None
        if who in out:
            verdict(who, event, who_or_kind, reason)
    return out


def finish(state: RunState) -> None:
    """Figures and verdict rows of every attacker, and the scenario-level security figures."""
    counts = state.counts
    verdicts = attribute(state)
    total_accepted = 0
    for name, role in state.attackers.items():
        if not isinstance(role, A.Role):
            _relay_row(state, name, role)
            continue
        v = verdicts.get(name, {})
        rejected: Counter[str] = v.get("rejected", Counter())
        n_rej = sum(rejected.values())
        judged = v.get("accepted", 0) + n_rej
        p = f"attack.{name}"
        counts[f"{p}.injected"] = float(role.injected)
        counts[f"{p}.heard"] = float(role.counters["heard"])
        counts[f"{p}.delivered"] = float(v.get("delivered", 0))
        counts[f"{p}.accepted"] = float(v.get("accepted", 0))
        counts[f"{p}.rejected"] = float(n_rej)
        counts[f"{p}.unjudged"] = float(v.get("delivered", 0) - judged)
        for reason, n in rejected.items():
            counts[f"{p}.rejected.{reason}"] = float(n)
        for metric in _expected_reasons(state, p):  # expected 0 is measured 0, not "not measured"
            counts.setdefault(metric, 0.0)
        for key, value in role.figures().items():
            counts[f"{p}.{key}"] = value
        total_accepted += v.get("accepted", 0)
        row: dict[str, Any] = {
            "attacker": name, "role": role.ROLE, "targets": list(role.targets),
            "injected": role.injected,
            "injected_by_kind": {k.split(".", 1)[1]: n for k, n in sorted(role.counters.items())
                                 if k.startswith("injected.")},
            "heard": role.counters["heard"], "delivered": v.get("delivered", 0),
            "accepted": v.get("accepted", 0),
            "accepted_by_kind": dict(v.get("accepted_kinds", {})),
            "rejected": n_rej, "rejected_by_reason": dict(sorted(rejected.items())),
            "unjudged": v.get("delivered", 0) - judged,
            "counters": dict(sorted(role.counters.items())), "figures": role.figures(),
        }  # fmt: skip
        state.verdict.append(row)
        if v.get("accepted", 0):
            kinds = dict(v.get("accepted_kinds", {}))
            state.note(
                f"SECURITY: {v['accepted']} frame(s) injected by attacker {name} "
                f"({role.ROLE}) were accepted: {kinds}"
            )
    if state.attackers:
        counts["attack.accepted"] = float(total_accepted)
        if total_accepted and state.scenario.expect.zero_security_acceptances:
            state.fail(f"zero_security_acceptances: {total_accepted} attacker frame(s) accepted")
        replay_gmk = sum(n for v in verdicts.values()
                         for (kind, reason), n in v["rejected_kinds"].items()
                         if kind == "gmk" and reason == "REPLAY")  # fmt: skip
        counts["rejected.REPLAY.before_verify"] = float(replay_gmk)
        _security_figures(state)
        _delivery_figures(state)
        fds = state.samples.get("process.fds")
        if fds:  # the last sample before the timeline ended over the one at the first attack
            counts["process.fd_growth"] = fds[-1] - fds[0]


def _expected_reasons(state: RunState, prefix: str) -> list[str]:
    """``<prefix>.rejected.<REASON>`` figures the scenario's expectations name."""
    want = f"{prefix}.rejected."
    return [f.metric for f in state.scenario.expect.figures if f.metric.startswith(want)]


def _relay_row(state: RunState, name: str, relay: Any) -> None:
    """A malicious relay's row, from whatever counters the relay object exposes."""
    c = dict(getattr(relay, "counters", {}) or {})
    for key, value in c.items():
        if isinstance(value, int | float):
            state.counts[f"attack.{name}.{key}"] = float(value)
    state.verdict.append({"attacker": name, "role": "malicious_relay", "counters": c})


def _security_figures(state: RunState) -> None:
    counts = state.counts
    by_reason: Counter[str] = Counter()
    verifies = 0
    reinstalls = 0
    for ue in state.ues.values():
        for (_kind, reason), n in ue.log.rejected.items():
            by_reason[reason] += n
        receiver = getattr(ue.gmk_member, "receiver", None) or ue.gmk_member
        ops = getattr(receiver, "crypto_ops", None)
        if ops is not None:
            verifies += ops.get("eccsi_verify", 0)
        seen: set[tuple[Any, Any]] = set()
        for _t, ev in ue.events("gmk_installed"):
            key = (ev.data.get("group_id"), ev.data.get("gmk_id"))
            if key in seen:
                reinstalls += 1
            seen.add(key)
    for reason, n in by_reason.items():
        counts[f"rejected.{reason}"] = float(n)
    for reason in ("REPLAY", "BAD_SIG", "BAD_SAKKE", "BAD_TAG", "MALFORMED"):
        counts.setdefault(f"rejected.{reason}", 0.0)
    counts["gmk.eccsi_verifies"] = float(verifies)
    counts["gmk.reinstalls"] = float(reinstalls)


def _active_at(state: RunState, t: float, roles: list[A.Role]) -> bool:
    return any(r.was_active(t) for r in roles)


def _delivery_figures(state: RunState) -> None:
    """victim.delivery, voice.delivery and latency.added from the UEs' decrypted media."""
    from prose_mesh.scenario.report import percentile

    roles = [r for r in state.attackers.values() if isinstance(r, A.Role)]
    if not roles:
        return
    # sent media, from the app_send lines: (call, talker, seq) -> send time (Trio time)
    sent: dict[tuple[str, str, int], float] = {}
    if state.session is not None:
        state.session.flush()
        with open(state.session.path / "events.jsonl") as f:
            for line in f:
                if '"event":"app_send"' not in line:
                    continue
                e = json.loads(line)
                sent[(e["stream"], e["talker"], e["seq"])] = e["t"] + state.origin
    got: dict[tuple[str, str, int], set[str]] = defaultdict(set)
    delays_on: list[float] = []
    delays_off: list[float] = []
    for rx, played in state.played().items():
        for p in played:
            if p.call is None:
                continue
            got[(p.call, p.talker, p.seq)].add(rx)
            (delays_on if _active_at(state, p.sent, roles) else delays_off).append(p.t - p.sent)
    victims = {r.options.get("as") for r in roles if r.ROLE in ("spoofer", "insider")}
    expected = delivered = 0
    v_expected = v_delivered = 0
    for (call, talker, seq), t_sent in sent.items():
        if not _active_at(state, t_sent, roles):
            continue
        rec = state.calls.get(call)
        if rec is None:
            continue
        # members of the call's group (as configured, and still in it), other than the talker
        receivers = {
            n
            for n in state.members.get(rec.group, set())
            if n != talker and n not in state.killed and n in state.ues
        }
        n_got = len(got.get((call, talker, seq), set()) & receivers)
        expected += len(receivers)
        delivered += n_got
        if talker in victims:
            v_expected += len(receivers)
            v_delivered += n_got
    if expected:
        state.counts["voice.delivery"] = delivered / expected
    if v_expected:
        state.counts["victim.delivery"] = v_delivered / v_expected
    state.counts["attack.media_during"] = float(len(delays_on))
    if delays_on and delays_off:
        added = percentile(delays_on, 95) - percentile(delays_off, 95)
        if math.isfinite(added):
            state.sample("latency.added", added)
