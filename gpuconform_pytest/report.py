"""The report a platform team reads, through pytest-html's hooks and the terminal.

At the top: the verdict, then the node matrix, the steps in runbook order (under a failed
check its diagnosis and folded evidence) and, with --nightly/--compare, the trend. The
results table gets a Step column and skip reasons as sentences. The terminal ends with the
verdict. The node matrix is read from the API once, when the checks are done but before the
plugin is uninstalled (the uninstall step, or else the last check's teardown, removes it).
"""

from __future__ import annotations

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
from gpuconform.report.node_matrix import NodeRow, build_node_matrix
from gpuconform.report.snapshot import take_snapshot
from gpuconform.report.steps import group_by_step, sentence
from gpuconform.report.verdict import decide
from gpuconform_pytest.state import ReportView, RunState

# The node matrix is read just before this step runs (else after the last check).
SNAPSHOT_BEFORE_STEP = "uninstall"


def add_css(config: pytest.Config) -> None:
    """The report's style sheet, given to pytest-html before it reads --css."""
    if CSS_FILE.exists():
        config.option.css = [*(getattr(config.option, "css", None) or []), str(CSS_FILE)]


def snapshot(state: RunState) -> None:
    """The node matrix's API objects, read once (a few list calls) while the plugin runs."""
    ctx = state.run
    if ctx is None or state.snapshot is not None:
        return
    try:
        dra_path = state.allocation is not None and state.allocation[0] == "dra"
        snap = take_snapshot(ctx, dra_path)
    except Exception as err:  # the report must not fail a run; the matrix says it is missing
        ctx.progress(f"node matrix: could not read the cluster: {err}")
        return
    state.snapshot = snap
    ctx.progress(
        f"node matrix: {len(snap.nodes)} nodes read with {snap.api_calls} API list calls "
        f"in {snap.seconds:.2f} s"
    )


def summarize(state: RunState, summary: dict[str, Any]) -> dict[str, Any]:
    """Verdict, steps and node matrix for summary.json; kept for the HTML and the terminal."""
    ctx = state.run
    assert ctx is not None  # summarize runs only for a run that passed the gate
    verdict = decide(
        summary["profile"],
        ctx.facts,
        summary["tests"],
        state.diagnoses,
        summary["leaks"],
        summary["exit_status"],
    )
    grouped = group_by_step(summary["tests"])
    snap = state.snapshot
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
            counted | state.probes,
            state.node_diagnoses,
        )
        probe = (
            "node probes ran after a failure"
            if state.probes
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
    state.view = ReportView(verdict, grouped, nodes, note)
    return {
        "verdict": verdict.as_dict(),
        "steps": [s.as_dict() for s in grouped],
        "nodes": [n.as_dict() for n in nodes],
    }


def summary_sections(state: RunState) -> list[str]:
    """The report's top: verdict, node matrix, steps (with diagnoses and evidence), trend."""
    view = state.view
    if view is None:
        return []
    sections = [
        verdict_html(view.verdict, view.requirements),
        node_matrix_html(view.nodes, view.nodes_note),
        steps_html(view.steps, state.details),
    ]
    if view.trend:
        sections.append(trend_html(view.trend, [s.name for s in steps()]))
    return sections


def _step_cell(step: str | None) -> str:
    names = [s.name for s in steps()]
    # "3. readiness": sorts in runbook order as text (pytest-html sorts columns as strings).
    label = f"{names.index(step) + 1}. {step}" if step in names else (step or "")
    return f'<td class="col-step">{escape(label)}</td>'


def table_header(cells: list[str]) -> None:
    cells.insert(1, '<th class="sortable" data-column-type="step">Step</th>')


def table_row(report: Any, cells: list[str]) -> None:
    cells.insert(1, _step_cell(getattr(report, "gpuconform_step", None)))


def skip_sentence_html(report: pytest.TestReport, data: list[str]) -> None:
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


def write_verdict(terminalreporter: Any, state: RunState) -> None:
    """The verdict, last in the terminal: the line a person reads."""
    view = state.view
    if view is None:
        return
    terminalreporter.write_sep("=", "gpuconform verdict")
    for line in node_lines(view.nodes):
        terminalreporter.write_line(line)
    for requirement in view.requirements:
        terminalreporter.write_line(f"AI Conformance {requirement.line()}")
    terminalreporter.write_line(
        view.verdict.line(), green=view.verdict.conformant, red=not view.verdict.conformant
    )
