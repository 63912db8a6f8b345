"""SIMULATED nvidia-container-cli and ldconfig for pods on simulated nodes.

No real nvidia-container-cli runs here (it needs a real driver's device nodes and kernel
module), so these stand-ins print the real tools' formats. Every fact they print comes from
the node's NVML, NVIDIA's mock library, read through nvidia-ml-py like nvidia-smi does
(gpuconform.sim.tools): driver and CUDA versions, models, UUIDs, bus IDs. `info` lists every
GPU of the node, as the real `info` does. A node whose NVML cannot be loaded gets
libnvidia-container's own error for that case. The format follows the real output captured on
an H200 host (tests/data/h200-host/).
"""

from __future__ import annotations

import os
import sys

from gpuconform.sim.tools.gpus import GpuSystem, NvmlUnavailable, read_system

# libnvidia-container's message when it cannot dlopen NVML (driver libraries absent).
NVML_MISSING = (
    "nvidia-container-cli: initialization error: load library failed: libnvidia-ml.so.1: "
    "cannot open shared object file: no such file or directory"
)


def node_gpus() -> GpuSystem | None:
    """Every GPU of the node (info lists the host's devices), or None without NVML."""
    try:
        return read_system(os.environ | {"NVIDIA_VISIBLE_DEVICES": "all"})
    except NvmlUnavailable:
        return None


def container_cli_info(system: GpuSystem, root: str = "/") -> str:
    """`nvidia-container-cli -k -d /dev/tty info` as it prints on a working node (on a
    terminal, the debug log, then the information)."""
    return container_cli_debug_log(system, root) + container_cli_info_only(system)


def container_cli_debug_log(system: GpuSystem, root: str = "/") -> str:
    """What `-d FILE` writes to FILE: the debug log, header first."""
    lines = [
        "",
        "-- WARNING, the following logs are for debugging purposes only --",
        "",
        "I1129 09:20:11.581202 41133 nvc.c:393] initializing library context (version=1.17.8, build=f202b80a9b9d0db00d9b1d73c0128c8962c55f4d)",
        f"I1129 09:20:11.581259 41133 nvc.c:364] using root {root}",
        "I1129 09:20:11.581263 41133 nvc.c:365] using ldcache /etc/ld.so.cache",
        "I1129 09:20:11.581266 41133 nvc.c:366] using unprivileged user 65534:65534",
        "I1129 09:20:11.601920 41134 nvc.c:278] loading kernel module nvidia",
        "I1129 09:20:11.602016 41134 nvc.c:282] running mknod for /dev/nvidiactl",
        "I1129 09:20:11.652710 41133 nvc_info.c:798] requesting driver information with ''",
        f"I1129 09:20:11.654128 41133 nvc_info.c:176] selecting /usr/lib/x86_64-linux-gnu/libnvidia-ml.so.{system.driver_version}",
        f"I1129 09:20:11.654201 41133 nvc_info.c:176] selecting /usr/lib/x86_64-linux-gnu/libcuda.so.{system.driver_version}",
        "W1129 09:20:11.654310 41133 nvc_info.c:402] missing library libnvidia-nscq.so",
        "W1129 09:20:11.654318 41133 nvc_info.c:402] missing library libnvidia-fatbinaryloader.so",
        "W1129 09:20:11.654330 41133 nvc_info.c:406] missing compat32 library libnvidia-ml.so",
        "W1129 09:20:11.654336 41133 nvc_info.c:406] missing compat32 library libcuda.so",
        "W1129 09:20:11.655110 41133 nvc_info.c:467] missing ipc path /var/run/nvidia-persistenced/socket",
        "W1129 09:20:11.655128 41133 nvc_info.c:520] missing firmware path /lib/firmware/nvidia/"
        + system.driver_version
        + "/gsp.bin",
        "I1129 09:20:11.655140 41133 nvc_info.c:888] requesting device information with ''",
    ]
    for gpu in system.gpus:
        lines.append(
            f"I1129 09:20:11.66{gpu.index}000 41133 nvc_info.c:779] listing device /dev/nvidia{gpu.index} ({gpu.uuid} at {gpu.bus_id})"
        )
    lines.append("I1129 09:20:11.702331 41133 nvc.c:452] shutting down library context")
    return "\n".join(lines) + "\n"


def container_cli_info_only(system: GpuSystem) -> str:
    """What `info` writes to stdout."""
    lines = [
        f"NVRM version:   {system.driver_version}",
        f"CUDA version:   {system.cuda_version}",
        "",
    ]
    for gpu in system.gpus:
        major, minor = gpu.compute_cap or (0, 0)
        lines += [
            f"Device Index:   {gpu.index}",
            f"Device Minor:   {gpu.index}",
            f"Model:          {gpu.name}",
            "Brand:          Nvidia",
            f"GPU UUID:       {gpu.uuid}",
            f"Bus Location:   {gpu.bus_id}",
            f"Architecture:   {major}.{minor}",
            "",
        ]
    return "\n".join(lines) + "\n"


def ldconfig_cache(system: GpuSystem | None) -> str:
    header = "1284 libs found in cache `/etc/ld.so.cache'\n"
    if system is None:
        return header
    libs = ["libnvidia-ml.so.1", "libnvidia-container.so.1", "libcuda.so.1", "libcuda.so"]
    return header + "".join(
        f"\t{lib} (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/{lib}\n" for lib in libs
    )


def option(args: list[str], short: str, long: str) -> str | None:
    """The value of `-x VALUE`, `--long VALUE` or `--long=VALUE`, else None."""
    for i, arg in enumerate(args):
        if arg in (short, long) and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(long + "="):
            return arg.split("=", 1)[1]
    return None


def main(argv: list[str]) -> int:
    tool, args = os.path.basename(argv[0]), argv[1:]
    system = node_gpus()
    if tool == "ldconfig":
        sys.stdout.write(ldconfig_cache(system))
        return 0
    if tool == "nvidia-container-cli":
        if system is None:
            sys.stderr.write(NVML_MISSING + "\n")
            return 1
        if "info" not in args:
            sys.stderr.write("Usage: nvidia-container-cli [OPTION...] info|list|configure\n")
            return 64
        debug, root = option(args, "-d", "--debug"), option(args, "-r", "--root") or "/"
        if debug:
            try:  # as the real tool: the log goes where -d says
                with open(debug, "a") as log:
                    log.write(container_cli_debug_log(system, root))
            except OSError:
                pass  # `-d /dev/tty` in a pod, which has no TTY: the log is lost
        sys.stdout.write(container_cli_info_only(system))
        return 0
    sys.stderr.write(f"{tool}: not a simulated GPU tool\n")
    return 127


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
