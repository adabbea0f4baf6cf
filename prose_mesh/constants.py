"""Every protocol constant whose value is not yet checked against spec text lives here.

Tags follow PROTOCOL.md §0: [V] verified, [I] seen in an implementation, [R] recalled (check the
clause before claiming conformance), [EMU] a prose_mesh convention. Interop between prose_mesh
nodes needs only this module; a 3GPP conformance claim needs the [R] values checked (§11).
"""

from __future__ import annotations

from typing import Final

# --- TS 33.220 Annex B KDF function codes (FC)
FC_DISCOVERY_MIC: Final = 0x49  # [R] 33.303 A.2 / Annex G (restricted MIC input is [EMU])
FC_PTK: Final = 0x4A  # [V] 33.303 A.3, checked in stored spec text 2026-11-23
FC_PEK_PIK: Final = 0x4B  # [R] 33.303 A.4 (shape matches 33.536 FC 0x7E [V])
FC_KD_SESS: Final = 0x4C  # [R] 33.303 (shape matches 33.536 FC 0x7F [V]); value unchecked
FC_KD_RELAY: Final = 0x4D  # [R] 33.303 A.7, KD from PRUK and KD Freshness; value unchecked
FC_DISCOVERY_KEYS: Final = 0x4E  # [R] 33.303 A.8, PSDK -> DUIK/DUSK/DUCK; value unchecked
FC_DISCOVERY_SCRAMBLE: Final = 0x4F  # [R] 33.303 A.5 scrambling keystream; value unchecked
FC_DISCOVERY_CONF: Final = 0x46  # [EMU] 33.303 A.6 message-specific confidentiality key
FC_GUK_SALT: Final = 0x50  # [V] 33.180 F.1.3, reproduced by the third-party GMK vector
FC_SIGNALLING_XPK: Final = 0x51  # [I] 33.180 (0x52 also)
FC_DPCK: Final = 0x53  # [I] 33.180 MCData DPCK

# P0 of the PEK/PIK derivation (algorithm type distinguisher)
ALG_DIST_PEK: Final = 0x00
ALG_DIST_PIK: Final = 0x01

# --- EPS algorithm identities (33.401 §5.1.3) [R]
EEA0: Final = 0
EEA2: Final = 2  # 128-EEA2, AES-CTR
EIA0: Final = 0
EIA2: Final = 2  # 128-EIA2, AES-CMAC

# --- MIKEY / MIKEY-SAKKE
MIKEY_PORT: Final = 2269  # [EMU] UDP port, decoded by Wireshark's MIKEY dissector [V]
MIKEY_SKEW_S: Final = 5.0  # [EMU] R1 timestamp window
MIKEY_REPLAY_TTL_S: Final = 2 * MIKEY_SKEW_S  # R5
KEY_PURPOSE_GMK: Final = 0x0  # [V] 33.180 §7.4.1: the 4 MSBs of a 32-bit key ID
KEY_PURPOSE_PCK: Final = 0x1  # [V]
KEY_PURPOSE_CSK: Final = 0x2  # [V] 36.579-1
KEY_PURPOSE_SPK: Final = 0x3  # [I]
KEY_PURPOSE_MKFC: Final = 0x4  # [I]
KEY_PURPOSE_MSCCK: Final = 0x5  # [I]
KEY_PURPOSE_MUSIK: Final = 0x6  # [I]
# [EMU] ad-hoc GMK key IDs are drawn from a separate space: purpose GMK with bit 27 set.
ADHOC_GMK_ID_FLAG: Final = 0x0800_0000

# MIKEY PRF labels (RFC 3830 §4.1.3) [R]
MIKEY_LABEL_TEK: Final = 0x2AD01C64
MIKEY_LABEL_SALT: Final = 0x39A2C14B
MIKEY_LABEL_AUTH: Final = 0x1B5C7973
MIKEY_LABEL_ENCR: Final = 0x15798CEF

# CS-IDs of TS 33.180 Table E.1.3-1 [I]
CS_ID_PCK_INITIATOR: Final = 0
CS_ID_PCK_RECEIVER: Final = 1
CS_ID_GMK: Final = 4
CS_ID_CSK: Final = 6

# --- Discovery (33.303 §6.1.3, 36.508 Table 4.7F.1-2)
DISCOVERY_MAX_OFFSET_S: Final = 32  # [V] Max-Offset 32; exact rule [R]

# --- SRTP (RFC 3711)
SRTP_REPLAY_WINDOW: Final = 64  # [V] minimum 64

# --- PC5 signalling timers, seconds (24.334 §10.4 names [R], defaults [EMU])
T4100_S: Final = 2.0  # waiting for the answer to DCR
T4100_RETRIES: Final = 3
T4101_S: Final = 10.0  # keepalive period / waiting for ACK
T4101_RETRIES: Final = 3
T4103_S: Final = 2.0  # waiting for RELEASE_ACCEPT
T4104_S: Final = 5.0  # rekeying
T4111_S: Final = 2.0  # DSM COMMAND outstanding

# --- MONP (24.379)
MONP_PORT: Final = 40000  # [EMU] default from group configuration
