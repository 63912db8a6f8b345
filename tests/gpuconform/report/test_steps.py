"""Checks grouped into the runbook's steps (gpuconform/report/steps.py), in runbook order."""

from __future__ import annotations

from gpuconform.report.layout import steps
from gpuconform.report.steps import group_by_step, sentence
from tests.gpuconform.report.fakes import check


def test_steps_come_in_runbook_order_with_durations_and_reasons():
    tests = [
        check("test_uninstall", "uninstall", duration=2.0),
        check("test_ready", "readiness", "failed", 30.0, reason="not ready"),
        check("test_preflight_a", "preflight", duration=0.25),
        check("test_preflight_b", "preflight", duration=0.5),
        check(
            "test_workload",
            "workload",
            "skipped",
            0.0,
            reason="Needs step 'readiness', which failed: not ready.",
        ),
        check("test_custom", "custom-step"),
    ]
    grouped = group_by_step(tests)
    names = [s.name for s in grouped]
    assert names == [s.name for s in steps()] + ["custom-step"]
    assert names[:11] == [
        "preflight",
        "install",
        "readiness",
        "dra",
        "advertise",
        "workload",
        "scheduling",
        "health",
        "metrics",
        "upgrade",
        "uninstall",
    ]
    by_name = {s.name: s for s in grouped}
    assert by_name["preflight"].outcome == "passed"
    assert by_name["preflight"].duration_s == 0.75
    assert [c["name"] for c in by_name["preflight"].checks] == [
        "test_preflight_a",
        "test_preflight_b",
    ]
    assert by_name["readiness"].outcome == "failed"
    assert by_name["workload"].outcome == "skipped"
    assert by_name["workload"].reason == "Needs step 'readiness', which failed: not ready."
    assert by_name["install"].outcome == "not run"
    assert by_name["install"].reason == "No check of this step was selected in this run."


def test_a_step_with_a_passed_and_a_skipped_check_passed():
    grouped = group_by_step(
        [check("a", "scheduling"), check("b", "scheduling", "skipped", reason="kind.")]
    )
    assert {s.name: s.outcome for s in grouped}["scheduling"] == "passed"


def test_skip_reasons_become_sentences():
    assert sentence("Skipped: no --upgrade-from given: nothing to upgrade") == (
        "No --upgrade-from given: nothing to upgrade."
    )
    assert sentence("mode is `existing`.") == "Mode is `existing`."
    assert sentence("") == "No reason was given."
