"""The run's checks grouped by runbook step, in runbook order, with durations and reasons."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gpuconform.report.layout import StepInfo, steps

SKIP_PREFIX = "Skipped: "


@dataclass
class StepResult:
    name: str
    title: str
    outcome: str  # passed | failed | skipped | not run
    duration_s: float
    checks: list[dict[str, Any]] = field(default_factory=list)
    reason: str | None = None  # why a skipped (or unselected) step did not run, as a sentence

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "outcome": self.outcome,
            "duration_s": self.duration_s,
            **({"reason": self.reason} if self.reason else {}),
        }


def sentence(text: str) -> str:
    """A skip reason as pytest gives it (`Skipped: needs step ...`), as a sentence."""
    text = text.strip()
    if text.startswith(SKIP_PREFIX):
        text = text[len(SKIP_PREFIX) :].strip()
    if not text:
        return "No reason was given."
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?" else text + "."


def step_outcome(checks: list[dict[str, Any]]) -> str:
    outcomes = {c["outcome"] for c in checks}
    if not checks:
        return "not run"
    if "failed" in outcomes:
        return "failed"
    if outcomes == {"skipped"}:
        return "skipped"
    return "passed"


def group_by_step(tests: list[dict[str, Any]]) -> list[StepResult]:
    """Checks (summary.json's `tests`) grouped by step, in runbook order.

    Every runbook step gets a group, `not run` when no check of it was selected; checks
    without a known step come last, under their own step name (or `other`).
    """
    known = steps()
    grouped: dict[str, list[dict[str, Any]]] = {s.name: [] for s in known}
    for test in tests:
        grouped.setdefault(test.get("step") or "other", []).append(test)
    extra = [StepInfo(name, name) for name in grouped if name not in {s.name for s in known}]
    results = []
    for info in [*known, *extra]:
        checks = grouped[info.name]
        outcome = step_outcome(checks)
        reason = None
        if outcome == "skipped":
            reason = sentence(checks[0].get("reason") or "")
        elif outcome == "not run":
            reason = "No check of this step was selected in this run."
        duration = round(sum(c.get("duration_s", 0.0) for c in checks), 3)
        results.append(StepResult(info.name, info.title, outcome, duration, checks, reason))
    return results
