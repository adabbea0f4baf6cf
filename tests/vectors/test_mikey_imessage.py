"""``mikey_sakke_imessage.json`` against the product's receive path (ADVERSARIAL.md §6, C2-C6).

The expected ``result`` comes from the independent reference (``reference/mikey.py``) via the
checked-in file. The product side is the receive pipeline of
:mod:`prose_mesh.protocol.gmk_receiver` up to key installation, on the vector's own community:
the strict parser (:func:`prose_mesh.wire.mikey_codec.parse_i_message`), the receiver's header
rules (PRF 1, V 0), IDRr is me / IDRi is the expected initiator, ECCSI verify of the §6.4
signed part, SAKKE decapsulation with step 5. The group binding and E.6 key parameters are not
part of the vector rule (the third-party messages use another E.6 layout); the full
``GmkMember`` is exercised with these mutations in tests/adversarial/test_c*.py.

valid → accepted with the expected SSV; invalid → a ParseError or CryptoError at some step, and
nothing else may escape.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from prose_mesh.crypto.eccsi import eccsi_verify
from prose_mesh.crypto.sakke import sakke_decapsulate
from prose_mesh.errors import CryptoError, ParseError
from prose_mesh.wire import mikey as mikey_scapy
from prose_mesh.wire import mikey_codec as mc

HERE = Path(__file__).resolve().parent
FILE = HERE / "mikey_sakke_imessage.json"
DOC: dict[str, Any] = json.loads(FILE.read_text())
REQUIRED_FLAGS = {"RangeCheck", "MissingZero", "InvalidEncoding", "ModifiedIdentity",
                  "ModifiedCiphertext", "SsvSize", "KnownAnswer"}


class Refused(Exception):
    """The product refused the message; ``step`` names where."""

    def __init__(self, step: str, exc: Exception | None = None) -> None:
        super().__init__(step)
        self.step = step
        self.exc = exc


def product_accept(group: dict[str, Any], data: bytes) -> bytes:
    """The SSV the product's receive path would install, or :class:`Refused`."""
    initiator, recipient = bytes.fromhex(group["initiatorId"]), bytes.fromhex(group["recipientId"])
    try:
        msg = mc.parse_i_message(data)
    except ParseError as exc:
        raise Refused("parse", exc) from None
    if msg.hdr.prf != mc.PRF_HMAC_SHA256 or msg.hdr.v:
        raise Refused("header")
    if msg.idr(mc.ROLE_UID_R) != recipient:
        raise Refused("not for me")
    if msg.idr(mc.ROLE_UID_I) != initiator:
        raise Refused("unauthorised signer")
    try:
        eccsi_verify(msg.signed_part, msg.signature, identity=initiator,
                     kpak=bytes.fromhex(group["kpak"]))
    except CryptoError as exc:
        raise Refused("eccsi", exc) from None
    try:
        return sakke_decapsulate(msg.sakke.data, identity=recipient,  # type: ignore[union-attr]
                                 rsk=bytes.fromhex(group["rsk"]),
                                 z_pub=bytes.fromhex(group["z_pub"]))
    except CryptoError as exc:
        raise Refused("sakke", exc) from None


def _cases() -> list[Any]:
    out = []
    for group in DOC["testGroups"]:
        params = {k: v for k, v in group.items() if k != "tests"}
        for tc in group["tests"]:
            out.append(pytest.param(params, tc, id=f"tc{tc['tcId']}-{'-'.join(tc['flags'])}"))
    return out


def test_file_header_and_coverage():
    jsonschema.validate(DOC, json.loads((HERE / DOC["schema"]).read_text()))
    tests = [tc for g in DOC["testGroups"] for tc in g["tests"]]
    assert DOC["numberOfTests"] == len(tests) and len(tests) >= 100
    assert [tc["tcId"] for tc in tests] == list(range(1, len(tests) + 1))
    flags = {f for tc in tests for f in tc["flags"]}
    assert flags <= DOC["notes"].keys()
    assert flags >= REQUIRED_FLAGS, REQUIRED_FLAGS - flags
    assert {"valid", "invalid"} <= {tc["result"] for tc in tests}
    assert sum(tc["result"] == "valid" and "MissingZero" in tc["flags"] for tc in tests) >= 4
    assert sum("KnownAnswer" in tc["flags"] for tc in tests) == 4  # all third-party messages


@pytest.mark.parametrize(("group", "tc"), _cases())
def test_product_agrees(group, tc):
    data = bytes.fromhex(tc["imessage"])
    if tc["result"] == "valid":
        assert product_accept(group, data) == bytes.fromhex(tc["ssv"])
        # the readable Scapy layers agree with the strict codec on every valid message
        assert bytes(mikey_scapy.parse_mikey_scapy(data)) == data
    elif tc["result"] == "invalid":
        with pytest.raises(Refused):
            product_accept(group, data)
    else:
        try:
            got = product_accept(group, data)
        except Refused:
            return
        assert "ssv" not in tc or got == bytes.fromhex(tc["ssv"])


def test_c5_flips_rejected_by_step_5_not_by_the_signature():
    """C5: under the insider's valid signature, H flips get past ECCSI and die at SAKKE step 5."""
    steps = {}
    for group in DOC["testGroups"]:
        for tc in group["tests"]:
            if "ModifiedCiphertext" in tc["flags"]:
                with pytest.raises(Refused) as info:
                    product_accept(group, bytes.fromhex(tc["imessage"]))
                steps[tc["comment"]] = info.value.step
    h_flips = {c: s for c, s in steps.items() if c.startswith("SAKKE H")}
    assert h_flips and set(h_flips.values()) == {"sakke"}
    assert set(steps.values()) == {"sakke"}  # R flips: the point parse inside decapsulation
