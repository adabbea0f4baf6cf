"""Run the Wycheproof-style vectors (ADVERSARIAL.md §6) against prose_mesh.crypto.

The expected results come from the independent reference in ``reference/`` via the checked-in
JSON files; this test never regenerates them. valid → accepted (SAKKE: the expected SSV or
encapsulation, byte-exact); invalid → the package's error type and nothing else; acceptable →
either. One pytest case per vector, named by tcId and flags.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from prose_mesh.errors import CryptoError, DecapsulationError, InvalidSignature

from .reference import p256, sakke

HERE = Path(__file__).resolve().parent
ECCSI_FILE = HERE / "eccsi_p256_sha256_verify.json"
SAKKE_FILE = HERE / "sakke_ps1_decap.json"
RESULTS = {"valid", "invalid", "acceptable"}


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def _cases(path: Path) -> list[Any]:
    doc = _load(path)
    out = []
    for group in doc["testGroups"]:
        params = {k: v for k, v in group.items() if k != "tests"}
        for tc in group["tests"]:
            ident = f"tc{tc['tcId']}-{'-'.join(tc['flags'])}"
            out.append(pytest.param(params, tc, id=ident))
    return out


@pytest.mark.parametrize("path", [ECCSI_FILE, SAKKE_FILE], ids=["eccsi", "sakke"])
def test_file_header(path):
    doc = _load(path)
    jsonschema.validate(doc, _load(HERE / doc["schema"]))
    tests = [tc for g in doc["testGroups"] for tc in g["tests"]]
    assert doc["numberOfTests"] == len(tests)
    assert [tc["tcId"] for tc in tests] == list(range(1, len(tests) + 1))
    assert {"algorithm", "schema", "generatorVersion", "notes", "testGroups"} <= doc.keys()
    flags = {f for tc in tests for f in tc["flags"]}
    assert flags <= doc["notes"].keys(), "every flag is described in notes"
    assert {tc["result"] for tc in tests} <= RESULTS
    # The suite must contain both outcomes, or it could not catch false accepts/rejects.
    assert {"valid", "invalid"} <= {tc["result"] for tc in tests}


def test_group_parameters_are_well_formed():
    """ADVERSARIAL.md §6: only the inputs inside a test may be malformed, never a group key."""
    for group in _load(ECCSI_FILE)["testGroups"]:
        assert p256.decode(bytes.fromhex(group["kpak"])) is not None
    for group in _load(SAKKE_FILE)["testGroups"]:
        for key in ("z_pub", "rsk"):
            pt = sakke.decode(bytes.fromhex(group[key]))
            assert pt is not None and sakke.mul(sakke.Q, pt) is None  # on E, order q


def test_total_vector_count():
    total = sum(_load(p)["numberOfTests"] for p in (ECCSI_FILE, SAKKE_FILE))
    assert total >= 300


@pytest.mark.parametrize(("group", "tc"), _cases(ECCSI_FILE))
def test_eccsi_verify(group, tc):
    from prose_mesh.crypto.eccsi import eccsi_verify

    kwargs = {"identity": bytes.fromhex(group["id"]), "kpak": bytes.fromhex(group["kpak"])}
    msg, sig = bytes.fromhex(tc["msg"]), bytes.fromhex(tc["sig"])
    if tc["result"] == "valid":
        eccsi_verify(msg, sig, **kwargs)  # must not raise
    elif tc["result"] == "invalid":
        with pytest.raises(InvalidSignature):
            eccsi_verify(msg, sig, **kwargs)
    else:
        with contextlib.suppress(InvalidSignature):
            eccsi_verify(msg, sig, **kwargs)


@pytest.mark.parametrize(("group", "tc"), _cases(SAKKE_FILE))
def test_sakke(group, tc):
    from prose_mesh.crypto.sakke import sakke_decapsulate, sakke_encapsulate

    ident, z_pub = bytes.fromhex(group["id"]), bytes.fromhex(group["z_pub"])
    if tc["op"] == "encapsulate":
        ssv = bytes.fromhex(tc["ssv"])
        if tc["result"] == "valid":
            # SAKKE is deterministic (r = HashToIntegerRange(SSV || b, q)): byte-exact.
            assert sakke_encapsulate(ssv, identity=ident, z_pub=z_pub) == bytes.fromhex(tc["enc"])
        else:
            assert tc["result"] == "invalid"
            with pytest.raises(CryptoError):
                sakke_encapsulate(ssv, identity=ident, z_pub=z_pub)
        return
    assert tc["op"] == "decapsulate"
    kwargs = {"identity": ident, "rsk": bytes.fromhex(group["rsk"]), "z_pub": z_pub}
    data = bytes.fromhex(tc["enc"])
    if tc["result"] == "valid":
        assert sakke_decapsulate(data, **kwargs) == bytes.fromhex(tc["ssv"])
    elif tc["result"] == "invalid":
        with pytest.raises(DecapsulationError):
            sakke_decapsulate(data, **kwargs)
    else:
        try:
            got = sakke_decapsulate(data, **kwargs)
        except DecapsulationError:
            return
        assert "ssv" not in tc or got == bytes.fromhex(tc["ssv"])
