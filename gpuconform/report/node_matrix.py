"""The node matrix: one row per expected GPU node (and per unexpected GPU-labelled node).

Pure functions over the objects a run read from the API once (gpuconform/report/snapshot.py)
and what the run already holds: node-probe results and per-node diagnoses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from gpuconform.conditions import GPU_RESOURCE, is_ready
from gpuconform.diagnose.probe import ProbeResult
from gpuconform.fleet import Expectation
from gpuconform.readiness import (
    allocatable_gpus,
    matches_placement,
    owned_by,
    pod_problem,
    unhealthy_gpus,
)
from gpuconform.report.layout import gpu_label_keys
from gpuconform.workload import is_expected_failure

CLI_INFO = "nvidia-container-cli info"
TOOL_NOT_FOUND = 127
NO_CLI_NEEDED = "(not needed: nvidia-container-runtime mode = cdi)"


@dataclass
class NodeRow:
    name: str
    expected: bool
    ready: bool
    gpu_labels: dict[str, str]
    plugin_pod: str | None
    plugin_phase: str | None  # e.g. "Running", "CrashLoopBackOff (6 restarts) in ..."
    plugin_restarts: int | None
    gpus_advertised: int
    gpus_expected: int | None
    gpus_unhealthy: int = 0  # in capacity but not allocatable: the plugin marked them Unhealthy
    pool: str | None = None  # the GPU node pool the node is in (None: in no pool)
    expected_from: str | None = None  # where gpus_expected comes from (fleet.SOURCE_*)
    workload: list[str] = field(default_factory=list)  # "gpu-workload: Succeeded"
    probe: dict[str, Any] | None = None  # driver, gpus, toolkit, driver_ok
    diagnosis: str | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return self.expected and not self.problems

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"healthy": self.healthy}


@dataclass
class DraView:
    """On the DRA path: what each node publishes (its ResourceSlice pool's devices) and the
    DRA driver's kubelet-plugin pods; a node is judged by these, not nvidia.com/gpu."""

    gpus: dict[str, int]  # node -> devices in its gpu.nvidia.com pool
    plugin_pods: list[Any]  # the kubelet-plugin DaemonSet's pods


@dataclass
class Snapshot:
    """What the node matrix is built from: objects listed once, at the end of the checks."""

    nodes: list[Any]
    expected: set[str]  # names of the nodes in the profile's GPU node pools
    daemonsets: list[Any]  # the device-plugin DaemonSets
    plugin_pods: list[Any]  # pods in the DaemonSets' namespaces (owner filtered here)
    workload_pods: list[Any]  # the run's GPU test pods
    api_calls: int = 0
    seconds: float = 0.0
    dra: DraView | None = None  # the DRA path's view; None on the device-plugin path


def is_gpu_labelled(node: Any) -> bool:
    labels = node.metadata.labels or {}
    return any(labels.get(k) not in (None, "", "false") for k in gpu_label_keys()) or bool(
        allocatable_gpus(node)
    )


def owned_pods(daemonsets: list[Any], pods: list[Any]) -> list[Any]:
    """Pods whose controller is one of the DaemonSets (by uid, never by label selector)."""
    return [p for p in pods if any(owned_by(p, ds) for ds in daemonsets)]


def gpu_request(pod: Any, resources: tuple[str, ...] = (GPU_RESOURCE,)) -> int:
    return sum(
        int(((c.resources and c.resources.limits) or {}).get(resource, 0))
        for c in pod.spec.containers or []
        for resource in resources
    )


def probe_facts(probe: ProbeResult) -> dict[str, Any]:
    """Driver version, GPU count and container toolkit, from a node probe's output."""
    code = probe.exit_code(CLI_INFO)
    # A runtime in CDI mode needs no nvidia-container-cli; the probe says so (node_probe.sh).
    cdi_mode = NO_CLI_NEEDED in probe.text(CLI_INFO)
    toolkit = (
        "ok"
        if code == 0
        else "ok (CDI mode: no nvidia-container-cli needed)"
        if code == TOOL_NOT_FOUND and cdi_mode
        else "not installed"
        if code == TOOL_NOT_FOUND
        else "unknown"
        if code is None
        else f"fails (exit {code})"
    )
    return {
        "driver": probe.driver_version,
        "gpus": len(probe.gpu_models),
        "toolkit": toolkit,
        "driver_ok": probe.driver_ok,
    }


def _plugin_pod(pods: list[Any]) -> Any | None:
    """The node's current plugin pod: not terminating, newest first."""
    live = [p for p in pods if not p.metadata.deletion_timestamp] or pods
    return max(live, key=lambda p: p.metadata.creation_timestamp or 0, default=None)


def _problems(row: NodeRow, wanted: bool, pod: Any, dra: bool = False) -> list[str]:
    out = []
    if not row.ready:
        out.append("node not Ready")
    plugin = "DRA kubelet-plugin" if dra else "device-plugin"
    if pod is None:
        out.append(f"no {plugin} pod" + ("" if wanted else " wanted (node affinity)"))
    elif row.plugin_phase != "Running":
        out.append(f"plugin pod {row.plugin_phase}")
    expected = row.gpus_expected
    if (expected is not None and row.gpus_advertised != expected) or not row.gpus_advertised:
        verb = "publishes" if dra else "advertises"
        out.append(f"{verb} {row.gpus_advertised} GPUs" + (" (ResourceSlice)" if dra else ""))
    if row.gpus_unhealthy:
        out.append(f"{row.gpus_unhealthy} GPU(s) unhealthy")
    if any(not w.endswith(("Succeeded", "Running")) for w in row.workload):
        out.append("GPU pod did not succeed")
    if row.probe and not row.probe["driver_ok"]:
        out.append("node probe: driver not working")
    if row.diagnosis:
        out.append("diagnosed")
    return out


def _node_row(
    node: Any, expected: bool, want: Expectation | None, pod: Any, workload_pods: list[Any]
) -> NodeRow:
    """One node's row from the API objects: labels, plugin pod, GPUs, the suite's GPU pods."""
    name = node.metadata.name
    labels = node.metadata.labels or {}
    wanted = (want.resources if want else None) or {}
    resources = tuple(wanted or ((want.resource,) if want else (GPU_RESOURCE,)))
    phase = None
    if pod is not None:
        problem = pod_problem(pod)
        phase = "Running" if problem == "Running" else problem
    workload = [
        f"{p.metadata.name}: {p.status.phase}"
        for p in workload_pods
        if p.spec.node_name == name and gpu_request(p, resources) > 0 and not is_expected_failure(p)
    ]
    return NodeRow(
        name=name,
        expected=expected,
        ready=is_ready(node),
        gpu_labels={k: labels[k] for k in gpu_label_keys() if k in labels},
        plugin_pod=pod.metadata.name if pod is not None else None,
        plugin_phase=phase,
        plugin_restarts=(
            sum(cs.restart_count or 0 for cs in pod.status.container_statuses or [])
            if pod is not None
            else None
        ),
        gpus_advertised=sum(allocatable_gpus(node, r) for r in resources),
        gpus_expected=sum(wanted.values()) if wanted else None,
        gpus_unhealthy=sum(unhealthy_gpus(node, r) for r in resources),
        pool=want.pool if want else None,
        expected_from=want.source if wanted and want else None,
        workload=sorted(workload),
    )


def build_node_matrix(
    snap: Snapshot,
    expectations: Mapping[str, Expectation],
    probes: dict[str, ProbeResult],
    diagnoses: dict[str, str],
) -> list[NodeRow]:
    """Rows for the expected GPU nodes, grouped by pool (in `expectations`' order) and by
    name, then unexpected GPU-labelled nodes.

    `expectations` says, per expected node, its pool and what it must advertise by resource
    name (GPUs, x sharing replicas, or MIG slices: gpuconform/fleet.py); a node without one,
    or whose expectation has no counts, passes with any positive nvidia.com/gpu count.
    """
    pool_rank = {e.pool: i for i, e in reversed(list(enumerate(expectations.values())))}
    plugin_pods = (
        snap.dra.plugin_pods if snap.dra else owned_pods(snap.daemonsets, snap.plugin_pods)
    )
    rows = []
    for node in snap.nodes:
        name = node.metadata.name
        expected = name in snap.expected
        if not expected and not is_gpu_labelled(node):
            continue
        want = expectations.get(name) if expected else None
        pod = _plugin_pod([p for p in plugin_pods if p.spec.node_name == name])
        row = _node_row(node, expected, want, pod, snap.workload_pods)
        if snap.dra is not None:  # GPUs go out by ResourceClaim: judge the published pool
            row.gpus_advertised = snap.dra.gpus.get(name, 0)
            row.gpus_unhealthy = 0
        row.probe = probe_facts(probes[name]) if name in probes else None
        row.diagnosis = diagnoses.get(name)
        labels = node.metadata.labels or {}
        placed = not snap.daemonsets or any(matches_placement(ds, labels) for ds in snap.daemonsets)
        row.problems = (
            _problems(row, placed, pod, dra=snap.dra is not None)
            if expected
            else ["not matched by the profile's GPU node selector"]
        )
        rows.append(row)
    return sorted(
        rows, key=lambda r: (not r.expected, pool_rank.get(r.pool or "", len(pool_rank)), r.name)
    )
