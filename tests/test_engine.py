"""Fan-out and rolling batches: bounded concurrency, Ansible-style batches and failure threshold."""

import threading

from portfleet.engine import batch_size, fan_out, rollout, split_batches


def test_batch_sizes_follow_ansible_serial():
    assert batch_size("25%", 20) == 5
    assert batch_size("10%", 5) == 1  # never zero
    assert batch_size(3, 20) == 3
    assert batch_size(None, 7) == 7
    assert [len(b) for b in split_batches(list(range(10)), "30%")] == [3, 3, 3, 1]


def test_fan_out_never_exceeds_forks():
    lock = threading.Lock()
    active = peak = 0
    release = threading.Event()
    started = threading.Semaphore(0)

    def work(i: int) -> int:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        started.release()
        release.wait(5)
        with lock:
            active -= 1
        return i * 2

    def opener():
        for _ in range(3):
            started.acquire()
        release.set()

    threading.Thread(target=opener).start()
    results = fan_out(list(range(12)), work, forks=3)
    assert sorted(r for _, r in results) == [i * 2 for i in range(12)]
    assert peak == 3


def test_rollout_stops_when_a_batch_exceeds_the_threshold():
    def work(i: int) -> str:
        return "failed" if i in (2, 3) else "ok"

    outcome = rollout(list(range(8)), work, failed=lambda r: r == "failed", batch=4, max_fail_percentage=25)
    assert [i for i, _ in sorted(outcome.results)] == [0, 1, 2, 3]
    assert outcome.skipped == [4, 5, 6, 7]
    assert "2 of 4 hosts failed (50% > max_fail_percentage 25%)" in outcome.stopped_reason


def test_rollout_at_threshold_goes_on():
    outcome = rollout(list(range(8)), lambda i: "failed" if i == 0 else "ok", failed=lambda r: r == "failed", batch=4, max_fail_percentage=25)
    assert outcome.stopped_reason is None and len(outcome.results) == 8
