"""Our simulated nvidia-smi, fed by the REAL NVML of an H200 host, prints what nvidia-smi prints.

The data is raw output from the lent H200 host (tests/data/h200-host/real-nvml/README.md):
the real nvidia-smi, then our tool reading the same host's real libnvidia-ml, then the real
nvidia-smi again. Only readings that change by the second may differ, and ours must lie
between the real readings taken before and after.
"""

from __future__ import annotations

import re
from pathlib import Path

from gpuconform.sim.tools.gpus import Gpu, GpuSystem
from gpuconform.sim.tools.nvidia_smi import parse_query, render_list, render_query, render_table

DATA = Path(__file__).resolve().parents[3] / "data" / "h200-host" / "real-nvml"
# `| N/A   41C    P0             81W /  700W |`: temperature and power draw move by the second.
LIVE = re.compile(r"(\d+)C(\s+P\d\s+)(\d+)W")


def read(name: str) -> list[str]:
    return (DATA / name).read_text().splitlines()


def live_readings(lines: list[str]) -> list[tuple[int, int]]:
    return [(int(m[1]), int(m[3])) for line in lines if (m := LIVE.search(line))]


# What the host's real NVML reported to our tool in that run (ours-*.txt), as our types hold it.
REAL_GPU = Gpu(
    index=0,
    name="NVIDIA H200",
    uuid="GPU-23428e6f-d24c-8571-1fa8-9c266707ef92",
    bus_id="00000000:00:06.0",
    persistence_mode=True,
    display_active=False,
    ecc_enabled=True,
    ecc_uncorrected=0,
    temperature_c=41,
    pstate=0,
    power_draw_mw=81_000,
    power_limit_mw=700_000,
    memory_total_mib=143771,
    memory_used_mib=0,
    utilization_gpu=0,
    compute_mode=0,
    mig_enabled=False,
)
REAL = GpuSystem(driver_version="580.159.04", cuda_version="13.0", gpus=[REAL_GPU])
QUERY = "index,name,uuid,memory.total,driver_version,pci.bus_id"


def test_listing_and_query_are_identical_to_the_real_tool():
    assert read("ours-nvidia-smi-L.txt") == read("real-nvidia-smi-L.txt")
    assert read("ours-query.txt") == read("real-query.txt")


def test_todays_renderer_still_prints_what_it_printed_on_the_real_host():
    """The captured runs above are history; this keeps the current code to them."""
    assert render_list(REAL).splitlines() == read("ours-nvidia-smi-L.txt")
    assert render_query(REAL, parse_query(QUERY)).splitlines() == read("ours-query.txt")
    ours = read("ours-nvidia-smi.txt")
    assert render_table(REAL, ours[0].rstrip()).splitlines() == ours


def test_default_table_matches_column_for_column():
    ours, before, after = (
        read(n)
        for n in ("ours-nvidia-smi.txt", "real-nvidia-smi-before.txt", "real-nvidia-smi-after.txt")
    )
    assert len(ours) == len(before) == len(after)
    for mine, real in zip(ours[1:], before[1:], strict=True):  # line 0 is the clock
        assert len(mine) == len(real), (mine, real)
        assert LIVE.sub("", mine) == LIVE.sub("", real), (mine, real)
    # The live readings are real ones: between what the real tool read before and after.
    ((temp, watts),) = live_readings(ours)
    ((temp_a, watts_a),) = live_readings(before)
    ((temp_b, watts_b),) = live_readings(after)
    assert min(temp_a, temp_b) - 1 <= temp <= max(temp_a, temp_b) + 1
    assert min(watts_a, watts_b) - 25 <= watts <= max(watts_a, watts_b) + 25
