"""An upgrade of NVIDIA's chart from 0.17.4 to 0.20.0 replaces every REAL plugin process."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from kubernetes import client, config

from gpuconform.sim.cluster import SimCluster
from gpuconform.wait import wait_for
from tests.data.plugin import plugin_daemonset
from tests.fixtures.sim_cluster import own_cluster

pytestmark = pytest.mark.sim

GPU = "nvidia.com/gpu"


def versions(cluster: SimCluster) -> dict[int, str]:
    """pid -> the plugin version of the binary it runs (the image tag picked it)."""
    found = {}
    for pid in cluster.real_plugin_pids():
        try:
            exe = os.readlink(f"/proc/{pid}/exe")
        except OSError:
            continue  # exited since it was listed: mid-rollout, old plugins are stopping
        found[pid] = next(v for v in ("v0.17.4", "v0.20.0") if v in exe)
    return found


def all_advertise(core: client.CoreV1Api) -> None:
    wait_for(
        core.list_node,
        lambda ns: (all(n.status.allocatable.get(GPU) == "8" for n in ns.values()), "not yet"),
        what="every GPU node to advertise its GPUs",
        timeout_s=90,
        label_selector="nvidia.com/gpu.present=true",
    )


def test_every_plugin_process_is_replaced_by_the_new_version():
    with own_cluster("upgrade") as cluster:
        api = config.new_client_from_config(str(cluster.paths.kubeconfig))
        apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
        old = plugin_daemonset(version="0.17.4")
        apps.create_namespaced_daemon_set("kube-system", old)
        all_advertise(core)
        before = versions(cluster)
        assert sorted(before.values()) == ["v0.17.4"] * 3
        new = plugin_daemonset(version="0.20.0")
        apps.replace_namespaced_daemon_set(
            old["metadata"]["name"],
            "kube-system",
            new | {"metadata": new["metadata"] | {"resourceVersion": None}},
        )

        def rolled(_: dict) -> tuple[bool, str]:
            now = versions(cluster)
            done = sorted(now.values()) == ["v0.20.0"] * 3 and not set(now) & set(before)
            return done, f"plugin processes: {sorted(now.values())}"

        wait_for(
            core.list_node,
            lambda ns: (
                rolled(ns)
                if all(n.status.allocatable.get(GPU) == "8" for n in ns.values())
                else (False, "not advertised")
            ),
            what="every node to run the v0.20.0 plugin, advertising again",
            timeout_s=120,
            label_selector="nvidia.com/gpu.present=true",
        )
        assert all(not Path(f"/proc/{pid}").exists() for pid in before)
