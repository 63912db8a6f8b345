"""What a container's GPU tools see: the visible GPUs, read from (mock) NVML by nvidia-ml-py."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

import pynvml

T = TypeVar("T")
ALL = "all"


class NvmlUnavailable(Exception):
    """NVML cannot be used; ``code`` is the NVML error (e.g. NVML_ERROR_LIBRARY_NOT_FOUND)."""

    def __init__(self, code: int) -> None:
        super().__init__(f"NVML error {code}")
        self.code = code


class UnknownDevice(Exception):
    """NVIDIA_VISIBLE_DEVICES names a GPU the node does not have."""


class GpuLost(Exception):
    """A visible GPU answers NVML with GPU_IS_LOST; the argument is its bus ID (None: unknown)."""


@dataclass(frozen=True)
class Gpu:
    """One visible GPU as NVML reports it; None where NVML does not support the value."""

    index: int  # the container's numbering: visible GPUs count from 0 in host order
    name: str
    uuid: str
    bus_id: str  # 00000000:BB:DD.F, as nvidia-smi prints it
    serial: str | None = None
    persistence_mode: bool | None = None
    display_active: bool | None = None
    ecc_enabled: bool | None = None
    ecc_uncorrected: int | None = None  # volatile uncorrected ECC errors
    fan_percent: int | None = None
    temperature_c: int | None = None
    pstate: int | None = None
    power_draw_mw: int | None = None
    power_limit_mw: int | None = None
    memory_total_mib: int | None = None
    memory_used_mib: int | None = None
    memory_free_mib: int | None = None
    utilization_gpu: int | None = None
    compute_mode: int | None = None
    mig_enabled: bool | None = None
    compute_cap: tuple[int, int] | None = None


@dataclass(frozen=True)
class GpuSystem:
    """The driver as a container sees it: versions and the visible GPUs."""

    driver_version: str
    cuda_version: str  # "13.0"
    gpus: list[Gpu]


def visible_devices(value: str | None) -> list[str] | None:
    """Parse NVIDIA_VISIBLE_DEVICES as nvidia-container-runtime documents it.

    Returns None when the runtime injects nothing (unset, empty or ``void``: like runc, no GPU
    and no driver libraries), [] for ``none`` (driver libraries, no GPU), [ALL] for ``all``,
    else the listed GPU UUIDs or indices.
    """
    value = (value or "").strip()
    if value in ("", "void"):
        return None
    if value == "none":
        return []
    selectors = [part.strip() for part in value.split(",") if part.strip()]
    return [ALL] if ALL in selectors else selectors


def _optional(call: Callable[[], T]) -> T | None:
    """An NVML value, None when not supported; GPU_IS_LOST propagates (nvidia-smi stops on it)."""
    try:
        return call()
    except pynvml.NVMLError_GpuIsLost:
        raise
    except pynvml.NVMLError:
        return None


def _handles(selectors: list[str]) -> list[object]:
    count = pynvml.nvmlDeviceGetCount()
    if selectors == [ALL]:
        return [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
    by_index = {}
    for selector in selectors:
        try:
            if selector.isdigit() and int(selector) < count:
                handle = pynvml.nvmlDeviceGetHandleByIndex(int(selector))
            elif selector.startswith("GPU-"):
                handle = pynvml.nvmlDeviceGetHandleByUUID(selector)
            else:
                raise UnknownDevice(selector)
        except pynvml.NVMLError_NotFound:
            raise UnknownDevice(selector) from None
        by_index[pynvml.nvmlDeviceGetIndex(handle)] = handle
    # The container's device nodes are enumerated in host order, whatever the list order.
    return [by_index[i] for i in sorted(by_index)]


def _read_gpu(index: int, handle: object) -> Gpu:
    nv = pynvml
    bus_id = nv.nvmlDeviceGetPciInfo_v3(handle).busId
    try:
        memory = _optional(lambda: nv.nvmlDeviceGetMemoryInfo(handle, nv.nvmlMemory_v2))
        ecc = _optional(lambda: nv.nvmlDeviceGetEccMode(handle))
        cap = _optional(lambda: nv.nvmlDeviceGetCudaComputeCapability(handle))
        mig = _optional(lambda: nv.nvmlDeviceGetMigMode(handle))
        return Gpu(
            index=index,
            name=nv.nvmlDeviceGetName(handle),
            uuid=nv.nvmlDeviceGetUUID(handle),
            bus_id=bus_id,
            serial=_optional(lambda: nv.nvmlDeviceGetSerial(handle)),
            persistence_mode=_optional(lambda: nv.nvmlDeviceGetPersistenceMode(handle) == 1),
            display_active=_optional(lambda: nv.nvmlDeviceGetDisplayActive(handle) == 1),
            ecc_enabled=None if ecc is None else ecc[0] == 1,
            ecc_uncorrected=_optional(
                lambda: nv.nvmlDeviceGetTotalEccErrors(
                    handle, nv.NVML_MEMORY_ERROR_TYPE_UNCORRECTED, nv.NVML_VOLATILE_ECC
                )
            ),
            fan_percent=_optional(lambda: nv.nvmlDeviceGetFanSpeed(handle)),
            temperature_c=_optional(
                lambda: nv.nvmlDeviceGetTemperature(handle, nv.NVML_TEMPERATURE_GPU)
            ),
            pstate=_optional(lambda: nv.nvmlDeviceGetPerformanceState(handle)),
            power_draw_mw=_optional(lambda: nv.nvmlDeviceGetPowerUsage(handle)),
            power_limit_mw=_optional(lambda: nv.nvmlDeviceGetEnforcedPowerLimit(handle)),
            memory_total_mib=None if memory is None else memory.total // (1 << 20),
            memory_used_mib=None if memory is None else memory.used // (1 << 20),
            memory_free_mib=None if memory is None else memory.free // (1 << 20),
            utilization_gpu=_optional(lambda: nv.nvmlDeviceGetUtilizationRates(handle).gpu),
            compute_mode=_optional(lambda: nv.nvmlDeviceGetComputeMode(handle)),
            mig_enabled=None if mig is None else mig[0] == 1,
            compute_cap=None if cap is None else (cap[0], cap[1]),
        )
    except pynvml.NVMLError_GpuIsLost:
        raise GpuLost(bus_id) from None


def read_system(env: Mapping[str, str] | None = None) -> GpuSystem:
    """The driver and the GPUs visible under ``env``'s NVIDIA_VISIBLE_DEVICES (default: ours).

    Raises NvmlUnavailable, UnknownDevice or GpuLost, which the tools turn into the real
    tools' messages.
    """
    env = os.environ if env is None else env
    selectors = visible_devices(env.get("NVIDIA_VISIBLE_DEVICES"))
    if selectors is None:  # the runtime mounted no driver library into the container
        raise NvmlUnavailable(pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as err:
        raise NvmlUnavailable(err.value) from None
    try:
        cuda = pynvml.nvmlSystemGetCudaDriverVersion()
        return GpuSystem(
            driver_version=pynvml.nvmlSystemGetDriverVersion(),
            cuda_version=f"{cuda // 1000}.{cuda % 1000 // 10}",
            gpus=[_read_gpu(i, h) for i, h in enumerate(_handles(selectors))],
        )
    except pynvml.NVMLError_GpuIsLost:  # lost before its handle (and so its bus ID) was found
        raise GpuLost(None) from None
    finally:
        pynvml.nvmlShutdown()
