"""The OCI archive writer and the node images' definitions (no containerd needed)."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

from gpuconform.sim import node_images
from gpuconform.sim.oci import ImageSpec, write_archive


def _read(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def test_archive_names_the_image_by_its_upstream_reference_and_keeps_its_config(tmp_path):
    binary = tmp_path / "tool"
    binary.write_bytes(b"#!/bin/sh\necho hi\n")
    binary.chmod(0o755)
    spec = ImageSpec(
        ref="nvcr.io/nvidia/k8s-device-plugin:v0.20.0",
        files={"/usr/bin/tool": binary},
        symlinks={"/bin/sh": "/busybox/sh"},
        env={"NVIDIA_VISIBLE_DEVICES": "all"},
        entrypoint=["tool"],
        user="0:0",
    )
    digest = write_archive(spec, tmp_path / "image.tar")
    blobs = _read(tmp_path / "image.tar")
    index = json.loads(blobs["index.json"])
    (entry,) = index["manifests"]
    assert entry["digest"] == digest
    assert entry["annotations"]["io.containerd.image.name"] == spec.ref
    manifest = json.loads(blobs[f"blobs/sha256/{digest.split(':')[1]}"])
    config = json.loads(blobs[f"blobs/sha256/{manifest['config']['digest'].split(':')[1]}"])
    assert config["config"]["Entrypoint"] == ["tool"]
    assert config["config"]["User"] == "0:0"
    assert config["config"]["Env"] == ["NVIDIA_VISIBLE_DEVICES=all"]
    layer_digest = manifest["layers"][0]["digest"]
    assert config["rootfs"]["diff_ids"] == [layer_digest]
    layer_path = tmp_path / "layer.tar"
    layer_path.write_bytes(blobs[f"blobs/sha256/{layer_digest.split(':')[1]}"])
    with tarfile.open(layer_path) as layer:
        members = {m.name: m for m in layer.getmembers()}
    assert members["usr/bin/tool"].mode == 0o755
    assert members["bin/sh"].linkname == "/busybox/sh"
    assert members["usr"].isdir() and members["usr/bin"].isdir()


def test_same_inputs_give_the_same_digest(tmp_path):
    source = tmp_path / "f"
    source.write_text("x")
    spec = ImageSpec(ref="example.com/a:1", files={"/f": source})
    first = write_archive(spec, tmp_path / "1.tar")
    assert write_archive(spec, tmp_path / "2.tar") == first
    source.write_text("y")
    assert write_archive(spec, tmp_path / "3.tar") != first


def test_every_image_a_profile_or_chart_names_is_defined():
    images = node_images.load_images()
    for ref in (
        "registry.k8s.io/pause:3.10",
        "nvcr.io/nvidia/k8s-device-plugin:v0.20.0",
        "nvcr.io/nvidia/cuda:12.8.0-base-ubuntu24.04",
        "docker.io/library/ubuntu:24.04",
    ):
        assert ref in images
    assert images["nvcr.io/nvidia/k8s-device-plugin:v0.20.0"]["entrypoint"] == [
        "nvidia-device-plugin"
    ]
