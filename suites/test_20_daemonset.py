"""Step 3 - readiness: the device plugin runs on every GPU node; then the GPUs are advertised."""

from __future__ import annotations

import pytest

from gpuconform.plugin_waits import wait_for_daemonset_ready, wait_for_gpus_advertised

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
        status = ready.status
        assert status.desired_number_scheduled == expected_gpu_node_count
        assert status.number_ready == status.desired_number_scheduled
        assert status.updated_number_scheduled == status.desired_number_scheduled


@pytest.mark.step("advertise", needs=["preflight", "install", "readiness"])
def test_every_gpu_node_advertises_its_gpus(run, plugin_daemonsets, gpu_nodes):
    advertised = wait_for_gpus_advertised(run, plugin_daemonsets[0], gpu_nodes)
    expected = run.profile.gpus_per_node
    for node, count in advertised.items():
        assert count == expected if expected else count > 0, f"{node} advertises {count} GPUs"
    run.facts["GPUs advertised"] = sum(advertised.values())
