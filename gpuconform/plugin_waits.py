"""Waits on the device plugin: its DaemonSet ready on every GPU node, and GPUs advertised.

A timeout becomes an AssertionError that names each GPU node that is short and why. So does,
at once, a state that waiting cannot fix: a DaemonSet its controller settled at 0 pods, or a
plugin pod stuck on its image or its config (ImagePullBackOff, CreateContainerConfigError...).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gpuconform.fleet import selector_of
from gpuconform.readiness import (
    allocatable_gpus,
    current_pods,
    daemonset_readiness,
    describe_affinity,
    explain_shortfall,
    nodes_without_ready_pod,
    owned_by,
    stuck_reason,
    untolerated_taints,
)
from gpuconform.run import RunContext
from gpuconform.wait import WaitTimeout, wait_for


def daemonset_pods(ctx: RunContext, ds: Any) -> list[Any]:
    """The DaemonSet's pods, by their controller ownerReference (never by label selector)."""
    pods = ctx.kube.core.list_namespaced_pod(ds.metadata.namespace).items
    return [p for p in pods if owned_by(p, ds)]


def shortfall_message(ctx: RunContext, ds: Any, gpu_nodes: list[Any], headline: str) -> str:
    current_nodes = {
        n.metadata.name: n
        for n in ctx.kube.core.list_node(label_selector=nodes_selector(ctx, gpu_nodes)).items
    }
    nodes = [current_nodes.get(n.metadata.name, n) for n in gpu_nodes]
    pods = daemonset_pods(ctx, ds)
    expected = {n.metadata.name: ctx.fleet.expectation(n).resources for n in nodes}
    lines = explain_shortfall(ds, nodes, pods, expected)
    if not gpu_nodes:
        selectors = " / ".join(repr(p.selector) for p in ctx.profile.pools)
        lines.append(
            f"no node matches the GPU node selector {selectors} (gpu_nodes.selector in the profile)"
        )
    if (ds.status.desired_number_scheduled or 0) == 0 and gpu_nodes:
        lines.insert(
            0,
            "the DaemonSet wants 0 pods: no node matches the chart's node affinity "
            f"{describe_affinity(ds)}",
        )
    return headline + "".join(f"\n  - {line}" for line in lines)


def wants_no_pods(ds: Any) -> bool:
    """The DaemonSet controller has processed the latest spec and schedules no pod at all."""
    status = ds.status
    observed = (status and status.observed_generation) or 0
    settled = observed >= (ds.metadata.generation or 1)
    return settled and not (status.desired_number_scheduled or 0)


Condition = Callable[[dict[str, Any]], tuple[bool, str]]


@dataclass
class _DaemonSetWait:
    """One wait for a plugin DaemonSet: what it waits for, and its named conditions."""

    ctx: RunContext
    ds: Any
    gpu_nodes: list[Any]
    expected_nodes: int | None

    @property
    def key(self) -> str:
        return f"{self.ds.metadata.namespace}/{self.ds.metadata.name}"

    def fail(self, current: Any, headline: str) -> AssertionError:
        return AssertionError(shortfall_message(self.ctx, current, self.gpu_nodes, headline))

    def generation_observed(self) -> Condition:
        """Its controller has seen the current generation; 0 pods wanted then fails at once."""
        # With GFD in the chart, the labels its affinity needs arrive after the install.
        labels_pending = "gfd" in self.ctx.profile.chart_features()

        def check(objects: dict[str, Any]) -> tuple[bool, str]:
            current = objects.get(self.key)
            if current is None:
                return False, "DaemonSet not found"
            if wants_no_pods(current) and self.gpu_nodes and not labels_pending:
                # Settled, not slow: its controller has seen this generation and placed nothing.
                raise self.fail(
                    current,
                    f"DaemonSet {self.key} wants 0 pods (its controller has seen generation "
                    f"{current.metadata.generation}); waiting would not change that",
                )
            seen = (current.status.observed_generation or 0) >= (current.metadata.generation or 1)
            return seen, daemonset_readiness(current, self.expected_nodes).summary

        return check

    def ready_pod_on_every_node(self, current: Any) -> Condition:
        """A Ready pod of the current template on each node; a stuck pod or a node whose taint
        the pods do not tolerate fails at once."""
        names = [n.metadata.name for n in self.gpu_nodes]

        def check(pods: dict[str, Any]) -> tuple[bool, str]:
            mine = current_pods(current, pods.values())
            for pod in mine:
                if reason := stuck_reason(pod):
                    node = pod.spec.node_name or "no node yet"
                    raise self.fail(current, f"plugin pod {pod.metadata.name} ({node}) {reason}")
            placed = {p.spec.node_name for p in mine}
            for node in self.gpu_nodes:
                # Settled, not slow: the controller has seen this generation and never
                # places a pod on a node whose taint its pods do not tolerate.
                taints = untolerated_taints(current, node)
                if node.metadata.name not in placed and taints:
                    raise self.fail(
                        current,
                        f"DaemonSet {self.key} places no pod on {node.metadata.name}: its pods "
                        f"do not tolerate {', '.join(taints)}",
                    )
            missing = nodes_without_ready_pod(mine, names)
            return not missing, f"no Ready plugin pod on {', '.join(missing[:5]) or 'none'}"

        return check

    def counts_agree(self) -> Condition:
        """desired > 0 (and == the fleet's expected nodes), ready == updated == desired."""

        def check(objects: dict[str, Any]) -> tuple[bool, str]:
            current = objects.get(self.key)
            if current is None:
                return False, "DaemonSet not found"
            result = daemonset_readiness(current, self.expected_nodes)
            return result.ok, result.summary

        return check


def wait_for_daemonset_ready(
    ctx: RunContext, ds: Any, gpu_nodes: list[Any], expected_nodes: int | None
) -> Any:
    """Wait until the DaemonSet is ready on every expected GPU node; return it.

    Three event-driven phases under one deadline: the controller has seen the DaemonSet's
    generation (0 pods wanted fails here), a Ready pod of the current template runs on each
    expected node (a stuck pod, or a node whose taint the pods do not tolerate, fails here),
    and the DaemonSet's counts agree with `expected_nodes`, the whole fleet's. For one pool
    of several, `expected_nodes` is None: the DaemonSet's counts are the fleet's, not the
    pool's, and the pool is judged by its own nodes' pods.
    """
    wait = _DaemonSetWait(ctx, ds, gpu_nodes, expected_nodes)
    deadline = time.monotonic() + ctx.profile.timeouts["ready"]
    what = f"DaemonSet {wait.key} to be ready on {expected_nodes or len(gpu_nodes)} GPU node(s)"
    namespace, name = ds.metadata.namespace, ds.metadata.name

    def phase(list_fn: Any, condition: Condition, **selectors: str) -> dict[str, Any]:
        remaining = max(deadline - time.monotonic(), 0.1)
        return wait_for(
            list_fn,
            condition,
            what=what,
            timeout_s=remaining,
            progress=ctx.progress,
            namespace=namespace,
            **selectors,
        )

    list_ds, by_name = ctx.kube.apps.list_namespaced_daemon_set, f"metadata.name={name}"
    try:
        current = phase(list_ds, wait.generation_observed(), field_selector=by_name)[wait.key]
        phase(ctx.kube.core.list_namespaced_pod, wait.ready_pod_on_every_node(current))
        if expected_nodes is None:
            return ctx.kube.apps.read_namespaced_daemon_set(name, namespace)
        return phase(list_ds, wait.counts_agree(), field_selector=by_name)[wait.key]
    except WaitTimeout as err:
        latest = ctx.kube.apps.read_namespaced_daemon_set(name, namespace)
        raise wait.fail(latest, f"DaemonSet {wait.key} is not ready: {err.progress}") from None


def nodes_selector(ctx: RunContext, nodes: list[Any]) -> str | None:
    """The label selector to list `nodes` by: their pool's, when they are all of one pool;
    else none (every node; the caller picks its own by name)."""
    pools = {ctx.fleet.pool_of(n.metadata.name) for n in nodes}
    if len(pools) == 1 and None not in pools:
        return selector_of(ctx.profile, ctx.fleet.pool(pools.pop()).pool)
    return None


def wait_for_gpus_advertised(
    ctx: RunContext, ds: Any, gpu_nodes: list[Any]
) -> dict[str, dict[str, int]]:
    """Wait until every expected GPU node advertises what the fleet expects of it (GPUs,
    shared replicas or MIG slices: ctx.fleet's expectations); return node -> {resource:
    allocatable}."""
    expected = {n.metadata.name: ctx.fleet.expectation(n) for n in gpu_nodes}
    names = set(expected)
    wanted = "; ".join(sorted({e.describe() for e in expected.values()}))

    def counts(node: Any) -> dict[str, int]:
        want = expected[node.metadata.name]
        resources = want.resources or {want.resource: None}
        return {resource: allocatable_gpus(node, resource) for resource in resources}

    def good(node: Any) -> bool:
        want = expected[node.metadata.name]
        have = counts(node)
        if want.resources is None:
            return all(c > 0 for c in have.values())
        return have == want.resources

    def advertised(nodes: dict[str, Any]) -> tuple[bool, str]:
        ok = [n for n in names if n in nodes and good(nodes[n])]
        return len(ok) == len(names), f"{len(ok)}/{len(names)} nodes advertise {wanted}"

    try:
        nodes = wait_for(
            ctx.kube.core.list_node,
            advertised,
            what=f"GPU nodes to advertise {wanted}",
            timeout_s=ctx.profile.timeouts["ready"],
            progress=ctx.progress,
            label_selector=nodes_selector(ctx, gpu_nodes),
        )
    except WaitTimeout as err:
        raise AssertionError(
            shortfall_message(ctx, ds, gpu_nodes, f"GPUs not advertised: {err.progress}")
        ) from None
    return {n: counts(nodes[n]) for n in sorted(names)}
