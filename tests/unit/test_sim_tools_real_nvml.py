"""Our simulated nvidia-smi, fed by the REAL NVML of an H200 host, prints what nvidia-smi prints.

The data is raw output from the lent H200 host (tests/data/h200-host/real-nvml/README.md):
the real nvidia-smi, then our tool reading the same host's real libnvidia-ml, then the real
nvidia-smi again. Only readings that change by the second may differ, and ours must lie
between the real readings taken before and after.
"""

from __future__ import annotations

import re
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "data" / "h200-host" / "real-nvml"
# `| N/A   41C    P0             81W /  700W |`: temperature and power draw move by the second.
LIVE = re.compile(r"(\d+)C(\s+P\d\s+)(\d+)W")


def read(name: str) -> list[str]:
    return (DATA / name).read_text().splitlines()


def live_readings(lines: list[str]) -> list[tuple[int, int]]:
    return [(int(m[1]), int(m[3])) for line in lines if (m := LIVE.search(line))]


def test_listing_and_query_are_identical_to_the_real_tool():
    assert read("ours-nvidia-smi-L.txt") == read("real-nvidia-smi-L.txt")
    assert read("ours-query.txt") == read("real-query.txt")


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
