"""Judging device-plugin readiness: pure functions over DaemonSet, Node and Pod objects.

The DaemonSet verdict is never vacuous: desired must be > 0 and equal to the number of
expected GPU nodes. When it is not ready, the message names the nodes that are short and why.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import yaml

from gpuconform.conditions import GPU_RESOURCE, is_ready

CONTROLLER_TOLERATIONS = Path(__file__).with_name("daemonset_tolerations.yaml")

PLUGIN_CONTAINER = "nvidia-device-plugin-ctr"
PLUGIN_PROGRAM = "nvidia-device-plugin"


def runs_device_plugin(container: dict[str, Any]) -> bool:
    """Does this container (API dict form) run the device plugin itself?

    Judged by what it runs, never by labels: the upstream chart's MPS control daemon and GFD
    DaemonSets carry exactly the plugin's labels. The chart and the static manifest name the
    container `nvidia-device-plugin-ctr`, the GPU Operator `nvidia-device-plugin`; otherwise
    the container runs the `nvidia-device-plugin` program (as its command, or as the plugin
    image's default entrypoint).
    """
    if container.get("name") in (PLUGIN_CONTAINER, PLUGIN_PROGRAM):
        return True
    command = [*(container.get("command") or []), *(container.get("args") or [])]
    if any(part.rsplit("/", 1)[-1] == PLUGIN_PROGRAM for part in command[:1]):
        return True
    image = (container.get("image") or "").split("@", 1)[0].rsplit(":", 1)[0]
    return not container.get("command") and image.endswith("/k8s-device-plugin")


def is_plugin_daemonset(ds: Any) -> bool:
    """A DaemonSet object that runs the device plugin itself (not MPS, GFD or NFD)."""
    containers = ds.spec.template.spec.containers or []
    return any(
        runs_device_plugin({"name": c.name, "command": c.command, "args": c.args, "image": c.image})
        for c in containers
    )


def plugin_daemonset_names(manifest_objects: Iterable[dict[str, Any]]) -> list[str]:
    """Names of the device-plugin DaemonSets among a release's rendered objects."""
    return [
        obj["metadata"]["name"]
        for obj in manifest_objects
        if obj.get("kind") == "DaemonSet"
        and any(
            runs_device_plugin(c) for c in obj["spec"]["template"]["spec"].get("containers") or []
        )
    ]


@dataclass(frozen=True)
class Readiness:
    ok: bool
    summary: str


def daemonset_readiness(ds: Any, expected_nodes: int | None) -> Readiness:
    """Ready means: desired > 0 (and == expected), ready == updated == desired, status current."""
    status = ds.status
    desired = status.desired_number_scheduled or 0
    ready = status.number_ready or 0
    updated = status.updated_number_scheduled or 0
    observed = status.observed_generation or 0
    generation = ds.metadata.generation or 0
    state = f"desired={desired} ready={ready} updated={updated}"
    if observed < generation:
        return Readiness(False, f"{state}; controller has not observed generation {generation} yet")
    if desired == 0:
        return Readiness(False, f"{state}; the DaemonSet wants 0 pods")
    if expected_nodes is not None and desired != expected_nodes:
        return Readiness(False, f"{state}; expected {expected_nodes} GPU nodes")
    if ready != desired or updated != desired:
        return Readiness(False, state)
    return Readiness(True, state)


def _term_matches(term: Any, labels: dict[str, str]) -> bool:
    for expr in term.match_expressions or []:
        value = labels.get(expr.key)
        op = expr.operator
        if op == "In" and value not in (expr.values or []):
            return False
        if op == "NotIn" and value in (expr.values or []):
            return False
        if op == "Exists" and expr.key not in labels:
            return False
        if op == "DoesNotExist" and expr.key in labels:
            return False
    return True


def node_affinity_terms(ds: Any) -> list[Any]:
    affinity = ds.spec.template.spec.affinity
    required = (
        affinity
        and affinity.node_affinity
        and (affinity.node_affinity.required_during_scheduling_ignored_during_execution)
    )
    return list(required.node_selector_terms) if required else []


def matches_placement(ds: Any, labels: dict[str, str]) -> bool:
    """Would the DaemonSet's nodeSelector and required node affinity accept these labels?"""
    selector = ds.spec.template.spec.node_selector or {}
    if any(labels.get(k) != v for k, v in selector.items()):
        return False
    terms = node_affinity_terms(ds)
    return not terms or any(_term_matches(t, labels) for t in terms)


def describe_affinity(ds: Any) -> str:
    parts = []
    for term in node_affinity_terms(ds):
        exprs = [
            f"{e.key} {e.operator} [{', '.join(e.values or [])}]".replace(" []", "")
            for e in term.match_expressions or []
        ]
        parts.append(" AND ".join(exprs))
    selector = ds.spec.template.spec.node_selector or {}
    if selector:
        parts.append(" AND ".join(f"{k}={v}" for k, v in selector.items()))
    return " OR ".join(f"({p})" for p in parts) or "(none)"


# Waiting reasons that no amount of waiting fixes: the image or the pod's config is wrong.
STUCK_REASONS = frozenset(
    {"ImagePullBackOff", "ErrImagePull", "CreateContainerConfigError", "InvalidImageName"}
)


def owned_by(pod: Any, owner: Any) -> bool:
    """Is `owner` (a DaemonSet, a Job...) the pod's controller? Labels are not proof: the
    upstream chart's GFD and MPS DaemonSets select exactly the plugin's pod labels."""
    return any(
        ref.controller and ref.uid == owner.metadata.uid
        for ref in pod.metadata.owner_references or []
    )


TEMPLATE_GENERATION = "deprecated.daemonset.template.generation"


def current_pods(ds: Any, pods: Iterable[Any]) -> list[Any]:
    """The DaemonSet's pods of its current template. Its controller labels each pod with the
    template generation it was made from (`pod-template-generation`), which the DaemonSet
    carries in an annotation; `metadata.generation` also counts changes outside the template
    (update strategy, minReadySeconds), so it is not the one to compare. Without either, a
    pod counts as current."""
    template = (ds.metadata.annotations or {}).get(TEMPLATE_GENERATION)
    return [
        p
        for p in pods
        if owned_by(p, ds)
        and (
            template is None
            or (p.metadata.labels or {}).get("pod-template-generation", template) == template
        )
    ]


def stuck_reason(pod: Any) -> str | None:
    """`ImagePullBackOff: <message>` for a container that waiting will not fix, else None."""
    statuses = [*(pod.status.init_container_statuses or []), *(pod.status.container_statuses or [])]
    for cs in statuses:
        waiting = cs.state and cs.state.waiting
        if waiting and waiting.reason in STUCK_REASONS:
            return f"{waiting.reason}: {(waiting.message or '').strip()}".rstrip(": ")
    return None


# A container the runtime cannot create because a CDI device the pod was handed is in no spec
# the runtime reads. kubelet retries it, but for a pod the run made and gave its devices to
# (a GPU test pod, a DRA claim's pod) no retry finds the spec; a plugin's own pods are judged
# by readiness instead, as the node's toolkit may still be writing its spec.
UNRESOLVABLE_CDI = "unresolvable CDI devices"


def own_pod_stuck_reason(pod: Any) -> str | None:
    """`stuck_reason`, and a container the runtime cannot create for a CDI device no spec
    names (CreateContainerError/RunContainerError: ... unresolvable CDI devices ...)."""
    if reason := stuck_reason(pod):
        return reason
    statuses = [*(pod.status.init_container_statuses or []), *(pod.status.container_statuses or [])]
    for cs in statuses:
        waiting = cs.state and cs.state.waiting
        if waiting and UNRESOLVABLE_CDI in (waiting.message or ""):
            return f"{waiting.reason}: {waiting.message.strip()}"
    return None


def nodes_without_ready_pod(pods: Iterable[Any], node_names: Iterable[str]) -> list[str]:
    """The expected nodes that have no Ready pod among `pods`, sorted."""
    served = {p.spec.node_name for p in pods if is_ready(p) and not p.metadata.deletion_timestamp}
    return sorted(set(node_names) - served)


def pod_problem(pod: Any) -> str:
    """One phrase for why a pod is not Ready: CrashLoopBackOff (5 restarts), Pending, ..."""
    if pod.metadata.deletion_timestamp:
        return "terminating"
    for cs in pod.status.container_statuses or []:
        waiting = cs.state and cs.state.waiting
        if waiting and waiting.reason:
            return f"{waiting.reason} ({cs.restart_count} restarts) in {cs.name}"
        if not cs.ready:
            return f"container {cs.name} not ready ({cs.restart_count} restarts)"
    return pod.status.phase or "unknown"


def _tolerates(toleration: Any, taint: Any) -> bool:
    """Does the toleration admit the taint (Kubernetes' matching: key, operator, effect)?"""
    if toleration.effect and toleration.effect != taint.effect:
        return False
    if toleration.operator == "Exists":
        return not toleration.key or toleration.key == taint.key
    return toleration.key == taint.key and (toleration.value or "") == (taint.value or "")


@functools.cache
def _controller_tolerations() -> dict[str, list[SimpleNamespace]]:
    data = yaml.safe_load(CONTROLLER_TOLERATIONS.read_text())
    return {
        group: [SimpleNamespace(operator="Exists", value=None, **t) for t in entries]
        for group, entries in data.items()
    }


def pod_tolerations(ds: Any) -> list[Any]:
    """What the DaemonSet's pods tolerate: its template's tolerations and those its
    controller adds to every pod it creates (daemonset_tolerations.yaml)."""
    spec = ds.spec.template.spec
    added = _controller_tolerations()
    return [
        *(spec.tolerations or []),
        *added["always"],
        *(added["host_network"] if spec.host_network else []),
    ]


def untolerated_taints(ds: Any, node: Any) -> list[str]:
    """The node's NoSchedule/NoExecute taints the DaemonSet's pods do not tolerate: its
    controller places no pod there (`sku=gpu:NoSchedule`)."""
    tolerations = pod_tolerations(ds)
    return [
        f"{t.key}{'=' + t.value if t.value else ''}:{t.effect}"
        for t in node.spec.taints or []
        if t.effect in ("NoSchedule", "NoExecute")
        and not any(_tolerates(tol, t) for tol in tolerations)
    ]


def explain_shortfall(
    ds: Any,
    gpu_nodes: list[Any],
    pods: list[Any],
    expected: dict[str, dict[str, int] | None],
) -> list[str]:
    """For each expected GPU node that is not fully served, one line saying why; `expected`
    is what each node must advertise, by node name (gpuconform/fleet.py)."""
    pods_by_node: dict[str, list[Any]] = {}
    for pod in current_pods(ds, pods):
        pods_by_node.setdefault(pod.spec.node_name or "", []).append(pod)
    lines = []
    for node in gpu_nodes:
        name = node.metadata.name
        labels = node.metadata.labels or {}
        if not matches_placement(ds, labels):
            lines.append(
                f"{name}: no device-plugin pod wanted - the node matches none of the chart's "
                f"node affinity terms {describe_affinity(ds)}"
            )
            continue
        node_pods = pods_by_node.get(name, [])
        if not node_pods and (taints := untolerated_taints(ds, node)):
            lines.append(
                f"{name}: no device-plugin pod wanted - the plugin's pods do not tolerate the "
                f"node's taint {', '.join(taints)}"
            )
            continue
        if not node_pods:
            lines.append(f"{name}: no device-plugin pod scheduled")
            continue
        unready = [p for p in node_pods if not is_ready(p)]
        if unready:
            p = unready[0]
            lines.append(f"{name}: device-plugin pod {p.metadata.name} {pod_problem(p)}")
            continue
        wanted = expected.get(name) or {}
        short = {
            resource: allocatable_gpus(node, resource)
            for resource, count in wanted.items()
            if allocatable_gpus(node, resource) != count
        }
        if short:
            have = ", ".join(f"{r}={c}{unhealthy_note(node, r)}" for r, c in short.items())
            want = ", ".join(f"{r}={wanted[r]}" for r in short)
            lines.append(f"{name}: plugin pod Ready but node advertises {have}, expected {want}")
    return lines


def allocatable_gpus(node: Any, resource: str = GPU_RESOURCE) -> int:
    return int((node.status.allocatable or {}).get(resource, 0))


def unhealthy_gpus(node: Any, resource: str = GPU_RESOURCE) -> int:
    """Devices of `resource` that kubelet holds back as Unhealthy: its device manager counts
    every device the plugin lists in capacity, and only the healthy ones in allocatable."""
    capacity = int((node.status.capacity or {}).get(resource, 0))
    return max(capacity - allocatable_gpus(node, resource), 0)


def unhealthy_note(node: Any, resource: str = GPU_RESOURCE) -> str:
    """ " (1 of 8 unhealthy)" when the plugin reported devices Unhealthy, else ""."""
    bad = unhealthy_gpus(node, resource)
    if not bad:
        return ""
    return f" ({bad} of {bad + allocatable_gpus(node, resource)} unhealthy)"
