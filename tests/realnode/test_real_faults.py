"""A fault on a real node is a change to its real parts: `broken-driver` leaves NVML out of the
driver root, so nvidia-ctk writes no CDI spec and the runtime cannot give the chart's plugin its
GPUs, as on a CDI node whose driver is broken."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from kubernetes import client, config

from gpuconform.sim import third_party, toolchain
from gpuconform.sim.cluster import SimCluster
from gpuconform.wait import wait_for

PROFILE = (
    Path(__file__).resolve().parents[1] / "data" / "node-profiles" / "real-node-broken-driver.yaml"
)
NODE = "gpu-broken-0"
CDI_ERROR = "unresolvable CDI devices nvidia.com/gpu=all"


@pytest.fixture(scope="module")
def broken_cluster():
    if os.geteuid() != 0:
        pytest.fail("real nodes need root (namespaces, mknod, cgroups); CI runs as root")
    cluster = SimCluster(f"gpuconform-rbroken-{os.getpid()}", log=lambda line: None)
    cluster.up(str(PROFILE), timeout_s=90)
    yield cluster
    cluster.down(quiet=True)


def test_the_plugin_cannot_start_on_a_node_whose_driver_has_no_nvml(broken_cluster):
    kubeconfig = str(broken_cluster.paths.kubeconfig)
    chart = third_party.chart_archive("0.20.0")
    helm = str(toolchain.require_binary("helm"))
    subprocess.run(
        [
            helm,
            "--kubeconfig",
            kubeconfig,
            "install",
            "nvdp",
            str(chart),
            "-n",
            "nvdp",
            "--create-namespace",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
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
