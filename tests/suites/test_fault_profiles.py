"""The fault profiles on REAL nodes (issue 17, items 4 and 5): the suite, run as a user runs it,
is NOT CONFORMANT on each, and its verdict names the cause from what the real kubelet,
containerd, NVIDIA runtime or plugin printed, never from a scripted message."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gpuconform.sim import nvml
from tests.fixtures.suite_run import SuiteRun, outcome, run_suite

pytestmark = [pytest.mark.real_node, pytest.mark.suite_run]


def _summary(run: SuiteRun) -> dict:
    assert run.report_dir is not None, run.output[-3000:]
    return json.loads((run.report_dir / "summary.json").read_text())


def _not_conformant(run: SuiteRun) -> tuple[dict, dict[str, dict]]:
    """The verdict and the node matrix's rows by node, after asserting the run failed."""
    assert run.returncode == 1, run.output[-3000:]
    summary = _summary(run)
    verdict = summary["verdict"]
    assert verdict["verdict"] == "NOT CONFORMANT", verdict
    return verdict, {row["name"]: row for row in summary["nodes"]}


def _failed(run: SuiteRun) -> list[str]:
    return [name for name, case in run.junit().items() if outcome(case) == "failure"]


def _failure(run: SuiteRun, check: str) -> str:
    failure = run.junit()[check].find("failure")
    return failure.get("message", "") + (failure.text or "")


def _diagnostics(run: SuiteRun) -> str:
    return "\n".join(p.read_text() for p in (run.report_dir / "diagnostics").glob("**/*.txt"))


def test_a_driver_without_nvml(tmp_path: Path):
    run = run_suite(tmp_path, "--cluster=sim-faulty")
    verdict, rows = _not_conformant(run)
    assert _failed(run) == ["test_daemonset_is_ready_on_every_gpu_node"], run.output[-3000:]
    # The node probe (a real privileged pod on the node) finds no NVML in the driver root...
    assert "driver on gpu-broken-0" in verdict["reason"], verdict
    assert "libnvidia-ml.so.1" in verdict["reason"], verdict
    # ...and containerd's event says what the runtime made of it (the spec nvidia-ctk could
    # not write): the real toolkit's CDI error, quoted in the evidence.
    assert "unresolvable CDI devices nvidia.com/gpu=all" in _diagnostics(run)
    assert rows["gpu-broken-0"]["gpus_advertised"] == 0 and not rows["gpu-broken-0"]["healthy"]
    assert rows["gpu-node-0"]["gpus_advertised"] == 8
    # The probe's own output is kept as a file, and the report shows the diagnosis first.
    probe = run.report_dir / "diagnostics" / "node-gpu-broken-0" / "node-probe.txt"
    assert "libnvidia-ml.so.1" in probe.read_text()
    html = run.html()
    assert html.index("Diagnosis") < html.index("Evidence")
    assert "<details><summary>node-probe: gpu-broken-0" in html


def test_unlabeled_gpu_nodes_fail_readiness_not_pass_vacuously(tmp_path: Path):
    run = run_suite(tmp_path, "--cluster=sim-unlabeled")
    verdict, _ = _not_conformant(run)
    cases = run.junit()
    message = _failure(run, "test_daemonset_is_ready_on_every_gpu_node")
    assert "no node matches the chart's node affinity" in message, message
    # It fails as soon as the DaemonSet controller has settled, not after the timeout.
    assert "wants 0 pods (its controller has seen generation 1)" in message, message
    for later in (
        "test_every_gpu_node_advertises_its_gpus",
        "test_gpu_pod_runs_and_sees_exactly_its_gpu",
    ):
        skipped = cases[later].find("skipped")
        assert skipped is not None, later
        assert "needs step 'readiness', which failed" in skipped.get("message")
    assert outcome(cases["test_nothing_with_the_run_id_remains"]) == "passed"
    # The diagnosis: the node-labels layer, naming the unlabeled node.
    assert "node-labels" in verdict["reason"], verdict
    diagnosis = next((run.report_dir / "diagnostics").glob("diagnosis-*.txt")).read_text()
    assert diagnosis.startswith("1. [node-labels]"), diagnosis
    assert "gpu-node-0: no device-plugin pod wanted" in diagnosis


def test_an_xid_marks_one_gpu_unhealthy_in_the_real_kubelet(tmp_path: Path):
    run = run_suite(tmp_path, "--cluster=sim-xid")
    verdict, rows = _not_conformant(run)
    # The plugin marks the GPU moments after it registers: before the advertise check looks
    # (which then fails) or after (the health check at the end fails).
    assert _failed(run) in (
        ["test_every_gpu_node_advertises_its_gpus"],
        ["test_no_gpu_went_unhealthy_during_the_run"],
    ), run.output[-3000:]
    uuid = nvml.node_uuids("gpu-xid-0", 8)[3]
    for fact in ("gpu-xid-0", uuid, "Xid 79", "fallen off the bus"):
        assert fact in verdict["reason"], (fact, verdict)
    assert "reboot" in verdict["fix"].lower(), verdict
    # The real kubelet's device manager: capacity 8, allocatable 7.
    assert rows["gpu-xid-0"]["gpus_unhealthy"] == 1 and not rows["gpu-xid-0"]["healthy"]
    assert rows["gpu-xid-0"]["gpus_advertised"] == 7
    assert rows["gpu-node-0"]["gpus_unhealthy"] == 0
    # What the real plugin printed, in its log as the suite collected it.
    assert f"XidCriticalError: Xid=79 on Device={uuid}" in _plugin_logs(run)


def test_a_runtime_without_a_cdi_spec(tmp_path: Path):
    # The driver is whole, but nobody ran `nvidia-ctk cdi generate`.
    run = run_suite(tmp_path, "--cluster=sim-no-cdi")
    verdict = _no_ready_plugin(run, "gpu-nocdi-0")
    assert "container-runtime" in verdict["reason"] and "CDI spec" in verdict["reason"], verdict
    assert "nvidia-ctk cdi generate" in verdict["fix"], verdict


def test_a_driver_that_finds_no_gpu(tmp_path: Path):
    # The driver finds 0 GPUs: the real nvidia-ctk then writes no spec either (`invalid
    # device, empty device edits`), so the node's components print the same CDI error as
    # above; the node probe runs the driver root's own nvidia-smi, which finds no GPU, and
    # the verdict names the driver, the first broken layer.
    run = run_suite(tmp_path, "--cluster=sim-no-devices")
    verdict = _no_ready_plugin(run, "gpu-nodev-0")
    assert "driver on gpu-nodev-0" in verdict["reason"], verdict
    assert "nvidia-smi finds no GPU" in verdict["reason"], verdict
    assert "No devices were found" in _diagnostics(run)


def _no_ready_plugin(run: SuiteRun, node: str) -> dict:
    """The verdict of a run where `node`'s plugin never became Ready (no CDI spec
    on the node: the real runtime's error is in containerd's event on the plugin pod)."""
    verdict, rows = _not_conformant(run)
    assert _failed(run) == ["test_daemonset_is_ready_on_every_gpu_node"], run.output[-3000:]
    assert f"no Ready plugin pod on {node}" in _failure(run, _failed(run)[0])
    assert "unresolvable CDI devices nvidia.com/gpu=all" in _diagnostics(run)
    assert rows[node]["gpus_advertised"] == 0 and not rows[node]["healthy"]
    assert rows["gpu-node-0"]["gpus_advertised"] == 8
    return verdict


def test_an_image_that_is_not_there(tmp_path: Path):
    run = run_suite(tmp_path, "--cluster=sim-missing-image")
    verdict, _ = _not_conformant(run)
    # Every check whose pod uses the workload image fails, the others pass.
    assert _failed(run) == [
        "test_gpu_pod_runs_and_sees_exactly_its_gpu",
        "test_advertised_driver_and_cuda_versions_match_nvidia_smi",
        "test_pod_without_gpu_request_sees_no_gpu",
    ], run.output[-3000:]
    assert "could not be pulled" in verdict["reason"], verdict
    # The image is the workload's (NVIDIA's CUDA base image), not the plugin's.
    assert verdict["reason"].startswith("first broken layer: workload"), verdict
    # The real kubelet's reason, with the reference it could not pull.
    evidence = _diagnostics(run)
    assert "ErrImagePull" in evidence or "ImagePullBackOff" in evidence
    assert "nvcr.io/nvidia/cuda:12.8.0-base-ubuntu-24.04" in evidence


def test_a_plugin_config_it_cannot_parse(tmp_path: Path):
    run = run_suite(tmp_path, "--cluster=sim-bad-config")
    verdict, rows = _not_conformant(run)
    # The chart's plugin container has no readiness probe: between its start and its exit on
    # the config it is Running, so Ready, and the readiness check may count it (then the
    # advertise check fails: it never registers).
    assert _failed(run) in (
        ["test_daemonset_is_ready_on_every_gpu_node"],
        ["test_every_gpu_node_advertises_its_gpus"],
    ), run.output[-3000:]
    assert "rejects its configuration" in verdict["reason"], verdict
    assert "unable to load config" in _plugin_logs(run)
    assert rows["gpu-node-0"]["gpus_advertised"] == 0


def _plugin_logs(run: SuiteRun) -> str:
    logs = (run.report_dir / "diagnostics").glob("pod-*/nvidia-device-plugin-ctr*.log")
    return "\n".join(p.read_text() for p in logs)
