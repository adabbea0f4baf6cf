"""Addresses and ports of the emulated network side (issue #6) [EMU throughout].

TS 23.303 §5.4.4.2: a UE-to-network relay gives its remote UEs IPv6 addresses out of a /64
prefix delegated to it by the network, and routes for them. The emulator mirrors that:

* the network's services (KMS, GMS) answer on one address, :data:`CORE_ADDRESS`
  (``2001:db8:ffff::1``, RFC 3849 documentation space), in the network namespace;
* the UE attached with uplink serial *n* (1, 2, ...) owns the prefix ``2001:db8:0:<n>::/64``
  and uses ``2001:db8:0:<n>::1`` itself (:func:`uplink_prefix`, :func:`uplink_address`);
* a relay numbers the remote UEs behind it inside its own prefix, ``2001:db8:0:<n>::<k+1>``
  for k = 1, 2, ... (:func:`remote_address`), and tells the network with
  ``Network.register_remote`` (as the relay's REMOTE_UE_INFO does, TS 24.334 §10.4.2); any other
  address it registers is routed as a /128 through its uplink.
* UDP ports: the KMS listens on :data:`KMS_PORT` (2270, [EMU]; TS 33.180 uses HTTPS, see
  :mod:`prose_mesh.network.kms_service`), the GMS sends GMK I_MESSAGEs from and to port 2269
  (``constants.MIKEY_PORT``, PROTOCOL.md §1.1).
"""

from __future__ import annotations

import ipaddress
from typing import Final

from prose_mesh.constants import MIKEY_PORT

CORE_ADDRESS: Final = ipaddress.IPv6Address("2001:db8:ffff::1").packed
KMS_PORT: Final = 2270
GMS_PORT: Final = MIKEY_PORT
MAX_UPLINKS: Final = 0xFFFF  # the fourth group of the prefix numbers the uplink


def uplink_prefix(serial: int) -> bytes:
    """The 8 octets of the /64 prefix delegated to the UE with uplink ``serial``."""
    if not 1 <= serial <= MAX_UPLINKS:
        raise ValueError(f"uplink serial {serial} outside 1..{MAX_UPLINKS}")
    return b"\x20\x01\x0d\xb8\x00\x00" + serial.to_bytes(2, "big")


def uplink_address(serial: int) -> bytes:
    """The UE's own address in its prefix: ``<prefix>::1``."""
    return uplink_prefix(serial) + (1).to_bytes(8, "big")


def remote_address(prefix: bytes, k: int) -> bytes:
    """The ``k``-th (k >= 1) remote UE's address inside a relay's prefix: ``<prefix>::<k+1>``."""
    if len(prefix) != 8 or k < 1:
        raise ValueError("a /64 prefix is 8 octets and remote UEs are numbered from 1")
    return prefix + (k + 1).to_bytes(8, "big")


def text(address: bytes) -> str:
    """Printable form of a 16-octet address (logs and errors)."""
    return str(ipaddress.IPv6Address(address))
