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
# Releases up to 1.9 (plugin/pkg/scheduler/core/generic_scheduler.go): NoNodeAvailableMsg
# "No nodes are available that match all of the following predicates:" then ": %v." with
# each reason as "%v (%v)" - the predicate's reason, then its node count.
_OLD_FIT_ERROR = re.compile(
    r"No nodes are available that match all of the (?:following )?predicates:+\s*(?P<reasons>.+)"
)
_OLD_REASON = re.compile(r"(?P<text>[^,]+?) \((?P<count>\d+)\)")
# A reason starts with its node count; commas inside a reason ("{k: v}, that the pod
# didn't tolerate" in older releases) are not followed by a count.
_REASON_SPLIT = re.compile(r",\s+(?=\d+ )")
_PREEMPTION = re.compile(r"\.?\s+(?:still not schedulable, )?preemption: .*$|\.\s*$")
# DRA's PostFilter status, joined to the FitError on 1.31+ ("... does not exist. no new
# claims to deallocate, preemption: ..."): not a Filter reason.
_POSTFILTER = re.compile(r"\.?\s*no new claims to deallocate,?\s*$")
# A FailedScheduling event whose message is only the reasons, without "0/N nodes are
# available:" (clients that print the event's note trimmed, older scheduler versions):
# "FailedScheduling  2m (x42 over 60m)  default-scheduler  1 node(s) had untolerated taint".
_BARE_FIT_ERROR = re.compile(
    r"FailedScheduling\b.*?\s(?P<reasons>\d+ (?:node\(s\) |Insufficient |Too many ).+)"
)


@dataclass(frozen=True)
class FitReason:
    count: int
    text: str


@dataclass(frozen=True)
class FitError:
    available: int
    total: int
    reasons: tuple[FitReason, ...]


_ESCAPED_QUOTE = re.compile(r'\\+"')  # \" and, in an error quoted twice, \\\"


def message_lines(text: str) -> list[str]:
    """The text's lines with logfmt/JSON-escaped quotes read as quotes: containerd logs
    `error="... no runtime for \\"nvidia\\" is configured"`, while the component's source
    (and so the catalogue) has the message itself."""
    return [_ESCAPED_QUOTE.sub('"', line) for line in text.splitlines()]


_FIELD_OR_EVENT = re.compile(r"^\s*(?:[A-Z][\w -]*:\s|(?:Normal|Warning)\s)")


def _soft_wrapped(line: str, following: str) -> bool:
    """A line broken after a space in mid-sentence (a post or terminal wrapped it: "failed to
    find runtime handler nvidia from " / "runtime list map[...]"), not a log line's end."""
    return (
        line.endswith(" ")
        and not line.rstrip().endswith((".", ":", ";"))
        and (following[:1].islower())
    )


def fit_error_span(lines: list[str], start: int, limit: int = 6) -> tuple[str, int]:
    """A FitError that starts on `lines[start]` and the lines it wraps onto (`kubectl describe`
    and YAML block scalars wrap long messages: "1 node(s) had taint {k: v}, that the" /
    "pod didn't tolerate, 9 Insufficient nvidia.com/gpu."), joined; and the index after it.
    A wrapped message goes on while it has not ended with a full stop and the next line is
    indented (log lines are not), neither blank nor a new field or event row - or, pasted as
    prose, the line breaks after a space mid-sentence and the next goes on in lower case."""
    text, end = lines[start].rstrip(), start + 1
    while end < len(lines) and end - start < limit and not text.endswith("."):
        following = lines[end]
        if not following.strip():
            break
        if not following[:1].isspace() and not _soft_wrapped(lines[end - 1], following):
            break
        if _FIELD_OR_EVENT.match(following):
            break
        text, end = f"{text} {following.strip()}", end + 1
    return text, end


def wrapped_messages(lines: list[str]) -> list[tuple[int, str]]:
    """Every message wrapped over more than one line (see fit_error_span), joined, with the
    index of its first line: a pattern split by the wrap matches the joined text."""
    spans, n = [], 0
    while n < len(lines):
        text, end = fit_error_span(lines, n)
        if end > n + 1:
            spans.append((n, text))
        n = end
    return spans


def parse_fit_error(line: str) -> FitError | None:
    """The scheduler's FitError in a line (the first one, not its preemption summary)."""
    found = _FIT_ERROR.search(line)
    if not found:
        return _parse_old_fit_error(line) or _parse_bare_fit_error(line)
    total = int(found.group("total"))
    return FitError(int(found.group("available")), total, _reasons(found.group("reasons"), total))


def _reasons(text: str, total: int) -> tuple[FitReason, ...]:
    body = _PREEMPTION.sub("", text, count=1)
    body = _POSTFILTER.sub("", body).rstrip(". ")
    reasons = []
    for part in _REASON_SPLIT.split(body):
        count, _, rest = part.strip().partition(" ")
        if count.isdigit() and rest:
            reasons.append(FitReason(int(count), rest.strip().rstrip(".")))
        elif part.strip() and not reasons:
            # A PreFilter status (DRA's "request gpu: device class X does not exist") rules
            # out every node at once, so the scheduler prints it without a count.
            reasons.append(FitReason(total, part.strip().rstrip(".")))
    return tuple(reasons)


def _parse_bare_fit_error(line: str) -> FitError | None:
    found = _BARE_FIT_ERROR.search(line)
    if not found:
        return None
    reasons = _reasons(found.group("reasons"), 0)
    return FitError(0, sum(r.count for r in reasons), reasons) if reasons else None


def _parse_old_fit_error(line: str) -> FitError | None:
    found = _OLD_FIT_ERROR.search(line)
    if not found:
        return None
    reasons = tuple(
        FitReason(int(m["count"]), m["text"].strip())
        for m in _OLD_REASON.finditer(found.group("reasons"))
    )
    # This form does not say how many nodes there are; none was available.
    return FitError(0, 0, reasons) if reasons else None


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
# The text ends at the next separator or at a closing quote or backtick (reports quote the
# line: `Failed to initialize NVML: Insufficient Permissions`).
_NVML_TEXT = re.compile(
    r"(?i)(?:nvml error|failed to initialize nvml|nvml init failed|nvml not detected|nvml)\s*:\s*"
    r"(?P<text>[^:;,\n`'\"]+?)\s*(?::|;|,|[`'\"]|\.?$)"
)
_MENTIONS_NVML = re.compile(r"(?i)nvml")
# Go tools built on go-nvml (mig-parted, the device plugin, GFD) print a Return by its name
# ("error getting GPU instance profile info for '1g.6gb': ERROR_NOT_SUPPORTED") without the
# word NVML; a full code name on a line about a GPU, a device handle or MIG is NVML's.
_GPU_CONTEXT = re.compile(r"(?i)\bGPUs?\b|device handle|\bMIG\b|gpu instance|compute instance")
# nvidia-smi: "Unable to determine the device handle for GPU0000:3B:00.0: GPU is lost.  Reboot
# the system to recover this GPU" - nvmlErrorString's text after the GPU's address.
_SMI_HANDLE = re.compile(
    r"device handle for (?:GPU|gpu) ?[0-9A-Fa-f:.]*[0-9A-Fa-f]:\s*(?P<text>.+)"
)
# A caller linked against a newer NVML than the driver's: the dynamic linker's "undefined
# symbol: nvmlDeviceGetPciInfo_v3" is what go-nvml's lookup reports as ERROR_FUNCTION_NOT_FOUND
# (its dl.Lookup of a missing symbol), i.e. nvml.h's "Local version of NVML doesn't implement
# this function".
_NVML_SYMBOL = re.compile(r"undefined symbol:?\s*_?nvml[A-Z]\w*")
_MISSING_SYMBOL = "ERROR_FUNCTION_NOT_FOUND"


def find_nvml_codes(line: str, names: set[str], texts: dict[str, str]) -> list[str]:
    """NVML code names in a line that speaks of NVML: by name, or by nvmlErrorString text
    (`texts` maps lower-cased text to name). Names not in `names` are ignored."""
    if not _MENTIONS_NVML.search(line):
        return _nvml_codes_in_gpu_context(line, names, texts)
    found = [name for name in _NVML_NAME.findall(line) if name in names]
    if _MISSING_SYMBOL in names and _MISSING_SYMBOL not in found and _NVML_SYMBOL.search(line):
        found.append(_MISSING_SYMBOL)
    for match in _NVML_TEXT.finditer(line):
        if (name := texts.get(match.group("text").strip().lower())) and name not in found:
            found.append(name)
    return found


def _nvml_codes_in_gpu_context(line: str, names: set[str], texts: dict[str, str]) -> list[str]:
    """NVML codes on a line that does not say NVML: a code's full name next to a GPU term, or
    nvidia-smi's device-handle error with nvmlErrorString's text (the longest text it starts
    with: "GPU is lost" before "Unknown Error")."""
    if not _GPU_CONTEXT.search(line):
        return []
    found = [name for name in _NVML_NAME.findall(line) if name in names]
    if (handle := _SMI_HANDLE.search(line)) and not found:
        said = handle.group("text").strip().lower()
        for text in sorted(texts, key=len, reverse=True):
            if said.startswith(text) and said[len(text) : len(text) + 1] in ("", ".", " ", ","):
                return [texts[text]]
    return found


_CUDA_NAME = re.compile(r"\b(CUDA_ERROR_[A-Z_]+|cudaError[A-Z][A-Za-z]+)\b")
_CUDA_RETURNED = re.compile(r"\bcuda[A-Z]\w*\s+returned\s+(?P<code>\d+)")
# A driver API call's CUresult by number, as HAMi-core logs it (Project-HAMi/HAMi-core
# src/allocator/allocator.c: LOG_ERROR("cuMemoryAllocate failed res=%d", res) with res a
# CUresult): "cu<Call> failed res=<n>".
_CU_RES = re.compile(r"\bcu[A-Z]\w*\s+failed\s+res=(?P<code>\d+)")
# The CUDA samples (vectorAdd, the GPU Operator's CUDA validator) print a runtime error only by
# its text: "Failed to allocate device vector A (error code %s)!" with cudaGetErrorString.
_MENTIONS_CUDA = re.compile(r"CUDA|\bcuda|\(error code [a-z]")
# cudaGetErrorString / cuGetErrorString texts of this many words are CUDA's own sentences
# (https://docs.nvidia.com/cuda/cuda-runtime-api/group__CUDART__TYPES.html, enum cudaError:
# "no kernel image is available for execution on the device", "forward compatibility was
# attempted on non supported HW"); shorter ones ("invalid argument") are any program's words.
DISTINCT_WORDS = 6


def find_cuda_codes(
    line: str,
    names: set[str],
    texts: dict[str, str],
    runtime_codes: dict[int, str],
    driver_codes: dict[int, str] | None = None,
) -> list[str]:
    """CUDA error names in a line: by name, by `cudaXxx returned <n>` (a runtime code), or by
    the error's text on a line that speaks of CUDA (`texts`: lower-cased text -> name)."""
    found = [name for name in _CUDA_NAME.findall(line) if name in names]
    for match in _CUDA_RETURNED.finditer(line):
        if (name := runtime_codes.get(int(match.group("code")))) and name not in found:
            found.append(name)
    for match in _CU_RES.finditer(line):
        if (name := (driver_codes or {}).get(int(match.group("code")))) and name not in found:
            found.append(name)
    if found:
        return found
    lowered = line.lower()
    # Longest text first: "no cuda-capable device is detected" before "no error". A text of
    # DISTINCT_WORDS words or more is CUDA's own sentence wherever it appears (programs and
    # their libraries - thrust's system_error, frameworks - print cudaGetErrorString's text
    # in their own frame); a shorter one ("out of memory") only on a line that speaks of CUDA.
    mentions = bool(_MENTIONS_CUDA.search(line))
    for text in sorted(texts, key=len, reverse=True):
        if (
            (mentions or len(text.split()) >= DISTINCT_WORDS)
            and len(text) >= 12
            and text in lowered
        ):
            return [texts[text]]
    return []
