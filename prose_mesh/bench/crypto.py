"""``prose-mesh bench crypto``: ECCSI and SAKKE costs (median ms per operation).

Steady-state numbers use the process-wide tables (built once, reported as ``*_build_ms``);
``*_no_table_ms`` numbers rebuild nothing and use no cache.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any

from prose_mesh.bench._common import emit, host_info, median_ms


def _cpu_ms(fn: Any, runs: int) -> float:
    """Median process CPU time per call: less sensitive than wall time to a shared, loaded box."""
    fn()
    samples = []
    for _ in range(runs):
        t0 = time.process_time()
        fn()
        samples.append((time.process_time() - t0) * 1000.0)
    return statistics.median(samples)


def _once_ms(fn: Any) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000.0


def run(args: argparse.Namespace) -> int:
    from prose_mesh.crypto import eccsi, pairing, sakke, sakke_params
    from prose_mesh.crypto.kms import Kms

    runs = {"min_runs": args.runs, "min_seconds": args.seconds}
    result: dict[str, Any] = {"topic": "crypto", **host_info()}
    result["load_avg_1min"] = os.getloadavg()[0]
    result["g_table_build_ms"] = _once_ms(sakke_params.g_table)
    result["p_table_build_ms"] = _once_ms(sakke_params.p_table)
    kms = Kms.generate("kms.bench.example", period=86_400)
    km = kms.provision("sip:bench@example.org", 1)
    peer = kms.provision("sip:peer@example.org", 1)
    msg = bytes(range(256)) * 2 + bytes(100)  # a GMK I_MESSAGE is ~600 octets

    result["eccsi_sign_ms"] = median_ms(
        lambda: eccsi.eccsi_sign(msg, identity=km.uid, ssk=km.ssk, pvt=km.pvt, kpak=km.kpak),
        **runs,
    )
    sig = eccsi.eccsi_sign(msg, identity=km.uid, ssk=km.ssk, pvt=km.pvt, kpak=km.kpak)
    result["eccsi_verify_ms"] = median_ms(
        lambda: eccsi.eccsi_verify(msg, sig, identity=km.uid, kpak=km.kpak), **runs
    )

    def verify_cold() -> None:
        eccsi._signers.clear()
        eccsi.eccsi_verify(msg, sig, identity=km.uid, kpak=km.kpak)

    result["eccsi_verify_new_signer_ms"] = median_ms(verify_cold, **runs)

    ssv = bytes(range(16))
    result["identity_table_build_ms"] = _once_ms(
        lambda: sakke.precompute_identity(identity=peer.uid, z_pub=peer.z_pub)
    )
    result["sakke_encap_ms"] = median_ms(
        lambda: sakke.sakke_encapsulate(ssv, identity=peer.uid, z_pub=peer.z_pub), **runs
    )
    result["sakke_encap_kms_tables_ms"] = median_ms(
        lambda: sakke.sakke_encapsulate(ssv, identity=km.uid, z_pub=km.z_pub), **runs
    )
    enc = sakke.sakke_encapsulate(ssv, identity=km.uid, z_pub=km.z_pub)
    result["rsk_receiver_build_ms"] = _once_ms(
        lambda: sakke.validate_rsk(identity=km.uid, rsk=km.rsk, z_pub=km.z_pub)
    )
    result["sakke_decap_ms"] = median_ms(
        lambda: sakke.sakke_decapsulate(enc, identity=km.uid, rsk=km.rsk, z_pub=km.z_pub), **runs
    )
    result["sakke_decap_no_table_ms"] = median_ms(
        lambda: sakke._decapsulate_no_tables(enc, identity=km.uid, rsk=km.rsk, z_pub=km.z_pub),
        min_runs=5,
        min_seconds=args.seconds,
    )
    R, _ = sakke._parse_encapsulated(enc)
    rsk_pt = sakke_params.CURVE.decode(km.rsk)[0]
    lines = pairing.MillerLines(rsk_pt)
    result["rsk_lines_build_ms"] = _once_ms(lambda: pairing.MillerLines(rsk_pt))
    result["pairing_rsk_table_ms"] = median_ms(lambda: lines.pairing(R), **runs)
    result["pairing_no_table_ms"] = median_ms(
        lambda: pairing.tate_pairing(rsk_pt, R), min_runs=5, min_seconds=args.seconds
    )
    r = sakke.hash_to_integer_range(ssv + km.uid, int(sakke_params.q))
    table = sakke_params.p_table()
    result["fixed_base_mul_1024_ms"] = median_ms(lambda: table.mul(r), **runs)
    result["variable_base_mul_1024_ms"] = median_ms(
        lambda: sakke_params.CURVE.mul(r, sakke_params.P), min_runs=5, min_seconds=args.seconds
    )
    result["g_pow_table_ms"] = median_ms(lambda: sakke_params.g_table().pow(r), **runs)
    # The same four headline operations in process CPU time (median of --runs calls).
    result["cpu_eccsi_sign_ms"] = _cpu_ms(
        lambda: eccsi.eccsi_sign(msg, identity=km.uid, ssk=km.ssk, pvt=km.pvt, kpak=km.kpak),
        args.runs,
    )
    result["cpu_eccsi_verify_ms"] = _cpu_ms(
        lambda: eccsi.eccsi_verify(msg, sig, identity=km.uid, kpak=km.kpak), args.runs
    )
    result["cpu_sakke_encap_ms"] = _cpu_ms(
        lambda: sakke.sakke_encapsulate(ssv, identity=peer.uid, z_pub=peer.z_pub), args.runs
    )
    result["cpu_sakke_decap_ms"] = _cpu_ms(
        lambda: sakke.sakke_decapsulate(enc, identity=km.uid, rsk=km.rsk, z_pub=km.z_pub),
        args.runs,
    )
    result["load_avg_1min_end"] = os.getloadavg()[0]
    emit(result, args.json)
    return 0


def register(topics: Any) -> None:
    parser: argparse.ArgumentParser = topics.add_parser("crypto", help="ECCSI / SAKKE timings")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    parser.add_argument("--runs", type=int, default=20, help="minimum runs per operation")
    parser.add_argument("--seconds", type=float, default=0.5, help="minimum seconds per op")
    parser.set_defaults(func=run)
