"""The E.6 key-parameters extension codec and its AES-GCM protection (key_params.py)."""

from __future__ import annotations

import contextlib
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prose_mesh.errors import ParseError
from prose_mesh.protocol.key_params import (
    KeyParameters,
    KeyParamsTagError,
    field_to_time,
    parse_key_parameters,
    protect,
    quantize,
    time_to_field,
    unprotect,
)

NOW = 1_780_000_000.0
GMK = bytes(range(16))


def sample(**kw) -> KeyParameters:
    base = dict(activation=quantize(NOW), expiry=quantize(NOW + 600),
                group_id="sip:adhoc-1@example.org", kind="adhoc",
                members=("sip:a@example.org", "sip:b@example.org"), revoking=True,
                l2_group_id=0xABCDEF, constituents=("sip:fire@example.org",), text="Adhoc 1")
    base.update(kw)
    return KeyParameters(**base)


def test_time_field_is_ntp_seconds_and_eight_fraction_bits():
    # 2026-05-28T... Unix NOW → NTP seconds NOW + 2208988800, times 256
    assert time_to_field(NOW) == (int(NOW) + 2_208_988_800) * 256
    assert time_to_field(NOW + 0.5) - time_to_field(NOW) == 128
    assert field_to_time(time_to_field(NOW + 0.25)) == NOW + 0.25
    assert quantize(NOW + 0.001) == NOW


def test_layout_follows_table_e61():
    ie = sample(kind="standard", members=(), constituents=(), text="", revoking=False,
                l2_group_id=0).encode()
    assert ie[0] == 0x06 and int.from_bytes(ie[1:3], "big") == len(ie) - 3
    c = ie[3:]
    assert c[0] == 0  # key type GMK
    assert c[1:5] == b"\x00\x00\x00\x01"  # status: not revoked
    assert int.from_bytes(c[5:10], "big") == time_to_field(NOW)
    assert int.from_bytes(c[10:15], "big") == time_to_field(NOW + 600)
    assert c[15:17] == b"\x00\x00"  # empty text (LV-E)
    gid = b"sip:adhoc-1@example.org"
    assert c[17:19] == (4 + len(gid)).to_bytes(2, "big") and c[19] == 1
    assert c[20] == 0x01 and c[21:23] == len(gid).to_bytes(2, "big") and c[23:23 + len(gid)] == gid


def test_roundtrip_through_protection():
    p = sample()
    data = protect(p, gmk=GMK, dppk_id=0x0123_4567)
    assert data[5] == 1 and data[6:10] == bytes.fromhex("01234567")
    assert unprotect(data, gmk=GMK, dppk_id=0x0123_4567) == p
    assert protect(p, gmk=GMK, dppk_id=1)[10:22] != protect(p, gmk=GMK, dppk_id=1)[10:22]


def test_wrong_key_wrong_dppk_and_tampering():
    data = protect(sample(), gmk=GMK, dppk_id=7)
    with pytest.raises(KeyParamsTagError):
        unprotect(data, gmk=os.urandom(16), dppk_id=7)
    with pytest.raises(ParseError):
        unprotect(data, gmk=GMK, dppk_id=8)
    for i in range(len(data)):
        if 6 <= i < 10:
            continue  # the DPPK-ID is checked against the CSB ID first
        bad = bytearray(data)
        bad[i] ^= 1
        with pytest.raises((KeyParamsTagError, ParseError)):
            unprotect(bytes(bad), gmk=GMK, dppk_id=7)


def test_every_prefix_and_trailing_octet_rejected():
    ie = sample().encode()
    assert parse_key_parameters(ie) == sample()
    for n in range(len(ie)):
        with pytest.raises(ParseError):
            parse_key_parameters(ie[:n])
    with pytest.raises(ParseError):
        parse_key_parameters(ie + b"\x00")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_parser_raises_only_parse_error(data):
    with contextlib.suppress(ParseError):
        parse_key_parameters(data)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=30), max_size=8, unique=True),
       st.sampled_from(["standard", "adhoc", "temporary"]), st.booleans())
def test_roundtrip_property(members, kind, revoking):
    p = sample(members=tuple(members), kind=kind, revoking=revoking)
    assert parse_key_parameters(p.encode()) == p
