"""Every byte on the air: Scapy layers (readable reference) and strict fast codecs.

Modules, one protocol each: :mod:`.pc5` (Ethernet 0x88B5 → PC5-EMU shim → TS 36.323 §6.2.10
PDCP → SDU), :mod:`.fast` (struct codecs for the shim + PDCP, the per-packet path),
:mod:`.pc5s` (TS 24.334 PC5 signalling), :mod:`.discovery` (PC5_DISCOVERY), :mod:`.mikey`
(MIKEY payloads as Scapy layers), :mod:`.mikey_codec` (strict I_MESSAGE parser and builders),
:mod:`.monp` (TS 24.379 MONP and TS 24.380 MCPT floor control), :mod:`.samples` (the sample
capture). Untrusted bytes go through the ``parse_*`` functions, which raise only
:class:`prose_mesh.errors.ParseError`; no module here imports :mod:`prose_mesh.crypto`
(:mod:`.samples` does so optionally, to sign its demo frames).
"""
