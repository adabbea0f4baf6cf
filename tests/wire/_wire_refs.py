"""Reference messages shared by the wire tests (third-party vectors + one of each built type)."""

from __future__ import annotations

import base64
import re
from functools import cache

from support import load_vector

from prose_mesh.wire import samples


def third_party_i_messages() -> dict[str, dict[str, str]]:
    """The 4 Streamwide I_MESSAGEs with their stated values, parsed from the vector's markdown."""
    md = load_vector("mikey_sakke_i_messages_thirdparty.json")["markdown"]
    out: dict[str, dict[str, str]] = {}
    for block in re.split(r"### Test \d+: ", md)[1:]:
        title = block.splitlines()[0].strip()
        fields = dict(re.findall(r"\* ([\w\- ]+?)\s*: (\S.*)", block))
        out[title] = {k.strip(): v.strip() for k, v in fields.items()}
    return out


def user_ids() -> dict[str, bytes]:
    """UserUri → UserID (the 32-octet UID) of the vector's KMS provisioning section."""
    md = load_vector("mikey_sakke_i_messages_thirdparty.json")["markdown"]
    pairs = re.findall(r"UserUri\s*: (\S+)\s*\n\s*\* UserID\s*: ([0-9a-f]{64})", md)
    return {uri: bytes.fromhex(uid) for uri, uid in pairs}


def decode_i_message(text: str) -> bytes:
    assert text.startswith("mikey ")
    return base64.b64decode(text[len("mikey ") :])


@cache
def built() -> dict[str, list[bytes]]:
    """One of each message our builders make (placeholder crypto: wire tests need no keys)."""
    sign, enc = samples.placeholder_crypto()
    return {
        "mikey": samples.mikey_messages(sign, enc),
        "pc5s": [m for m, _ in samples.pc5s_messages(sign, enc)],
        "discovery": samples.discovery_messages(),
        "monp": samples.monp_messages(),
        "floor": samples.floor_messages(),
        "frames": samples.build_sample_frames(sign, enc),
    }
