"""Kubelet behaviour the suite relies on, with NVIDIA's REAL plugin on simulated nodes.

A cluster of its own (3 GPU nodes of 8 GPUs): these tests kill plugin processes.
"""

from __future__ import annotations

import os
import signal
import threading

import pytest
import urllib3
from kubernetes import client, config, watch

from gpuconform.sim.cluster import SimCluster
from gpuconform.wait import wait_for
from tests.data.plugin import plugin_daemonset
from tests.fixtures.sim_cluster import own_cluster

pytestmark = pytest.mark.sim

GPU = "nvidia.com/gpu"
WAIT_S = 60


@pytest.fixture(scope="module")
def cluster():
    with own_cluster("kubelet") as cluster:
        yield from _with_plugins(cluster)


def _with_plugins(cluster: SimCluster):
    api = config.new_client_from_config(str(cluster.paths.kubeconfig))
    client.AppsV1Api(api).create_namespaced_daemon_set("kube-system", plugin_daemonset())
    wait_for(
        client.CoreV1Api(api).list_node,
        lambda nodes: (all(allocatable(n) == 8 for n in nodes.values()), "not yet advertised"),
        what="every GPU node to advertise its GPUs",
        timeout_s=WAIT_S,
        label_selector="nvidia.com/gpu.present=true",
    )
    wait_for(
        client.CoreV1Api(api).list_namespaced_pod,
        lambda pods: (
            len(pods) == 3 and all(p.status.container_statuses for p in pods.values()),
            "plugin pods not yet reported running",
        ),
        what="the plugin pods to report their containers",
        timeout_s=WAIT_S,
        namespace="kube-system",
        label_selector="app.kubernetes.io/name=nvidia-device-plugin",
    )
    yield cluster


@pytest.fixture(scope="module")
def core(cluster) -> client.CoreV1Api:
    return client.CoreV1Api(config.new_client_from_config(str(cluster.paths.kubeconfig)))


def allocatable(node) -> int | None:
    value = (node.status.allocatable or {}).get(GPU)
    return None if value is None else int(value)


class AllocatableHistory:
    """Every allocatable value one node reports, from a watch started before the action."""

    def __init__(self, core: client.CoreV1Api, node: str) -> None:
        self.values: list[int | None] = []
        self.cond = threading.Condition()
        self._watch = watch.Watch()
        listing = core.list_node(field_selector=f"metadata.name={node}")
        self.values.append(allocatable(listing.items[0]))
        self._thread = threading.Thread(
            target=self._follow,
            args=(core, node, listing.metadata.resource_version),
            daemon=True,
        )
        self._thread.start()

    def _follow(self, core: client.CoreV1Api, node: str, resource_version: str) -> None:
        stream = self._watch.stream(
            core.list_node,
            field_selector=f"metadata.name={node}",
            resource_version=resource_version,
            timeout_seconds=WAIT_S * 2,
        )
        try:
            for event in stream:
                with self.cond:
                    self.values.append(allocatable(event["object"]))
                    self.cond.notify_all()
        except (urllib3.exceptions.HTTPError, OSError):
            return  # stopped, or the cluster went away: the waiter reports what it saw

    def wait_for_sequence(self, *wanted: int) -> None:
        """Block until the values seen contain `wanted` in order (other values between)."""

        def seen() -> bool:
            remaining = list(wanted)
            for value in self.values:
                if remaining and value == remaining[0]:
                    remaining.pop(0)
            return not remaining

        with self.cond:
            ok = self.cond.wait_for(seen, timeout=WAIT_S)
        self._watch.stop()
        assert ok, f"allocatable never went {wanted}; seen {self.values}"


def node_plugin_pid(cluster: SimCluster, node: str) -> int:
    """The real plugin process of one node."""
    (pid,) = cluster.real_plugin_pids(node)
    return pid


def plugin_pod(core: client.CoreV1Api, node: str):
    pods = core.list_namespaced_pod("kube-system", field_selector=f"spec.nodeName={node}").items
    (pod,) = [p for p in pods if p.metadata.name.startswith("test-device-plugin")]
    return pod


def gpu_pod(core, name: str, gpus: int, node: str, pinned: bool = False) -> None:
    """A long-running GPU pod; `pinned` bypasses the scheduler (spec.nodeName)."""
    spec: dict = {
        "containers": [
            {
                "name": "main",
                "image": "cuda",
                "command": ["sleep", "infinity"],
                "resources": {"limits": {GPU: str(gpus)}},
            }
        ],
        "tolerations": [{"operator": "Exists"}],
    }
    if pinned:
        spec["nodeName"] = node
    else:
        spec["nodeSelector"] = {"kubernetes.io/hostname": node}
    core.create_namespaced_pod(
        "default", {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}
    )


def wait_pod(core, name: str, phases: tuple[str, ...]):
    return wait_for(
        core.list_namespaced_pod,
        lambda pods: (
            any(p.status.phase in phases for p in pods.values()),
            "not yet",
        ),
        what=f"pod {name} to be {'/'.join(phases)}",
        timeout_s=WAIT_S,
        namespace="default",
        field_selector=f"metadata.name={name}",
    )[f"default/{name}"]


def test_a_plugin_restart_re_registers_and_allocatable_comes_back(cluster, core):
    node = "gpu-node-0"
    restarts_before = plugin_pod(core, node).status.container_statuses[0].restart_count
    history = AllocatableHistory(core, node)
    os.kill(node_plugin_pid(cluster, node), signal.SIGKILL)
    history.wait_for_sequence(8, 0, 8)  # gone at once, back once it registered again
    status = plugin_pod(core, node).status.container_statuses[0]
    assert status.restart_count == restarts_before + 1
    assert status.last_state.terminated.exit_code == 137  # SIGKILL


def test_a_running_gpu_pod_keeps_its_devices_through_a_plugin_restart(cluster, core):
    node = "gpu-node-1"
    gpu_pod(core, "holds-all", 8, node)
    assert wait_pod(core, "holds-all", ("Running",)).spec.node_name == node
    history = AllocatableHistory(core, node)
    os.kill(node_plugin_pid(cluster, node), signal.SIGKILL)
    history.wait_for_sequence(8, 0, 8)
    assert wait_pod(core, "holds-all", ("Running",)).status.phase == "Running"
    # Past the scheduler, straight to kubelet: every device is still the first pod's.
    gpu_pod(core, "one-more", 1, node, pinned=True)
    rejected = wait_pod(core, "one-more", ("Failed",))
    assert rejected.status.reason == "UnexpectedAdmissionError"
    assert "Requested: 1, Available: 0" in rejected.status.message
