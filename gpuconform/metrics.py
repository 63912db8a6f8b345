"""Accelerator metrics (AI Conformance `accelerator_metrics`): what a GPU metrics exporter
(NVIDIA's dcgm-exporter, `:9400/metrics`) publishes, read from its Prometheus text exposition,
against the GPUs `nvidia-smi -L` lists on the same node.

The exporter is named by the profile key `accelerator_metrics` (its pods' namespace, label
selector, port and path); each GPU node's exporter pod is read through the API server's pod
proxy, so the run needs no network route to the nodes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

# One series per GPU UUID of each: utilisation and framebuffer memory in use (dcgm-exporter's
# default counters, etc/default-counters.csv).
REQUIRED_METRICS = ("DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_FB_USED")
UUID_LABEL = "UUID"  # dcgm-exporter's label; MIG instances add GPU_I_ID under their GPU's UUID

# Prometheus text format 0.0.4: `name{label="value",...} value [timestamp]`; label values
# escape \\, \" and \n.
_SAMPLE = re.compile(
    r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})?\s+(?P<value>\S+)(?:\s+-?\d+)?\s*$"
)
_LABEL = re.compile(r'\s*(?P<key>[a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"(?P<value>(?:[^"\\]|\\.)*)"\s*,?')
_ESCAPES = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}


class ExpositionError(ValueError):
    """Text that is not the Prometheus exposition format; one line, with the line number."""


class MetricsSettingError(ValueError):
    """A profile's `accelerator_metrics` that cannot be used; one line."""


@dataclass(frozen=True)
class Series:
    name: str
    labels: dict[str, str] = field(hash=False)
    value: float


@dataclass(frozen=True)
class MetricsEndpoint:
    """Where the exporter runs: its pods (namespace, label selector) and what to read."""

    namespace: str
    selector: str
    port: int = 9400
    path: str = "/metrics"

    def describe(self) -> str:
        return f"pods {self.selector} in {self.namespace}, :{self.port}{self.path}"


def parse_endpoint(profile: str, data: Any) -> MetricsEndpoint | None:
    """The profile's `accelerator_metrics` (None: not named), checked."""
    if data is None:
        return None
    if not isinstance(data, dict) or not data.get("namespace") or not data.get("selector"):
        raise MetricsSettingError(
            f"profile {profile!r}: accelerator_metrics needs namespace and selector "
            "(e.g. {namespace: gpu-operator, selector: app=nvidia-dcgm-exporter})"
        )
    port = data.get("port", 9400)
    if not isinstance(port, int) or not 0 < port < 65536:
        raise MetricsSettingError(f"profile {profile!r}: accelerator_metrics.port {port!r}")
    path = str(data.get("path") or "/metrics")
    return MetricsEndpoint(str(data["namespace"]), str(data["selector"]), port, path)


def _unescape(value: str) -> str:
    return re.sub(r"\\[\\\"n]", lambda m: _ESCAPES[m.group(0)], value)


def _labels(text: str, number: int) -> dict[str, str]:
    labels, at = {}, 0
    while at < len(text):
        found = _LABEL.match(text, at)
        if not found:
            raise ExpositionError(f"line {number}: cannot read the labels {{{text}}}")
        labels[found["key"]] = _unescape(found["value"])
        at = found.end()
    return labels


def parse_exposition(text: str) -> list[Series]:
    """Every sample of a Prometheus text exposition (comments and blank lines skipped)."""
    series = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        sample = _SAMPLE.match(line)
        if not sample:
            raise ExpositionError(f"line {number}: not a sample: {line[:120]!r}")
        try:
            value = float(sample["value"])
        except ValueError:
            raise ExpositionError(f"line {number}: value {sample['value']!r}") from None
        series.append(Series(sample["name"], _labels(sample["labels"] or "", number), value))
    return series


def series_by_uuid(series: list[Series], metric: str) -> dict[str, int]:
    """How many series of ``metric`` each GPU UUID has (MIG instances: one per instance)."""
    counts: dict[str, int] = {}
    for item in series:
        if item.name == metric and (uuid := item.labels.get(UUID_LABEL)):
            counts[uuid] = counts.get(uuid, 0) + 1
    return counts


def missing_series(series: list[Series], uuids: list[str]) -> list[str]:
    """What the exposition lacks for the GPUs ``uuids``, as phrases; empty when each GPU has
    a series of every required metric."""
    problems = []
    for metric in REQUIRED_METRICS:
        have = series_by_uuid(series, metric)
        if not have:
            problems.append(f"no {metric} series at all")
            continue
        lacking = [uuid for uuid in uuids if uuid not in have]
        if lacking:
            problems.append(f"no {metric} series for {', '.join(lacking)}")
    return problems
