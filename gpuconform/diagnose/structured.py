"""Findings from a message's parts (parse.py): a FitError's reasons, NVML and CUDA codes.

A FitError's reasons are ranked in the order of blame within the scheduler layer: a reason
that names a GPU term (an nvidia.com taint or resource, a DRA claim) first, because it is
about the GPU nodes themselves, and one that is a cluster's normal state (the control
plane's taint) last; then by the filter's place in the default profile - a node
rejected by an early filter (taints) was never checked by later ones (resources), so
"1 node(s) had untolerated taint {nvidia.com/gpu: present}, 2 Insufficient nvidia.com/gpu"
first says that the GPU node is tainted, then that the other nodes have no GPUs.

A shortage ("Insufficient nvidia.com/gpu") comes after the other reasons that are not a
cluster's normal state, whatever they name: its nodes have no free GPUs (most often none at
all), while a node rejected by another filter is the candidate - one rejected before
NodeResourcesFit (a taint) was never checked for GPUs, one rejected after it (pod
affinity, DRA) had them. So "1 node(s) didn't match pod affinity rules, 3 Insufficient
nvidia.com/gpu" blames the affinity that rules out the one node with a free GPU.
The pod's own node selection (nodeSelector/affinity, nodeName) is the exception: the nodes it
rules out are the ones the pod never wanted, so "3 node(s) didn't match Pod's node
affinity/selector, 2 Insufficient nvidia.com/gpu" blames the shortage on the selected nodes.
"""

from __future__ import annotations

from dataclasses import dataclass

from gpuconform.diagnose.catalogue import Catalogue, Reason
from gpuconform.diagnose.model import Signature
from gpuconform.diagnose.parse import (
    FitReason,
    find_cuda_codes,
    find_nvml_codes,
    fit_error_span,
    parse_fit_error,
)


@dataclass(frozen=True)
class Hit:
    """A signature that explains some lines of one piece of evidence."""

    signature: Signature
    indexes: tuple[int, ...]
    order: int = 0
    # An enum code is a part of its line: it stands alone only where no other entry
    # (not even a generic one) explains that line; otherwise that entry's finding quotes it.
    part: bool = False
    # From the catalogue, not signatures.yaml: gives way where a curated signature, written
    # with its context, already explains all its lines. A FitError reason never does: it is
    # one reason of the line, not the line.
    catalogued: bool = False
    position: int = -1  # where the match starts in its first line (-1: not a pattern match)

    def wrapped_by(self, other: Hit) -> bool:
        """Whether this generic catalogue hit is an outer link of `other`'s error chain:
        same first line, and `other` matches further right (errors wrap outer: inner), or
        at the same place as a curated signature."""
        if self.part or not (self.catalogued and self.signature.fallback):
            return False
        if other is self or other.part:
            return False
        if not other.indexes or other.indexes[0] != self.indexes[0]:
            return False
        if other.position > self.position:
            return True
        return other.position == self.position and not other.catalogued


def _reason_parts(reason: Reason, fit: FitReason, groups: dict[str, str]) -> dict[str, str]:
    parts = {k: v for k, v in groups.items() if v is not None}
    key = parts.get("key") or parts.get("key2")
    value = parts.get("value", parts.get("value2", ""))
    if key:
        parts["taint_key"] = key.strip()
        parts["taint"] = "{" + f"{key.strip()}: {value.strip()}" + "}"
    else:
        parts.setdefault("taint", "(not named in this release's message)")
        parts.setdefault("taint_key", "the GPU nodes' taint")
    parts["count"] = str(fit.count)
    return parts


# A shortage after every other reason of tiers 0 and 1, the pod's own selection after the
# shortage, both before tier 2 (positions are < 25).
SHORTAGE_AFTER = 50


def _order(reason: Reason, text: str, catalogue: Catalogue) -> int:
    """Where a reason ranks within the scheduler layer (lower first)."""
    tier = _tier(text, catalogue)
    if reason.shortage and tier < 2:
        return -1000 + 100 + SHORTAGE_AFTER + reason.position
    if reason.selection and tier == 1:
        return -1000 + 100 + SHORTAGE_AFTER + SHORTAGE_AFTER // 2 + reason.position
    return -1000 + 100 * tier + reason.position


def _tier(text: str, catalogue: Catalogue) -> int:
    """0: about the GPU nodes; 1: other reasons; 2: the cluster's normal state."""
    if catalogue.normal_terms.search(text):
        return 2
    return 0 if catalogue.gpu_terms.search(text) else 1


def classify_reason(fit: FitReason, catalogue: Catalogue) -> tuple[Reason, dict[str, str]] | None:
    for reason in catalogue.reasons:
        if found := reason.pattern.match(fit.text):
            return reason, found.groupdict()
    return None


def fit_error_hits(
    lines: list[str], catalogue: Catalogue, curated: dict[str, Signature]
) -> list[Hit]:
    """One hit per reason of every FitError, ranked in the order of blame (see above)."""
    hits: dict[str, Hit] = {}
    for n, line in enumerate(lines):
        if parse_fit_error(line) is None:
            continue
        fit_error = parse_fit_error(fit_error_span(lines, n)[0])
        if fit_error is None:
            continue
        for fit in fit_error.reasons:
            classified = classify_reason(fit, catalogue)
            if classified is None:
                continue
            reason, groups = classified
            signature = curated.get(reason.same_as or "", reason.signature)
            order = _order(reason, fit.text, catalogue)
            filled = signature.filled(_reason_parts(reason, fit, groups))
            # Two reasons of one kind (two taints): the one ranked first speaks for both.
            if filled.id not in hits or order < hits[filled.id].order:
                hits[filled.id] = Hit(filled, (n,), order)
    return list(hits.values())


def code_hits(lines: list[str], catalogue: Catalogue) -> list[Hit]:
    """NVML and CUDA codes named in the lines, each with the lines that name it."""
    nvml, cuda = catalogue.codes["nvml"], catalogue.codes["cuda"]
    found: dict[str, tuple[Signature, list[int]]] = {}
    for n, line in enumerate(lines):
        names = [
            (nvml, name) for name in find_nvml_codes(line, set(nvml), catalogue.code_texts["nvml"])
        ] + [
            (cuda, name)
            for name in find_cuda_codes(
                line,
                set(cuda),
                catalogue.code_texts["cuda"],
                catalogue.cuda_runtime_codes,
                catalogue.cuda_driver_codes,
            )
        ]
        for table, name in names:
            sig = table[name]
            found.setdefault(sig.id, (sig, []))[1].append(n)
    return [Hit(sig, tuple(idx), part=True, catalogued=True) for sig, idx in found.values()]


def superseded_removed(hits: list[Hit]) -> list[Hit]:
    """The hits that say something no other hit of the same evidence says better:
    - a generic entry gives way where specific entries explain all its lines;
    - an enum code gives way to a curated signature or a specific entry on its line (not to
      a generic wrapper such as "nvml init failed: <code>", which it says more than);
    - a catalogue entry gives way where curated signatures explain all its lines, unless
      it names such a signature in `explains` (a consequence of its cause);
    - a generic catalogue entry gives way to the entry matching further right on its line
      (the outer links of an error chain to its innermost)."""
    specific = {n for hit in hits if not hit.signature.fallback for n in hit.indexes}
    quoting = {
        n
        for hit in hits
        if not hit.part and not (hit.catalogued and hit.signature.fallback)
        for n in hit.indexes
    }
    curated: dict[int, set[str]] = {}
    for hit in hits:
        if not hit.catalogued and not hit.signature.fallback and hit.order == 0:
            for n in hit.indexes:
                curated.setdefault(n, set()).add(hit.signature.id)
    return [
        hit
        for hit in hits
        if not (hit.signature.fallback and set(hit.indexes) <= specific)
        and not (hit.part and set(hit.indexes) <= quoting)
        and not (hit.catalogued and _hidden_by_curated(hit, curated))
        and not any(hit.wrapped_by(other) for other in hits)
    ]


def _hidden_by_curated(hit: Hit, curated: dict[int, set[str]]) -> bool:
    """Whether curated signatures explain all of a catalogue hit's lines, and the entry does
    not name one of them in `explains` (its cause produces that signature's words: the entry
    then stays, and ranks before the signature)."""
    if not set(hit.indexes) <= set(curated):
        return False
    return not any(curated[n] & set(hit.signature.explains) for n in hit.indexes)
