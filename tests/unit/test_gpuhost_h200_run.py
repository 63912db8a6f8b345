"""What the suite did on a lent H200 host (2026-11-30), read from the run's raw outputs: the
report and summary kept in docs/gpu-host/, the host script's log and the runbook's capture in
tests/data/gpu-host/ (where they came from: tests/data/gpu-host/README.md)."""

from __future__ import annotations

import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs" / "gpu-host" / "2026-11-30-h200-580.159.04"
DATA = REPO / "tests" / "data" / "gpu-host" / "2026-11-30"
UUID = "GPU-dd5b092d-bede-02a4-a788-770ae5c5a5b3"


def test_the_report_header_names_the_real_gpu_its_uuid_and_driver():
    summary = json.loads((DOCS / "summary.json").read_text())
    assert summary["facts"]["GPU 0 of gpu-host-0"] == f"NVIDIA H200, {UUID}, driver 580.159.04"
    assert "nvidia-container-toolkit 1.17.8" in summary["facts"]["real node gpu-host-0"]
    html = (DOCS / "report.html").read_text()
    assert UUID in html and "580.159.04" in html and "NVIDIA H200" in html


def test_the_run_was_not_conformant_the_plugin_found_no_nvml_in_its_container():
    verdict = json.loads((DOCS / "summary.json").read_text())["verdict"]
    assert verdict["verdict"] == "NOT CONFORMANT"
    assert "first broken layer: container-runtime" in verdict["reason"]
    assert "cannot load NVML inside its container" in verdict["reason"]
    plugin_log = (DATA / "nvidia-device-plugin-ctr.log").read_text()
    assert "v0.20.0" in plugin_log
    assert "nvml init failed: ERROR_LIBRARY_NOT_FOUND" in plugin_log


def test_the_node_probe_read_the_real_driver():
    probe = (DOCS / "node-probe.txt").read_text()
    assert "NVIDIA H200" in probe
    assert UUID in probe
    assert "Driver Version                                         : 580.159.04" in probe


def test_the_runtime_injected_the_real_gpu_and_the_host_was_left_as_found():
    debug = (DATA / "runbook-debug.txt").read_text()
    assert "Injecting devices using CDI: [nvidia.com/gpu=all]" in debug
    assert f"name: {UUID}" in debug  # nvidia-ctk's spec, generated from the host's driver
    log = (DATA / "host-run.log").read_text()
    assert "host state: unchanged" in log
    runbook = json.loads((DATA / "runbook.json").read_text())
    assert [s["step"] for s in runbook["steps"]][-1] == "kubectl rollout status"
    assert runbook["steps"][-1]["exit"] == 1  # the same failure, by hand


def test_the_hosts_driver_root_did_not_help_the_plugin_either():
    """Fourth lease: the chart's nvidiaDriverRoot=/ mounted the host at /driver-root; the
    plugin looked there and still could not load NVML."""
    log = (DATA / "nvidia-device-plugin-ctr-attempt4.log").read_text()
    assert '"containerDriverRoot": "/driver-root"' in log
    assert "Failed to initialize NVML: ERROR_LIBRARY_NOT_FOUND" in log
    assert "host state: unchanged" in (DATA / "host-run-attempt4.log").read_text()
