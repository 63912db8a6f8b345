"""report.yaml: the runbook's order and titles (what each step needs is declared in suites/)."""

from __future__ import annotations

import re
from pathlib import Path

from gpuconform.report.layout import steps

SUITES = Path(__file__).resolve().parents[3] / "suites"


def test_the_runbook_steps_have_unique_names_and_titles():
    names = [s.name for s in steps()]
    assert names[0] == "preflight" and names[-1] == "uninstall"
    assert len(set(names)) == len(names)
    assert all(s.title for s in steps())


def test_every_step_marker_in_suites_names_a_step_of_report_yaml():
    order = {s.name for s in steps()}
    named = {
        m
        for f in SUITES.glob("test_*.py")
        for m in re.findall(r'mark\.step\(\s*"([a-z]+)"', f.read_text())
    }
    assert named and named <= order, named - order
