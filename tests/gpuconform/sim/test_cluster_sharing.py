"""GPU sharing through the chart's own config mechanism, with REAL components throughout.

NVIDIA's 0.20.0 chart with `config.map` (a time-slicing config, 4 replicas): its real
config-manager runs as an init container, reads the node's label through the API server with
the pod's service-account token (TokenRequest, as kubelet provides it), links the config for
the real plugin, which then advertises replicas x GPUs.
"""

from __future__ import annotations

import pytest
import yaml
from kubernetes import client, config, utils

from gpuconform.diagnose.explain import Evidence, explain
from gpuconform.wait import wait_for
from tests.data.plugin import chart_objects
from tests.fixtures.sim_cluster import own_cluster

pytestmark = pytest.mark.sim

GPU = "nvidia.com/gpu"
REPLICAS = 4
TIME_SLICING = {
    "config": {
        "map": {
            "default": yaml.safe_dump(
                {
                    "version": "v1",
                    "sharing": {
                        "timeSlicing": {
                            "failRequestsGreaterThanOne": True,
                            "resources": [{"name": GPU, "replicas": REPLICAS}],
                        }
                    },
                }
            )
        },
        "default": "default",
    }
}


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    values = tmp_path_factory.mktemp("values") / "time-slicing.yaml"
    values.write_text(yaml.safe_dump(TIME_SLICING))
    with own_cluster("sharing") as cluster:
        api = config.new_client_from_config(str(cluster.paths.kubeconfig))
        for obj in chart_objects(values=values):
            utils.create_from_dict(api, obj, namespace="kube-system")
        yield cluster, client.CoreV1Api(api)


def test_time_slicing_advertises_replicas_times_gpus(shared):
    _, core = shared
    nodes = wait_for(
        core.list_node,
        lambda ns: (
            all((n.status.allocatable or {}).get(GPU) == str(8 * REPLICAS) for n in ns.values()),
            "not yet shared",
        ),
        what=f"every GPU node to advertise {8 * REPLICAS} time-sliced GPUs",
        timeout_s=90,
        label_selector="nvidia.com/gpu.present=true",
    )
    assert len(nodes) == 3
    pod = core.list_namespaced_pod(
        "kube-system", label_selector="app.kubernetes.io/name=nvidia-device-plugin"
    ).items[0]
    init = pod.status.init_container_statuses[0]
    assert init.name == "nvidia-device-plugin-init"
    assert init.state.terminated.exit_code == 0
    log = core.read_namespaced_pod_log(
        pod.metadata.name, "kube-system", container="nvidia-device-plugin-init"
    )
    assert "Successfully updated to config: default" in log  # the real config-manager's line


def test_over_requesting_a_time_sliced_gpu_fails_admission_with_the_plugins_message(shared):
    _, core = shared
    core.create_namespaced_pod(
        "default",
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "two-slices"},
            "spec": {
                "restartPolicy": "Never",
                "tolerations": [{"operator": "Exists"}],
                "containers": [
                    {
                        "name": "main",
                        "image": "cuda",
                        "command": ["nvidia-smi", "-L"],
                        "resources": {"limits": {GPU: "2"}},
                    }
                ],
            },
        },
    )
    pod = wait_for(
        core.list_namespaced_pod,
        lambda ps: (any(p.status.phase == "Failed" for p in ps.values()), "not yet failed"),
        what="the pod asking for two slices to fail",
        timeout_s=90,
        namespace="default",
        field_selector="metadata.name=two-slices",
    )["default/two-slices"]
    assert pod.status.reason == "UnexpectedAdmissionError"
    assert "maximum request size for shared resources is 1; found 2" in pod.status.message
    # The explainer names the class the real-world corpus expects for this message.
    status = f"{pod.status.reason}: {pod.status.message}"
    primary = explain([Evidence("describe", "default/two-slices", status)]).primary
    assert primary is not None and primary.signature.id == "shared-resource-over-requested"


def named_configs() -> dict:
    """config.map with a plain default and a `time-sliced` config a node opts into by label."""
    plain = {"version": "v1", "flags": {"migStrategy": "none"}}
    sliced = plain | {
        "sharing": {"timeSlicing": {"resources": [{"name": GPU, "replicas": REPLICAS}]}}
    }
    configs = {"default": yaml.safe_dump(plain), "time-sliced": yaml.safe_dump(sliced)}
    return {"config": {"map": configs, "default": "default"}}


def test_labelling_one_node_time_slices_that_node_only(tmp_path):
    """A pool opts into time-slicing by the node label `nvidia.com/device-plugin.config`: the
    real config-manager sidecar on that node switches the config and signals its own plugin
    (the pod's shared PID namespace), never another node's."""
    values = tmp_path / "named-configs.yaml"
    values.write_text(yaml.safe_dump(named_configs()))
    with own_cluster("named-configs") as cluster:
        api = config.new_client_from_config(str(cluster.paths.kubeconfig))
        core = client.CoreV1Api(api)
        for obj in chart_objects(values=values):
            utils.create_from_dict(api, obj, namespace="kube-system")

        def advertise(counts: dict[str, str]):
            return lambda ns: (
                all((ns[n].status.allocatable or {}).get(GPU) == c for n, c in counts.items()),
                "not yet",
            )

        plain = {f"gpu-node-{i}": "8" for i in range(3)}
        wait_for(
            core.list_node,
            advertise(plain),
            what="every GPU node to advertise its 8 GPUs",
            timeout_s=90,
            label_selector="nvidia.com/gpu.present=true",
        )
        label = {"metadata": {"labels": {"nvidia.com/device-plugin.config": "time-sliced"}}}
        core.patch_node("gpu-node-1", label)
        wanted = plain | {"gpu-node-1": str(8 * REPLICAS)}
        nodes = wait_for(
            core.list_node,
            advertise(wanted),
            what="gpu-node-1 to advertise time-sliced GPUs",
            timeout_s=90,
            label_selector="nvidia.com/gpu.present=true",
        )
        assert {n: nodes[n].status.allocatable[GPU] for n in wanted} == wanted
        pods = core.list_namespaced_pod(
            "kube-system", label_selector="app.kubernetes.io/name=nvidia-device-plugin"
        ).items
        logs = {
            p.spec.node_name: core.read_namespaced_pod_log(
                p.metadata.name, "kube-system", container="nvidia-device-plugin-ctr"
            )
            for p in pods
        }
        # The plugin's own line on SIGHUP: only the relabelled node's plugin got one.
        assert {n: "Received SIGHUP, restarting." in log for n, log in logs.items()} == {
            "gpu-node-0": False,
            "gpu-node-1": True,
            "gpu-node-2": False,
        }
