"""The value syntax: durations, percentages, tc rates and netem impairment strings.

Expected values follow the documented meaning of each unit (tc-netem(8), tc(8) rate units) and
are written out by hand, not computed by the code under test.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prose_mesh.scenario import model as M
from prose_mesh.scenario import schema as S


@pytest.mark.parametrize(
    ("text", "seconds"),
    [(3, 3.0), (0.25, 0.25), ("500ms", 0.5), ("250us", 0.00025), ("1.5s", 1.5), ("10m", 600.0),
     ("1h", 3600.0), ("2d", 172800.0), ("-6s", -6.0)],
)
def test_duration(text, seconds):
    assert S.parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["10 min", "10", "1.s", "ms", "5sec", "1e3s", ""])
def test_duration_syntax_rejected_by_schema(text):
    assert not re.match(S.DURATION_RE, text)


@pytest.mark.parametrize(("text", "p"), [("10%", 0.10), ("100%", 1.0), ("0.5%", 0.005),
                                         ("0%", 0.0)])
def test_percent(text, p):
    assert S.parse_percent(text) == pytest.approx(p)


@pytest.mark.parametrize("text", ["101%", "100.5%", "-1%", "10", "10 %", "1000%"])
def test_percent_out_of_range_rejected_by_schema(text):
    assert not re.match(S.PERCENT_RE, text)


@pytest.mark.parametrize(
    ("text", "bps"),
    [("1mbit", 1_000_000), ("250kbit", 250_000), ("100kbps", 800_000), ("64bit", 64),
     ("1gbit", 10**9), ("2bps", 16)],
)
def test_rate(text, bps):
    assert S.parse_rate(text) == bps


def test_netem_delay():
    assert M.Delay.parse("20ms 5ms 25% distribution normal") == M.Delay(0.02, 0.005, 0.25,
                                                                         "normal")
    assert M.Delay.parse("20ms") == M.Delay(0.02)
    assert M.Delay.parse(0.1) == M.Delay(0.1)


def test_netem_loss():
    assert M.Loss.parse("5%") == M.Loss(0.05)
    assert M.Loss.parse("random 5% 25%") == M.Loss(0.05, correlation=0.25)
    ge = M.Loss.parse("gemodel 1% 10% 70% 0.1%")
    assert (ge.model, ge.p, ge.r, ge.one_minus_h, ge.one_minus_k) == (
        "gemodel", 0.01, 0.10, 0.70, pytest.approx(0.001))
    simple = M.Loss.parse("gemodel 1% 10%")  # simple Gilbert: all lost in bad, none in good
    assert (simple.one_minus_h, simple.one_minus_k) == (1.0, 0.0)


def test_netem_reorder_and_chance():
    assert M.Reorder.parse("25% 50% gap 5") == M.Reorder(0.25, 0.5, 5)
    assert M.Reorder.parse("10%") == M.Reorder(0.10)
    assert M.Chance.parse("1% 30%") == M.Chance(0.01, 0.30)


@pytest.mark.parametrize(
    ("regex", "good", "bad"),
    [
        (S.DELAY_RE, ["20ms", "20ms 5ms", "20ms 5ms 25%", "1s 1ms distribution pareto"],
         ["20", "20ms 5", "20ms distribution gauss", "20ms 5ms 25% 3%"]),
        (S.LOSS_RE, ["1%", "random 1%", "random 1% 2%", "gemodel 1% 2%", "gemodel 1% 2% 3% 4%"],
         ["random", "gemodel 1%", "state 1%", "1% 2% 3%", "gemodel 1% 2% 3% 4% 5%"]),
        (S.REORDER_RE, ["25%", "25% 50%", "25% 50% gap 5", "25% gap 1"],
         ["25% gap 0", "gap 5", "25% 50% gap"]),
        (S.FIGURE_RE, ["<= 300ms", ">=99%", "== 0", "< 1.5s", "> 2"],
         ["<=", "=< 3", "300ms", "<= -1", "~ 3"]),
    ],
)
def test_netem_grammar(regex, good, bad):
    for text in good:
        assert re.match(regex, text), text
    for text in bad:
        assert not re.match(regex, text), text


def test_figure():
    assert S.parse_figure("<= 300ms") == ("<=", pytest.approx(0.3), "s")
    assert S.parse_figure(">= 99%") == (">=", pytest.approx(0.99), "%")
    f = M.Figure.parse("call.setup_time.p95", "<= 300ms")
    assert f.holds(0.299) and f.holds(0.3) and not f.holds(0.301)


@given(st.from_regex(S.DURATION_RE, fullmatch=True))
def test_every_schema_duration_parses(text):
    assert S.parse_duration(text) >= 0


@given(st.from_regex(S.PERCENT_RE, fullmatch=True))
def test_every_schema_percent_parses_into_unit_interval(text):
    assert 0.0 <= S.parse_percent(text) <= 1.0


@settings(max_examples=100, deadline=None)
@given(st.from_regex(S.LOSS_RE, fullmatch=True))
def test_every_schema_loss_parses(text):
    loss = M.Loss.parse(text)
    assert 0.0 <= loss.p <= 1.0
    again = M.Loss.parse(loss.to_yaml())
    assert again.model == loss.model
    for field in ("p", "correlation", "r", "one_minus_h", "one_minus_k"):
        assert getattr(again, field) == pytest.approx(getattr(loss, field), rel=1e-9, abs=1e-10)


@settings(max_examples=100, deadline=None)
@given(st.from_regex(S.DELAY_RE, fullmatch=True))
def test_every_schema_delay_round_trips(text):
    delay = M.Delay.parse(text)
    again = M.Delay.parse(delay.to_yaml())
    assert again.mean == pytest.approx(delay.mean, rel=1e-9, abs=1e-9)
    assert again.jitter == pytest.approx(delay.jitter, rel=1e-9, abs=1e-9)
    assert again.distribution == delay.distribution


def test_template_substitutes_only_its_fields():
    assert M.expand_template("sip:{name}@x.org", "m7", 7) == "sip:m7@x.org"
    assert M.expand_template("3534567890{index:5}", "u", 42) == "353456789000042"
    assert M.expand_template("{index}", "u", 42) == "42"
    hostile = "{name.__class__}"
    assert M.expand_template(hostile, "u", 1) == hostile
    assert not re.match(S.TEMPLATE_RE, hostile)
