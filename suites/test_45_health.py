"""Step 6 - health: after the workloads, no GPU went unhealthy (an Xid, a GPU lost to the driver).

The device plugin health-checks every GPU for the whole run and reports a critical Xid by
marking the device Unhealthy; kubelet then keeps it in the node's capacity but not in its
allocatable. A GPU can fail after the advertise step passed, so this looks again at the end.
"""

from __future__ import annotations

import pytest

from gpuconform.plugin_waits import nodes_selector
from gpuconform.readiness import unhealthy_note

# The plugin's log (the Xid it saw), the workloads that ran, the node's driver.
pytestmark = pytest.mark.step(
    "health",
    needs=["preflight", "install", "readiness", "advertise"],
    evidence=["plugin", "workload", "nodes", "node-probe"],
)


def test_no_gpu_went_unhealthy_during_the_run(run, installed_release, gpu_nodes):
    names = {n.metadata.name for n in gpu_nodes}
    nodes = run.kube.core.list_node(label_selector=nodes_selector(run, gpu_nodes)).items
    unhealthy = []
    for node in (n for n in nodes if n.metadata.name in names):
        # What the node advertises, by resource: its pool's (gpuconform/fleet.py).
        want = run.fleet.expectation(node)
        unhealthy += [
            f"{node.metadata.name}: {resource}{note}"
            for resource in want.resources or {want.resource: None}
            if (note := unhealthy_note(node, resource))
        ]
    assert not unhealthy, (
        "the device plugin marked GPUs Unhealthy (kubelet holds them back from scheduling): "
        + "; ".join(unhealthy)
    )
