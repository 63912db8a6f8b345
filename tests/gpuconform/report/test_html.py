"""The report's HTML pieces (gpuconform/report/html.py): node matrix, verdict and steps."""

from __future__ import annotations

from gpuconform.report.html import node_matrix_html, steps_html, verdict_html
from gpuconform.report.node_matrix import build_node_matrix
from gpuconform.report.steps import group_by_step
from gpuconform.report.verdict import decide
from tests.gpuconform.report.fakes import FACTS, check, expecting, matrix_snapshot


def test_node_matrix_html_marks_healthy_and_broken_rows_differently():
    rows = build_node_matrix(
        matrix_snapshot(), expecting({"nvidia.com/gpu": 8}), {}, {"gpu-b": "[driver] <broken>"}
    )
    html = node_matrix_html(rows, "read once")
    assert "<tr class='gc-node gc-ok' data-node='gpu-a'" in html
    assert "<tr class='gc-node gc-broken' data-node='gpu-b'" in html
    assert "<tr class='gc-node gc-unexpected' data-node='gpu-outside'" in html
    assert "[driver] &lt;broken&gt;" in html and "<broken>" not in html
    assert ">OK</span> gpu-a" in html and ">BROKEN</span> gpu-b" in html


def test_verdict_and_steps_html():
    verdict = decide("sim", FACTS, [check("a", "preflight")], [], [], 0)
    assert "id='gpuconform-verdict' class='gc-verdict gc-pass'" in verdict_html(verdict)
    grouped = group_by_step(
        [check("test_ready", "readiness", "failed"), check("test_w", "workload", "skipped")]
    )
    html = steps_html(grouped, {"test_ready": "<details class='gc-evidence'>E</details>"})
    assert html.index("data-step='preflight'") < html.index("data-step='readiness'")
    assert "<tr class='gc-check gc-failed'><td>test_ready<details class='gc-evidence'>" in html
    assert "gc-step gc-not-run" in html
