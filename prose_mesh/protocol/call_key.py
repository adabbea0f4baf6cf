"""The signed group call key message and its carriage in MONP SDP (TS 33.180 §7.4, RFC 3830).

A group call's session key travels in **one signed message**: the [EMU] MIKEY PSK-mode message
of :func:`prose_mesh.wire.mikey_codec.build_group_call_key_message` (data type 0, RFC 3830 §3.1
layout), whose KEMAC is encrypted under a key derived from the group's GMK and which the caller
signs with ECCSI (RFC 6507). It rides in the SDP of the MONP GROUP CALL ANNOUNCEMENT
(TS 24.379 §15.1.3) as ``a=key-mgmt:mikey <base64>`` (RFC 4567 §3.1).

Message fields [EMU, decisions where the specs are silent]:

* HDR CSB ID = **GMK-ID**, in clear, so a receiver finds the GMK by key ID before any crypto
  (``GmkSource.by_gmk_id``). PRF 1 (PRF-HMAC-SHA-256, RFC 6043 §6.1); empty CS-ID map.
* T = NTP-UTC of the (re-)announcement; RAND = 16 octets drawn once per call (re-announcements
  keep it, so the SRTP keys derived with it stay the same).
* IDRi (role 1) = the signer's MC service user URI; IDR role 8 = its MIKEY-SAKKE UID, which the
  receiver recomputes from the URI, the KMS URI and T's key period (TS 33.180 F.2.1).
* SP = the SRTP policy of the call (33.180 Table E.2-1 for AES-GCM; the RFC 3830 §6.10.1
  parameters of AES_CM_128_HMAC_SHA1_80 otherwise). Receivers refuse anything else (H4).
* KEMAC: encr alg AES-CM-128, MAC alg NULL — the ECCSI SIGN covers the ciphertext, and a
  group-shared MAC key would let any member forge another member's message.
  ``encr_key = PRF(GMK, 0x15798CEF ‖ 0xFF ‖ CSB ID ‖ RAND)`` (128 bits),
  ``salt_key = PRF(GMK, 0x39A2C14B ‖ 0xFF ‖ CSB ID ‖ RAND)`` (112 bits) (RFC 3830 §4.1.4 with
  the PRF of RFC 6043) and ``IV = (salt_key XOR (0x0000 ‖ CSB ID ‖ T)) ‖ 0x0000``
  (RFC 3830 §4.2.3) [R: clause text recalled, not checked against the stored RFC].
* Key data (RFC 3830 §6.13): type TGK, the 16-octet **call session key**, KV = SPI with the
  15-octet SPI ``GMK-ID(4) ‖ signer GUK-ID(4) ‖ MONP call ID(2) ‖ call start time(5)``. The
  SPI binds the unsigned MONP fields (call ID, start time) into the signed message, and the
  GUK-ID check (33.180 F.1.3) proves the KEMAC opened under the signer's GMK (AES-CM has no
  tag of its own).

Per-sender SRTP master key and salt (33.180 §7.4, PROTOCOL.md §6.5/§6.6) are then
``mikey_tek``/``mikey_salt`` of the call key (the TGK) with CS-ID 4, CSB ID = **the sender's**
GUK-ID and the message's RAND; the MKI is GMK-ID ‖ GUK-ID.
"""

from __future__ import annotations

import base64
import binascii
import struct
from dataclasses import dataclass
from typing import Final

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from prose_mesh.constants import CS_ID_GMK, MIKEY_LABEL_ENCR, MIKEY_LABEL_SALT
from prose_mesh.crypto.eccsi import eccsi_sign, eccsi_verify
from prose_mesh.crypto.kdf import guk_id, mikey_label, mikey_prf, mikey_salt, mikey_tek
from prose_mesh.crypto.kms import KeyMaterial
from prose_mesh.crypto.srtp import SrtpProfile
from prose_mesh.errors import InvalidSignature, ParseError, ProseMeshError
from prose_mesh.protocol.reasons import Reason
from prose_mesh.wire import mikey_codec as mc

CS_ID_ENVELOPE: Final = 0xFF  # RFC 3830 §4.1.4: cs_id for keys derived from the PSK [R]
SPI_LEN: Final = 15
CALL_KEY_LEN: Final = 16
RAND_LEN: Final = 16
MAX_SDP: Final = 2048  # bound on the SDP an ANNOUNCEMENT may carry [EMU]

# RFC 3830 §6.10.1 SRTP policy parameter types (and RFC 7714 §14.2 for 20).
SP_ENCR_ALG, SP_ENCR_KEY_LEN, SP_AUTH_ALG, SP_AUTH_KEY_LEN, SP_SALT_LEN = 0, 1, 2, 3, 4
SP_PRF, SP_KDR, SP_SRTP_ENCR, SP_SRTCP_ENCR, SP_SRTP_AUTH, SP_AUTH_TAG_LEN = 5, 6, 7, 8, 10, 11
SP_AEAD_TAG_LEN = 20
ENCR_AES_CM, ENCR_AES_GCM = 1, 6
AUTH_HMAC_SHA1 = 1

#: AES_CM_128_HMAC_SHA1_80 in RFC 3830 §6.10.1 terms (encryption and authentication on).
SP_AES_CM_HMAC_SHA1_80: Final[tuple[tuple[int, bytes], ...]] = (
    (SP_ENCR_ALG, b"\x01"), (SP_ENCR_KEY_LEN, b"\x10"), (SP_AUTH_ALG, b"\x01"),
    (SP_AUTH_KEY_LEN, b"\x14"), (SP_SALT_LEN, b"\x0e"), (SP_PRF, b"\x00"), (SP_KDR, b"\x00"),
    (SP_SRTP_ENCR, b"\x01"), (SP_SRTCP_ENCR, b"\x01"), (SP_SRTP_AUTH, b"\x01"),
    (SP_AUTH_TAG_LEN, b"\x0a"),
)  # fmt: skip


class CallKeyError(ProseMeshError):
    """A call key message was refused; ``reason`` is a :class:`Reason` value."""

    def __init__(self, reason: Reason, detail: str = "") -> None:
        super().__init__(detail, reason=reason)


# ------------------------------------------------------------------ security policy (H4)
def sp_for(profile: SrtpProfile) -> mc.SP:
    """The SP payload a caller sends for ``profile``."""
    if profile is SrtpProfile.AEAD_AES_128_GCM:
        return mc.SP(mc.DEFAULT_SP_PARAMS)
    return mc.SP(SP_AES_CM_HMAC_SHA1_80)


def profile_from_sp(sp: mc.SP | None) -> SrtpProfile:
    """Map a received SP onto one of the two profiles; anything else or weaker → POLICY."""
    if sp is None:
        raise CallKeyError(Reason.POLICY, "no SP payload")
    params: dict[int, int] = {}
    for ptype, value in sp.params:
        if ptype in params or len(value) != 1:
            raise CallKeyError(Reason.POLICY, f"SP parameter {ptype} repeated or not one octet")
        params[ptype] = value[0]

    def need(ptype: int, value: int, *, optional: bool = False) -> None:
        got = params.get(ptype)
        if (got is None and not optional) or (got is not None and got != value):
            raise CallKeyError(Reason.POLICY, f"SP parameter {ptype} = {got}, need {value}")

    need(SP_ENCR_KEY_LEN, 16)
    need(SP_PRF, 0, optional=True)
    need(SP_KDR, 0, optional=True)
    need(SP_SRTP_ENCR, 1, optional=True)
    need(SP_SRTCP_ENCR, 1, optional=True)
    need(SP_SRTP_AUTH, 1, optional=True)
    if params.get(SP_ENCR_ALG) == ENCR_AES_GCM:
        need(SP_SALT_LEN, 12)
        need(SP_AEAD_TAG_LEN, 16)
        return SrtpProfile.AEAD_AES_128_GCM
    if params.get(SP_ENCR_ALG) == ENCR_AES_CM:
        need(SP_AUTH_ALG, AUTH_HMAC_SHA1)
        need(SP_AUTH_KEY_LEN, 20)
        need(SP_SALT_LEN, 14)
        need(SP_AUTH_TAG_LEN, 10)
        return SrtpProfile.AES_CM_128_HMAC_SHA1_80
    raise CallKeyError(Reason.POLICY, f"SRTP encryption algorithm {params.get(SP_ENCR_ALG)}")


# ------------------------------------------------------------------ KEMAC crypto
def kemac_crypt(gmk: bytes, csb_id: int, rand: bytes, t_ntp: int, data: bytes) -> bytes:
    """AES-CM-128 KEMAC encryption = decryption (RFC 3830 §4.1.4, §4.2.3) under the GMK."""
    encr_key = mikey_prf(gmk, mikey_label(MIKEY_LABEL_ENCR, CS_ID_ENVELOPE, csb_id, rand), 16)
    salt_key = mikey_prf(gmk, mikey_label(MIKEY_LABEL_SALT, CS_ID_ENVELOPE, csb_id, rand), 14)
    iv = bytes(a ^ b for a, b in zip(salt_key, struct.pack("!HIQ", 0, csb_id, t_ntp), strict=True))
    enc = Cipher(algorithms.AES(encr_key), modes.CTR(iv + b"\0\0")).encryptor()
    return enc.update(data) + enc.finalize()


def call_spi(gmk_id: int, signer_guk_id: int, call_id: int, start_time: int) -> bytes:
    """The 15-octet Key data SPI (see the module docstring)."""
    return struct.pack("!IIH", gmk_id, signer_guk_id, call_id) + start_time.to_bytes(5, "big")


def sender_master(
    call_key: bytes, rand: bytes, sender_guk_id: int, profile: SrtpProfile
) -> tuple[bytes, bytes]:
    """(master key, master salt) of one sender: CS-ID 4, CSB ID = the sender's GUK-ID."""
    key = mikey_tek(call_key, cs_id=CS_ID_GMK, csb_id=sender_guk_id, rand=rand)
    salt = mikey_salt(
        call_key, cs_id=CS_ID_GMK, csb_id=sender_guk_id, rand=rand, length=profile.salt_len
    )
    return key, salt


# ------------------------------------------------------------------ build
def build_key_message(
    km: KeyMaterial,
    *,
    gmk_id: int,
    gmk: bytes,
    call_key: bytes,
    rand: bytes,
    call_id: int,
    start_time: int,
    t_ntp: int,
    profile: SrtpProfile,
) -> bytes:
    """The signed call key message of ``km``'s user (caller, talker or probe responder)."""
    spi = call_spi(gmk_id, guk_id(gmk, gmk_id, km.uri), call_id, start_time)
    key_data = mc.KeyData(key=call_key, spi=spi, key_type=mc.KEY_TYPE_TGK).encode()
    return mc.build_group_call_key_message(
        csb_id=gmk_id,
        t_ntp=t_ntp,
        rand=rand,
        initiator_uri=km.uri.encode(),
        initiator_uid=km.uid,
        encr_key_data=kemac_crypt(gmk, gmk_id, rand, t_ntp, key_data),
        sign=lambda tbs: eccsi_sign(tbs, identity=km.uid, ssk=km.ssk, pvt=km.pvt, kpak=km.kpak),
        sp=sp_for(profile),
    )


def sdp_for(multicast: bytes, media_port: int, key_message: bytes) -> bytes:
    """Minimal SDP (RFC 4566) with the key message as RFC 4567 ``a=key-mgmt:mikey``."""
    addr = ":".join(multicast[i : i + 2].hex() for i in range(0, 16, 2))
    lines = [
        "v=0", f"o=- 0 0 IN IP6 {addr}", "s=-", f"c=IN IP6 {addr}", "t=0 0",
        f"m=audio {media_port} RTP/SAVP 96", "a=rtpmap:96 AMR-WB/16000",
        "a=key-mgmt:mikey " + base64.b64encode(key_message).decode(),
    ]  # fmt: skip
    return ("\r\n".join(lines) + "\r\n").encode()


# ------------------------------------------------------------------ receive (staged)
@dataclass(frozen=True, slots=True)
class KeyMessage:
    """A parsed call key message whose cheap checks (syntax, policy) passed."""

    msg: mc.MikeyMessage
    gmk_id: int
    signer_uri: str
    signer_uid: bytes
    t_ntp: int
    rand: bytes
    profile: SrtpProfile


def mikey_from_sdp(sdp: bytes) -> bytes:
    """The one ``a=key-mgmt:mikey`` value of an SDP body, base64-decoded strictly."""
    if len(sdp) > MAX_SDP:
        raise CallKeyError(Reason.MALFORMED, f"SDP of {len(sdp)} octets")
    try:
        text = sdp.decode("ascii")
    except UnicodeDecodeError:
        raise CallKeyError(Reason.MALFORMED, "SDP is not ASCII") from None
    values = [ln[17:] for ln in text.split("\r\n") if ln.startswith("a=key-mgmt:mikey ")]
    if len(values) != 1:
        raise CallKeyError(Reason.MALFORMED, f"{len(values)} a=key-mgmt:mikey lines")
    try:
        return base64.b64decode(values[0], validate=True)
    except (binascii.Error, ValueError):
        raise CallKeyError(Reason.MALFORMED, "key-mgmt value is not base64") from None


def parse_key_message(data: bytes) -> KeyMessage:
    """Parse and apply every check that needs no key: syntax, PRF, SP policy, KEMAC algs."""
    try:
        msg = mc.parse_psk_message(data)
    except ParseError as err:
        raise CallKeyError(Reason.MALFORMED, f"{err.reason}: {err.detail}") from None
    if msg.hdr.prf != mc.PRF_HMAC_SHA256 or msg.hdr.map_type != mc.MAP_EMPTY:
        raise CallKeyError(Reason.POLICY, "PRF must be HMAC-SHA-256 and the CS-ID map empty")
    if msg.t.ts_type != mc.TS_NTP_UTC or len(msg.rand) != RAND_LEN:
        raise CallKeyError(Reason.MALFORMED, "T must be NTP-UTC and RAND 16 octets")
    kemac = msg.kemac
    assert kemac is not None  # parse_psk_message requires it
    if kemac.encr_alg != mc.ENCR_AES_CM_128 or kemac.mac_alg != mc.MAC_NULL:
        raise CallKeyError(Reason.POLICY, "KEMAC must be AES-CM-128 with the SIGN as its MAC")
    profile = profile_from_sp(msg.sp)
    uri, uid = msg.idr(mc.ROLE_IDRI), msg.idr(mc.ROLE_UID_I)
    if not uri or uid is None or len(uid) != 32:
        raise CallKeyError(Reason.MALFORMED, "IDRi URI and a 32-octet UID (role 8) required")
    try:
        signer_uri = uri.decode("utf-8")
    except UnicodeDecodeError:
        raise CallKeyError(Reason.MALFORMED, "IDRi is not UTF-8") from None
    return KeyMessage(msg, msg.hdr.csb_id, signer_uri, uid, msg.t.value, msg.rand, profile)


def verify_signature(km_msg: KeyMessage, *, expected_uid: bytes, kpak: bytes) -> None:
    """UID binding then ECCSI (RFC 6507 §5.2.2) over ``msg[0 : len − 129]`` (§6.4)."""
    if km_msg.signer_uid != expected_uid:
        raise CallKeyError(Reason.UNAUTHORISED_SIGNER, "UID is not the signer URI's in T's period")
    try:
        eccsi_verify(
            km_msg.msg.signed_part, km_msg.msg.signature, identity=expected_uid, kpak=kpak
        )
    except InvalidSignature as err:
        raise CallKeyError(Reason.BAD_SIG, err.detail) from None


def open_kemac(
    km_msg: KeyMessage, gmk: bytes, *, call_id: int, start_time: int
) -> bytes:
    """Decrypt the KEMAC; check the SPI binds this GMK, signer and MONP call; → call key."""
    kemac = km_msg.msg.kemac
    assert kemac is not None
    plain = kemac_crypt(gmk, km_msg.gmk_id, km_msg.rand, km_msg.t_ntp, kemac.encr_data)
    try:
        kd = mc.parse_key_data(plain)
    except ParseError:
        raise CallKeyError(Reason.UNKNOWN_KEY, "KEMAC does not open under this GMK") from None
    expected = call_spi(
        km_msg.gmk_id, guk_id(gmk, km_msg.gmk_id, km_msg.signer_uri), call_id, start_time
    )
    if kd.key_type != mc.KEY_TYPE_TGK or len(kd.key) != CALL_KEY_LEN:
        raise CallKeyError(Reason.UNKNOWN_KEY, "KEMAC does not open under this GMK")
    if kd.spi is None or kd.spi[:8] != expected[:8]:
        # The plaintext parsed by chance, or another GMK carries this ID.
        raise CallKeyError(Reason.UNKNOWN_KEY, "Key data SPI does not name this GMK and signer")
    if kd.spi != expected:
        raise CallKeyError(Reason.MALFORMED, "MONP call ID / start time differ from the signed")
    return kd.key
