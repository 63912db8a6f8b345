"""Step 7 - upgrade (only with --upgrade-from): helm upgrade rolls the plugin without harm.

The run installed the --upgrade-from version; this step upgrades to the profile's (or
--chart-version's) target and verifies the rollout: every DaemonSet pod replaced, GPUs
advertised on the same nodes, a GPU pod started before still Running, a new one runs.
"""

from __future__ import annotations

import pytest

from gpuconform.plugin_waits import (
    daemonset_pods,
    wait_for_daemonset_ready,
    wait_for_gpus_advertised,
)
from gpuconform.workload import create_gpu_pod, wait_pod_finished, wait_pod_running

# The rolled-out plugin pods and their events, the GPU pods kept running, the nodes.
pytestmark = pytest.mark.step(
    "upgrade",
    needs=["preflight", "install", "readiness", "advertise"],
    evidence=["plugin", "workload", "nodes", "node-probe"],
)


def test_upgrade_rolls_out_and_gpu_pods_keep_running(
    run, installed_release, gpu_nodes, expected_gpu_node_count
):
    source = run.profile.upgrade_from
    if not source:
        pytest.skip("no --upgrade-from given: nothing to upgrade")
    target = run.profile.chart.version or "(latest)"
    if run.profile.upgrade_set:
        target += f" (--set {','.join(run.profile.upgrade_set)})"
    before = installed_release.daemonsets()
    pods_before = {p.metadata.uid for ds in before for p in daemonset_pods(run, ds)}
    advertised_before = wait_for_gpus_advertised(run, before[0], gpu_nodes)
    create_gpu_pod(run, "gpu-long-running", gpus=1, command=["sleep", "infinity"], restart="Always")
    wait_pod_running(run, "gpu-long-running", run.profile.timeouts["workload"])

    installed_release.upgrade()
    run.facts.upgraded = f"{source} -> {installed_release.chart_installed}"
    for ds in installed_release.daemonsets():
        try:
            rolled = wait_for_daemonset_ready(run, ds, gpu_nodes, expected_gpu_node_count)
        except AssertionError as err:
            raise AssertionError(
                f"the upgrade {source} -> {target} broke the rollout: {err}"
            ) from None
        pods = daemonset_pods(run, rolled)
        kept = [p.metadata.name for p in pods if p.metadata.uid in pods_before]
        assert not kept, f"plugin pods not replaced by the upgrade to {target}: {kept}"
        assert len(pods) == rolled.status.desired_number_scheduled
    advertised_after = wait_for_gpus_advertised(run, before[0], gpu_nodes)
    assert advertised_after == advertised_before, (
        f"GPUs advertised changed across the upgrade {source} -> {target}: "
        f"{advertised_before} -> {advertised_after}"
    )
    survivor = run.kube.core.read_namespaced_pod(
        "gpu-long-running", run.identity.workload_namespace
    )
    assert survivor.status.phase == "Running", (
        f"a GPU pod started before the upgrade is {survivor.status.phase} after it"
    )
    create_gpu_pod(run, "gpu-after-upgrade", gpus=1, command=run.profile.workload_command)
    outcome = wait_pod_finished(run, "gpu-after-upgrade", run.profile.timeouts["workload"])
    assert outcome.phase == "Succeeded", (
        f"a new GPU pod after the upgrade ended {outcome.phase} on {outcome.node}:\n"
        f"{outcome.logs[-2000:]}"
    )
