"""``prose-mesh kms init|issue``: key material files for MIKEY-SAKKE (TS 33.180 §5).

* ``kms init --out kms.json [--uri URI] [--key-period 30d] [--offset 0] [--seed N]`` creates
  a KMS: its two master secrets, KSAK (ECCSI, RFC 6507 §5.1.1) and z (SAKKE, RFC 6508 §6.1.1),
  and the community parameters published with them (KPAK, Z, URI, key period and offset).
* ``kms issue --kms kms.json --id URI [--period START | --period-no N] --out ue.json`` issues
  one identity's key material for the key period holding START (an ISO date/time in UTC or Unix
  seconds; default: now): UID (TS 33.180 F.2.1), SSK/PVT, RSK and the community parameters, in
  the strict UE key file of :mod:`prose_mesh.crypto.kms` (``load_key_material`` reads it back).

The KMS file holds the secrets that derive every user's keys (MIKEY-SAKKE has key escrow by
design), so both files are created with mode 0600 and never overwritten without ``--force``.
It is loaded strictly: an unknown or missing field, a wrong length, or public values that do
not match the secrets is refused with an error naming the field (exit 2). ``--seed`` derives
the secrets from a number (SHAKE-256) for reproducible test set-ups only: whoever knows the
seed holds the KMS.

KMS file (JSON, ``"version": 1``)::

    {"version": 1, "type": "prose-mesh-kms", "uri": ..., "period": s, "offset": s,
     "ksak": hex(32), "z": hex(128), "kpak": hex(65), "z_pub": hex(257)}
"""

from __future__ import annotations

import argparse
import calendar
import hashlib
import json
import os
import re
import stat
import sys
import time
from pathlib import Path
from typing import Any

from prose_mesh.crypto.identity import NTP_UNIX_OFFSET, key_period_number
from prose_mesh.crypto.kms import KeyMaterial, Kms
from prose_mesh.crypto.p256 import N
from prose_mesh.crypto.p256 import Q as ECCSI_Q
from prose_mesh.crypto.sakke_params import q as SAKKE_Q
from prose_mesh.errors import ConfigError, CryptoError

KMS_FILE_VERSION = 1
KMS_FILE_TYPE = "prose-mesh-kms"
_HEX = {"ksak": N, "z": 128, "kpak": 2 * N + 1, "z_pub": 257}
_FIELDS = {"version", "type", "uri", "period", "offset", *_HEX}


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "kms", help="create a KMS and issue UE key material files")
    kms_sub = parser.add_subparsers(dest="kms_command", metavar="init|issue", required=True)
    p = kms_sub.add_parser("init", help="new KMS master secrets and public parameters")
    p.add_argument("--out", required=True, help="KMS file to write (mode 0600)")
    p.add_argument("--uri", default="kms.example.org", help="KMS URI (default: %(default)s)")
    p.add_argument("--key-period", default="30d",
                   help="key period length, e.g. 30d, 86400 (default: %(default)s)")
    p.add_argument("--offset", default="0", help="key period offset (default: 0)")
    p.add_argument("--seed", type=int, default=None,
                   help="derive the secrets from this number (tests only: not secret)")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p.set_defaults(func=init)
    p = kms_sub.add_parser("issue", help="key material of one identity for one key period")
    p.add_argument("--kms", required=True, help="KMS file written by 'kms init'")
    p.add_argument("--id", required=True, dest="uri",
                   help="user URI (sip:..., tel:+...) or ME URN (urn:gsma:imei:...)")
    when = p.add_mutually_exclusive_group()
    when.add_argument("--period", metavar="START", default=None,
                      help="a time in the key period: 2026-11-23, 2026-11-23T10:00:00Z or Unix "
                           "seconds (default: now)")
    when.add_argument("--period-no", type=int, default=None, help="the key period number")
    p.add_argument("--out", required=True, help="UE key file to write (mode 0600)")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p.set_defaults(func=issue)


# -- the KMS file ---------------------------------------------------------------------------------
def seeded_kms(uri: str, seed: int, *, period: int, offset: int = 0) -> Kms:
    """A KMS whose secrets are derived from ``seed`` (reproducible tests; never for real use)."""

    def draw(label: bytes, n_bytes: int) -> int:
        return int.from_bytes(hashlib.shake_256(b"prose-mesh kms " + label + b"\0"
                                                + str(seed).encode()).digest(n_bytes), "big")

    ksak = 1 + draw(b"ksak", 2 * N) % (ECCSI_Q - 1)  # in [1, q-1], as Kms.generate draws it
    z = 2 + draw(b"z", 192) % (int(SAKKE_Q) - 2)  # in [2, q-1]
    return Kms.from_secrets(uri, ksak=ksak.to_bytes(N, "big"), z=z.to_bytes(128, "big"),
                            period=period, offset=offset)


def kms_to_json(kms: Kms) -> dict[str, Any]:
    return {"version": KMS_FILE_VERSION, "type": KMS_FILE_TYPE, "uri": kms.uri,
            "period": kms.period, "offset": kms.offset, "ksak": kms.ksak.hex(),
            "z": kms.z.hex(), "kpak": kms.kpak.hex(), "z_pub": kms.z_pub.hex()}


def load_kms(path: str | Path) -> Kms:
    """Strictly load a KMS file; ConfigError names the file and the bad field."""
    where = f"KMS file {path}"
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {where}: {exc}") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{where}: top level must be an object")
    for name in sorted(set(doc) - _FIELDS):
        raise ConfigError(f"{where}: unknown field {name!r}")
    for name in sorted(_FIELDS - set(doc)):
        raise ConfigError(f"{where}: missing field {name!r}")
    if doc["version"] != KMS_FILE_VERSION or isinstance(doc["version"], bool):
        raise ConfigError(f"{where}: field 'version' must be {KMS_FILE_VERSION}")
    if doc["type"] != KMS_FILE_TYPE:
        raise ConfigError(f"{where}: field 'type' must be {KMS_FILE_TYPE!r} (a UE key file "
                          "is not a KMS file)")
    if not isinstance(doc["uri"], str) or not doc["uri"]:
        raise ConfigError(f"{where}: field 'uri' must be a non-empty string")
    for name in ("period", "offset"):
        v = doc[name]
        if not isinstance(v, int) or isinstance(v, bool) or v < 0 or (name == "period"
                                                                       and v == 0):
            raise ConfigError(f"{where}: field {name!r} must be a "
                              f"{'positive' if name == 'period' else 'non-negative'} integer")
    raw: dict[str, bytes] = {}
    for name, length in _HEX.items():
        try:
            value = bytes.fromhex(doc[name]) if isinstance(doc[name], str) else None
        except ValueError:
            value = None
        if value is None or len(value) != length:
            raise ConfigError(f"{where}: field {name!r} must be {length} octets of hex")
        raw[name] = value
    try:
        kms = Kms.from_secrets(doc["uri"], ksak=raw["ksak"], z=raw["z"], period=doc["period"],
                               offset=doc["offset"])
    except (CryptoError, ValueError) as exc:
        raise ConfigError(f"{where}: secrets unusable: {exc}") from None
    if kms.kpak != raw["kpak"]:
        raise ConfigError(f"{where}: field 'kpak' does not match KSAK (KPAK = [KSAK]G)")
    if kms.z_pub != raw["z_pub"]:
        raise ConfigError(f"{where}: field 'z_pub' does not match z (Z = [z]P)")
    mode = stat.S_IMODE(os.stat(path).st_mode)
    if mode & 0o077:
        print(f"prose-mesh kms: warning: {path} is readable by others (mode {mode:04o}); "
              "it holds the KMS master secrets: chmod 600", file=sys.stderr)
    return kms


def write_secret(path: str | Path, doc: dict[str, Any], *, force: bool) -> None:
    """Write JSON to a new file created with mode 0600 (refuse to overwrite unless ``force``)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise ConfigError(f"{path} exists (use --force to overwrite)") from None
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc}") from None
    os.fchmod(fd, 0o600)  # also when --force reuses a file that had a wider mode
    with os.fdopen(fd, "w") as fh:
        fh.write(json.dumps(doc, indent=1) + "\n")


# -- commands ------------------------------------------------------------------------------------
def _seconds(value: str, what: str) -> int:
    from prose_mesh.scenario.schema import parse_duration

    try:
        s = parse_duration(value if not re.fullmatch(r"[0-9]+", value) else int(value))
    except ValueError as exc:
        raise ConfigError(f"{what}: {exc}") from None
    if s < 0 or not float(s).is_integer():
        raise ConfigError(f"{what}: must be a whole, non-negative number of seconds")
    return int(s)


def init(args: argparse.Namespace) -> int:
    period = _seconds(args.key_period, "--key-period")
    offset = _seconds(args.offset, "--offset")
    if period <= 0:
        raise ConfigError("--key-period must be > 0")
    if args.seed is not None:
        print("prose-mesh kms: seeded KMS: for tests only, whoever knows the seed holds the "
              "KMS", file=sys.stderr)
        kms = seeded_kms(args.uri, args.seed, period=period, offset=offset)
    else:
        kms = Kms.generate(args.uri, period=period, offset=offset)
    write_secret(args.out, kms_to_json(kms), force=args.force)
    print(f"KMS {kms.uri}: key period {period} s, offset {offset} s")
    print(f"KPAK {kms.kpak.hex()}")
    print(f"wrote {args.out} (mode 0600: holds KSAK and z)")
    return 0


def parse_when(value: str | None) -> float:
    """Unix seconds of ``--period``: digits, ``YYYY-MM-DD`` or ``YYYY-MM-DDTHH:MM[:SS]Z``."""
    if value is None:
        return time.time()
    if re.fullmatch(r"[0-9]+(\.[0-9]+)?", value):
        return float(value)
    for fmt in ("%Y-%m-%d", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%MZ"):
        try:
            return float(calendar.timegm(time.strptime(value, fmt)))
        except ValueError:
            continue
    raise ConfigError(f"--period {value!r}: not a date (2026-11-23), a UTC time "
                      "(2026-11-23T10:00:00Z) or Unix seconds")


_URI = re.compile(r"^(sips?:[^\s@]+@[^\s@]+|tel:\+[0-9]{1,15}"
                  r"|urn:gsma:imei:[0-9]{8}-[0-9]{6}-[0-9])$")


def issue(args: argparse.Namespace) -> int:
    if not _URI.match(args.uri):
        raise ConfigError(f"--id {args.uri!r}: not a user URI (sip:user@domain, tel:+digits) "
                          "or an ME URN (urn:gsma:imei:TTTTTTTT-SSSSSS-C)")
    kms = load_kms(args.kms)
    if args.period_no is not None:
        if args.period_no < 0:
            raise ConfigError("--period-no must be >= 0")
        number = args.period_no
    else:
        number = key_period_number(parse_when(args.period), kms.period, kms.offset)
    try:
        km: KeyMaterial = kms.provision(args.uri, number)
        km.validate()  # RFC 6507 §5.1.2 / RFC 6508 §6.1.2 before anything is written
    except (CryptoError, ValueError) as exc:
        raise ConfigError(f"cannot issue key material for {args.uri!r}: {exc}") from None
    write_secret(args.out, km.to_json(), force=args.force)
    start = number * kms.period + kms.offset - NTP_UNIX_OFFSET
    iso = "%Y-%m-%dT%H:%M:%SZ"
    print(f"{args.uri}: key period {number} ({time.strftime(iso, time.gmtime(start))} .. "
          f"{time.strftime(iso, time.gmtime(start + kms.period))})")
    print(f"UID {km.uid.hex()}")
    print(f"wrote {args.out} (mode 0600: holds SSK and RSK)")
    return 0
