"""The driver and CUDA versions a node advertises through GPU feature discovery's labels,
against what ``nvidia-smi -q`` prints inside a GPU container there (AI Conformance
``driver_runtime_management`` on the device-plugin path; issue 19, item 4).

GFD v0.17/v0.20 (NVIDIA/k8s-device-plugin internal/lm/nvml.go, newVersionLabeler) set
``nvidia.com/cuda.driver-version.full`` to NVML's driver version ("580.159.04") and
``nvidia.com/cuda.runtime-version.full`` to the CUDA version the driver supports ("13.0", which
nvidia-smi prints as "CUDA Version"), beside their .major/.minor parts and the deprecated
``cuda.driver.*``/``cuda.runtime.*`` labels; a labeller that sets only the parts is read by them.
What a node advertises is compared; a version it does not advertise is not (the simulated
cluster's nodes carry GFD's driver label only, SIMULATED, from their node profile).
"""

from __future__ import annotations

from collections.abc import Mapping

from gpuconform.dra import same_version
from gpuconform.smi_query import SmiReport

DRIVER = "nvidia.com/cuda.driver-version"
CUDA = "nvidia.com/cuda.runtime-version"
_PARTS = {
    DRIVER: (("major", "minor", "revision"), "nvidia.com/cuda.driver", ("major", "minor", "rev")),
    CUDA: (("major", "minor"), "nvidia.com/cuda.runtime", ("major", "minor")),
}


def advertises_versions(labels: Mapping[str, str]) -> bool:
    return any(advertised(labels, prefix) for prefix in (DRIVER, CUDA))


def advertised(labels: Mapping[str, str], prefix: str) -> tuple[str, str] | None:
    """(label, version) for ``prefix`` (DRIVER or CUDA): the .full label, else the parts (new
    names, then the deprecated ones); None when the node carries none of them."""
    if f"{prefix}.full" in labels:
        return f"{prefix}.full", labels[f"{prefix}.full"]
    parts, old_prefix, old_parts = _PARTS[prefix]
    for base, names in ((prefix, parts), (old_prefix, old_parts)):
        found = [labels.get(f"{base}.{n}", "") for n in names]
        if found[0]:
            return f"{base}.{{{','.join(names)}}}", ".".join(p for p in found if p)
    return None


def mismatches(labels: Mapping[str, str], report: SmiReport) -> list[str]:
    """Each advertised version that is not the one nvidia-smi reports, as a sentence naming
    the label and both values."""
    found = []
    for prefix, smi, what in (
        (DRIVER, report.driver_version, "Driver Version"),
        (CUDA, report.cuda_version, "CUDA Version"),
    ):
        label = advertised(labels, prefix)
        if label is not None and not same_version(label[1], smi):
            found.append(f"{label[0]}={label[1]!r} but nvidia-smi -q says {what} {smi!r}")
    return found
