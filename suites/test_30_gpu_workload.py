"""Step 4 - GPU workload: a pod asking for one GPU runs and sees exactly that GPU."""

from __future__ import annotations

import pytest

from gpuconform.gfd_versions import CUDA, DRIVER, advertised, advertises_versions, mismatches
from gpuconform.smi_query import parse_query_report
from gpuconform.workload import (
    LISTING_CONTAINER,
    create_gpu_pod,
    wait_pod_finished,
    wait_pod_running,
)

# The GPU pod, its log and events; the plugin that gave it a GPU; the node's stack.
pytestmark = pytest.mark.step(
    "workload",
    needs=["preflight", "install", "readiness", "advertise"],
    evidence=["plugin", "workload", "nodes", "node-probe"],
)


def test_gpu_pod_runs_and_sees_exactly_its_gpu(run, installed_release, pool, request):
    if run.profile.kind:
        pytest.skip("kind has no GPUs: the workload check cannot run there")
    name = pool.pod_name("gpu-workload")
    # Pinned to the pool's nodes: another pool or an autoscaled node cannot satisfy it.
    list_gpus = run.profile.workload_pod.list_gpus
    create_gpu_pod(
        run,
        name,
        gpus=1,
        command=run.profile.workload_command,
        nodes=pool.names,
        list_gpus=list_gpus,
        resource=pool.pool.gpu_resource,
    )
    outcome = wait_pod_finished(run, name, run.profile.timeouts["workload"])
    # What the pod printed goes into the report, passed or not: the run's own evidence.
    request.node.add_report_section("call", "GPU pod output", outcome.report_text())
    if list_gpus:
        # Listed before the workload ran, in the pod's init container, on the same devices.
        assert outcome.listing_exit_code == 0, (
            f"GPU pod {name} on {outcome.node} could not list its GPUs (init container "
            f"{LISTING_CONTAINER}: nvidia-smi -L, exit {outcome.listing_exit_code}):\n"
            f"{(outcome.listing or '')[-1000:]}"
        )
        assert len(outcome.listed_uuids) == 1, (
            f"asked for 1 GPU but the pod saw {len(outcome.listed_uuids)}: {outcome.listing}"
        )
    assert outcome.phase == "Succeeded" and outcome.exit_code == 0, (
        f"GPU pod {name} on {outcome.node} ended {outcome.phase} with exit code "
        f"{outcome.exit_code}; output:\n{outcome.logs[-2000:]}"
    )
    if run.profile.workload_expect:
        assert run.profile.workload_expect in outcome.logs, (
            f"GPU pod output lacks {run.profile.workload_expect!r}:\n{outcome.logs[-2000:]}"
        )
    if outcome.gpu_uuids:
        assert len(outcome.gpu_uuids) == 1, (
            f"asked for 1 GPU but the pod saw {len(outcome.gpu_uuids)}: {outcome.gpu_uuids}"
        )
    if outcome.gpu_uuids and list_gpus:
        assert outcome.gpu_uuids == outcome.listed_uuids, (
            f"the workload saw {outcome.gpu_uuids}, its listing {outcome.listed_uuids}"
        )
    seen = outcome.listed_uuids or outcome.gpu_uuids
    run.facts.gpu_pods[pool.where] = f"ran on {outcome.node}, saw {seen or 'its GPU'}"


def test_advertised_driver_and_cuda_versions_match_nvidia_smi(run, installed_release, pool):
    """AI Conformance driver_runtime_management, device-plugin path: the versions a node's
    GPU feature discovery labels advertise, against nvidia-smi -q in a GPU container there;
    one pod per distinct set of advertised versions (a half-done driver upgrade shows)."""
    if run.profile.kind:
        pytest.skip("kind has no GPUs: no versions to compare")
    # Read now, not at the gate: GFD labels a node after the install.
    labels = {n: run.kube.core.read_node(n).metadata.labels or {} for n in pool.names}
    by_versions: dict[tuple, str] = {}
    for node in pool.names:
        if advertises_versions(labels[node]):
            key = tuple(advertised(labels[node], prefix) for prefix in (DRIVER, CUDA))
            by_versions.setdefault(key, node)
    if not by_versions:
        pytest.skip(
            f"no GPU node{pool.where} advertises driver or CUDA versions: GPU feature discovery "
            "(nvidia.com/cuda.driver-version.*, nvidia.com/cuda.runtime-version.*) is not "
            "deployed (the chart's gfd.enabled=true deploys it)"
        )
    wrong = []
    for node in by_versions.values():
        name = pool.pod_name(f"gpu-versions-{node}")[:63]
        create_gpu_pod(
            run, name, gpus=1, command=["nvidia-smi", "-q"], nodes=[node],
            resource=pool.pool.gpu_resource,
        )  # fmt: skip
        outcome = wait_pod_finished(run, name, run.profile.timeouts["workload"])
        try:
            report = parse_query_report(outcome.logs)
        except ValueError as err:
            pytest.fail(f"nvidia-smi -q in GPU pod {name} on {node} ({outcome.phase}): {err}")
        wrong += [f"{node}: {m}" for m in mismatches(labels[node], report)]
    assert not wrong, (
        f"nodes advertise versions their GPU containers do not see: {'; '.join(wrong)} "
        "(fix: restart gpu-feature-discovery on the node after a driver upgrade)"
    )


def test_a_shared_gpu_runs_two_pods_at_once(run, installed_release, pool):
    """Sharing proven, not assumed: more one-slice pods on one node than it has physical GPUs,
    all running at the same time - so at least two of them share a GPU."""
    replicas = pool.pool.sharing_replicas
    if not replicas or replicas < 2:
        pytest.skip(f"the profile configures no GPU sharing{pool.where} (sharing.replicas)")
    if not pool.nodes:
        pytest.skip(f"no GPU node{pool.where}")
    # The node's physical GPUs: the profile's, its label's or its probe's (never advertised).
    per_node = run.fleet.expectation(pool.nodes[0]).gpus
    if not per_node:
        pytest.skip(
            f"sharing needs to know how many GPUs the node has{pool.where}: give "
            "gpu_nodes.gpus_per_node, or a nvidia.com/gpu.count label, or allow node probes"
        )
    node = pool.nodes[0].metadata.name
    names = [pool.pod_name(f"gpu-shared-{i}") for i in range(per_node + 1)]
    for name in names:
        create_gpu_pod(
            run,
            name,
            gpus=1,
            command=["sleep", "3600"],
            restart="Always",
            nodes=[node],
            resource=pool.pool.gpu_resource,
        )
    for name in names:
        wait_pod_running(run, name, run.profile.timeouts["workload"])
    pods = {
        p.metadata.name: p
        for p in run.kube.core.list_namespaced_pod(run.identity.workload_namespace).items
        if p.metadata.name in names
    }
    running = [
        n for n, p in pods.items() if p.status.phase == "Running" and p.spec.node_name == node
    ]
    for name in names:
        run.kube.core.delete_namespaced_pod(
            name, run.identity.workload_namespace, grace_period_seconds=0
        )
    assert len(running) == len(names), (
        f"only {len(running)} of {len(names)} one-slice pods ran together on {node}, "
        f"which has {per_node} GPUs: {sorted(set(names) - set(running))} did not"
    )
    run.facts.gpu_sharing[pool.where] = (
        f"{len(names)} pods at once on the {per_node} GPUs of {node}"
    )
