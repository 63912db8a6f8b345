"""The trend of a profile's runs, from the summary.json files in the reports directory.

Each run: date, verdict, duration per step, and the checks that failed in it but not in
the run before (new failures). Shown in the report with --nightly/--compare and by
`gpuconform history`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gpuconform.report.layout import steps, trend_runs
from gpuconform.report.steps import group_by_step
from gpuconform.report.verdict import CONFORMANT, NOT_CONFORMANT
from gpuconform.summary import compare, load_summary, run_dirs


@dataclass
class TrendRow:
    profile: str
    run_id: str
    date: str
    verdict: str
    duration_s: float
    step_durations: dict[str, float] = field(default_factory=dict)
    new_failures: list[str] = field(default_factory=list)


def verdict_of(summary: dict[str, Any]) -> str:
    """The run's verdict; summaries written before verdicts existed: by exit status."""
    recorded = (summary.get("verdict") or {}).get("verdict")
    if recorded:
        return recorded
    return CONFORMANT if summary.get("exit_status") == 0 else NOT_CONFORMANT


def step_durations(summary: dict[str, Any]) -> dict[str, float]:
    recorded = summary.get("steps")
    if recorded is None:  # an older summary: its tests may still name their step
        tests = summary.get("tests", [])
        recorded = [s.as_dict() for s in group_by_step(tests)] if tests else []
    return {s["name"]: s["duration_s"] for s in recorded if s["outcome"] != "not run"}


def trend(summaries: list[dict[str, Any]]) -> list[TrendRow]:
    """Rows for runs given oldest first; each compared with the run before it."""
    rows = []
    for n, summary in enumerate(summaries):
        new = compare(summary, summaries[n - 1]).new_failures if n else []
        durations = step_durations(summary)
        total = sum(t.get("duration_s", 0.0) for t in summary.get("tests", []))
        rows.append(
            TrendRow(
                profile=summary.get("profile", "?"),
                run_id=summary.get("run_id", "?"),
                date=summary.get("finished") or summary.get("started") or "?",
                verdict=verdict_of(summary),
                duration_s=round(total, 1),
                step_durations=durations,
                new_failures=new,
            )
        )
    return rows


def load_trend(reports: Path, profile: str | None, limit: int | None = None) -> list[TrendRow]:
    """The last `limit` runs (default: report.yaml's trend_runs) of a profile, oldest first.

    With no profile, every profile's runs, each compared only with its own previous run.
    """
    limit = limit or trend_runs()
    dirs = run_dirs(reports, profile)
    by_profile: dict[str, list[dict[str, Any]]] = {}
    # One earlier run than shown, so the oldest row shown has its new failures too.
    for path in dirs[-(limit + 1) :] if profile else dirs:
        try:
            summary = load_summary(path)
        except ValueError:
            continue  # a half-written or foreign file must not hide the rest
        by_profile.setdefault(summary.get("profile", "?"), []).append(summary)
    rows = [row for group in by_profile.values() for row in trend(group)]
    rows.sort(key=lambda r: r.run_id)
    return rows[-limit:]


def format_history(rows: list[TrendRow]) -> str:
    """A plain-text table for the terminal."""
    names = [s.name for s in steps()]
    shown = [n for n in names if any(n in r.step_durations for r in rows)]
    header = ["date", "profile", "verdict", "total", *shown, "new failures"]
    table = [header]
    for r in rows:
        table.append(
            [
                r.date,
                r.profile,
                r.verdict,
                f"{r.duration_s:.1f}s",
                *(f"{r.step_durations[n]:.1f}s" if n in r.step_durations else "-" for n in shown),
                ", ".join(r.new_failures) or "-",
            ]
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(header) - 1)]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row[:-1], widths, strict=True)) + "  " + row[-1]
        for row in table
    ]
    return "\n".join(lines) + "\n"
