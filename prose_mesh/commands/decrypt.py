"""``prose-mesh decrypt RUN [--out FILE] [--json]``: the run's air capture, deciphered.

RUN is a run folder or a run ID under ``--root`` (default ``captures``). The run's key log
(``keys.jsonl``, written by every run) opens PC5 one-to-one and one-to-many PDCP and group
SRTP/SRTCP; the copy is ``air-decrypted.pcapng`` unless ``--out`` says otherwise
(:mod:`prose_mesh.scenario.decrypt`). Exit codes: 0 written, 2 no such run, no key log or an
unreadable capture.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "decrypt", help="write a copy of a run's air capture with every frame its key log opens",
        description="Write a copy of a run's air capture (air.pcapng) with every frame the "
        "run's key log (keys.jsonl) opens in clear: PDCP one-to-one and one-to-many, SRTP and "
        "SRTCP. Integrity (MAC-I, SRTP tags) is verified; frames that fail stay as they were.",
    )
    parser.add_argument("run", metavar="RUN", help="run folder, or run ID under --root")
    parser.add_argument("--out", type=Path, default=None,
                        help="output file (default: RUN/air-decrypted.pcapng)")
    parser.add_argument("--root", default="captures",
                        help="where run IDs are looked up (default: captures)")
    parser.add_argument("--json", action="store_true", help="print the counts as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from prose_mesh.scenario.decrypt import decrypt_run

    result = decrypt_run(args.run, out=args.out, root=args.root)
    if args.json:
        print(json.dumps(result.as_dict(), indent=2, sort_keys=True))
        return 0
    print(f"prose-mesh decrypt: wrote {result.path}")
    print(f"  frames {result.frames}, rewritten {result.rewritten}, "
          f"unprotected {result.unprotected}")
    for title, counts in (("opened", result.opened), ("verified (clear, integrity only)",
                                                      result.verified),
                          ("not opened", result.not_opened)):
        if counts:
            body = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
            print(f"  {title}: {body}")
    if result.keylog_bad_lines:
        print(f"  key log: {result.keylog_bad_lines} unreadable line(s) skipped")
    if result.media_ports:  # the Lua plugin claims the media ports for SRTP: ask for RTP
        decode = " ".join(f"-d udp.port=={p},rtp -d udp.port=={p + 1},rtcp"
                          for p in result.media_ports)
        print(f"  tshark -X lua_script:$(prose-mesh wireshark path) {decode} -r {result.path}")
    return 0
