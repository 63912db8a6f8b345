"""``nvidia-smi -q`` read by gpuconform/smi_query.py, on real captures, and the SIMULATED
Python formatter held to the real layout."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from gpuconform.diagnose.probe import GPU_LIST_LINE, parse_probe
from gpuconform.sim.tools import nvidia_smi
from gpuconform.sim.tools.nvidia_smi_q import render_query_report
from gpuconform.smi_query import SmiGpu, parse_query_report
from tests.gpuconform.sim.tools.test_nvidia_smi import H200, SYSTEM
from tests.smi_format import REAL_Q, assert_real_layout, layout

DATA = Path(__file__).resolve().parents[1] / "data"


def test_a_real_h200_report_gives_versions_and_the_gpu():
    report = parse_query_report(REAL_Q.read_text())
    assert (report.driver_version, report.cuda_version) == ("580.159.04", "13.0")
    assert report.gpus == [
        SmiGpu(
            bus_id="00000000:00:06.0",
            name="NVIDIA H200",
            uuid="GPU-e0350440-c9a0-c402-ea1b-a16e28383320",
            minor=0,
        )
    ]


@pytest.mark.parametrize(
    "capture",
    [
        "gpu-host/2026-12-01-s2/node-probe.txt",
        "h200-host/node-probe-h200.txt",
        "h200-host/node-probe-h200-2026-11-30.txt",
    ],
)
def test_the_node_probes_q_section_names_the_gpu_its_l_section_lists(capture):
    probe = parse_probe((DATA / capture).read_text())
    listed = [
        m["uuid"] for m in map(GPU_LIST_LINE.match, probe.text("nvidia-smi -L").splitlines()) if m
    ]
    report = parse_query_report(probe.text("nvidia-smi -q"))
    assert [g.uuid for g in report.gpus] == listed and listed
    assert {g.name for g in report.gpus} == set(probe.gpu_models)
    assert report.driver_version == probe.driver_version == "580.159.04"


def test_rows_carry_the_headers_versions_per_gpu():
    second = replace(H200, index=1, bus_id="00000000:1A:00.0", uuid="GPU-2")
    report = parse_query_report(render_query_report(replace(SYSTEM, gpus=[H200, second])))
    assert report.rows() == [
        {"uuid": u, "name": "NVIDIA H200", "driver_version": "580.159.04", "cuda_version": "13.0"}
        for u in (H200.uuid, "GPU-2")
    ]
    assert [g.bus_id for g in report.gpus] == [H200.bus_id, "00000000:1A:00.0"]


def test_an_error_message_is_not_a_report():
    with pytest.raises(ValueError, match="not an nvidia-smi -q report"):
        parse_query_report(nvidia_smi.NO_LIBRARY)


def test_the_python_formatter_keeps_the_real_layout_for_several_gpus():
    second = replace(H200, index=1, bus_id="00000000:1A:00.0")
    text = render_query_report(replace(SYSTEM, gpus=[H200, second]))
    assert assert_real_layout(text) >= 30


def test_the_layout_check_refuses_an_unreal_or_reordered_line():
    real = REAL_Q.read_text().splitlines()
    uuid_line = next(line for line in real if "GPU UUID" in line)
    name_line = next(line for line in real if "Product Name" in line)
    with pytest.raises(AssertionError, match="out of its order"):
        assert_real_layout("\n".join([real[8], uuid_line, name_line]))
    with pytest.raises(AssertionError, match="not a line of the real report"):
        assert_real_layout("\n".join([real[8], "    Product Nme" + name_line[15:]]))
    assert layout(uuid_line) == "    GPU UUID".ljust(55) + ": "
