"""Explain evidence with the failure signatures, in the order of blame.

Order of blame (NVIDIA's validator order): node labels -> driver -> container runtime ->
device plugin -> scheduler -> workload; errors before warnings. Positive evidence counts too:
raw `nvidia-container-cli info` or `nvidia-smi` output that lists GPUs, or a node probe that
shows a working driver, is reported as a healthy driver layer (healthy.py); on such a node
the driver cannot be blamed for a software fault, so the blame moves up the stack.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml

from gpuconform.diagnose.healthy import DriverHealth, probe_driver_health, read_driver_health
from gpuconform.diagnose.probe import ProbeResult, parse_probe

SIGNATURES_FILE = Path(__file__).with_name("signatures.yaml")
SEVERITY_RANK = {"error": 0, "warning": 1, "info": 2}
MAX_QUOTED_LINES = 3
PROBE_MARK = "=== gpuconform-probe:"


# The subject of the failed check's own message as evidence: it names no place.
FAILED_CHECK = "failed check"


@dataclass(frozen=True)
class Evidence:
    """One piece of text to explain: where it came from, about what, on which node."""

    source: str  # node-probe, plugin-log, pod-log, events, describe, failure, file
    subject: str  # a node, `namespace/pod`, or a file path
    text: str
    node: str | None = None


@dataclass(frozen=True)
class Signature:
    id: str
    layer: str
    severity: str
    patterns: tuple[re.Pattern[str], ...]
    diagnosis: str
    remediation: str
    reference: str
    sources: tuple[str, ...] = ()
    fallback: bool = False  # dropped where a more specific signature explains the same lines
    hardware: bool = False  # a GPU fault: stands even on a node whose driver works

    def applies_to(self, source: str) -> bool:
        return not self.sources or source in self.sources or source == "file"

    @property
    def contradicted_by_working_driver(self) -> bool:
        return self.layer == "driver" and self.severity == "error" and not self.hardware


def _where(subject: str, node: str | None) -> str:
    if node and node != subject:
        return f"{subject} on node {node}"
    return subject


@dataclass(frozen=True)
class Finding:
    signature: Signature
    subject: str
    node: str | None
    lines: tuple[str, ...]

    @property
    def where(self) -> str:
        return _where(self.subject, self.node)

    def headline(self) -> str:
        sig = self.signature
        return f"[{sig.layer}] {sig.diagnosis} ({self.where})"


@dataclass(frozen=True)
class HealthyFinding:
    """A layer shown to work, e.g. "driver layer healthy: NVRM 525.60.13, CUDA 12.0, 1 GPU(s)"."""

    health: DriverHealth
    subject: str
    node: str | None

    @property
    def layer(self) -> str:
        return self.health.layer

    @property
    def where(self) -> str:
        return _where(self.subject, self.node)

    def summary(self) -> str:
        return self.health.summary()


@dataclass
class Explanation:
    findings: list[Finding]
    healthy_drivers: dict[str, ProbeResult] = field(default_factory=dict)
    healthy: list[HealthyFinding] = field(default_factory=list)

    @property
    def causes(self) -> list[Finding]:
        return [f for f in self.findings if f.signature.severity != "info"]

    @property
    def primary(self) -> Finding | None:
        return self.causes[0] if self.causes else None

    def one_line(self) -> str:
        if self.primary is None:
            healthy = "; ".join(f"{h.summary()} ({h.where})" for h in self.healthy)
            return "no known failure signature matched" + (f"; {healthy}" if healthy else "")
        sig = self.primary.signature
        return f"{sig.layer}: {sig.diagnosis} ({self.primary.where}) - fix: {sig.remediation}"

    def render(self) -> str:
        """Plain text for terminals and diagnosis.txt: causes first (first broken layer first),
        evidence quoted; then what is healthy; then benign notes."""
        out = []
        if self.primary is None:
            out.append("No known failure signature matched the evidence.")
        for n, finding in enumerate(self.causes, 1):
            sig = finding.signature
            out.append(f"{n}. [{sig.layer}] {sig.diagnosis}")
            out.append(f"   where: {finding.where}")
            out.append(f"   fix: {sig.remediation}")
            out.append(f"   see: {sig.reference}")
            out.extend(f"   > {line}" for line in finding.lines)
        if self.healthy:
            out.append("Healthy:")
            out.extend(
                f"   [{h.layer}] {h.summary()} - from {h.health.tool} ({h.where})"
                for h in self.healthy
            )
        infos = [f for f in self.findings if f.signature.severity == "info"]
        for finding in infos:
            out.append(f"(info) {finding.signature.diagnosis} [{finding.where}]")
        return "\n".join(out) + "\n"


@cache
def load_signatures(path: Path = SIGNATURES_FILE) -> tuple[list[str], list[Signature]]:
    data = yaml.safe_load(path.read_text())
    signatures = [
        Signature(
            id=item["id"],
            layer=item["layer"],
            severity=item.get("severity", "error"),
            patterns=tuple(re.compile(p) for p in item["patterns"]),
            diagnosis=item["diagnosis"],
            remediation=item["remediation"],
            reference=item["reference"],
            sources=tuple(item.get("sources") or ()),
            fallback=bool(item.get("fallback", False)),
            hardware=bool(item.get("hardware", False)),
        )
        for item in data["signatures"]
    ]
    return list(data["layers"]), signatures


def matching_lines(signature: Signature, lines: list[str]) -> list[int]:
    """Indexes of the lines any of the signature's patterns matches."""
    return [n for n, line in enumerate(lines) if any(p.search(line) for p in signature.patterns)]


def match(signature: Signature, text: str) -> tuple[str, ...]:
    lines = text.splitlines()
    return _quote(lines, matching_lines(signature, lines))


def _quote(lines: list[str], indexes: list[int]) -> tuple[str, ...]:
    return tuple(lines[n].strip()[:300] for n in indexes[:MAX_QUOTED_LINES])


def _node_of(item: Evidence) -> str | None:
    return item.node or (item.subject if item.source == "node-probe" else None)


def _is_probe(item: Evidence) -> bool:
    return item.source in ("node-probe", "file") and PROBE_MARK in item.text


def match_item(
    item: Evidence, signatures: list[Signature], working_nodes: set[str]
) -> list[Finding]:
    """The signatures one piece of evidence shows, less those it contradicts or supersedes."""
    lines = item.text.splitlines()
    node = _node_of(item)
    hits: dict[str, tuple[Signature, list[int]]] = {}
    for sig in signatures:
        if not sig.applies_to(item.source):
            continue
        if sig.contradicted_by_working_driver and node in working_nodes:
            continue  # contradicted: this node's driver demonstrably works
        indexes = matching_lines(sig, lines)
        if indexes:
            hits[sig.id] = (sig, indexes)
    explained = {n for sig, idx in hits.values() if not sig.fallback for n in idx}
    return [
        Finding(sig, item.subject, node, _quote(lines, idx))
        for sig, idx in hits.values()
        if not (sig.fallback and set(idx) <= explained)
    ]


def healthy_finding(item: Evidence, findings: list[Finding]) -> HealthyFinding | None:
    """What this evidence proves healthy, unless it also shows a driver fault."""
    if _is_probe(item):
        health = probe_driver_health(parse_probe(item.text))
    elif any(f.signature.layer == "driver" and f.signature.severity == "error" for f in findings):
        return None
    else:
        health = read_driver_health(item.text)
    return HealthyFinding(health, item.subject, _node_of(item)) if health else None


def explain(evidence: list[Evidence]) -> Explanation:
    """Match every signature against every piece of evidence; order findings by blame."""
    layers, signatures = load_signatures()
    healthy_drivers: dict[str, ProbeResult] = {}
    for item in evidence:
        if _is_probe(item):
            probe = parse_probe(item.text)
            if probe.driver_ok:
                healthy_drivers[item.node or item.subject] = probe
    findings: dict[tuple[str, str], Finding] = {}
    healthy: list[HealthyFinding] = []
    for item in evidence:
        found = match_item(item, signatures, set(healthy_drivers))
        for finding in found:
            findings.setdefault((finding.signature.id, item.node or item.subject), finding)
        if (positive := healthy_finding(item, found)) is not None:
            healthy.append(positive)
    located = {f.signature.id for f in findings.values() if f.node}
    # The same signature seen in node-less evidence (namespace events, the failure message)
    # adds nothing once it has been placed on a node.
    kept = [f for f in findings.values() if f.node or f.signature.id not in located]
    rank = {sig.id: n for n, sig in enumerate(signatures)}  # file order: most specific first
    ordered = sorted(
        kept,
        key=lambda f: (
            SEVERITY_RANK[f.signature.severity],
            layers.index(f.signature.layer),
            rank[f.signature.id],
            f.subject,
        ),
    )
    return Explanation(ordered, healthy_drivers, healthy)
