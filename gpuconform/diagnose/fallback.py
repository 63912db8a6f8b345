"""Never silent: when no known message explains a line, its component still names a layer.

The decisive line is an error line (error words or klog's E/F/W level) that no signature
explained. Its component is the innermost one it names: runtime errors are chains, outer
to inner ("failed to create containerd task: ... runc create failed: ... nvidia-container-cli:
mount error: ..."), so the rightmost component prefix is where the failure happened. An
events-table row without a component in its message is attributed to its source column
(kubelet, default-scheduler). A finding made this way is marked lower-confidence.
"""

from __future__ import annotations

import re
from dataclasses import replace

from gpuconform.diagnose.catalogue import LAYERS, Catalogue, Component
from gpuconform.diagnose.model import Evidence, Finding
from gpuconform.diagnose.parse import parse_event_line

MAX_LINE = 300
NO_GPU_RESOURCE = "node-no-gpu-resource"  # components.yaml: a node status listing no GPU
# A resource line of a node's status block: " nvidia.com/gpu:     1", " cpu:  4".
_RESOURCE_LINE = re.compile(r"^\s+[\w./-]+:\s+\S+\s*$")


def innermost_component(
    text: str, catalogue: Catalogue, weak: bool = False, fall_back_to_weak: bool = True
) -> Component | None:
    """The component named furthest right in a text (the origin of a wrapped error); a weak
    one (a GPU or resource named, no component) only where no component is named."""
    best: tuple[int, int, Component] | None = None
    for rank, component in enumerate(catalogue.components):
        if component.weak != weak:
            continue
        for found in component.prefix.finditer(text):
            # Rightmost start wins; at the same place, the earlier-listed (more specific) one.
            key = (found.start(), -rank)
            if best is None or key > best[:2]:
                best = (key[0], key[1], component)
    if best is None and not weak and fall_back_to_weak:
        return innermost_component(text, catalogue, weak=True)
    return best[2] if best else None


def _component_of_line(line: str, catalogue: Catalogue) -> Component | None:
    if event := parse_event_line(line):
        return innermost_component(event.message, catalogue) or innermost_component(
            event.source, catalogue
        )
    return innermost_component(line, catalogue)


def _by_name(name: str, catalogue: Catalogue) -> Component | None:
    return next((c for c in catalogue.components if c.name == name), None)


def _finding(
    component: Component, item: Evidence, node: str | None, line: str, severity: str = ""
) -> Finding:
    sig = component.signature
    return Finding(
        replace(
            sig,
            diagnosis=sig.diagnosis.format(component=component.name),
            severity=severity or sig.severity,
        ),
        item.subject,
        node,
        (line.strip()[:MAX_LINE],),
    )


def decisive_finding(
    item: Evidence, node: str | None, lines: list[str], explained: set[int], catalogue: Catalogue
) -> Finding | None:
    """The lower-confidence finding for an unexplained error line, first broken layer first."""
    default = _by_name(catalogue.source_components.get(item.source, ""), catalogue)
    candidates = []
    for n, line in enumerate(lines):
        if n in explained or not catalogue.error_words.search(line):
            continue
        if catalogue.report_fields.search(line) or catalogue.quiet_levels.search(line):
            continue
        component = _component_of_line(line, catalogue) or default
        if component is not None:
            candidates.append((component, n))
    if not candidates:
        return None
    component, n = min(candidates, key=lambda c: (LAYERS.index(c[0].signature.layer), c[1]))
    return _finding(component, item, node, lines[n])


def naming_finding(
    item: Evidence, node: str | None, lines: list[str], catalogue: Catalogue
) -> Finding | None:
    """For text with no error line at all: the first line that names a GPU-stack component,
    else a node's resource list read as a whole, else the first line that names a GPU or its
    resource. A warning: it points somewhere, it blames nothing."""
    named = _first_named(lines, catalogue, weak=False) or _node_resources(lines, catalogue)
    named = named or _first_named(lines, catalogue, weak=True)
    if named is None:
        return None
    component, line = named
    finding = _finding(component, item, node, line, severity="warning")
    if component.signature.id == NO_GPU_RESOURCE:
        return finding  # its own meaning: what a resource list without a GPU says
    text = (
        f"The evidence names {component.name} but no line reads as an error; "
        "nothing known is wrong in it (lower confidence)."
    )
    return replace(finding, signature=replace(finding.signature, diagnosis=text))


def _first_named(
    lines: list[str], catalogue: Catalogue, weak: bool
) -> tuple[Component, str] | None:
    for line in lines:
        component = innermost_component(line, catalogue, weak, fall_back_to_weak=False)
        if component is not None and component.names and component.signature.id != NO_GPU_RESOURCE:
            return component, line
    return None


def _node_resources(lines: list[str], catalogue: Catalogue) -> tuple[Component, str] | None:
    """A node's Capacity/Allocatable block (kubectl describe node), read as a whole: None
    without one; else its first GPU resource line with that resource's component, or, when
    it lists none, the block's header with the component that says no GPU is advertised."""
    header = next((c for c in catalogue.components if c.signature.id == NO_GPU_RESOURCE), None)
    starts = [n for n, line in enumerate(lines) if header and header.prefix.search(line)]
    if header is None or not starts:
        return None
    for start in starts:
        for line in lines[start + 1 :]:
            if not _RESOURCE_LINE.match(line):
                break
            component = innermost_component(line, catalogue, weak=True)
            if component is not None and component is not header:
                return component, line
    return header, lines[starts[0]]
