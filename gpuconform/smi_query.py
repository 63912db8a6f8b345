"""Reading ``nvidia-smi -q``: the driver and CUDA versions of its header and, per GPU, the
fields the suite compares with what a node advertises (Product Name, GPU UUID, Minor Number,
PCI Bus Id).

The layout is the real tool's (a real H200's: tests/data/h200-host/nvidia-smi-q.txt): labels
indented four spaces per level and padded to column 55, then ``: value``; a label without a
value opens a section (``PCI``, ``FB Memory Usage``); ``GPU <bus id>`` opens a GPU's block.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

HEADER = "==============NVSMI LOG=============="
_FIELD = re.compile(r"^(?P<indent> *)(?P<label>\S.*?)\s*: (?P<value>.*)$")
_SECTION = re.compile(r"^(?P<indent> *)(?P<label>\S.*?)\s*$")


@dataclass(frozen=True)
class SmiGpu:
    bus_id: str
    name: str = ""
    uuid: str = ""
    minor: int | None = None


@dataclass
class SmiReport:
    driver_version: str = ""
    cuda_version: str = ""
    gpus: list[SmiGpu] = field(default_factory=list)

    def rows(self) -> list[dict[str, str]]:
        """Each GPU as the DRA readiness check reads nvidia-smi: uuid, name, versions."""
        return [
            {
                "uuid": g.uuid,
                "name": g.name,
                "driver_version": self.driver_version,
                "cuda_version": self.cuda_version,
            }
            for g in self.gpus
        ]


def _fields(text: str) -> list[tuple[str, str]]:
    """(path, value) for every field, the path being the labels from the GPU block down
    ("Product Name", "PCI/Bus Id"); a GPU's block opens with ("GPU", bus id)."""
    found: list[tuple[str, str]] = []
    sections: list[str] = []
    for line in text.splitlines():
        if not line.strip() or line.strip() == HEADER:
            continue
        match = _FIELD.match(line) or _SECTION.match(line)
        assert match  # a non-blank line always matches _SECTION
        depth = len(match["indent"]) // 4
        label = match["label"]
        if depth == 0 and label.startswith("GPU ") and "value" not in match.groupdict():
            sections = []
            found.append(("GPU", label.removeprefix("GPU ")))
            continue
        sections = sections[: max(depth - 1, 0)]
        if "value" in match.groupdict():
            found.append(("/".join([*sections, label]), match["value"].strip()))
        elif depth >= 1:
            sections.append(label)
    return found


def parse_query_report(text: str) -> SmiReport:
    """An ``nvidia-smi -q`` report; ValueError when ``text`` is not one (an error message,
    another mode's output)."""
    if HEADER not in text:
        raise ValueError(f"not an nvidia-smi -q report: {text.strip()[:200]!r}")
    report = SmiReport()
    gpu: dict[str, str] | None = None
    gpus: list[dict[str, str]] = []
    for path, value in _fields(text.split(HEADER, 1)[1]):
        if path == "GPU":
            gpu = {"bus_id": value}
            gpus.append(gpu)
        elif gpu is None and path in ("Driver Version", "CUDA Version"):
            setattr(report, path.lower().replace(" ", "_"), value)
        elif gpu is not None and path in _GPU_FIELDS:
            gpu[_GPU_FIELDS[path]] = value
    for found in gpus:
        minor = found.pop("minor", "")
        report.gpus.append(SmiGpu(**found, minor=int(minor) if minor.isdigit() else None))
    return report


_GPU_FIELDS = {"Product Name": "name", "GPU UUID": "uuid", "Minor Number": "minor"}
