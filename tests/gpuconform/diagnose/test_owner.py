"""An image that could not be pulled is filed under the layer that owns the image (owner.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpuconform.diagnose.explain import Evidence, explain

# The kubelet's events for a pull of a tag that does not exist (tests/data/outputs).
PULL = (Path(__file__).resolve().parents[2] / "data" / "outputs" / "image-pull.txt").read_text()
PLUGIN_IMAGE = "nvcr.io/nvidia/k8s-device-plugin:v0.99.0"


def _layer(subject: str, text: str) -> str:
    findings = explain([Evidence("describe", subject, text, "gpu-node-0")]).findings
    (pull,) = [f for f in findings if f.signature.id == "image-pull-failed"]
    return pull.layer


@pytest.mark.parametrize(
    "image, subject, layer",
    [
        (PLUGIN_IMAGE, "kube-system/nvidia-device-plugin-daemonset-x", "device-plugin"),
        # The suite's GPU test pod's image (the missing-image profile's).
        ("nvcr.io/nvidia/cuda:12.8.0-base-ubuntu-24.04", "gpuconform-w/gpu-workload", "workload"),
        # A user's own image in a pod that names no GPU component: the workload's.
        ("registry.example/team/train:1", "default/train", "workload"),
        # A mirrored plugin image whose name says nothing: the pod says whose it is.
        (
            "registry.example/mirror/dp:1",
            "kube-system/nvidia-device-plugin-daemonset-x",
            "device-plugin",
        ),
    ],
)
def test_the_image_decides_the_layer(image: str, subject: str, layer: str):
    assert PLUGIN_IMAGE in PULL
    assert _layer(subject, PULL.replace(PLUGIN_IMAGE, image)) == layer


def test_a_bare_err_image_pull_keeps_the_signatures_layer():
    assert _layer("default/x", "  Warning  Failed  8s  kubelet  Error: ErrImagePull\n") == (
        "device-plugin"
    )


# The sim-missing-image run on the sim's real nodes (tests/data/real-node-probe/README.md):
# the suite's failure message (containerd's words) and the workload namespace's events.
MISSING = Path(__file__).resolve().parents[2] / "data" / "real-node-probe" / "missing-image"


@pytest.mark.parametrize(
    "source, subject, name",
    [
        ("failure", "failed check", "failure-message.txt"),
        ("events", "gpuconform-20261201-052705-663e63", "workload-events.txt"),
    ],
)
def test_the_workloads_missing_image_on_a_real_node_is_a_workload_fault(source, subject, name):
    text = (MISSING / name).read_text()
    assert "nvcr.io/nvidia/cuda:12.8.0-base-ubuntu-24.04" in text
    findings = explain([Evidence(source, subject, text)]).findings
    pulls = [f for f in findings if f.signature.id == "image-pull-failed"]
    assert [f.layer for f in pulls] == ["workload"]
