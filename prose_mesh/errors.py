"""The package's error types.

Everything that handles untrusted input raises a subclass of :class:`ProseMeshError` carrying a
short machine-readable ``reason`` (used as the counter name in a UE's reject log) and a
human-readable detail. No other exception type may escape a parser or a verifier.
"""

from __future__ import annotations


class ProseMeshError(Exception):
    """Base class of every error prose_mesh raises on purpose."""

    reason: str = "ERROR"

    def __init__(self, detail: str = "", *, reason: str | None = None) -> None:
        if reason is not None:
            self.reason = reason
        self.detail = detail
        super().__init__(f"{self.reason}: {detail}" if detail else self.reason)


class ParseError(ProseMeshError):
    """Untrusted bytes could not be parsed (bad length, header, type, loop, trailing octets)."""

    reason = "MALFORMED"


class CryptoError(ProseMeshError):
    """A cryptographic check failed or a key or input is unusable."""

    reason = "CRYPTO"


class InvalidSignature(CryptoError):
    """An ECCSI signature did not verify (RFC 6507 §5.2.2) or was malformed."""

    reason = "BAD_SIG"


class DecapsulationError(CryptoError):
    """SAKKE data could not be decapsulated, including the RFC 6508 §6.2.2 step 5 check."""

    reason = "BAD_SAKKE"


class InvalidKey(CryptoError):
    """Key material failed validation (RFC 6507 §5.1.2 SSK check, RFC 6508 §6.1.2 RSK check)."""

    reason = "BAD_KEY"


class ConfigError(ProseMeshError):
    """A topology, scenario or key file is wrong; the detail names the field and line."""

    reason = "BAD_CONFIG"


class EnvironmentProblem(ProseMeshError):
    """The host cannot do what was asked (no root/CAP_NET_ADMIN, fd limit, name clash)."""

    reason = "ENVIRONMENT"
