"""DRA readiness (issue 19): what must hold before pods can claim GPUs from NVIDIA's DRA driver,
judged per node so a failure names the node and the fix.

``readiness_findings`` is pure (the cluster's state in, findings out); ``gather`` reads that
state from a cluster.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gpuconform import dra


@dataclass(frozen=True)
class Finding:
    node: str | None  # None: the cluster as a whole
    problem: str
    fix: str

    def __str__(self) -> str:
        where = f"{self.node}: " if self.node else ""
        return f"{where}{self.problem} (fix: {self.fix})"


@dataclass
class DraState:
    """What readiness is judged on."""

    device_classes: set[str]
    plugin_ready: set[str]  # nodes with a Ready kubelet-plugin pod
    plugin_waiting: dict[str, str]  # node -> why its plugin pod is not Ready
    pools: dict[str, dra.Pool]
    advertised: dict[str, int]  # node -> allocatable nvidia.com/gpu (the device plugin's)


def readiness_findings(
    state: DraState, expected: dict[str, int], smi: dict[str, list[dict[str, str]]]
) -> list[Finding]:
    """Every way the DRA setup falls short of ``expected`` (node -> GPUs). ``smi``: node ->
    nvidia-smi's GPUs there ({uuid, name, driver_version}, and cuda_version where known: the
    CUDA Version its header prints); a node missing from it is not compared."""
    findings: list[Finding] = []
    device_class = dra.settings()["device_class"]
    if device_class not in state.device_classes:
        findings.append(
            Finding(
                None,
                f"DeviceClass {device_class} does not exist",
                "install NVIDIA's DRA driver chart with resources.gpus.enabled=true",
            )
        )
    for node, count in sorted(expected.items()):
        if node not in state.plugin_ready:
            why = state.plugin_waiting.get(node, "no pod scheduled there")
            findings.append(
                Finding(
                    node,
                    f"no Ready DRA kubelet plugin ({why})",
                    "check the node's driver under the chart's nvidiaDriverRoot (the "
                    "plugin's init container log says what it found), and the DaemonSet's "
                    "tolerations and node affinity",
                )
            )
        pool = state.pools.get(node)
        if pool is None:
            findings.append(
                Finding(node, "publishes no ResourceSlice", "see the kubelet plugin's log")
            )
            continue
        if pool.slices != 1 or len(pool.devices) != count:
            findings.append(
                Finding(
                    node,
                    f"ResourceSlice pool has {len(pool.devices)} GPUs in {pool.slices} "
                    f"slice(s), expected {count} in 1",
                    "compare nvidia-smi -L on the node with the plugin's log",
                )
            )
        if state.advertised.get(node, 0) > 0:
            findings.append(
                Finding(
                    node,
                    f"both the device plugin (nvidia.com/gpu={state.advertised[node]}) and "
                    "the DRA driver advertise its GPUs: each GPU can be handed out twice",
                    "remove the device plugin from this node (or keep the DRA driver off it)",
                )
            )
        findings += _attribute_findings(node, pool, smi.get(node))
    return findings


def _attribute_findings(
    node: str, pool: dra.Pool, gpus: list[dict[str, str]] | None
) -> list[Finding]:
    if gpus is None:
        return []
    by_uuid = {g["uuid"]: g for g in gpus}
    findings = []
    for name, device in sorted(pool.devices.items()):
        gpu = by_uuid.get(device.get("uuid", ""))
        if gpu is None:
            findings.append(
                Finding(
                    node,
                    f"device {name} has uuid {device.get('uuid')!r}, which nvidia-smi does "
                    "not list",
                    "restart the DRA kubelet plugin on this node",
                )
            )
            continue
        if device.get("productName") != gpu["name"]:
            findings.append(
                Finding(
                    node,
                    f"device {name} says productName {device.get('productName')!r}, "
                    f"nvidia-smi {gpu['name']!r}",
                    "restart the DRA kubelet plugin on this node",
                )
            )
        cuda = gpu.get("cuda_version")
        if cuda and not dra.same_version(device.get("cudaDriverVersion", ""), cuda):
            findings.append(
                Finding(
                    node,
                    f"device {name} says cudaDriverVersion {device.get('cudaDriverVersion')!r}, "
                    f"nvidia-smi CUDA Version {cuda!r}",
                    "restart the DRA kubelet plugin after a driver upgrade",
                )
            )
        if not dra.same_version(device.get("driverVersion", ""), gpu["driver_version"]):
            findings.append(
                Finding(
                    node,
                    f"device {name} says driverVersion {device.get('driverVersion')!r}, "
                    f"nvidia-smi {gpu['driver_version']!r}",
                    "restart the DRA kubelet plugin after a driver upgrade",
                )
            )
    return findings


def gather(core: Any, resource: Any, custom: Any, namespace: str) -> DraState:
    """The cluster's DRA state; ``namespace`` is the DRA driver's."""
    classes = custom.list_cluster_custom_object("resource.k8s.io", "v1", "deviceclasses")
    ds_name = dra.settings()["kubelet_plugin_daemonset"]
    ready: set[str] = set()
    waiting: dict[str, str] = {}
    for pod in core.list_namespaced_pod(namespace).items:
        owners = pod.metadata.owner_references or []
        if not any(o.kind == "DaemonSet" and o.name == ds_name for o in owners):
            continue
        node = pod.spec.node_name
        if any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or []):
            ready.add(node)
        elif node:
            waiting[node] = _why_not_ready(pod)
    advertised = {
        n.metadata.name: int((n.status.allocatable or {}).get("nvidia.com/gpu", "0"))
        for n in core.list_node().items
    }
    return DraState(
        device_classes={c["metadata"]["name"] for c in classes["items"]},
        plugin_ready=ready,
        plugin_waiting=waiting,
        pools=dra.pools(dra.list_slices(resource)),
        advertised=advertised,
    )


def _why_not_ready(pod: Any) -> str:
    for status in pod.status.init_container_statuses or []:
        state = status.state
        if state and state.running:
            # The chart's init container loops until the driver check passes.
            return f"init container {status.name} still running: its driver check has not passed"
        if state and state.waiting:
            return f"init container {status.name} {state.waiting.reason}"
    for status in pod.status.container_statuses or []:
        state = status.state
        if state and state.waiting:
            return f"container {status.name} {state.waiting.reason}"
        if state and state.running and not status.ready:
            return f"container {status.name} running, not ready"
    return f"pod {pod.status.phase}"
