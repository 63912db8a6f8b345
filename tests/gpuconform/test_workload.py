"""What a GPU pod printed, as the report shows it (gpuconform.workload.PodOutcome)."""

from __future__ import annotations

from gpuconform.workload import LISTING_CONTAINER, PodOutcome

LISTED = "GPU 0: NVIDIA H200 (UUID: GPU-3be337d6-2993-42cb-4f7f-00691580a557)\n"
VECTORADD = "[Vector addition of 50000 elements]\nTest PASSED\nDone\n"


def test_the_report_text_has_the_listing_then_the_workloads_output():
    outcome = PodOutcome("gpu-workload", "gpu-host-0", "Succeeded", 0, VECTORADD, LISTED, 0)
    text = outcome.report_text()
    assert text.index(LISTED) < text.index("Test PASSED")
    assert f"{LISTING_CONTAINER} (nvidia-smi -L), pod gpu-workload on gpu-host-0, exit 0" in text
    assert "workload, pod gpu-workload on gpu-host-0, Succeeded, exit 0:\n" + VECTORADD in text
    assert outcome.listed_uuids == ["GPU-3be337d6-2993-42cb-4f7f-00691580a557"]


def test_a_pod_without_listing_or_node_still_says_how_it_ended():
    outcome = PodOutcome("gpu-workload", None, "Failed", 1, "CUDA error\n")
    text = outcome.report_text()
    assert LISTING_CONTAINER not in text
    assert text == "workload, pod gpu-workload on no node, Failed, exit 1:\nCUDA error\n"
