"""Test helper: the Streamwide MIKEY-SAKKE vector file, and a minimal MIKEY next-payload walk.

The walk only locates payloads (RFC 3830 §6, RFC 6509 §4); the full parser lives in wire/.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

from support import load_vector


@dataclass
class Provisioned:
    uri: str
    uid: bytes
    rsk: bytes
    ssk: bytes
    pvt: bytes


@dataclass
class Message:
    name: str
    key: bytes
    key_id: int
    rand: bytes
    guk_id: int | None
    initiator: str
    responder: str
    raw: bytes


def load() -> tuple[dict[str, str], dict[str, Provisioned], list[Message]]:
    md = load_vector("mikey_sakke_i_messages_thirdparty.json")["markdown"]
    kms: dict[str, str] = {}
    users: dict[str, Provisioned] = {}
    messages: list[Message] = []
    sections = re.split(r"\n(?=\* KMS |### )", md)
    for sec in sections:
        fields = dict(re.findall(r"\*\s+([\w -]+?)\s*:\s*(\S+(?: \S+)?)", sec))
        if sec.startswith("* KMS Init") or "KMS Init" in sec.splitlines()[0]:
            kms = {k: v for k, v in fields.items()}
        elif sec.startswith("* KMS KeyProv"):
            users[fields["UserUri"]] = Provisioned(
                fields["UserUri"],
                bytes.fromhex(fields["UserID"]),
                bytes.fromhex(fields["UserDecryptKey"]),
                bytes.fromhex(fields["UserSigningKeySSK"]),
                bytes.fromhex(fields["UserPubTokenPVT"]),
            )
        elif sec.startswith("### Test"):
            kind = re.search(r"### Test \d: (\w+)", sec).group(1)
            imsg = re.search(r"I-MESSAGE\s*:\s*mikey (\S+)", sec).group(1)
            messages.append(
                Message(
                    name=sec.splitlines()[0][4:],
                    key=bytes.fromhex(fields[kind]),
                    key_id=int(fields[f"{kind}-ID"], 16),
                    rand=bytes.fromhex(fields[f"{kind}-RAND"]),
                    guk_id=int(fields["GUK-ID"], 16) if "GUK-ID" in fields else None,
                    initiator=fields["Initiator URI"],
                    responder=fields["Responder URI"],
                    raw=base64.b64decode(imsg),
                )
            )
    return kms, users, messages


def walk(msg: bytes) -> dict[int, list[bytes]]:
    """Payload type -> list of payload bodies (after the next-payload octet); SIGN is type 4."""
    out: dict[int, list[bytes]] = {}
    assert msg[0] == 1 and msg[1] == 26
    nxt = msg[2]
    ncs, map_type = msg[8], msg[9]
    off = 10
    if map_type == 0:  # SRTP-ID: policy(1) SSRC(4) ROC(4) per CS
        off += 9 * ncs
    elif map_type == 2:  # GENERIC-ID
        for _ in range(ncs):
            npol = msg[off + 2] & 0x7F
            off += 3 + npol
            sess = int.from_bytes(msg[off : off + 2], "big")
            off += 2 + sess
            off += 1 + msg[off]
    out[-1] = [msg[:off]]
    while nxt != 0:
        ptype = nxt
        if ptype == 4:  # SIGN: S type (4) | length (12), then the signature; always last
            length = int.from_bytes(msg[off : off + 2], "big") & 0x0FFF
            out.setdefault(4, []).append(msg[off + 2 : off + 2 + length])
            assert off + 2 + length == len(msg)
            return out
        nxt = msg[off]
        if ptype == 5:  # T
            size = 2 + {0: 8, 1: 8, 2: 4}[msg[off + 1]]
        elif ptype == 11:  # RAND
            size = 2 + msg[off + 1]
        elif ptype == 14 or ptype == 10 or ptype == 26:  # IDR
            size = 5 + int.from_bytes(msg[off + 3 : off + 5], "big")
        elif ptype == 21:  # General Extension
            size = 4 + int.from_bytes(msg[off + 2 : off + 4], "big")
        else:
            raise AssertionError(f"unexpected payload type {ptype}")
        out.setdefault(ptype, []).append(msg[off : off + size])
        off += size
    raise AssertionError("no SIGN payload")
