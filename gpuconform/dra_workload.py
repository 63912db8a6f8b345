"""DRA workload checks (issue 19): what the claims of a pod were allocated, and why a pod whose
claim cannot be satisfied stays Pending (the scheduler's own words)."""

from __future__ import annotations

from typing import Any

from gpuconform import dra

# What a container of the secure-access check prints: its GPU device nodes, one per line.
LIST_DEVICES = "ls /dev | grep -E '^nvidia[0-9]+$' || true"
# Why a container that asked for no GPU can see one, and the settings that close the hole.
LEAK_FIX = (
    "the node's NVIDIA runtime hands GPUs to any container whose image sets "
    "NVIDIA_VISIBLE_DEVICES (the CUDA images set `all`): set "
    "accept-nvidia-visible-devices-envvar-when-unprivileged = false in the NVIDIA Container "
    "Toolkit's config.toml (with the device plugin, also deviceListStrategy volume-mounts or "
    "cdi-annotations)"
)

# A CEL selector no GPU satisfies: the unsatisfiable-claim check.
UNSATISFIABLE = "device.attributes['gpu.nvidia.com'].productName == 'gpuconform-no-such-gpu'"


def pod_claims(custom: Any, namespace: str, pod: str) -> list[dict[str, Any]]:
    """The ResourceClaims generated for ``pod`` from its templates (they reserve it)."""
    return [
        c
        for c in dra.list_claims(custom, namespace)
        if any(
            r.get("resource") == "pods" and r.get("name") == pod
            for r in ((c.get("status") or {}).get("reservedFor") or [])
        )
        or c["metadata"]["name"].startswith(f"{pod}-")
    ]


def allocated_devices(claims: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(pool, device) of every device the claims were allocated, in claim order."""
    found = []
    for claim in claims:
        allocation = (claim.get("status") or {}).get("allocation") or {}
        for result in (allocation.get("devices") or {}).get("results") or []:
            found.append((result["pool"], result["device"]))
    return found


def unschedulable_reason(pod: Any) -> str | None:
    """The scheduler's message for a pod it could not place (PodScheduled False), or None."""
    for condition in pod.status.conditions or []:
        if condition.type == "PodScheduled" and condition.status == "False":
            return f"{condition.reason}: {condition.message}"
    return None


def with_bystander(pod: dict[str, Any], command: list[str]) -> dict[str, Any]:
    """``pod`` plus a container that references none of its claims (AI Conformance
    secure_accelerator_access: it must see no GPU although its pod holds one)."""
    first = pod["spec"]["containers"][0]
    bystander = {k: v for k, v in first.items() if k != "resources"}
    pod["spec"]["containers"].append({**bystander, "name": "bystander", "command": command})
    return pod
