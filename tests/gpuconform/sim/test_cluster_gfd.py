"""GPU feature discovery through the chart's own `gfd.enabled`, with REAL components throughout.

NVIDIA's 0.20.0 chart installed by the real helm with `gfd.enabled=true` brings its nfd
subchart: the real gpu-feature-discovery (v0.20.0) reads the node's mock NVML and publishes a
NodeFeature object through the API server; Node Feature Discovery v0.19.0 (nfd-master,
nfd-worker, nfd-gc, built from the Go module proxy) turns it into node labels. Every one of
them reaches the API server with what kubelet gives a pod: a TokenRequest token, the CA and
KUBERNETES_SERVICE_HOST/PORT.

The simulated nodes start with a few GFD-style labels of their own (the chart's affinity needs
`nvidia.com/gpu.present`), so the test asserts labels only the real GFD writes.
"""

from __future__ import annotations

import subprocess

import pytest
from kubernetes import client, config

from gpuconform.sim import third_party, toolchain
from gpuconform.sim.kubelet import images
from gpuconform.wait import wait_for
from tests.fixtures.sim_cluster import own_cluster

pytestmark = pytest.mark.sim

NAMESPACE = "gfd"
# The chart's programs that must run as the real binaries.
REAL_PROGRAMS = {"gpu-feature-discovery", "nfd-master", "nfd-worker"}
# Written by the real GFD from NVML; the simulated nodes never carry these on their own.
GFD_ONLY = ("nvidia.com/gfd.timestamp", "nvidia.com/gpu.compute.major", "nvidia.com/mig.capable")


@pytest.fixture(scope="module")
def gfd_cluster():
    if third_party.nfd_binary("v0.19.0", "nfd-master") is None:
        reason = third_party.failed_build("v0.19.0", project=third_party.NFD)
        pytest.skip(f"Node Feature Discovery v0.19.0 could not be built here: {reason}")
    chart = third_party.chart_archive("0.20.0")
    assert chart is not None, f"{third_party.ENV_VAR}: no device-plugin chart 0.20.0"
    with own_cluster("gfd") as cluster:
        kubeconfig = str(cluster.paths.kubeconfig)
        helm = str(toolchain.require_binary("helm"))
        install = [helm, "--kubeconfig", kubeconfig, "install", "nvdp", str(chart)]
        install += ["--namespace", NAMESPACE, "--create-namespace", "--set", "gfd.enabled=true"]
        subprocess.run(install, check=True, capture_output=True, text=True, timeout=120)
        api = config.new_client_from_config(kubeconfig)
        yield client.CoreV1Api(api), client.CustomObjectsApi(api)


@pytest.fixture(scope="module")
def gfd_labelled_nodes(gfd_cluster) -> dict:
    """The GPU nodes once the real GFD's labels are on every one of them. Both tests wait for
    it, so either one also holds when it runs alone on a fresh cluster (`-k`, or a worker of
    its own)."""
    core, _ = gfd_cluster
    return wait_for(
        core.list_node,
        lambda ns: (
            all(all(k in (n.metadata.labels or {}) for k in GFD_ONLY) for n in ns.values()),
            "GFD labels missing",
        ),
        what="GFD's labels on every GPU node",
        timeout_s=120,
        label_selector="nvidia.com/gpu.present=true",
    )


def test_real_gfd_labels_every_gpu_node_through_real_nfd(gfd_cluster, gfd_labelled_nodes):
    core, custom = gfd_cluster
    nodes = gfd_labelled_nodes
    assert len(nodes) == 3
    for node in nodes.values():
        labels = node.metadata.labels
        # H200 (Hopper, compute capability 9.0), from the mock NVML's H200 profile.
        assert labels["nvidia.com/gpu.compute.major"] == "9"
        assert labels["nvidia.com/gpu.count"] == "8"
    cpu = core.read_node("cpu-node-0")
    assert "nvidia.com/gfd.timestamp" not in (cpu.metadata.labels or {})

    # GFD's own output object, which nfd-master turned into those labels.
    features = custom.list_namespaced_custom_object(
        "nfd.k8s-sigs.io", "v1alpha1", NAMESPACE, "nodefeatures"
    )["items"]
    names = {f["metadata"]["name"] for f in features}
    assert {f"nvidia-features-for-{name}" for name in nodes} <= names


def test_nfd_and_gfd_pods_run_the_real_programs(gfd_cluster, gfd_labelled_nodes):
    core, _ = gfd_cluster
    # The DaemonSets' pods appear one by one (CI saw no nfd-worker pod yet); a container's log
    # exists once it has started: wait for both.
    pods = wait_for(
        core.list_namespaced_pod, _programs_started, what="NFD's and GFD's containers to start",
        timeout_s=120, namespace=NAMESPACE,
    ).values()  # fmt: skip
    assert {p.name for p in _programs(pods)} >= REAL_PROGRAMS
    for gfd in _gfd_pods(pods):
        assert '"useNodeFeatureAPI": true' in core.read_namespaced_pod_log(
            gfd.metadata.name, NAMESPACE
        )
    master = next(p for p in pods if "discovery-master" in p.metadata.name)
    log = core.read_namespaced_pod_log(master.metadata.name, NAMESPACE)
    for node in gfd_labelled_nodes:
        assert f'"node updated" nodeName="{node}"' in log


def _programs(pods) -> set:
    return {
        program
        for pod in pods
        for c in pod.spec.containers
        if (program := images.real_program(c.image, list(c.command or [])))
    }


def _gfd_pods(pods) -> list:
    return [p for p in pods if "gpu-feature-discovery" in p.metadata.name]


def _started(pod) -> bool:
    statuses = pod.status.container_statuses or []
    return any(c.state and (c.state.running or c.state.terminated) for c in statuses)


def _programs_started(pods: dict) -> tuple[bool, str]:
    names = {p.name for p in _programs(pods.values())}
    gfd = _gfd_pods(pods.values())
    waiting = [p.metadata.name for p in gfd if not _started(p)]
    done = names >= REAL_PROGRAMS and bool(gfd) and not waiting
    return done, f"programs {sorted(names)}, GFD pods not started: {waiting}"
