"""Small Kubernetes predicates and named wait conditions, shared by the suite and the simulator.

One definition of each fact the run judges (an object's Ready condition, the GPU resource
name), so a fix to one is a fix everywhere. Pure: no API calls except in the named waits,
which go through the one wait primitive (`gpuconform.wait.wait_for`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

# The extended resource the NVIDIA device plugin advertises (without sharing or MIG renames).
GPU_RESOURCE = "nvidia.com/gpu"

# The label every object of a run carries. Here, not in gpuconform.kube, so that helm's
# post-renderer (a fresh Python per install) does not import the kubernetes client (~0.3 s).
RUN_ID_LABEL = "gpuconform.io/run-id"


def condition_is_true(obj: Any, kind: str) -> bool:
    """Whether a Node's or Pod's status condition `kind` is True."""
    conditions = getattr(getattr(obj, "status", None), "conditions", None) or []
    return any(c.type == kind and c.status == "True" for c in conditions)


def is_ready(obj: Any) -> bool:
    """A Node or Pod whose Ready condition is True."""
    return condition_is_true(obj, "Ready")


def all_ready(names: Iterable[str]) -> Callable[[dict[str, Any]], tuple[bool, str]]:
    """Wait condition over `wait_for`'s {name: object}: every named object is Ready."""
    wanted = set(names)

    def check(objects: dict[str, Any]) -> tuple[bool, str]:
        ready = {name for name, obj in objects.items() if is_ready(obj)}
        # A timeout names who is missing and why, as its Ready condition says.
        short = "; ".join(
            _why_not_ready(name, objects.get(name)) for name in sorted(wanted - ready)
        )
        counted = f"{len(ready & wanted)}/{len(wanted)} Ready"
        return wanted <= ready, f"{counted} ({short})" if short else counted

    return check


def _why_not_ready(name: str, obj: Any) -> str:
    if obj is None:
        return f"{name}: not registered"
    conditions = getattr(getattr(obj, "status", None), "conditions", None) or []
    for c in conditions:
        if c.type == "Ready":
            return f"{name}: {c.reason or c.status}: {c.message or ''}".rstrip(": ")
    return f"{name}: no Ready condition yet"


def wait_nodes_ready(
    list_nodes: Callable[..., Any],
    names: Iterable[str],
    timeout_s: float,
    progress: Callable[[str], None] | None = None,
    what: str = "nodes to be Ready",
) -> None:
    """Wait until every named node is Ready (list, then watch; bounded)."""
    from gpuconform.wait import wait_for

    wait_for(list_nodes, all_ready(names), what=what, timeout_s=timeout_s, progress=progress)
