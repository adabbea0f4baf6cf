"""Sidelink PDCP security (36.323 §5.6/§5.7, 33.303 §6.2.3): one-to-one and one-to-many."""

import os

import pytest

from prose_mesh.crypto import pdcp_cipher
from prose_mesh.crypto.prose_keys import pek, ptk
from prose_mesh.protocol import pdcp
from prose_mesh.protocol.pdcp import (
    O2mReceiver,
    O2mSender,
    O2oContext,
    PdcpRejected,
)
from prose_mesh.protocol.reasons import Reason

KD_SESS = bytes(range(32))
PGK = bytes(range(64, 96))
KID = 0x2A17


def _pair():
    return (O2oContext(kd_sess_id=KID, kd_sess=KD_SESS, direction=0),
            O2oContext(kd_sess_id=KID, kd_sess=KD_SESS, direction=1))


@pytest.mark.parametrize(("lcid", "sender", "mode"), [
    (30, 0, "full"), (30, 1, "full"), (29, 0, "full"), (29, 1, "integrity"),
    (3, 0, "ciphered"), (3, 1, "ciphered"),
])
def test_o2o_round_trip_each_mode(lcid, sender, mode):
    ctxs = _pair()
    tx, rx = ctxs[sender], ctxs[1 - sender]
    sdu_type = 2 if lcid >= 28 else 0
    sdu = b"PC5-S or IP payload " * 3
    for sn in range(3):
        pdu = tx.protect(lcid, sdu_type, sdu)
        assert (pdu.key_id, pdu.sn) == (KID, sn)
        assert (pdu.mac_i is None) == (mode == "ciphered")
        assert (pdu.body == sdu) == (mode == "integrity")
        assert rx.unprotect(lcid, sdu_type, pdu.sn, pdu.body, pdu.mac_i) == (sdu, mode)


def test_o2o_mac_i_is_eia2_over_header_and_sdu_then_ciphered():
    """Recompute the 'full' PDU with the cipher primitives: MAC-I over hdr ‖ SDU, then EEA2."""
    tx, _ = _pair()
    sdu = b"hello"
    pdu = tx.protect(30, 2, sdu)
    pek_ = tx.pek
    count = (KID << 16) | 0
    header = bytes([2 << 5]) + KID.to_bytes(2, "big") + b"\x00\x00"
    mac = pdcp_cipher.eia2(tx.pik, count, 30, 0, header + sdu)
    sealed = pdcp_cipher.eea2(pek_, count, 30, 0, sdu + mac)
    assert pdu.body + pdu.mac_i.to_bytes(4, "big") == sealed


def test_o2o_every_bit_flip_fails_and_changes_nothing():
    tx, rx = _pair()
    pdu = tx.protect(30, 2, b"keepalive!")
    wire = pdu.body + pdu.mac_i.to_bytes(4, "big")
    state = rx.snapshot()
    for bit in range(len(wire) * 8):
        f = bytearray(wire)
        f[bit // 8] ^= 0x80 >> (bit % 8)
        with pytest.raises(PdcpRejected) as err:
            rx.unprotect(30, 2, pdu.sn, bytes(f[:-4]), int.from_bytes(f[-4:], "big"))
        assert err.value.reason == Reason.BAD_MAC_I
        assert rx.snapshot() == state
    for sn in (1, 2, 0x8000):  # a different SN (COUNT) fails too
        with pytest.raises(PdcpRejected):
            rx.unprotect(30, 2, sn, pdu.body, pdu.mac_i)
    with pytest.raises(PdcpRejected):  # SDU type is in the MAC-I header
        rx.unprotect(30, 0, pdu.sn, pdu.body, pdu.mac_i)
    assert rx.unprotect(30, 2, pdu.sn, pdu.body, pdu.mac_i)[0] == b"keepalive!"


def test_o2o_reflected_pdu_fails_direction():
    a, _b = _pair()
    pdu = a.protect(30, 2, b"to B")
    with pytest.raises(PdcpRejected) as err:  # reflected back to A: DIRECTION differs
        a.unprotect(30, 2, pdu.sn, pdu.body, pdu.mac_i)
    assert err.value.reason == Reason.BAD_MAC_I


def test_o2o_replay_window_precheck_then_update():
    tx, rx = _pair()
    pdus = [tx.protect(30, 2, bytes([i])) for i in range(200)]
    rx.unprotect(30, 2, pdus[150].sn, pdus[150].body, pdus[150].mac_i)
    rx.unprotect(30, 2, pdus[149].sn, pdus[149].body, pdus[149].mac_i)  # reordered: fine
    for p, reason in ((pdus[150], Reason.REPLAY_FAIL), (pdus[149], Reason.REPLAY_FAIL),
                      (pdus[2], Reason.REPLAY_OLD)):
        state = rx.snapshot()
        with pytest.raises(PdcpRejected) as err:
            rx.unprotect(30, 2, p.sn, p.body, p.mac_i)
        assert err.value.reason == reason and rx.snapshot() == state
    # a forged PDU far ahead does not move the window (MAC-I fails first)
    state = rx.snapshot()
    with pytest.raises(PdcpRejected):
        rx.unprotect(30, 2, 0xFFFF, pdus[199].body, pdus[199].mac_i)
    assert rx.snapshot() == state


def test_o2o_sn_wrap_refuses_and_asks_for_rekey():
    tx, _ = _pair()
    tx.protect(30, 2, b"x")
    assert not tx.rekey_due
    tx._tx[30].tx_sn = pdcp.REKEY_SN - 1
    tx.protect(30, 2, b"x")
    assert tx.rekey_due
    tx._tx[30].tx_sn = 0xFFFF
    assert tx.protect(30, 2, b"last").sn == 0xFFFF
    with pytest.raises(PdcpRejected) as err:
        tx.protect(30, 2, b"wrapped")
    assert err.value.reason == Reason.KEY_EXHAUSTED


def test_o2o_mac_i_presence_must_match_bearer():
    tx, rx = _pair()
    pdu = tx.protect(30, 2, b"x")
    with pytest.raises(PdcpRejected) as err:
        rx.unprotect(30, 2, pdu.sn, pdu.body, None)
    assert err.value.reason == Reason.MALFORMED
    data = tx.protect(3, 0, b"ip")
    with pytest.raises(PdcpRejected):
        rx.unprotect(3, 0, data.sn, data.body, 0)


# ============================================================================ one-to-many
def test_o2m_round_trip_and_count_layout():
    tx = O2mSender(src_l2id=0x0A0B0C, group_l2id=0x123456, pgk=PGK, pgk_id=0x4321)
    rx = O2mReceiver(group_l2id=0x123456, pgks={0x4321 & 0x1F: PGK})
    sdu = os.urandom(100)
    pdu = tx.protect(1, sdu)
    assert (pdu.pgk_index, pdu.ptk_id, pdu.sn) == (0x01, 1, 0)
    key = pek(ptk(PGK, sender_l2id=0x0A0B0C, ptk_id=1, group_l2id=0x123456), 2)
    assert pdu.body == pdcp_cipher.eea2(key, (1 << 16) | 0, 1, 0, sdu)
    assert rx.unprotect(0x0A0B0C, 1, pdu.pgk_index, pdu.ptk_id, pdu.sn, pdu.body) == sdu


def test_o2m_spoofed_source_decrypts_to_garbage():
    tx = O2mSender(src_l2id=0x0A0B0C, group_l2id=0x123456, pgk=PGK, pgk_id=3)
    rx = O2mReceiver(group_l2id=0x123456, pgks={3: PGK})
    sdu = b"RTP media payload" * 4
    pdu = tx.protect(1, sdu)
    spoofed = rx.unprotect(0x0D0E0F, 1, pdu.pgk_index, pdu.ptk_id, pdu.sn, pdu.body)
    assert spoofed != sdu and len(spoofed) == len(sdu)
    assert rx.unprotect(0x0A0B0C, 1, pdu.pgk_index, pdu.ptk_id, pdu.sn, pdu.body) == sdu


def test_o2m_sn_wrap_moves_to_next_ptk_id_and_stops_at_ffff():
    tx = O2mSender(src_l2id=1, group_l2id=2, pgk=PGK, pgk_id=3, ptk_id=5, sn=0xFFFF)
    rx = O2mReceiver(group_l2id=2, pgks={3: PGK})
    last = tx.protect(1, b"a")
    wrapped = tx.protect(1, b"b")
    assert (last.ptk_id, last.sn, wrapped.ptk_id, wrapped.sn) == (5, 0xFFFF, 6, 0)
    assert rx.unprotect(1, 1, 3, 6, 0, wrapped.body) == b"b"
    end = O2mSender(src_l2id=1, group_l2id=2, pgk=PGK, pgk_id=3, ptk_id=0xFFFF, sn=0x10000)
    with pytest.raises(PdcpRejected) as err:
        end.protect(1, b"c")
    assert err.value.reason == Reason.KEY_EXHAUSTED


def test_o2m_unciphered_bearer_and_policy():
    tx = O2mSender(src_l2id=1, group_l2id=2)
    pdu = tx.protect(1, b"clear")
    assert pdu == pdcp.O2mPdu(0, 0, 0, b"clear")
    assert O2mReceiver(group_l2id=2, allow_unciphered=True).unprotect(1, 1, 0, 0, 0,
                                                                       b"clear") == b"clear"
    with pytest.raises(PdcpRejected) as err:
        O2mReceiver(group_l2id=2, pgks={3: PGK}).unprotect(1, 1, 0, 0, 0, b"clear")
    assert err.value.reason == Reason.POLICY


def test_o2m_receiver_rejects_unknown_pgk_and_ptk_id_zero():
    rx = O2mReceiver(group_l2id=2, pgks={3: PGK})
    with pytest.raises(PdcpRejected) as err:
        rx.unprotect(1, 1, 4, 1, 0, b"x")
    assert err.value.reason == Reason.UNKNOWN_KEY
    with pytest.raises(PdcpRejected) as err:
        rx.unprotect(1, 1, 3, 0, 0, b"x")
    assert err.value.reason == Reason.MALFORMED


def test_o2m_ptk_cache_is_bounded():
    rx = O2mReceiver(group_l2id=2, pgks={3: PGK}, cache_size=8)
    for src in range(1, 50):
        rx.unprotect(src, 1, 3, 1, 0, b"x")
    assert len(rx._cache) == 8 and rx.derived == 49
    rx.unprotect(49, 1, 3, 1, 1, b"y")  # a hit: no new derivation
    assert rx.derived == 49
