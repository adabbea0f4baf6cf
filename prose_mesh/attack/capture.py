"""Traffic analysis: what kind of frame an attacker without keys has just heard.

An outsider sees the shim and the PDCP header in clear (PROTOCOL.md §1.1, §4) but not what the
group bearer or a link ciphers. It still tells the kinds of ADVERSARIAL.md's capture options
apart by channel, cast, SDU type, LCID and size [EMU heuristic, documented]:

* SL-DCH → ``discovery``;
* one-to-many (group bearer): unciphered → by UDP port (2269 MIKEY → ``gmk_imessage``, the MONP
  port → ``monp``, media port → ``srtp``, +1 → ``srtcp``); ciphered → by size: an I_MESSAGE
  (SAKKE R of 257 octets plus a 129-octet signature) is far larger than a 20 ms voice frame;
* one-to-one: PC5-S (``pc5s``), or IP over the link: a large one is a GMK/PCK I_MESSAGE (ad-hoc
  GMKs and PCKs both travel over links; the size cannot tell them apart, so a frame of that
  size matches both ``gmk_imessage`` and ``pck_imessage``).
"""

from __future__ import annotations

from prose_mesh.constants import MIKEY_PORT
from prose_mesh.errors import ProseMeshError
from prose_mesh.scenario.schema import CAPTURE_KINDS
from prose_mesh.wire import fast
from prose_mesh.wire.ipudp import parse_udp6

#: [EMU] PDU bodies at least this long are taken for MIKEY I_MESSAGEs (media is ~230 octets).
IMESSAGE_MIN_BODY = 400
#: [EMU] ciphered group PDUs at most this long are taken for MONP / SRTCP signalling.
SIGNALLING_MAX_BODY = 140

KINDS = CAPTURE_KINDS  # the scenario schema's list is the one definition


def parse(frame: bytes) -> fast.Pc5Pdu | None:
    try:
        return fast.parse_frame(frame)[1]
    except ProseMeshError:
        return None


def kinds_of(
    frame: bytes,
    *,
    monp_ports: frozenset[int] = frozenset(),
    media_ports: frozenset[int] = frozenset(),
) -> frozenset[str]:
    """The capture kinds ``frame`` matches (always including ``any`` for a PC5 frame)."""
    pdu = parse(frame)
    if pdu is None:
        return frozenset()
    shim = pdu.shim
    if shim.channel == fast.CH_SL_DCH:
        return frozenset({"any", "discovery"})
    pdcp = pdu.pdcp
    if shim.cast == fast.CAST_ONE_TO_ONE:
        if (
            isinstance(pdcp, fast.PdcpO2O)
            and pdcp.sdu_type == fast.SDU_IP
            and len(pdu.body) >= IMESSAGE_MIN_BODY
        ):
            return frozenset({"any", "gmk_imessage", "pck_imessage"})
        return frozenset({"any"})
    if shim.cast != fast.CAST_ONE_TO_MANY or not isinstance(pdcp, fast.PdcpO2M):
        return frozenset({"any"})
    if pdcp.pgk_index == 0 and pdcp.ptk_id == 0:  # unciphered bearer: read the port
        try:
            port = parse_udp6(pdu.body).dport
        except ProseMeshError:
            return frozenset({"any"})
        if port == MIKEY_PORT:
            return frozenset({"any", "gmk_imessage"})
        if port in monp_ports:
            return frozenset({"any", "monp"})
        if port in media_ports:
            return frozenset({"any", "srtp"})
        if port - 1 in media_ports:
            return frozenset({"any", "srtcp"})
        return frozenset({"any"})
    n = len(pdu.body)
    if n >= IMESSAGE_MIN_BODY:
        return frozenset({"any", "gmk_imessage"})
    if n <= SIGNALLING_MAX_BODY:
        return frozenset({"any", "monp", "srtcp"})
    return frozenset({"any", "srtp"})
