"""GMK store: R8 install rules, lifetime (D1), supersede/newest-wins, revocation (D2), A5, I1."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from prose_mesh.errors import ConfigError
from prose_mesh.protocol.gmk_policy import GmkPolicyError, GmkStore
from prose_mesh.protocol.reasons import Reason

G = 2.0  # receive grace
SW = 1.0  # switchover after a revoking rekey
TOL = 5.0  # clock tolerance for sending under a revoking GMK (the MIKEY skew)


def store() -> GmkStore:
    return GmkStore(grace=G, switchover=SW, tolerance=TOL)


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
    assert s.may_send(47).gmk_id == 1  # no early switch without a revocation (D1 for GMK 2)
    assert s.send_verdict(2, 47) is Reason.GMK_NOT_ACTIVE
    # not revoking: traffic keyed under the old GMK (a call in progress) may go on until its
    # expiry, and is received until expiry + grace; new traffic uses the new GMK
    assert s.send_verdict(1, 60) is None and s.send_verdict(2, 60) is None
    assert s.send_verdict(1, 100.5) is Reason.GMK_EXPIRED
    assert s.receive_verdict(1, 60) is None
    assert s.get(1).superseded and not s.get(2).superseded


def test_d2_revoking_rekey_rejects_old_gmk_after_switchover():
    s = store()
    s.install(1, b"k1", activation=0, expiry=1000, now=0)
    s.install(2, b"k2", activation=50, expiry=2000, now=10, revoking=True)
    assert s.receive_verdict(1, 50.5) is None  # inside switchover (1 s)
    assert s.receive_verdict(1, 51) is Reason.GMK_SUPERSEDED
    assert s.receive_verdict(2, 51) is None


def test_d2_sender_never_falls_back_to_a_revoked_gmk_whatever_its_clock():
    """The integration bug (ADVERSARIAL D2/I1): a member whose clock lags the distributor by
    less than the skew installs the revoking GMK with an activation in its future. It must send
    under the new GMK, never the old one; lagging more than the tolerance, it refuses."""
    s = store()
    s.install(1, b"k1", activation=0, expiry=1000, now=0)
    s.install(2, b"k2", activation=50, expiry=2000, now=47, revoking=True)  # clock 3 s behind
    assert s.may_send(47).gmk_id == 2 and s.send_verdict(2, 47) is None
    assert s.may_send(45).gmk_id == 2  # activation exactly TOL ahead
    assert s.may_send(44.9) is None  # further behind: refuse...
    assert s.send_verdict(2, 44.9) is Reason.GMK_NOT_ACTIVE
    for now in (0.0, 44.9, 47.0, 50.0, 500.0):  # ...and never the revoked GMK, at any time
        assert s.send_verdict(1, now) is Reason.GMK_SUPERSEDED
    # receivers keep their switchover rule
    assert s.receive_verdict(2, 47) is Reason.GMK_NOT_ACTIVE
    assert s.receive_verdict(1, 47) is None and s.receive_verdict(1, 50 + SW) is (
        Reason.GMK_SUPERSEDED)


def test_d2_without_tolerance_a_lagging_sender_refuses():
    s = GmkStore(tolerance=0.0)
    s.install(1, b"k1", activation=0, expiry=1000, now=0)
    s.install(2, b"k2", activation=50, expiry=2000, now=47, revoking=True)
    assert s.may_send(49.99) is None and s.may_send(50).gmk_id == 2
    with pytest.raises(ConfigError):
        GmkStore(tolerance=-1.0)


def test_d2_later_gmks_after_a_revocation():
    s = store()
    s.install(1, b"k1", activation=0, expiry=1000, now=0)
    s.install(2, b"k2", activation=50, expiry=2000, now=50, revoking=True)
    s.install(3, b"k3", activation=80, expiry=2000, now=60)  # ordinary rekey after it
    assert s.may_send(60).gmk_id == 2 and s.may_send(79).gmk_id == 2  # no early switch to 3
    assert s.may_send(80).gmk_id == 3
    assert s.send_verdict(2, 90) is None  # ordinary rekey: a call under GMK 2 goes on
    assert s.send_verdict(1, 90) is Reason.GMK_SUPERSEDED
    s.install(4, b"k4", activation=120, expiry=2000, now=116, revoking=True)
    assert s.may_send(116).gmk_id == 4  # the newest revocation sets the floor
    assert {s.send_verdict(i, 116) for i in (1, 2, 3)} == {Reason.GMK_SUPERSEDED}


def test_d2_revoked_gmk_stays_unusable_after_the_revoking_gmk_expires_and_is_purged():
    s = store()
    s.install(1, b"k1", activation=0, expiry=1000, now=0)
    s.install(2, b"k2", activation=50, expiry=60, now=50, revoking=True)
    assert s.may_send(61) is None  # GMK 2 expired; GMK 1 is still in its lifetime, but revoked
    assert s.purge(61 + G + 1) == [2]
    assert s.may_send(100) is None and s.send_verdict(1, 100) is Reason.GMK_SUPERSEDED
    assert s.receive_verdict(1, 100) is Reason.GMK_SUPERSEDED


class GmkModel(RuleBasedStateMachine):
    """The store against a plain record of what was installed (no code shared with the store).

    Clocks may step back (a resync, I1). Offers may be revoking (D2)."""

    @initialize()
    def setup(self):
        self.s = GmkStore(grace=G, switchover=SW, tolerance=TOL)
        self.now = 0.0
        self.ever: set[int] = set()
        # id → (activation, expiry, revoking)
        self.installed: dict[int, tuple[float, float, bool]] = {}
        self.latest_act: float | None = None
        self.revoke_from: float | None = None  # activation of the newest revoking install

    @rule(dt=st.sampled_from([-4.0, 0.0, 1.0, 3.0, 5.0, 30.0]))
    def tick(self, dt):
        self.now += dt

    @rule(gid=st.integers(0, 12), act_off=st.integers(-20, 40), life=st.integers(-5, 60),
          revoking=st.booleans())
    def offer(self, gid, act_off, life, revoking):
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
            self.s.install(gid, bytes([gid]), activation=act, expiry=exp, now=self.now,
                           revoking=revoking)
            self.ever.add(gid)
            self.installed[gid] = (act, exp, revoking)
            self.latest_act = act
            if revoking:
                self.revoke_from = act
        else:
            with pytest.raises(GmkPolicyError):
                self.s.install(gid, b"x", activation=act, expiry=exp, now=self.now)

    def _revoked(self, act: float) -> bool:
        return self.revoke_from is not None and act < self.revoke_from

    @rule(gid=st.integers(0, 12))
    def receive(self, gid):
        got = self.s.receive_verdict(gid, self.now)
        if gid not in self.installed:
            assert got in (Reason.UNKNOWN_KEY, Reason.GMK_EXPIRED)
            return
        act, exp, _ = self.installed[gid]
        cut = self._revoked(act) and self.now >= self.revoke_from + SW
        # D1: never outside the lifetime; D2: never an older GMK after the switchover
        assert (got is None) == (act <= self.now <= exp + G and not cut)

    def _send_choice(self) -> int | None:
        usable = [(a, g) for g, (a, e, _) in self.installed.items()
                  if not self._revoked(a) and a <= self.now <= e]
        if usable:
            return max(usable)[1]
        for g, (a, e, _) in self.installed.items():  # lagging clock: the revoking GMK itself
            if a == self.revoke_from and a - TOL <= self.now <= e:
                return g
        return None

    @rule(gid=st.integers(0, 12))
    def send(self, gid):
        got = self.s.send_verdict(gid, self.now)
        if gid not in self.installed:
            assert got in (Reason.UNKNOWN_KEY, Reason.GMK_EXPIRED)
            return
        act, exp, _ = self.installed[gid]
        if self._revoked(act):
            assert got is Reason.GMK_SUPERSEDED  # never again, whatever the clock
        elif gid == self._send_choice():
            assert got is None
        else:
            assert (got is None) == (act <= self.now <= exp)

    @rule()
    def purge(self):
        for gid in self.s.purge(self.now):
            del self.installed[gid]

    @invariant()
    def sender_uses_newest_unrevoked_gmk(self):
        if getattr(self, "s", None) is None:
            return
        rec = self.s.may_send(self.now)
        assert (rec.gmk_id if rec else None) == self._send_choice()
        if rec is not None:
            assert not self._revoked(rec.activation) and self.now <= rec.expiry
            assert self.now >= rec.activation - (TOL if rec.revoking else 0.0)
        assert self.s.known_ids() == frozenset(self.ever)


TestGmkModel = GmkModel.TestCase
TestGmkModel.settings = settings(
    max_examples=1000, stateful_step_count=12, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
