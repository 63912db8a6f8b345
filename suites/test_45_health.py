"""Step 6 - health: after the workloads, no GPU went unhealthy (an Xid, a GPU lost to the driver).

The device plugin health-checks every GPU for the whole run and reports a critical Xid by
marking the device Unhealthy; kubelet then keeps it in the node's capacity but not in its
allocatable. A GPU can fail after the advertise step passed, so this looks again at the end.
"""

from __future__ import annotations

import pytest

from gpuconform.readiness import unhealthy_note

pytestmark = pytest.mark.step("health", needs=["preflight", "install", "readiness", "advertise"])


def test_no_gpu_went_unhealthy_during_the_run(run, installed_release, gpu_nodes):
    selector = run.profile.gpu_selector or None
    names = {n.metadata.name for n in gpu_nodes}
    nodes = [n for n in run.kube.core.list_node(label_selector=selector).items]
    resources = list(run.profile.expected_resources() or {run.profile.gpu_resource: None})
    unhealthy = [
        f"{node.metadata.name}: {resource}{note}"
        for node in nodes
        if node.metadata.name in names
        for resource in resources
        if (note := unhealthy_note(node, resource))
    ]
    assert not unhealthy, (
        "the device plugin marked GPUs Unhealthy (kubelet holds them back from scheduling): "
        + "; ".join(unhealthy)
    )
