"""Readiness judgements over API objects (the kubernetes client's own models, no cluster)."""

from __future__ import annotations

from kubernetes import client

from gpuconform.readiness import (
    current_pods,
    explain_shortfall,
    nodes_without_ready_pod,
    own_pod_stuck_reason,
    owned_by,
    stuck_reason,
    unhealthy_note,
    untolerated_taints,
)
from tests.gpuconform.report.fakes import node


def daemonset(uid: str = "ds-uid", generation: int = 2, template: int = 2) -> client.V1DaemonSet:
    annotations = {"deprecated.daemonset.template.generation": str(template)}
    return client.V1DaemonSet(
        metadata=client.V1ObjectMeta(
            name="plugin", uid=uid, generation=generation, annotations=annotations
        ),
        spec=client.V1DaemonSetSpec(
            selector=client.V1LabelSelector(),
            template=client.V1PodTemplateSpec(spec=client.V1PodSpec(containers=[])),
        ),
    )


def pod(
    name: str,
    node: str,
    owner_uid: str = "ds-uid",
    ready: bool = True,
    generation: str | None = "2",
    waiting: str | None = None,
) -> client.V1Pod:
    labels = {"app.kubernetes.io/name": "nvidia-device-plugin"}
    if generation is not None:
        labels["pod-template-generation"] = generation
    owner = client.V1OwnerReference(
        api_version="apps/v1", kind="DaemonSet", name="x", uid=owner_uid, controller=True
    )
    state = client.V1ContainerState(
        waiting=client.V1ContainerStateWaiting(reason=waiting, message="not found")
        if waiting
        else None
    )
    status = client.V1ContainerStatus(
        name="ctr", image="i", image_id="", ready=ready, restart_count=0, state=state
    )
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, labels=labels, owner_references=[owner]),
        spec=client.V1PodSpec(node_name=node, containers=[]),
        status=client.V1PodStatus(
            conditions=[client.V1PodCondition(type="Ready", status="True" if ready else "False")],
            container_statuses=[status],
        ),
    )


def test_pods_count_by_controller_uid_not_by_labels():
    ds = daemonset()
    # The chart's GFD DaemonSet's pod carries exactly the plugin's labels.
    gfd_pod = pod("gfd", "gpu-0", owner_uid="gfd-uid")
    mine = pod("plugin", "gpu-0")
    assert owned_by(mine, ds) and not owned_by(gfd_pod, ds)
    assert current_pods(ds, [mine, gfd_pod]) == [mine]


def test_pods_of_an_old_template_are_not_current():
    ds = daemonset(generation=3, template=3)
    old, new = pod("old", "gpu-0", generation="2"), pod("new", "gpu-1", generation="3")
    assert current_pods(ds, [old, new]) == [new]


def test_a_change_outside_the_template_keeps_the_pods_current():
    # e.g. an edited updateStrategy: metadata.generation moves, the template generation not.
    ds = daemonset(generation=5, template=2)
    assert current_pods(ds, [pod("p", "gpu-0", generation="2")])


def test_counts_can_match_with_pods_on_the_wrong_nodes():
    pods = [pod("a", "gpu-0"), pod("b", "cpu-0"), pod("c", "gpu-1", ready=False)]
    assert nodes_without_ready_pod(pods, ["gpu-0", "gpu-1", "gpu-2"]) == ["gpu-1", "gpu-2"]


def test_stuck_reasons_end_a_wait_but_crash_loops_do_not():
    assert stuck_reason(pod("a", "n", waiting="ImagePullBackOff")) == "ImagePullBackOff: not found"
    assert stuck_reason(pod("a", "n", waiting="CreateContainerConfigError")).startswith(
        "CreateContainerConfigError"
    )
    assert stuck_reason(pod("a", "n", waiting="CrashLoopBackOff")) is None
    assert stuck_reason(pod("a", "n")) is None


def test_a_test_pod_whose_cdi_device_no_spec_names_is_stuck_a_crash_loop_is_not():
    # What the real containerd said for a DRA claim's pod on a node that reads /etc/cdi only
    # (tests/suites/test_dra_runs.py, the cdi-dirs node profile).
    unresolvable = pod("a", "n", waiting="CreateContainerError")
    unresolvable.status.container_statuses[0].state.waiting.message = (
        "failed to create containerd container: CDI device injection failed: "
        "unresolvable CDI devices k8s.gpu.nvidia.com/claim=abc-gpu-0"
    )
    assert own_pod_stuck_reason(unresolvable).startswith(
        "CreateContainerError: failed to create containerd container"
    )
    assert stuck_reason(unresolvable) is None  # a plugin's own pod: readiness judges it
    assert own_pod_stuck_reason(pod("a", "n", waiting="ImagePullBackOff")).startswith("ImagePull")
    assert own_pod_stuck_reason(pod("a", "n", waiting="CreateContainerError")) is None
    assert own_pod_stuck_reason(pod("a", "n", waiting="CrashLoopBackOff")) is None


def tainted_node(*taints: client.V1Taint) -> client.V1Node:
    return client.V1Node(
        metadata=client.V1ObjectMeta(name="gpu-l40s-0", labels={}),
        spec=client.V1NodeSpec(taints=list(taints)),
        status=client.V1NodeStatus(allocatable={}),
    )


def test_a_taint_the_plugin_does_not_tolerate_explains_why_no_pod_came():
    ds = daemonset()
    ds.spec.template.spec.tolerations = [
        client.V1Toleration(key="nvidia.com/gpu", operator="Exists", effect="NoSchedule")
    ]
    sku = client.V1Taint(key="sku", value="gpu", effect="NoSchedule")
    tolerated = client.V1Taint(key="nvidia.com/gpu", value="present", effect="NoSchedule")
    soft = client.V1Taint(key="spot", value="true", effect="PreferNoSchedule")
    assert untolerated_taints(ds, tainted_node(tolerated, soft)) == []
    node = tainted_node(tolerated, sku)
    assert untolerated_taints(ds, node) == ["sku=gpu:NoSchedule"]
    assert explain_shortfall(ds, [node], [], {}) == [
        "gpu-l40s-0: no device-plugin pod wanted - the plugin's pods do not tolerate the "
        "node's taint sku=gpu:NoSchedule"
    ]
    # Tolerating every taint (operator Exists without a key) leaves nothing to blame.
    ds.spec.template.spec.tolerations = [client.V1Toleration(operator="Exists")]
    assert untolerated_taints(ds, node) == []
    assert explain_shortfall(ds, [node], [], {}) == ["gpu-l40s-0: no device-plugin pod scheduled"]


def test_taints_the_daemonset_controller_tolerates_for_every_pod_blame_nothing():
    # A node that went NotReady (or cordoned, or under disk pressure) still gets its plugin
    # pod: the DaemonSet controller adds these tolerations to every pod it creates.
    ds = daemonset()
    ds.spec.template.spec.tolerations = []
    for key, effect in (
        ("node.kubernetes.io/not-ready", "NoExecute"),
        ("node.kubernetes.io/unreachable", "NoExecute"),
        ("node.kubernetes.io/unschedulable", "NoSchedule"),
        ("node.kubernetes.io/disk-pressure", "NoSchedule"),
    ):
        assert untolerated_taints(ds, tainted_node(client.V1Taint(key=key, effect=effect))) == []
    # network-unavailable only for pods on the host's network.
    unavailable = tainted_node(
        client.V1Taint(key="node.kubernetes.io/network-unavailable", effect="NoSchedule")
    )
    assert untolerated_taints(ds, unavailable) == [
        "node.kubernetes.io/network-unavailable:NoSchedule"
    ]
    ds.spec.template.spec.host_network = True
    assert untolerated_taints(ds, unavailable) == []


def test_unhealthy_note_reads_capacity_against_allocatable():
    assert unhealthy_note(node("n", {}, gpus=7, unhealthy=1)) == " (1 of 8 unhealthy)"
    assert unhealthy_note(node("n", {}, gpus=8)) == ""
    assert unhealthy_note(node("n", {})) == ""
