"""Failure classes of the real-world corpus, produced here by the REAL plugin, then explained.

Each case is a driver-layer configuration or a chart value a user could get wrong; NVIDIA's
real v0.20.0 plugin (and config-manager) meet it on a simulated node and fail in their own
words. The explainer must name the class the corpus expects for that failure
(tests/data/real-world/index.yaml), from the plugin's own log.
"""

from __future__ import annotations

import pytest
import yaml
from kubernetes import client, config, utils

from gpuconform.diagnose.explain import Evidence, explain
from gpuconform.readiness import owned_by
from gpuconform.wait import wait_for
from tests.data.plugin import chart_objects
from tests.fixtures.sim_cluster import DATA, own_cluster

pytestmark = pytest.mark.sim

NAMESPACE = "kube-system"
PLUGIN_CONTAINER = "nvidia-device-plugin-ctr"


@pytest.fixture(scope="module")
def cluster():
    with own_cluster("failures", str(DATA / "node-profiles" / "real-failures.yaml")) as sim:
        api = config.new_client_from_config(str(sim.paths.kubeconfig))
        yield api, client.CoreV1Api(api), client.AppsV1Api(api)


def install(api: client.ApiClient, release: str, values: dict, tmp_path) -> str:
    """Create what NVIDIA's chart renders with these values; the plugin DaemonSet's name."""
    path = tmp_path / f"{release}.yaml"
    path.write_text(yaml.safe_dump(values))
    objects = chart_objects(values=path, release=release)
    for obj in objects:
        utils.create_from_dict(api, obj, namespace=NAMESPACE)
    return next(
        o["metadata"]["name"]
        for o in objects
        if o["kind"] == "DaemonSet" and "gpu-feature-discovery" not in o["metadata"]["name"]
    )


def crashed_log(core: client.CoreV1Api, apps: client.AppsV1Api, daemonset: str, node: str) -> str:
    """The log of the plugin container's last crash on `node` (kubectl logs --previous)."""
    ds = apps.read_namespaced_daemon_set(daemonset, NAMESPACE)

    def restarted(pods: dict) -> tuple[bool, str]:
        mine = [p for p in pods.values() if owned_by(p, ds) and p.spec.node_name == node]
        restarts = [
            cs.restart_count
            for p in mine
            for cs in p.status.container_statuses or []
            if cs.name == PLUGIN_CONTAINER
        ]
        return any(restarts), f"restarts {restarts}"

    pods = wait_for(
        core.list_namespaced_pod,
        restarted,
        what=f"the plugin on {node} to crash",
        timeout_s=90,
        namespace=NAMESPACE,
    )
    pod = next(p for p in pods.values() if owned_by(p, ds) and p.spec.node_name == node)
    return core.read_namespaced_pod_log(
        pod.metadata.name, NAMESPACE, container=PLUGIN_CONTAINER, previous=True
    )


def first_diagnosis(log: str, node: str) -> tuple[str, list[str]]:
    primary = explain([Evidence("plugin-log", "plugin", log, node)]).primary
    assert primary is not None, log[-2000:]
    return primary.signature.id, primary.lines


def test_mig_strategy_single_on_gpus_without_mig_devices(cluster, tmp_path):
    api, core, apps = cluster
    plugin = install(api, "mig", {"migStrategy": "single"}, tmp_path)
    log = crashed_log(core, apps, plugin, "gpu-mig-0")
    class_id, lines = first_diagnosis(log, "gpu-mig-0")
    assert class_id == "mig-strategy-mismatch"
    # The real plugin's own words (v0.20.0); the diagnosis quotes that line (shortened).
    phrase = "at least one device with migEnabled=true was not configured correctly"
    (line,) = [line for line in log.splitlines() if phrase in line]
    assert lines and lines[0][:60] == line[:60]


def test_a_config_file_the_plugin_cannot_parse(cluster, tmp_path):
    api, core, apps = cluster
    broken = {
        # A YAML error in the config file (config.map, picked by config-manager).
        "config": {"map": {"default": "version: v1\nflags: [unclosed\n"}, "default": "default"},
        "nodeSelector": {"kubernetes.io/hostname": "gpu-ok-0"},
    }
    plugin = install(api, "badconfig", broken, tmp_path)
    log = crashed_log(core, apps, plugin, "gpu-ok-0")
    class_id, _ = first_diagnosis(log, "gpu-ok-0")
    assert class_id == "plugin-config-invalid", log[-2000:]
    assert "unable to load config" in log
