"""The trend over saved runs (gpuconform/report/trend.py): verdicts, step durations, new
failures."""

from __future__ import annotations

from gpuconform.report.trend import format_history, load_trend
from tests.gpuconform.report.fakes import write_run


def test_trend_shows_verdicts_step_durations_and_new_failures(tmp_path):
    reports = tmp_path / "reports"
    write_run(reports, "sim", "20261128T010000Z", [])
    write_run(reports, "sim", "20261129T010000Z", ["test_ready"])
    write_run(reports, "sim", "20261130T010000Z", ["test_ready"])
    write_run(reports, "sim-faulty", "20261130T020000Z", ["test_nodes"])  # another profile
    (reports / "sim-20261130T030000Z").mkdir()  # no summary (a run that was killed)
    rows = load_trend(reports, "sim")
    assert [r.run_id for r in rows] == ["20261128T010000Z", "20261129T010000Z", "20261130T010000Z"]
    assert [r.verdict for r in rows] == ["CONFORMANT", "NOT CONFORMANT", "NOT CONFORMANT"]
    assert [r.new_failures for r in rows] == [[], ["test_ready"], []]
    assert rows[0].step_durations == {"preflight": 2.0, "readiness": 2.0}
    assert rows[0].duration_s == 4.0
    assert [r.run_id for r in load_trend(reports, "sim", limit=2)] == [
        "20261129T010000Z",
        "20261130T010000Z",
    ]
    everything = load_trend(reports, None)
    assert {r.profile for r in everything} == {"sim", "sim-faulty"}
    text = format_history(rows)
    lines = text.splitlines()
    assert lines[0].split() == [
        "date",
        "profile",
        "verdict",
        "total",
        "preflight",
        "readiness",
        "new",
        "failures",
    ]
    assert "NOT CONFORMANT" in lines[2] and lines[2].endswith("test_ready")


def test_a_recorded_verdict_wins_over_the_exit_status(tmp_path):
    reports = tmp_path / "reports"
    write_run(reports, "sim", "20261128T010000Z", [], verdict={"verdict": "NOT CONFORMANT"})
    assert load_trend(reports, "sim")[0].verdict == "NOT CONFORMANT"
