"""NVIDIA's DRA driver for GPUs, as the suite sees it: its ResourceSlices, claim templates and
pods that use them, and how its attributes compare with what nvidia-smi reports.

The driver publishes one ResourceSlice pool per node (pool name = node name) with a device per
GPU (``gpu-<index>``) whose attributes include ``uuid``, ``productName`` and ``driverVersion``
(a semantic version: driver "580.159.04" is published as "580.159.4").
"""

from __future__ import annotations

import copy
import re
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from kubernetes import watch

from gpuconform.workload import manifest

DRA_FILE = Path(__file__).with_name("dra.yaml")


@cache
def settings() -> dict[str, Any]:
    return yaml.safe_load(DRA_FILE.read_text())


@dataclass
class Pool:
    """One node's ResourceSlice pool: its devices by name, each with its attributes."""

    node: str
    slices: int = 0
    devices: dict[str, dict[str, str]] = field(default_factory=dict)


def _attribute_value(value: dict[str, Any]) -> str:
    """A DeviceAttribute's one set field (string, version, int or bool), as text."""
    for kind in ("string", "version", "int", "bool"):
        if value.get(kind) is not None:
            return str(value[kind])
    return ""


def pools(slices: list[dict[str, Any]], driver: str | None = None) -> dict[str, Pool]:
    """The driver's pools by node, from ResourceSlice objects (as plain dicts, camelCase)."""
    driver = driver or settings()["driver"]
    found: dict[str, Pool] = {}
    for item in slices:
        spec = item.get("spec") or {}
        if spec.get("driver") != driver:
            continue
        node = spec.get("nodeName") or (spec.get("pool") or {}).get("name", "")
        pool = found.setdefault(node, Pool(node))
        pool.slices += 1
        for device in spec.get("devices") or []:
            attributes = device.get("attributes") or {}
            pool.devices[device["name"]] = {k: _attribute_value(v) for k, v in attributes.items()}
    return found


def as_dicts(resource: Any, objects: Any) -> list[dict[str, Any]]:
    """Typed resource.k8s.io objects as the API server's JSON (camelCase), for ``pools``."""
    return [resource.api_client.sanitize_for_serialization(o) for o in objects]


def list_slices(resource: Any) -> list[dict[str, Any]]:
    """Every ResourceSlice, through a ``ResourceV1Api``."""
    return as_dicts(resource, resource.list_resource_slice().items)


def list_claims(custom: Any, namespace: str) -> list[dict[str, Any]]:
    """A namespace's ResourceClaims, through a ``CustomObjectsApi``: the Python client's typed
    list (37.0) cannot read them (``no attribute 'V1ResourceClaim'``)."""
    return custom.list_namespaced_custom_object(
        "resource.k8s.io", "v1", namespace, "resourceclaims"
    )["items"]


def wait_claims_gone(custom: Any, namespace: str, prefix: str, timeout_s: float) -> None:
    """Until no ResourceClaim named ``prefix``... is left (a pod's generated claims, deleted by
    the resourceclaim controller after the pod), watching; TimeoutError names what is left."""
    deadline = time.monotonic() + timeout_s
    listing = custom.list_namespaced_custom_object(
        "resource.k8s.io", "v1", namespace, "resourceclaims"
    )
    left = {
        c["metadata"]["name"] for c in listing["items"] if c["metadata"]["name"].startswith(prefix)
    }
    version = listing["metadata"]["resourceVersion"]
    while left and (remaining := deadline - time.monotonic()) > 0:
        for event in watch.Watch().stream(
            custom.list_namespaced_custom_object, "resource.k8s.io", "v1", namespace,
            "resourceclaims", resource_version=version, timeout_seconds=max(1, int(remaining)),
        ):  # fmt: skip
            claim = event["object"]
            version = claim["metadata"]["resourceVersion"]
            if event["type"] == "DELETED":
                left.discard(claim["metadata"]["name"])
            if not left:
                break
    if left:
        raise TimeoutError(f"claims still there after {timeout_s:.0f}s: {sorted(left)}")


def version_key(version: str) -> tuple[int, ...]:
    """ "550.163.01" and "550.163.1" are one version, as are "13.0" and "13.0.0": compare the
    numbers, not the text, with trailing zero parts dropped."""
    parts = [int(part) for part in re.findall(r"\d+", version)]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def same_version(a: str, b: str) -> bool:
    return bool(version_key(a)) and version_key(a) == version_key(b)


def claim_template(name: str, count: int = 1, selector: str | None = None) -> dict[str, Any]:
    """A ResourceClaimTemplate for ``count`` GPUs of the driver's DeviceClass, optionally
    narrowed by a CEL ``selector`` (the unsatisfiable-claim check)."""
    body = copy.deepcopy(manifest("dra-claim-template.yaml"))
    body["metadata"]["name"] = name
    exactly = body["spec"]["spec"]["devices"]["requests"][0]["exactly"]
    exactly["deviceClassName"] = settings()["device_class"]
    exactly["count"] = count
    if selector:
        exactly["selectors"] = [{"cel": {"expression": selector}}]
    return body


def claim_pod(
    name: str, image: str, command: list[str], templates: list[str], node: str | None = None
) -> dict[str, Any]:
    """The suite's GPU pod (manifests/gpu-pod.yaml) asking through claims, not limits: one
    pod claim per template, all referenced by its container. Placed by the scheduler, which
    allocates the claims (a pod bound with nodeName would skip allocation and never start)."""
    body = copy.deepcopy(manifest("gpu-pod.yaml"))
    body["metadata"]["name"] = name
    spec = body["spec"]
    claims = [{"name": f"gpu{i}", "resourceClaimTemplateName": t} for i, t in enumerate(templates)]
    spec["resourceClaims"] = claims
    container = spec["containers"][0]
    container.update(image=image, command=command)
    container["resources"] = {"claims": [{"name": c["name"]} for c in claims]}
    if node:
        spec["nodeSelector"] = {"kubernetes.io/hostname": node}
    return body


def with_listing(pod: dict[str, Any], command: list[str]) -> dict[str, Any]:
    """``pod`` plus an init container ``list`` holding the same claims and running
    ``command``: its output is complete once the pod runs, while the pod (and so its claims,
    which go when it finishes) stays up for the checks that read them."""
    first = pod["spec"]["containers"][0]
    pod["spec"]["initContainers"] = [{**first, "name": "list", "command": command}]
    return pod
