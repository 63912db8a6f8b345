"""Read the structure of a message before classifying it.

- a scheduler FitError lists every Filter reason with the number of nodes it rejected
  (kubernetes pkg/scheduler/framework/types.go: "0/%v nodes are available: %v.", each
  reason as "%d %s", sorted, joined by ", "; then " preemption: ..." on newer releases);
- a kubectl events table row names the event's type, reason, source and message;
- NVML and CUDA report enum codes, by name (ERROR_GPU_IS_LOST, CUDA_ERROR_NO_DEVICE,
  cudaErrorNoDevice), by number ("cudaGetDeviceCount returned 100") or by the text their
  ErrorString function gives ("nvml error: driver/library version mismatch").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_FIT_ERROR = re.compile(r"(?P<available>\d+)/(?P<total>\d+) nodes are available: (?P<reasons>.+)")
# A reason starts with its node count; commas inside a reason ("{k: v}, that the pod
# didn't tolerate" in older releases) are not followed by a count.
_REASON_SPLIT = re.compile(r",\s+(?=\d+ )")
_PREEMPTION = re.compile(r"\.?\s+(?:still not schedulable, )?preemption: .*$|\.\s*$")


@dataclass(frozen=True)
class FitReason:
    count: int
    text: str


@dataclass(frozen=True)
class FitError:
    available: int
    total: int
    reasons: tuple[FitReason, ...]


def parse_fit_error(line: str) -> FitError | None:
    """The scheduler's FitError in a line (the first one, not its preemption summary)."""
    found = _FIT_ERROR.search(line)
    if not found:
        return None
    body = _PREEMPTION.sub("", found.group("reasons"), count=1).rstrip(". ")
    reasons = []
    for part in _REASON_SPLIT.split(body):
        count, _, text = part.strip().partition(" ")
        if count.isdigit() and text:
            reasons.append(FitReason(int(count), text.strip().rstrip(".")))
    return FitError(int(found.group("available")), int(found.group("total")), tuple(reasons))


# `kubectl describe` events table:  "  Warning  FailedMount  3m (x2 over 4m)  kubelet  msg"
# and `kubectl get events`:          "3m  Warning  FailedMount  pod/x  msg"
_DESCRIBE_EVENT = re.compile(
    r"^\s*(?P<type>Normal|Warning)\s+(?P<reason>[A-Za-z]+)\s+(?P<age>\S+(?: \(x\d+ over \S+\))?)"
    r"\s+(?P<source>\S+)\s+(?P<message>.*)$"
)
_GET_EVENT = re.compile(
    r"^\s*\S+\s+(?P<type>Normal|Warning)\s+(?P<reason>[A-Za-z]+)\s+(?P<object>\S+/\S+)\s+(?P<message>.*)$"
)


@dataclass(frozen=True)
class Event:
    type: str
    reason: str
    source: str  # kubelet, default-scheduler, ... ("" in `kubectl get events`)
    message: str


def parse_event_line(line: str) -> Event | None:
    """An event row of `kubectl describe` or `kubectl get events`, else None."""
    if found := _DESCRIBE_EVENT.match(line):
        return Event(found["type"], found["reason"], found["source"], found["message"])
    if found := _GET_EVENT.match(line):
        return Event(found["type"], found["reason"], "", found["message"])
    return None


_NVML_NAME = re.compile(r"\b(?:NVML_)?(ERROR_[A-Z_]+)\b")
_NVML_TEXT = re.compile(
    r"(?i)(?:nvml error|failed to initialize nvml|nvml init failed|nvml not detected|nvml)\s*:\s*"
    r"(?P<text>[^:;,\n]+?)\s*(?::|;|,|\.?$)"
)
_MENTIONS_NVML = re.compile(r"(?i)nvml")


def find_nvml_codes(line: str, names: set[str], texts: dict[str, str]) -> list[str]:
    """NVML code names in a line that speaks of NVML: by name, or by nvmlErrorString text
    (`texts` maps lower-cased text to name). Names not in `names` are ignored."""
    if not _MENTIONS_NVML.search(line):
        return []
    found = [name for name in _NVML_NAME.findall(line) if name in names]
    for match in _NVML_TEXT.finditer(line):
        if (name := texts.get(match.group("text").strip().lower())) and name not in found:
            found.append(name)
    return found


_CUDA_NAME = re.compile(r"\b(CUDA_ERROR_[A-Z_]+|cudaError[A-Z][A-Za-z]+)\b")
_CUDA_RETURNED = re.compile(r"\bcuda[A-Z]\w*\s+returned\s+(?P<code>\d+)")
_MENTIONS_CUDA = re.compile(r"CUDA|\bcuda")


def find_cuda_codes(
    line: str, names: set[str], texts: dict[str, str], runtime_codes: dict[int, str]
) -> list[str]:
    """CUDA error names in a line: by name, by `cudaXxx returned <n>` (a runtime code), or by
    the error's text on a line that speaks of CUDA (`texts`: lower-cased text -> name)."""
    found = [name for name in _CUDA_NAME.findall(line) if name in names]
    for match in _CUDA_RETURNED.finditer(line):
        if (name := runtime_codes.get(int(match.group("code")))) and name not in found:
            found.append(name)
    if found or not _MENTIONS_CUDA.search(line):
        return found
    lowered = line.lower()
    # Longest text first: "no cuda-capable device is detected" before "no error".
    for text in sorted(texts, key=len, reverse=True):
        if len(text) >= 12 and text in lowered:
            return [texts[text]]
    return []
