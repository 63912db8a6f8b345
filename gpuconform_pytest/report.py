"""The report a platform team reads, through pytest-html's hooks and the terminal.

At the top: the verdict, then the node matrix, the steps in runbook order (under a failed
check its diagnosis and folded evidence) and, with --nightly/--compare, the trend. The
results table gets a Step column and skip reasons as sentences. The terminal ends with the
verdict. The node matrix is read from the API once, when the checks are done but before the
plugin is uninstalled (the uninstall step, or else the last check's teardown, removes it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from typing import Any

import pytest

from gpuconform.diagnose.probe import parse_probe
from gpuconform.report.html import (
    CSS_FILE,
    node_matrix_html,
    steps_html,
    trend_html,
    verdict_html,
)
from gpuconform.report.layout import steps
from gpuconform.report.node_matrix import NodeRow, Snapshot, build_node_matrix
from gpuconform.report.snapshot import take_snapshot
from gpuconform.report.steps import StepResult, group_by_step, sentence
from gpuconform.report.trend import TrendRow
from gpuconform.report.verdict import Verdict, decide
from gpuconform_pytest.shared import (
    DETAILS_KEY,
    DIAGNOSES_KEY,
    NODE_DIAGNOSES_KEY,
    PROBES_KEY,
    RUN_KEY,
    SNAPSHOT_KEY,
    step_of,
)

SNAPSHOT_BEFORE_STEP = "uninstall"


@dataclass
class ReportView:
    verdict: Verdict
    steps: list[StepResult]
    nodes: list[NodeRow]
    nodes_note: str
    trend: list[TrendRow] = field(default_factory=list)


VIEW_KEY = pytest.StashKey[ReportView]()
TREND_KEY = pytest.StashKey[list[TrendRow]]()


@pytest.hookimpl(tryfirst=True)  # before pytest-html's, which reads --css
def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("cluster") and CSS_FILE.exists():
        config.option.css = [*(getattr(config.option, "css", None) or []), str(CSS_FILE)]


def _snapshot(config: pytest.Config) -> None:
    """The node matrix's API objects, read once (a few list calls) while the plugin runs."""
    ctx = config.stash.get(RUN_KEY, None)
    if ctx is None or SNAPSHOT_KEY in config.stash:
        return
    try:
        snap = take_snapshot(ctx)
    except Exception as err:  # the report must not fail a run; the matrix says it is missing
        ctx.progress(f"node matrix: could not read the cluster: {err}")
        return
    config.stash[SNAPSHOT_KEY] = snap
    ctx.progress(
        f"node matrix: {len(snap.nodes)} nodes read with {snap.api_calls} API list calls "
        f"in {snap.seconds:.2f} s"
    )


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    if step_of(item)[0] == SNAPSHOT_BEFORE_STEP:
        _snapshot(item.config)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None):
    if nextitem is None:  # the session fixtures (the installed plugin) go next
        _snapshot(item.config)
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    report.gpuconform_step = step_of(item)[0]
    return report


def summarize(config: pytest.Config, summary: dict[str, Any]) -> dict[str, Any]:
    """Verdict, steps and node matrix for summary.json; kept for the HTML and the terminal."""
    ctx = config.stash[RUN_KEY]
    diagnoses = config.stash.get(DIAGNOSES_KEY, [])
    verdict = decide(
        summary["profile"],
        summary["facts"],
        summary["tests"],
        diagnoses,
        summary["leaks"],
        summary["exit_status"],
    )
    grouped = group_by_step(summary["tests"])
    snap: Snapshot | None = config.stash.get(SNAPSHOT_KEY, None)
    nodes: list[NodeRow] = []
    if snap is None:
        note = "The cluster was not read for the node matrix (no check ran)."
    else:
        # Probes that counted a node's GPUs (no gpus_per_node, no count label), then those
        # of diagnostics (the latest per node).
        counted = {
            node: parse_probe(text)
            for node, text in ctx.evidence_cache.get("node-probe", {}).items()
        }
        nodes = build_node_matrix(
            snap,
            ctx.fleet.expectations_of(snap.nodes),
            counted | config.stash.get(PROBES_KEY, {}),
            config.stash.get(NODE_DIAGNOSES_KEY, {}),
        )
        probe = (
            "node probes ran after a failure"
            if config.stash.get(PROBES_KEY, {})
            else "node probes ran to count GPUs where nothing else said how many"
            if counted
            else "node probes run only after a failure"
            if ctx.profile.node_probe
            else "node probes are off (diagnostics.node_probe: false)"
        )
        note = (
            f"Read from the API when the checks were done, before uninstall "
            f"({snap.api_calls} list calls, {snap.seconds:.2f} s); {probe}."
        )
    config.stash[VIEW_KEY] = ReportView(verdict, grouped, nodes, note)
    return {
        "verdict": verdict.as_dict(),
        "steps": [s.as_dict() for s in grouped],
        "nodes": [n.as_dict() for n in nodes],
    }


@pytest.hookimpl(tryfirst=True)
def pytest_html_results_summary(
    prefix: list[str], summary: list[str], postfix: list[str], session: pytest.Session
) -> None:
    config = session.config
    view = config.stash.get(VIEW_KEY, None)
    if view is None:
        return
    sections = [
        verdict_html(view.verdict),
        node_matrix_html(view.nodes, view.nodes_note),
        steps_html(view.steps, config.stash.get(DETAILS_KEY, {})),
    ]
    trend = config.stash.get(TREND_KEY, [])
    if trend:
        sections.append(trend_html(trend, [s.name for s in steps()]))
    prefix[:0] = sections


def _step_cell(step: str | None) -> str:
    names = [s.name for s in steps()]
    # "3. readiness": sorts in runbook order as text (pytest-html sorts columns as strings).
    label = f"{names.index(step) + 1}. {step}" if step in names else (step or "")
    return f'<td class="col-step">{escape(label)}</td>'


def pytest_html_results_table_header(cells: list[str]) -> None:
    cells.insert(1, '<th class="sortable" data-column-type="step">Step</th>')


def pytest_html_results_table_row(report: Any, cells: list[str]) -> None:
    cells.insert(1, _step_cell(getattr(report, "gpuconform_step", None)))


def pytest_html_results_table_html(report: pytest.TestReport, data: list[str]) -> None:
    """A skip's reason as a sentence, not pytest's ('/path', 27, 'Skipped: ...') tuple."""
    if report.skipped and isinstance(report.longrepr, tuple) and data:
        data[0] = escape(sentence(report.longrepr[2])) + "\n"


def node_lines(rows: list[NodeRow]) -> list[str]:
    """`GPU nodes: 3 OK, 1 broken (gpu-broken-0)`, one line per pool when there are several."""
    pools = list(dict.fromkeys(r.pool for r in rows if r.expected))
    lines = []
    for pool in pools:
        mine = [r for r in rows if r.expected and r.pool == pool]
        broken = [r.name for r in mine if not r.healthy]
        line = f"GPU nodes{f' in pool {pool}' if len(pools) > 1 else ''}: "
        line += f"{len(mine) - len(broken)} OK"
        lines.append(line + (f", {len(broken)} broken ({', '.join(broken)})" if broken else ""))
    return lines


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config):
    result = yield
    view = config.stash.get(VIEW_KEY, None)
    if view is not None:  # last, after pytest's short summary: the line a person reads
        terminalreporter.write_sep("=", "gpuconform verdict")
        for line in node_lines(view.nodes):
            terminalreporter.write_line(line)
        terminalreporter.write_line(
            view.verdict.line(), green=view.verdict.conformant, red=not view.verdict.conformant
        )
    return result
