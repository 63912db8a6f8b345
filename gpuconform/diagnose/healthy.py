"""Positive findings: raw tool output that proves the driver layer works.

`nvidia-container-cli info` that lists a driver and devices, or `nvidia-smi` (the table,
`-L`, `-q`) that lists GPUs, is a working driver: "driver layer healthy: NVRM 525.60.13,
CUDA 12.0, 1 GPU(s)". The formats are data (healthy.yaml); reading them is here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from gpuconform.diagnose.probe import ProbeResult

FORMATS_FILE = Path(__file__).with_name("healthy.yaml")
# Probe sections (node_probe.sh) that hold raw tool output, most informative first.
PROBE_SECTIONS = ("nvidia-container-cli info", "nvidia-smi -q", "nvidia-smi -L")


@dataclass(frozen=True)
class Format:
    tool: str
    detect: re.Pattern[str]
    gpu: re.Pattern[str]
    label: str = "driver"
    driver: re.Pattern[str] | None = None
    cuda: re.Pattern[str] | None = None
    model: re.Pattern[str] | None = None


@dataclass(frozen=True)
class DriverHealth:
    """What a tool's output proves about the driver layer."""

    tool: str
    gpus: int
    label: str = "driver"
    driver: str | None = None
    cuda: str | None = None
    models: tuple[str, ...] = ()

    @property
    def layer(self) -> str:
        return "driver"

    @property
    def facts(self) -> int:
        return sum(1 for fact in (self.driver, self.cuda) if fact) + bool(self.models)

    def summary(self) -> str:
        facts = [f"{self.label} {self.driver}"] if self.driver else []
        facts += [f"CUDA {self.cuda}"] if self.cuda else []
        facts.append(f"{self.gpus} GPU(s)")
        text = "driver layer healthy: " + ", ".join(facts)
        models = list(dict.fromkeys(self.models))
        return f"{text} ({', '.join(models)})" if models else text


def _compile(value: str | None) -> re.Pattern[str] | None:
    return re.compile(value) if value else None


@cache
def load_formats(path: Path = FORMATS_FILE) -> tuple[tuple[Format, ...], tuple[re.Pattern, ...]]:
    data = yaml.safe_load(path.read_text())
    formats = tuple(
        Format(
            tool=item["tool"],
            detect=re.compile(item["detect"]),
            gpu=re.compile(item["gpu"]),
            label=item.get("label", "driver"),
            driver=_compile(item.get("driver")),
            cuda=_compile(item.get("cuda")),
            model=_compile(item.get("model")),
        )
        for item in data["formats"]
    )
    return formats, tuple(re.compile(p) for p in data["broken"])


def _first(pattern: re.Pattern[str] | None, lines: list[str]) -> str | None:
    if pattern is None:
        return None
    for line in lines:
        found = pattern.search(line)
        if found and found.group(1) not in ("N/A", ""):
            return found.group(1)
    return None


def read_format(fmt: Format, lines: list[str]) -> DriverHealth | None:
    """The facts one format gives, or None when the text lists no GPU."""
    gpus = sum(1 for line in lines if fmt.gpu.search(line))
    if not gpus:
        return None
    models = tuple(
        found.group(1).strip() for line in lines if fmt.model and (found := fmt.model.search(line))
    )
    return DriverHealth(
        tool=fmt.tool,
        gpus=gpus,
        label=fmt.label,
        driver=_first(fmt.driver, lines),
        cuda=_first(fmt.cuda, lines),
        models=models,
    )


def read_driver_health(text: str) -> DriverHealth | None:
    """The most informative positive finding in raw tool output; None if it shows a fault."""
    formats, broken = load_formats()
    lines = text.splitlines()
    if any(p.search(line) for p in broken for line in lines):
        return None
    found = [
        health
        for fmt in formats
        if any(fmt.detect.search(line) for line in lines)
        and (health := read_format(fmt, lines)) is not None
    ]
    return max(found, key=lambda h: h.facts, default=None)


def probe_driver_health(probe: ProbeResult) -> DriverHealth | None:
    """The same from the node probe's sections that succeeded; else the probe's own summary."""
    for name in PROBE_SECTIONS:
        if probe.exit_code(name) == 0 and (health := read_driver_health(probe.text(name))):
            return health
    if not probe.driver_ok:
        return None
    models = tuple(probe.gpu_models)
    return DriverHealth("node probe", len(models), driver=probe.driver_version, models=models)
