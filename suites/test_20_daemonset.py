"""Step 3 - readiness: the device plugin runs on every GPU node; then the GPUs are advertised."""

from __future__ import annotations

import pytest

from gpuconform.plugin_waits import (
    daemonset_pods,
    wait_for_daemonset_ready,
    wait_for_gpus_advertised,
)
from gpuconform.readiness import nodes_without_ready_pod

pytestmark = pytest.mark.step("readiness", needs=["preflight", "install"])


@pytest.fixture(scope="module")
def plugin_daemonsets(run, installed_release):
    found = installed_release.daemonsets()
    assert found, "no device-plugin DaemonSet found (container nvidia-device-plugin-ctr)"
    return found


def test_daemonset_is_ready_on_every_gpu_node(
    run, plugin_daemonsets, gpu_nodes, expected_gpu_node_count
):
    assert expected_gpu_node_count > 0, "the profile expects 0 GPU nodes: nothing to validate"
    for ds in plugin_daemonsets:
        ready = wait_for_daemonset_ready(run, ds, gpu_nodes, expected_gpu_node_count)
        pods = daemonset_pods(run, ready)
        # Counts can match with pods on the wrong nodes; each expected node must have its own.
        missing = nodes_without_ready_pod(pods, [n.metadata.name for n in gpu_nodes])
        assert not missing, f"no Ready device-plugin pod on {', '.join(missing)}"
        status = ready.status
        assert status.desired_number_scheduled == expected_gpu_node_count
        assert status.number_ready == status.desired_number_scheduled
        assert status.updated_number_scheduled == status.desired_number_scheduled


@pytest.mark.step("advertise", needs=["preflight", "install", "readiness"])
def test_every_gpu_node_advertises_its_gpus(run, plugin_daemonsets, gpu_nodes):
    advertised = wait_for_gpus_advertised(run, plugin_daemonsets[0], gpu_nodes)
    expected = run.profile.expected_resources()
    for node, counts in advertised.items():
        if expected:
            assert counts == expected, f"{node} advertises {counts}, expected {expected}"
        else:
            assert all(c > 0 for c in counts.values()), f"{node} advertises {counts}"
    run.facts["GPUs advertised"] = sum(sum(c.values()) for c in advertised.values())
