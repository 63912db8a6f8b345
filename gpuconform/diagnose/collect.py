"""Collect the evidence a platform engineer would gather by hand after a failed step.

Events, DaemonSet and pod status, current and previous container logs, node state, and a
node probe (nvidia-container-cli info, nvidia-smi, device nodes, driver, libraries,
runtime configuration) on each affected node: each an `EvidenceKind`, gathered only where
the failed step declares it (its `step` marker in suites/). The failure message is always
evidence. Everything is redacted before it is written.
"""

from __future__ import annotations

import contextlib
import copy
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from kubernetes.client.rest import ApiException

from gpuconform.conditions import is_ready
from gpuconform.diagnose.describe import (
    describe_daemonset,
    describe_node,
    describe_pod,
    format_events,
)
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


class EvidenceKind(StrEnum):
    """What a failed step's collection may gather; each step names its kinds beside its checks.

    The plugin's namespaces: the profile's, the DRA driver's (allocation dra or auto) and
    wherever a plugin DaemonSet runs (in someone else's, kube-system..., only the plugin's
    pods and their events). The run's namespaces: the workload and node-probe namespaces.
    """

    # The plugin: each plugin DaemonSet described (counts, placement), its pods described with
    # their logs (and the previous run's), the events in the plugin's namespaces.
    PLUGIN = "plugin"
    # The run's own pods described with their logs, and the events in the run's namespaces.
    WORKLOAD = "workload"
    NODES = "nodes"  # each affected GPU node described: labels, taints, conditions, capacity
    NODE_PROBE = "node-probe"  # a privileged probe pod on each affected GPU node (when allowed)


ALL_KINDS = frozenset(EvidenceKind)


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
    kinds: frozenset[EvidenceKind]  # what the failed step declared
    affected: list[str] = field(default_factory=list)

    def wants(self, ns: str, plugin: EvidenceKind, run: EvidenceKind) -> bool:
        """Whether the step declared the kind that `ns` gives: the plugin's or the run's."""
        return (plugin if ns in self.plugin else run) in self.kinds


def collect(
    ctx: RunContext,
    failure: str,
    gpu_node_names: list[str],
    pool_scoped: bool = False,
    kinds: Iterable[EvidenceKind] = ALL_KINDS,
) -> Collected:
    """Gather the `kinds` of evidence a failed step declared; its failure message too.

    Bounded by the profile's diagnostics.budget_s; node probes run once per node and run.
    `pool_scoped`: the check ran for one pool of several (`gpu_node_names` are its nodes),
    so pods on other pools' nodes, and their events, are no evidence for it. The nodes
    described and probed are those failing pods run on (in every namespace looked at,
    declared or not), else all of `gpu_node_names`.
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
    wanted = frozenset(kinds)
    scope = _Scope(gpu_node_names, pool_scoped, deadline, daemonsets, plugin, ours, wanted)
    for ns in _namespaces(ctx, plugin):
        _collect_namespace(ctx, got, ns, scope)
    nodes = (scope.affected or list(gpu_node_names))[:MAX_NODES_PROBED]
    for name in nodes if EvidenceKind.NODES in wanted else []:
        try:
            node = ctx.kube.core.read_node(name)
        except ApiException:
            continue
        got.add(ctx, f"node-{name}", "node.txt", Evidence("node", name, describe_node(node), name))
    if EvidenceKind.NODE_PROBE in wanted and ctx.profile.node_probe:
        _probe_nodes(ctx, got, nodes, deadline)
    elif EvidenceKind.NODE_PROBE in wanted:
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
    if scope.wants(ns, EvidenceKind.PLUGIN, EvidenceKind.WORKLOAD):
        relevant = {p.metadata.name for p in pods} | {d.metadata.name for d in daemonsets}
        events = [
            e
            for e in core.list_namespaced_event(ns).items
            if (ns in scope.ours or e.involved_object.name in relevant)
            and e.involved_object.name not in expected | elsewhere
        ]
        got.add(ctx, f"namespace-{ns}", "events.txt", Evidence("events", ns, format_events(events)))
    here = [d for d in daemonsets if d.metadata.namespace == ns]
    for ds in here if EvidenceKind.PLUGIN in scope.kinds else []:
        got.add(
            ctx,
            f"daemonset-{ds.metadata.name}",
            "describe.txt",
            Evidence("describe", f"{ns}/{ds.metadata.name}", describe_daemonset(ds)),
        )
    described = scope.wants(ns, EvidenceKind.PLUGIN, EvidenceKind.WORKLOAD)
    for pod in pods:
        if pod.metadata.name not in expected:
            _mark_affected(pod, scope)
            if described:
                _collect_pod(ctx, got, pod, scope)


def _mark_affected(pod: Any, scope: _Scope) -> None:
    """A failing pod on a GPU node marks that node to be described and probed."""
    node = pod.spec.node_name
    failing = not is_ready(pod) and pod.status.phase != "Succeeded"
    # Only GPU nodes are probed: a failing pod on a CPU node is no GPU-stack evidence.
    if failing and node in scope.gpu_node_names and node not in scope.affected:
        scope.affected.append(node)


def _collect_pod(ctx: RunContext, got: Collected, pod: Any, scope: _Scope) -> None:
    """A pod's description and its containers' logs (and their previous run's, on a restart)."""
    ns, node = pod.metadata.namespace, pod.spec.node_name
    folder = f"pod-{pod.metadata.name}"
    got.add(
        ctx,
        folder,
        "describe.txt",
        Evidence("describe", f"{ns}/{pod.metadata.name}", describe_pod(pod), node),
    )
    source = "plugin-log" if ns in scope.plugin else "pod-log"
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
