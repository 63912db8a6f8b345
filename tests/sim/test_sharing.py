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
from tests.sim.conftest import own_cluster

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
