"""NVIDIA's real device-plugin DaemonSet, rendered by helm from the published chart.

Tests that need "a device plugin someone installed" create exactly what the upstream chart
would (its pod labels, container, env and hostPath volumes), without a helm release.
"""

from __future__ import annotations

import copy
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from gpuconform.readiness import plugin_daemonset_names
from gpuconform.sim import third_party, toolchain

CHART_VERSION = "0.20.0"


def chart_objects(
    version: str = "0.20.0", values: Path | None = None, release: str = "test"
) -> list[dict[str, Any]]:
    """What NVIDIA's chart renders into kube-system (helm template), with optional values."""
    chart = third_party.chart_archive(version)
    assert chart is not None, f"{third_party.ENV_VAR}: no device-plugin chart {version}"
    helm = str(toolchain.require_binary("helm"))
    command = [helm, "template", release, str(chart), "--namespace", "kube-system"]
    if values:
        command += ["--values", str(values)]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return [o for o in yaml.safe_load_all(out) if o]


@cache
def _rendered(version: str) -> dict[str, Any]:
    objects = chart_objects(version)
    (name,) = plugin_daemonset_names(objects)
    return next(o for o in objects if o["kind"] == "DaemonSet" and o["metadata"]["name"] == name)


def plugin_daemonset(name: str = "test-device-plugin", version: str = CHART_VERSION) -> dict:
    """The chart's device-plugin DaemonSet, renamed, without its ServiceAccount (not rendered)."""
    body = copy.deepcopy(_rendered(version))
    body["metadata"]["name"] = name
    body["spec"]["template"]["spec"].pop("serviceAccountName", None)
    return body


# The GPU Operator's own shape (NVIDIA/gpu-operator assets/state-device-plugin/0500_daemonset.yaml):
# its namespace, names and labels, the container `nvidia-device-plugin` started through a
# shell, and the node selector the operator labels GPU nodes with.
OPERATOR_NAMESPACE = "gpu-operator"
OPERATOR_NODE_LABEL = "nvidia.com/gpu.deploy.device-plugin"


def operator_daemonset(version: str = CHART_VERSION) -> dict:
    """The chart's plugin container in the GPU Operator's DaemonSet shape."""
    body = copy.deepcopy(_rendered(version))
    labels = {"app": "nvidia-device-plugin-daemonset"}
    body["metadata"] = {"name": "nvidia-device-plugin-daemonset", "labels": dict(labels)}
    body["spec"]["selector"] = {"matchLabels": dict(labels)}
    template = body["spec"]["template"]
    template["metadata"] = {"labels": dict(labels)}
    spec = template["spec"]
    spec.pop("serviceAccountName", None)
    spec.pop("affinity", None)
    spec["nodeSelector"] = {OPERATOR_NODE_LABEL: "true"}
    (container,) = spec["containers"]
    container["name"] = "nvidia-device-plugin"
    container["command"] = ["/bin/sh", "-c"]
    container["args"] = ["exec nvidia-device-plugin"]
    return body
