"""Step 3 - readiness: the device plugin runs on every GPU node; then the GPUs are advertised."""

from __future__ import annotations

import pytest

from gpuconform.fleet import resolve_expectations
from gpuconform.plugin_waits import (
    daemonset_pods,
    wait_for_daemonset_ready,
    wait_for_gpus_advertised,
)
from gpuconform.readiness import nodes_without_ready_pod

# The plugin's pods, their logs and events; the nodes without one, as seen and probed.
pytestmark = pytest.mark.step(
    "readiness",
    needs=["preflight", "install"],
    evidence=["plugin", "nodes", "node-probe"],
)


@pytest.fixture(scope="module")
def plugin_daemonsets(run, installed_release):
    found = installed_release.daemonsets()
    assert found, "no device-plugin DaemonSet found (container nvidia-device-plugin-ctr)"
    return found


def test_daemonset_is_ready_on_every_gpu_node(run, plugin_daemonsets, pool):
    expected = pool.expected_count
    assert expected > 0, f"the profile expects 0 GPU nodes{pool.where}: nothing to validate"
    # One pool of several is judged by its own nodes; the DaemonSet's counts are the fleet's.
    single = len(run.fleet.pools) == 1
    for ds in plugin_daemonsets:
        ready = wait_for_daemonset_ready(run, ds, pool.nodes, expected if single else None)
        pods = daemonset_pods(run, ready)
        # Counts can match with pods on the wrong nodes; each expected node must have its own.
        missing = nodes_without_ready_pod(pods, pool.names)
        assert not missing, f"no Ready device-plugin pod on {', '.join(missing)}{pool.where}"
        if single:
            status = ready.status
            assert status.desired_number_scheduled == expected
            assert status.number_ready == status.desired_number_scheduled
            assert status.updated_number_scheduled == status.desired_number_scheduled


@pytest.mark.step(
    "advertise",
    needs=["preflight", "install", "readiness"],
    evidence=["plugin", "nodes", "node-probe"],
)
def test_every_gpu_node_advertises_its_gpus(run, plugin_daemonsets, pool):
    # Where the profile states no GPUs per node: the node's label, else its probe.
    expected = resolve_expectations(run, pool)
    advertised = wait_for_gpus_advertised(run, plugin_daemonsets[0], pool.nodes)
    for node, counts in advertised.items():
        want = expected[node]
        if want.resources:
            assert counts == want.resources, (
                f"{node}{pool.where} advertises {counts}, expected {want.describe()}"
            )
        else:
            assert all(c > 0 for c in counts.values()), f"{node}{pool.where} advertises {counts}"
    total = sum(sum(c.values()) for c in advertised.values())
    run.facts.gpus_advertised = (run.facts.gpus_advertised or 0) + total
