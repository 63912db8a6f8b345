"""Step 4 - GPU workload: a pod asking for one GPU runs and sees exactly that GPU."""

from __future__ import annotations

import pytest

from gpuconform.workload import create_gpu_pod, wait_pod_finished

pytestmark = pytest.mark.step("workload", needs=["preflight", "install", "readiness", "advertise"])


def test_gpu_pod_runs_and_sees_exactly_its_gpu(run, installed_release):
    if run.profile.kind:
        pytest.skip("kind has no GPUs: the workload check cannot run there")
    name = "gpu-workload"
    create_gpu_pod(run, name, gpus=1, command=run.profile.workload_command)
    outcome = wait_pod_finished(run, name, run.profile.timeouts["workload"])
    assert outcome.phase == "Succeeded" and outcome.exit_code == 0, (
        f"GPU pod {name} on {outcome.node} ended {outcome.phase} with exit code "
        f"{outcome.exit_code}; output:\n{outcome.logs[-2000:]}"
    )
    if run.profile.workload_expect:
        assert run.profile.workload_expect in outcome.logs, (
            f"GPU pod output lacks {run.profile.workload_expect!r}:\n{outcome.logs[-2000:]}"
        )
    if outcome.gpu_uuids or "nvidia-smi" in " ".join(run.profile.workload_command or []):
        assert len(outcome.gpu_uuids) == 1, (
            f"asked for 1 GPU but the pod saw {len(outcome.gpu_uuids)}: {outcome.gpu_uuids}"
        )
    run.facts["GPU pod"] = f"ran on {outcome.node}, saw {outcome.gpu_uuids or 'its GPU'}"
