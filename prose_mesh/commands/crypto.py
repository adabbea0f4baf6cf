"""``prose-mesh crypto ...``: ECCSI/SAKKE/UID tools over hex (RFC 6507, RFC 6508, 33.180 F.2.1).

Exit codes: 0 valid/done; 1 invalid: the signature, SAKKE data or RSK being judged is rejected,
malformed or not; 2 usage or parse error: bad hex, or a given public key (KPAK, Z) or, for
decapsulation, an RSK that is not a valid point, or inputs a KMS or signer cannot use.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from prose_mesh.crypto import eccsi, p256, sakke, sakke_params
from prose_mesh.crypto.identity import mikey_sakke_uid
from prose_mesh.errors import CryptoError, InvalidKey

_USAGE = 2


class _HexError(Exception):
    pass


def _hex(args: argparse.Namespace, name: str) -> bytes:
    value = getattr(args, name)
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise _HexError(f"--{name.replace('_', '-')} is not valid hex") from None


def _point_arg(args: argparse.Namespace, name: str, curve: Any) -> bytes:
    """A key given on the command line that is not a valid point is a usage error (exit 2)."""
    data = _hex(args, name)
    if curve.decode(data)[0] is None:
        raise _HexError(f"--{name.replace('_', '-')}: {curve.decode(data)[1]}")
    return data


def _fail(msg: str, code: int = _USAGE) -> int:
    print(f"prose-mesh crypto: {msg}", file=sys.stderr)
    return code


def _eccsi_kms(args: argparse.Namespace) -> int:
    ksak = _hex(args, "ksak") if args.ksak else None
    if ksak is None:
        import secrets

        from prose_mesh.crypto.p256 import Q

        ksak = (1 + secrets.randbelow(Q - 1)).to_bytes(32, "big")
    try:
        kpak = eccsi.eccsi_make_kpak(ksak)
        print(f"KSAK={ksak.hex().upper()}\nKPAK={kpak.hex().upper()}")
        if args.id is not None:
            ssk, pvt = eccsi.eccsi_issue_user_key(identity=_hex(args, "id"), ksak=ksak)
            print(f"SSK={ssk.hex().upper()}\nPVT={pvt.hex().upper()}")
    except InvalidKey as exc:
        return _fail(str(exc))
    return 0


def _eccsi_sign(args: argparse.Namespace) -> int:
    try:
        sig = eccsi.eccsi_sign(
            _hex(args, "msg"), identity=_hex(args, "id"), ssk=_hex(args, "ssk"),
            pvt=_hex(args, "pvt"), kpak=_hex(args, "kpak"),
        )  # fmt: skip
    except CryptoError as exc:
        return _fail(f"cannot sign: {exc}")
    print(sig.hex().upper())
    return 0


def _verdict(ok: bool) -> int:
    print("VALID" if ok else "INVALID")
    return 0 if ok else 1


def _eccsi_verify(args: argparse.Namespace) -> int:
    kpak = _point_arg(args, "kpak", p256.CURVE)
    msg, sig, ident = _hex(args, "msg"), _hex(args, "sig"), _hex(args, "id")
    try:
        eccsi.eccsi_verify(msg, sig, identity=ident, kpak=kpak)
    except CryptoError as exc:
        print(f"prose-mesh crypto: {exc}", file=sys.stderr)
        return _verdict(False)
    return _verdict(True)


def _sakke_kms(args: argparse.Namespace) -> int:
    import secrets

    from prose_mesh.crypto.sakke_params import q

    z = _hex(args, "z") if args.z else (2 + secrets.randbelow(int(q) - 2)).to_bytes(128, "big")
    try:
        z_pub = sakke.sakke_make_z(z)
        print(f"z={z.hex().upper()}\nZ={z_pub.hex().upper()}")
        if args.id is not None:
            rsk = sakke.sakke_extract_rsk(identity=_hex(args, "id"), z=z)
            print(f"RSK={rsk.hex().upper()}")
    except InvalidKey as exc:
        return _fail(str(exc))
    return 0


def _sakke_encap(args: argparse.Namespace) -> int:
    try:
        enc = sakke.sakke_encapsulate(
            _hex(args, "ssv"), identity=_hex(args, "id"), z_pub=_hex(args, "z_pub")
        )
    except CryptoError as exc:
        return _fail(f"cannot encapsulate: {exc}")
    print(enc.hex().upper())
    return 0


def _sakke_decap(args: argparse.Namespace) -> int:
    z_pub = _point_arg(args, "z_pub", sakke_params.CURVE)
    rsk = _point_arg(args, "rsk", sakke_params.CURVE)
    try:
        ssv = sakke.sakke_decapsulate(_hex(args, "enc"), identity=_hex(args, "id"), rsk=rsk,
                                      z_pub=z_pub)  # fmt: skip
    except CryptoError as exc:
        print(f"prose-mesh crypto: {exc}", file=sys.stderr)
        print("INVALID")
        return 1
    print(ssv.hex().upper())
    return 0


def _sakke_validate_rsk(args: argparse.Namespace) -> int:
    z_pub = _point_arg(args, "z_pub", sakke_params.CURVE)
    try:
        sakke.validate_rsk(identity=_hex(args, "id"), rsk=_hex(args, "rsk"), z_pub=z_pub)
    except CryptoError as exc:
        print(f"prose-mesh crypto: {exc}", file=sys.stderr)
        return _verdict(False)
    return _verdict(True)


def _uid(args: argparse.Namespace) -> int:
    if min(args.period, args.number, args.offset) < 0 or args.period == 0:
        return _fail("--period must be > 0, --offset and --number >= 0")
    uid = mikey_sakke_uid(args.uri, args.kms_uri, args.period, args.offset, args.number)
    print(uid.hex().upper())
    return 0


def _guard(fn: Any) -> Any:
    def run(args: argparse.Namespace) -> int:
        try:
            return int(fn(args))
        except _HexError as exc:
            return _fail(str(exc))

    return run


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "crypto", help="ECCSI / SAKKE / MIKEY-SAKKE UID tools (hex in, hex out)"
    )
    cmds = parser.add_subparsers(dest="crypto_cmd", metavar="SUBCOMMAND", required=True)

    def add(name: str, fn: Any, help_: str, *opts: tuple[str, bool]) -> argparse.ArgumentParser:
        p = cmds.add_parser(name, help=help_)
        for opt, required in opts:
            p.add_argument(f"--{opt}", required=required, metavar="HEX")
        p.set_defaults(func=_guard(fn))
        return p

    add("eccsi-kms", _eccsi_kms, "KPAK from KSAK (random if absent); SSK/PVT for --id",
        ("ksak", False), ("id", False))  # fmt: skip
    add("eccsi-sign", _eccsi_sign, "sign --msg (RFC 6507 §5.2.1)",
        ("kpak", True), ("id", True), ("ssk", True), ("pvt", True), ("msg", True))  # fmt: skip
    add("eccsi-verify", _eccsi_verify, "verify --sig over --msg (RFC 6507 §5.2.2)",
        ("kpak", True), ("id", True), ("msg", True), ("sig", True))  # fmt: skip
    add("sakke-kms", _sakke_kms, "Z from z (random if absent); RSK for --id",
        ("z", False), ("id", False))  # fmt: skip
    add("sakke-encap", _sakke_encap, "encapsulate --ssv to --id (RFC 6508 §6.2.1)",
        ("z-pub", True), ("id", True), ("ssv", True))  # fmt: skip
    add("sakke-decap", _sakke_decap, "decapsulate --enc (RFC 6508 §6.2.2)",
        ("z-pub", True), ("rsk", True), ("id", True), ("enc", True))  # fmt: skip
    add("sakke-validate-rsk", _sakke_validate_rsk, "RSK check (RFC 6508 §6.1.2)",
        ("z-pub", True), ("rsk", True), ("id", True))  # fmt: skip
    u = cmds.add_parser("uid", help="MIKEY-SAKKE UID (TS 33.180 F.2.1)")
    u.add_argument("--uri", required=True)
    u.add_argument("--kms-uri", required=True)
    u.add_argument("--period", required=True, type=int)
    u.add_argument("--offset", required=True, type=int)
    u.add_argument("--number", required=True, type=int)
    u.set_defaults(func=_guard(_uid))
