"""Explain evidence with the failure signatures, in the order of blame.

Order of blame (NVIDIA's validator order): node labels -> driver -> container runtime ->
device plugin -> scheduler -> workload. Positive evidence counts too: a node whose probe
shows a working driver (`nvidia-smi -L` or `nvidia-container-cli info` succeeded) cannot
be blamed at the driver layer, so the blame moves up the stack.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml

from gpuconform.diagnose.probe import ProbeResult, parse_probe

SIGNATURES_FILE = Path(__file__).with_name("signatures.yaml")
SEVERITY_RANK = {"error": 0, "warning": 1, "info": 2}
MAX_QUOTED_LINES = 3


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

    def applies_to(self, source: str) -> bool:
        return not self.sources or source in self.sources or source == "file"


@dataclass(frozen=True)
class Finding:
    signature: Signature
    subject: str
    node: str | None
    lines: tuple[str, ...]

    @property
    def where(self) -> str:
        if self.node and self.node != self.subject:
            return f"{self.subject} on node {self.node}"
        return self.subject

    def headline(self) -> str:
        sig = self.signature
        return f"[{sig.layer}] {sig.diagnosis} ({self.where})"


@dataclass
class Explanation:
    findings: list[Finding]
    healthy_drivers: dict[str, ProbeResult] = field(default_factory=dict)

    @property
    def causes(self) -> list[Finding]:
        return [f for f in self.findings if f.signature.severity != "info"]

    @property
    def primary(self) -> Finding | None:
        return self.causes[0] if self.causes else None

    def one_line(self) -> str:
        if self.primary is None:
            return "no known failure signature matched"
        sig = self.primary.signature
        return f"{sig.layer}: {sig.diagnosis} ({self.primary.where}) - fix: {sig.remediation}"

    def render(self) -> str:
        """Plain text for terminals and diagnosis.txt: causes first, evidence quoted."""
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
        for node, probe in sorted(self.healthy_drivers.items()):
            out.append(f"Driver layer healthy on {node}: {probe.summary()}")
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
        )
        for item in data["signatures"]
    ]
    return list(data["layers"]), signatures


def match(signature: Signature, text: str) -> tuple[str, ...]:
    lines = []
    for line in text.splitlines():
        if any(p.search(line) for p in signature.patterns):
            lines.append(line.strip()[:300])
            if len(lines) == MAX_QUOTED_LINES:
                break
    return tuple(lines)


def explain(evidence: list[Evidence]) -> Explanation:
    """Match every signature against every piece of evidence; order findings by blame."""
    layers, signatures = load_signatures()
    healthy: dict[str, ProbeResult] = {}
    for item in evidence:
        if item.source in ("node-probe", "file") and "=== gpuconform-probe:" in item.text:
            probe = parse_probe(item.text)
            if probe.driver_ok:
                healthy[item.node or item.subject] = probe
    findings: dict[tuple[str, str], Finding] = {}
    for item in evidence:
        for sig in signatures:
            if not sig.applies_to(item.source):
                continue
            lines = match(sig, item.text)
            if not lines:
                continue
            node = item.node or (item.subject if item.source == "node-probe" else None)
            if sig.layer == "driver" and sig.severity == "error" and node in healthy:
                continue  # contradicted: this node's driver demonstrably works
            key = (sig.id, item.node or item.subject)
            if key not in findings:
                findings[key] = Finding(sig, item.subject, node, lines)
    located = {f.signature.id for f in findings.values() if f.node}
    # The same signature seen in node-less evidence (namespace events, the failure message)
    # adds nothing once it has been placed on a node.
    findings = {k: f for k, f in findings.items() if f.node or f.signature.id not in located}
    rank = {sig.id: n for n, sig in enumerate(signatures)}  # file order: most specific first
    ordered = sorted(
        findings.values(),
        key=lambda f: (
            SEVERITY_RANK[f.signature.severity],
            layers.index(f.signature.layer),
            rank[f.signature.id],
            f.subject,
        ),
    )
    return Explanation(ordered, healthy)
