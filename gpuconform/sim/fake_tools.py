"""SIMULATED GPU tools for pods on simulated nodes: nvidia-smi, nvidia-container-cli, ldconfig.

There is no GPU here. These stand-ins answer in the real tools' output formats (modelled on
raw output captured on a real H200 host, kept in tests/data/h200-host/) and stay consistent
with the node profile and with the GPUs the simulated device manager gave the pod. They read
everything from environment variables that the sim agent sets for each pod:

GPUCONFORM_SIM_NODE, GPUCONFORM_SIM_GPU_NAME, GPUCONFORM_SIM_GPU_MEMORY_MIB,
GPUCONFORM_SIM_DRIVER, GPUCONFORM_SIM_CUDA, GPUCONFORM_SIM_VISIBLE (comma-separated GPU
indices the container sees, empty for none), GPUCONFORM_SIM_FAULT (a fault name or empty).
"""

from __future__ import annotations

import hashlib
import os
import sys
from dataclasses import dataclass
from datetime import UTC, datetime

from gpuconform.sim.faults import load_faults


@dataclass(frozen=True)
class SimGpuView:
    node: str
    gpu_name: str
    memory_mib: int
    driver: str
    cuda: str
    visible: list[int]
    fault: str

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> SimGpuView:
        env = os.environ if env is None else env
        visible = [int(i) for i in env.get("GPUCONFORM_SIM_VISIBLE", "").split(",") if i.strip()]
        return cls(
            node=env.get("GPUCONFORM_SIM_NODE", "unknown"),
            gpu_name=env.get("GPUCONFORM_SIM_GPU_NAME", "NVIDIA H200"),
            memory_mib=int(env.get("GPUCONFORM_SIM_GPU_MEMORY_MIB", "143771")),
            driver=env.get("GPUCONFORM_SIM_DRIVER", "580.159.04"),
            cuda=env.get("GPUCONFORM_SIM_CUDA", "13.0"),
            visible=visible,
            fault=env.get("GPUCONFORM_SIM_FAULT", ""),
        )

    def uuid(self, index: int) -> str:
        digest = hashlib.sha256(f"{self.node}/{index}".encode()).hexdigest()
        return f"GPU-{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"

    def bus_id(self, index: int) -> str:
        return f"00000000:{0x18 + index * 0x10:02X}:00.0"

    @property
    def driver_broken(self) -> bool:
        return bool(self.fault) and bool(load_faults()[self.fault].get("nvidia_smi_error"))


def nvidia_smi_list(view: SimGpuView) -> str:
    if not view.visible:
        return "No devices found.\n"
    return "".join(
        f"GPU {n}: {view.gpu_name} (UUID: {view.uuid(i)})\n" for n, i in enumerate(view.visible)
    )


def nvidia_smi_table(view: SimGpuView) -> str:
    now = datetime.now(UTC).strftime("%a %b %d %H:%M:%S %Y")
    bar = "+-----------------------------------------+------------------------+----------------------+"
    lines = [
        f"{now}       ",
        "+-----------------------------------------------------------------------------------------+",
        f"| NVIDIA-SMI {view.driver:<22} Driver Version: {view.driver:<14} CUDA Version: {view.cuda:<9}|",
        bar,
        "| GPU  Name                 Persistence-M | Bus-Id          Disp.A | Volatile Uncorr. ECC |",
        "| Fan  Temp   Perf          Pwr:Usage/Cap |           Memory-Usage | GPU-Util  Compute M. |",
        "|                                         |                        |               MIG M. |",
        "|=========================================+========================+======================|",
    ]
    for n, i in enumerate(view.visible):
        memory = f"0MiB / {view.memory_mib}MiB"
        lines += [
            f"| {n:>3}  {view.gpu_name:<26}On  |   {view.bus_id(i)} Off |                    0 |",
            f"| N/A   34C    P0            122W /  700W | {memory:>22} |      0%      Default |",
            "|                                         |                        |             Disabled |",
            bar,
        ]
    lines += ["", "No running processes found"]
    return "\n".join(lines) + "\n"


def nvidia_smi_query(view: SimGpuView) -> str:
    now = datetime.now(UTC).strftime("%a %b %d %H:%M:%S %Y")
    out = [
        "",
        "==============NVSMI LOG==============",
        "",
        f"{'Timestamp':<55}: {now}",
        f"{'Driver Version':<55}: {view.driver}",
        f"{'CUDA Version':<55}: {view.cuda}",
        "",
        f"{'Attached GPUs':<55}: {len(view.visible)}",
    ]
    for n, i in enumerate(view.visible):
        out += [
            f"GPU {view.bus_id(i)}",
            f"    {'Product Name':<51}: {view.gpu_name}",
            f"    {'Product Brand':<51}: NVIDIA",
            f"    {'Product Architecture':<51}: Hopper",
            f"    {'GPU UUID':<51}: {view.uuid(i)}",
            f"    {'Minor Number':<51}: {n}",
            "    FB Memory Usage",
            f"        {'Total':<47}: {view.memory_mib} MiB",
            f"        {'Used':<47}: 0 MiB",
            f"        {'Free':<47}: {view.memory_mib} MiB",
        ]
    return "\n".join(out) + "\n"


def container_cli_info(view: SimGpuView) -> str:
    """`nvidia-container-cli -k -d /dev/tty info` as it prints on a working node."""
    lines = [
        "",
        "-- WARNING, the following logs are for debugging purposes only --",
        "",
        "I1129 09:20:11.581202 41133 nvc.c:393] initializing library context (version=1.17.8, build=f202b80a9b9d0db00d9b1d73c0128c8962c55f4d)",
        "I1129 09:20:11.581259 41133 nvc.c:364] using root /",
        "I1129 09:20:11.581263 41133 nvc.c:365] using ldcache /etc/ld.so.cache",
        "I1129 09:20:11.581266 41133 nvc.c:366] using unprivileged user 65534:65534",
        "I1129 09:20:11.601920 41134 nvc.c:278] loading kernel module nvidia",
        "I1129 09:20:11.602016 41134 nvc.c:282] running mknod for /dev/nvidiactl",
        "I1129 09:20:11.652710 41133 nvc_info.c:798] requesting driver information with ''",
        f"I1129 09:20:11.654128 41133 nvc_info.c:176] selecting /usr/lib/x86_64-linux-gnu/libnvidia-ml.so.{view.driver}",
        f"I1129 09:20:11.654201 41133 nvc_info.c:176] selecting /usr/lib/x86_64-linux-gnu/libcuda.so.{view.driver}",
        "W1129 09:20:11.654310 41133 nvc_info.c:402] missing library libnvidia-nscq.so",
        "W1129 09:20:11.654318 41133 nvc_info.c:402] missing library libnvidia-fatbinaryloader.so",
        "W1129 09:20:11.654330 41133 nvc_info.c:406] missing compat32 library libnvidia-ml.so",
        "W1129 09:20:11.654336 41133 nvc_info.c:406] missing compat32 library libcuda.so",
        "W1129 09:20:11.655110 41133 nvc_info.c:467] missing ipc path /var/run/nvidia-persistenced/socket",
        "W1129 09:20:11.655128 41133 nvc_info.c:520] missing firmware path /lib/firmware/nvidia/"
        + view.driver
        + "/gsp.bin",
        "I1129 09:20:11.655140 41133 nvc_info.c:888] requesting device information with ''",
    ]
    for i in view.visible:
        lines.append(
            f"I1129 09:20:11.66{i}000 41133 nvc_info.c:779] listing device /dev/nvidia{i} ({view.uuid(i)} at {view.bus_id(i)})"
        )
    lines += [
        f"NVRM version:   {view.driver}",
        f"CUDA version:   {view.cuda}",
        "",
    ]
    for n, i in enumerate(view.visible):
        lines += [
            f"Device Index:   {n}",
            f"Device Minor:   {i}",
            f"Model:          {view.gpu_name}",
            "Brand:          Nvidia",
            f"GPU UUID:       {view.uuid(i)}",
            f"Bus Location:   {view.bus_id(i)}",
            "Architecture:   9.0",
            "",
        ]
    lines.append("I1129 09:20:11.702331 41133 nvc.c:452] shutting down library context")
    return "\n".join(lines) + "\n"


def ldconfig_cache(view: SimGpuView) -> str:
    header = "1284 libs found in cache `/etc/ld.so.cache'\n"
    if view.driver_broken:
        return header
    libs = ["libnvidia-ml.so.1", "libnvidia-container.so.1", "libcuda.so.1", "libcuda.so"]
    return header + "".join(
        f"\t{lib} (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/{lib}\n" for lib in libs
    )


def main(argv: list[str]) -> int:
    tool, args = os.path.basename(argv[0]), argv[1:]
    view = SimGpuView.from_env()
    fault = load_faults().get(view.fault, {}) if view.fault else {}
    if tool == "ldconfig":
        sys.stdout.write(ldconfig_cache(view))
        return 0
    if tool == "nvidia-container-cli":
        if fault.get("container_cli_error"):
            sys.stderr.write(fault["container_cli_error"] + "\n")
            return 1
        if "info" not in args:
            sys.stderr.write("Usage: nvidia-container-cli [OPTION...] info|list|configure\n")
            return 64
        sys.stdout.write(container_cli_info(view))
        return 0
    if tool == "nvidia-smi":
        if fault.get("nvidia_smi_error"):
            sys.stdout.write(fault["nvidia_smi_error"] + "\n")
            return 9
        if "-L" in args:
            sys.stdout.write(nvidia_smi_list(view))
            return 0 if view.visible else 6
        if "-q" in args:
            sys.stdout.write(nvidia_smi_query(view))
            return 0
        if not view.visible:
            sys.stdout.write("No devices were found\n")
            return 6
        sys.stdout.write(nvidia_smi_table(view))
        return 0
    sys.stderr.write(f"{tool}: not a simulated GPU tool\n")
    return 127


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
