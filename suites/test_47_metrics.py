"""Step 6b - accelerator metrics (AI Conformance accelerator_metrics): the GPU metrics exporter
the profile names (dcgm-exporter, `:9400/metrics`) publishes utilisation and framebuffer use
for every GPU `nvidia-smi -L` lists on its node. Skipped, with the reason, when the profile
names no exporter.
"""

from __future__ import annotations

import pytest
from kubernetes.client.exceptions import ApiException

from gpuconform.diagnose.collect import probed_gpu_uuids
from gpuconform.metrics import (
    REQUIRED_METRICS,
    ExpositionError,
    MetricsEndpoint,
    missing_series,
    parse_exposition,
)

# The GPU nodes as described and probed (the GPUs nvidia-smi lists), and the plugin.
pytestmark = pytest.mark.step(
    "metrics",
    needs=["preflight"],
    evidence=["plugin", "nodes", "node-probe"],
)

NO_EXPORTER = (
    "the profile names no accelerator metrics exporter: set accelerator_metrics (e.g. "
    "{namespace: gpu-operator, selector: app=nvidia-dcgm-exporter, port: 9400}) to check that "
    f"{' and '.join(REQUIRED_METRICS)} are published for every GPU"
)
NO_PROBE = (
    "the GPUs of each node are listed by the node probe's nvidia-smi -L, which this profile "
    "does not allow (diagnostics.node_probe: false)"
)


def _node_problems(run, endpoint: MetricsEndpoint, node: str, pod) -> list[str]:
    uuids = probed_gpu_uuids(run, node)
    if uuids is None:
        return ["nvidia-smi -L in the node probe listed no GPU"]
    if pod is None:
        return [f"no Running exporter pod ({endpoint.describe()})"]
    where = f"{pod.metadata.name} :{endpoint.port}{endpoint.path}"
    try:
        text = run.kube.core.connect_get_namespaced_pod_proxy_with_path(
            f"{pod.metadata.name}:{endpoint.port}", endpoint.namespace, endpoint.path.lstrip("/")
        )
        series = parse_exposition(text)
    except ApiException as err:
        return [f"reading {where}: {err.status} {err.reason}"]
    except ExpositionError as err:
        return [f"{where} is no metrics exposition: {err}"]
    return missing_series(series, uuids)


def test_every_gpu_has_utilisation_and_memory_metrics(run, gpu_nodes):
    endpoint = run.profile.accelerator_metrics
    if endpoint is None:
        pytest.skip(NO_EXPORTER)
    if not run.profile.node_probe:
        pytest.skip(NO_PROBE)
    pods = run.kube.core.list_namespaced_pod(
        endpoint.namespace, label_selector=endpoint.selector
    ).items
    running = {p.spec.node_name: p for p in pods if p.status.phase == "Running"}
    problems = [
        f"{node.metadata.name}: {problem}"
        for node in gpu_nodes
        for problem in _node_problems(
            run, endpoint, node.metadata.name, running.get(node.metadata.name)
        )
    ]
    assert not problems, "accelerator metrics incomplete: " + "; ".join(problems)
