"""C6: known answers, byte-exact (ADVERSARIAL §4): RFC 6507 / RFC 6508 Appendix A through the
product, and the third-party GMK/CSK/PCK I_MESSAGEs through the strict codec, the Scapy layers
and the crypto. Expected values come only from ../shared/vectors.

The 36.579-1 HDR field table (PROTOCOL.md §6.2: version 1, data type 26, V 0, PRF 1) is checked
against the third-party messages' headers; no separate 36.579-1 vector file exists.
"""

from __future__ import annotations

import pytest
from support import load_vector
from vectors.test_mikey_imessage import DOC, product_accept

from prose_mesh.crypto.eccsi import _sign_with_j, eccsi_make_kpak, eccsi_verify
from prose_mesh.crypto.sakke import sakke_decapsulate, sakke_encapsulate, sakke_extract_rsk
from prose_mesh.wire import mikey as mikey_scapy
from prose_mesh.wire import mikey_codec as mc


def _h(v: str) -> bytes:
    return bytes.fromhex(v)


def test_rfc6507_appendix_a_signature_byte_exact():
    e = load_vector("rfc6507_eccsi.json")
    kpak = eccsi_make_kpak(_h(e["KSAK"]))
    assert kpak == _h(e["KPAK"])
    sig = _sign_with_j(_h(e["M"]), int(e["j"], 16), identity=_h(e["ID"]), ssk=_h(e["SSK"]),
                       pvt=_h(e["PVT"]), kpak=kpak)
    assert sig == _h(e["Sig"])
    eccsi_verify(_h(e["M"]), sig, identity=_h(e["ID"]), kpak=kpak)


def test_rfc6508_appendix_a_encapsulation_byte_exact():
    s = load_vector("rfc6508_sakke_param_set_1.json")
    ident = _h(s["ID_b"])
    assert sakke_extract_rsk(identity=ident, z=_h(s["z"])) == _h(s["RSK"])
    enc = sakke_encapsulate(_h(s["SSV"]), identity=ident, z_pub=_h(s["Z"]))
    assert enc == _h(s["encapsulated_data_RFC6509"])
    assert sakke_decapsulate(enc, identity=ident, rsk=_h(s["RSK"]), z_pub=_h(s["Z"])) == _h(
        s["SSV"])


KATS = [(g, tc) for g in DOC["testGroups"] for tc in g["tests"] if "KnownAnswer" in tc["flags"]]


@pytest.mark.parametrize(("group", "tc"), KATS, ids=[tc["comment"][:14] for _, tc in KATS])
def test_third_party_i_message_byte_exact(group, tc):
    raw = _h(tc["imessage"])
    msg = mc.parse_i_message(raw)
    assert msg.encode() == raw  # codec round trip
    assert bytes(mikey_scapy.to_scapy(msg)) == raw  # Scapy layers build the same octets
    assert bytes(mikey_scapy.parse_mikey_scapy(raw)) == raw
    h = msg.hdr
    assert (h.version, h.data_type, h.v, h.prf) == (1, 26, 0, 1)  # 36.579-1 Table 5.5.9.1-1
    assert product_accept(group, raw) == _h(tc["ssv"])  # GMK / CSK / PCK as published


def test_all_four_third_party_messages_present():
    kinds = sorted(tc["comment"].split(":")[1].split()[0] for _, tc in KATS)
    assert kinds == ["CSK", "GMK", "GMK", "PCK"]
