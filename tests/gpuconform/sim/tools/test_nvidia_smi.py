"""The SIMULATED nvidia-smi's formatting, against raw output captured on a real H200 host."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pynvml
import pytest

from gpuconform.sim.tools import nvidia_smi
from gpuconform.sim.tools.gpus import ALL, Gpu, GpuSystem, NvmlUnavailable, visible_devices
from gpuconform.sim.tools.nvidia_smi import parse_query, render_list, render_query, render_table
from gpuconform.sim.tools.nvidia_smi_q import render_query_report

CAPTURE = Path(__file__).resolve().parents[3] / "data" / "h200-host"
# The values the real H200's NVML reported when tests/data/h200-host/ was captured.
H200 = Gpu(
    index=0,
    name="NVIDIA H200",
    uuid="GPU-e0350440-c9a0-c402-ea1b-a16e28383320",
    bus_id="00000000:00:06.0",
    serial="1654024075365",
    persistence_mode=True,
    display_active=False,
    ecc_enabled=True,
    ecc_uncorrected=0,
    fan_percent=None,
    temperature_c=34,
    pstate=0,
    power_draw_mw=122590,
    power_limit_mw=700000,
    memory_total_mib=143771,
    memory_used_mib=0,
    memory_free_mib=143155,
    utilization_gpu=0,
    compute_mode=0,
    mig_enabled=False,
    compute_cap=(9, 0),
)
SYSTEM = GpuSystem(driver_version="580.159.04", cuda_version="13.0", gpus=[H200])


def test_table_matches_the_real_capture_line_for_line():
    capture = (CAPTURE / "nvidia-smi.txt").read_text()
    # The timestamp is the capture's; with no processes the Processes box matches too.
    timestamp = capture.splitlines()[0].rstrip()
    assert render_table(SYSTEM, timestamp).splitlines() == capture.splitlines()


def test_table_keeps_every_line_91_wide_with_many_gpus_and_missing_values():
    second = replace(
        H200, index=1, bus_id="00000000:1A:00.0", temperature_c=None, power_draw_mw=None
    )
    lines = render_table(replace(SYSTEM, gpus=[H200, second])).splitlines()
    assert {len(line) for line in lines[1:] if line} == {91}
    assert "| N/A   N/A    P0             N/A /  700W |       0MiB / 143771MiB |" in "\n".join(
        lines
    )


def test_list_matches_the_real_capture():
    assert render_list(SYSTEM) == (CAPTURE / "nvidia-smi-L.txt").read_text()


def test_q_report_prints_real_lines_in_the_real_order():
    capture = (CAPTURE / "nvidia-smi-q.txt").read_text().splitlines()
    # nvidia-smi-q.txt was captured apart from nvidia-smi.txt: its free memory read 143156 MiB.
    system = replace(SYSTEM, gpus=[replace(H200, memory_free_mib=143156)])
    timestamp = "Sun Nov 29 13:27:46 2026"
    ours = render_query_report(system, timestamp).splitlines()
    assert ours[:9] == capture[:9]  # the NVSMI LOG header, Attached GPUs, the GPU's bus id
    positions = [capture.index(line) for line in ours if line]  # ValueError: not a real line
    assert positions == sorted(positions)
    assert len(positions) >= 15


def test_q_is_a_mode_of_the_tool(capsys, monkeypatch):
    monkeypatch.setattr(nvidia_smi, "read_system", lambda: SYSTEM)
    assert nvidia_smi.main(["-q"]) == 0
    out = capsys.readouterr().out
    assert "==============NVSMI LOG==============" in out and H200.uuid in out
    assert "Invalid combination" not in out


def test_query_csv_with_header_units_and_options():
    fields = parse_query("name,uuid,memory.total,driver_version,index,pci.bus_id")
    assert render_query(SYSTEM, fields) == (
        "name, uuid, memory.total [MiB], driver_version, index, pci.bus_id\n"
        f"NVIDIA H200, {H200.uuid}, 143771 MiB, 580.159.04, 0, 00000000:00:06.0\n"
    )
    assert render_query(SYSTEM, ["memory.total"], header=False, units=False) == "143771\n"
    assert render_query(SYSTEM, parse_query("gpu_name,count")) == "name, count\nNVIDIA H200, 1\n"


def test_unknown_query_field_gives_the_real_message():
    with pytest.raises(ValueError, match=r'^Field "fan.sped" is not a valid field to query\.$'):
        parse_query("name,fan.sped")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("void", None),
        ("none", []),
        ("all", [ALL]),
        ("0,GPU-1,all", [ALL]),
        (" GPU-a , 3 ", ["GPU-a", "3"]),
    ],
)
def test_visible_devices_follow_the_container_runtime(value, expected):
    assert visible_devices(value) == expected


@pytest.mark.parametrize(
    ("code", "message", "status"),
    [
        (pynvml.NVML_ERROR_LIBRARY_NOT_FOUND, nvidia_smi.NO_LIBRARY, 12),
        (pynvml.NVML_ERROR_DRIVER_NOT_LOADED, nvidia_smi.NO_DRIVER, 9),
    ],
)
def test_nvml_failures_give_the_real_message_and_exit_code(
    monkeypatch, capsys, code, message, status
):
    def unavailable() -> GpuSystem:
        raise NvmlUnavailable(code)

    monkeypatch.setattr(nvidia_smi, "read_system", unavailable)
    assert nvidia_smi.main([]) == status
    assert capsys.readouterr().out == message + "\n"


def test_bad_arguments_exit_2_before_touching_nvml(capsys):
    assert nvidia_smi.main(["--query-gpu=name"]) == 2  # no --format
    assert nvidia_smi.main(["--bogus"]) == 2
    assert capsys.readouterr().out == (nvidia_smi.BAD_ARGS + "\n") * 2
