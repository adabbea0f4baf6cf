"""Atheris (libFuzzer) coverage-guided fuzzing of every parser (ADVERSARIAL §4 E3, §7).

One target per parser: the strict wire codecs, the Scapy layers behind the strict check, the
MIKEY HDR and each MIKEY payload inside a fixed valid frame, SRTP/SRTCP, the call-key message.
A target may only return or raise its parser's own error type (:class:`ParseError`,
:class:`SrtpError`, :class:`CallKeyError`); anything else escapes to Atheris, which reports it
with the input as a finding. Seeds are the reference messages of :mod:`prose_mesh.wire.samples`.

The same table drives the Hypothesis campaign (tests/adversarial/test_e3_parser_fuzz.py), so
there is one list of parsers. :func:`run_targets` (``prose-mesh fuzz``) starts a worker
(``python -m prose_mesh.fuzz JOBS.json``) that imports the parser modules inside
:func:`atheris.instrument_imports` (so the fuzzing is guided by the coverage and comparisons of
prose_mesh's own code) and forks one child per target: libFuzzer takes that process over and
exits at the end. The driver reads each target's final statistics and collects its findings.
``python -m prose_mesh.fuzz TARGET [libFuzzer flags] [FILE|DIR ...]`` runs one target in the
foreground, e.g. to replay a finding.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

# E3 budgets: per input at most 1 s, per process at most 256 MB RSS.
TIMEOUT_S: Final = 1
RSS_LIMIT_MB: Final = 256


@dataclass(frozen=True)
class Target:
    """One parser under fuzzing: ``parse(data)`` may only raise one of ``allowed``."""

    name: str
    parse: Callable[[bytes], object]
    allowed: tuple[type[Exception], ...]
    seeds: tuple[bytes, ...]

    def run(self, data: bytes) -> None:
        """The fuzz target body: the parser's own errors are rejections, not findings."""
        with contextlib.suppress(*self.allowed):
            self.parse(data)


# The names, without importing the parsers (the fuzz worker must import them instrumented).
MIKEY_PARTS: Final = ("hdr", "kemac", "t", "sp", "rand", "idr", "general-ext", "sakke")
TARGET_NAMES: Final = (
    "frame", "pc5", "pc5-scapy", "pc5s", "discovery", "monp", "floor", "ipudp", "mikey",
    "mikey-scapy", "psk-key-message", "call-key-message", "key-data", "key-parameters",
    "relay-envelope", "srtp", "srtcp", *(f"mikey-{p}" for p in MIKEY_PARTS),
)
# Not a parser: the harness self-test (``prose-mesh fuzz canary`` must report one finding).
CANARY: Final = "canary"


def _mikey_part_targets(mikey: Sequence[bytes], key_params: bytes) -> dict[str, Target]:
    """MIKEY HDR and each payload type fuzzed inside an otherwise valid message (§7).

    A payload target's input is the payload (from its next-payload octet on), framed by a fixed
    valid HDR announcing it and a valid SIGN; the HDR target's input is the HDR, followed by a
    valid T payload and SIGN. So every byte the fuzzer changes lands in the part under test,
    while :func:`parse_mikey` still walks the whole message (lengths may lie into the SIGN).
    """
    from prose_mesh.errors import ParseError
    from prose_mesh.wire import mikey_codec as mc

    parsed = [mc.parse_mikey(m) for m in mikey]
    sign = mc._sign_header() + b"\x04" * mc.SIGNATURE_LEN
    t_payload = mc.T(0x0123456789ABCDEF, mc.TS_NTP_UTC).encode(mc.PT_SIGN)
    hdr = parsed[0].hdr
    types = {"kemac": mc.PT_KEMAC, "t": mc.PT_T, "sp": mc.PT_SP, "rand": mc.PT_RAND,
             "idr": mc.PT_IDR, "general-ext": mc.PT_GENERAL_EXT, "sakke": mc.PT_SAKKE}
    seeds: dict[str, set[bytes]] = {p: set() for p in MIKEY_PARTS}
    for msg in parsed:
        seeds["hdr"].add(msg.hdr.encode(mc.PT_T))
        for p in msg.payloads:
            seeds[next(k for k, v in types.items() if v == p.pt)].add(p.encode(mc.PT_SIGN))
    # KEMAC appears only in the PSK key message; key data is its inner encoding.
    seeds["kemac"].add(mc.Kemac(mc.KeyData(b"k" * 16, b"s" * 12, b"spi!").encode(),
                                mc.ENCR_NULL, mc.MAC_NULL, b"").encode(mc.PT_SIGN))

    # The samples carry no General Extension: the two 33.180 E.5/E.6 ones.
    seeds["general-ext"] |= {mc.GeneralExt(mc.EXT_SAKKE_TO_SELF, b"\x04" * 64).encode(mc.PT_SIGN),
                             mc.GeneralExt(mc.EXT_KEY_PARAMETERS, key_params).encode(mc.PT_SIGN)}

    def framed(prefix: bytes, suffix: bytes) -> Callable[[bytes], object]:
        return lambda data: mc.parse_mikey(prefix + data + suffix)

    out = {"mikey-hdr": Target("mikey-hdr", framed(b"", t_payload + sign), (ParseError,),
                               tuple(sorted(seeds["hdr"])))}
    for part, pt in types.items():
        out[f"mikey-{part}"] = Target(f"mikey-{part}", framed(hdr.encode(pt), sign),
                                      (ParseError,), tuple(sorted(seeds[part])))
    return out


def load_targets() -> dict[str, Target]:
    """Every parser with its allowed error types and reference seeds (order = TARGET_NAMES)."""
    from scapy.layers.l2 import Ether

    import prose_mesh.wire.pc5  # noqa: F401 -- binds the PC5 Scapy layers to Ether
    from prose_mesh.crypto.srtp import SrtpError, SrtpProfile, SrtpReceiver
    from prose_mesh.errors import ParseError
    from prose_mesh.protocol.call_key import CallKeyError, parse_key_message
    from prose_mesh.protocol.key_params import KeyParameters, parse_key_parameters
    from prose_mesh.wire import discovery, fast, monp, pc5s, samples
    from prose_mesh.wire import mikey as mikey_scapy
    from prose_mesh.wire import mikey_codec as mc
    from prose_mesh.wire.ipudp import build_udp6, link_local, parse_udp6
    from prose_mesh.wire.relay import build_envelope, parse_envelope

    sign, enc = samples.placeholder_crypto()
    frames = samples.build_sample_frames(sign, enc)
    media = samples.media_packets()
    mikey = samples.mikey_messages(sign, enc)
    psk = mc.build_group_call_key_message(
        csb_id=0x1234, t_ntp=samples.T_NTP, rand=bytes(16), initiator_uri=b"sip:a@x",
        initiator_uid=bytes(32), encr_key_data=bytes(40), sign=sign)
    env = build_envelope(0x0A0B0C, 7, 3, 1, frames[0][fast.ETH_LEN:])
    rx = SrtpReceiver(SrtpProfile.AEAD_AES_128_GCM, mki_len=8)
    rx.add_key(samples.SAMPLE_MKI, samples.SAMPLE_SRTP_KEY, samples.SAMPLE_SRTP_SALT)

    def relay(data: bytes) -> object:
        return parse_envelope(fast.parse_pc5(data))

    def scapy(data: bytes) -> object:
        """The PC5 Scapy layers behind the strict check, as :func:`parse_mikey_scapy` does for
        MIKEY: Scapy is the readable reference, not an untrusted-input parser (bare
        ``Ether(b"\\x04")`` raises struct.error inside Scapy itself)."""
        fast.parse_frame(data)
        return Ether(data)

    table: dict[str, tuple[Callable[[bytes], object], tuple[type[Exception], ...],
                           list[bytes]]] = {
        "frame": (fast.parse_frame, (ParseError,), frames),
        "pc5": (fast.parse_pc5, (ParseError,), [f[fast.ETH_LEN:] for f in frames]),
        "pc5-scapy": (scapy, (ParseError,), frames),
        "pc5s": (pc5s.parse_pc5s, (ParseError,),
                 [m for m, _ in samples.pc5s_messages(sign, enc)]),
        "discovery": (discovery.parse_discovery, (ParseError,), samples.discovery_messages()),
        "monp": (monp.parse_monp, (ParseError,), samples.monp_messages()),
        "floor": (monp.parse_floor, (ParseError,), samples.floor_messages()),
        "ipudp": (parse_udp6, (ParseError,),
                  [build_udp6(link_local(1), link_local(2), 2269, 2269, m) for m in mikey[:1]]),
        "mikey": (mc.parse_mikey, (ParseError,), mikey),
        "mikey-scapy": (mikey_scapy.parse_mikey_scapy, (ParseError,), mikey),
        "psk-key-message": (mc.parse_psk_message, (ParseError,), [psk]),
        "call-key-message": (parse_key_message, (CallKeyError,), [psk]),
        "key-data": (mc.parse_key_data, (ParseError,),
                     [mc.KeyData(b"k" * 16, b"s" * 12, b"spi!").encode()]),
        "key-parameters": (parse_key_parameters, (ParseError,), [
            KeyParameters(1.0, 2.0, "sip:g@x", "adhoc", ("sip:a@x",)).encode()]),
        "relay-envelope": (relay, (ParseError,), [env]),
        "srtp": (rx.unprotect_rtp, (SrtpError,), media[:1]),
        "srtcp": (rx.unprotect_rtcp, (SrtpError,), media[1:]),
    }
    targets = {n: Target(n, p, a, tuple(s)) for n, (p, a, s) in table.items()}
    targets.update(_mikey_part_targets(mikey, table["key-parameters"][2][0]))
    assert tuple(targets) == TARGET_NAMES, "TARGET_NAMES out of date"
    targets[CANARY] = Target(CANARY, _canary, (ParseError,), (b"PMF",))
    return targets


def _canary(data: bytes) -> object:
    """A deliberately broken parser (not a real one): proves a finding is caught and reported.
    Its seed holds three of the four magic octets, so the fuzzer finds the last within a few
    thousand runs (each matching octet is a new basic block: it would get there from nothing
    too, only more slowly)."""
    from prose_mesh.errors import ParseError

    depth = 0  # one basic block per matching octet, so each one is new coverage
    if data[:1] == b"P":
        depth = 1
        if data[1:2] == b"M":
            depth = 2
            if data[2:3] == b"F":
                depth = 3
                if data[3:4] == b"Z":
                    raise IndexError("canary: an exception a parser must never let out")
    raise ParseError(f"canary input, {depth} magic octet(s)", reason="MALFORMED")


def dictionary() -> str:
    """A libFuzzer dictionary of MIKEY payload codes and the multi-octet constants that the
    parsers compare against (§7): a mutation inserts a whole token instead of guessing it."""
    from prose_mesh.wire import mikey_codec as mc

    tokens = [bytes([pt]) for pt in (mc.PT_LAST, mc.PT_KEMAC, mc.PT_SIGN, mc.PT_T, mc.PT_SP,
                                      mc.PT_RAND, mc.PT_IDR, mc.PT_GENERAL_EXT, mc.PT_SAKKE)]
    tokens += [
        mc._sign_header(),  # SIGN S type ECCSI, 129 octets
        mc.SAKKE_DATA_LEN.to_bytes(2, "big"),
        b"\x01\x1a", b"\x01\x00",  # HDR version 1, data type SAKKE / PSK
        b"sip:", b"tel:",
    ]
    return "".join('"' + "".join(f"\\x{b:02x}" for b in t) + '"\n' for t in tokens)


# ------------------------------------------------------------------ the worker
# Instrumenting prose_mesh on import costs ~1.5 s per process here (bytecode rewriting in pure
# Python), more than 10^4 executions. So one worker imports the parsers instrumented once and
# forks one child per target: each child is a fresh process that libFuzzer takes over.
# The crypto that only builds the seeds (ECCSI, SAKKE, PDCP sample contexts) is not a parser
# and stays uninstrumented; its coverage would only add noise to the parsers' feedback.
_NOT_PARSERS: Final = (
    "prose_mesh.fuzz", "prose_mesh.wire.samples", "prose_mesh.protocol.pdcp",
    "prose_mesh.crypto.eccsi", "prose_mesh.crypto._ecc", "prose_mesh.crypto.p256",
    "prose_mesh.crypto.kms", "prose_mesh.crypto.sakke", "prose_mesh.crypto.pairing",
    "prose_mesh.crypto.sakke_params", "prose_mesh.crypto.identity",
    "prose_mesh.crypto.prose_keys", "prose_mesh.crypto.kdf", "prose_mesh.crypto.pdcp_cipher",
)


def _instrumented_targets() -> dict[str, Target]:
    import atheris

    with atheris.instrument_imports(include=["prose_mesh"], exclude=list(_NOT_PARSERS)):
        targets = load_targets()
    canary = targets[CANARY]  # defined here, in uninstrumented code
    targets[CANARY] = Target(CANARY, atheris.instrument_func(_canary), canary.allowed,
                             canary.seeds)
    return targets


def _fuzz_child(target: Target, flags: list[str], log: str) -> None:
    """In the forked child: send libFuzzer's output to ``log`` and hand the process over."""
    import atheris

    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    code = 2  # Fuzz() exits by itself when done; returning means a setup failure
    try:
        atheris.Setup([f"prose-mesh-fuzz-{target.name}", *flags], target.run)
        atheris.Fuzz()
    except BaseException:  # a finding: Atheris printed it and re-raises it out of Fuzz()
        code = 1
    finally:
        # The C library's exit(), not os._exit() and not an exception unwinding into the
        # worker's loop: libFuzzer's exit handler writes the crash input as an artifact.
        sys.stdout.flush()
        sys.stderr.flush()
        ctypes.CDLL(None).exit(code)


def _worker(argv: list[str]) -> int:
    """``python -m prose_mesh.fuzz JOBS.json``: run each job ``{"target", "flags", "log"}`` in a
    forked child, one after the other, printing ``{"target", "exit_code", "seconds"}`` lines.

    ``python -m prose_mesh.fuzz TARGET [libFuzzer flags] [CRASH_FILE]`` runs one target in
    this process (reproduce a finding; ``-merge=1 OUT IN...`` minimises a corpus).
    """
    if not argv[1].endswith(".json"):
        import atheris

        target = _instrumented_targets()[argv[1]]
        # libFuzzer re-runs argv[0] through the shell for -merge=1 (corpus minimisation).
        self_cmd = f"{shlex.quote(sys.executable)} -m prose_mesh.fuzz {shlex.quote(argv[1])}"
        atheris.Setup([self_cmd, *argv[2:]], target.run)
        atheris.Fuzz()
        return 0
    jobs = json.loads(Path(argv[1]).read_text())
    targets = _instrumented_targets()
    sys.stdout.flush()
    for job in jobs:
        t0 = time.monotonic()
        pid = os.fork()
        if pid == 0:
            _fuzz_child(targets[job["target"]], job["flags"], job["log"])
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"target": job["target"], "exit_code": os.waitstatus_to_exitcode(status),
                          "seconds": time.monotonic() - t0}), flush=True)
    return 0


# ------------------------------------------------------------------ the driver
@dataclass
class FuzzResult:
    """libFuzzer's final statistics of one target; ``findings`` are crash/timeout/OOM inputs."""

    target: str
    runs: int = 0  # executions asked for
    execs: int = 0  # executions done (libFuzzer's number_of_executed_units)
    seconds: float = 0.0  # wall time of the target's process, startup and corpus load included
    execs_per_s: float = 0.0
    corpus: int = 0  # inputs in the corpus at the end (libFuzzer's "corp")
    corpus_bytes: int = 0
    coverage: int = 0  # libFuzzer "cov": instrumented edges reached
    features: int = 0  # libFuzzer "ft"
    new_units: int = 0
    peak_rss_mb: int = 0
    slowest_unit_s: float = 0.0
    exit_code: int = 0
    findings: list[str] = field(default_factory=list)
    log_tail: str = ""

    def to_json(self) -> dict[str, object]:
        return asdict(self)


_DONE = re.compile(r"#(\d+)\s+DONE\s+cov: (\d+) ft: (\d+) corp: (\d+)/(\d+)(b|Kb|Mb)")
_STAT = re.compile(r"stat::(\w+):\s+([\d.]+)")
_UNIT = {"b": 1, "Kb": 1024, "Mb": 1024 * 1024}


def _write_seeds(directory: Path, seeds: Sequence[bytes]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for s in seeds:
        (directory / hashlib.sha1(s).hexdigest()).write_bytes(s)


def _result(name: str, runs: int, exit_code: int, seconds: float, log: str,
            findings: list[str]) -> FuzzResult:
    res = FuzzResult(name, runs=runs, exit_code=exit_code, seconds=round(seconds, 2),
                     findings=findings)
    stats = dict(_STAT.findall(log))
    res.execs = int(stats.get("number_of_executed_units", 0))
    res.new_units = int(stats.get("new_units_added", 0))
    res.peak_rss_mb = int(stats.get("peak_rss_mb", 0))
    res.slowest_unit_s = float(stats.get("slowest_unit_time_sec", 0))
    done = _DONE.findall(log)
    if done:
        _, cov, ft, corp, size, unit = done[-1]
        res.coverage, res.features, res.corpus = int(cov), int(ft), int(corp)
        res.corpus_bytes = int(size) * _UNIT[unit]
    res.execs_per_s = round(res.execs / seconds, 1) if seconds > 0 else 0.0
    if exit_code != 0 and not findings:
        res.findings = [f"exit code {exit_code} without an artifact"]
    if res.findings or exit_code != 0:
        res.log_tail = "\n".join(log.splitlines()[-40:])
    return res


def run_targets(names: Sequence[str], runs: int, *, corpus: Path | None = None,
                extra_corpora: Sequence[Path] = (), seed: int = 0,
                findings_dir: Path | None = None, jobs: int = 1) -> list[FuzzResult]:
    """Fuzz each target for ``runs`` executions in its own process, with the E3 limits
    (``-timeout=1``, ``-rss_limit_mb=256``), and return libFuzzer's statistics.

    ``corpus/TARGET`` (created if missing) collects the inputs that reach new coverage; without
    ``corpus`` a temporary directory does. ``extra_corpora/TARGET`` (if present) and the
    reference seeds are read only. Findings go to ``findings_dir/TARGET/`` as
    ``crash-*``/``timeout-*``/``oom-*``/``leak-*`` files; libFuzzer stops a target at its first.
    ``jobs`` workers run targets side by side.
    """
    names = list(dict.fromkeys(names))
    unknown = [n for n in names if n not in (*TARGET_NAMES, CANARY)]
    if unknown:
        raise ValueError(f"unknown fuzz target(s): {', '.join(unknown)}")
    seeds = {n: t.seeds for n, t in load_targets().items()}
    with tempfile.TemporaryDirectory(prefix="pm-fuzz-") as tmp:
        work = Path(tmp)
        found = findings_dir if findings_dir is not None else Path.cwd() / "fuzz-findings"
        (work / "dict").write_text(dictionary())
        plan: list[dict[str, object]] = []
        for name in names:
            out = (corpus if corpus is not None else work / "corpus") / name
            out.mkdir(parents=True, exist_ok=True)
            art = work / "artifacts" / name  # copied to ``found`` only if there are any
            art.mkdir(parents=True)
            _write_seeds(work / "seeds" / name, seeds[name])
            dirs = [str(out), str(work / "seeds" / name)]
            dirs += [str(p / name) for p in extra_corpora if (p / name).is_dir()]
            flags = [f"-runs={runs}", f"-rss_limit_mb={RSS_LIMIT_MB}", f"-timeout={TIMEOUT_S}",
                     f"-seed={seed}", f"-dict={work / 'dict'}", f"-artifact_prefix={art}/",
                     "-print_final_stats=1", *dirs]
            plan.append({"target": name, "flags": flags, "log": str(work / f"{name}.log")})
        n_workers = max(1, min(jobs, len(plan)))
        procs = []
        for i in range(n_workers):
            job_file = work / f"jobs{i}.json"
            job_file.write_text(json.dumps(plan[i::n_workers]))
            with (work / f"worker{i}.err").open("w") as err:
                procs.append(subprocess.Popen(
                    [sys.executable, "-m", "prose_mesh.fuzz", str(job_file)],
                    stdout=subprocess.PIPE, stderr=err, text=True))
        status: dict[str, dict[str, Any]] = {}
        for p in procs:
            stdout, _ = p.communicate()
            for line in stdout.splitlines():
                if line.startswith("{"):
                    rec = json.loads(line)
                    status[rec["target"]] = rec
        results = []
        for name in names:
            log_path = work / f"{name}.log"
            log = log_path.read_text(errors="replace") if log_path.exists() else ""
            if name not in status:  # the worker died before this target ran
                log += "".join(e.read_text() for e in work.glob("worker*.err"))
            rec = status.get(name, {"exit_code": -1, "seconds": 0.0})
            new = []
            for artifact in sorted((work / "artifacts" / name).iterdir()):
                (found / name).mkdir(parents=True, exist_ok=True)
                new.append(str(shutil.copy2(artifact, found / name / artifact.name)))
            log = log.replace(f"{work / 'artifacts' / name}/", f"{found / name}/")
            results.append(_result(name, runs, int(rec["exit_code"]), float(rec["seconds"]),
                                   log, new))
        return results


def main(argv: list[str] | None = None) -> int:
    return _worker(sys.argv if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
