"""Waits on the device plugin: its DaemonSet ready on every GPU node, and GPUs advertised.

A timeout becomes an AssertionError that names each GPU node that is short and why.
"""

from __future__ import annotations

from typing import Any

from gpuconform.readiness import (
    allocatable_gpus,
    daemonset_verdict,
    describe_affinity,
    explain_shortfall,
)
from gpuconform.run import RunContext
from gpuconform.wait import WaitTimeout, wait_for


def daemonset_pods(ctx: RunContext, ds: Any) -> list[Any]:
    selector = ",".join(f"{k}={v}" for k, v in (ds.spec.selector.match_labels or {}).items())
    return ctx.kube.core.list_namespaced_pod(ds.metadata.namespace, label_selector=selector).items


def shortfall_message(ctx: RunContext, ds: Any, gpu_nodes: list[Any], headline: str) -> str:
    current_nodes = {
        n.metadata.name: n
        for n in ctx.kube.core.list_node(label_selector=ctx.profile.gpu_selector or None).items
    }
    nodes = [current_nodes.get(n.metadata.name, n) for n in gpu_nodes]
    lines = explain_shortfall(ds, nodes, daemonset_pods(ctx, ds), ctx.profile.gpus_per_node)
    if not gpu_nodes:
        lines.append(
            f"no node matches the GPU node selector {ctx.profile.gpu_selector!r} "
            "(gpu_nodes.selector in the profile)"
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


def wait_for_daemonset_ready(
    ctx: RunContext, ds: Any, gpu_nodes: list[Any], expected_nodes: int
) -> Any:
    """Wait until the DaemonSet is ready on every expected GPU node; return it."""
    key = f"{ds.metadata.namespace}/{ds.metadata.name}"

    def ready(objects: dict[str, Any]) -> tuple[bool, str]:
        current = objects.get(key)
        if current is None:
            return False, "DaemonSet not found"
        if wants_no_pods(current) and expected_nodes > 0:
            # Settled, not slow: its controller has seen this generation and placed nothing.
            raise AssertionError(
                shortfall_message(
                    ctx,
                    current,
                    gpu_nodes,
                    f"DaemonSet {key} wants 0 pods (its controller has seen generation "
                    f"{current.metadata.generation}); waiting would not change that",
                )
            )
        verdict = daemonset_verdict(current, expected_nodes)
        return verdict.ok, verdict.summary

    try:
        objects = wait_for(
            ctx.kube.apps.list_namespaced_daemon_set,
            ready,
            what=f"DaemonSet {key} to be ready on {expected_nodes} GPU node(s)",
            timeout_s=ctx.profile.timeouts["ready"],
            progress=ctx.progress,
            namespace=ds.metadata.namespace,
            field_selector=f"metadata.name={ds.metadata.name}",
        )
    except WaitTimeout as err:
        latest = ctx.kube.apps.read_namespaced_daemon_set(ds.metadata.name, ds.metadata.namespace)
        raise AssertionError(
            shortfall_message(
                ctx, latest, gpu_nodes, f"DaemonSet {key} is not ready: {err.progress}"
            )
        ) from None
    return objects[key]


def wait_for_gpus_advertised(ctx: RunContext, ds: Any, gpu_nodes: list[Any]) -> dict[str, int]:
    """Wait until every expected GPU node advertises its GPUs; return node -> allocatable."""
    names = {n.metadata.name for n in gpu_nodes}
    per_node = ctx.profile.gpus_per_node

    def advertised(nodes: dict[str, Any]) -> tuple[bool, str]:
        counts = {n: allocatable_gpus(nodes[n]) for n in names if n in nodes}
        good = [n for n, c in counts.items() if (c == per_node if per_node else c > 0)]
        return len(good) == len(names), f"{len(good)}/{len(names)} nodes advertise nvidia.com/gpu"

    try:
        nodes = wait_for(
            ctx.kube.core.list_node,
            advertised,
            what="GPU nodes to advertise nvidia.com/gpu",
            timeout_s=ctx.profile.timeouts["ready"],
            progress=ctx.progress,
            label_selector=ctx.profile.gpu_selector or None,
        )
    except WaitTimeout as err:
        raise AssertionError(
            shortfall_message(ctx, ds, gpu_nodes, f"GPUs not advertised: {err.progress}")
        ) from None
    return {n: allocatable_gpus(nodes[n]) for n in sorted(names)}
