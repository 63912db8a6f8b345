"""What the explainer reads and says: evidence, signatures (curated or catalogue), findings."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from gpuconform.diagnose import xid

# Where a finding's knowledge comes from: a signature or catalogue entry that matched the
# line (exact), or only the component the line names (layer: the lower-confidence fallback).
EXACT = "exact"
LAYER_ONLY = "layer"


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
    """A known message: from signatures.yaml (curated) or the catalogue (components' source).

    `diagnosis` and `remediation` may hold {placeholders}, filled from the named groups of
    the line that matched (Signature.filled); `values` maps one group's value (`values_by`)
    to more text, e.g. libnvidia-container's stage to what that stage does.
    """

    id: str
    layer: str
    severity: str
    patterns: tuple[re.Pattern[str], ...]
    diagnosis: str
    remediation: str
    reference: str
    sources: tuple[str, ...] = ()
    fallback: bool = (
        False  # generic: dropped where a more specific signature explains the same lines
    )
    hardware: bool = False  # a GPU fault: stands even on a node whose driver works
    confidence: str = EXACT
    symptom: bool = False  # a consequence (a crash loop): ranked after causes of its layer
    # Ids of findings this cause accounts for (the NVRM line saying why nvidia-smi cannot
    # reach the driver): where both are found, those rank after it, whatever their layer.
    explains: tuple[str, ...] = ()
    detail: str | None = None  # names the parts of the matched line, from its named groups
    component: str = ""
    values_by: str | None = None
    values: dict[str, tuple[str, str]] = field(default_factory=dict, hash=False, compare=False)
    # Text that, anywhere in the same evidence, shows the entry's cause is absent: an entry
    # about a missing label ("pci-0300_10de" where the selectors want "pci-10de") stands
    # only where the wanted one is not there too.
    unless: tuple[re.Pattern[str], ...] = field(default=(), hash=False, compare=False)
    # `image`: the layer is that of the component owning the image in the matched line
    # (owner.py), e.g. an image that could not be pulled; `layer` is the default.
    layer_by: str | None = None

    def applies_to(self, source: str) -> bool:
        return not self.sources or source in self.sources or source == "file"

    def ruled_out_by(self, text: str) -> bool:
        return any(p.search(text) for p in self.unless)

    @property
    def contradicted_by_working_driver(self) -> bool:
        return self.layer == "driver" and self.severity == "error" and not self.hardware

    def filled(self, groups: dict[str, str]) -> Signature:
        """This signature with its placeholders filled from a matched line's parts."""
        if "{" not in self.diagnosis + self.remediation:
            return self
        parts = _Parts(spell_out_xids({k: v for k, v in groups.items() if v is not None}))
        # Patterns match either case; the values are keyed in the source's (lower) case.
        key = parts.get(self.values_by or "", "")
        if self.values_by and (extra := self.values.get(key) or self.values.get(key.lower())):
            parts[f"{self.values_by}_meaning"], parts[f"{self.values_by}_fix"] = extra
        return replace(
            self,
            diagnosis=self.diagnosis.format_map(parts).strip(),
            remediation=self.remediation.format_map(parts).strip(),
        )


class _Parts(dict):
    """Named groups of a match; a part the line did not have reads as empty."""

    def __missing__(self, key: str) -> str:
        return ""


def spell_out_xids(parts: dict[str, str]) -> dict[str, str]:
    """A line's parts with each Xid code spelt out from NVIDIA's Xid catalogue (xid.yaml)."""
    return {k: xid.describe(v) if k in ("xid", "xid2") and v else v for k, v in parts.items()}


def line_parts(signature: Signature, line: str) -> dict[str, str]:
    """The named groups of the first pattern that matches `line` (e.g. an Xid code, a GPU)."""
    for pattern in signature.patterns:
        if found := pattern.search(line):
            return {k: v for k, v in found.groupdict().items() if v is not None}
    return {}


def where_of(subject: str, node: str | None) -> str:
    if node and node != subject:
        return f"{subject} on node {node}"
    return subject


@dataclass(frozen=True)
class Finding:
    signature: Signature
    subject: str
    node: str | None
    lines: tuple[str, ...]
    order: int = 0  # within a layer: lower first (a FitError's reasons in order of blame)

    @property
    def layer(self) -> str:
        return self.signature.layer

    @property
    def confidence(self) -> str:
        """`exact` (a known message matched) or `layer` (only its component was recognised)."""
        return self.signature.confidence

    @property
    def where(self) -> str:
        return where_of(self.subject, self.node)

    @property
    def detail(self) -> str | None:
        """The signature's `detail` filled from the first quoted line that has all its parts;
        an Xid code is spelt out from NVIDIA's Xid catalogue."""
        template = self.signature.detail
        for line in self.lines if template else ():
            parts = spell_out_xids(line_parts(self.signature, line))
            try:
                return template.format(**parts)
            except KeyError:
                continue
        return None

    @property
    def cause(self) -> str:
        """The diagnosis, led by what this evidence names (which GPU, which Xid) if anything."""
        detail = self.detail
        return f"{detail}: {self.signature.diagnosis}" if detail else self.signature.diagnosis

    @property
    def only_named(self) -> bool:
        """A pointer to a component the text names, with no error line: blames nothing."""
        return self.confidence == LAYER_ONLY and self.signature.severity != "error"

    def headline(self) -> str:
        return f"[{self.layer_label}] {self.cause} ({self.where})"

    @property
    def layer_label(self) -> str:
        if self.confidence == EXACT:
            return self.layer
        return f"{self.layer}, lower confidence"
