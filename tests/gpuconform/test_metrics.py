"""Reading dcgm-exporter's exposition (gpuconform/metrics.py) on real output from upstream
reports (tests/data/dcgm-exporter/README.md says which)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpuconform.metrics import (
    ExpositionError,
    MetricsEndpoint,
    MetricsSettingError,
    missing_series,
    parse_endpoint,
    parse_exposition,
    series_by_uuid,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "dcgm-exporter"
V100 = [
    "GPU-a6158b59-2c1e-1e63-0068-9178c4298abd",
    "GPU-8d5053b3-9280-7d1a-751b-4fd2fdd547c5",
    "GPU-a9079f15-493e-6c1c-c78c-73ec2b840cba",
    "GPU-bd94f0f5-8c2f-bc95-74ad-5f99fdc33d01",
]


def read(name: str):
    return parse_exposition((DATA / name).read_text())


def test_every_sample_is_read_with_its_labels_and_value():
    series = read("dcgm-exporter-250-v100.txt")
    assert len(series) == 7  # 2 power limits, 4 replay counters, 1 utilisation; comments skipped
    first = series[0]
    assert first.name == "DCGM_FI_DEV_POWER_MGMT_LIMIT" and first.value == 300.0
    assert first.labels["modelName"] == "Tesla V100-SXM2-32GB"
    assert first.labels["UUID"] == V100[2]
    assert list(series_by_uuid(series, "DCGM_FI_DEV_PCIE_REPLAY_COUNTER")) == V100


def test_gpus_without_a_required_series_are_named():
    # The excerpt has DCGM_FI_DEV_GPU_UTIL for GPU 0 only, and no DCGM_FI_DEV_FB_USED.
    problems = missing_series(read("dcgm-exporter-250-v100.txt"), V100)
    assert problems == [
        f"no DCGM_FI_DEV_GPU_UTIL series for {', '.join(V100[1:])}",
        "no DCGM_FI_DEV_FB_USED series at all",
    ]


def test_mig_instances_count_under_their_gpus_uuid():
    series = read("dcgm-exporter-317-a30-mig.txt")
    counts = series_by_uuid(series, "DCGM_FI_DEV_FB_USED")
    assert counts == {
        "GPU-265c9814-6156-355b-e589-ff2064894f16": 4,
        "GPU-2d20791a-b4a6-ba59-97f1-e95b99fe5b49": 2,
    }
    problems = missing_series(series, list(counts))
    assert problems == ["no DCGM_FI_DEV_GPU_UTIL series at all"]


def test_pod_attribution_labels_and_other_label_spellings_are_read():
    series = read("dcgm-exporter-736-mixed.txt")
    attributed = [s for s in series if "pod" in s.labels]
    assert [s.labels["pod"] for s in attributed] == ["triton-server-f7cb5d77-95xcf"]
    assert attributed[0].labels["GPU_I_PROFILE"] == "1g.6gb" and attributed[0].value == 2207
    assert series[0].labels["hostname"] == "dcgm-exporter-wwwjh"


def test_a_complete_exposition_has_nothing_missing():
    uuid = "GPU-fc60126e-514d-3522-2828-c5daa8e99d85"
    text = "\n".join(
        f'{metric}{{gpu="0",UUID="{uuid}",label="a \\"quoted\\" \\\\ value"}} 1 1700000000000'
        for metric in ("DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_FB_USED")
    )
    series = parse_exposition(text)
    assert series[0].labels["label"] == 'a "quoted" \\ value'
    assert missing_series(series, [uuid]) == []


@pytest.mark.parametrize(
    "text", ["<html>404 page not found</html>", 'DCGM_FI_DEV_GPU_UTIL{gpu="0" 1', "x{} y"]
)
def test_text_that_is_no_exposition_is_one_readable_error(text):
    with pytest.raises(ExpositionError, match=r"^line 1: "):
        parse_exposition(text)


def test_the_profile_key_is_checked():
    assert parse_endpoint("p", None) is None
    endpoint = parse_endpoint("p", {"namespace": "gpu-operator", "selector": "app=dcgm"})
    assert endpoint == MetricsEndpoint("gpu-operator", "app=dcgm", 9400, "/metrics")
    with pytest.raises(MetricsSettingError, match="needs namespace and selector"):
        parse_endpoint("p", {"namespace": "gpu-operator"})
    with pytest.raises(MetricsSettingError, match="port 0"):
        parse_endpoint("p", {"namespace": "n", "selector": "s", "port": 0})
