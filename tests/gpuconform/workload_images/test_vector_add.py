"""The vectorAdd workload image's program (gpuconform/workload_images/vectoradd/vector_add.c).

Built here with the machine's C compiler. Without a usable CUDA driver it must fail as NVIDIA's
sample fails there, never print success; on a real H200 it passed (tests/data/h200-host/vectoradd).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
SOURCE = REPO / "gpuconform" / "workload_images" / "vectoradd" / "vector_add.c"
CAPTURE = REPO / "tests" / "data" / "h200-host" / "vectoradd" / "h200-vectoradd-2026-11-30.txt"
# What NVIDIA's cuda-samples vectorAdd prints for its 50,000 elements (its printf strings).
SAMPLE_SUCCESS = [
    "[Vector addition of 50000 elements]",
    "Copy input data from the host memory to the CUDA device",
    "CUDA kernel launch with 196 blocks of 256 threads",
    "Copy output data from the CUDA device to the host memory",
    "Test PASSED",
    "Done",
]
NO_DRIVER = (
    "Failed to allocate device vector A (error code CUDA driver version is insufficient for "
    "CUDA runtime version)!"
)


@pytest.fixture(scope="module")
def vector_add(tmp_path_factory) -> Path:
    if shutil.which("gcc") is None:
        pytest.fail("gcc is needed to build the vectorAdd workload program")
    out = tmp_path_factory.mktemp("vectoradd") / "vector_add"
    subprocess.run(
        ["gcc", "-O2", "-Wall", "-Werror", "-o", str(out), str(SOURCE), "-ldl", "-lm"], check=True
    )
    return out


def run(binary: Path, library_dir: Path) -> subprocess.CompletedProcess[str]:
    # No libcuda.so.1 in the linker cache of this machine; LD_LIBRARY_PATH adds one where asked.
    return subprocess.run(
        [str(binary)],
        env={"LD_LIBRARY_PATH": str(library_dir), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_without_a_cuda_driver_it_fails_as_the_sample_does(vector_add, tmp_path):
    result = run(vector_add, tmp_path)
    assert result.returncode == 1
    assert NO_DRIVER in result.stderr
    assert "Test PASSED" not in result.stdout


def test_an_empty_libcuda_placeholder_is_no_driver(vector_add, tmp_path):
    # A driver root made for `nvidia-ctk cdi generate` holds an empty libcuda.so.<version>
    # (the tool refuses to generate without one); a container that gets it has no CUDA driver.
    (tmp_path / "libcuda.so.1").write_bytes(b"")
    result = run(vector_add, tmp_path)
    assert result.returncode == 1
    assert "libcuda.so.1" in result.stderr and NO_DRIVER in result.stderr


def test_on_the_real_h200_it_printed_what_the_sample_prints():
    lines = CAPTURE.read_text().splitlines()
    start = lines.index("--- vector_add") + 1
    assert lines[start : start + len(SAMPLE_SUCCESS)] == SAMPLE_SUCCESS
    assert "\tExit status: 0" in lines
    assert any(line.startswith("GPU 0: NVIDIA H200 (UUID: GPU-") for line in lines)
