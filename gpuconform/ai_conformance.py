"""Evidence for the Kubernetes AI Conformance program's accelerator requirements (issue 19).

`--ai-conformance` writes, beside the HTML report and its junit.xml: `e2e.log` (each
accelerator check's outcome, in run order) and `ai-conformance.yaml`, the program's
self-assessment shape (cncf/ai-conformance PRODUCT.yaml: metadata.kubernetesVersion, then
spec.<category>[] with id, description, level, status, evidence, notes), filled in for the
requirements the suite has checks for (ai_conformance.yaml). Status comes from the checks only:
Implemented when every check of the requirement that ran passed (at least one ran), Not
Implemented when one failed, and empty (not assessed) when none ran - never a success that
nothing showed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

DATA = Path(__file__).with_name("ai_conformance.yaml")
IMPLEMENTED, NOT_IMPLEMENTED, NOT_ASSESSED = "Implemented", "Not Implemented", ""
RESULTS_FILE, LOG_FILE, JUNIT_FILE = "ai-conformance.yaml", "e2e.log", "junit.xml"


class UnknownVersionError(ValueError):
    """A Kubernetes version the program publishes no checklist for (here)."""


@dataclass(frozen=True)
class Result:
    id: str
    category: str
    description: str
    level: str
    status: str
    checks: dict[str, str]  # check name -> passed | failed | skipped (those that were reported)
    notes: str

    def line(self) -> str:
        """The verdict's line for this requirement."""
        status = self.status or "not assessed"
        return f"{self.id} ({self.level}): {status} - {self.notes}"


@cache
def _data() -> dict[str, Any]:
    return yaml.safe_load(DATA.read_text())


def minor_version(server_version: str) -> str:
    """'v1.34.4' -> '1.34'; the checklist is per minor version."""
    found = re.match(r"v?(\d+)\.(\d+)", server_version or "")
    if not found:
        raise UnknownVersionError(f"cannot read a Kubernetes version from {server_version!r}")
    return f"{found[1]}.{found[2]}"


def requirements(version: str) -> list[dict[str, Any]]:
    versions = _data()["versions"]
    if version not in versions:
        raise UnknownVersionError(
            f"no AI Conformance checklist for Kubernetes {version} "
            f"(known: {', '.join(sorted(versions))})"
        )
    return versions[version]


def _status_and_notes(ran: dict[str, str], reasons: dict[str, str]) -> tuple[str, str]:
    failed = [name for name, outcome in ran.items() if outcome == "failed"]
    passed = [name for name, outcome in ran.items() if outcome == "passed"]
    if failed:
        return NOT_IMPLEMENTED, "failed: " + "; ".join(
            f"{name}: {reasons.get(name, 'failed')}" for name in failed
        )
    if passed:
        return IMPLEMENTED, "passed: " + ", ".join(passed)
    skipped = [f"{name}: {reasons[name]}" for name in ran if reasons.get(name)]
    why = "; ".join(skipped) if skipped else "none of its checks was run"
    return NOT_ASSESSED, f"not shown by this run ({why})"


def assess(tests: list[dict[str, Any]], version: str) -> list[Result]:
    """Each requirement of ``version``'s checklist that the suite has checks for, judged from
    the run's checks (summary.json's `tests`: name, outcome, reason)."""
    by_name: dict[str, list[dict[str, Any]]] = {}
    for test in tests:
        by_name.setdefault(test["name"], []).append(test)
    results = []
    for req in requirements(version):
        ran: dict[str, str] = {}
        reasons: dict[str, str] = {}
        for name in _data()["checks"][req["id"]]:
            for test in by_name.get(name, []):
                # A check of several pools is failed when any pool's failed.
                if ran.get(name) != "failed":
                    ran[name] = test["outcome"]
                if test.get("reason") and (test["outcome"] == "failed" or name not in reasons):
                    reasons[name] = test["reason"]
        status, notes = _status_and_notes(ran, reasons)
        results.append(
            Result(
                req["id"],
                req["category"],
                req["description"],
                req["level"],
                status,
                ran,
                notes,
            )
        )
    return results


def self_assessment(results: list[Result], server_version: str) -> dict[str, Any]:
    """The program's PRODUCT.yaml shape for these requirements; metadata the vendor fills in
    (platform name, URLs) is left out, the Kubernetes version is the cluster's."""
    spec: dict[str, list[dict[str, Any]]] = {}
    for r in results:
        spec.setdefault(r.category, []).append(
            {
                "id": r.id,
                "description": r.description,
                "level": r.level,
                "status": r.status,
                "evidence": [JUNIT_FILE, LOG_FILE] if r.checks else [],
                "notes": r.notes,
                "checks": r.checks,
            }
        )
    return {
        "metadata": {
            "kubernetesVersion": f"v{minor_version(server_version)}",
            "serverVersion": server_version,
            "checklist": _data()["source"],
        },
        "spec": spec,
    }


def e2e_log(tests: list[dict[str, Any]], results: list[Result]) -> str:
    """One line per accelerator check in run order, then each requirement's status."""
    wanted = {name for r in results for name in r.checks}
    lines = [
        f"{t['name']}{' [' + t['pool'] + ']' if t.get('pool') else ''}: {t['outcome']} "
        f"({t.get('duration_s', 0):.1f} s)" + (f" - {t['reason']}" if t.get("reason") else "")
        for t in tests
        if t["name"] in wanted
    ]
    lines += [f"requirement {r.line()}" for r in results]
    return "\n".join(lines) + "\n"


def write_evidence(
    report_dir: Path, tests: list[dict[str, Any]], server_version: str
) -> list[Result]:
    """ai-conformance.yaml and e2e.log beside the report (junit.xml is pytest's)."""
    results = assess(tests, minor_version(server_version))
    document = self_assessment(results, server_version)
    (report_dir / RESULTS_FILE).write_text(yaml.safe_dump(document, sort_keys=False, width=100))
    (report_dir / LOG_FILE).write_text(e2e_log(tests, results))
    return results
