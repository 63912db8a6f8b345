"""Run summaries (gpuconform/summary.py): the previous run of a profile, and run-to-run
comparison."""

from __future__ import annotations

from gpuconform.summary import compare, previous_run, run_dirs
from tests.gpuconform.report.fakes import write_run


def test_previous_run_matches_the_profile_exactly(tmp_path):
    reports = tmp_path / "reports"
    older = write_run(reports, "sim", "20261128T010000Z", [])
    write_run(reports, "sim-faulty", "20261129T010000Z", [])
    current = reports / "sim-20261130T010000Z"
    current.mkdir()
    assert previous_run(reports, "sim", current) == older
    assert [p.name for p in run_dirs(reports)] == [
        "sim-20261128T010000Z",
        "sim-faulty-20261129T010000Z",
    ]


def summary(**outcomes):
    return {
        "run_id": "r",
        "started": "t",
        "tests": [{"name": n, "outcome": o, "duration_s": d} for n, (o, d) in outcomes.items()],
    }


def test_compare_reports_new_failures_fixes_and_much_slower_steps():
    baseline = summary(a=("passed", 1.0), b=("failed", 1.0), c=("passed", 10.0), d=("passed", 1.0))
    current = summary(a=("failed", 1.0), b=("passed", 1.0), c=("passed", 30.0), d=("passed", 2.0))
    result = compare(current, baseline)
    assert result.new_failures == ["a"] and result.fixed == ["b"]
    assert result.slower == ["c 10.0s -> 30.0s"]  # d doubled but by 1 s only: no news
    assert result.lines()[0] == "compared with r (t):"


def test_compare_without_changes_says_so():
    same = summary(a=("passed", 1.0))
    assert compare(same, same).lines() == ["no change since r (t)"]
