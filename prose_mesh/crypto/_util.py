"""Shared helpers of the crypto package: SHA-256, HMAC-SHA-256, fixed-width integer encoding.

Hashes and HMAC come from ``cryptography`` (ARCHITECTURE.md decision 7). Scalars and
coordinates are always encoded at their full width, leading zero octets kept (PROTOCOL.md §9.1).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from cryptography.hazmat.primitives import hashes, hmac

_K = TypeVar("_K", bound=Hashable)
_V = TypeVar("_V")


def sha256(*parts: bytes) -> bytes:
    """SHA-256 over the concatenation of ``parts``."""
    h = hashes.Hash(hashes.SHA256())
    for part in parts:
        h.update(part)
    return h.finalize()


def hmac_sha256(key: bytes, *parts: bytes) -> bytes:
    """HMAC-SHA-256 (RFC 2104) of the concatenation of ``parts`` under ``key``."""
    h = hmac.HMAC(key, hashes.SHA256())
    for part in parts:
        h.update(part)
    return h.finalize()


def i2osp(value: int, length: int) -> bytes:
    """Integer to a big-endian octet string of exactly ``length`` octets (leading zeros kept)."""
    return int(value).to_bytes(length, "big")


def os2ip(data: bytes) -> int:
    """Big-endian octet string to a non-negative integer."""
    return int.from_bytes(data, "big")


class LruCache(Generic[_K, _V]):
    """A small bounded LRU map for precomputed tables keyed by public values.

    Tables are shared process-wide (ARCHITECTURE.md decision 4); the bound keeps memory finite
    when many identities pass through one process.
    """

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._data: OrderedDict[_K, _V] = OrderedDict()

    def get_or_build(self, key: _K, build: Callable[[], _V]) -> _V:
        try:
            value = self._data[key]
        except KeyError:
            value = build()
            self._data[key] = value
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)
            return value
        self._data.move_to_end(key)
        return value

    def get(self, key: _K) -> _V | None:
        value = self._data.get(key)
        if value is not None:
            self._data.move_to_end(key)
        return value

    def clear(self) -> None:
        self._data.clear()

    def __len__(self) -> int:
        return len(self._data)


def as_bytes(value: object, err: type[Exception], name: str) -> bytes:
    """``value`` as bytes if it is bytes-like; otherwise ``err`` (an int is not bytes here)."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    raise err(f"{name} must be bytes, got {type(value).__name__}")
