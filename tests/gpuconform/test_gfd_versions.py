"""GFD's version labels against nvidia-smi -q (pure): the labels as GFD v0.20 writes them
(internal/lm/nvml.go) and a real H200's nvidia-smi -q."""

from __future__ import annotations

from gpuconform.gfd_versions import advertised, advertises_versions, mismatches
from gpuconform.smi_query import parse_query_report
from tests.smi_format import REAL_Q

REAL = parse_query_report(REAL_Q.read_text())  # driver 580.159.04, CUDA 13.0
GFD_V020 = {
    "nvidia.com/gfd.timestamp": "1764576000",
    "nvidia.com/cuda.driver.major": "580",
    "nvidia.com/cuda.driver.minor": "159",
    "nvidia.com/cuda.driver.rev": "04",
    "nvidia.com/cuda.runtime.major": "13",
    "nvidia.com/cuda.runtime.minor": "0",
    "nvidia.com/cuda.driver-version.major": "580",
    "nvidia.com/cuda.driver-version.minor": "159",
    "nvidia.com/cuda.driver-version.revision": "04",
    "nvidia.com/cuda.driver-version.full": "580.159.04",
    "nvidia.com/cuda.runtime-version.major": "13",
    "nvidia.com/cuda.runtime-version.minor": "0",
    "nvidia.com/cuda.runtime-version.full": "13.0",
}


def test_gfds_labels_agree_with_a_real_nvidia_smi():
    assert advertises_versions(GFD_V020)
    assert mismatches(GFD_V020, REAL) == []


def test_only_the_parts_are_read_as_a_version():
    parts = {k: v for k, v in GFD_V020.items() if not k.endswith(".full")}
    assert advertised(parts, "nvidia.com/cuda.driver-version") == (
        "nvidia.com/cuda.driver-version.{major,minor,revision}",
        "580.159.04",
    )
    old = {k: v for k, v in parts.items() if "-version" not in k}
    assert advertised(old, "nvidia.com/cuda.runtime-version") == (
        "nvidia.com/cuda.runtime.{major,minor}",
        "13.0",
    )
    assert mismatches(old, REAL) == []


def test_a_stale_label_is_named_and_an_absent_one_is_not_compared():
    stale = {"nvidia.com/cuda.driver-version.full": "550.163.01"}
    assert mismatches(stale, REAL) == [
        "nvidia.com/cuda.driver-version.full='550.163.01' but nvidia-smi -q says Driver Version "
        "'580.159.04'"
    ]
    cuda = {"nvidia.com/cuda.runtime-version.full": "12.4"}
    assert mismatches(cuda, REAL) == [
        "nvidia.com/cuda.runtime-version.full='12.4' but nvidia-smi -q says CUDA Version '13.0'"
    ]
    assert mismatches({"nvidia.com/cuda.driver-version.full": "580.159.4"}, REAL) == []


def test_a_node_without_version_labels_advertises_none():
    assert not advertises_versions(
        {"nvidia.com/gpu.present": "true", "nvidia.com/gfd.timestamp": "1"}
    )
