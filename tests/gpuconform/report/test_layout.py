"""report.yaml: the runbook's order and what each step needs, in one place."""

from __future__ import annotations

import re
from pathlib import Path

from gpuconform.report.layout import step_needs, steps

SUITES = Path(__file__).resolve().parents[3] / "suites"


def test_a_step_needs_only_steps_that_run_before_it():
    order = [s.name for s in steps()]
    for step in steps():
        for need in step.needs:
            assert need in order, f"{step.name} needs unknown step {need}"
            assert order.index(need) < order.index(step.name), f"{step.name} runs before {need}"


def test_every_step_marker_in_suites_names_a_step_of_report_yaml():
    order = {s.name for s in steps()}
    named = {
        m
        for f in SUITES.glob("test_*.py")
        for m in re.findall(r'mark\.step\(\s*"([a-z]+)"', f.read_text())
    }
    assert named and named <= order, named - order


def test_what_a_step_needs_is_read_from_report_yaml():
    assert step_needs("preflight") == ()
    assert step_needs("advertise") == ("preflight", "install", "readiness")
    assert step_needs("uninstall") == ("install",)
    assert step_needs("no-such-step") == ()
