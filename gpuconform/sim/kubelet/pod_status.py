"""Pod status and events as kubelet reports them, for pods on SIMULATED nodes.

Pure functions: what kubelet would write, given what the simulated runtime observed.
"""

from __future__ import annotations

from typing import Any

from gpuconform.sim.kubelet.runtime import ContainerStatus, now_rfc3339


def _condition(kind: str, ready: bool, reason: str | None, message: str | None, now: str) -> dict:
    condition: dict[str, Any] = {
        "type": kind,
        "status": "True" if ready else "False",
        "lastProbeTime": None,
        "lastTransitionTime": now,
    }
    if not ready and reason:
        condition["reason"] = reason
    if not ready and message:
        condition["message"] = message
    return condition


def running_pod_status(
    init: list[ContainerStatus],
    containers: list[ContainerStatus],
    restart_policy: str,
    host_ip: str | None,
) -> dict[str, Any]:
    """Status of a pod whose containers run as processes: phase, conditions, containers."""
    now = now_rfc3339()
    pending_init = [c.name for c in init if (c.state.get("terminated") or {}).get("exitCode") != 0]
    unready = [c.name for c in containers if not c.running]
    finished = all("terminated" in c.state for c in containers)
    if pending_init:
        phase, reason = "Pending", "ContainersNotInitialized"
        message = f"containers with incomplete status: [{' '.join(pending_init)}]"
    elif finished and restart_policy != "Always":
        failed = any(c.state["terminated"].get("exitCode", 0) != 0 for c in containers)
        phase = "Failed" if failed else "Succeeded"
        reason, message = ("PodFailed" if failed else "PodCompleted"), None
    else:
        phase, reason = "Running", "ContainersNotReady"
        message = f"containers with unready status: [{' '.join(unready)}]"
    ready = not unready and not pending_init
    status: dict[str, Any] = {
        "phase": phase,
        "conditions": [
            _condition("Initialized", not pending_init, reason, message, now),
            _condition("Ready", ready, reason, message, now),
            _condition("ContainersReady", ready, reason, message, now),
            _condition("PodScheduled", True, None, None, now),
        ],
        "containerStatuses": [c.to_api() for c in containers],
    }
    if init:
        status["initContainerStatuses"] = [c.to_api() for c in init]
    if host_ip:
        status["hostIP"] = host_ip
    return status


def admission_failure_status(reason: str, message: str) -> dict[str, Any]:
    """kubelet rejected the pod at admission (e.g. UnexpectedAdmissionError): it fails at once."""
    return {"phase": "Failed", "reason": reason, "message": message, "conditions": []}


def pod_event(
    pod: Any,
    reason: str,
    message: str,
    node: str,
    warning: bool = True,
    field_path: str | None = None,
    name: str | None = None,
) -> dict[str, Any]:
    """A core/v1 Event about a pod from the (simulated) kubelet of `node`."""
    meta = pod.metadata
    now = now_rfc3339()
    involved = {
        "kind": "Pod",
        "name": meta.name,
        "namespace": meta.namespace,
        "apiVersion": "v1",
        "uid": meta.uid,
    }
    if field_path:
        involved["fieldPath"] = field_path
    metadata: dict[str, Any] = {"namespace": meta.namespace}
    if name:
        metadata["name"] = name
    else:
        metadata["generateName"] = f"{meta.name}."
    return {
        "metadata": metadata,
        "involvedObject": involved,
        "reason": reason,
        "type": "Warning" if warning else "Normal",
        "message": message,
        "source": {"component": "kubelet", "host": node},
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }
