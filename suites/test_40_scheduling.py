"""Step 5 - scheduling: GPUs are a real, limited resource and invisible without a request."""

from __future__ import annotations

import pytest

from gpuconform.readiness import allocatable_gpus
from gpuconform.workload import create_gpu_pod, wait_failed_scheduling, wait_pod_finished

# The test pods and their events; the plugin's config; the node's runtime config.
pytestmark = pytest.mark.step(
    "scheduling",
    needs=["preflight", "install", "readiness", "advertise"],
    evidence=["plugin", "workload", "nodes", "node-probe"],
)


def test_over_request_stays_pending_with_insufficient_gpus(run, installed_release, gpu_nodes):
    resource = run.profile.gpu_resource
    most = max((allocatable_gpus(n, resource) for n in run.kube.core.list_node().items), default=0)
    name = "gpu-over-request"
    nodes = [n.metadata.name for n in gpu_nodes]
    create_gpu_pod(
        run, name, gpus=most + 1, command=["sleep", "1"], expect_failure=True, nodes=nodes
    )
    message = wait_failed_scheduling(run, name, run.profile.timeouts["workload"])
    run.kube.core.delete_namespaced_pod(
        name, run.identity.workload_namespace, grace_period_seconds=0
    )
    assert f"Insufficient {resource}" in message, (
        f"pod asking for {most + 1} {resource} was rejected for another reason: {message}"
    )


# Runs nvidia-smi where it exists and says so either way, then exits 0: the pod proves it ran
# before "it saw no GPU" counts for anything.
NO_GPU_COMMAND = [
    "sh",
    "-c",
    "echo gpuconform: listing GPUs; nvidia-smi -L 2>&1 || echo gpuconform: nvidia-smi failed; "
    "echo gpuconform: done",
]


def test_pod_without_gpu_request_sees_no_gpu(run, installed_release, gpu_nodes):
    if run.profile.kind:
        pytest.skip("kind has no GPUs: nothing could leak into a pod there")
    name = "no-gpu-request"
    nodes = [n.metadata.name for n in gpu_nodes]
    # Marked expected-failure: its "no GPU" output is no evidence for other failures.
    create_gpu_pod(run, name, gpus=0, command=NO_GPU_COMMAND, expect_failure=True, nodes=nodes)
    outcome = wait_pod_finished(run, name, run.profile.timeouts["workload"])
    assert outcome.phase == "Succeeded" and outcome.exit_code == 0, (
        f"the no-GPU pod did not run to completion ({outcome.phase}, exit {outcome.exit_code}): "
        f"{outcome.logs[-500:]}"
    )
    assert "gpuconform: done" in outcome.logs, (
        f"the no-GPU pod's output is missing: {outcome.logs!r}"
    )
    assert not outcome.gpu_uuids, (
        f"a pod without an nvidia.com/gpu request saw GPUs {outcome.gpu_uuids} - the NVIDIA "
        "runtime exposes devices outside the scheduler (NVIDIA_VISIBLE_DEVICES=all in the "
        "image with nvidia as the default runtime; see the plugin's deviceListStrategy)"
    )
