"""The run's state, typed: what each phase of the lifecycle made, read by the phases after it.

One value in pytest's stash (`STATE_KEY`) instead of a key per module and an untyped dict; a
phase that needs something another made reads it here under its name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from gpuconform.ai_conformance import Result as RequirementResult
from gpuconform.diagnose.probe import ProbeResult
from gpuconform.profile import Profile
from gpuconform.report.node_matrix import NodeRow, Snapshot
from gpuconform.report.steps import StepResult
from gpuconform.report.trend import TrendRow
from gpuconform.report.verdict import Diagnosis, Verdict
from gpuconform.run import RunContext


@dataclass
class ReportView:
    """The report's top, decided once at the end and rendered to HTML and the terminal."""

    verdict: Verdict
    steps: list[StepResult]
    nodes: list[NodeRow]
    nodes_note: str
    trend: list[TrendRow] = field(default_factory=list)
    requirements: list[RequirementResult] = field(default_factory=list)  # --ai-conformance


@dataclass
class RunState:
    """Everything the lifecycle's phases hand to each other, from configure to report."""

    profile: Profile
    report_dir: Path
    # gate: the cluster the run started (stopped again at the end) and the run's context.
    sim: Any = None
    kind: Any = None
    run: RunContext | None = None
    previous_sigterm: Callable[..., Any] | int | None = None
    # gate: which path hands out GPUs, and why ("dra" | "device-plugin", why).
    allocation: tuple[str, str] | None = None
    # steps: the first failure of each step (`step` or `step[pool]`), and every check's entry
    # for summary.json (by node id).
    failed_steps: dict[str, str] = field(default_factory=dict)
    tests: dict[str, dict[str, Any]] = field(default_factory=dict)
    # diagnostics: per failed check its diagnosis and evidence (HTML); per node the latest
    # probe and the first cause blamed there.
    diagnoses: list[Diagnosis] = field(default_factory=list)
    details: dict[str, str] = field(default_factory=dict)
    probes: dict[str, ProbeResult] = field(default_factory=dict)
    node_diagnoses: dict[str, str] = field(default_factory=dict)
    # snapshot: the node matrix's objects, read before the plugin is uninstalled.
    snapshot: Snapshot | None = None
    # The last check that ran proved nothing with the run id remains (`verifies_clean`).
    verified_clean: bool = False
    # leak check: what still carried the run id (None: the check did not run).
    leaks: list[str] | None = None
    # report: the comparison with a baseline, the trend, and the decided view.
    comparison: list[str] = field(default_factory=list)
    trend: list[TrendRow] = field(default_factory=list)
    view: ReportView | None = None


STATE_KEY = pytest.StashKey[RunState]()


def state_of(config: pytest.Config) -> RunState | None:
    """The run's state; None when no cluster was given (`pytest` without --cluster)."""
    return config.stash.get(STATE_KEY, None)
