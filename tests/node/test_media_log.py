"""prose_mesh.node.media_log: a UE's played-media record stays a list to its readers, while a
run's spool keeps all but the newest rows out of memory."""

from __future__ import annotations

from prose_mesh.node import media_log as ML


def _row(i: int) -> tuple[float, dict[str, object]]:
    return (i / 10, {"seq": i, "payload": bytes([i % 256]) * 160})


def test_without_a_spool_it_is_a_list():
    log = ML.MediaLog()
    for i in range(ML.SPILL_AFTER + 10):
        log.append(_row(i))
    assert len(log) == ML.SPILL_AFTER + 10 and log[-1] == _row(ML.SPILL_AFTER + 9)
    assert [r[1]["seq"] for r in log[5:8]] == [5, 6, 7]


def test_with_a_spool_old_rows_go_to_disk_and_read_back_in_order():
    spool = ML.MediaSpool()
    logs = [ML.MediaLog(spool), ML.MediaLog(spool)]  # two UEs share the run's file
    n = ML.SPILL_AFTER + 3 * ML.TAIL + 5
    assert not logs[0]
    for i in range(n):
        for k, log in enumerate(logs):
            log.append(_row(i + k))
    for k, log in enumerate(logs):
        assert len(log) == n and log
        assert len(log._rows) == 0 and len(log._tail) == ML.TAIL  # what stays in memory
        assert list(log) == [_row(i + k) for i in range(n)]
        assert log[-1] == _row(n - 1 + k) and log[3] == _row(3 + k)
        assert [r[1]["seq"] for r in log[n - 2:]] == [n - 2 + k, n - 1 + k]
    assert spool.size > 2 * n * 160  # the rows are on disk
    # a reader that started before more rows arrived sees the rows of when it started
    it = iter(logs[0])
    logs[0].append(_row(10**6))
    assert sum(1 for _ in it) == n
    spool.close()


def test_below_the_threshold_nothing_is_spilled():
    spool = ML.MediaSpool()
    log = ML.MediaLog(spool)
    for i in range(100):
        log.append(_row(i))
    assert spool.size == 0 and list(log) == [_row(i) for i in range(100)]
    spool.close()
