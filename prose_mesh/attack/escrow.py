"""D5: KMS escrow demonstration — a documented limitation, not a defence (ADVERSARIAL.md §4 D5).

MIKEY-SAKKE is identity-based: the KMS computes every user's receiver secret key from its master
secret z and the user's public identifier (RFC 6508 §6.1.1: RSK = [1/(z + b)]P, with b the
TS 33.180 UID of a URI and key period). Whoever holds z — the KMS operator, or anyone who
obtains it — can therefore derive the RSK of *any* identity for *any* key period, past or
future, without contacting the user, and decapsulate every recorded I_MESSAGE: every GMK, PCK
and CSK ever sent, hence all group and private media (Murdoch, "Insecure by design: protocols
for encrypted phone calls", IEEE Computer 2016). With KSAK it can also sign as anyone. Nothing in
a UE can detect or prevent this; it is out of scope by ADVERSARIAL.md §1 and is *reported*, never
"passed".

:func:`decrypt_recorded` is what an escrow holder runs over a capture: the responder UID
(IDRr, role 9 or 2) is in the clear in each I_MESSAGE, so no other input is needed.
"""

from __future__ import annotations

from dataclasses import dataclass

from prose_mesh.constants import MIKEY_PORT
from prose_mesh.crypto.sakke import sakke_decapsulate, sakke_extract_rsk
from prose_mesh.errors import ParseError
from prose_mesh.wire import mikey_codec as mc
from prose_mesh.wire.ipudp import parse_udp6


def derive_rsk(*, z: bytes | int, identity: bytes) -> bytes:
    """The RSK of ``identity`` (a UID) from the KMS master secret z (RFC 6508 §6.1.1)."""
    return sakke_extract_rsk(identity=identity, z=z)


@dataclass(frozen=True)
class EscrowedKey:
    """One key recovered from a recorded I_MESSAGE without any user's cooperation."""

    recipient_uid: bytes
    initiator_uid: bytes | None
    csb_id: int
    rand: bytes
    key: bytes  # the SSV: GMK, PCK or CSK


def decrypt_recorded(data: bytes, *, z: bytes | int, z_pub: bytes) -> EscrowedKey:
    """Decapsulate a recorded I_MESSAGE (bare, or in its IPv6/UDP packet) with the master secret.

    Raises :class:`~prose_mesh.errors.ParseError` if it is not an I_MESSAGE and
    :class:`~prose_mesh.errors.DecapsulationError` if the SAKKE data is not for its IDRr."""
    if data[:1] and data[0] >> 4 == 6:
        dgram = parse_udp6(data)
        if dgram.dport != MIKEY_PORT:
            raise ParseError(f"UDP port {dgram.dport} is not MIKEY")
        data = dgram.payload
    msg = mc.parse_i_message(data)
    recipient = msg.responder_id
    if recipient is None:
        raise ParseError("I_MESSAGE without a responder identity")
    rsk = derive_rsk(z=z, identity=recipient)
    key = sakke_decapsulate(msg.sakke.data, identity=recipient, rsk=rsk,  # type: ignore[union-attr]
                            z_pub=z_pub)
    return EscrowedKey(recipient, msg.initiator_id, msg.hdr.csb_id, msg.rand, key)
