"""A fault on a real node is a change to its real parts: `broken-driver` leaves NVML out of the
driver root, so nvidia-ctk writes no CDI spec and the runtime cannot give the chart's plugin its
GPUs, as on a CDI node whose driver is broken; `unlabeled` leaves the GPU labels off, so the
chart's DaemonSet wants no pod there."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from kubernetes import client, config

from gpuconform.sim import third_party, toolchain
from gpuconform.wait import wait_for
from tests.fixtures.real_cluster import require_root
from tests.fixtures.sim_cluster import own_cluster

pytestmark = pytest.mark.real_node

PROFILE = Path(__file__).resolve().parents[2] / "data" / "node-profiles" / "real-node-faults.yaml"
NODE = "gpu-broken-0"
UNLABELED = "gpu-unlabeled-0"
RUNC = "gpu-runc-0"  # containerd's default runtime is runc: nothing injects GPUs
CDI_ERROR = "unresolvable CDI devices nvidia.com/gpu=all"


@pytest.fixture(scope="module")
def broken_cluster():
    require_root()
    with own_cluster("rbroken", str(PROFILE), timeout_s=90) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def chart_installed(broken_cluster) -> str:
    """NVIDIA's chart 0.20.0, unchanged, installed; returns the kubeconfig."""
    kubeconfig = str(broken_cluster.paths.kubeconfig)
    chart = third_party.chart_archive("0.20.0")
    helm = str(toolchain.require_binary("helm"))
    install = ["install", "nvdp", str(chart), "-n", "nvdp", "--create-namespace"]
    subprocess.run(
        [helm, "--kubeconfig", kubeconfig, *install], check=True, capture_output=True, timeout=120
    )
    return kubeconfig


def test_the_plugin_cannot_start_on_a_node_whose_driver_has_no_nvml(
    broken_cluster, chart_installed
):
    kubeconfig = chart_installed
    core = client.CoreV1Api(config.new_client_from_config(kubeconfig))

    def runtime_refuses(pods: dict) -> tuple[bool, str]:
        messages = [
            s.state.waiting.message or ""
            for p in pods.values()
            for s in p.status.container_statuses or []
            if s.state and s.state.waiting
        ]
        return any(CDI_ERROR in m for m in messages), str(messages)[-200:]

    wait_for(
        core.list_namespaced_pod,
        runtime_refuses,
        what="the runtime to refuse the plugin's GPUs",
        timeout_s=60,
        namespace="nvdp",
    )
    node = core.read_node(NODE)
    assert "nvidia.com/gpu" not in (node.status.allocatable or {})
    spec = broken_cluster.paths.state_dir / "nodes" / NODE / "root/etc/cdi/nvidia.yaml"
    assert not spec.exists()
    log = (broken_cluster.paths.state_dir / "nodes" / NODE / "cdi-generate.log").read_text()
    assert "ERROR_LIBRARY_NOT_FOUND" in log


def test_an_unlabeled_real_node_gets_no_plugin_pod(chart_installed):
    core = client.CoreV1Api(config.new_client_from_config(chart_installed))
    labels = core.read_node(UNLABELED).metadata.labels
    assert "nvidia.com/gpu.present" not in labels
    assert "feature.node.kubernetes.io/pci-10de.present" not in labels
    apps = client.AppsV1Api(config.new_client_from_config(chart_installed))
    (daemonset,) = [
        d
        for d in apps.list_namespaced_daemon_set("nvdp").items
        if d.spec.template.spec.containers[0].name == "nvidia-device-plugin-ctr"
    ]
    # The broken and the runc node count, the unlabeled one does not.
    assert daemonset.status.desired_number_scheduled == 2
    # The pods it wants exist (broken and runc nodes), none on the unlabeled node.
    pods = wait_for(
        core.list_namespaced_pod,
        lambda pods: (len(pods) >= 2, f"{len(pods)} pods"),
        what="the plugin DaemonSet's pod",
        timeout_s=60,
        namespace="nvdp",
        label_selector="app.kubernetes.io/name=nvidia-device-plugin",
    )
    assert sorted(p.spec.node_name for p in pods.values()) == sorted([NODE, RUNC])


def test_without_the_nvidia_runtime_the_plugin_finds_no_nvml(chart_installed):
    """What NVIDIA's plugin says on a node whose containerd was never set up for GPUs."""
    core = client.CoreV1Api(config.new_client_from_config(chart_installed))

    def crash_looping(pods: dict) -> tuple[bool, str]:
        reasons = [
            s.state.waiting.reason if s.state and s.state.waiting else "running"
            for p in pods.values()
            if p.spec.node_name == RUNC
            for s in p.status.container_statuses or []
        ]
        # In back-off the container's log is that of its last (failed) run.
        return "CrashLoopBackOff" in reasons, str(reasons)

    pods = wait_for(
        core.list_namespaced_pod,
        crash_looping,
        what="the plugin on the runc node to crash-loop",
        timeout_s=60,
        namespace="nvdp",
        label_selector="app.kubernetes.io/name=nvidia-device-plugin",
    )
    (pod,) = [p for p in pods.values() if p.spec.node_name == RUNC]
    # Not --previous: kubelet keeps one dead container per container name, the latest.
    log = core.read_namespaced_pod_log(pod.metadata.name, "nvdp")
    assert "nvml init failed: ERROR_LIBRARY_NOT_FOUND" in log
    assert "did you set the docker default runtime to `nvidia`?" in log
    assert "nvidia.com/gpu" not in (core.read_node(RUNC).status.allocatable or {})
