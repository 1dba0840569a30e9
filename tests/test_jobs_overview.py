"""`runs list` of sliced jobs: the shards of a job listed together, and the job's overview (shards
seen and missing, the newest run of each shard summed). Pure functions over Run values."""

from __future__ import annotations

from portfleet.jobs import grouped, overview
from portfleet.state import Run


def run(run_id: str, kind: str, started: str, job: str | None = None, shard: str | None = None,
        status: str = "completed", **summary: int) -> Run:
    return Run(run_id, kind, False, status, started, None, None, None, None, None, dict(summary) or None, None,
               job=job, shard=shard)


def test_the_runs_of_a_job_stand_together_where_its_newest_run_stands_by_shard():
    runs = [  # newest first, as the store lists them: the shards interleave with another run
        run("r6", "audit", "t6"),
        run("r5", "apply", "t5", "J", "1/3"),
        run("r4", "audit", "t4"),
        run("r3", "apply", "t3", "J", "3/3"),
        run("r2", "apply", "t2", "J", "2/3"),
        run("r1", "audit", "t1", "K", "1/1"),
    ]
    assert [r.id for r in grouped(runs)] == ["r6", "r5", "r2", "r3", "r4", "r1"]


def test_the_overview_names_missing_shards_and_sums_the_newest_run_of_each():
    runs = [
        run("a1", "apply", "t1", "J", "1/4", status="abandoned", hosts=3, compliant=1),  # killed, then retried
        run("a2", "apply", "t2", "J", "2/4", hosts=3, pending_reboot=3),
        run("a3", "apply", "t3", "J", "1/4", hosts=3, pending_reboot=2, compliant=1),
        run("b1", "audit", "t4", "J", "4/4", status="interrupted", hosts=2, drift=2),
    ]
    apply, audit = overview(runs)
    assert (apply.kind, apply.runs, apply.shard_count) == ("apply", 3, 4)
    assert apply.shards == ["1/4", "2/4"] and apply.missing == ["3/4", "4/4"]
    assert apply.statuses == {"completed": 2}  # the abandoned try of 1/4 was superseded by its retry
    assert apply.summary == {"hosts": 6, "pending_reboot": 5, "compliant": 1}
    assert (audit.kind, audit.missing, audit.statuses) == ("audit", ["1/4", "2/4", "3/4"], {"interrupted": 1})


def test_labels_that_disagree_on_n_name_no_missing_shard():
    (item,) = overview([run("a", "audit", "t1", "J", "1/2"), run("b", "audit", "t2", "J", "2/3"),
                        run("c", "audit", "t3", "J", None)])
    assert item.shard_count is None and item.missing == [] and item.shards == ["1/2", "2/3"]
    assert item.to_json()["runs"] == 3
