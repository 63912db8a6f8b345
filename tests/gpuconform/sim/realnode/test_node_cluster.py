"""A real GPU node end to end: NVIDIA's v0.20.0 chart, unchanged, runs its plugin from the
imported image on a real kubelet; the node advertises nvidia.com/gpu; a GPU pod gets exactly
one GPU through CDI. Only the GPUs are simulated (mock NVML, device nodes without a driver)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from kubernetes import client

from gpuconform.sim import third_party
from gpuconform.wait import wait_for
from tests.fixtures.real_cluster import wait_no_device_plugin_gpus

NODE = "real-gpu-0"
STRICT_NODE = "real-strict-0"  # accept-nvidia-visible-devices-envvar-when-unprivileged = false
PLUGIN_IMAGE = "nvcr.io/nvidia/k8s-device-plugin:v0.20.0"
CUDA_IMAGE = "nvcr.io/nvidia/cuda:12.8.0-base-ubuntu24.04"
NAMESPACE = "default"
TOLERATE_GPU = [client.V1Toleration(key="nvidia.com/gpu", operator="Exists", effect="NoSchedule")]


def _pod(
    name: str, image: str, command: list[str], gpus: int = 0, node: str = NODE
) -> client.V1Pod:
    limits = {"nvidia.com/gpu": str(gpus)} if gpus else None
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1PodSpec(
            restart_policy="Never",
            node_name=node,
            tolerations=TOLERATE_GPU,
            containers=[
                client.V1Container(
                    name="c",
                    image=image,
                    command=command,
                    resources=client.V1ResourceRequirements(limits=limits),
                )
            ],
        ),
    )


def _phase_is(name: str, phases: set[str]):
    def condition(pods: dict) -> tuple[bool, str]:
        pod = pods.get(f"{NAMESPACE}/{name}")
        phase = pod.status.phase if pod else "absent"
        return phase in phases, f"{name} {phase}"

    return condition


def test_the_node_is_a_real_kubelet_on_containerd(real_core, real_cluster):
    node = real_core.read_node(NODE)
    info = node.status.node_info
    assert info.kubelet_version == "v1.34.4"
    assert info.container_runtime_version == "containerd://2.1.4"
    assert any(c.type == "Ready" and c.status == "True" for c in node.status.conditions)
    internal = [a.address for a in node.status.addresses if a.type == "InternalIP"]
    assert internal and not internal[0].startswith("127.")
    # Not a KWOK node: nothing in its labels or annotations says so.
    assert "kwok.x-k8s.io/node" not in (node.metadata.annotations or {})
    # The GPU labels NFD/GFD would set, given by its kubelet as the KWOK nodes get them.
    labels = node.metadata.labels
    assert labels["feature.node.kubernetes.io/pci-10de.present"] == "true"
    assert labels["nvidia.com/gpu.count"] == "2"
    assert labels["gpuconform.io/node-runtime"] == "real"


@pytest.fixture(scope="module")
def device_plugin(real_core, helm) -> Iterator[client.V1Pod]:
    """NVIDIA's chart 0.20.0, unchanged, installed; its plugin pod once it runs. Uninstalled
    after the module, and waited for until no node advertises its GPUs any more: the next
    module (test_dra_real_node.py) must not find both the plugin and DRA on a node."""
    chart = third_party.chart_archive("0.20.0")
    assert chart is not None, "NVIDIA's chart 0.20.0 is missing from the third-party directory"
    helm("install", "nvdp", str(chart), "-n", "nvdp", "--create-namespace")

    # On the strict node the (unprivileged) plugin gets no NVML by its image's env, as on a
    # real node so configured: only the default node is waited for.
    def plugin_running(pods: dict) -> tuple[bool, str]:
        running = [p for p in pods.values() if p.status.phase == "Running"]
        on_node = [p for p in running if p.spec.node_name == NODE]
        return bool(on_node), f"{len(running)} running of {len(pods)}"

    pods = wait_for(
        real_core.list_namespaced_pod,
        plugin_running,
        what="the device plugin pod to run",
        timeout_s=60,
        namespace="nvdp",
    )

    def advertises(nodes: dict) -> tuple[bool, str]:
        gpus = (nodes[NODE].status.allocatable or {}).get("nvidia.com/gpu", "0")
        return gpus == "2", f"nvidia.com/gpu={gpus}"

    wait_for(
        real_core.list_node,
        advertises,
        what="the node to advertise 2 GPUs",
        timeout_s=60,
        field_selector=f"metadata.name={NODE}",
    )
    yield next(p for p in pods.values() if p.spec.node_name == NODE)
    helm("uninstall", "nvdp", "-n", "nvdp", "--wait")
    wait_no_device_plugin_gpus(real_core, [n.metadata.name for n in real_core.list_node().items])


def test_the_v0_20_0_chart_runs_its_plugin_and_the_node_advertises_gpus(real_core, device_plugin):
    assert device_plugin.spec.node_name == NODE
    assert device_plugin.spec.containers[0].image == PLUGIN_IMAGE
    assert device_plugin.status.container_statuses[0].image_id  # from the node's own store
    node = real_core.read_node(NODE)
    assert node.status.allocatable["nvidia.com/gpu"] == "2"


@pytest.mark.usefixtures("device_plugin")
def test_a_gpu_pod_gets_exactly_one_gpu_through_cdi(real_core, real_cluster):
    script = (
        "ls /dev | grep nvidia; echo ENV=$NVIDIA_VISIBLE_DEVICES; cat /proc/self/mountinfo; "
        "nvidia-smi -L"
    )
    real_core.create_namespaced_pod(NAMESPACE, _pod("one-gpu", CUDA_IMAGE, ["sh", "-c", script], 1))
    wait_for(
        real_core.list_namespaced_pod,
        _phase_is("one-gpu", {"Succeeded", "Failed"}),
        what="the GPU pod to finish",
        timeout_s=60,
        namespace=NAMESPACE,
    )
    pod = real_core.read_namespaced_pod("one-gpu", NAMESPACE)
    assert pod.status.phase == "Succeeded"
    log = real_core.read_namespaced_pod_log("one-gpu", NAMESPACE)
    devices = re.findall(r"^nvidia\d+$", log, re.MULTILINE)
    assert len(devices) == 1, log
    assert "nvidiactl" in log
    # The mock NVML reaches the container through the CDI spec, from the driver root.
    assert "libnvidia-ml.so.580.159.04" in log
    # nvidia-ctk's spec sets NVIDIA_VISIBLE_DEVICES=void in the container, as on any CDI node;
    # which GPU the device plugin chose shows in the runtime's record of the injection.
    assert "ENV=void" in log
    # nvidia-smi came from the driver root through the CDI spec, and lists that one GPU.
    assert "/usr/bin/nvidia-smi" in log
    listed = re.findall(r"^GPU (\d+): NVIDIA H200 \(UUID: (GPU-[0-9a-f-]+)\)$", log, re.MULTILINE)
    assert len(listed) == 1, log
    runtime_log = (
        real_cluster.paths.state_dir
        / "nodes"
        / NODE
        / "root/run/containerd/nvidia-container-runtime.log"
    ).read_text()
    injected = [
        json.loads(line)["msg"]
        for line in runtime_log.splitlines()
        if "Injecting devices using CDI: [nvidia.com/gpu=GPU-" in line
    ]
    assert injected, "the runtime never injected a GPU by UUID"
    # The GPU nvidia-smi lists is the one the plugin allocated and the runtime injected.
    assert injected[-1] == f"Injecting devices using CDI: [nvidia.com/gpu={listed[0][1]}]"


def test_an_image_that_was_not_imported_fails_with_err_image_pull(real_core):
    name = "not-there"
    real_core.create_namespaced_pod(
        NAMESPACE, _pod(name, "nvcr.io/nvidia/cuda:0.0.0-not-imported", ["true"])
    )

    def pull_failed(pods: dict) -> tuple[bool, str]:
        pod = pods.get(f"{NAMESPACE}/{name}")
        statuses = (pod.status.container_statuses or []) if pod else []
        waiting = [s.state.waiting.reason for s in statuses if s.state and s.state.waiting]
        return bool({"ErrImagePull", "ImagePullBackOff"} & set(waiting)), str(waiting)

    wait_for(
        real_core.list_namespaced_pod,
        pull_failed,
        what="the pull of an image that was never imported to fail",
        timeout_s=90,
        namespace=NAMESPACE,
    )


def test_the_report_header_names_each_real_nodes_component_versions(real_core, real_cluster):
    from gpuconform.sim.realnode.fleet import node_versions

    versions = node_versions(real_cluster.paths.state_dir)
    assert sorted(versions) == [NODE, STRICT_NODE]
    line = versions[NODE]
    info = real_core.read_node(NODE).status.node_info
    # What the binaries say agrees with what the node reports to the API server.
    assert f"kubelet {info.kubelet_version}" in line
    assert f"containerd v{info.container_runtime_version.split('://')[1]}" in line
    for component in (
        "kube-proxy v1.34.4",
        "runc 1.3.0",
        "CNI plugins v1.10.0",
        "nvidia-container-toolkit 1.19.0",
    ):
        assert component in line


@pytest.mark.parametrize(
    ("node", "seen"),
    [(NODE, 2), (STRICT_NODE, 0)],
    ids=["toolkit-default-leaks-every-gpu", "strict-runtime-gives-none"],
)
@pytest.mark.usefixtures("device_plugin")
def test_a_pod_without_a_gpu_request_and_the_cuda_images_env(real_core, node, seen):
    """The CUDA image says NVIDIA_VISIBLE_DEVICES=all. With the toolkit's default the runtime
    honours it for any container, so a pod that asked for no GPU gets all of them (what the
    suite's scheduling step catches); with the strict setting it gets none."""
    name = f"no-request-{seen}"
    real_core.create_namespaced_pod(
        NAMESPACE, _pod(name, CUDA_IMAGE, ["sh", "-c", "ls /dev | grep nvidia; true"], node=node)
    )
    wait_for(
        real_core.list_namespaced_pod,
        _phase_is(name, {"Succeeded", "Failed"}),
        what="the pod to finish",
        timeout_s=60,
        namespace=NAMESPACE,
    )
    log = real_core.read_namespaced_pod_log(name, NAMESPACE)
    assert real_core.read_namespaced_pod(name, NAMESPACE).status.phase == "Succeeded", log
    assert len(re.findall(r"^nvidia\d+$", log, re.MULTILINE)) == seen, log
