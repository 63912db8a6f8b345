"""What a SIMULATED node's containers get from its kubelet: their devices (the real plugin's
Allocate through the node's device manager, or SIMULATED registration's free device UUIDs)
and the env the NVIDIA container runtime gives them."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from kubernetes import client

from gpuconform.sim.kubelet.node import SimNodeRuntime

EXTENDED_PREFIX = "nvidia.com/"


def gpu_limits(container: Any) -> dict[str, int]:
    """The container's NVIDIA extended-resource limits (nvidia.com/gpu, .shared, mig-*)."""
    limits = (container.resources and container.resources.limits) or {}
    return {k: int(v) for k, v in limits.items() if k.startswith(EXTENDED_PREFIX) and int(v)}


def literal_env(container: Any, pod: client.V1Pod) -> dict[str, str]:
    """The container's env: literal values and the downward-API fields kubelet resolves."""
    fields = {
        "spec.nodeName": pod.spec.node_name,
        "metadata.name": pod.metadata.name,
        "metadata.namespace": pod.metadata.namespace,
        "metadata.uid": pod.metadata.uid,
        "spec.serviceAccountName": pod.spec.service_account_name,
    }
    env: dict[str, str] = {}
    for var in container.env or []:
        if var.value is not None:
            env[var.name] = var.value
        elif var.value_from and var.value_from.field_ref:
            env[var.name] = fields.get(var.value_from.field_ref.field_path) or ""
        else:
            env.setdefault(var.name, "")
    return env


def allocate(pod: client.V1Pod, node: SimNodeRuntime) -> dict[str, dict[str, str]]:
    """Each container's env from its devices (kubelet's Allocate); raises AllocationError.

    Init containers first, as kubelet admits them; their devices go to the next container.
    """
    envs: dict[str, dict[str, str]] = {}
    uid = pod.metadata.uid
    containers = [(c, True) for c in pod.spec.init_containers or []]
    containers += [(c, False) for c in pod.spec.containers]
    for container, init in containers:
        env: dict[str, str] = {}
        for resource, count in gpu_limits(container).items():
            manager = node.device_manager
            if manager is not None:  # the real plugin's devices, or kubelet's refusal
                allocation = manager.allocate(uid, container.name, resource, count, init)
                env.update(allocation.envs)
            else:
                env["NVIDIA_VISIBLE_DEVICES"] = ",".join(
                    simulated_allocation(node, uid, count, init)
                )
        envs[container.name] = env
    return envs


def simulated_allocation(node: SimNodeRuntime, uid: str, count: int, init: bool) -> list[str]:
    """SIMULATED registration has no plugin to ask: devices an init container left first,
    then free device UUIDs in order."""
    held = node.simulated_allocations.setdefault(uid, [])
    reuse = node.simulated_reuse.setdefault(uid, [])
    used = {d for ids in node.simulated_allocations.values() for d in ids}
    chosen = reuse[:count]
    chosen += [d for d in node.device_uuids() if d not in used][: count - len(chosen)]
    held.extend(d for d in chosen if d not in held)
    if init:
        reuse.extend(d for d in chosen if d not in reuse)
    else:
        reuse[:] = [d for d in reuse if d not in chosen]
    return chosen


def container_env(
    pod: client.V1Pod,
    container: Any,
    node: SimNodeRuntime,
    devices_env: dict[str, str],
    simbin: Path,
) -> dict[str, str]:
    """What the process of a container sees: its env, its devices, and the node's driver.

    The NVIDIA container runtime gives a container the driver (here: the node's NVML)
    when NVIDIA_VISIBLE_DEVICES is set, by the pod or by the device plugin's Allocate,
    or when it is privileged (then it sees every GPU).
    """
    env = {"PATH": f"{simbin}:{os.environ.get('PATH', '/usr/bin:/bin')}"}
    env |= literal_env(container, pod)
    env |= devices_env
    privileged = bool(container.security_context and container.security_context.privileged)
    if privileged and "NVIDIA_VISIBLE_DEVICES" not in env:
        env["NVIDIA_VISIBLE_DEVICES"] = "all"
    if env.get("NVIDIA_VISIBLE_DEVICES") not in (None, "", "void"):
        env |= node.nvml_env
    # The node probe runs host tools directly: there is no host root to chroot into.
    env["GPUCONFORM_SIM"] = "1"
    return env
