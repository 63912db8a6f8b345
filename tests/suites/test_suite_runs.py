"""Whole runs of the suite on clusters it starts itself, the way users run it: healthy (the
`sim` profile, the real 0.17.4 chart), a GPU leaking into a pod without a request, and GFD's
version labels against `nvidia-smi -q`."""

from __future__ import annotations

import json

import pytest

from gpuconform.sim import third_party
from gpuconform.sim.realnode import dns
from tests.fixtures.suite_run import (
    SKIPPED_BY_SIM_PROFILE,
    outcome,
    run_suite,
)

pytestmark = pytest.mark.suite_run


STEPS = [
    "test_api_server_is_reachable_and_supported",
    "test_gpu_nodes_are_found_and_ready",
    "test_chart_installs",
    "test_release_objects_carry_the_run_id",
    "test_daemonset_is_ready_on_every_gpu_node",
    "test_every_gpu_node_advertises_its_gpus",
    "test_gpu_pod_runs_and_sees_exactly_its_gpu",
    "test_advertised_driver_and_cuda_versions_match_nvidia_smi",
    "test_a_shared_gpu_runs_two_pods_at_once",
    "test_over_request_stays_pending_with_insufficient_gpus",
    "test_pod_without_gpu_request_sees_no_gpu",
    "test_no_gpu_went_unhealthy_during_the_run",
    "test_every_gpu_has_utilisation_and_memory_metrics",
    "test_upgrade_rolls_out_and_gpu_pods_keep_running",
    "test_uninstall_removes_the_plugin",
    "test_nothing_with_the_run_id_remains",
]


def test_full_run_against_sim_passes_and_reports_every_step(tmp_path):
    run = run_suite(tmp_path, "--cluster=sim")
    assert run.returncode == 0, run.output[-3000:]
    cases = run.junit()
    assert list(cases) == STEPS
    upgrade = cases.pop("test_upgrade_rolls_out_and_gpu_pods_keep_running")
    assert "no --upgrade-from given" in upgrade.find("skipped").get("message")
    shared = cases.pop("test_a_shared_gpu_runs_two_pods_at_once")
    assert "configures no GPU sharing" in shared.find("skipped").get("message")
    metrics = cases.pop("test_every_gpu_has_utilisation_and_memory_metrics")
    assert "names no accelerator metrics exporter" in metrics.find("skipped").get("message")
    assert all(outcome(c) == "passed" for c in cases.values())
    html = run.html()
    for step in STEPS:
        assert step in html, step
    for fact in (
        "server version",
        "v1.34.4",
        "run id",
        "nvidia-device-plugin-0.20.0",
        "real NVIDIA binaries on real nodes (GPUs simulated)",
        "gpuconform",
    ):
        assert fact in html, fact
    # The cluster's DNS is the CoreDNS the real nodes run: its binary says the version that
    # the image reference (kubeadm's) pins.
    facts = json.loads((run.report_dir / "summary.json").read_text())["facts"]
    assert facts["cluster DNS"] == "CoreDNS " + dns.IMAGE.rsplit(":v", 1)[1], facts
    assert "cluster DNS" in html
    # The GPU pod's own output is in the report (the sim's workload: nvidia-smi -L).
    assert "GPU pod output" in html and "GPU 0: NVIDIA" in html
    assert "leak check: nothing labelled" in run.output
    assert run.report_dir.name.startswith("sim-")


def test_full_run_on_the_real_0_17_4_chart_passes(tmp_path):
    """NVIDIA's 0.17.4 chart and its own v0.17.4 plugin binary, every step green."""
    run = run_suite(tmp_path, "--cluster=sim", "--chart-version=0.17.4")
    assert run.returncode == 0, run.output[-3000:]
    cases = run.junit()
    for skipped_by_profile in SKIPPED_BY_SIM_PROFILE:
        assert outcome(cases.pop(skipped_by_profile)) == "skipped"
    assert all(outcome(c) == "passed" for c in cases.values())
    html = run.html()
    assert "nvidia-device-plugin-0.17.4" in html
    assert "real NVIDIA binaries on real nodes (GPUs simulated)" in html


def test_a_gpu_leaking_into_a_pod_without_a_request_is_diagnosed_with_the_fix(tmp_path):
    # sim-envvar-leak: the toolkit's default (NVIDIA_VISIBLE_DEVICES honoured from unprivileged
    # containers) on real nodes; the CUDA image's =all hands every GPU to a pod with no request.
    run = run_suite(tmp_path, "--cluster=sim-envvar-leak")
    assert run.returncode == 1, run.output[-3000:]
    cases = run.junit()
    failed = [name for name, case in cases.items() if outcome(case) == "failure"]
    assert failed == ["test_pod_without_gpu_request_sees_no_gpu"], failed
    # No exporter on the sim: the metrics step says so, in the report too.
    skipped = cases["test_every_gpu_has_utilisation_and_memory_metrics"].find("skipped")
    assert "names no accelerator metrics exporter" in skipped.get("message"), skipped.attrib
    assert "The profile names no accelerator metrics exporter: set accelerator_metrics" in (
        run.html()
    )
    diagnostics = run.report_dir / "diagnostics"
    diagnosis = (diagnostics / "diagnosis-test_pod_without_gpu_request_sees_no_gpu.txt").read_text()
    assert diagnosis.startswith("1. [container-runtime] A container that asked for no GPU"), (
        diagnosis
    )
    assert "accept-nvidia-visible-devices-envvar-when-unprivileged = false" in diagnosis
    assert "deviceListStrategy cdi-cri" in diagnosis
    assert "k8s-device-plugin/issues/87" in diagnosis


def test_gfds_version_labels_agree_with_nvidia_smi_q_in_a_gpu_pod(tmp_path):
    """driver_runtime_management on the device-plugin path, where GFD runs: the chart's own
    gfd.enabled brings the real GFD (and the real NFD that turns its NodeFeature into labels)
    onto sim-kwok's nodes; the check compares its version labels with nvidia-smi -q in a GPU
    pod there (the KWOK nodes' SIMULATED tool over the node's NVML, which GFD reads too)."""
    if third_party.nfd_binary("v0.19.0", "nfd-master") is None:
        reason = third_party.failed_build("v0.19.0", project=third_party.NFD)
        pytest.skip(f"Node Feature Discovery v0.19.0 could not be built here: {reason}")
    run = run_suite(
        tmp_path, "--cluster=sim-kwok", "--set", "gfd.enabled=true", "-k", "daemonset or versions"
    )
    case = run.junit()["test_advertised_driver_and_cuda_versions_match_nvidia_smi"]
    assert outcome(case) == "passed", run.output[-3000:]
    assert run.returncode == 0, run.output[-3000:]
