"""A MIKEY-SAKKE KMS (TS 33.180 §5, RFC 6507 §5.1.1, RFC 6508 §6.1.1) and UE key files.

The KMS holds KSAK (ECCSI master secret) and z (SAKKE master secret) and publishes the
community parameters KPAK and Z with its URI, key period length and offset. Provisioning an
identity for a key period gives its :class:`KeyMaterial`: UID, SSK, PVT, RSK, KPAK, Z, period
number, URI. A UE key file is JSON with hex fields and ``"version": 1``; loading is strict
(unknown or missing field -> ConfigError naming it) and validates SSK (RFC 6507 §5.1.2) and
RSK (RFC 6508 §6.1.2). KMS secrets never appear in a UE's file.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prose_mesh.crypto import eccsi, sakke
from prose_mesh.crypto.identity import Identity
from prose_mesh.crypto.p256 import N
from prose_mesh.crypto.p256 import Q as ECCSI_Q
from prose_mesh.crypto.sakke_params import q as SAKKE_Q
from prose_mesh.errors import ConfigError, CryptoError

__all__ = ["KEYFILE_VERSION", "KeyMaterial", "Kms", "load_key_material", "save_key_material"]

KEYFILE_VERSION = 1


@dataclass(frozen=True)
class KeyMaterial:
    """What a UE holds for one identity and key period (no KMS secrets)."""

    uri: str
    kms_uri: str
    period: int
    offset: int
    period_no: int
    uid: bytes
    ssk: bytes
    pvt: bytes
    rsk: bytes
    kpak: bytes
    z_pub: bytes

    def validate(self, *, tables: bool = True) -> None:
        """RFC 6507 §5.1.2 and RFC 6508 §6.1.2 checks, plus the UID recomputed from its inputs.

        ``tables=False``: check the RSK without building its receiver tables (for hosts of many
        UEs, see :func:`sakke.validate_rsk`)."""
        ident = Identity(self.uri, _kind(self.uri), self.kms_uri, self.period, self.offset)
        if ident.uid(self.period_no) != self.uid:
            raise CryptoError("UID does not match URI/KMS URI/period/offset/number")
        eccsi.validate_ssk(identity=self.uid, ssk=self.ssk, pvt=self.pvt, kpak=self.kpak)
        sakke.validate_rsk(identity=self.uid, rsk=self.rsk, z_pub=self.z_pub, tables=tables)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": KEYFILE_VERSION,
            "uri": self.uri,
            "kms_uri": self.kms_uri,
            "period": self.period,
            "offset": self.offset,
            "period_no": self.period_no,
            **{k: getattr(self, k).hex() for k in _HEX_FIELDS},
        }


_HEX_FIELDS = {"uid": 32, "ssk": N, "pvt": 2 * N + 1, "rsk": 257, "kpak": 2 * N + 1, "z_pub": 257}
_INT_FIELDS = ("period", "offset", "period_no")
_STR_FIELDS = ("uri", "kms_uri")
_ALL_FIELDS = {"version", *_HEX_FIELDS, *_INT_FIELDS, *_STR_FIELDS}


def _kind(uri: str) -> str:
    return "me" if uri.startswith("urn:gsma:imei:") else "user"


@dataclass(frozen=True)
class Kms:
    """A KMS and its community parameters; the two secrets stay in this object."""

    uri: str
    ksak: bytes
    kpak: bytes
    z: bytes
    z_pub: bytes
    period: int
    offset: int = 0

    @classmethod
    def generate(cls, uri: str, *, period: int = 2_592_000, offset: int = 0) -> Kms:
        """New random KSAK in [1, q-1] and z in [2, q-1] from ``secrets``."""
        ksak = (1 + secrets.randbelow(ECCSI_Q - 1)).to_bytes(N, "big")
        z = (2 + secrets.randbelow(int(SAKKE_Q) - 2)).to_bytes(128, "big")
        return cls.from_secrets(uri, ksak=ksak, z=z, period=period, offset=offset)

    @classmethod
    def from_secrets(
        cls, uri: str, *, ksak: bytes, z: bytes, period: int, offset: int = 0
    ) -> Kms:
        if period <= 0 or offset < 0:
            raise ConfigError("key period must be > 0 and offset >= 0")
        return cls(uri, ksak, eccsi.eccsi_make_kpak(ksak), z, sakke.sakke_make_z(z), period, offset)

    def identity(self, uri: str) -> Identity:
        return Identity(uri, _kind(uri), self.uri, self.period, self.offset)  # type: ignore[arg-type]

    def provision(self, uri: str, period_no: int) -> KeyMaterial:
        """Issue SSK/PVT (RFC 6507 §5.1.1) and RSK (RFC 6508 §6.1.1) for ``uri`` in a period."""
        uid = self.identity(uri).uid(period_no)
        ssk, pvt = eccsi.eccsi_issue_user_key(identity=uid, ksak=self.ksak)
        rsk = sakke.sakke_extract_rsk(identity=uid, z=self.z)
        return KeyMaterial(
            uri, self.uri, self.period, self.offset, period_no, uid, ssk, pvt, rsk,
            self.kpak, self.z_pub,
        )  # fmt: skip


def save_key_material(km: KeyMaterial, path: str | Path) -> None:
    Path(path).write_text(json.dumps(km.to_json(), indent=1) + "\n")


def load_key_material(source: str | Path | dict[str, Any], *, validate: bool = True) -> KeyMaterial:
    """Strictly load a UE key file (path or parsed dict); ConfigError names the bad field."""
    if isinstance(source, dict):
        doc = source
    else:
        try:
            doc = json.loads(Path(source).read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read key file {source}: {exc}") from None
    if not isinstance(doc, dict):
        raise ConfigError("key file: top level must be an object")
    for name in sorted(set(doc) - _ALL_FIELDS):
        raise ConfigError(f"key file: unknown field {name!r}")
    for name in sorted(_ALL_FIELDS - set(doc)):
        raise ConfigError(f"key file: missing field {name!r}")
    if doc["version"] != KEYFILE_VERSION or isinstance(doc["version"], bool):
        raise ConfigError(f"key file: field 'version' must be {KEYFILE_VERSION}")
    values: dict[str, Any] = {}
    for name in _STR_FIELDS:
        if not isinstance(doc[name], str) or not doc[name]:
            raise ConfigError(f"key file: field {name!r} must be a non-empty string")
        values[name] = doc[name]
    for name in _INT_FIELDS:
        if not isinstance(doc[name], int) or isinstance(doc[name], bool) or doc[name] < 0:
            raise ConfigError(f"key file: field {name!r} must be a non-negative integer")
        values[name] = doc[name]
    for name, length in _HEX_FIELDS.items():
        try:
            raw = bytes.fromhex(doc[name]) if isinstance(doc[name], str) else None
        except ValueError:
            raw = None
        if raw is None or len(raw) != length:
            raise ConfigError(f"key file: field {name!r} must be {length} octets of hex")
        values[name] = raw
    km = KeyMaterial(**values)
    if validate:
        try:
            km.validate()
        except CryptoError as exc:
            raise ConfigError(f"key file: key material fails validation: {exc}") from None
    return km
