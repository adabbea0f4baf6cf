"""prose_mesh.node: the Trio UE (ARCHITECTURE.md decision 1: a thin driver of sans-I/O machines).

``ue`` (the node and its receive/timer/intent loops), ``machines`` (which machine gets which key,
and the one-to-many PDCP bearers), ``provision`` (KMS community, identity keys, group
configuration), ``keystore``, ``clock`` (per-UE injectable clock), ``log`` (accept/reject log).
"""
