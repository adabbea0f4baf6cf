"""A run's output folder: captures/<run-id>/ with air.pcapng, ue-<name>.pcapng, events.jsonl,
manifest.json (ARCHITECTURE.md decision 8: the medium's log is the ground truth of a run).

The manifest is written when the run starts (``"end": null``) and again when it ends - in a
``finally``, so a cancelled run (Ctrl-C) still leaves its captures, events and an end time with
``"status": "cancelled"``.
"""

from __future__ import annotations

import functools
import json
import os
import platform
import secrets
import time
from pathlib import Path
from typing import Any

from prose_mesh import __version__
from prose_mesh.errors import ConfigError
from prose_mesh.medium.pcapng import INBOUND, OUTBOUND, PcapngWriter

CAPTURE_MODES = ("air", "ue", "none")
_ENCODER = json.JSONEncoder(separators=(",", ":"))
_quote = functools.lru_cache(maxsize=65536)(json.dumps)
# The medium logs one "deliver" event per copy of every frame: the hot path of the event log.
# This template writes exactly what _ENCODER would (tests/medium/test_event_encoding.py), at a
# quarter of the cost, with the JSON quoting of names cached.
_DELIVER_KEYS = ("t", "run", "node", "event", "tx", "frame_sha256", "src", "dst", "flags",
                 "attack")
# The frame's SHA (hex digits, nothing to escape) is not quoted through the cache: every frame
# has its own, and they pushed the names out of it and held 65,536 of them (J2).
_DELIVER = ('{"t":%r,"run":%s,"node":%s,"event":"deliver","tx":%d,"frame_sha256":"%s","src":%s,'
            '"dst":%s,"flags":[%s],"attack":%s}')


def encode_event(e: dict[str, Any]) -> str:
    """One event as a compact JSON line (without the newline)."""
    if e.get("event") == "deliver" and tuple(e) == _DELIVER_KEYS and type(e["t"]) is float:
        attack = e["attack"]
        return _DELIVER % (
            e["t"], _quote(e["run"]), _quote(e["node"]), e["tx"], e["frame_sha256"],
            _quote(e["src"]), _quote(e["dst"]), ",".join(map(_quote, e["flags"])),
            "null" if attack is None else _quote(attack),
        )
    return _ENCODER.encode(e)


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)


class Session:
    """Where one run writes. ``capture``: "air" (air.pcapng), "ue" (air + one file per UE)."""

    def __init__(
        self,
        root: str | os.PathLike[str] = "captures",
        run_id: str | None = None,
        *,
        scenario: str = "adhoc",
        seed: int | None = None,
        capture: str = "air",
    ) -> None:
        if capture not in CAPTURE_MODES:
            raise ConfigError(f"capture must be one of {CAPTURE_MODES}, not {capture!r}")
        self.run_id = run_id or new_run_id()
        if "/" in self.run_id or self.run_id in ("", ".", ".."):
            raise ConfigError(f"bad run id {self.run_id!r}")
        self.path = Path(root) / self.run_id
        self.scenario = scenario
        self.seed = seed
        self.capture = capture
        self.manifest: dict[str, Any] = {}
        self._events: Any = None
        self._air: PcapngWriter | None = None
        self._air_ifaces: dict[str, int] = {}
        self._ue: dict[str, PcapngWriter] = {}
        self._wall0_ns = 0
        self._origin = 0.0

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self, *, backend: str, origin: float, note: str | None = None) -> None:
        """Create the folder and files; ``origin`` is the medium time of the start."""
        self.path.mkdir(parents=True, exist_ok=True)
        self._wall0_ns = time.time_ns()
        self._origin = origin
        self._events = open(self.path / "events.jsonl", "w", buffering=1 << 16)  # noqa: SIM115
        if self.capture != "none":
            self._air = PcapngWriter(open(self.path / "air.pcapng", "wb"))  # noqa: SIM115
        self.manifest = {
            "run": self.run_id,
            "scenario": self.scenario,
            "seed": self.seed,
            "backend": backend,
            "backend_note": note,
            "capture": self.capture,
            "versions": {
                "prose_mesh": __version__,
                "python": platform.python_version(),
                "kernel": platform.release(),
            },
            "frame_sha256": "first 16 hex digits of SHA-256 over the whole Ethernet frame",
            "start": _iso(self._wall0_ns),
            "end": None,
            "status": "running",
        }
        self._write_manifest()

    def close(self, status: str, summary: dict[str, Any] | None = None) -> None:
        """Flush and close everything; rewrite the manifest with the end time and status."""
        try:
            if self._events is not None:
                self._events.close()
            if self._air is not None:
                self._air.close()
            for writer in self._ue.values():
                writer.close()
        finally:
            self._events = None
            self._air = None
            self._ue.clear()
            self.manifest["end"] = _iso(time.time_ns())
            self.manifest["status"] = status
            if summary is not None:
                self.manifest["summary"] = summary
            self._write_manifest()

    # -- writing -------------------------------------------------------------------------------
    def add_ue(self, name: str, mac: bytes, attack: str | None) -> None:
        desc = f"UE {name} {mac.hex(':')}" + (f" attacker:{attack}" if attack else "")
        if self._air is not None:
            self._air_ifaces[name] = self._air.add_interface(name, desc)
        if self.capture == "ue":
            w = PcapngWriter(open(self.path / f"ue-{name}.pcapng", "wb"))  # noqa: SIM115
            w.add_interface(name, desc)
            self._ue[name] = w

    def on_air(self, sender: str, frame: bytes, now: float) -> None:
        ts = self._ts(now)
        if self._air is not None:
            self._air.write(self._air_ifaces[sender], ts, frame)
        w = self._ue.get(sender)
        if w is not None:
            w.write(0, ts, frame, OUTBOUND)

    def on_deliver(self, receiver: str, frame: bytes, now: float) -> None:
        w = self._ue.get(receiver)
        if w is not None:
            w.write(0, self._ts(now), frame, INBOUND)

    def log(self, events: list[dict[str, Any]]) -> None:
        if events and self._events is not None:
            self._events.write("".join([encode_event(e) + "\n" for e in events]))

    def flush(self) -> None:
        if self._events is not None:
            self._events.flush()
        if self._air is not None:
            self._air.flush()

    def _ts(self, now: float) -> int:
        return self._wall0_ns + int((now - self._origin) * 1e9)

    def _write_manifest(self) -> None:
        tmp = self.path / "manifest.json.tmp"
        tmp.write_text(json.dumps(self.manifest, indent=2) + "\n")
        tmp.replace(self.path / "manifest.json")


def _iso(ns: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns / 1e9)) + f".{ns % 10**9 // 1000:06d}Z"
