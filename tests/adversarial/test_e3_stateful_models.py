"""E3: a RuleBasedStateMachine model of the SRTP receive path's replay window (ADVERSARIAL §7).

End to end, with real AES-GCM: an :class:`SrtpSender` emits packets whose SRTP index jumps
forward by 1..300 (crossing ROC boundaries: the first SEQ is near 65,535), and the attacker
delivers any of the last 100 in any order, again and again, or a tampered copy. The model (a set
of accepted indices, RFC 3711 §3.3.2 with window W = 64 or 128; talk bursts of W + 8 packets
and deliveries exactly at the window's trailing edge) predicts each verdict: deliver,
``replay_fail`` inside the window, ``replay_old`` behind it, ``BAD_TAG`` for a tampered packet
the window would admit; a rejected packet never changes receiver state, and no packet is ever
delivered twice.

The bare window and the MIKEY replay cache are modelled in tests/protocol/test_replay.py
(WindowModel, MikeyCacheModel) and the GMK store in tests/protocol/test_gmk_policy.py (GmkModel).
Budget: 120 examples × 40 steps (~9 s on the shared box; 200 × 40 took 14 s). The stateful
engine's per-step cost makes 10,000 examples (~12 min) unaffordable in CI: this is the one E3
property below the 10^4 figure. Mutation check: making the model's window edge off by one
(``>`` for ``>=``) is caught by the ``boundary`` rule.
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from prose_mesh.crypto.srtp import SrtpError, SrtpProfile, SrtpReceiver, SrtpSender
from prose_mesh.protocol.reasons import Reason

KEY, SALT, SSRC, MKI = bytes(range(16)), bytes(range(12)), 0x0177CE23, b"\x0d\xf9\xbc\x39" * 2
HISTORY = 100


class SrtpReplayModel(RuleBasedStateMachine):
    @initialize(window=st.sampled_from([64, 128]), first=st.integers(65_000, 65_535))
    def setup(self, window: int, first: int) -> None:
        self.window = window
        self.tx = SrtpSender(SrtpProfile.AEAD_AES_128_GCM, KEY, SALT, ssrc=SSRC, mki=MKI)
        self.rx = SrtpReceiver(SrtpProfile.AEAD_AES_128_GCM, mki_len=8, window=window)
        self.rx.add_key(MKI, KEY, SALT)
        self.index = first - 1
        self.sent: list[tuple[int, bytes, bytes]] = []  # (index, plaintext, packet)
        self.accepted: set[int] = set()
        self.delivered: list[int] = []

    def expected(self, i: int) -> Reason | None:
        if not self.accepted:
            # a new stream starts at ROC 0 unless told otherwise (RFC 3711 §3.3.1; a late
            # joiner learns the ROC from RCCm3): a first packet beyond ROC 0 cannot decrypt
            return None if i >> 16 == 0 else Reason.BAD_TAG
        if i > max(self.accepted):
            return None
        if max(self.accepted) - i >= self.window:
            return Reason.REPLAY_OLD
        return Reason.REPLAY_FAIL if i in self.accepted else None

    @rule(gap=st.one_of(st.integers(1, 3), st.integers(1, 300)))
    def send_one(self, gap: int) -> None:
        self.send(gap)

    def send(self, gap: int) -> None:
        seq = (self.index + gap) & 0xFFFF
        rtp = struct.pack("!BBHII", 0x80, 96, seq, seq * 160, SSRC) + seq.to_bytes(2, "big") * 16
        packet = self.tx.protect_rtp(rtp)
        # the sender infers the index from SEQ (its first packet is at ROC 0): that is the truth
        self.index = self.tx.last_index
        self.sent.append((self.index, rtp, packet))
        del self.sent[:-HISTORY]

    def _deliver(self, i: int, packet: bytes, plain: bytes, *, tampered: bool) -> None:
        want = self.expected(i)
        before = self.rx.snapshot()
        if want is None and not tampered:
            got = self.rx.unprotect_rtp(packet)
            assert got.index == i and got.packet == plain
            self.accepted.add(i)
            self.delivered.append(i)
            return
        with pytest.raises(SrtpError) as err:
            self.rx.unprotect_rtp(packet)
        assert err.value.reason == (want or Reason.BAD_TAG)
        assert self.rx.snapshot() == before  # a reject changes nothing

    @precondition(lambda self: bool(getattr(self, "sent", None)))
    @rule(data=st.data())
    def deliver(self, data: st.DataObject) -> None:
        i, plain, packet = data.draw(st.sampled_from(self.sent))
        self._deliver(i, packet, plain, tampered=False)

    @precondition(lambda self: bool(getattr(self, "sent", None)))
    @rule(data=st.data(), at=st.integers(12, 12 + 31))
    def tamper(self, data: st.DataObject, at: int) -> None:
        i, plain, packet = data.draw(st.sampled_from(self.sent))
        bad = bytearray(packet)
        bad[at] ^= 0x01  # a ciphertext bit (the header, hence the index, is intact)
        self._deliver(i, bytes(bad), plain, tampered=True)

    @rule()
    def burst(self) -> None:
        """A talk burst: W + 8 consecutive packets, so the window edges exist as packets."""
        for _ in range(self.window + 8):
            self.send(1)

    @precondition(lambda self: bool(getattr(self, "accepted", None)))
    @rule()
    def boundary(self) -> None:
        """The packets exactly at and just inside the window's trailing edge (top - W, +1)."""
        top = max(self.accepted)
        for i, plain, packet in list(self.sent):
            if i in (top - self.window, top - self.window + 1):
                self._deliver(i, packet, plain, tampered=False)

    @invariant()
    def never_twice(self) -> None:
        if getattr(self, "delivered", None) is not None:
            assert len(self.delivered) == len(set(self.delivered))
            assert self.rx.accepted["rtp"] == len(self.delivered)


TestSrtpReplayModel = SrtpReplayModel.TestCase
TestSrtpReplayModel.settings = settings(
    max_examples=120, stateful_step_count=40, deadline=None, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
