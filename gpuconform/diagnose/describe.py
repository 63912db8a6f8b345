"""The evidence's text: events, pods, DaemonSets and nodes, as `kubectl describe` shows them."""

from __future__ import annotations

from typing import Any

from gpuconform.conditions import GPU_RESOURCE


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
