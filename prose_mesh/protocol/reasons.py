"""The shared vocabulary of reject and drop reasons (ADVERSARIAL.md §1, §3; PROTOCOL.md §8.1 R9).

Every receiver stops at the first failing check and counts the input under exactly one of these
names, so the reject logs of all UEs are comparable. The values are the counter names; the RFC 3711
replay names keep their lower-case spelling (``replay_old`` / ``replay_fail``, RFC 3711 §3.3.2).
"""

from __future__ import annotations

from enum import StrEnum

from prose_mesh.errors import ProseMeshError


class Reason(StrEnum):
    """Why an input was dropped. ``str(Reason.X) == "X"``, usable directly as a counter key."""

    #: Length, framing or encoding is wrong (truncated, lying length, trailing octets).
    MALFORMED = "MALFORMED"
    #: A fixed header field has a value we never accept (RTP version, MIKEY version, type).
    BAD_HEADER = "BAD_HEADER"
    #: Addressed to someone else (IDRr is not me, DST is not me or my group).
    NOT_FOR_ME = "NOT_FOR_ME"
    #: The claimed signer is not authorised for this payload (e.g. GMK not from the GMS).
    UNAUTHORISED_SIGNER = "UNAUTHORISED_SIGNER"
    #: MIKEY T outside now ± SKEW, or before restart + SKEW (PROTOCOL.md §8.1 R1, R6).
    TS_OUT_OF_WINDOW = "TS_OUT_OF_WINDOW"
    #: MIKEY message identity already in the replay cache (R2).
    REPLAY = "REPLAY"
    #: A per-source or global token bucket is empty (RFC 8019 / WireGuard model).
    RATE_LIMITED = "RATE_LIMITED"
    #: The bounded verification queue shed this input.
    QUEUE_FULL = "QUEUE_FULL"
    #: A bounded cache is full and fails closed (R7); never evict-and-accept.
    CACHE_FULL = "CACHE_FULL"
    #: (IDRi, RAND, T) already failed verification inside the skew window.
    KNOWN_BAD = "KNOWN_BAD"
    #: ECCSI signature did not verify (RFC 6507 §5.2.2).
    BAD_SIG = "BAD_SIG"
    #: SAKKE decapsulation failed, including RFC 6508 §6.2.2 step 5.
    BAD_SAKKE = "BAD_SAKKE"
    #: GMK-ID already installed or superseded, or activation not newer (R8, A5).
    GMK_SUPERSEDED = "GMK_SUPERSEDED"
    #: Frame or send before the GMK's activation time (§8.4, D1).
    GMK_NOT_ACTIVE = "GMK_NOT_ACTIVE"
    #: Frame or send after the GMK's expiry (+ receive grace) (§8.4, D1).
    GMK_EXPIRED = "GMK_EXPIRED"
    #: No key for this MKI / key ID / KD-sess ID.
    UNKNOWN_KEY = "UNKNOWN_KEY"
    #: SRTP/SRTCP index behind the replay window (RFC 3711 §3.3.2).
    REPLAY_OLD = "replay_old"
    #: SRTP/SRTCP index inside the window and already seen (RFC 3711 §3.3.2).
    REPLAY_FAIL = "replay_fail"
    #: AEAD tag or HMAC authentication tag did not verify.
    BAD_TAG = "BAD_TAG"
    #: PDCP MAC-I (128-EIA2) did not verify.
    BAD_MAC_I = "BAD_MAC_I"
    #: Local security policy refuses the parameters (weak SP, NULL cipher, unencrypted SRTCP).
    POLICY = "POLICY"
    #: A sender would exceed the key's packet limit (2^48 SRTP, 2^31 SRTCP) or reuse an index.
    KEY_EXHAUSTED = "KEY_EXHAUSTED"


class Rejected(ProseMeshError):
    """A security check rejected an input; ``reason`` is a :class:`Reason` value.

    Used by the pure state machines of ``prose_mesh.protocol`` (replay, rate limit, GMK policy);
    cryptographic failures use :class:`prose_mesh.errors.CryptoError` subclasses instead.
    """

    reason = Reason.MALFORMED

    def __init__(self, reason: Reason, detail: str = "") -> None:
        super().__init__(detail, reason=reason)
