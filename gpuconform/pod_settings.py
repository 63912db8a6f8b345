"""The settings a profile gives every test pod (`workload.*`): tolerations, node selector,
runtime class, resources, pull secrets, security context, PodSecurity level."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

POD_SECURITY_LEVELS = ("privileged", "baseline", "restricted")


class PodSettingError(ValueError):
    """A workload.* setting Kubernetes would refuse; the message names the key."""


@dataclass(frozen=True)
class WorkloadPod:
    """Pod settings the profile gives every test pod (hardened and provider clusters); each
    default is profile_defaults.yaml's `workload`."""

    tolerations: list[dict[str, Any]]
    node_selector: dict[str, str]
    runtime_class: str | None
    resources: dict[str, dict[str, str]]
    image_pull_secrets: list[str]
    security_context: dict[str, Any] | None
    pod_security: str
    list_gpus: bool


def parse_workload_pod(workload: dict[str, Any]) -> WorkloadPod:
    """The workload.* pod settings, each checked for the shape Kubernetes expects."""
    where = "workload"
    # Each key's kind is the schema's (profile_schema.py); what is left is Kubernetes' shapes.
    context = workload.get("security_context")
    if context is not None and not isinstance(context, dict):
        raise PodSettingError(f"{where}.security_context must be a mapping, got {context!r}")
    for toleration in workload["tolerations"]:
        if not isinstance(toleration, dict) or not ({"key", "operator"} & set(toleration)):
            raise PodSettingError(f"{where}.tolerations: {toleration!r} needs a key or an operator")
    for key, value in workload["node_selector"].items():
        if not isinstance(value, str):
            # YAML reads `true` as a boolean; a label value is the string "true".
            raise PodSettingError(
                f"{where}.node_selector: the value of {key!r} must be a string "
                f'(quote it: {key}: "{str(value).lower()}")'
            )
    for part in workload["resources"]:
        if part not in ("requests", "limits"):
            raise PodSettingError(f"{where}.resources: {part!r} is not requests or limits")
    level = workload["pod_security"]
    if level not in POD_SECURITY_LEVELS:
        raise PodSettingError(
            f"{where}.pod_security must be one of {', '.join(POD_SECURITY_LEVELS)}, got {level!r}"
        )
    return WorkloadPod(
        tolerations=list(workload["tolerations"]),
        node_selector={str(k): str(v) for k, v in workload["node_selector"].items()},
        runtime_class=workload.get("runtime_class"),
        resources=dict(workload["resources"]),
        image_pull_secrets=[str(s) for s in workload["image_pull_secrets"]],
        security_context=workload.get("security_context"),
        pod_security=level,
        list_gpus=workload["list_gpus"],
    )
