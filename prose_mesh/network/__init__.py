"""The network side of issue #6: KMS and GMS over IP, the Uu uplink, provisioning via a relay.

* :func:`open_network` / :class:`Network` (:mod:`.core`) — a namespace playing the network.
* :class:`Uplink` (:mod:`.uplink`) — a UE's IPv6 pipe to it.
* :func:`provision_over_ip`, :class:`KmsClient`, :func:`new_trk` (:mod:`.kms_service`) — key
  material from the KMS, wrapped under the UE's transport key, over any IP path.
* :class:`GmsService`, :func:`gms_uri` (:mod:`.gms`) — GMK distribution for standard groups.
* Addresses and ports: :mod:`.addressing`.
"""

from __future__ import annotations

from prose_mesh.network.addressing import CORE_ADDRESS, GMS_PORT, KMS_PORT, remote_address
from prose_mesh.network.core import Network, open_network
from prose_mesh.network.gms import GmkSend, GmsService, gms_uri, is_gms_packet
from prose_mesh.network.kms_service import (
    KmsClient,
    KmsRefused,
    KmsService,
    new_trk,
    provision_over_ip,
)
from prose_mesh.network.uplink import Uplink

__all__ = [
    "CORE_ADDRESS",
    "GMS_PORT",
    "KMS_PORT",
    "GmkSend",
    "GmsService",
    "KmsClient",
    "KmsRefused",
    "KmsService",
    "Network",
    "Uplink",
    "gms_uri",
    "is_gms_packet",
    "new_trk",
    "open_network",
    "provision_over_ip",
    "remote_address",
]
