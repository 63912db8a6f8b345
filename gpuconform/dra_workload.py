"""DRA workload checks (issue 19): what the claims of a pod were allocated, and why a pod whose
claim cannot be satisfied stays Pending (the scheduler's own words)."""

from __future__ import annotations

from typing import Any

from gpuconform import dra

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
