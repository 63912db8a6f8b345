"""SIMULATED CUDA ``vectorAdd`` sample: passes only where a GPU is visible through NVML.

No kernel runs. The sample's real output is printed when NVML initialises and at least one GPU
is visible; otherwise the sample's real failure, with the cudaGetErrorString text the CUDA
runtime gives in that situation, and exit status 1 (EXIT_FAILURE).
"""

from __future__ import annotations

import sys

from gpuconform.sim.tools.gpus import GpuLost, NvmlUnavailable, UnknownDevice, read_system

BANNER = "[Vector addition of 50000 elements]"
PASSED = """\
Copy input data from the host memory to the CUDA device
CUDA kernel launch with 196 blocks of 256 threads
Copy output data from the CUDA device to the host memory
Test PASSED
Done
"""
FAILED = "Failed to allocate device vector A (error code {})!"
# cudaErrorInsufficientDriver: no libcuda at all (the runtime injected no driver).
NO_DRIVER = "CUDA driver version is insufficient for CUDA runtime version"
# cudaErrorNoDevice: a driver, but no GPU visible to the process.
NO_DEVICE = "no CUDA-capable device is detected"


def main(args: list[str]) -> int:
    """Run the sample; print as it does, and return its exit status."""
    del args  # the sample takes none
    print(BANNER, flush=True)
    try:
        error = None if read_system().gpus else NO_DEVICE
    except NvmlUnavailable:
        error = NO_DRIVER
    except (UnknownDevice, GpuLost):
        error = NO_DEVICE
    if error:
        print(FAILED.format(error), file=sys.stderr)
        return 1
    sys.stdout.write(PASSED)
    return 0
