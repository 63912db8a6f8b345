"""summary.json of a run, and what changed between two runs (nightly and pre-upgrade use)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SUMMARY_FILE = "summary.json"
# A step counts as "much slower" when it took this many times as long, and at least this
# many seconds more (sub-second jitter on a fast step is no news).
SLOWER_FACTOR, SLOWER_MIN_S = 1.5, 5.0


def write_summary(path: Path, data: dict[str, Any]) -> Path:
    target = path / SUMMARY_FILE
    target.write_text(json.dumps(data, indent=2, sort_keys=True, default=str))
    return target


def load_summary(path: Path) -> dict[str, Any]:
    """A summary.json, or the one in a run directory."""
    file = path / SUMMARY_FILE if path.is_dir() else path
    try:
        return json.loads(file.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"cannot read run summary {file}: {err}") from None


RUN_DIR = re.compile(r"^(?P<profile>.+)-(?P<stamp>\d{8}T\d{6}Z)$")


def run_dirs(reports: Path, profile: str | None = None) -> list[Path]:
    """Run directories with a summary, oldest first; only `profile`'s when given.

    The profile is matched exactly (`sim` does not take `sim-faulty`'s runs).
    """
    found = []
    for path in reports.glob("*-*"):
        m = RUN_DIR.match(path.name)
        if m and (profile is None or m["profile"] == profile) and (path / SUMMARY_FILE).exists():
            found.append((m["stamp"], path.name, path))
    return [path for _, _, path in sorted(found)]


def previous_run(reports: Path, profile: str, current: Path) -> Path | None:
    """The newest earlier run directory of the same profile that has a summary."""
    earlier = [p for p in run_dirs(reports, profile) if p != current and p.name < current.name]
    return earlier[-1] if earlier else None


@dataclass
class Comparison:
    baseline: str
    new_failures: list[str] = field(default_factory=list)
    fixed: list[str] = field(default_factory=list)
    slower: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.new_failures or self.fixed or self.slower)

    def lines(self) -> list[str]:
        if not self.changed:
            return [f"no change since {self.baseline}"]
        out = [f"compared with {self.baseline}:"]
        out += [f"  NEW FAILURE: {name}" for name in self.new_failures]
        out += [f"  fixed: {name}" for name in self.fixed]
        out += [f"  much slower: {line}" for line in self.slower]
        return out


def compare(current: dict[str, Any], baseline: dict[str, Any]) -> Comparison:
    """New failures, fixed checks and much slower checks of `current` against `baseline`."""
    result = Comparison(baseline=f"{baseline.get('run_id')} ({baseline.get('started')})")
    before = {t["name"]: t for t in baseline.get("tests", [])}
    for test in current.get("tests", []):
        old = before.get(test["name"])
        if old is None:
            continue
        failed_now = test["outcome"] == "failed"
        failed_then = old["outcome"] == "failed"
        if failed_now and not failed_then:
            result.new_failures.append(test["name"])
        elif failed_then and test["outcome"] == "passed":
            result.fixed.append(test["name"])
        elif (
            test["outcome"] == old["outcome"] == "passed"
            and test["duration_s"] >= old["duration_s"] * SLOWER_FACTOR
            and test["duration_s"] - old["duration_s"] >= SLOWER_MIN_S
        ):
            result.slower.append(
                f"{test['name']} {old['duration_s']:.1f}s -> {test['duration_s']:.1f}s"
            )
    return result
