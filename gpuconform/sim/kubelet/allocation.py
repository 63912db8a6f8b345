"""What kubelet's device manager hands a container, the states it reports, and its errors in
kubelet's (and Go gRPC's) own words. SIMULATED kubelet: see device_manager.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import grpc

HEALTHY = "Healthy"
UNHEALTHY = "Unhealthy"


class AllocationError(RuntimeError):
    """Kubelet could not admit the container's devices.

    ``message`` is the device manager's error as kubelet words it; a plugin's own error appears
    as Go's gRPC rendering (``rpc error: code = Unknown desc = <plugin message>``), and
    ``plugin_message`` holds the plugin's message verbatim. Kubelet fails the pod with reason
    ``UnexpectedAdmissionError`` and the message ``pod_message``.
    """

    def __init__(self, message: str, plugin_message: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.plugin_message = plugin_message

    @property
    def pod_message(self) -> str:
        """The pod status message kubelet sets (its admission handler's wording)."""
        return f"Allocate failed due to {self.message}, which is unexpected"


@dataclass(frozen=True)
class Allocation:
    """What the plugin's ``Allocate`` told kubelet to put in the container."""

    device_ids: list[str]
    envs: dict[str, str] = field(default_factory=dict)
    mounts: list[dict[str, Any]] = field(default_factory=list)
    devices: list[dict[str, str]] = field(default_factory=list)
    cdi_devices: list[str] = field(default_factory=list)
    annotations: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ResourceState:
    """A snapshot of one extended resource on this node."""

    name: str
    endpoint: str | None  # socket name of the plugin; None once the resource is removed
    connected: bool  # the plugin's ListAndWatch stream is open
    devices: dict[str, str]  # device ID -> "Healthy" / "Unhealthy"
    allocated: list[str]
    options: dict[str, bool]

    @property
    def capacity(self) -> int:
        return len(self.devices)

    @property
    def allocatable(self) -> int:
        return sum(health == HEALTHY for health in self.devices.values())


def rpc_error_text(err: grpc.RpcError) -> tuple[str, str]:
    """Go's rendering of a gRPC status error, and the bare details (the peer's message)."""
    code = err.code() if hasattr(err, "code") else grpc.StatusCode.UNKNOWN
    details = (err.details() if hasattr(err, "details") else None) or ""
    go_code = "".join(part.capitalize() for part in code.name.split("_"))
    if code is grpc.StatusCode.OK:
        go_code = "OK"
    return f"rpc error: code = {go_code} desc = {details}", details


def allocation_from_response(device_ids: list[str], response: Any) -> Allocation:
    """What the plugin's ContainerAllocateResponse puts in the container."""
    return Allocation(
        device_ids=list(device_ids),
        envs=dict(response.envs),
        mounts=[
            {"container_path": m.container_path, "host_path": m.host_path, "read_only": m.read_only}
            for m in response.mounts
        ],
        devices=[
            {
                "container_path": d.container_path,
                "host_path": d.host_path,
                "permissions": d.permissions,
            }
            for d in response.devices
        ],
        cdi_devices=[c.name for c in response.cdi_devices],
        annotations=dict(response.annotations),
    )


@dataclass(frozen=True)
class Request:
    """One container's request for devices of one resource."""

    pod_uid: str
    container: str
    resource: str
    count: int


Pods = dict[str, dict[str, dict[str, Allocation]]]  # pod UID -> container -> resource -> devices


def devices_in_use(pods: Pods, resource: str) -> list[str]:
    """Every device of `resource` some pod's container holds."""
    return [
        device_id
        for containers in pods.values()
        for resources in containers.values()
        for device_id in (resources[resource].device_ids if resource in resources else [])
    ]


def admission_check(
    pods: Pods,
    reuse: dict[str, dict[str, set[str]]],
    endpoint: Any,
    devices: dict[str, str],
    want: Request,
) -> tuple[Any, list[str], Allocation | None, list[str]]:
    """kubelet's devicesToAllocate checks, in its order, over the device manager's state
    (`endpoint` and `devices`: the resource's plugin, None if unregistered, and its devices).

    Returns the endpoint, the free devices, an existing allocation, and the devices the
    pod's init containers leave for reuse (taken first).
    """
    pod_uid, container, resource, count = want.pod_uid, want.container, want.resource, want.count
    existing = pods.get(pod_uid, {}).get(container, {}).get(resource)
    if existing is not None and len(existing.device_ids) != count:
        raise AllocationError(
            f"pod {pod_uid} container {container} changed request for resource {resource} "
            f"from {len(existing.device_ids)} to {count}"
        )
    if endpoint is None:
        raise AllocationError(f"cannot allocate unregistered device {resource}")
    healthy = {d for d, h in devices.items() if h == HEALTHY}
    if not healthy:
        raise AllocationError(
            f"no healthy devices present; cannot allocate unhealthy devices {resource}"
        )
    if existing is not None:
        if not healthy.issuperset(existing.device_ids):
            raise AllocationError(
                "previously allocated devices are no longer healthy; "
                f"cannot allocate unhealthy devices {resource}"
            )
        return endpoint, [], existing, []
    reused = sorted(reuse.get(pod_uid, {}).get(resource, set()) & healthy)[:count]
    needed = count - len(reused)
    if needed == 0:
        return endpoint, [], None, reused
    available = sorted(healthy - set(devices_in_use(pods, resource)))
    if len(available) < needed:
        raise AllocationError(
            f"requested number of devices unavailable for {resource}. "
            f"Requested: {needed}, Available: {len(available)}"
        )
    return endpoint, available, None, reused
