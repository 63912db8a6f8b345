"""Reading the node probe's output (node_probe.sh): sections, exit codes, GPUs, driver."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

PROBE_SCRIPT = Path(__file__).with_name("node_probe.sh")
SECTION = re.compile(r"^=== gpuconform-probe: (.+?) ===$")
SECTION_EXIT = re.compile(r"^=== gpuconform-probe-exit: (.+) (\d+) ===$")
GPU_LIST_LINE = re.compile(r"^GPU \d+: (.+?) \(UUID: (?P<uuid>GPU-[0-9a-fA-F-]+)\)")
CLI_MODEL = re.compile(r"^Model:\s+(.+)$", re.MULTILINE)
DRIVER_VERSION = re.compile(
    r"(?:Driver Version\s*:\s*|NVRM version:\s+(?:NVIDIA .*?Kernel Module(?: for \S+)?\s+)?)"
    r"(\d+\.\d+(?:\.\d+)?)"
)


@dataclass
class ProbeResult:
    sections: dict[str, tuple[int | None, str]] = field(default_factory=dict)

    def exit_code(self, name: str) -> int | None:
        return self.sections.get(name, (None, ""))[0]

    def text(self, name: str) -> str:
        return self.sections.get(name, (None, ""))[1]

    @property
    def gpu_models(self) -> list[str]:
        listed = [
            m.group(1)
            for line in self.text("nvidia-smi -L").splitlines()
            if (m := GPU_LIST_LINE.match(line))
        ]
        return listed or CLI_MODEL.findall(self.text("nvidia-container-cli info"))

    @property
    def driver_version(self) -> str | None:
        for name in ("nvidia-smi -q", "driver version", "nvidia-container-cli info"):
            found = DRIVER_VERSION.search(self.text(name))
            if found:
                return found.group(1)
        return None

    @property
    def driver_ok(self) -> bool:
        """True when the probe proves the driver works: a GPU listed or `info` succeeded."""
        smi_ok = self.exit_code("nvidia-smi -L") == 0 and bool(self.gpu_models)
        cli_ok = self.exit_code("nvidia-container-cli info") == 0
        return smi_ok or cli_ok

    def summary(self) -> str:
        models = self.gpu_models
        model = ", ".join(sorted(set(models))) or "no GPU listed"
        return f"{len(models)} x {model}, driver {self.driver_version or 'unknown'}"


def parse_probe(text: str) -> ProbeResult:
    """Split node_probe.sh output into sections with their exit codes."""
    result = ProbeResult()
    current: str | None = None
    body: list[str] = []
    for line in text.splitlines():
        start = SECTION.match(line)
        end = SECTION_EXIT.match(line)
        if start:
            current, body = start.group(1), []
        elif end and current is not None:
            result.sections[current] = (int(end.group(2)), "\n".join(body))
            current = None
        elif current is not None:
            body.append(line)
    if current is not None:  # cut off (timeout): keep what came, exit unknown
        result.sections[current] = (None, "\n".join(body))
    return result


def probe_script() -> str:
    return PROBE_SCRIPT.read_text()
