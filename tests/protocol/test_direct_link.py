"""Two DirectLinks wired together in plain Python: real ECCSI/SAKKE, real frames (wire.fast).

Every Send action is PDCP-protected by the sender's ``protect``, built with ``build_sl_sch`` +
``ethernet``, parsed back with ``parse_frame`` and fed to the receiver's ``unprotect`` /
``on_pc5s``, as the node will do.
"""

from __future__ import annotations

import random

import pytest

from prose_mesh.crypto.eccsi import eccsi_sign
from prose_mesh.crypto.identity import key_period_number
from prose_mesh.crypto.kms import Kms
from prose_mesh.errors import ParseError
from prose_mesh.protocol import direct_link as dlm
from prose_mesh.protocol.actions import (
    Accepted,
    CancelTimer,
    Event,
    Rejected,
    SendSignalling,
    SetTimer,
)
from prose_mesh.protocol.direct_link import Delivered, DirectLinks
from prose_mesh.protocol.reasons import Reason
from prose_mesh.wire import fast
from prose_mesh.wire import pc5s as s
from prose_mesh.wire.mikey_codec import parse_i_message

NOW = 1_800_000_000.0
KMS = Kms.generate("kms.dl.example", period=30 * 86400)
PNO = key_period_number(NOW, KMS.period, KMS.offset)
ALICE = KMS.provision("sip:alice@dl.example", PNO)
BOB = KMS.provision("sip:bob@dl.example", PNO)
CAROL = KMS.provision("sip:carol@dl.example", PNO)
A_L2, B_L2, C_L2 = 0x0A0001, 0x0B0002, 0x0C0003


class Ue:
    def __init__(self, name, km, l2id, net, authorise=None, seed=1):
        self.name, self.km, self.l2id, self.net = name, km, l2id, net
        self.dl = DirectLinks(keys=km, l2id=l2id, authorise=authorise or (lambda uri: True),
                              rng=random.Random(seed))
        self.timers: dict = {}
        self.events: list[Event] = []
        self.verdicts: list = []
        self.delivered: list[Delivered] = []
        self.sent: list[tuple[SendSignalling, bytes]] = []

    def handle(self, actions):
        for a in actions:
            if isinstance(a, SendSignalling):
                pdu = self.dl.protect(a.peer_l2id, a.lcid, fast.SDU_PC5S, a.message,
                                      protect=a.protect, kd_sess_id=a.kd_sess_id)
                frame = fast.ethernet(b"\x02" + self.l2id.to_bytes(5, "big"), fast.build_sl_sch(
                    lcid=a.lcid, src_l2id=self.l2id, dst_l2id=a.peer_l2id,
                    cast=fast.CAST_ONE_TO_ONE, sdu_type=fast.SDU_PC5S, sdu=pdu.body,
                    key_id=pdu.key_id, sn=pdu.sn, mac_i=pdu.mac_i))
                self.sent.append((a, frame))
                self.net.air.append(frame)
            elif isinstance(a, SetTimer):
                self.timers[a.key] = a.at
            elif isinstance(a, CancelTimer):
                self.timers.pop(a.key, None)
            elif isinstance(a, Event):
                self.events.append(a)
            elif isinstance(a, (Accepted, Rejected)):
                self.verdicts.append(a)
            else:  # pragma: no cover - the machine emits nothing else
                raise AssertionError(a)

    def receive(self, frame, now):
        """The node's receive path for one frame; returns the PDCP/PC5-S outcome."""
        try:
            _src, pdu = fast.parse_frame(frame)
        except ParseError:
            return "MALFORMED"
        if pdu.shim.channel != fast.CH_SL_SCH or pdu.shim.cast != fast.CAST_ONE_TO_ONE:
            return "NOT_O2O"
        if pdu.shim.dst_l2id != self.l2id:
            return "NOT_FOR_ME"
        p = pdu.pdcp
        res = self.dl.unprotect(pdu.shim.src_l2id, pdu.shim.lcid, p.kdsess_id, p.sn, pdu.body,
                                p.mac_i, now, sdu_type=p.sdu_type, reserved=p.reserved)
        if isinstance(res, Rejected):
            self.verdicts.append(res)
            return res
        self.delivered.append(res)
        if res.sdu_type == fast.SDU_PC5S:
            acts = self.dl.on_pc5s(pdu.shim.src_l2id, pdu.shim.lcid, res.sdu,
                                   protected=res.protected, kd_sess_id=res.kd_sess_id, now=now)
            self.handle(acts)
            return acts
        return res

    def fire_due(self, now):
        for key, at in sorted(self.timers.items(), key=lambda kv: kv[1]):
            if at <= now and self.timers.get(key) == at:
                del self.timers[key]
                self.handle(self.dl.on_timer(key, now))

    def rejects(self):
        return [v for v in self.verdicts if isinstance(v, Rejected)]


class Net:
    def __init__(self, authorise_b=None, km_b=BOB, seed_a=1, seed_b=2):
        self.air: list[bytes] = []
        self.now = NOW
        self.a = Ue("A", ALICE, A_L2, self, seed=seed_a)
        self.b = Ue("B", km_b, B_L2, self, authorise=authorise_b, seed=seed_b)
        self.log: list[bytes] = []

    def ue_for(self, frame):
        dst = int.from_bytes(frame[14 + 5 : 14 + 8], "big")
        return {A_L2: self.a, B_L2: self.b}.get(dst)

    def run(self, *, drop=lambda frame: False, limit=100):
        n = 0
        while self.air and n < limit:
            frame = self.air.pop(0)
            self.log.append(frame)
            n += 1
            if drop(frame):
                continue
            ue = self.ue_for(frame)
            if ue is not None:
                ue.receive(frame, self.now)

    def advance(self, dt, **kw):
        self.now += dt
        self.a.fire_due(self.now)
        self.b.fire_due(self.now)
        self.run(**kw)

    def setup(self):
        self.a.handle(self.a.dl.connect(B_L2, BOB.uri, self.now))
        self.run()


def lcid_of(frame):
    return frame[14 + 1]


@pytest.fixture
def net():
    n = Net()
    n.setup()
    return n


# ----------------------------------------------------------------------------- setup
def test_setup_runs_dcr_dsm_command_complete_accept(net):
    a, b = net.a, net.b
    la, lb = a.dl.link(B_L2), b.dl.link(A_L2)
    assert la.established and lb.established
    assert la.kd_sess_id == lb.kd_sess_id != 0 and la.kd_id == lb.kd_id
    assert (la.role, lb.role) == ("initiator", "responder")
    assert lb.peer_uri == ALICE.uri and la.peer_uri == BOB.uri
    # the air: DCR(28, none) → DSM COMMAND(29, integrity) → COMPLETE(29, full) → ACCEPT(30)
    seq = [(lcid_of(f), fast.parse_frame(f)[1].pdcp.kdsess_id) for f in net.log]
    kd = la.kd_sess_id
    assert seq == [(28, 0), (29, kd), (29, kd), (30, kd)]
    # DSM COMMAND is readable (integrity only); COMPLETE and ACCEPT are ciphered
    cmd_body = fast.parse_frame(net.log[1])[1].body
    assert s.parse_pc5s(cmd_body).msg_type == s.DSM_COMMAND
    sent = {f: act for ue in (a, b) for act, f in ue.sent}
    for f in net.log[2:]:
        body = fast.parse_frame(f)[1].body
        assert len(body) == len(sent[f].message) and body != sent[f].message  # ciphered
    assert [e.name for e in a.events] == ["link_up"] and [e.name for e in b.events] == ["link_up"]
    assert a.events[0].data["kd_sess_id"] == kd and b.events[0].data["peer_uri"] == ALICE.uri
    assert not a.rejects() and not b.rejects()
    assert [v.detail["msg"] for v in b.verdicts] == ["DCR", "DSM_COMPLETE"]
    assert [v.detail["msg"] for v in a.verdicts] == ["DSM_COMMAND", "ACCEPT"]


def test_dcr_carries_signed_i_message_to_responder(net):
    dcr = s.parse_pc5s(fast.parse_frame(net.log[0])[1].body)
    assert dcr.user_info_type == 2 and dcr.user_info == ALICE.uri.encode()
    assert [ie.iei for ie in dcr.ies] == [s.IEI_MIKEY_I_MESSAGE, s.IEI_SIGNATURE]
    im = parse_i_message(dcr.ies[0].i_message)
    assert im.initiator_id == ALICE.uid and im.responder_id == BOB.uid
    assert len(im.sakke.data) == 273 and len(im.signature) == 129


def test_data_both_ways_ciphered_on_slrb(net):
    for src, dst, peer in ((net.a, net.b, B_L2), (net.b, net.a, A_L2)):
        packet = b"\x60" + bytes(39) + f"hello from {src.name}".encode()
        pdu = src.dl.protect(peer, 3, fast.SDU_IP, packet, protect="full", kd_sess_id=None)
        assert pdu.mac_i is None and pdu.body != packet
        frame = fast.ethernet(b"\x02" * 6, fast.build_sl_sch(
            lcid=3, src_l2id=src.l2id, dst_l2id=dst.l2id, cast=2, sdu_type=fast.SDU_IP,
            sdu=pdu.body, key_id=pdu.key_id, sn=pdu.sn))
        res = dst.receive(frame, net.now)
        assert isinstance(res, Delivered)
        assert (res.sdu, res.protected, res.sdu_type) == (packet, "ciphered", fast.SDU_IP)


# ----------------------------------------------------------------------------- keepalive
def test_keepalive_ack_and_local_release_after_retries(net):
    a = net.a
    key = ("dl", "T4101", B_L2)
    assert key in a.timers
    net.advance(dlm.T4101_S)
    acks = [v for v in a.verdicts if isinstance(v, Accepted) and v.detail["msg"] ==
            "KEEPALIVE_ACK"]
    assert len(acks) == 1 and acks[0].detail["counter"] == 1
    assert a.dl.link(B_L2).established
    # B goes silent: keepalives go unanswered, A releases locally after the retries
    for _ in range(dlm.T4101_RETRIES + 1):  # the first unanswered one + its retries
        net.advance(dlm.T4101_S, drop=lambda f: net.ue_for(f) is a)
        assert a.dl.link(B_L2).established
    net.advance(dlm.T4101_S, drop=lambda f: net.ue_for(f) is a)
    assert a.dl.link(B_L2) is None
    down = [e for e in a.events if e.name == "link_down"]
    assert len(down) == 1 and "keepalive" in down[0].data["reason"]


def test_responder_releases_after_inactivity(net):
    b = net.b
    net.advance(dlm.DEFAULT_MAX_INACTIVITY + 1, drop=lambda f: True)
    assert b.dl.link(A_L2) is None
    assert [e.data["reason"] for e in b.events if e.name == "link_down"] == ["inactivity (T4102)"]


# ----------------------------------------------------------------------------- release
def test_release_both_sides_forget_the_link(net):
    a, b = net.a, net.b
    kd = a.dl.link(B_L2).kd_sess_id
    a.handle(a.dl.release(B_L2, net.now))
    net.run()
    assert a.dl.link(B_L2) is None
    assert b.dl.link(A_L2).state == "closed"  # kept until purge, for RELEASE_ACCEPT
    net.advance(dlm.T4103_S)
    assert b.dl.link(A_L2) is None
    assert [e.name for e in a.events] == ["link_up", "link_down"]
    assert [e.name for e in b.events] == ["link_up", "link_down"]
    # nothing can be protected or received under the old context any more
    with pytest.raises(dlm.PdcpRejected):
        a.dl.protect(B_L2, 30, 2, b"x", protect="full", kd_sess_id=kd)


# ----------------------------------------------------------------------------- rekey
@pytest.mark.parametrize("who", ["initiator", "responder"])
def test_rekey_switches_context_and_old_one_is_rejected(net, who):
    a, b = net.a, net.b
    old = a.dl.link(B_L2).kd_sess_id
    # an in-flight PC5-S PDU under the old context, held back
    held_ka = b.dl.protect(A_L2, 30, 2, bytes(s.DirectCommunicationKeepalive(
        seq=1, keepalive_counter=99)), protect="full", kd_sess_id=None)
    held = fast.ethernet(b"\x02" * 6, fast.build_sl_sch(
        lcid=30, src_l2id=B_L2, dst_l2id=A_L2, cast=2, sdu_type=2, sdu=held_ka.body,
        key_id=held_ka.key_id, sn=held_ka.sn, mac_i=held_ka.mac_i))
    ue = a if who == "initiator" else b
    ue.handle(ue.dl.rekey(ue.l2id ^ A_L2 ^ B_L2, net.now))
    net.run()
    new = a.dl.link(B_L2).kd_sess_id
    assert new != old and new == b.dl.link(A_L2).kd_sess_id
    assert [e.name for e in a.events][-1] == "link_rekeyed"
    assert [e.name for e in b.events][-1] == "link_rekeyed"
    assert not a.rejects() and not b.rejects()
    # data flows under the new context
    pdu = b.dl.protect(A_L2, 3, 0, b"new-ctx", protect="full", kd_sess_id=None)
    assert pdu.key_id == new
    # after T4104 the old context is gone: the held frame is rejected
    net.advance(dlm.T4104_S)
    res = a.receive(held, net.now)
    assert isinstance(res, Rejected) and res.reason == Reason.UNKNOWN_KEY
    assert a.dl.link(B_L2).kd_sess_id == new


# ----------------------------------------------------------------------------- refusals
def test_unauthorised_initiator_gets_reject_1():
    n = Net(authorise_b=lambda uri: uri != ALICE.uri)
    n.setup()
    assert n.b.dl.link(A_L2) is None and n.a.dl.link(B_L2) is None
    rej = n.b.rejects()
    assert len(rej) == 1 and rej[0].reason == Reason.UNAUTHORISED_SIGNER
    assert rej[0].peer == ALICE.uri
    replies = [s.parse_pc5s(a.message) for a, _ in n.b.sent]
    assert len(replies) == 1 and replies[0].msg_type == s.DC_REJECT and replies[0].cause == 1
    dcr_seq = s.parse_pc5s(fast.parse_frame(n.log[0])[1].body).seq
    assert replies[0].seq == dcr_seq
    assert [e.data["reason"] for e in n.a.events] == ["DIRECT_COMMUNICATION_REJECT cause #1"]
    assert ("dl", "T4100", B_L2) not in n.a.timers


def _dcr_frame(n):
    """A fresh DCR from A to B, captured off the air and not delivered."""
    n.a.handle(n.a.dl.connect(B_L2, BOB.uri, n.now))
    return n.air.pop()


def _rebuild(frame, sdu):
    _, pdu = fast.parse_frame(frame)
    return fast.ethernet(b"\x02" * 6, fast.build_sl_sch(
        lcid=28, src_l2id=pdu.shim.src_l2id, dst_l2id=pdu.shim.dst_l2id, cast=2, sdu_type=2,
        sdu=sdu))


def _sign_as(km):
    return lambda m: eccsi_sign(m, identity=km.uid, ssk=km.ssk, pvt=km.pvt, kpak=km.kpak)


def _resigned_dcr(frame, *, signer, user_info=None, i_message=None):
    """The DCR of ``frame`` with fields replaced and the outer Signature IE made by ``signer``."""
    dcr = s.parse_pc5s(fast.parse_frame(frame)[1].body)
    im = i_message if i_message is not None else bytes(dcr.ies[0].i_message)
    new = s.DirectCommunicationRequest(
        seq=dcr.seq, user_info_type=2, user_info=user_info or dcr.user_info,
        ip_address_config=dcr.ip_address_config, max_inactivity_period=dcr.max_inactivity_period,
        nonce_1=dcr.nonce_1, ue_security_capabilities=dcr.ue_security_capabilities,
        msb_kdsess_id=dcr.msb_kdsess_id, ies=[s.IE_MikeyIMessage(i_message=im)])
    return _rebuild(frame, s.sign_pc5s(new, _sign_as(signer)))


def _assert_silent_drop(n, frame, reason, detail=None):
    before = len(n.b.sent)
    n.b.receive(frame, n.now)
    rej = n.b.rejects()
    assert rej and rej[-1].reason == reason, rej
    if detail:
        assert detail in rej[-1].detail
    assert len(n.b.sent) == before and not n.air  # no reply at all
    assert n.b.dl.links() == [] and len(n.b.dl.replay) == 0 and not n.b.timers


def test_forged_outer_signature_is_a_silent_bad_sig():
    n = Net()
    f = bytearray(_dcr_frame(n))
    f[-129 + 5] ^= 0x01  # a bit of r in the Signature IE
    _assert_silent_drop(n, bytes(f), Reason.BAD_SIG, "DCR signature")


def test_forged_i_message_signature_is_a_silent_bad_sig():
    n = Net()
    frame = _dcr_frame(n)
    im = bytearray(s.parse_pc5s(fast.parse_frame(frame)[1].body).ies[0].i_message)
    im[-60] ^= 0x80  # inside the PVT of the I_MESSAGE SIGN
    forged = _resigned_dcr(frame, signer=ALICE, i_message=bytes(im))
    _assert_silent_drop(n, forged, Reason.BAD_SIG, "I_MESSAGE signature")


def test_someone_else_signing_as_alice_is_a_silent_bad_sig():
    n = Net()
    forged = _resigned_dcr(_dcr_frame(n), signer=CAROL)  # IDRi stays Alice's UID
    _assert_silent_drop(n, forged, Reason.BAD_SIG)


def test_uri_not_matching_idri_is_unauthorised_signer():
    n = Net()
    forged = _resigned_dcr(_dcr_frame(n), signer=CAROL, user_info=CAROL.uri.encode())
    _assert_silent_drop(n, forged, Reason.UNAUTHORISED_SIGNER, "IDRi")


def test_dcr_for_another_responder_is_not_for_me():
    n = Net(km_b=CAROL)  # B's UE holds Carol's keys: the I_MESSAGE is for Bob's UID
    _assert_silent_drop(n, _dcr_frame(n), Reason.NOT_FOR_ME)


def test_bad_sakke_is_a_silent_drop():
    n = Net()
    frame = _dcr_frame(n)
    im = bytearray(s.parse_pc5s(fast.parse_frame(frame)[1].body).ies[0].i_message)
    from prose_mesh.wire.mikey_codec import PT_SAKKE, parse_mikey
    msg = parse_mikey(bytes(im))
    sakke = next(p for p in msg.payloads if p.pt == PT_SAKKE)
    at = bytes(im).index(sakke.data) + 272
    im[at] ^= 0x01  # flip a bit of H: SAKKE step 5 must fail
    tbs = bytes(im[:-129])
    im[-129:] = _sign_as(ALICE)(tbs)  # a correctly signed I_MESSAGE with a bad SED
    forged = _resigned_dcr(frame, signer=ALICE, i_message=bytes(im))
    _assert_silent_drop(n, forged, Reason.BAD_SAKKE)


def test_replayed_dcr_is_dropped_and_changes_nothing(net):
    b = net.b
    before = b.dl.link(A_L2)
    sent = len(b.sent)
    b.receive(net.log[0], net.now + 1)
    assert b.rejects()[-1].reason == Reason.REPLAY
    assert b.dl.link(A_L2) == before and len(b.sent) == sent


def test_stale_t_is_dropped():
    n = Net()
    n.a.handle(n.a.dl.connect(B_L2, BOB.uri, n.now - 10))  # A's clock is 10 s behind
    frame = n.air.pop()
    _assert_silent_drop(n, frame, Reason.TS_OUT_OF_WINDOW)


def test_malformed_dcr_is_dropped_without_reply():
    n = Net()
    frame = _dcr_frame(n)
    body = fast.parse_frame(frame)[1].body
    for cut in (3, 30, len(body) - 1):
        _assert_silent_drop(n, _rebuild(frame, body[:cut]), Reason.MALFORMED)


# ----------------------------------------------------------------------------- PDCP attacks
def _keepalive_frame(n):
    """A protected PC5-S PDU (LCID 30) from A to B, captured and not delivered."""
    ka = bytes(s.DirectCommunicationKeepalive(seq=77, keepalive_counter=5))
    pdu = n.a.dl.protect(B_L2, 30, 2, ka, protect="full", kd_sess_id=None)
    return fast.ethernet(b"\x02" * 6, fast.build_sl_sch(
        lcid=30, src_l2id=A_L2, dst_l2id=B_L2, cast=2, sdu_type=2, sdu=pdu.body,
        key_id=pdu.key_id, sn=pdu.sn, mac_i=pdu.mac_i))


def _b_state(n):
    link = n.b.dl._links[A_L2]
    return link.ctx.snapshot(), n.b.dl.link(A_L2), dict(n.b.timers)


def test_every_single_bit_flip_of_a_protected_pdu_is_rejected(net):
    frame = _keepalive_frame(net)
    state = _b_state(net)
    pppp_bit = (14 + 8) * 8  # PPPP nibble: MAC-layer priority, not covered (like real SCI)
    outcomes: dict[str, int] = {}
    for bit in range(14 * 8, len(frame) * 8):
        if pppp_bit <= bit < pppp_bit + 4:
            continue
        f = bytearray(frame)
        f[bit // 8] ^= 0x80 >> (bit % 8)
        res = net.b.receive(bytes(f), net.now)
        assert not isinstance(res, list), f"bit {bit} flip was accepted"
        key = str(res.reason) if isinstance(res, Rejected) else res
        outcomes[key] = outcomes.get(key, 0) + 1
        assert _b_state(net) == state, f"bit {bit} flip changed state"
    assert not net.air and not [e for e in net.b.events if e.name != "link_up"]
    pdcp_bits = (len(frame) - 14 - 11) * 8
    assert outcomes["BAD_MAC_I"] >= pdcp_bits - 16 - 8 - 5  # all but KD-sess ID/type/R flips
    assert set(outcomes) <= {"BAD_MAC_I", "MALFORMED", "UNKNOWN_KEY", "NOT_FOR_ME", "NOT_O2O",
                             "BAD_HEADER"}
    # the genuine PDU still goes through afterwards
    assert isinstance(net.b.receive(frame, net.now), list)


def test_replayed_protected_pdu_is_a_replay(net):
    frame = _keepalive_frame(net)
    assert isinstance(net.b.receive(frame, net.now), list)
    state = _b_state(net)
    sent = len(net.b.sent)
    res = net.b.receive(frame, net.now)
    assert isinstance(res, Rejected) and res.reason == Reason.REPLAY_FAIL
    assert _b_state(net) == state and len(net.b.sent) == sent


def test_dsm_command_with_wrong_mac_i_is_dropped_silently():
    n = Net()
    n.a.handle(n.a.dl.connect(B_L2, BOB.uri, n.now))
    n.run(limit=1)  # DCR to B; B answers with the DSM COMMAND, still on the air
    cmd = n.air.pop()
    assert lcid_of(cmd) == 29
    bad = bytearray(cmd)
    bad[-1] ^= 0x01
    res = n.a.receive(bytes(bad), n.now)
    assert isinstance(res, Rejected) and res.reason == Reason.BAD_MAC_I
    assert not n.air and n.a.dl.link(B_L2).state == "dcr_sent"
    assert n.a.dl._links[B_L2].pending is None
    # a body bit flip is a MAC-I failure as well
    bad = bytearray(cmd)
    bad[14 + 11 + 8] ^= 0x04
    assert n.a.receive(bytes(bad), n.now).reason == Reason.BAD_MAC_I
    # the genuine COMMAND still completes the setup
    n.a.receive(cmd, n.now)
    n.run()
    assert n.a.dl.link(B_L2).established and n.b.dl.link(A_L2).established


# ----------------------------------------------------------------------------- timers
def test_t4100_retransmits_fresh_dcrs_then_gives_up():
    n = Net()
    n.a.handle(n.a.dl.connect(B_L2, BOB.uri, n.now))
    nonces = set()
    for _ in range(dlm.T4100_RETRIES):
        n.advance(dlm.T4100_S, drop=lambda f: True)
        assert n.a.dl.link(B_L2).state == "dcr_sent"
    for frame in n.log:
        nonces.add(s.parse_pc5s(fast.parse_frame(frame)[1].body).nonce_1)
    assert len(n.log) == 1 + dlm.T4100_RETRIES and len(nonces) == len(n.log)
    n.advance(dlm.T4100_S)
    assert n.a.dl.link(B_L2) is None
    assert [e.data["reason"] for e in n.a.events] == ["T4100 expiry: no answer"]
    assert not n.a.timers


def test_lost_dsm_command_is_recovered_after_t4100_and_t4111():
    n = Net()
    n.a.handle(n.a.dl.connect(B_L2, BOB.uri, n.now))
    n.run(drop=lambda f: lcid_of(f) == 29)  # B's COMMAND lost
    assert n.b.dl.link(A_L2).state == "dsm_sent"
    n.advance(dlm.T4111_S)  # A sends a fresh DCR, B retransmits the (now stale) COMMAND
    assert n.a.dl.link(B_L2).established and n.b.dl.link(A_L2).established
    # the stale COMMAND (old MSB of KD-sess ID) was refused, never half-installed
    assert [r.reason for r in n.a.rejects()] == [Reason.UNKNOWN_KEY]


def test_lost_complete_is_recovered_by_t4111():
    n = Net()
    n.a.handle(n.a.dl.connect(B_L2, BOB.uri, n.now))
    dropped = []

    def drop_first_complete(f):
        if lcid_of(f) == 29 and net_src(f) == A_L2 and not dropped:
            dropped.append(f)
            return True
        return False

    n.run(drop=drop_first_complete)
    assert dropped and n.a.dl.link(B_L2).state == "wait_accept"
    n.advance(dlm.T4111_S)
    assert n.a.dl.link(B_L2).established and n.b.dl.link(A_L2).established


def net_src(frame):
    return int.from_bytes(frame[14 + 2 : 14 + 5], "big")


def test_unprotected_reject_cannot_kill_an_established_link(net):
    rej = bytes(s.DirectCommunicationReject(seq=0, cause=1))
    frame = fast.ethernet(b"\x02" * 6, fast.build_sl_sch(
        lcid=28, src_l2id=B_L2, dst_l2id=A_L2, cast=2, sdu_type=2, sdu=rej))
    net.a.receive(frame, net.now)
    assert net.a.rejects()[-1].reason == Reason.NOT_FOR_ME
    assert net.a.dl.link(B_L2).established


def test_max_links_refuses_before_crypto():
    n = Net()
    n.b.dl.max_links = 0
    _assert_silent_drop(n, _dcr_frame(n), Reason.CACHE_FULL)


# ----------------------------------------------------------------------------- Wireshark
@pytest.mark.tshark
def test_tshark_shows_the_setup_and_hands_the_i_message_to_mikey(net, tmp_path):
    import subprocess

    from support import have_tshark

    from prose_mesh.commands.wireshark import packaged_plugin
    from prose_mesh.wire import samples

    if not have_tshark():
        pytest.skip("tshark not installed (apt-get install tshark)")
    pcap = tmp_path / "setup.pcap"
    samples.write_pcap(pcap, net.log)
    names = ("pc5emu.lcid", "pc5s.msg_type", "pc5s.iei", "mikey.type", "mikey.sign.type",
             "_ws.malformed", "_ws.expert")
    proc = subprocess.run(
        ["tshark", "-X", f"lua_script:{packaged_plugin()}", "-r", str(pcap), "-T", "fields",
         "-E", "occurrence=a", "-E", "aggregator=,", *[a for n in names for a in ("-e", n)]],
        capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0 and "error" not in proc.stderr.lower(), proc.stderr
    rows = [dict(zip(names, line.split("\t"), strict=True)) for line in proc.stdout.splitlines()]
    assert [r["pc5emu.lcid"] for r in rows] == ["28", "29", "29", "30"]
    dcr = rows[0]
    assert dcr["pc5s.msg_type"] == "1" and dcr["pc5s.iei"] == "29,22"
    assert dcr["mikey.type"] == "26" and dcr["mikey.sign.type"] == "2"  # SAKKE, ECCSI
    assert rows[1]["pc5s.msg_type"] == "12"  # DSM COMMAND is integrity-only: readable
    assert not any(r["_ws.malformed"] for r in rows)
