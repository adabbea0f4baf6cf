"""H3: a passive ECCSI nonce-reuse monitor (RFC 6507 §5.2.1; ADVERSARIAL.md §4 H3, §5).

An ECCSI signature is (r, s, PVT) with r = x([j]G) and s = j / (HE + r·SSK) mod q, where
HE = SHA-256(HS ‖ r ‖ M) and HS = SHA-256(G ‖ KPAK ‖ ID ‖ PVT). A signer that signs two
different messages with the same ephemeral j publishes the same r twice, and then

    s1·(HE1 + r·SSK) = j = s2·(HE2 + r·SSK)   ⇒   SSK = (s2·HE2 − s1·HE1) / (r·(s1 − s2)) mod q,

i.e. its secret signing key — with which anyone can sign as that identity for the rest of the key
period. The monitor watches signatures passively (it never sends), keeps the r values seen per
signer (ID, PVT) and flags a repeat; given KPAK it also recovers the SSK and checks it against
RFC 6507 §5.1.2 (KPAK = [SSK]G − [HS]PVT), which proves the finding is real rather than a hash
collision. A verbatim replay (same message, same signature) is not a reuse and is only counted.

prose_mesh's own signer hedges j (RFC 6979 + fresh randomness, :func:`prose_mesh.crypto.eccsi.
eccsi_sign`), so an honest run must show 0 repeats; the planted case in the tests signs twice with
one j (:func:`prose_mesh.crypto.eccsi._sign_with_j`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from hashlib import sha256
from typing import Final

from prose_mesh.crypto.eccsi import validate_ssk
from prose_mesh.crypto.p256 import G_BYTES, N, Q
from prose_mesh.errors import InvalidKey, ParseError
from prose_mesh.wire import mikey_codec as mc

SIG_LEN: Final = 4 * N + 1
DEFAULT_MAX_ENTRIES: Final = 1 << 20  # r values remembered in total (32 + ~100 octets each)


def _hs(identity: bytes, pvt: bytes, kpak: bytes) -> int:
    return int.from_bytes(sha256(G_BYTES + kpak + identity + pvt).digest(), "big")


def _he(hs: int, r: bytes, msg: bytes) -> int:
    return int.from_bytes(sha256(hs.to_bytes(N, "big") + r + msg).digest(), "big")


def recover_ssk(
    msg1: bytes, sig1: bytes, msg2: bytes, sig2: bytes, *, identity: bytes, kpak: bytes
) -> bytes:
    """The SSK of ``identity`` from two signatures that share j (hence r and PVT).

    Raises :class:`InvalidKey` when the pair does not determine a key (different r or PVT,
    s1 == s2, or the algebra gives a value that fails the RFC 6507 §5.1.2 check)."""
    if len(sig1) != SIG_LEN or len(sig2) != SIG_LEN:
        raise InvalidKey("ECCSI signatures are 129 octets")
    r_oct, pvt = sig1[:N], sig1[2 * N :]
    if sig2[:N] != r_oct or sig2[2 * N :] != pvt:
        raise InvalidKey("the two signatures do not share r and PVT")
    r = int.from_bytes(r_oct, "big")
    s1, s2 = int.from_bytes(sig1[N : 2 * N], "big"), int.from_bytes(sig2[N : 2 * N], "big")
    if (s1 - s2) % Q == 0 or r % Q == 0:
        raise InvalidKey("s1 == s2 (same message) or r == 0: nothing to solve")
    hs = _hs(identity, pvt, kpak)
    he1, he2 = _he(hs, r_oct, msg1), _he(hs, r_oct, msg2)
    ssk = (s2 * he2 - s1 * he1) * pow(r * (s1 - s2), -1, Q) % Q
    out = ssk.to_bytes(N, "big")
    validate_ssk(identity=identity, ssk=out, pvt=pvt, kpak=kpak)  # proves it: InvalidKey if not
    return out


@dataclass(frozen=True)
class NonceReuse:
    """A repeated r for one signer: the two (message, signature) pairs and, if recovered, SSK."""

    signer: bytes
    r: bytes
    first: tuple[bytes, bytes]
    second: tuple[bytes, bytes]
    ssk: bytes | None = field(default=None, repr=False)


class NonceMonitor:
    """Remembers every r per signer and flags repeats (the §5 "ECCSI r uniqueness" audit)."""

    def __init__(
        self, *, kpak: bytes | None = None, max_entries: int = DEFAULT_MAX_ENTRIES
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be >= 1")
        self.kpak = kpak
        self.max_entries = max_entries
        self._seen: dict[tuple[bytes, bytes], dict[bytes, tuple[bytes, bytes]]] = {}
        self._entries = 0
        self.findings: list[NonceReuse] = []
        #: signatures, replays, repeats, recovered, unparsable, malformed, full (not remembered)
        self.counts: Counter[str] = Counter()

    @property
    def signers(self) -> int:
        return len(self._seen)

    def observe(self, signer: bytes, msg: bytes, sig: bytes) -> NonceReuse | None:
        """Record one signature by ``signer`` (its UID) over ``msg``; a finding on a repeat."""
        if len(sig) != SIG_LEN:
            self.counts["malformed"] += 1
            return None
        self.counts["signatures"] += 1
        r, pvt = bytes(sig[:N]), bytes(sig[2 * N :])
        table = self._seen.setdefault((signer, pvt), {})
        prior = table.get(r)
        if prior is None:
            if self._entries >= self.max_entries:
                self.counts["full"] += 1  # bounded memory: stop remembering, keep counting
                return None
            table[r] = (bytes(msg), bytes(sig))
            self._entries += 1
            return None
        if prior == (msg, sig) or prior[0] == msg:
            self.counts["replays"] += 1  # the same signed message again: not a nonce reuse
            return None
        self.counts["repeats"] += 1
        ssk = None
        if self.kpak is not None:
            try:
                ssk = recover_ssk(prior[0], prior[1], msg, sig, identity=signer, kpak=self.kpak)
                self.counts["recovered"] += 1
            except InvalidKey:
                ssk = None
        finding = NonceReuse(signer, r, prior, (bytes(msg), bytes(sig)), ssk)
        self.findings.append(finding)
        return finding

    def observe_i_message(self, data: bytes) -> NonceReuse | None:
        """Observe a MIKEY message off the air: signer = IDRi (UID role 8, else role 1), the
        signed part is everything before the 129 signature octets (PROTOCOL.md §6.4)."""
        try:
            msg = mc.parse_mikey(data)
        except ParseError:
            self.counts["unparsable"] += 1
            return None
        signer = msg.initiator_id
        if signer is None:
            self.counts["unparsable"] += 1
            return None
        return self.observe(signer, msg.signed_part, msg.signature)

    def stats(self) -> dict[str, int]:
        return {"signers": self.signers, "entries": self._entries, **self.counts}
