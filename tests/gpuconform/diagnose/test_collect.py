"""Diagnostics gather node evidence once per run, within the profile's time budget."""

from __future__ import annotations

import time
from types import SimpleNamespace

from gpuconform.diagnose import collect


def context(lines: list[str]) -> SimpleNamespace:
    return SimpleNamespace(
        evidence_cache={},
        progress=lines.append,
        profile=SimpleNamespace(diagnostics_budget_s=60),
        report_dir=None,
    )


def test_a_node_is_probed_once_per_run_and_reused(monkeypatch, tmp_path):
    probed: list[str] = []
    out = "=== gpuconform-probe: host ===\nLinux\n=== gpuconform-probe-exit: host 0 ===\n"
    monkeypatch.setattr(
        collect, "run_node_probe", lambda ctx, node, timeout_s: probed.append(node) or out
    )
    lines: list[str] = []
    ctx = context(lines)
    ctx.report_dir = tmp_path
    for _ in range(2):  # two failed steps in one run
        got = collect.Collected()
        collect._probe_nodes(ctx, got, ["gpu-0", "gpu-1"], time.monotonic() + 60)
        assert [e.text for e in got.evidence] == [out, out]
    assert probed == ["gpu-0", "gpu-1"]
    assert lines == [
        "diagnostics: probing node gpu-0 (1/2)",
        "diagnostics: probing node gpu-1 (2/2)",
    ]
    assert "the output of this run's earlier probe" in got.notes[0]


def test_a_spent_budget_skips_the_probe_and_says_so(monkeypatch, tmp_path):
    monkeypatch.setattr(collect, "run_node_probe", lambda *a: (_ for _ in ()).throw(AssertionError))
    ctx = context([])
    ctx.report_dir = tmp_path
    got = collect.Collected()
    collect._probe_nodes(ctx, got, ["gpu-0"], time.monotonic() - 1)
    assert got.evidence == []
    assert got.notes == ["diagnostics budget (60s) spent: node gpu-0 was not probed"]


def test_a_probe_that_could_not_run_is_tried_again_later(monkeypatch, tmp_path):
    probed: list[str] = []
    failed = "node probe could not run on gpu-0: ImagePullBackOff: rate limited\n"
    monkeypatch.setattr(
        collect, "run_node_probe", lambda ctx, node, timeout_s: probed.append(node) or failed
    )
    ctx = context([])
    ctx.report_dir = tmp_path
    for _ in range(2):
        collect._probe_nodes(ctx, collect.Collected(), ["gpu-0"], time.monotonic() + 60)
    assert probed == ["gpu-0", "gpu-0"]
