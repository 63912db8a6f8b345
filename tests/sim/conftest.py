"""A simulated cluster with every fault on it, shared by the tests in tests/sim."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from kubernetes import client, config

from gpuconform.sim import toolchain
from gpuconform.sim.cluster import SimCluster

DATA = Path(__file__).resolve().parents[1] / "data"


@contextmanager
def own_cluster(purpose: str, nodes: str = "healthy") -> Iterator[SimCluster]:
    """A simulated cluster of a test module's own (it kills plugins, changes config...)."""
    cluster = SimCluster(f"gpuconform-{purpose}-{os.getpid()}", log=lambda line: None)
    cluster.up(nodes)
    try:
        yield cluster
    finally:
        cluster.down(quiet=True)


@pytest.fixture(scope="package")
def sim_cluster():
    cluster = SimCluster(f"gpuconform-test-{os.getpid()}", log=lambda line: None)
    cluster.up(str(DATA / "node-profiles" / "mixed.yaml"))
    yield cluster
    cluster.down(quiet=True)


@pytest.fixture(scope="package")
def core(sim_cluster) -> client.CoreV1Api:
    return client.CoreV1Api(config.new_client_from_config(str(sim_cluster.paths.kubeconfig)))


@pytest.fixture(scope="package")
def apps(sim_cluster) -> client.AppsV1Api:
    return client.AppsV1Api(config.new_client_from_config(str(sim_cluster.paths.kubeconfig)))


@pytest.fixture(scope="package")
def custom(sim_cluster) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(config.new_client_from_config(str(sim_cluster.paths.kubeconfig)))


@pytest.fixture(scope="package")
def kubectl(sim_cluster):
    """Run the real kubectl against the simulated cluster; returns CompletedProcess."""
    binary = str(toolchain.require_binary("kubectl"))

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [binary, "--kubeconfig", str(sim_cluster.paths.kubeconfig), *args],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {proc.stderr}")
        return proc

    return run
