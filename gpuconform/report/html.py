"""HTML fragments for pytest-html's summary and result rows: plain strings, escaped here.

Everything stays inline in the one self-contained report.html (no script, no external
resource); report.css styles it and keeps it readable when printed.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

from gpuconform.diagnose.explain import Evidence, Explanation
from gpuconform.report.node_matrix import NodeRow
from gpuconform.report.steps import StepResult
from gpuconform.report.trend import TrendRow
from gpuconform.report.verdict import Verdict

CSS_FILE = Path(__file__).with_name("report.css")


def _e(value: Any) -> str:
    return escape(str(value))


def seconds(value: float) -> str:
    return f"{value:.1f} s"


def verdict_html(verdict: Verdict, requirements: Sequence[Any] = ()) -> str:
    """The verdict line; with --ai-conformance, each requirement's status under it."""
    state = "pass" if verdict.conformant else "fail"
    fix = f" <b>Fix:</b> {_e(verdict.fix)}" if verdict.fix else ""
    listed = "".join(f"<li>AI Conformance {_e(r.line())}</li>" for r in requirements)
    return (
        f"<div id='gpuconform-verdict' class='gc-verdict gc-{state}'>"
        f"<strong>{_e(verdict.word)}</strong> - {_e(verdict.context)}: {_e(verdict.reason)}{fix}"
        + (f"<ul class='gc-requirements'>{listed}</ul>" if listed else "")
        + "</div>"
    )


def _cell(text: str, bad: bool = False) -> str:
    return f"<td class='gc-bad'>{text}</td>" if bad else f"<td>{text}</td>"


def _status(row: NodeRow) -> str:
    if not row.expected:
        return "NOT EXPECTED"
    return "OK" if row.healthy else "BROKEN"


def _node_matrix_row(r: NodeRow, pooled: bool) -> str:
    """One node's row of the matrix, each cell marked bad where the node is short."""
    state = "unexpected" if not r.expected else "ok" if r.healthy else "broken"
    labels = "<br>".join(f"{_e(k)}={_e(v)}" for k, v in r.gpu_labels.items()) or "none"
    if r.plugin_pod:
        pod = f"{_e(r.plugin_pod)}<br>{_e(r.plugin_phase)}, {r.plugin_restarts} restarts"
    else:
        pod = "none"
    expected = "-" if r.gpus_expected is None else str(r.gpus_expected)
    # Where the expectation comes from: the profile, the node's label, its probe.
    source = f"<br><small>from {_e(r.expected_from)}</small>" if r.expected_from else ""
    gpus_bad = r.expected and (
        not r.gpus_advertised
        or (r.gpus_expected is not None and r.gpus_advertised != r.gpus_expected)
        or r.gpus_unhealthy > 0
    )
    unhealthy = f"<br>{r.gpus_unhealthy} unhealthy" if r.gpus_unhealthy else ""
    workload = "<br>".join(_e(w) for w in r.workload) or "not run here"
    workload_bad = any(not w.endswith(("Succeeded", "Running")) for w in r.workload)
    if r.probe:
        p = r.probe
        probe = (
            f"driver {_e(p['driver'] or 'unknown')}, {p['gpus']} GPUs, toolkit {_e(p['toolkit'])}"
        )
    else:
        probe = "not run"
    problems = "; ".join(r.problems)
    return (
        f"<tr class='gc-node gc-{state}' data-node='{_e(r.name)}'"
        + (f" data-pool='{_e(r.pool or '')}'" if pooled else "")
        + f" title='{_e(problems)}'>"
        f"<th><span class='gc-mark'>{_status(r)}</span> {_e(r.name)}</th>"
        + (_cell(_e(r.pool or "-")) if pooled else "")
        + _cell("yes" if r.ready else "no", not r.ready)
        + _cell(labels, r.expected and not r.gpu_labels)
        + _cell(pod, r.expected and r.plugin_phase != "Running")
        + _cell(f"{r.gpus_advertised} / {expected}{unhealthy}{source}", gpus_bad)
        + _cell(workload, workload_bad)
        + _cell(probe, bool(r.probe and not r.probe["driver_ok"]))
        + _cell(_e(r.diagnosis or ("-" if r.expected else problems)), bool(r.diagnosis))
        + "</tr>"
    )


def node_matrix_html(rows: Sequence[NodeRow], note: str = "") -> str:
    """The GPU node matrix; with several pools, a Pool column (rows come grouped by pool)."""
    pooled = len({r.pool for r in rows if r.pool}) > 1
    head = (
        "<tr><th>Node</th>"
        + ("<th>Pool</th>" if pooled else "")
        + "<th>Ready</th><th>GPU labels</th><th>Plugin pod</th>"
        "<th>GPUs advertised / expected</th><th>GPU workload</th><th>Node probe</th>"
        "<th>Diagnosis</th></tr>"
    )
    body = [_node_matrix_row(r, pooled) for r in rows]
    if not body:
        body.append(f"<tr><td colspan='{9 if pooled else 8}'>No GPU node found.</td></tr>")
    caption = f"<p class='gc-note'>{_e(note)}</p>" if note else ""
    return (
        "<h2>GPU nodes</h2>"
        f"<table id='gpuconform-node-matrix' class='gc-table'>{head}{''.join(body)}</table>"
        f"{caption}"
    )


def steps_html(results: Sequence[StepResult], details: dict[str, str]) -> str:
    """Steps in runbook order; under a failed check its diagnosis and evidence (`details`)."""
    parts = ["<h2>Steps, in runbook order</h2><div id='gpuconform-steps'>"]
    for n, step in enumerate(results, 1):
        parts.append(
            f"<section class='gc-step gc-{step.outcome.replace(' ', '-')}' "
            f"data-step='{_e(step.name)}'><h3>{n}. {_e(step.title)} "
            f"<span class='gc-outcome'>{_e(step.outcome.upper())}</span> "
            f"<span class='gc-duration'>{seconds(step.duration_s)}</span></h3>"
        )
        if step.reason:
            parts.append(f"<p class='gc-reason'>{_e(step.reason)}</p>")
        if step.outcome not in ("skipped", "not run"):
            rows = []
            for check in step.checks:
                why = ""
                if check["outcome"] == "skipped" and check.get("reason"):
                    why = f" <span class='gc-reason'>{_e(check['reason'])}</span>"
                rows.append(
                    f"<tr class='gc-check gc-{_e(check['outcome'])}'><td>{_e(check['name'])}{why}"
                    f"{details.get(check['name'], '')}</td><td>{_e(check['outcome'])}</td>"
                    f"<td>{seconds(check.get('duration_s', 0.0))}</td></tr>"
                )
            parts.append(f"<table class='gc-table gc-checks'>{''.join(rows)}</table>")
        parts.append("</section>")
    parts.append("</div>")
    return "".join(parts)


def trend_html(rows: Sequence[TrendRow], step_names: Sequence[str]) -> str:
    shown = [n for n in step_names if any(n in r.step_durations for r in rows)]
    head = "".join(f"<th>{_e(n)}</th>" for n in ["date", "verdict", "total", *shown])
    body = []
    for r in rows:
        state = "pass" if r.verdict == "CONFORMANT" else "fail"
        steps = "".join(
            f"<td>{seconds(r.step_durations[n]) if n in r.step_durations else '-'}</td>"
            for n in shown
        )
        body.append(
            f"<tr class='gc-{state}'><td>{_e(r.date)}</td><td>{_e(r.verdict)}</td>"
            f"<td>{seconds(r.duration_s)}</td>{steps}"
            f"<td>{_e(', '.join(r.new_failures) or '-')}</td></tr>"
        )
    return (
        "<h2>Trend: the last runs of this profile</h2>"
        f"<table id='gpuconform-trend' class='gc-table'><tr>{head}<th>new failures</th></tr>"
        f"{''.join(body)}</table>"
    )


def diagnosis_html(explanation: Explanation, notes: Sequence[str]) -> str:
    """The diagnosis of a failed check: causes in the order of blame, with the fix."""
    parts = ["<div class='gpuconform-diagnosis'><h3>Diagnosis</h3>"]
    if explanation.primary is None:
        parts.append("<p>No known failure signature matched; see the evidence.</p>")
    for finding in explanation.causes:
        sig = finding.signature
        quoted = "".join(f"<li><code>{_e(line)}</code></li>" for line in finding.lines)
        parts.append(
            f"<p><b>[{_e(finding.layer_label)}]</b> {_e(finding.cause)}<br>"
            f"<b>Where:</b> {_e(finding.where)}<br><b>Fix:</b> {_e(sig.remediation)}<br>"
            f"<b>See:</b> <a href='{_e(sig.reference)}'>{_e(sig.reference)}</a></p>"
            f"<ul>{quoted}</ul>"
        )
    if explanation.healthy:
        parts.append("<h4>Healthy</h4>")
    for healthy in explanation.healthy:
        parts.append(
            f"<p><b>[{_e(healthy.layer)}]</b> {_e(healthy.summary())} - from "
            f"{_e(healthy.health.tool)} ({_e(healthy.where)})</p>"
        )
    parts += [f"<p><i>{_e(note)}</i></p>" for note in notes]
    parts.append("</div>")
    return "".join(parts)


def evidence_html(files: Sequence[Path], evidence: Sequence[Evidence]) -> str:
    """The evidence of a failed check, each piece folded (collapsed) in its own block."""
    parts = [f"<details class='gc-evidence'><summary>Evidence ({len(evidence)} files)</summary>"]
    for path, ev in zip(files, evidence, strict=True):
        label = f"{ev.source}: {ev.subject} ({path.parent.name}/{path.name})"
        parts.append(f"<details><summary>{_e(label)}</summary><pre>{_e(ev.text)}</pre></details>")
    parts.append("</details>")
    return "".join(parts)
