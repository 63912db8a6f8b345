"""Step 5 - scheduling: GPUs are a real, limited resource and invisible without a request."""

from __future__ import annotations

import pytest

from gpuconform.readiness import allocatable_gpus
from gpuconform.workload import create_gpu_pod, wait_failed_scheduling, wait_pod_finished

pytestmark = pytest.mark.step(
    "scheduling", needs=["preflight", "install", "readiness", "advertise"]
)


def test_over_request_stays_pending_with_insufficient_gpus(run, installed_release, gpu_nodes):
    most = max((allocatable_gpus(n) for n in run.kube.core.list_node().items), default=0)
    name = "gpu-over-request"
    create_gpu_pod(run, name, gpus=most + 1, command=["sleep", "1"], expect_failure=True)
    message = wait_failed_scheduling(run, name, run.profile.timeouts["workload"])
    run.kube.core.delete_namespaced_pod(name, run.workload_namespace, grace_period_seconds=0)
    assert "Insufficient nvidia.com/gpu" in message, (
        f"pod asking for {most + 1} GPUs was rejected for another reason: {message}"
    )


def test_pod_without_gpu_request_sees_no_gpu(run, installed_release):
    if run.profile.kind:
        pytest.skip("kind has no GPUs: nothing could leak into a pod there")
    name = "no-gpu-request"
    # Expected to fail (nvidia-smi finds no GPU): not evidence for other failures' diagnoses.
    create_gpu_pod(run, name, gpus=0, command=["nvidia-smi", "-L"], expect_failure=True)
    outcome = wait_pod_finished(run, name, run.profile.timeouts["workload"])
    assert not outcome.gpu_uuids, (
        f"a pod without an nvidia.com/gpu request saw GPUs {outcome.gpu_uuids} - the NVIDIA "
        "runtime exposes devices outside the scheduler (NVIDIA_VISIBLE_DEVICES=all in the "
        "image with nvidia as the default runtime; see the plugin's deviceListStrategy)"
    )
