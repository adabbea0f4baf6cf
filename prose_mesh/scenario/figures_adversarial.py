"""Figures of the ADVERSARIAL.md §4 scenarios that the runner's own measurements do not give.

ADVERSARIAL.md §4 (A2, A7, D1, H1, I1, J1, J2) and §5 ("Nothing lost" accounting). The runner
measures latencies and who decrypted which call; the catalogue's figures are about verdicts
(what was rejected, under which reason, and whether anything was accepted that must not be).
:func:`add_figures` derives them after a run, from what the run already recorded - each UE's
:class:`~prose_mesh.node.log.UeLog` counters, its domain events (``gmk_installed``,
``call_joined``, ``call_refused``, ``media``) and the run's ``events.jsonl`` (the medium's
``deliver``/``drop`` lines are the ground truth of §5) - and writes them into
``state.counts`` / ``state.samples`` under the names the scenario files use. Nothing here
changes a verdict or a protocol decision: it only counts.

Figures (all names are metric names of ``expect.figures``; counts are plain numbers, rates
are fractions so that ``"< 0.1%"`` bounds work):

* ``ue.<ue>.accepted.<kind>``, ``ue.<ue>.rejected.<kind>.<reason>``,
  ``ue.<ue>.send_refused.<reason>`` (a compliant sender's refusal, ``call_refused`` with
  ``what: media``) and the totals ``verdicts.accepted.<kind>``,
  ``verdicts.rejected.<kind>.<reason>``, ``verdicts.send_refused.<reason>``. Counters that
  stayed zero are set to 0 for every such name a scenario expects (the counter exists and was
  read: zero is a measurement, not a missing one). ``discovery.peers.<ue>``: entries in the
  UE's discovery table at the end (I1: who was discovered).
* ``gmk.accepted_outside_lifetime`` / ``gmk.accepted_inside_lifetime`` (D1): media accepted
  by a UE while its own clock was outside / inside ``[activation, expiry + G]`` of the GMK named
  in the packet's MKI (GMK-ID ‖ GUK-ID, PROTOCOL.md), G = the UE's receive grace
  (``gmk.receive_grace`` is reported too).
* ``srtp.tuples``, ``srtp.tuple_reuse``, ``srtp.mki_ssrc_index_reuse`` (H1): the (MKI, SSRC,
  index) audit over every SRTP packet a UE decrypted. A tuple that carried two different
  plaintexts is key-stream reuse; ``tuple_reuse`` keys the tuple by call as well (each call
  has its own call key, so the same MKI in two calls is two keys), ``mki_ssrc_index_reuse`` is
  the catalogue's literal (MKI, SSRC, index) test. ``srtp.ssrc_index_collisions`` (H1's forced
  SSRC collision): (SSRC, index) pairs heard under more than one MKI;
  ``srtp.ssrc_index_collisions_same_gmk``: (GMK-ID, SSRC, index) heard under different GUK-IDs
  (so a pair that collided under two GMKs counts twice here, once in the former).
* ``media.first_verdicts``, ``media.false_rejects``, ``media.false_reject_rate``,
  ``media.rejected_before_key`` (A7, J1; §5 invariant 4): per receiver, the first verdict on
  each untampered media frame of which a legitimate transmission reached it (matched to the
  medium's ``deliver`` lines by ``frame_sha256``; an attacker's verbatim replay of a frame the
  receiver never had, e.g. to the UE that sent it, is the attack figures' business).
  A reject of such a frame is false unless it is an allowed class: ``NOT_FOR_ME``, a GMK
  lifetime verdict (:data:`LIFETIME_REASONS`, ``rejected_by_lifetime``), or
  ``UNKNOWN_KEY`` at most :data:`PRE_KEY_WINDOW` before the receiver joined a call or took
  a call's re-key (a frame that overtook its key announcement, or whose announcement the
  medium lost until a late-entry probe brought it again; ``rejected_before_key``), or
  before its first call key under the GMK the MKI names, taken later within
  :data:`GMK_DELIVERY_BOUND` (the announcements and the probes for them lost, or refused for
  want of that GMK: J1 seed 689, three probes in a row lost, then the link down), or
  ``UNKNOWN_KEY`` at most that long after the receiver hung up (the runner ends a call at each
  UE locally; frames still in flight then have no key: ``rejected_after_hangup``), or
  ``UNKNOWN_KEY`` for the GMK the packet's MKI names (the reject's detail) when the receiver
  installed that GMK later, within :data:`GMK_DELIVERY_BOUND` (its I_MESSAGE and the
  retries before were lost: the loss is the medium's, the delivery bound is
  ``gmk.delivery_ratio``'s to judge; ``rejected_before_gmk``).
* ``media.duplicates_accepted`` (A6, J1; invariant 2): a (call, talker, seq) accepted twice
  by one receiver. ``media.corrupt_accepted`` (J1): accepted media from a copy the medium's
  ``corrupt`` flipped a bit of inside the SRTP packet (what SRTP authentication covers: the
  packet's last ``octets`` octets of the frame, [EMU] layout: no bearer puts a trailer after it
  without also protecting its SDU with a MAC-I), or whose flip is not known (a frame nobody
  delivered as received). A flip before the SRTP packet — Layer-2 and shim fields, the PDCP
  header, the IPv6 flow label inside a one-to-many PDCP SDU, which is ciphered without integrity
  (TS 33.303) — leaves an authentic packet the receiver rightly accepts:
  ``media.accepted_header_flips``, reported.
  ``media.forged_accepted`` (invariant 1): accepted media without the run's canary.
* ``gmk.delivery_ratio`` (J1): of every (GMK, recipient) the distributors sent, the share the
  recipient installed within :data:`GMK_DELIVERY_BOUND` (one sent less than
  :data:`IN_FLIGHT_S` before the run stopped counts only if it was installed).
  ``link.resume_time`` samples (J1): after each ``down`` window of a declared link, the first
  media the far end accepted from a talking near end, minus the window's end.
* ``clock.recovery_time`` samples (I1), one per ``set_clock`` step of a group member: the step
  to the UE holding a GMK of each of its groups and playing media of each of their calls
  running then (+inf if never); ``clock.accepted_before_resync``: GMKs installed and media
  played by a stepped UE before its first step (0: its skewed clock failed closed).
* ``gmk.downgrades`` (A5): installs whose activation is not newer than the group's newest
  one at that UE; ``gmk.verifies_beyond_verdicts`` (B4): ECCSI verifications not explained by
  a GMK verdict that follows verification (0 means: nothing rejected before the crypto, such
  as NOT_FOR_ME, cost a verification); ``gmk.verifies_beyond_sent`` (E2): ECCSI verifications
  at a UE beyond the I_MESSAGEs the run's distributors (UEs and the network's GMS) addressed
  to it (0 means: no attacker's input reached the crypto); ``ue.<ue>.crypto.eccsi_verify`` /
  ``sakke_decapsulate``.
* ``calls.phantom`` / ``floor.phantom_grants`` (A6): ``call_joined`` outside any running call
  of the group (or a second join of the same call), ``floor_taken`` naming a talker that sent
  nothing within 1 s; ``calls.joins`` / ``floor.grants`` are the totals.
* ``process.rss_mb`` (E2, E3, J2): the peak resident set size of this process from the start
  of the run to the end of its timeline (VmHWM, reset when the run starts:
  :mod:`prose_mesh.procstat` says why not ``ru_maxrss``), so not the memory the figures after
  the run take to read its event log; ``process.rss_growth_pct`` (J2): RSS at the end of the
  timeline over RSS when an attack was first seen active, in per cent (absent without one);
  ``process.rss_steady_growth_pct`` (J2's "no memory growth"): the same from
  :data:`~prose_mesh.scenario.attacks.RSS_WARMUP_S` after that (absent in shorter runs). In the
  warm-up the run's bounded stores fill under the flood (the attackers' heard rings and sent
  SHAs, the UEs' per-source rate-limit tables and replay caches, the media each UE keeps in
  memory before its log spills): J2-30m on netns, 177 MB at the first attack, 201.8 MB from
  50 s after it to minute 5. What grows after it grows without bound.

Wiring (``runner.run_scenario``): call :func:`flush_medium_events` before ``relays.finish`` /
``attacks.finish`` (they read events.jsonl; without it the last batch of the medium's
``deliver`` lines is missing and attacker frames go unattributed), and ``add_figures(state)``
after ``attacks.finish(state)``, before ``build_report``. Both are idempotent.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import math
import re
from collections import Counter, defaultdict
from typing import TYPE_CHECKING, Any

from prose_mesh.procstat import peak_rss_kb, rss_kb
from prose_mesh.protocol.group_call import mki_gmk_id
from prose_mesh.scenario.invariants import flip_before_srtp
from prose_mesh.scenario.relays import NETWORK

if TYPE_CHECKING:
    from prose_mesh.scenario.runner import RunState

#: s: UNKNOWN_KEY this long before a call_joined / call_rekeyed is "overtook the key": covers
#: the announcement's verification and a lost announcement's late-entry probes (0.25 + 0.5 s)
PRE_KEY_WINDOW = 1.0
KEY_ARRIVALS = ("call_joined", "call_rekeyed")  # UE events after which a call's key is held
#: the UE events the figures read from events.jsonl (every other ue_event line is skipped)
FIGURE_UE_EVENTS = (*KEY_ARRIVALS, "call_ended", "floor_taken", "gmk_installed")
GMK_DELIVERY_BOUND = 10.0  # s: ADVERSARIAL.md J1 "GMK delivery 100 % within 10 s"
IN_FLIGHT_S = 1.0  # s: a GMK sent this close to the end and not installed is "in flight"
LINK_RESUME_LOOKAHEAD = 10.0  # s after a link-up within which a resume is looked for
MEDIA_KINDS = frozenset({"media"})
#: GMK lifetime verdicts (PROTOCOL.md §8.4): a frame outside its key's lifetime is not "in
#: window", so rejecting it is policy, not a false reject (invariant 4's allowed classes).
LIFETIME_REASONS = frozenset({"GMK_EXPIRED", "GMK_NOT_ACTIVE", "GMK_SUPERSEDED"})

_GENERIC = re.compile(r"^(?:ue\.[A-Za-z0-9_]+|verdicts)\.(?:accepted|rejected|send_refused)\.")


def add_figures(state: RunState) -> None:
    """Compute every figure of this module into ``state.counts`` / ``state.samples``."""
    counts = state.counts
    _verdict_counts(state, counts)
    _lifetime(state, counts)
    _srtp_audit(state, counts)
    events = _read_events(state)
    if events is not None:
        _first_verdicts(state, events, counts)
        _resume(state, events)
    _duplicates_and_forgeries(state, counts)
    _gmk_delivery(state, counts)
    _gmk_history(state, counts)
    _clock_recovery(state, counts)
    if events is not None:
        _phantoms(state, events, counts)
    counts["process.rss_mb"] = (state.rss_peak_kb or peak_rss_kb()) / 1024.0
    if state.rss_at_attack_kb:
        end = state.rss_end_kb or rss_kb()
        counts["process.rss_growth_pct"] = 100.0 * (end / state.rss_at_attack_kb - 1.0)
        if state.rss_after_warmup_kb:
            counts["process.rss_steady_growth_pct"] = 100.0 * (
                end / state.rss_after_warmup_kb - 1.0)
    for f in state.scenario.expect.figures:  # zero counters a scenario expects
        if _GENERIC.match(f.metric) and f.metric not in counts:
            counts[f.metric] = 0.0


def flush_medium_events(state: RunState) -> None:
    """Move the medium's pending ``deliver``/``drop`` lines into events.jsonl and flush it.

    The air writes its events in batches; at the end of a run some are still pending when
    ``attacks.finish`` reads the file to attribute verdicts to attackers. The runner should call
    this before ``relays.finish`` / ``attacks.finish`` (wiring note in the module docstring)."""
    if state.session is None:
        return
    state.session.log(state.air.medium.take_events())
    state.session.flush()


def _verdict_counts(state: RunState, counts: dict[str, float]) -> None:
    total: Counter[str] = Counter()
    for name, ue in state.ues.items():
        for kind, n in ue.log.accepted.items():
            counts[f"ue.{name}.accepted.{kind}"] = float(n)
            total[f"verdicts.accepted.{kind}"] += n
        for (kind, reason), n in ue.log.rejected.items():
            counts[f"ue.{name}.rejected.{kind}.{reason}"] = float(n)
            total[f"verdicts.rejected.{kind}.{reason}"] += n
        refused: Counter[str] = Counter(
            str(ev.data.get("reason")) for _t, ev in ue.events("call_refused")
            if ev.data.get("what") == "media")  # fmt: skip
        for reason, n in refused.items():
            counts[f"ue.{name}.send_refused.{reason}"] = float(n)
            total[f"verdicts.send_refused.{reason}"] += n
    counts.update({k: float(v) for k, v in total.items()})
    for name, ue in state.ues.items():
        counts[f"discovery.peers.{name}"] = float(len(ue.discovery.peers()))


def _lifetime(state: RunState, counts: dict[str, float]) -> None:
    """D1: media accepted outside the receiver's own view of the GMK lifetime (+ grace)."""
    outside = inside = 0
    grace = 0.0
    for ue in state.ues.values():
        g = float(ue.gmk_member.grace)
        grace = max(grace, g)
        life: dict[int, tuple[float, float]] = {}
        for _t, ev in ue.events("gmk_installed"):
            gmk_id = int(ev.data["gmk_id"])
            if "activation" in ev.data:
                life[gmk_id] = (float(ev.data["activation"]), float(ev.data["expiry"]))
            else:  # a GMK this UE issued itself (GmkMember.adopt): the record has the lifetime
                found = ue.gmk_member.by_gmk_id(gmk_id)
                if found is not None:
                    life[gmk_id] = (float(found[1].activation), float(found[1].expiry))
        for _t, data in ue.media:
            mki = str(data.get("mki", ""))
            if len(mki) < 8:
                continue
            span = life.get(int(mki[:8], 16))
            now = float(data["t"])  # the clock the receiver judged it by, not the log time
            if span is None or not span[0] <= now <= span[1] + g:
                outside += 1
            else:
                inside += 1
    counts["gmk.accepted_outside_lifetime"] = float(outside)
    counts["gmk.accepted_inside_lifetime"] = float(inside)
    counts["gmk.receive_grace"] = grace


def _srtp_audit(state: RunState, counts: dict[str, float]) -> None:
    """H1: (MKI, SSRC, index) -> the set of plaintext digests seen under it, by every UE."""
    by_call: dict[tuple[Any, ...], set[bytes]] = defaultdict(set)
    literal: dict[tuple[Any, ...], set[bytes]] = defaultdict(set)
    for ue in state.ues.values():
        for _t, data in ue.media:
            digest = hashlib.sha256(bytes(data.get("payload", b""))).digest()[:8]
            tup = (data.get("mki"), data.get("ssrc"), data.get("index"))
            by_call[(data.get("group"), data.get("call_id"), *tup)].add(digest)
            literal[tup].add(digest)
    counts["srtp.tuples"] = float(len(by_call))
    counts["srtp.tuple_reuse"] = float(sum(1 for v in by_call.values() if len(v) > 1))
    counts["srtp.mki_ssrc_index_reuse"] = float(sum(1 for v in literal.values() if len(v) > 1))
    _ssrc_collisions(literal, counts)


def _ssrc_collisions(
    literal: dict[tuple[Any, ...], set[bytes]], counts: dict[str, float]
) -> None:
    """H1's forced SSRC collision: (SSRC, index) pairs heard under two or more MKIs, and the
    part of them under one GMK (only the talkers' GUK-IDs set their master keys apart).
    Non-zero shows the collision happened; ``srtp.mki_ssrc_index_reuse`` 0 that it was safe."""
    mkis: dict[tuple[Any, Any], set[str]] = defaultdict(set)
    guks: dict[tuple[str, Any, Any], set[str]] = defaultdict(set)
    for mki, ssrc, index in literal:
        m = str(mki)
        mkis[(ssrc, index)].add(m)
        guks[(m[:8], ssrc, index)].add(m[8:])  # MKI (hex) = GMK-ID ‖ GUK-ID, 4 octets each
    counts["srtp.ssrc_index_collisions"] = float(sum(1 for v in mkis.values() if len(v) > 1))
    counts["srtp.ssrc_index_collisions_same_gmk"] = float(
        sum(1 for v in guks.values() if len(v) > 1))


def _read_events(state: RunState) -> list[dict[str, Any]] | None:
    """The run's events.jsonl so far, after moving the medium's pending lines into it."""
    session = state.session
    if session is None:
        return None
    flush_medium_events(state)
    path = session.path / "events.jsonl"
    wanted = (
        '"event":"deliver"',
        '"event":"accept"',
        '"event":"reject"',
        '"event":"app_send"',
        *(f'"name":"{name}"' for name in FIGURE_UE_EVENTS),
    )
    try:
        with open(path) as fh:  # only the lines the figures read (a soak's log is large)
            return [json.loads(line) for line in fh if any(w in line for w in wanted)]
    except FileNotFoundError:
        return None


def _first_verdicts(
    state: RunState, events: list[dict[str, Any]], counts: dict[str, float]
) -> None:
    """§5 invariant 4 on media, and accepted corrupted copies (J1)."""
    delivered: dict[tuple[str, str], list[str]] = {}
    legit: set[tuple[str, str]] = set()  # (node, SHA) of which a legitimate copy was delivered
    flips: dict[tuple[str, str], tuple[int, int]] = {}  # (node, copy SHA) -> (octet, frame len)
    for e in events:
        if e.get("event") == "deliver":
            key = (e["node"], e["frame_sha256"])
            delivered.setdefault(key, []).extend(e.get("flags", []))
            if e.get("attack") is None:
                legit.add(key)
            if "copy_sha256" in e:
                flips[(e["node"], e["copy_sha256"])] = (e["flip"]["octet"], e["flip"]["len"])
    joined: dict[str, list[float]] = defaultdict(list)
    keyed: dict[tuple[str, int], float] = {}  # (node, GMK-ID) -> first call key under it
    ended: dict[str, list[float]] = defaultdict(list)
    installed: dict[tuple[str, int], float] = {}  # (node, GMK-ID) -> first install
    for e in events:
        if e.get("event") != "ue_event":
            continue
        if e.get("name") in KEY_ARRIVALS:
            joined[e["node"]].append(float(e["t"]))
            if e.get("data", {}).get("gmk_id") is not None:
                k = (e["node"], int(e["data"]["gmk_id"]))
                keyed[k] = min(keyed.get(k, math.inf), float(e["t"]))
        elif e.get("name") == "call_ended":
            ended[e["node"]].append(float(e["t"]))
        elif e.get("name") == "gmk_installed":
            installed.setdefault((e["node"], int(e["data"]["gmk_id"])), float(e["t"]))
    seen: set[tuple[str, str]] = set()
    first = false = before_key = before_gmk = after_end = by_lifetime = corrupt_accepted = 0
    header_flips = 0
    for e in events:
        if e.get("event") not in ("accept", "reject") or e.get("kind") not in MEDIA_KINDS:
            continue
        sha = e.get("frame_sha256")
        if sha is None:
            continue
        key = (e["node"], sha)
        flags = delivered.get(key)
        tampered = flags is None or "corrupt" in flags  # no untouched copy was delivered
        if e["event"] == "accept" and tampered:
            octet, size = flips.get(key, (None, 0))
            if flip_before_srtp(octet, size, e.get("octets")):
                header_flips += 1  # before the SRTP packet: nothing end to end covers it
            else:
                corrupt_accepted += 1
        if tampered or key in seen or key not in legit:
            continue  # invariant 4 is about legitimate frames (attackers' have their figures)
        seen.add(key)
        first += 1
        if e["event"] == "accept" or e.get("reason") == "NOT_FOR_ME":
            continue
        if e.get("reason") in LIFETIME_REASONS:
            by_lifetime += 1
            continue
        t = float(e["t"])
        gmk_id = mki_gmk_id(e.get("detail"))
        if e.get("reason") == "UNKNOWN_KEY" and (
            any(t <= tj <= t + PRE_KEY_WINDOW for tj in joined.get(e["node"], ()))
            # no call key under the MKI's GMK yet: its announcements (or their GMK) were
            # lost; one taken later, within the J1 delivery bound, explains the reject
            or t < keyed.get((e["node"], gmk_id), math.inf) <= t + GMK_DELIVERY_BOUND
        ):
            before_key += 1
            continue
        t_gmk = installed.get((e["node"], gmk_id)) if gmk_id is not None else None
        if e.get("reason") == "UNKNOWN_KEY" and t_gmk is not None and (
            t < t_gmk <= t + GMK_DELIVERY_BOUND
        ):
            before_gmk += 1  # its GMK was still on the way (resends), installed later
            continue
        if e.get("reason") == "UNKNOWN_KEY" and any(
            te <= t <= te + PRE_KEY_WINDOW for te in ended.get(e["node"], ())
        ):
            after_end += 1
            continue
        false += 1
    counts["media.first_verdicts"] = float(first)
    counts["media.false_rejects"] = float(false)
    counts["media.false_reject_rate"] = false / first if first else math.nan
    counts["media.rejected_before_key"] = float(before_key)
    counts["media.rejected_before_gmk"] = float(before_gmk)
    counts["media.rejected_after_hangup"] = float(after_end)
    counts["media.rejected_by_lifetime"] = float(by_lifetime)
    counts["media.corrupt_accepted"] = float(corrupt_accepted)
    counts["media.accepted_header_flips"] = float(header_flips)


def _resume(state: RunState, events: list[dict[str, Any]]) -> None:
    """J1: after each declared link-down window, how long until media flows again."""
    accepts: dict[tuple[str, str], list[float]] = defaultdict(list)
    sends: dict[str, list[float]] = defaultdict(list)
    for e in events:
        if e.get("event") == "accept" and e.get("kind") in MEDIA_KINDS and e.get("peer"):
            accepts[(e["node"], e["peer"])].append(float(e["t"]))
        elif e.get("event") == "app_send":
            sends[e["node"]].append(float(e["t"]))
    names = list(state.ues)
    resumes: list[float] = []
    for link in state.scenario.medium.links:
        pairs = [
            (a, b) for a in fnmatch.filter(names, link.a) for b in fnmatch.filter(names, link.b)
        ]
        if link.symmetric:
            pairs += [(b, a) for a, b in pairs]
        for w in link.down:
            end = w.at + w.length
            for a, b in pairs:
                if not any(end <= ts <= end + 0.5 for ts in sends.get(a, ())):
                    continue  # a was not talking at link-up: nothing to resume
                uri = state.ues[a].uri
                after = [
                    t for t in accepts.get((b, uri), ()) if end <= t <= end + LINK_RESUME_LOOKAHEAD
                ]
                resumes.append((min(after) - end) if after else math.inf)
    if resumes:
        state.samples["link.resume_time"] = resumes  # set, not appended: idempotent


def _duplicates_and_forgeries(state: RunState, counts: dict[str, float]) -> None:
    """§5 invariants 1 and 2 on the media each UE accepted (the runner's payload header)."""
    dup = 0
    for played in state.played().values():
        seen: set[tuple[bytes, str, int]] = set()
        for p in played:
            key = (p.tag, p.talker, p.seq)
            if key in seen:
                dup += 1
            seen.add(key)
    counts["media.duplicates_accepted"] = float(dup)
    counts["media.forged_accepted"] = float(state.foreign_media())


def _gmk_delivery(state: RunState, counts: dict[str, float]) -> None:
    """J1: every (GMK, recipient) a distributor sent, installed within GMK_DELIVERY_BOUND."""
    by_uri = {ue.uri: ue for ue in state.ues.values()}
    end = state.origin + state.scenario.duration
    expected = delivered = 0
    for ue in state.ues.values():
        for t0, ev in ue.events("gmk_distributed"):
            gmk_id = ev.data.get("gmk_id")
            for uri in ev.data.get("recipients", ()):
                r = by_uri.get(uri)
                if r is None or r.name in state.killed:
                    continue
                # no lower bound: a GMK-ID names one issue, and the distributor logs
                # gmk_distributed after its send returns, by when a member may have installed
                # it already (J2-30m on netns: 10 of 122 installs 0.2-0.7 ms "before" the send)
                if any(
                    ev2.data.get("gmk_id") == gmk_id and t <= t0 + GMK_DELIVERY_BOUND
                    for t, ev2 in r.events("gmk_installed")
                ):
                    delivered += 1
                elif end - t0 < IN_FLIGHT_S:
                    continue  # sent just before the run stopped: in flight at cut-off
                expected += 1
    counts["gmk.expected_installs"] = float(expected)
    counts["gmk.delivery_ratio"] = delivered / expected if expected else math.nan


#: GMK verdicts given only after ECCSI verification ran (gmk_receiver.py steps 9-12).
_AFTER_VERIFY = frozenset(
    {
        "BAD_SIG",
        "BAD_SAKKE",
        "GMK_SUPERSEDED",
        "GMK_NOT_ACTIVE",
        "GMK_EXPIRED",
        "CACHE_FULL",
        "POLICY",
        "MALFORMED",
    }
)


def _gmk_history(state: RunState, counts: dict[str, float]) -> None:
    """A5: installs whose activation is not newer than an earlier one (downgrades); B4: ECCSI
    verifications beyond the GMK verdicts that may follow one (a verify spent on an input
    rejected earlier, e.g. NOT_FOR_ME, shows up here)."""
    downgrades = 0
    excess = beyond_sent = 0.0
    sent: Counter[str] = Counter()
    network = state.relays.get(NETWORK)
    gms = getattr(getattr(network, "gms", None), "distributor", None)
    for dist in [ue.gmk_distributor for ue in state.ues.values()] + [gms]:
        sent.update(getattr(dist, "sent", {}))
    for name, ue in state.ues.items():
        newest: dict[str, float] = {}
        for _t, ev in ue.events("gmk_installed"):
            gid = str(ev.data.get("group_id"))
            act = ev.data.get("activation")
            if act is None:
                found = ue.gmk_member.by_gmk_id(int(ev.data["gmk_id"]))
                act = None if found is None else found[1].activation
            if act is None:
                continue
            if gid in newest and float(act) <= newest[gid]:
                downgrades += 1
            newest[gid] = max(float(act), newest.get(gid, float(act)))
        ops = getattr(ue.gmk_member, "crypto_ops", {})
        verifies = float(ops.get("eccsi_verify", 0))
        counts[f"ue.{name}.crypto.eccsi_verify"] = verifies
        counts[f"ue.{name}.crypto.sakke_decapsulate"] = float(ops.get("sakke_decapsulate", 0))
        may = ue.log.accepted.get("gmk", 0) + sum(
            n
            for (kind, reason), n in ue.log.rejected.items()
            if kind == "gmk" and reason in _AFTER_VERIFY
        )
        excess += max(0.0, verifies - may)
        beyond_sent += max(0.0, verifies - sent[ue.uri])
    counts["gmk.downgrades"] = float(downgrades)
    counts["gmk.verifies_beyond_sent"] = beyond_sent
    counts["gmk.verifies_beyond_verdicts"] = excess


def _phantoms(state: RunState, events: list[dict[str, Any]], counts: dict[str, float]) -> None:
    """A6: calls joined and floors granted that no legitimate action caused. A join is a
    phantom when no runner call of that group was running (start .. end + 1 s), or when the
    UE joins a call ID it had already joined in that call; a grant (floor_taken) is a phantom
    when the talker it names sent no media within 1 s of it."""
    by_group: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for rec in state.calls.values():
        by_group[rec.group_id].append((rec.start - state.origin, rec.end - state.origin))
    uri_name = {ue.uri: name for name, ue in state.ues.items()}
    sends: dict[str, list[float]] = defaultdict(list)
    for e in events:
        if e.get("event") == "app_send":
            sends[e["node"]].append(float(e["t"]))
    joined: set[tuple[str, Any, int]] = set()
    phantom_calls = phantom_grants = joins = grants = 0
    for e in events:
        if e.get("event") != "ue_event":
            continue
        data = e.get("data") or {}
        t = float(e["t"])
        if e.get("name") == "call_joined":
            joins += 1
            spans = [
                i
                for i, (a, b) in enumerate(by_group.get(data.get("group"), ()))
                if a <= t <= b + 1.0
            ]
            key = (e["node"], data.get("call_id"), spans[0] if spans else -1)
            if not spans or key in joined:
                phantom_calls += 1
            joined.add(key)
        elif e.get("name") == "floor_taken":
            grants += 1
            talker = uri_name.get(str(data.get("talker")))
            if talker is None or not any(abs(ts - t) <= 1.0 for ts in sends.get(talker, ())):
                phantom_grants += 1
    counts["calls.joins"] = float(joins)
    counts["calls.phantom"] = float(phantom_calls)
    counts["floor.grants"] = float(grants)
    counts["floor.phantom_grants"] = float(phantom_grants)


def _clock_recovery(state: RunState, counts: dict[str, float]) -> None:
    """I1 "recovers after resync": per ``set_clock`` step of a group member,
    ``clock.recovery_time`` samples the time from the step to the UE holding a GMK of each of
    its groups and playing media of each of their calls running then (+inf if it never did,
    so a bound fails); ``clock.accepted_before_resync`` counts the GMKs a stepped UE installed
    and the media it played before its first step (I1 steps the clocks that were outside the
    tolerance: failing closed means 0)."""
    from prose_mesh.scenario.model import SetClock

    played = state.played()
    first: dict[str, float] = {}
    for step in state.scenario.timeline:
        a = step.action
        if not isinstance(a, SetClock) or a.ue not in state.ues:
            continue
        t_r = state.origin + step.at
        first[a.ue] = min(t_r, first.get(a.ue, math.inf))
        ue = state.ues[a.ue]
        ready: list[float] = []
        for g, members in state.members.items():
            if a.ue not in members or g not in state.groups:
                continue
            gid = state.groups[g].group_id
            installs = [t for t, ev in ue.events("gmk_installed") if ev.data.get("group_id") == gid]
            ready.append(t_r if any(t <= t_r for t in installs)
                         else min((t for t in installs if t > t_r), default=math.inf))
            for rec in state.calls.values():
                if rec.group == g and rec.start <= t_r < rec.end:
                    ready.append(min((p.t for p in played.get(a.ue, ())
                                      if p.call == rec.id and p.t >= t_r), default=math.inf))
        if ready:
            state.sample("clock.recovery_time", max(ready) - t_r)
    early = 0
    for name, t_first in first.items():
        early += sum(1 for t, _ev in state.ues[name].events("gmk_installed") if t < t_first)
        early += sum(1 for p in played.get(name, ()) if p.t < t_first)
    if first:
        counts["clock.accepted_before_resync"] = float(early)
