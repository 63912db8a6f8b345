"""What the suite did on lent H200 hosts, read from the runs' raw outputs: the reports and
summaries kept in docs/gpu-host/, the host script's logs and the runbook's captures in
tests/data/gpu-host/ (where they came from: tests/data/gpu-host/README.md). 2026-11-30: NOT
CONFORMANT (the plugin could not load NVML); 2026-12-01: CONFORMANT."""

from __future__ import annotations

import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
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


# 2026-12-01, the sixth lease: images with glibc's siblings beside libc.
DOCS_OK = REPO / "docs" / "gpu-host" / "2026-12-01-h200-580.159.04"
DATA_OK = REPO / "tests" / "data" / "gpu-host" / "2026-12-01"
UUID_OK = "GPU-b0f6c78f-1e2d-81bf-660c-1bac5b80b05c"


def test_the_h200_run_is_conformant_and_its_header_names_the_gpu():
    summary = json.loads((DOCS_OK / "summary.json").read_text())
    assert summary["verdict"]["verdict"] == "CONFORMANT"
    assert summary["exit_status"] == 0
    assert summary["facts"]["GPU 0 of gpu-host-0"] == f"NVIDIA H200, {UUID_OK}, driver 580.159.04"
    assert {s["name"]: s["outcome"] for s in summary["steps"]} == {
        "preflight": "passed",
        "install": "passed",
        "readiness": "passed",
        "advertise": "passed",
        "workload": "passed",
        "scheduling": "passed",
        "health": "passed",
        "upgrade": "skipped",
        "uninstall": "passed",
    }
    html = (DOCS_OK / "report.html").read_text()
    assert "CONFORMANT" in html and UUID_OK in html and "580.159.04" in html


def test_the_report_holds_the_vectoradd_output_and_the_pods_one_gpu():
    html = (DOCS_OK / "report.html").read_text()
    assert "GPU pod output" in html
    assert f"GPU 0: NVIDIA H200 (UUID: {UUID_OK})" in html  # the init container's listing
    assert "CUDA kernel launch with 196 blocks of 256 threads" in html
    assert "Test PASSED" in html
    seen = json.loads((DOCS_OK / "summary.json").read_text())["facts"]["GPU pod"]
    assert seen == f"ran on gpu-host-0, saw ['{UUID_OK}']"


def test_the_container_view_shows_why_the_earlier_leases_failed():
    """The plugin image over the host's driver: its loader resolves libnvidia-ml with glibc's
    siblings, and without them fails as NVML's dlopen did (ERROR_LIBRARY_NOT_FOUND)."""
    view = (DATA_OK / "container-view.txt").read_text()
    built, control = view.split("=== control: without")
    assert "libdl.so.2 => /lib/x86_64-linux-gnu/libdl.so.2" in built
    assert f"GPU 0: NVIDIA H200 (UUID: {UUID_OK})" in built  # nvidia-smi inside the rootfs
    assert "libpthread.so.0: cannot open shared object file" in control
    assert "libm.so.6: cannot open shared object file" in control  # libcuda's first need
    assert "UUID" not in control


def test_the_broken_variant_is_diagnosed_at_the_container_runtime():
    summary = json.loads((DOCS_OK / "broken" / "summary.json").read_text())
    assert summary["verdict"]["verdict"] == "NOT CONFORMANT"
    assert "first broken layer: container-runtime" in summary["verdict"]["reason"]
    diagnosis = (DOCS_OK / "broken" / "diagnosis.txt").read_text()
    assert "unresolvable CDI devices nvidia.com/gpu=" in diagnosis
    assert "driver layer healthy: driver 580.159.04" in diagnosis  # the host's, by the probe


def test_the_runbook_ran_by_hand_and_the_host_was_left_as_found():
    runbook = json.loads((DATA_OK / "runbook.json").read_text())
    assert all(step["exit"] == 0 for step in runbook["steps"])
    assert "Test PASSED" in runbook["pod_log"]
    log = (DATA_OK / "host-run.log").read_text()
    assert "suite exit 0" in log and "broken exit 1" in log and "runbook exit 0" in log
    assert "host state: unchanged" in log
    probe = (DOCS_OK / "node-probe.txt").read_text()
    assert UUID_OK in probe and "580.159.04" in probe
