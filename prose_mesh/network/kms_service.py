"""KMS provisioning over IP, protected end to end by the UE's KMS transport key (TS 33.180 §5.3).

TS 33.180 §5.3 and Annex D: a UE fetches its key material (SSK/PVT for ECCSI, RSK for SAKKE,
the community's KPAK and Z, for one key period) from the KMS, and the KMS may wrap it under a
*transport key* (TrK) provisioned to the UE out of band, so that nothing between them — here a
UE-to-network relay (ADVERSARIAL.md G3) — can read or alter it. The real interface is XML over
HTTPS; the emulator keeps the security properties and drops the XML:

[EMU] choices, all in this module:

* Transport: one UDP datagram each way, to ``[CORE_ADDRESS]:KMS_PORT`` (2270).
* TrK: 16 or 32 random octets per UE identity, given to the UE and to the KMS "at manufacture"
  (:func:`new_trk`). Two keys are derived from it, so the request MAC and the response cipher
  never share a key: ``K_auth = HMAC-SHA-256(TrK, "prose_mesh KMS request")`` and
  ``K_wrap = HMAC-SHA-256(TrK, "prose_mesh KMS response")[:len(TrK)]``.
* Request (UE -> KMS): ``"PMK1" | 0x01 | nonce(16) | period_no(4) | len(2) | URI | tag(32)``,
  the tag HMAC-SHA-256 under K_auth over everything before it. The KMS answers nothing to a
  request it cannot authenticate (unknown URI, bad tag): no oracle, nothing to reflect.
* Response (KMS -> UE): ``"PMK1" | 0x02 | status(1) | nonce(16) | iv(12) | AES-GCM(K_wrap)``
  with AAD = the header before the ciphertext followed by the URI. The plaintext is the key
  material in a fixed binary layout (:func:`pack_key_material`, ~750 octets: it fits one PC5
  SDU through a relay, where the JSON key file would not). Status 0 is success; a non-zero
  status (``PERIOD_REFUSED``) has an empty, still authenticated, plaintext.
* Freshness: the UE draws a fresh nonce per attempt and accepts only a response carrying a nonce
  it is waiting for, so a replayed response is refused. A replayed *request* gains nothing —
  the answer is encrypted under the victim's TrK and changes no state at the KMS — so the KMS
  keeps no nonce cache.
* Periods: the KMS issues keys for its own current key period and the next one (a UE whose clock
  runs ahead, or one preparing the period change) and refuses others with ``PERIOD_REFUSED``.

The UE validates what it receives as on installation (RFC 6507 §5.1.2, RFC 6508 §6.1.2), and
checks that the URI, period and KMS URI are the ones it asked for.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import struct
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Final, Protocol

import trio
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from prose_mesh.crypto.identity import key_period_number
from prose_mesh.crypto.kms import KeyMaterial, Kms
from prose_mesh.errors import ConfigError, CryptoError, ParseError, ProseMeshError
from prose_mesh.network.addressing import CORE_ADDRESS, KMS_PORT
from prose_mesh.protocol.actions import Accepted, Rejected
from prose_mesh.protocol.reasons import Reason
from prose_mesh.wire.ipudp import build_udp6, parse_udp6

MAGIC: Final = b"PMK1"
TYPE_REQUEST: Final = 1
TYPE_RESPONSE: Final = 2
STATUS_OK: Final = 0
STATUS_PERIOD_REFUSED: Final = 1
NONCE_LEN: Final = 16
TAG_LEN: Final = 32
IV_LEN: Final = 12
MAX_URI: Final = 255
_REQ_HEAD = struct.Struct(">4sB16sIH")  # magic, type, nonce, period_no, URI length
_RSP_HEAD = struct.Struct(">4sBB16s12s")  # magic, type, status, nonce, IV
_KM_INTS = struct.Struct(">III")  # period, offset, period_no
_KM_FIXED = (("uid", 32), ("ssk", 32), ("pvt", 65), ("rsk", 257), ("kpak", 65), ("z_pub", 257))


class KmsRefused(ProseMeshError):
    """The KMS answered, authenticated, that it will not issue the requested key material."""

    reason = "KMS_REFUSED"


def new_trk(bits: int = 256) -> bytes:
    """A fresh transport key of 128 or 256 bits (given to the UE and the KMS out of band)."""
    if bits not in (128, 256):
        raise ConfigError("a TrK is 128 or 256 bits")
    return secrets.token_bytes(bits // 8)


def _keys(trk: bytes) -> tuple[bytes, bytes]:
    if len(trk) not in (16, 32):
        raise ConfigError(f"a TrK is 16 or 32 octets, got {len(trk)}")
    k_auth = hmac.new(trk, b"prose_mesh KMS request", hashlib.sha256).digest()
    k_wrap = hmac.new(trk, b"prose_mesh KMS response", hashlib.sha256).digest()[: len(trk)]
    return k_auth, k_wrap


# -- key material codec -----------------------------------------------------------------------


def _lv(value: str) -> bytes:
    raw = value.encode()
    if len(raw) > MAX_URI:
        raise ConfigError(f"URI longer than {MAX_URI} octets")
    return bytes([len(raw)]) + raw


def pack_key_material(km: KeyMaterial) -> bytes:
    """The fixed binary layout: len|URI, len|KMS URI, period, offset, number, then the keys."""
    out = _lv(km.uri) + _lv(km.kms_uri) + _KM_INTS.pack(km.period, km.offset, km.period_no)
    for name, length in _KM_FIXED:
        value = getattr(km, name)
        if len(value) != length:
            raise ConfigError(f"key material field {name} is not {length} octets")
        out += value
    return out


def unpack_key_material(data: bytes) -> KeyMaterial:
    """Inverse of :func:`pack_key_material`; ParseError on any length mismatch."""
    pos = 0
    texts = []
    for _ in range(2):
        if pos >= len(data) or pos + 1 + data[pos] > len(data):
            raise ParseError("key material: truncated URI")
        n = data[pos]
        try:
            texts.append(data[pos + 1 : pos + 1 + n].decode())
        except UnicodeDecodeError:
            raise ParseError("key material: URI is not UTF-8") from None
        pos += 1 + n
    want = pos + _KM_INTS.size + sum(length for _, length in _KM_FIXED)
    if len(data) != want:
        raise ParseError(f"key material: {len(data)} octets, expected {want}")
    period, offset, period_no = _KM_INTS.unpack_from(data, pos)
    pos += _KM_INTS.size
    fields: dict[str, bytes] = {}
    for name, length in _KM_FIXED:
        fields[name] = data[pos : pos + length]
        pos += length
    return KeyMaterial(texts[0], texts[1], period, offset, period_no, **fields)


# -- the KMS side (sans-I/O) ------------------------------------------------------------------


@dataclass(frozen=True)
class KmsAnswer:
    """What the KMS does with one datagram: ``response`` (None: stay silent) and the verdict."""

    response: bytes | None
    verdict: Accepted | Rejected


Issuer = Callable[[Kms, str, int], KeyMaterial]


class KmsService:
    """The KMS's request handler: authenticate, check the period, wrap the key material.

    Sans-I/O: :meth:`on_request` takes the UDP payload and the time and returns the payload to
    send back. ``issue`` extracts key material (default ``kms.provision``; the network passes
    the process-wide cache of :func:`prose_mesh.node.provision.key_material`).
    """

    def __init__(self, kms: Kms, trks: Mapping[str, bytes] | None = None, *,
                 issue: Issuer | None = None) -> None:
        self.kms = kms
        self._trks: dict[str, tuple[bytes, bytes]] = {}
        self._issue: Issuer = issue or (lambda k, uri, n: k.provision(uri, n))
        self.accepted = 0
        self.rejects: Counter[str] = Counter()
        self.refused = 0  # authenticated PERIOD_REFUSED answers
        for uri, trk in (trks or {}).items():
            self.enrol(uri, trk)

    def enrol(self, uri: str, trk: bytes) -> None:
        """Record the TrK pre-provisioned to ``uri`` (at "manufacture")."""
        self._trks[uri] = _keys(trk)

    def on_request(self, payload: bytes, *, now: float) -> KmsAnswer:
        try:
            return self._answer(payload, now)
        except _Drop as drop:
            self.rejects[drop.reason] += 1
            return KmsAnswer(None, Rejected("kms", drop.reason, drop.peer, drop.detail))

    def _answer(self, payload: bytes, now: float) -> KmsAnswer:
        if len(payload) < _REQ_HEAD.size + TAG_LEN:
            raise _Drop(Reason.MALFORMED, f"{len(payload)} octets")
        magic, kind, nonce, period_no, ulen = _REQ_HEAD.unpack_from(payload)
        if magic != MAGIC or kind != TYPE_REQUEST:
            raise _Drop(Reason.BAD_HEADER, "not a PMK1 request")
        if len(payload) != _REQ_HEAD.size + ulen + TAG_LEN:
            raise _Drop(Reason.MALFORMED, "URI length does not match the datagram")
        raw_uri = payload[_REQ_HEAD.size : _REQ_HEAD.size + ulen]
        try:
            uri = raw_uri.decode()
        except UnicodeDecodeError:
            raise _Drop(Reason.MALFORMED, "URI is not UTF-8") from None
        keys = self._trks.get(uri)
        if keys is None:
            raise _Drop(Reason.UNKNOWN_KEY, "no TrK for this identity", uri)
        k_auth, k_wrap = keys
        tag = hmac.new(k_auth, payload[:-TAG_LEN], hashlib.sha256).digest()
        if not hmac.compare_digest(tag, payload[-TAG_LEN:]):
            raise _Drop(Reason.BAD_TAG, "request MAC", uri)
        current = key_period_number(now, self.kms.period, self.kms.offset)
        iv = secrets.token_bytes(IV_LEN)
        if period_no not in (current, current + 1):
            self.refused += 1
            head = _RSP_HEAD.pack(MAGIC, TYPE_RESPONSE, STATUS_PERIOD_REFUSED, nonce, iv)
            body = AESGCM(k_wrap).encrypt(iv, b"", head + raw_uri)
            return KmsAnswer(head + body, Rejected("kms", Reason.POLICY, uri,
                                                   f"period {period_no}, KMS is in {current}"))
        km = self._issue(self.kms, uri, period_no)
        head = _RSP_HEAD.pack(MAGIC, TYPE_RESPONSE, STATUS_OK, nonce, iv)
        body = AESGCM(k_wrap).encrypt(iv, pack_key_material(km), head + raw_uri)
        self.accepted += 1
        return KmsAnswer(head + body, Accepted("kms", uri, {"period_no": period_no}))


class _Drop(Exception):
    def __init__(self, reason: Reason, detail: str = "", peer: str | None = None) -> None:
        super().__init__(reason, detail)
        self.reason = reason
        self.detail = detail
        self.peer = peer


# -- the UE side (sans-I/O) -------------------------------------------------------------------


class KmsClient:
    """A UE's half of the exchange: builds requests as IPv6/UDP packets, opens responses.

    ``src`` is the UE's IPv6 address on whatever path it uses (its uplink address, or the one
    its relay gave it); replies come back to ``[src]:sport``.
    """

    def __init__(self, *, uri: str, trk: bytes, src: bytes, kms_uri: str | None = None,
                 kms_address: bytes = CORE_ADDRESS, kms_port: int = KMS_PORT,
                 sport: int = KMS_PORT) -> None:
        self.uri = uri
        self._raw_uri = uri.encode()
        if len(self._raw_uri) > MAX_URI:
            raise ConfigError(f"URI longer than {MAX_URI} octets")
        self._k_auth, self._k_wrap = _keys(trk)
        self.src = src
        self.kms_uri = kms_uri
        self.kms_address = kms_address
        self.kms_port = kms_port
        self.sport = sport
        self._waiting: dict[bytes, int] = {}  # nonce -> period number asked for
        self.rejects: Counter[str] = Counter()

    def request(self, period_no: int) -> bytes:
        """A fresh request (new nonce) for ``period_no``, as an IPv6/UDP packet to the KMS."""
        nonce = secrets.token_bytes(NONCE_LEN)
        body = _REQ_HEAD.pack(MAGIC, TYPE_REQUEST, nonce, period_no, len(self._raw_uri))
        body += self._raw_uri
        body += hmac.new(self._k_auth, body, hashlib.sha256).digest()
        self._waiting[nonce] = period_no
        return build_udp6(self.src, self.kms_address, self.sport, self.kms_port, body)

    def is_response(self, packet: bytes) -> bool:
        """Cheap test: is this an IPv6/UDP packet from the KMS to our port? (no crypto)"""
        return (len(packet) >= 48 and packet[0] >> 4 == 6 and packet[6] == 17
                and packet[8:24] == self.kms_address
                and int.from_bytes(packet[40:42], "big") == self.kms_port
                and int.from_bytes(packet[42:44], "big") == self.sport)  # fmt: skip

    def on_packet(self, packet: bytes) -> KeyMaterial | None:
        """Open a response: the validated key material, or None (counted in ``rejects``).

        Raises :class:`KmsRefused` for an authenticated refusal of a request we made.
        """
        try:
            return self._open(packet)
        except _Drop as drop:
            self.rejects[drop.reason] += 1
            return None

    def _open(self, packet: bytes) -> KeyMaterial:
        try:
            dgram = parse_udp6(packet)
        except ParseError as exc:
            raise _Drop(Reason.MALFORMED, exc.detail) from None
        if dgram.src != self.kms_address or dgram.sport != self.kms_port:
            raise _Drop(Reason.NOT_FOR_ME, "not from the KMS")
        data = dgram.payload
        if len(data) < _RSP_HEAD.size + 16:
            raise _Drop(Reason.MALFORMED, f"{len(data)} octets")
        magic, kind, status, nonce, _iv = _RSP_HEAD.unpack_from(data)
        if magic != MAGIC or kind != TYPE_RESPONSE:
            raise _Drop(Reason.BAD_HEADER, "not a PMK1 response")
        period_no = self._waiting.get(nonce)
        if period_no is None:
            raise _Drop(Reason.REPLAY, "no request with this nonce is outstanding")
        head = data[: _RSP_HEAD.size]
        try:
            plain = AESGCM(self._k_wrap).decrypt(head[-IV_LEN:], data[_RSP_HEAD.size :],
                                                 head + self._raw_uri)
        except InvalidTag:
            raise _Drop(Reason.BAD_TAG, "response does not open under our TrK") from None
        del self._waiting[nonce]
        if status != STATUS_OK:
            self._waiting.clear()
            raise KmsRefused(f"KMS refused key period {period_no} (status {status})")
        try:
            km = unpack_key_material(plain)
        except ParseError as exc:
            raise _Drop(Reason.MALFORMED, exc.detail) from None
        if km.uri != self.uri or km.period_no != period_no:
            raise _Drop(Reason.POLICY, "key material for another identity or period")
        if self.kms_uri is not None and km.kms_uri != self.kms_uri:
            raise _Drop(Reason.POLICY, f"key material from KMS {km.kms_uri}")
        try:
            km.validate()
        except CryptoError as exc:
            raise _Drop(Reason.BAD_SAKKE, f"key material fails validation: {exc}") from None
        self._waiting.clear()
        return km


# -- the UE side (Trio) -----------------------------------------------------------------------


class PacketPath(Protocol):
    """Anything that carries IPv6 packets to the network and back (an Uplink, a relay path)."""

    async def send(self, packet: bytes) -> None: ...

    async def receive(self) -> bytes: ...


async def provision_over_ip(
    path: PacketPath,
    *,
    uri: str,
    trk: bytes,
    src: bytes,
    period_no: int | None = None,
    now: Callable[[], float] | None = None,
    kms_uri: str | None = None,
    kms_period: tuple[int, int] | None = None,
    kms_address: bytes = CORE_ADDRESS,
    attempt_timeout: float = 2.0,
    attempts: int = 3,
    other: Callable[[bytes], Awaitable[None]] | None = None,
) -> KeyMaterial:
    """Fetch and validate this UE's key material from the KMS over any IP path.

    ``period_no`` defaults to the period ``now()`` falls in for ``kms_period`` = (length, offset)
    (both needed then). Each attempt sends a fresh request and waits ``attempt_timeout`` for the
    answer; packets that are not the answer go to ``other`` (e.g. a GMK arriving meanwhile), or
    are dropped. Raises :class:`KmsRefused` on an authenticated refusal, ``TimeoutError`` when
    every attempt went unanswered.
    """
    if period_no is None:
        if now is None or kms_period is None:
            raise ConfigError("give period_no, or now and kms_period to compute it")
        period_no = key_period_number(now(), *kms_period)
    client = KmsClient(uri=uri, trk=trk, src=src, kms_uri=kms_uri, kms_address=kms_address)
    for _ in range(attempts):
        await path.send(client.request(period_no))
        with trio.move_on_after(attempt_timeout):
            while True:
                packet = await path.receive()
                if client.is_response(packet):
                    km = client.on_packet(packet)
                    if km is not None:
                        return km
                elif other is not None:
                    await other(packet)
    raise TimeoutError(f"no valid KMS answer after {attempts} attempts "
                       f"(rejected: {dict(client.rejects)})")
