"""The real-node tier: a simulated cluster whose GPU node is a REAL node (kubelet, containerd,
nvidia-container-runtime, runc in its own namespaces). Needs root, as CI has; not skipped there."""

from __future__ import annotations

import os
import subprocess

import pytest
from kubernetes import client, config

from gpuconform.sim import toolchain
from gpuconform.sim.cluster import SimCluster

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
