"""GMK store: R8 install rules, lifetime (D1), supersede/newest-wins, revocation (D2), A5."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from prose_mesh.protocol.gmk_policy import GmkPolicyError, GmkStore
from prose_mesh.protocol.reasons import Reason

G = 2.0  # receive grace


def store() -> GmkStore:
    return GmkStore(grace=G, switchover=1.0)


def test_d1_lifetime_receive_and_send():
    s = store()
    s.install(1, b"k1", activation=10, expiry=20, now=0)
    assert s.receive_verdict(1, 9.99) is Reason.GMK_NOT_ACTIVE
    assert s.receive_verdict(1, 10) is None
    assert s.receive_verdict(1, 20 + G) is None
    assert s.receive_verdict(1, 20 + G + 0.01) is Reason.GMK_EXPIRED
    assert s.may_send(9) is None and s.may_send(15).gmk_id == 1 and s.may_send(20.5) is None
    assert s.send_verdict(1, 21) is Reason.GMK_EXPIRED
    assert s.receive_verdict(2, 15) is Reason.UNKNOWN_KEY
    with pytest.raises(GmkPolicyError) as ei:
        s.check_receive(1, 5)
    assert ei.value.reason == "GMK_NOT_ACTIVE"


def test_r8_never_reinstall_and_activation_never_backwards():
    s = store()
    s.install(1, b"k1", activation=10, expiry=100, now=0)
    s.install(2, b"k2", activation=50, expiry=200, now=40)
    assert s.install_verdict(2, 60, 300, now=45) is Reason.GMK_SUPERSEDED  # installed ID
    assert s.install_verdict(1, 70, 300, now=45) is Reason.GMK_SUPERSEDED  # superseded ID
    assert s.install_verdict(3, 40, 300, now=45) is Reason.GMK_SUPERSEDED  # A5: older activation
    assert s.install_verdict(3, 50, 300, now=45) is Reason.GMK_SUPERSEDED  # not strictly newer
    assert s.install_verdict(3, 60, 55, now=45) is Reason.MALFORMED
    assert s.install_verdict(3, 60, 70, now=80) is Reason.GMK_EXPIRED
    assert s.install_verdict(3, 60, 300, now=45) is None
    s.purge(now=1000)
    assert len(s) == 0
    assert s.install_verdict(1, 2000, 3000, now=1000) is Reason.GMK_SUPERSEDED  # retired ID


def test_newest_valid_gmk_wins_and_ordinary_rekey_keeps_old_receivable():
    s = store()
    s.install(1, b"k1", activation=0, expiry=100, now=0)
    s.install(2, b"k2", activation=50, expiry=200, now=10)
    assert s.may_send(40).gmk_id == 1 and s.may_send(60).gmk_id == 2
    assert s.send_verdict(1, 60) is Reason.GMK_SUPERSEDED
    assert s.receive_verdict(1, 60) is None  # not revoking: old GMK until its expiry
    assert s.get(1).superseded and not s.get(2).superseded


def test_d2_revoking_rekey_rejects_old_gmk_after_switchover():
    s = store()
    s.install(1, b"k1", activation=0, expiry=1000, now=0)
    s.install(2, b"k2", activation=50, expiry=2000, now=10, revoking=True)
    assert s.receive_verdict(1, 50.5) is None  # inside switchover (1 s)
    assert s.receive_verdict(1, 51) is Reason.GMK_SUPERSEDED
    assert s.receive_verdict(2, 51) is None


class GmkModel(RuleBasedStateMachine):
    """The store against a plain list of what was installed (no code shared with the store)."""

    @initialize()
    def setup(self):
        self.s = GmkStore(grace=G)
        self.now = 0.0
        self.ever: set[int] = set()
        self.installed: dict[int, tuple[float, float]] = {}  # id → (activation, expiry)
        self.latest_act: float | None = None

    @rule(dt=st.sampled_from([0.0, 1.0, 5.0, 30.0]))
    def tick(self, dt):
        self.now += dt

    @rule(gid=st.integers(0, 12), act_off=st.integers(-20, 40), life=st.integers(-5, 60))
    def offer(self, gid, act_off, life):
        act, exp = self.now + act_off, self.now + act_off + life
        got = self.s.install_verdict(gid, act, exp, self.now)
        if life <= 0:
            want = Reason.MALFORMED
        elif gid in self.ever or (self.latest_act is not None and act <= self.latest_act):
            want = Reason.GMK_SUPERSEDED
        elif self.now > exp + G:
            want = Reason.GMK_EXPIRED
        else:
            want = None
        assert got == want
        if want is None:
            self.s.install(gid, bytes([gid]), activation=act, expiry=exp, now=self.now)
            self.ever.add(gid)
            self.installed[gid] = (act, exp)
            self.latest_act = act
        else:
            with pytest.raises(GmkPolicyError):
                self.s.install(gid, b"x", activation=act, expiry=exp, now=self.now)

    @rule(gid=st.integers(0, 12))
    def receive(self, gid):
        got = self.s.receive_verdict(gid, self.now)
        if gid not in self.installed:
            assert got in (Reason.UNKNOWN_KEY, Reason.GMK_EXPIRED)
            return
        act, exp = self.installed[gid]
        assert (got is None) == (act <= self.now <= exp + G)  # D1: never outside the lifetime

    @rule()
    def purge(self):
        for gid in self.s.purge(self.now):
            del self.installed[gid]

    @invariant()
    def sender_uses_newest_live_gmk(self):
        if getattr(self, "s", None) is None:
            return
        live = [(a, g) for g, (a, e) in self.installed.items() if a <= self.now <= e]
        rec = self.s.may_send(self.now)
        assert (rec.gmk_id if rec else None) == (max(live)[1] if live else None)
        assert self.s.known_ids() == frozenset(self.ever)


TestGmkModel = GmkModel.TestCase
TestGmkModel.settings = settings(
    max_examples=1000, stateful_step_count=12, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
