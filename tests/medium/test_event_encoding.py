"""The event log's fast "deliver" template writes exactly what the json module would."""

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from prose_mesh.medium.session import encode_event

names = st.text(min_size=1, max_size=12)
reference = json.JSONEncoder(separators=(",", ":"))


@settings(max_examples=2000, deadline=None)
@given(
    t=st.floats(min_value=0, max_value=1e6, allow_nan=False),
    run=names, node=names, src=names, tx=st.integers(0, 2**40),
    sha=st.text("0123456789abcdef", min_size=16, max_size=16),
    flags=st.lists(st.sampled_from(["dup", "corrupt", "reorder"]), max_size=3),
    attack=st.none() | names,
)
def test_deliver_template_matches_json(t, run, node, src, tx, sha, flags, attack):
    e = {"t": t, "run": run, "node": node, "event": "deliver", "tx": tx, "frame_sha256": sha,
         "src": src, "dst": node, "flags": flags, "attack": attack}
    line = encode_event(e)
    assert line == reference.encode(e)
    assert json.loads(line) == e


def test_other_events_use_json():
    e = {"t": 1.5, "event": "drop", "reason": "loss", "src": "a\u00e9"}
    assert encode_event(e) == reference.encode(e)
