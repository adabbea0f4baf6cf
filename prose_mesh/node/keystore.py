"""A UE's keystore of identity keys (TS 33.180 §5: SSK, PVT, RSK per key period).

Group keys (GMKs with GMK-ID, activation, expiry and member list) live in the GMK member machine
(:mod:`prose_mesh.protocol.gmk_distribution`), link keys (KD, KD-sess, PEK/PIK) in the direct
link machine: each key stays with the one object that enforces its rules. This store holds what
the KMS issued before deployment and answers "which key material is valid at my time t".
"""

from __future__ import annotations

from collections.abc import Iterable

from prose_mesh.crypto.identity import key_period_number
from prose_mesh.crypto.kms import KeyMaterial
from prose_mesh.errors import ConfigError


class Keystore:
    """Identity key material of one URI, by key period number."""

    def __init__(self, materials: Iterable[KeyMaterial]) -> None:
        self._by_period: dict[int, KeyMaterial] = {}
        for km in materials:
            self.add(km)
        if not self._by_period:
            raise ConfigError("a keystore needs key material for at least one key period")

    def add(self, km: KeyMaterial) -> None:
        if self._by_period and km.uri != self.uri:
            raise ConfigError(f"key material of {km.uri!r} in the keystore of {self.uri!r}")
        self._by_period[km.period_no] = km

    @property
    def uri(self) -> str:
        return next(iter(self._by_period.values())).uri

    def periods(self) -> list[int]:
        return sorted(self._by_period)

    def for_time(self, now_unix: float) -> KeyMaterial:
        """The key material of the key period that contains ``now_unix`` (TS 33.180 F.2.1)."""
        any_km = next(iter(self._by_period.values()))
        number = key_period_number(now_unix, any_km.period, any_km.offset)
        try:
            return self._by_period[number]
        except KeyError:
            raise ConfigError(
                f"{self.uri}: no key material for key period {number} "
                f"(provisioned: {self.periods()})"
            ) from None
