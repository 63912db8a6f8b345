"""What one REAL device-plugin process costs on the simulated cluster: start-up and memory.

NVIDIA's chart DaemonSet (rendered by helm from the published chart) goes onto a simulated
cluster with 3 GPU nodes; measured are the time from creating it until every node advertises
its GPUs (the real plugins started, registered and listed their devices through the simulated
kubelet), and the resident memory of each plugin process once registered.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from kubernetes import client, config

from gpuconform.sim.cluster import SimCluster
from gpuconform.wait import wait_for
from tests.data.plugin import plugin_daemonset


@dataclass(frozen=True)
class PluginCost:
    advertised_s: float  # DaemonSet created -> every GPU node advertises its GPUs
    rss_mib: list[float]  # VmRSS of each plugin process, registered


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise ValueError(f"no VmRSS for {pid}")


def bench_real_plugin() -> PluginCost:
    cluster = SimCluster(f"gpuconform-bench-plugin-{os.getpid()}", log=lambda line: None)
    cluster.up("healthy")
    try:
        api = config.new_client_from_config(str(cluster.paths.kubeconfig))
        started = time.monotonic()
        client.AppsV1Api(api).create_namespaced_daemon_set("kube-system", plugin_daemonset())
        wait_for(
            client.CoreV1Api(api).list_node,
            lambda nodes: (
                all(n.status.allocatable.get("nvidia.com/gpu") == "8" for n in nodes.values()),
                "not yet advertised",
            ),
            what="every GPU node to advertise its GPUs",
            timeout_s=120,
            label_selector="nvidia.com/gpu.present=true",
        )
        advertised = time.monotonic() - started
        return PluginCost(advertised, [rss_mib(pid) for pid in cluster.real_plugin_pids()])
    finally:
        cluster.down(quiet=True)
