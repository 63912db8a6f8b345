"""Dump the error strings the real NVIDIA libraries print, for the explainer's catalogue.

Run on a host with the NVIDIA driver (the H200 device machine): asks libnvidia-ml's
nvmlErrorString and libcuda's cuGetErrorName/cuGetErrorString for every return code, and,
when a libcudart is given (the nvidia-cuda-runtime-cu12 wheel's), cudaGetErrorName/String.
Nothing here needs a GPU to be healthy: these are table look-ups in the libraries.

    python bench/dump_error_strings.py OUT.json [path/to/libcudart.so.12]
"""

from __future__ import annotations

import ctypes
import json
import sys


def nvml_strings() -> dict[int, str]:
    lib = ctypes.CDLL("libnvidia-ml.so.1")
    lib.nvmlErrorString.restype = ctypes.c_char_p
    return {code: lib.nvmlErrorString(code).decode() for code in [*range(0, 40), 999]}


def cuda_driver_strings() -> dict[int, tuple[str, str]]:
    lib = ctypes.CDLL("libcuda.so.1")
    out = {}
    for code in range(0, 1000):
        name, text = ctypes.c_char_p(), ctypes.c_char_p()
        if lib.cuGetErrorName(code, ctypes.byref(name)) == 0:
            lib.cuGetErrorString(code, ctypes.byref(text))
            out[code] = (name.value.decode(), text.value.decode())
    return out


def cuda_runtime_strings(path: str) -> dict[int, tuple[str, str]]:
    lib = ctypes.CDLL(path)
    lib.cudaGetErrorName.restype = ctypes.c_char_p
    lib.cudaGetErrorString.restype = ctypes.c_char_p
    out = {}
    for code in range(0, 1000):
        name = lib.cudaGetErrorName(code).decode()
        if name != "cudaErrorUnknown" or code == 999:
            out[code] = (name, lib.cudaGetErrorString(code).decode())
    return out


def main() -> None:
    result: dict[str, object] = {}
    for key, func in (("nvml", nvml_strings), ("cuda_driver", cuda_driver_strings)):
        try:
            result[key] = func()
        except OSError as err:
            result[key] = f"unavailable: {err}"
    if len(sys.argv) > 2:
        result["cuda_runtime"] = cuda_runtime_strings(sys.argv[2])
    with open(sys.argv[1], "w") as out:
        json.dump(result, out, indent=1)


if __name__ == "__main__":
    main()
