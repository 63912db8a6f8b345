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

from gpuconform.diagnose.catalogue import load_catalogue
from gpuconform.diagnose.fallback import decisive_finding, naming_finding
from gpuconform.diagnose.healthy import DriverHealth, probe_driver_health, read_driver_health
from gpuconform.diagnose.model import EXACT, Evidence, Finding, Signature, where_of
from gpuconform.diagnose.owner import attributed
from gpuconform.diagnose.parse import message_lines, wrapped_messages
from gpuconform.diagnose.probe import ProbeResult, parse_probe
from gpuconform.diagnose.structured import Hit, code_hits, fit_error_hits, superseded_removed

__all__ = ["PROBE_MARK", "Evidence", "Explanation", "Finding", "Signature", "explain"]

SIGNATURES_FILE = Path(__file__).with_name("signatures.yaml")
SEVERITY_RANK = {"error": 0, "warning": 1, "info": 2}
MAX_QUOTED_LINES = 3
PROBE_MARK = "=== gpuconform-probe:"


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
        return where_of(self.subject, self.node)

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
        return (
            f"{self.primary.layer_label}: {self.primary.cause} ({self.primary.where}) "
            f"- fix: {sig.remediation}"
        )

    def render(self) -> str:
        """Plain text for terminals and diagnosis.txt: causes first (first broken layer first),
        evidence quoted; then what is healthy; then benign notes."""
        out = []
        if self.primary is None and self.healthy:
            out.append("No failure found in the evidence.")
        elif self.primary is None:
            out.append("No known failure signature matched the evidence.")
        for n, finding in enumerate(self.causes, 1):
            sig = finding.signature
            out.append(f"{n}. [{finding.layer_label}] {finding.cause}")
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
            symptom=bool(item.get("symptom", False)),
            detail=item.get("detail"),
            unless=tuple(re.compile(p) for p in item.get("unless") or ()),
            layer_by=item.get("layer_by"),
            # A cause whose consequences are other signatures (ranked after it, as in the
            # catalogue): Secure Boot's refusal before nvidia-smi's "couldn't communicate".
            explains=tuple(item.get("explains") or ()),
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


def _quote(lines: list[str], indexes: list[int] | tuple[int, ...]) -> tuple[str, ...]:
    return tuple(lines[n].strip()[:300] for n in indexes[:MAX_QUOTED_LINES])


def _node_of(item: Evidence) -> str | None:
    return item.node or (item.subject if item.source == "node-probe" else None)


def _is_probe(item: Evidence) -> bool:
    return item.source in ("node-probe", "file") and PROBE_MARK in item.text


def _first_match(signature: Signature, line: str) -> re.Match[str] | None:
    """The leftmost match of the signature's patterns in the line."""
    found = [m for pattern in signature.patterns if (m := pattern.search(line))]
    return min(found, key=lambda m: m.start(), default=None)


def pattern_hits(
    signatures: list[Signature],
    lines: list[str],
    catalogued: bool,
    wrapped: list[tuple[int, str]] = (),
) -> list[Hit]:
    """The signatures whose patterns match lines; one that no single line matches may match
    a message wrapped over several (`wrapped`: first line's index, joined text)."""
    hits, joined = [], dict(wrapped)
    for sig in signatures:
        indexes = matching_lines(sig, lines)
        if not indexes:
            indexes = [n for n, text in wrapped if _first_match(sig, text)]
        if indexes:
            found = _first_match(sig, lines[indexes[0]]) or _first_match(
                sig, joined.get(indexes[0], "")
            )
            groups = found.groupdict() if found else {}
            position = found.start() if found else -1
            hits.append(
                Hit(sig.filled(groups), tuple(indexes), catalogued=catalogued, position=position)
            )
    return hits


def usable(sig: Signature, source: str, node: str | None, working_nodes: set[str]) -> bool:
    """Whether a signature may explain this evidence: its source, and not contradicted by a
    node whose driver demonstrably works."""
    if not sig.applies_to(source):
        return False
    return not (sig.contradicted_by_working_driver and node in working_nodes)


def match_item(
    item: Evidence, signatures: list[Signature], working_nodes: set[str]
) -> tuple[list[Finding], set[int]]:
    """The signatures and catalogue entries one piece of evidence shows, less those it
    contradicts or supersedes (a generic entry gives way where a specific one explains the
    same lines), and the indexes of the lines any of them matched."""
    lines = message_lines(item.text)
    wrapped = wrapped_messages(lines)
    node = _node_of(item)
    catalogue = load_catalogue()
    curated = {sig.id: sig for sig in signatures}
    # Parsed structure first (a FitError's reasons), then the curated signatures, then the
    # components' own messages: a hit of an id already seen adds nothing.
    candidates = [
        *fit_error_hits(lines, catalogue, curated),
        *pattern_hits(signatures, lines, False, wrapped),
        *pattern_hits(list(catalogue.signatures), lines, True, wrapped),
        *code_hits(lines, catalogue),
    ]
    hits: dict[str, Hit] = {}
    for hit in candidates:
        if hit.signature.ruled_out_by(item.text):
            continue
        if usable(hit.signature, item.source, node, working_nodes):
            hits.setdefault(hit.signature.id, hit)
    found = [
        Finding(hit.signature, item.subject, node, _quote(lines, hit.indexes), hit.order)
        for hit in superseded_removed(list(hits.values()))
    ]
    return found, {n for hit in hits.values() for n in hit.indexes}


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
    working = set(healthy_drivers)
    for item in evidence:
        found, seen = match_item(item, signatures, working)
        if (positive := healthy_finding(item, found)) is not None:
            healthy.append(positive)
        if not any(f.signature.severity == "error" and not f.signature.symptom for f in found):
            # Never silent: an error line nothing explained still names its layer (a
            # symptom - a crash loop - explains no line's cause).
            lines = message_lines(item.text)
            decisive = decisive_finding(item, _node_of(item), lines, seen, load_catalogue())
            # A guessed driver fault on a node whose probe shows a working driver is
            # contradicted, as a known one would be (e.g. one nvidia-smi query failing there).
            if decisive and usable(decisive.signature, item.source, decisive.node, working):
                found.append(decisive)
        for finding in found:
            finding = attributed(finding, item, load_catalogue())
            findings.setdefault((finding.signature.id, item.node or item.subject), finding)
    if not findings and not healthy:
        # Never silent: text that names a GPU-stack component says which, even with no error.
        named = (
            naming_finding(i, _node_of(i), i.text.splitlines(), load_catalogue()) for i in evidence
        )
        findings = {(f.signature.id, f.subject): f for f in named if f is not None}
    located = {f.signature.id for f in findings.values() if f.node}
    # The same signature seen in node-less evidence (namespace events, the failure message)
    # adds nothing once it has been placed on a node.
    kept = [f for f in findings.values() if f.node or f.signature.id not in located]
    return Explanation(_by_blame(kept, layers, signatures), healthy_drivers, healthy)


def _by_blame(kept: list[Finding], layers: list[str], signatures: list[Signature]) -> list[Finding]:
    """The findings in the order the report shows them."""
    # Errors before warnings; exact findings before layer-only ones; then the order of blame;
    # within a layer a parsed order (a FitError's reasons), then file order: curated
    # signatures (most specific first), then the catalogue.
    catalogued = [sig.id for sig in load_catalogue().all_signatures()]
    rank = {
        sig_id: n
        for n, sig_id in reversed(list(enumerate([s.id for s in signatures] + catalogued)))
    }
    # A consequence whose cause was found too (`explains`) ranks after it, in any layer.
    explained = {sig_id for f in kept for sig_id in f.signature.explains}
    return sorted(
        kept,
        key=lambda f: (
            SEVERITY_RANK[f.signature.severity],
            f.signature.symptom,  # a consequence after any cause, even a lower-confidence one
            f.signature.id in explained,
            f.confidence != EXACT,
            layers.index(f.layer),
            f.signature.fallback,  # specific first
            f.order,
            rank.get(f.signature.id, len(rank)),
            f.subject,
        ),
    )
