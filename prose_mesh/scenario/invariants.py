"""The run's invariants, checked offline from what the run left on disk (ADVERSARIAL.md §5).

``check_run(captures/<run>)`` reads ``events.jsonl`` (the medium's ``tx``/``deliver``/``drop``,
the UEs' ``accept``/``reject`` and ``ue_event`` lines, the runner's ``app_send``/``app_deliver``),
``report.json`` when there is one (the UEs' counters), every ``*.pcapng`` and ``keys.jsonl``.
Nothing of the live run is needed, so ``prose-mesh report RUN`` can re-check an old run; the
report builder calls it too, with the counters of the run it is writing (``report=``).

Ground truth is the medium's log: it saw every frame put on the air and tagged the frames of
attacker radios (``attack`` = the attacker's name). The rules, and why:

* **Security acceptances** (must be 0; Jepsen class *unexpected* / *duplicated*). A UE ``accept``
  line carries the SHA of the frame it judged (``frame_sha256``, 64 bits of SHA-256):

  - the SHA was put on the air by a legitimate node → an authentic frame. If this node
    received it only from attacker transmissions, it is a *replay of an authentic frame* to a
    node that never got the original: not a forgery (its content is what the legitimate sender
    sent), counted apart as ``replayed_authentic``;
  - the SHA was put on the air only by attacker nodes → **forged** (injected, modified);
  - no node ever sent that SHA → the medium's ``corrupt`` flipped a bit of a copy (the
    ``deliver`` line keeps the original's SHA). When the node had received a corrupted copy
    from a legitimate sender before the verdict, the flip hit bits no integrity check covers
    (shim and L2 IDs are unauthenticated by design, one-to-many PDCP is ciphered only; the
    application content is still checked end to end below): ``accepted_after_corruption``,
    reported, not a security acceptance. A corrupted copy from an attacker, or no corrupted
    copy at all → **unexpected** (a frame nobody sent was accepted). The corrupted copy is
    found by its own SHA, which the ``deliver`` line names (``copy_sha256``, with the flipped
    bit in ``flip``); in logs older than that, by time (the latest one delivered to that node
    before the verdict);
  - a frame a malicious relay modified or cross-forwarded (the relay's ``relay_tampered``
    event names its SHA: the medium tags transmissions per node, and a relay node is also an
    honest forwarder) accepted by anything but the hop's own envelope check → **forged**,
    unless the relay's flip lies before the accepted SRTP packet (``octets`` of the accept
    line): ``accepted_after_corruption``;
  - the same node accepting the same SHA more often than it received legitimate copies of it
    (medium ``dup`` copies and attacker copies do not count) → **duplicated**. A legitimate
    sender may put identical octets on the air twice — an unauthenticated MONP PROBE on an
    ad-hoc group bearer without a PGK (PDCP passes it through unciphered, SN 0) — and each
    transmission may be accepted once. Discovery is the exception
    the protocol makes: its only replay defence is the UTC-based counter window
    (TS 33.303 §6.1.3.4.3; protocol/discovery.py accepts a known announcement again as a
    refresh, and a repeated solicitation as ``duplicate``), so a byte-identical discovery
    message accepted again within ``DISCOVERY_MAX_OFFSET_S`` of its first transmission is
    ``duplicate_tolerated``; later, it is a duplicate.

  At the application level (the runner's media, end to end): an ``app_deliver`` (receiver,
  stream, talker, seq) that no ``app_send`` produced is *unexpected*, one delivered twice to
  the same receiver *duplicated* — both security acceptances.
* **Medium conservation** (every frame sent is delivered or dropped with a reason): each copy
  (``tx``, receiver) ends in exactly one ``deliver`` or ``drop`` — copies still queued when the
  medium closed are dropped with reason ``closed`` (the in-flight-at-cut-off class) — every
  outcome names a ``tx`` that was logged, with the same SHA and sender, and duplicated copies
  (flag ``dup``) are outcomes of their own. With the report's counters: outcomes = ``sent``.
* **One verdict per received frame**: the UEs' own count (``unaccounted`` = 0), and a recount:
  ``frames_in`` = accept/reject/note lines judging a frame + ``filtered`` (frames for another UE or
  group have no line), and a UE never judges more frames than the medium delivered to it (the
  difference is ``never_read``: still in its receive queue when it was killed or the run ended).
* **Key-stream uniqueness** (ADVERSARIAL.md H1): every ``srtp_tx`` line (one per SRTP/SRTCP
  packet a UE protected) has a distinct (MKI, SSRC, index) per SRTP and per SRTCP. The MKI
  (GMK-ID ‖ GUK-ID) names the sender's master key per GMK; one UE's calls under one GMK share
  it, and the sender keeps its index space across them, so this is stricter than (key, SSRC,
  index).
* **No plaintext in captures**: the run's media canary and every key of ``keys.jsonl`` (PEK,
  PIK, PGK, GMK, call key, SRTP master key and salt) are counted in every pcapng: all 0
  (``air-decrypted.pcapng``, written by ``prose-mesh decrypt`` in clear on purpose, excepted).
* **ECCSI r unique per signer** (H3): signatures visible to an eavesdropper — the DCR's
  Signature IE and its MIKEY I_MESSAGE's SIGN, sent before a link has keys, and MIKEY
  I_MESSAGEs on an unciphered group bearer — are read from the air capture; signer = the PVT
  (one per user and key period). When ``prose-mesh decrypt`` left ``air-decrypted.pcapng``,
  that copy is read instead, and the GMK I_MESSAGEs inside protected PDCP count too. The signed
  call-key messages inside MONP announcements are not parsed; the output says how many
  signatures were checked, from which file, and what was not observable.

Result: ``{"valid", "invariants": {name: {"ok", "detail", ...counts}}, "classes",
"rejections_by_reason", "security_acceptances", "legit_traffic", "attack_frames"}``. The
``classes`` follow Jepsen's set-full over the application messages per receiver: *stable*
(delivered once), *lost* (not delivered though the receiver was listening to the stream then),
*never_read* (not delivered, sent outside the receiver's listening span), *stale* (delivered
after a later seq of the same talker: reordered), *unexpected*, *duplicated*. A receiver's
listening span of a stream runs from the first to the last message of it the receiver played
[EMU]: the log does not say when a UE joined or left a call, so a receiver that stopped
decrypting (rekeyed out, out of range) counts its misses afterwards as *never_read*, not
*lost*; ``legit_traffic.*.delivered_ratio`` = deliveries / (deliveries + lost) is within the
span, and ``never_read`` is given beside it.
"""

from __future__ import annotations

import json
import math
import struct
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from prose_mesh.constants import DISCOVERY_MAX_OFFSET_S
from prose_mesh.errors import ProseMeshError

EVENTS = "events.jsonl"
KEYS = "keys.jsonl"
REPORT = "report.json"
DECRYPTED = "air-decrypted.pcapng"  # prose-mesh decrypt's output: plaintext on purpose
# keys.jsonl fields that hold secret octets (prose_mesh.node.keylog)
KEY_FIELDS = ("pek", "pik", "pgk", "gmk", "call_key", "master_key", "master_salt")
MIN_KEY_LEN = 12  # octets: shorter strings would match by chance
_EXAMPLES = 5  # offending items shown per invariant
# what a parser of untrusted octets may raise (its own error; the others would be its bug, but
# one junk frame on the air must not stop the check of a whole run)
_PARSE_ERRORS = (ProseMeshError, ValueError, IndexError, struct.error)


def check_run(run_dir: Path | str, *, canary: bytes | None = None,
              key_bytes: Iterable[bytes] = (), report: dict[str, Any] | None = None,
              ) -> dict[str, Any]:
    """Check every invariant of the run in ``run_dir`` (see the module docstring).

    ``canary`` defaults to the report's ``canary``; ``key_bytes`` are added to the keys of
    ``keys.jsonl``. ``report`` gives the UEs' counters (``ues.*``) and the medium summary when
    ``report.json`` is not written yet; by default it is read from the run folder."""
    run = Path(run_dir)
    if not (run / EVENTS).is_file():
        raise FileNotFoundError(f"{run}: no {EVENTS} (not a run folder?)")
    if report is None and (run / REPORT).is_file():
        try:
            report = json.loads((run / REPORT).read_text())
        except ValueError:  # a run cut off while writing it: check what the log alone shows
            report = None
    report = report if isinstance(report, dict) else {}
    if canary is None and report.get("canary"):
        canary = bytes.fromhex(report["canary"])
    log = _Log.read(run / EVENTS)
    inv: dict[str, dict[str, Any]] = {}
    sec = _security(log)
    windows = _attack_windows(log)
    app = _app(log, windows)
    inv["zero_security_acceptances"] = _zero_security(sec, app)
    inv["medium_conservation"] = _conservation(log, report)
    inv["every_frame_one_verdict"] = _one_verdict(log, report)
    inv["keystream_unique"] = _keystream(log)
    keys = [bytes(k) for k in key_bytes] + _keys_of(run / KEYS)
    inv["no_plaintext_in_captures"] = _captures(run, canary, keys)
    inv["eccsi_r_unique"] = _eccsi(run)
    valid = all(v["ok"] for v in inv.values())
    return {
        "valid": valid,
        "invariants": inv,
        "classes": app["classes"],
        "rejections_by_reason": dict(log.reasons.most_common()),
        "rejections_by_kind": {k: dict(v) for k, v in sorted(log.reasons_by_kind.items())},
        "security_acceptances": sec["total"] + app["unexpected"] + app["duplicated"],
        "frame_classes": sec["classes"],
        "legit_traffic": app["streams"],
        "attack_frames": _attack_frames(log, windows, sec),
    }


def flip_before_srtp(flip_octet: int | None, frame_len: int, octets: int | None) -> bool:
    """A bit flip at ``flip_octet`` of a ``frame_len``-octet frame lies before the accepted
    SRTP packet, the frame's last ``octets`` octets ([EMU] layout): a header nothing end to end
    covers, so accepting the frame is right. False when either position is unknown."""
    return flip_octet is not None and octets is not None and flip_octet < frame_len - octets


# -- reading ------------------------------------------------------------------------------------
class _Log:
    """What the checks need from events.jsonl, in one pass (kept compact: a run can log
    millions of lines; nodes are small integers, SHAs stay strings)."""

    def __init__(self) -> None:
        self.nodes: dict[str, int] = {}
        self.tx: dict[int, tuple[str, str, str | None, float]] = {}  # tx -> (sha, src, attack, t)
        self.sha_legit: dict[str, float] = {}  # sha -> first legit tx time
        self.sha_attack: dict[str, str] = {}  # sha -> attacker name (first)
        # non-dup copies resolved, as one int per (tx, receiver): a run logs millions
        self.resolved: set[int] = set()
        self.copies = 0
        self.dup_copies = 0
        self.unmatched = 0
        self.twice: list[str] = []  # examples
        self.twice_n = 0
        self.bad_outcomes: list[str] = []
        self.delivered: Counter[str] = Counter()  # node -> copies handed over
        # (node, sha) -> copies delivered from legit transmissions (medium dups excluded)
        self.got_legit: Counter[tuple[str, str]] = Counter()
        self.got_attack: Counter[tuple[str, str]] = Counter()  # same, from attacker tx
        self.corrupt: dict[str, list[tuple[float, str | None]]] = defaultdict(list)
        # (node, SHA of the corrupted copy) -> attacker or None, from deliver lines that name it
        self.corrupt_copy: dict[tuple[str, str], str | None] = {}
        self.verdicts: Counter[str] = Counter()  # node -> lines judging a frame
        # (t, node, kind, sha, octets: the size of what end-to-end integrity covered, if known)
        self.accepts: list[tuple[float, str, str, str | None, int | None]] = []
        # SHA of a frame a malicious relay modified / cross-forwarded -> (attacker, flipped
        # octet or None, frame length): from the relay's own ``relay_tampered`` events
        self.relay_tampered: dict[str, tuple[str, int | None, int]] = {}
        self.rejects: list[tuple[str, str, str, str | None]] = []  # (node, kind, reason, sha)
        self.reasons: Counter[str] = Counter()
        self.reasons_by_kind: dict[str, Counter[str]] = defaultdict(Counter)
        self.srtp_tx: list[tuple[str, dict[str, Any]]] = []
        self.app_send: dict[tuple[str, str, int], float] = {}
        self.app_send_dups: int = 0
        self.app_deliver: list[tuple[float, str, str, str, int]] = []
        self.bad_lines = 0
        self.last_t = 0.0

    @classmethod
    def read(cls, path: Path) -> _Log:
        log = cls()
        with path.open() as f:
            for line in f:
                try:
                    e = json.loads(line)
                    log._take(e)
                except (ValueError, KeyError, TypeError):
                    log.bad_lines += 1
        return log

    def _take(self, e: dict[str, Any]) -> None:
        ev = e["event"]
        t = float(e.get("t", 0.0))
        self.last_t = max(self.last_t, t)
        if ev == "deliver" or ev == "drop":
            tx = int(e["tx"])
            dst = e["dst"]
            dup = "dup" in (e.get("flags") or ())
            if dup:
                self.dup_copies += 1
            else:
                self.copies += 1
                key = tx << 20 | self.nodes.setdefault(dst, len(self.nodes))
                if key in self.resolved:
                    self.twice_n += 1
                    if len(self.twice) < _EXAMPLES:
                        self.twice.append(f"tx {tx} to {dst}: more than one outcome")
                self.resolved.add(key)
            seen = self.tx.get(tx)
            if seen is None or seen[0] != e["frame_sha256"] or seen[1] != e["src"]:
                if len(self.bad_outcomes) < _EXAMPLES:
                    self.bad_outcomes.append(f"{ev} of tx {tx} to {dst}: no matching tx")
                self.unmatched += 1
            if ev == "deliver":
                self.delivered[dst] += 1
                attack = seen[2] if seen is not None else e.get("attack")
                if "corrupt" in (e.get("flags") or ()):
                    self.corrupt[dst].append((t, attack))
                    if "copy_sha256" in e:
                        self.corrupt_copy[(dst, e["copy_sha256"])] = attack
                elif attack is None and not dup:
                    self.got_legit[(dst, e["frame_sha256"])] += 1
                elif attack is not None:
                    self.got_attack[(dst, e["frame_sha256"])] += 1
        elif ev == "tx":
            sha, attack = e["frame_sha256"], e.get("attack")
            self.tx[int(e["tx"])] = (sha, e["src"], attack, t)
            if attack is None:
                self.sha_legit.setdefault(sha, t)
            else:
                self.sha_attack.setdefault(sha, attack)
        elif ev == "note":  # unauthenticated, no authority (actions.Noted): a verdict only
            if e.get("frame_sha256") is not None:
                self.verdicts[e["node"]] += 1
        elif ev == "accept" or ev == "reject":
            node, kind, sha = e["node"], e["kind"], e.get("frame_sha256")
            if sha is not None:
                self.verdicts[node] += 1
            if ev == "accept":
                self.accepts.append((t, node, kind, sha, e.get("octets")))
            else:
                reason = str(e.get("reason"))
                self.rejects.append((node, kind, reason, sha))
                self.reasons[reason] += 1
                self.reasons_by_kind[kind][reason] += 1
        elif ev == "ue_event":
            if e.get("name") == "srtp_tx":
                self.srtp_tx.append((e["node"], e.get("data") or {}))
            elif e.get("name") == "relay_tampered":
                d = e["data"]
                self.relay_tampered[d["frame_sha256"]] = (str(d["attack"]), d.get("flip_octet"),
                                                          int(d["len"]))
        elif ev == "app_send":
            key = (str(e["stream"]), str(e["talker"]), int(e["seq"]))
            if key in self.app_send:
                self.app_send_dups += 1
            self.app_send[key] = t
        elif ev == "app_deliver":
            self.app_deliver.append((t, e["node"], str(e["stream"]), str(e["talker"]),
                                     int(e["seq"])))


# -- security acceptances --------------------------------------------------------------------------
def _security(log: _Log) -> dict[str, Any]:
    classes: Counter[str] = Counter()
    examples: dict[str, list[str]] = defaultdict(list)
    accepted: Counter[tuple[str, str]] = Counter()
    by_attacker: Counter[str] = Counter()
    replayed: Counter[str] = Counter()
    header_flips: Counter[str] = Counter()  # by malicious relay
    corrupt = {n: sorted(v, key=lambda x: x[0]) for n, v in log.corrupt.items()}

    def note(cls: str, text: str) -> None:
        classes[cls] += 1
        if len(examples[cls]) < _EXAMPLES:
            examples[cls].append(text)

    for t, node, kind, sha, octets in log.accepts:
        if sha is None:
            classes["local"] += 1  # a verdict on local input (e.g. the GMS adopting its GMK)
            continue
        what = f"{node} accepted {kind} frame {sha} at {t:.6f} s"
        tampered = log.relay_tampered.get(sha)
        if tampered is not None and not kind.startswith("relay"):  # the hop's own verdicts
            attacker, flip, size = tampered  # are on the envelope, which the relay did send
            if flip_before_srtp(flip, size, octets):
                header_flips[attacker] += 1
                note("accepted_after_corruption", what + f" (relay {attacker} flipped a "
                     "header bit nothing end to end covers)")
            else:
                by_attacker[attacker] += 1
                note("forged", what + f" (modified by malicious relay {attacker})")
            continue
        accepted[(node, sha)] += 1
        nth = accepted[(node, sha)]
        if sha in log.sha_legit:
            if nth <= log.got_legit[(node, sha)]:
                classes["stable"] += 1  # one accept per legitimate copy received
            elif nth == 1:
                note("replayed_authentic", what + " (only from an attacker's copy)")
                replayed[log.sha_attack.get(sha, "?")] += 1
            elif kind == "discovery" and t - log.sha_legit[sha] <= DISCOVERY_MAX_OFFSET_S:
                note("duplicate_tolerated", what)
            else:
                note("duplicated", what + f" ({nth} times, {log.got_legit[(node, sha)]} "
                     "legitimate copies received)")
        elif sha in log.sha_attack:
            by_attacker[log.sha_attack[sha]] += 1
            note("forged", what + f" (sent only by attacker {log.sha_attack[sha]})")
        elif (node, sha) in log.corrupt_copy:  # the medium named the corrupted copy judged
            attacker = log.corrupt_copy[(node, sha)]
            if attacker is None:
                note("accepted_after_corruption", what)
            else:
                by_attacker[attacker] += 1
                note("forged", what + f" (a corrupted copy from attacker {attacker})")
        else:  # logs written before deliver lines named the copy: matched by time
            before = [c for c in corrupt.get(node, ()) if c[0] <= t + 1e-9]
            if before and before[-1][1] is None:
                note("accepted_after_corruption", what)
            elif before:
                by_attacker[str(before[-1][1])] += 1
                note("forged", what + f" (a corrupted copy from attacker {before[-1][1]})")
            else:
                note("unexpected", what + " (no node sent this frame)")
    total = classes["forged"] + classes["unexpected"] + classes["duplicated"]
    return {"total": total, "classes": dict(classes), "examples": dict(examples),
            "by_attacker": dict(by_attacker), "replayed_by_attacker": dict(replayed),
            "header_flips_by_attacker": dict(header_flips)}


def _attack_windows(log: _Log) -> dict[str, tuple[float, float]]:
    """Per attacker: (first, last) time it put a frame on the air."""
    out: dict[str, tuple[float, float]] = {}
    for _sha, _src, attack, t in log.tx.values():
        if attack is not None:
            a, b = out.get(attack, (t, t))
            out[attack] = (min(a, t), max(b, t))
    return out


def _app(log: _Log, windows: dict[str, tuple[float, float]]) -> dict[str, Any]:
    """Application messages (the runner's media) per receiver: Jepsen set-full classes, and
    per stream the one-way delays, split into sent while an attacker was transmitting and
    sent otherwise (the latency an attack added, when both exist)."""
    sends = log.app_send
    delivered: Counter[tuple[str, str, str, int]] = Counter()
    span: dict[tuple[str, str], list[float]] = {}  # (receiver, stream) -> [first, last]
    classes: Counter[str] = Counter()
    examples: dict[str, list[str]] = defaultdict(list)
    highest: dict[tuple[str, str, str], int] = {}
    per_stream: dict[str, dict[str, Any]] = {}
    for t, node, stream, talker, seq in log.app_deliver:
        key = (node, stream, talker, seq)
        delivered[key] += 1
        s = span.setdefault((node, stream), [t, t])
        s[0], s[1] = min(s[0], t), max(s[1], t)
        msg = (stream, talker, seq)
        st = per_stream.setdefault(stream, _stream_row(stream))
        if msg not in sends:
            classes["unexpected"] += 1
            if len(examples["unexpected"]) < _EXAMPLES:
                examples["unexpected"].append(f"{node} played {msg} that nobody sent")
            continue
        if delivered[key] > 1:
            classes["duplicated"] += 1
            if len(examples["duplicated"]) < _EXAMPLES:
                examples["duplicated"].append(f"{node} played {msg} twice")
            continue
        hk = (node, stream, talker)
        if seq < highest.get(hk, -1):
            classes["stale"] += 1
        highest[hk] = max(highest.get(hk, -1), seq)
        st["deliveries"] += 1
        sent = sends[msg]
        attacked = any(a <= sent <= b for a, b in windows.values())
        st["attacked" if attacked else "delays"].append(t - sent)
    receivers: dict[str, set[str]] = defaultdict(set)
    for node, stream in span:
        receivers[stream].add(node)
    for (stream, talker, seq), t in sends.items():
        st = per_stream.setdefault(stream, _stream_row(stream))
        st["sent"] += 1
        st["talkers"].add(talker)
        for node in receivers.get(stream, ()):
            if node == talker:
                continue
            n = delivered.get((node, stream, talker, seq), 0)
            if n:
                classes["stable"] += 1
                continue
            first, last = span[(node, stream)]
            if first <= t <= last:
                classes["lost"] += 1
                st["lost"] += 1
            else:
                classes["never_read"] += 1
                st["never_read"] += 1
    for stream, st in per_stream.items():
        st["receivers"] = sorted(receivers.get(stream, ()))
        st["talkers"] = sorted(st["talkers"])
        base, hit = st.pop("delays"), st.pop("attacked")
        st["delay_p50_s"] = _pct(base + hit, 50)
        st["delay_p95_s"] = _pct(base + hit, 95)
        if windows:
            st["delay_p95_baseline_s"] = _pct(base, 95)
            st["delay_p95_under_attack_s"] = _pct(hit, 95)
            st["latency_added_p95_s"] = (
                round(st["delay_p95_under_attack_s"] - st["delay_p95_baseline_s"], 6)
                if base and hit else None)  # fmt: skip
        expected = st["deliveries"] + st["lost"]
        st["delivered_ratio"] = round(st["deliveries"] / expected, 6) if expected else None
    for c in ("stable", "lost", "never_read", "stale", "unexpected", "duplicated"):
        classes.setdefault(c, 0)
    return {"classes": dict(classes), "examples": dict(examples),
            "unexpected": classes["unexpected"], "duplicated": classes["duplicated"],
            "streams": dict(sorted(per_stream.items())),
            "send_duplicates": log.app_send_dups}


def _stream_row(stream: str) -> dict[str, Any]:
    return {"stream": stream, "sent": 0, "deliveries": 0, "lost": 0, "never_read": 0,
            "talkers": set(),
            "delays": [], "attacked": []}


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    vals = sorted(values)
    return round(vals[max(1, math.ceil(q / 100 * len(vals))) - 1], 6)


def _zero_security(sec: dict[str, Any], app: dict[str, Any]) -> dict[str, Any]:
    n_app = app["unexpected"] + app["duplicated"]
    ok = sec["total"] == 0 and n_app == 0 and app["send_duplicates"] == 0
    cls = sec["classes"]
    detail = ("no forged, unexpected or duplicated frame or message was accepted" if ok else
              f"{sec['total']} frame(s) and {n_app} application message(s) accepted that must "
              "not have been")
    return {
        "ok": ok, "detail": detail,
        "forged": cls.get("forged", 0), "unexpected": cls.get("unexpected", 0),
        "duplicated": cls.get("duplicated", 0),
        "app_unexpected": app["unexpected"], "app_duplicated": app["duplicated"],
        "app_send_reused_ids": app["send_duplicates"],
        "replayed_authentic": cls.get("replayed_authentic", 0),
        "accepted_after_corruption": cls.get("accepted_after_corruption", 0),
        "duplicate_tolerated": cls.get("duplicate_tolerated", 0),
        "by_attacker": sec["by_attacker"],
        "examples": {**sec["examples"], **{f"app_{k}": v for k, v in app["examples"].items()}},
    }  # fmt: skip


# -- accounting ----------------------------------------------------------------------------------
def _conservation(log: _Log, report: dict[str, Any]) -> dict[str, Any]:
    problems: list[str] = list(log.bad_outcomes) + log.twice
    unmatched, dups, twice = log.unmatched, log.dup_copies, log.twice_n
    copies = log.copies - twice  # a copy with several outcomes is still one copy
    out: dict[str, Any] = {"transmissions": len(log.tx), "copies": copies,
                           "dup_copies": dups, "unmatched_outcomes": unmatched,
                           "copies_with_several_outcomes": twice}
    medium = report.get("medium") or {}
    if "sent" in medium:
        out["medium_sent"] = medium["sent"]
        if medium["sent"] != copies:
            problems.append(f"the medium counted {medium['sent']} copies sent, the log has an "
                            f"outcome for {copies}")
    if "duplicates" in medium and medium["duplicates"] != dups:
        problems.append(f"the medium made {medium['duplicates']} duplicate copies, the log has "
                        f"an outcome for {dups}")
    if log.bad_lines:
        problems.append(f"{log.bad_lines} unreadable line(s) in {EVENTS}")
    ok = not problems
    out.update(ok=ok, detail="every copy delivered or dropped with a reason" if ok else
               "; ".join(problems))
    if "sent" not in medium:
        out["detail"] += " (no medium counters: outcomes checked per copy only)"
    return out


def _one_verdict(log: _Log, report: dict[str, Any]) -> dict[str, Any]:
    ues = report.get("ues") or {}
    problems: list[str] = []
    never_read: dict[str, int] = {}
    for name, u in sorted(ues.items()):
        if u.get("unaccounted"):
            problems.append(f"{name}: {u['unaccounted']} frame(s) without exactly one verdict")
        frames_in = int(u.get("frames_in", 0))
        filtered = sum((u.get("filtered") or {}).values())
        judged = log.verdicts.get(name, 0)
        if judged + filtered != frames_in:
            problems.append(f"{name}: {frames_in} frames in, {judged} verdict lines + "
                            f"{filtered} filtered")
        got = log.delivered.get(name, 0)
        if frames_in > got:
            problems.append(f"{name}: judged {frames_in} frames, the medium delivered {got}")
        elif got > frames_in:
            never_read[name] = got - frames_in
    ok = not problems
    detail = ("every frame a UE read ended in one verdict or one filter count" if ok else
              "; ".join(problems[:_EXAMPLES]))
    if not ues:
        detail = "not checked: no per-UE counters (report.json missing)"
    return {"ok": ok, "detail": detail, "ues": len(ues),
            "frames_in": sum(int(u.get("frames_in", 0)) for u in ues.values()),
            "verdict_lines": sum(log.verdicts.values()),
            "never_read": never_read, "problems": len(problems)}


def _keystream(log: _Log) -> dict[str, Any]:
    seen: dict[tuple[str, int, int, bool], str] = {}
    reused: list[str] = []
    bad = 0
    for node, d in log.srtp_tx:
        try:
            key = (str(d["mki"]), int(d["ssrc"]), int(d["index"]), bool(d["rtcp"]))
        except (KeyError, TypeError, ValueError):
            bad += 1
            continue
        other = seen.get(key)
        if other is not None:
            reused.append(f"{node} and {other}: MKI {key[0]} SSRC {key[1]:#010x} "
                          f"{'SRTCP' if key[3] else 'SRTP'} index {key[2]}")
        else:
            seen[key] = node
    ok = not reused and not bad
    rtcp = sum(1 for k in seen if k[3])
    detail = (f"{len(seen)} (MKI, SSRC, index) tuples, all distinct" if ok else
              f"{len(reused)} reused key-stream tuple(s), {bad} unreadable: "
              + "; ".join(reused[:_EXAMPLES]))
    if not log.srtp_tx:
        detail = "no SRTP/SRTCP packet was sent in this run"
    return {"ok": ok, "detail": detail, "packets": len(log.srtp_tx), "srtp": len(seen) - rtcp,
            "srtcp": rtcp, "reused": len(reused), "unreadable": bad}


def _attack_frames(log: _Log, windows: dict[str, tuple[float, float]],
                   sec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per attacker: frames it put on the air (for a malicious relay: frames it modified or
    cross-forwarded), and what the receivers made of them.

    A rejection is the attacker's when it judged a frame only attackers sent. A verbatim replay
    has the SHA of the authentic frame, so the verdict line alone cannot tell the copies apart:
    [EMU] of the verdicts a node gave that SHA, as many as the copies it received from the
    attacker are the attacker's, the last ones (the authentic copy normally came first)."""
    out: dict[str, dict[str, Any]] = {}

    def row(name: str) -> dict[str, Any]:
        return out.setdefault(name, {"injected": 0, "rejected": Counter(), "accepted": 0,
                                     "replayed_authentic_accepted": 0})

    for _sha, _src, attack, _t in log.tx.values():
        if attack is not None:
            row(attack)["injected"] += 1
    by_frame: dict[tuple[str, str], list[str]] = defaultdict(list)
    for node, _kind, reason, sha in log.rejects:
        if sha is not None and sha in log.sha_attack:
            by_frame[(node, sha)].append(reason)
    for (node, sha), reasons in by_frame.items():
        name = log.sha_attack[sha]
        if sha in log.sha_legit:
            reasons = reasons[len(reasons) - min(len(reasons), log.got_attack[(node, sha)]):]
        row(name)["rejected"].update(reasons)
    # a malicious relay's modified / cross-forwarded frames (its relay_tampered events)
    for name, _flip, _size in log.relay_tampered.values():
        row(name)["injected"] += 1
    for _node, kind, reason, sha in log.rejects:
        tampered = log.relay_tampered.get(sha) if sha is not None else None
        if tampered is not None and not kind.startswith("relay"):
            row(tampered[0])["rejected"][reason] += 1
    for name, n in sec["by_attacker"].items():
        row(name)["accepted"] += n
    for name, n in sec["replayed_by_attacker"].items():
        row(name)["replayed_authentic_accepted"] += n
    for name, n in sec["header_flips_by_attacker"].items():
        row(name)["accepted_header_flips"] = n  # not a security acceptance (see _security)
    for name, r in out.items():
        r["rejected"] = dict(r["rejected"].most_common())
        if name in windows:
            r["window_s"] = [round(windows[name][0], 6), round(windows[name][1], 6)]
    return out


# -- captures ------------------------------------------------------------------------------------
def _keys_of(path: Path) -> list[bytes]:
    """The secret octets of every ``keys.jsonl`` line (see KEY_FIELDS)."""
    if not path.is_file():
        return []
    out: set[bytes] = set()
    with path.open() as f:
        for line in f:
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            for name in KEY_FIELDS:
                value = rec.get(name) if isinstance(rec, dict) else None
                if isinstance(value, str):
                    try:
                        key = bytes.fromhex(value)
                    except ValueError:
                        continue
                    if len(key) >= MIN_KEY_LEN:
                        out.add(key)
    return sorted(out)


def _captures(run: Path, canary: bytes | None, keys: list[bytes]) -> dict[str, Any]:
    files = sorted(f for f in run.glob("*.pcapng") if f.name != DECRYPTED)
    canary_hits: dict[str, int] = {}
    key_hits: dict[str, int] = {}
    keys = [k for k in keys if len(k) >= MIN_KEY_LEN]
    for path in files:
        data = path.read_bytes()
        if canary:
            n = data.count(canary)
            if n:
                canary_hits[path.name] = n
        for k in keys:
            n = data.count(k)
            if n:
                key_hits[path.name] = key_hits.get(path.name, 0) + n
    ok = not canary_hits and not key_hits
    what = []
    if canary is None:
        what.append("no canary known: not searched")
    if not keys:
        what.append("no key log: key octets not searched")
    detail = (f"{len(files)} capture(s): no canary, no key octets" if ok else
              f"canary {canary_hits or 0}, key octets {key_hits or 0}")
    if what:
        detail += " (" + "; ".join(what) + ")"
    return {"ok": ok, "detail": detail, "captures": [p.name for p in files],
            "keys_searched": len(keys), "canary_searched": canary is not None,
            "canary_hits": sum(canary_hits.values()), "key_hits": sum(key_hits.values())}


def iter_pcapng(path: Path) -> Iterator[bytes]:
    """The packet octets of every Enhanced Packet Block of a (little-endian) pcapng file, as
    :class:`prose_mesh.medium.pcapng.PcapngWriter` writes them; stops at a truncated block."""
    data = path.read_bytes()
    pos, n = 0, len(data)
    while pos + 12 <= n:
        kind, length = struct.unpack_from("<II", data, pos)
        if length < 12 or pos + length > n:
            return
        if kind == 6 and length >= 32:
            caplen = struct.unpack_from("<I", data, pos + 20)[0]
            yield data[pos + 28 : pos + 28 + min(caplen, length - 32)]
        pos += length


def _eccsi(run: Path) -> dict[str, Any]:
    """ECCSI r per signer (PVT) over the signatures readable from the air capture, or from
    ``air-decrypted.pcapng`` when ``prose-mesh decrypt`` made one (then the GMK I_MESSAGEs
    inside protected PDCP are readable too)."""
    from prose_mesh.constants import MIKEY_PORT
    from prose_mesh.wire import fast, pc5s
    from prose_mesh.wire.ipudp import parse_udp6
    from prose_mesh.wire.mikey_codec import parse_i_message

    decrypted = run / DECRYPTED
    src = decrypted if decrypted.is_file() else run / "air.pcapng"
    if not src.is_file():
        return {"ok": True, "signatures": 0, "detail": "not observable: no air capture"}
    seen: dict[tuple[bytes, bytes], bytes] = {}  # (PVT, r) -> s
    repeats: list[str] = []
    n = unparsed = 0
    kinds: Counter[str] = Counter()
    for frame in iter_pcapng(src):
        try:
            _mac, pdu = fast.parse_frame(frame)
        except _PARSE_ERRORS:  # junk on the air (an attacker's): not a signature
            unparsed += 1
            continue
        p = pdu.pdcp
        clear_o2o = isinstance(p, fast.PdcpO2O) and p.kdsess_id == 0
        clear_o2m = isinstance(p, fast.PdcpO2M) and p.pgk_index == p.ptk_id == p.sn == 0
        if p is None or not (clear_o2o or clear_o2m):
            continue
        sigs: list[tuple[str, bytes]] = []
        try:
            if clear_o2o and p.sdu_type == fast.SDU_PC5S:
                for ie in pc5s.parse_pc5s(pdu.body).ies:
                    if ie.iei == pc5s.IEI_SIGNATURE:
                        sigs.append(("pc5s", bytes(ie.signature)))
                    elif ie.iei == pc5s.IEI_MIKEY_I_MESSAGE:
                        im = parse_i_message(bytes(ie.i_message))
                        sigs.append(("mikey", bytes(im.signature)))
            elif p.sdu_type == fast.SDU_IP:
                dgram = parse_udp6(pdu.body)
                if dgram.dport == MIKEY_PORT:
                    sigs.append(("mikey", bytes(parse_i_message(dgram.payload).signature)))
        except _PARSE_ERRORS:
            unparsed += 1
            continue
        for kind, sig in sigs:
            if len(sig) != 129:
                continue
            n += 1
            kinds[kind] += 1
            r, s, pvt = sig[:32], sig[32:64], sig[64:]
            other = seen.get((pvt, r))
            if other is not None and other != s:
                repeats.append(f"r {r.hex()[:16]}… twice for PVT {pvt.hex()[:16]}…")
            seen.setdefault((pvt, r), s)
    signers = len({pvt for pvt, _r in seen})
    ok = not repeats
    detail = (f"{n} signature(s) of {signers} signer(s) read from {src.name}, r never repeated"
              if ok else f"{len(repeats)} repeated r: " + "; ".join(repeats[:_EXAMPLES]))
    detail += ("; not observable: the signed call-key messages of MONP announcements"
               + ("" if src is decrypted else ", and MIKEY inside protected PDCP (run "
                  "`prose-mesh decrypt` first to include it)"))
    return {"ok": ok, "detail": detail, "source": src.name, "signatures": n,
            "by_kind": dict(kinds), "signers": signers, "repeated_r": len(repeats),
            "frames_not_parsed": unparsed}
