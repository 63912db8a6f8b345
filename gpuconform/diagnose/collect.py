"""Collect the evidence a platform engineer would gather by hand after a failed step.

Events, DaemonSet and pod status, current and previous container logs, node state, and a
node probe (nvidia-container-cli info, nvidia-smi, device nodes, driver, libraries,
runtime configuration) on each affected node. Everything is redacted before it is written.
"""

from __future__ import annotations

import contextlib
import copy
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes.client.rest import ApiException

from gpuconform.conditions import GPU_RESOURCE, is_ready
from gpuconform.diagnose.explain import PROBE_MARK, Evidence
from gpuconform.diagnose.model import FAILED_CHECK
from gpuconform.diagnose.probe import GPU_LIST_LINE, parse_probe, probe_script
from gpuconform.diagnose.redact import redact
from gpuconform.identity import ensure_probe_namespace
from gpuconform.readiness import owned_by
from gpuconform.release import find_plugin_daemonsets
from gpuconform.run import RunContext
from gpuconform.wait import WaitTimeout
from gpuconform.workload import apply_pod_settings, is_expected_failure, manifest, wait_pod_finished

MAX_NODES_PROBED = 5
PROBE_TIMEOUT_S = 120


@dataclass
class Collected:
    evidence: list[Evidence] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, ctx: RunContext, folder: str, name: str, ev: Evidence) -> None:
        safe = Evidence(ev.source, ev.subject, redact(ev.text), ev.node)
        self.evidence.append(safe)
        path = ctx.report_dir / "diagnostics" / folder.replace("/", "_") / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(safe.text)
        self.files.append(path)


def format_events(events: list[Any]) -> str:
    def when(e: Any) -> str:
        stamp = (
            e.last_timestamp or e.event_time or e.first_timestamp or e.metadata.creation_timestamp
        )
        return stamp.isoformat() if stamp else ""

    lines = ["LAST SEEN                  TYPE     REASON              COUNT  OBJECT  MESSAGE"]
    for e in sorted(events, key=when):
        obj = f"{(e.involved_object.kind or '').lower()}/{e.involved_object.name}"
        lines.append(
            f"{when(e)[:25]:<26} {e.type or '':<8} {e.reason or '':<19} {e.count or 1:>5}  {obj}  "
            f"{(e.message or '').strip()}"
        )
    return "\n".join(lines) + "\n"


def describe_pod(pod: Any) -> str:
    out = [
        f"Name:       {pod.metadata.name}",
        f"Namespace:  {pod.metadata.namespace}",
        f"Node:       {pod.spec.node_name}",
        f"Status:     {pod.status.phase}",
        "Conditions:",
    ]
    for c in pod.status.conditions or []:
        out.append(f"  {c.type:<16} {c.status}  {c.reason or ''} {c.message or ''}".rstrip())
    out.append("Containers:")
    for cs in pod.status.container_statuses or []:
        state = cs.state
        if state.waiting:
            now = f"Waiting ({state.waiting.reason}): {state.waiting.message or ''}"
        elif state.terminated:
            t = state.terminated
            now = f"Terminated ({t.reason}, exit code {t.exit_code})"
        else:
            now = "Running"
        out.append(f"  {cs.name}: {now}; ready={cs.ready}; restarts={cs.restart_count}")
        last = cs.last_state and cs.last_state.terminated
        if last:
            out.append(f"    Last State: Terminated ({last.reason}, exit code {last.exit_code})")
    return "\n".join(out) + "\n"


def describe_daemonset(ds: Any) -> str:
    s = ds.status
    return (
        f"Name:            {ds.metadata.namespace}/{ds.metadata.name}\n"
        f"Generation:      {ds.metadata.generation} (observed {s.observed_generation})\n"
        f"Desired:         {s.desired_number_scheduled}\n"
        f"Current:         {s.current_number_scheduled}\n"
        f"Ready:           {s.number_ready}\n"
        f"Up-to-date:      {s.updated_number_scheduled}\n"
        f"Available:       {s.number_available}\n"
        f"Misscheduled:    {s.number_misscheduled}\n"
        f"Node selector:   {ds.spec.template.spec.node_selector}\n"
        f"Affinity:        {ds.spec.template.spec.affinity}\n"
        f"Tolerations:     {ds.spec.template.spec.tolerations}\n"
    )


def describe_node(node: Any) -> str:
    out = [f"Name: {node.metadata.name}", "Labels:"]
    out += [f"  {k}={v}" for k, v in sorted((node.metadata.labels or {}).items())]
    out.append("Taints:")
    out += [f"  {t.key}={t.value or ''}:{t.effect}" for t in node.spec.taints or []] or ["  <none>"]
    out.append("Conditions:")
    for c in node.status.conditions or []:
        out.append(f"  {c.type:<20} {c.status}  {c.reason or ''}")
    out.append(
        f"Capacity:    {GPU_RESOURCE}={(node.status.capacity or {}).get(GPU_RESOURCE, '<none>')}"
    )
    out.append(
        f"Allocatable: {GPU_RESOURCE}={(node.status.allocatable or {}).get(GPU_RESOURCE, '<none>')}"
    )
    out.append(f"Capacity (all):    {node.status.capacity}")
    out.append(f"Allocatable (all): {node.status.allocatable}")
    return "\n".join(out) + "\n"


def _logs(ctx: RunContext, pod: Any, container: str, previous: bool) -> str | None:
    try:
        return ctx.kube.core.read_namespaced_pod_log(
            pod.metadata.name,
            pod.metadata.namespace,
            container=container,
            previous=previous,
            tail_lines=200,
        )
    except ApiException:
        return None


def _namespaces(ctx: RunContext, plugin: list[str]) -> list[str]:
    candidates = [*plugin, ctx.identity.workload_namespace, ctx.identity.probe_namespace]
    return [ns for ns in dict.fromkeys(candidates) if _namespace_exists(ctx, ns)]


def _namespace_exists(ctx: RunContext, name: str) -> bool:
    try:
        ctx.kube.core.read_namespace(name)
        return True
    except ApiException:
        return False


@dataclass
class _Scope:
    """What one failure's collection looks at, and the nodes it finds failing pods on."""

    gpu_node_names: list[str]
    pool_scoped: bool
    deadline: float
    daemonsets: list[Any]
    plugin: list[str]  # namespaces whose pods are the plugin's (their logs: plugin-log)
    ours: set[str]  # namespaces the run owns or installs into: every pod there is evidence
    affected: list[str] = field(default_factory=list)


def collect(
    ctx: RunContext, failure: str, gpu_node_names: list[str], pool_scoped: bool = False
) -> Collected:
    """Gather evidence for a failed step; the failure message itself is evidence too.

    Bounded by the profile's diagnostics.budget_s; node probes run once per node and run.
    `pool_scoped`: the check ran for one pool of several (`gpu_node_names` are its nodes),
    so pods on other pools' nodes, and their events, are no evidence for it.
    """
    deadline = time.monotonic() + ctx.profile.diagnostics_budget_s
    got = Collected()
    got.add(ctx, "failure", "message.txt", Evidence("failure", FAILED_CHECK, failure))
    daemonsets = find_plugin_daemonsets(ctx)
    # On the DRA path (or where it may be: auto) the DRA driver's namespace is the plugin's:
    # every pod there (kubelet plugin, controller) is the driver's.
    dra = [ctx.profile.dra.namespace] if ctx.profile.allocation != "device-plugin" else []
    plugin = list(
        dict.fromkeys([ctx.profile.namespace, *dra, *(d.metadata.namespace for d in daemonsets)])
    )
    ours = {
        ctx.profile.namespace,
        ctx.identity.workload_namespace,
        ctx.identity.probe_namespace,
        *dra,
    }
    scope = _Scope(gpu_node_names, pool_scoped, deadline, daemonsets, plugin, ours)
    for ns in _namespaces(ctx, plugin):
        _collect_namespace(ctx, got, ns, scope)
    nodes = (scope.affected or list(gpu_node_names))[:MAX_NODES_PROBED]
    for name in nodes:
        try:
            node = ctx.kube.core.read_node(name)
        except ApiException:
            continue
        got.add(ctx, f"node-{name}", "node.txt", Evidence("node", name, describe_node(node), name))
    if ctx.profile.node_probe:
        _probe_nodes(ctx, got, nodes, deadline)
    else:
        got.notes.append(
            "node probe was off (diagnostics.node_probe: false): no privileged pods were run"
        )
    return got


def _collect_namespace(ctx: RunContext, got: Collected, ns: str, scope: _Scope) -> None:
    """One namespace's events, the plugin DaemonSets there, and its pods with their logs."""
    core = ctx.kube.core
    daemonsets = scope.daemonsets
    pods = core.list_namespaced_pod(ns).items
    if ns not in scope.ours:  # someone else's namespace (kube-system...): the plugin's pods only
        pods = [p for p in pods if any(owned_by(p, ds) for ds in daemonsets)]
    elsewhere = {
        p.metadata.name
        for p in pods
        if scope.pool_scoped and p.spec.node_name and p.spec.node_name not in scope.gpu_node_names
    }
    pods = [p for p in pods if p.metadata.name not in elsewhere]
    # Pods run on purpose to be refused, live or deleted: their events are no evidence.
    expected = {p.metadata.name for p in pods if is_expected_failure(p)}
    expected |= ctx.expected_failure_pods if ns == ctx.identity.workload_namespace else set()
    relevant = {p.metadata.name for p in pods} | {d.metadata.name for d in daemonsets}
    events = [
        e
        for e in core.list_namespaced_event(ns).items
        if (ns in scope.ours or e.involved_object.name in relevant)
        and e.involved_object.name not in expected | elsewhere
    ]
    got.add(ctx, f"namespace-{ns}", "events.txt", Evidence("events", ns, format_events(events)))
    for ds in (d for d in daemonsets if d.metadata.namespace == ns):
        got.add(
            ctx,
            f"daemonset-{ds.metadata.name}",
            "describe.txt",
            Evidence("describe", f"{ns}/{ds.metadata.name}", describe_daemonset(ds)),
        )
    for pod in pods:
        if pod.metadata.name not in expected:
            _collect_pod(ctx, got, pod, scope)


def _collect_pod(ctx: RunContext, got: Collected, pod: Any, scope: _Scope) -> None:
    """A pod's description and its containers' logs (and their previous run's, on a restart);
    a failing pod on a GPU node marks that node for the node probe."""
    ns, node = pod.metadata.namespace, pod.spec.node_name
    folder = f"pod-{pod.metadata.name}"
    got.add(
        ctx,
        folder,
        "describe.txt",
        Evidence("describe", f"{ns}/{pod.metadata.name}", describe_pod(pod), node),
    )
    source = "plugin-log" if ns in scope.plugin else "pod-log"
    failing = not is_ready(pod) and pod.status.phase != "Succeeded"
    # Only GPU nodes are probed: a failing pod on a CPU node is no GPU-stack evidence.
    if failing and node in scope.gpu_node_names and node not in scope.affected:
        scope.affected.append(node)
    if time.monotonic() > scope.deadline:
        got.notes.append(
            f"diagnostics budget ({ctx.profile.diagnostics_budget_s:.0f}s) spent: "
            f"logs of {ns}/{pod.metadata.name} were not read"
        )
        return
    # Init containers first: one that never finishes (the DRA driver's driver check, an
    # operator's validator) says why in its own log.
    statuses = [
        *(pod.status.init_container_statuses or []),
        *(pod.status.container_statuses or []),
    ]
    where = f"{ns}/{pod.metadata.name}"
    for cs in statuses:
        current = _logs(ctx, pod, cs.name, previous=False)
        if current:
            got.add(ctx, folder, f"{cs.name}.log", Evidence(source, where, current, node))
        previous = _logs(ctx, pod, cs.name, previous=True) if cs.restart_count else ""
        if previous:
            got.add(ctx, folder, f"{cs.name}.previous.log", Evidence(source, where, previous, node))


def _probe_nodes(ctx: RunContext, got: Collected, nodes: list[str], deadline: float) -> None:
    """Probe each node once per run (a later failure reuses the output), within the budget."""
    cache: dict[str, str] = ctx.evidence_cache.setdefault("node-probe", {})
    for index, name in enumerate(nodes, 1):
        text = cache.get(name)
        remaining = deadline - time.monotonic()
        if text is None and remaining <= 1:
            got.notes.append(
                f"diagnostics budget ({ctx.profile.diagnostics_budget_s:.0f}s) spent: "
                f"node {name} was not probed"
            )
            continue
        if text is None:
            ctx.progress(f"diagnostics: probing node {name} ({index}/{len(nodes)})")
            text = cached_node_probe(ctx, name, min(PROBE_TIMEOUT_S, remaining))
        else:
            got.notes.append(f"node probe of {name}: the output of this run's earlier probe")
        got.add(ctx, f"node-{name}", "node-probe.txt", Evidence("node-probe", name, text, name))


def cached_node_probe(ctx: RunContext, node: str, timeout_s: float = PROBE_TIMEOUT_S) -> str:
    """The node's probe output: this run's earlier one, else a new probe (kept when it ran)."""
    cache: dict[str, str] = ctx.evidence_cache.setdefault("node-probe", {})
    if node in cache:
        return cache[node]
    text = run_node_probe(ctx, node, timeout_s)
    if PROBE_MARK in text:  # a probe that ran; a failed attempt may do better later
        cache[node] = text
    return text


def probed_gpu_uuids(ctx: RunContext, node: str) -> list[str] | None:
    """The UUIDs of the GPUs the node's probe lists (`nvidia-smi -L`); None when it listed
    none or could not run, so no expectation is made up from a failed probe."""
    probe = parse_probe(cached_node_probe(ctx, node))
    listed = [
        found["uuid"]
        for line in probe.text("nvidia-smi -L").splitlines()
        if (found := GPU_LIST_LINE.match(line))
    ]
    return listed if probe.exit_code("nvidia-smi -L") == 0 and listed else None


def probed_gpu_count(ctx: RunContext, node: str) -> int | None:
    """How many GPUs the node's probe lists (`nvidia-smi -L`); None as probed_gpu_uuids."""
    uuids = probed_gpu_uuids(ctx, node)
    return len(uuids) if uuids else None


def node_probe_body(ctx: RunContext, node: str) -> dict[str, Any]:
    body = copy.deepcopy(manifest("node-probe-pod.yaml"))
    body["metadata"]["name"] = f"node-probe-{node}"[:63].rstrip("-.")
    body["metadata"]["namespace"] = ctx.identity.probe_namespace
    body["metadata"]["labels"] |= ctx.identity.labels
    body["spec"]["nodeName"] = node
    apply_pod_settings(body, ctx, placement=False)  # provider taints, pull secrets
    container = body["spec"]["containers"][0]
    container["image"] = ctx.profile.probe_image
    container["args"] = [probe_script()]
    return body


def run_node_probe(ctx: RunContext, node: str, timeout_s: float = PROBE_TIMEOUT_S) -> str:
    """Run the privileged probe pod on the node (pinned to it); its output, or why none."""
    # Privileged, so not in the workload namespace (which may enforce PodSecurity "restricted").
    ensure_probe_namespace(ctx)
    body = node_probe_body(ctx, node)
    name = body["metadata"]["name"]
    core = ctx.kube.core
    try:
        core.create_namespaced_pod(ctx.identity.probe_namespace, body)
    except ApiException as err:
        return f"node probe could not be created on {node}: {err.status} {err.reason}\n"
    try:
        outcome = wait_pod_finished(ctx, name, timeout_s, ctx.identity.probe_namespace)
        return outcome.logs
    except WaitTimeout as err:
        return f"node probe timed out on {node} after {timeout_s:.0f}s: {err.progress}\n"
    except AssertionError as err:  # stuck: e.g. the probe image cannot be pulled
        return f"node probe could not run on {node}: {err}\n"
    finally:
        with contextlib.suppress(ApiException):
            core.delete_namespaced_pod(name, ctx.identity.probe_namespace, grace_period_seconds=0)
