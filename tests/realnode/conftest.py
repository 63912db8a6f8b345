"""The real-node tier: a simulated cluster whose GPU node is a REAL node (kubelet, containerd,
nvidia-container-runtime, runc in its own namespaces). Needs root, as CI has; not skipped there."""

from __future__ import annotations

import os
import subprocess

import pytest
from kubernetes import client, config

from gpuconform.sim import toolchain
from gpuconform.sim.cluster import SimCluster
from gpuconform.wait import wait_for

REAL_PROFILE = "real"


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/realnode/" in str(item.fspath):
            item.add_marker(pytest.mark.real_node)


@pytest.fixture(scope="package")
def real_cluster():
    if os.geteuid() != 0:
        pytest.fail("real nodes need root (namespaces, mknod, cgroups); CI runs as root")
    cluster = SimCluster(f"gpuconform-real-{os.getpid()}", log=lambda line: None)
    cluster.up(REAL_PROFILE, timeout_s=90)
    yield cluster
    cluster.down(quiet=True)


@pytest.fixture(scope="package")
def core(real_cluster) -> client.CoreV1Api:
    return client.CoreV1Api(config.new_client_from_config(str(real_cluster.paths.kubeconfig)))


@pytest.fixture(scope="package")
def helm(real_cluster):
    binary = str(toolchain.require_binary("helm"))

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [binary, "--kubeconfig", str(real_cluster.paths.kubeconfig), *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, f"helm {' '.join(args)} failed: {proc.stderr}"
        return proc

    return run


def wait_no_device_plugin_gpus(core: client.CoreV1Api, nodes: list[str]) -> None:
    """Until none of ``nodes`` has nvidia.com/gpu allocatable: after a device plugin is gone,
    the real kubelet marks its devices unhealthy (allocatable 0) and reports it with the next
    node status; it keeps the resource's capacity for its endpoint grace period (5 min). A
    module that installed the plugin leaves through here, so the next module's checks (the DRA
    readiness check rightly fails a node where both advertise GPUs) see no plugin's GPUs."""

    def none_allocatable(found: dict) -> tuple[bool, str]:
        left = {
            name: gpus
            for name, node in found.items()
            if name in nodes
            and (gpus := (node.status.allocatable or {}).get("nvidia.com/gpu", "0")) != "0"
        }
        return not left, f"nvidia.com/gpu allocatable on {left}"

    # The kubelet's grace period (5 min) bounds it; its node status comes every 10 s.
    wait_for(
        core.list_node, none_allocatable, what="the device plugin's GPUs to leave allocatable",
        timeout_s=330,
    )  # fmt: skip
