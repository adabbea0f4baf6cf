"""``prose-mesh bench wire``: PC5 shim + PDCP header build/parse rate, fast path vs Scapy.

Target (issue #3): ≥ 200,000 frames/s each for building and parsing on one core with
:mod:`prose_mesh.wire.fast`; the Scapy layers are measured for comparison. Also reports the
strict MIKEY I_MESSAGE parse rate.
"""

from __future__ import annotations

import argparse
from typing import Any

from prose_mesh.bench._common import emit, host_info, per_second
from prose_mesh.wire import fast
from prose_mesh.wire import mikey_codec as mc

# IPv6 + UDP + a 112-octet SRTP packet (about one 20 ms voice frame), group multicast
_SDU = (
    bytes.fromhex("6000000000781140") + bytes.fromhex("fe80" + "00" * 13 + "0a")
    + bytes.fromhex("ff15" + "00" * 11 + "9a0001") + bytes.fromhex("c350c3500078" + "0000")
    + bytes(112)
)


def _fast_build(n: int) -> None:
    build = fast.build_sl_sch
    for i in range(n):
        build(lcid=1, src_l2id=0x0A0B0C, dst_l2id=0x9A0001, cast=1, sdu_type=0, sdu=_SDU,
              key_id=7, sn=i & 0xFFFF)


def _fast_parse(frame: bytes) -> Any:
    parse = fast.parse_pc5

    def run(n: int) -> None:
        for _ in range(n):
            parse(frame)

    return run


def run_bench(n_fast: int = 200_000, n_scapy: int = 3_000) -> dict[str, Any]:
    from scapy.packet import Raw  # Scapy import stays out of the CLI

    from prose_mesh.wire.pc5 import PC5EMU, PDCP_SL_O2M

    payload = fast.build_sl_sch(lcid=1, src_l2id=0x0A0B0C, dst_l2id=0x9A0001, cast=1,
                                sdu_type=0, sdu=_SDU, key_id=7, sn=1)

    def scapy_build(n: int) -> None:
        for i in range(n):
            bytes(PC5EMU(lcid=1, src_l2id=0x0A0B0C, dst_l2id=0x9A0001, cast=1)
                  / PDCP_SL_O2M(ptk_id=7, sn=i & 0xFFFF) / Raw(_SDU))

    def scapy_parse(n: int) -> None:
        for _ in range(n):
            PC5EMU(payload)

    from prose_mesh.wire.samples import mikey_messages, placeholder_crypto

    imsg = mikey_messages(*placeholder_crypto())[0]

    def mikey_parse(n: int) -> None:
        for _ in range(n):
            mc.parse_i_message(imsg)

    return {
        "fast_build_per_s": per_second(_fast_build, n_fast),
        "fast_parse_per_s": per_second(_fast_parse(payload), n_fast),
        "scapy_build_per_s": per_second(scapy_build, n_scapy),
        "scapy_parse_per_s": per_second(scapy_parse, n_scapy),
        "mikey_i_message_parse_per_s": per_second(mikey_parse, 20_000),
        "sdu_octets": len(_SDU),
        "target_per_s": 200_000,
        **host_info(),
    }


def _cmd(args: argparse.Namespace) -> int:
    emit(run_bench(), args.json)
    return 0


def register(topics: Any) -> None:
    p: argparse.ArgumentParser = topics.add_parser(
        "wire", help="PC5 shim + PDCP build/parse rate (fast path and Scapy)"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_cmd)
