"""The gpu-host profiles and node profiles, the host-driver node's pieces, and prebuilt images
(gpuconform/gpuhost): everything of issue 20 that runs without a GPU."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gpuconform.gpuhost import host_driver, prebuilt
from gpuconform.profile import resolve_profile
from gpuconform.sim.nodes import NodeProfileError, load_node_profile, parse_node_profile

CLUSTERS = Path(__file__).resolve().parents[3] / "clusters.yaml"
VECTORADD = "nvcr.io/nvidia/k8s/cuda-sample:vectoradd-cuda12.5.0"
DATA = CLUSTERS.parent / "tests/data/gpu-host"


def test_the_gpu_host_profile_runs_the_cuda_workload_on_one_host_node():
    profile = resolve_profile("gpu-host", CLUSTERS)
    assert profile.simulated_nodes == "gpu-host"
    (pool,) = profile.pools
    assert (pool.count, pool.gpus_per_node) == (1, 1)
    assert profile.workload_image == VECTORADD
    assert profile.workload_expect == "Test PASSED"
    assert profile.chart.set == []  # NVIDIA's chart as published


@pytest.mark.parametrize(
    ("cluster", "nodes", "driver", "fault"),
    [
        ("gpu-host", "gpu-host", "host", None),
        ("gpu-host-broken", "gpu-host-broken", "host", "driver-hidden"),
        ("gpu-host-mock", "gpu-host-mock", "mock", None),
    ],
)
def test_each_variant_has_one_real_node(cluster, nodes, driver, fault):
    assert resolve_profile(cluster, CLUSTERS).simulated_nodes == nodes
    (node,) = load_node_profile(nodes)
    assert (node.runtime, node.driver, node.fault) == ("real", driver, fault)
    assert node.accept_envvar_unprivileged is True  # the toolkit's default
    assert node.labels["node.kubernetes.io/instance-type"] == "gpu-host"


def test_the_host_driver_needs_a_real_node():
    profile = {
        "gpu": {"product": "p", "name": "n", "memory_mib": 1, "driver_version": "1",
                "cuda_version": "1"},
        "node_groups": [{"name": "g", "count": 1, "gpus": 1, "driver": "host"}],
    }  # fmt: skip
    with pytest.raises(NodeProfileError, match="driver must be mock, or host on a real node"):
        parse_node_profile(profile)


def test_the_driver_root_is_the_hosts_unless_hidden(tmp_path):
    assert host_driver.driver_root(tmp_path, hidden=False) == Path("/")
    hidden = host_driver.driver_root(tmp_path, hidden=True)
    assert hidden.is_dir() and hidden != Path("/") and not any(hidden.iterdir())


def test_the_hosts_gpus_come_from_its_nvidia_smi(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    smi = bin_dir / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho '0, NVIDIA H200, GPU-1234, 580.159.04'\n")
    smi.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    node = tmp_path / "nodes" / "gpu-host-0"
    node.mkdir(parents=True)
    host_driver.record_host_gpus(node)
    assert host_driver.host_gpu_facts(tmp_path) == {
        "GPU 0 of gpu-host-0": "NVIDIA H200, GPU-1234, driver 580.159.04"
    }


def test_no_nvidia_smi_is_no_driver(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(host_driver.HostDriverError, match="no NVIDIA driver"):
        host_driver.record_host_gpus(tmp_path)


def test_prebuilt_images_replace_building_only_when_configured(tmp_path, monkeypatch):
    monkeypatch.delenv(prebuilt.ENV_VAR, raising=False)
    assert prebuilt.prebuilt_archives() is None
    archive = tmp_path / "a.oci.tar"
    archive.write_bytes(b"x")
    prebuilt.write_manifest(tmp_path, {VECTORADD: archive})
    assert json.loads((tmp_path / prebuilt.MANIFEST).read_text()) == {VECTORADD: "a.oci.tar"}
    monkeypatch.setenv(prebuilt.ENV_VAR, str(tmp_path))
    assert prebuilt.prebuilt_archives() == {VECTORADD: archive}
    with pytest.raises(prebuilt.PrebuiltImageError, match="lacks other:1"):
        prebuilt.prebuilt_archives([VECTORADD, "other:1"])
    archive.unlink()
    with pytest.raises(prebuilt.PrebuiltImageError, match=VECTORADD):
        prebuilt.prebuilt_archives()


def test_the_vectoradd_image_runs_vector_add_and_asks_for_no_gpu_itself():
    from gpuconform.sim.node_images import load_images

    image = load_images()[VECTORADD]
    assert image["files"] == {"/cuda-samples/vectorAdd": "vectoradd"}
    assert image["entrypoint"] == ["/cuda-samples/vectorAdd"]
    # Only the device plugin's allocation may give it a GPU.
    assert "NVIDIA_VISIBLE_DEVICES" not in image["env"]
    # Not a "legacy" CUDA image (CUDA_VERSION without NVIDIA_REQUIRE_CUDA), which gets every GPU.
    assert image["env"]["NVIDIA_REQUIRE_CUDA"].startswith("cuda>=")
    assert "/usr/local/nvidia/lib64" in image["env"]["LD_LIBRARY_PATH"].split(":")


def test_every_base_image_carries_the_glibc_the_real_driver_libraries_link():
    """libnvidia-ml and libcuda from a real driver need libm, libdl, libpthread and librt;
    an image with libc alone makes NVML report ERROR_LIBRARY_NOT_FOUND."""
    from gpuconform.sim.node_images import GLIBC_SIBLINGS, image_spec, load_images

    for ref, definition in load_images().items():
        if not definition.get("busybox"):
            continue
        spec = image_spec(ref, definition)
        names = {Path(dest).name for dest in spec.files}
        assert set(GLIBC_SIBLINGS) <= names, ref
        assert "libc.so.6" in names, ref


def test_the_nvml_the_hosts_loader_takes_is_found_in_its_ld_cache():
    # The lent H200's `ldconfig -p` (its node probe, tests/data/gpu-host/2026-12-01-s2): the
    # driver lives in /usr/local/nvidia/lib64, which NVIDIA's DRA driver does not search.
    probe = (DATA / "2026-12-01-s2" / "node-probe.txt").read_text()
    assert host_driver.nvml_path(probe) == "/usr/local/nvidia/lib64/libnvidia-ml.so.1"
    assert host_driver.nvml_path("\tlibcuda.so.1 (libc6,x86-64) => /lib/libcuda.so.1\n") is None


def test_the_dra_profile_on_the_host_takes_the_hosts_driver_in_the_operators_layout():
    profile = resolve_profile("gpu-host-dra", CLUSTERS)
    assert profile.allocation == "dra"
    assert "nvidiaDriverRoot=/run/nvidia/driver" in profile.dra.set
    nodes = load_node_profile(profile.simulated_nodes)
    assert [(n.driver, n.accept_envvar_unprivileged) for n in nodes] == [("host", False)]
