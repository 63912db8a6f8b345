"""Node profiles of the simulated cluster and the toolchain's go.mod rewriting."""

from __future__ import annotations

import pytest

from gpuconform.sim.nodes import (
    ANNOTATION_FAULT,
    NodeProfileError,
    load_node_profile,
    node_manifest,
    parse_node_profile,
)
from gpuconform.sim.toolchain import sibling_replaces

GPU = {"product": "P", "name": "N", "memory_mib": 1, "driver_version": "1.2", "cuda_version": "1"}


def test_default_profile_has_three_gpu_nodes_and_one_cpu_node():
    nodes = load_node_profile("healthy")
    assert [n.gpus for n in nodes] == [8, 8, 8, 0]
    gpu = node_manifest(nodes[0], "v1.34.4")
    labels = gpu["metadata"]["labels"]
    assert labels["nvidia.com/gpu.present"] == "true"
    assert labels["feature.node.kubernetes.io/pci-10de.present"] == "true"
    assert labels["nvidia.com/gpu.product"] == "NVIDIA-H200"
    assert gpu["spec"]["taints"][0]["key"] == "nvidia.com/gpu"
    assert "nvidia.com/gpu" not in gpu["status"]["allocatable"]  # advertised by the plugin only
    cpu_labels = node_manifest(nodes[3], "v1.34.4")["metadata"]["labels"]
    assert "nvidia.com/gpu.present" not in cpu_labels


def test_unlabeled_fault_drops_gpu_labels_but_keeps_gpus():
    node = load_node_profile("real-unlabeled")[0]
    manifest = node_manifest(node, "v1.34.4")
    assert "nvidia.com/gpu.present" not in manifest["metadata"]["labels"]
    assert manifest["metadata"]["annotations"][ANNOTATION_FAULT] == "unlabeled"
    assert node.gpus == 8


def test_a_mixed_fleet_gives_each_node_group_its_own_gpu_model(tmp_path):
    from gpuconform.sim import nvml

    nodes = {n.name: n for n in load_node_profile("mixed-fleet")}
    h100, l40s = nodes["gpu-h100-0"], nodes["gpu-l40s-shared-0"]
    assert (h100.gpus, h100.gpu.name) == (8, "NVIDIA H100 80GB HBM3")
    # The group's `gpu` fields over the profile's: its own model, the profile's driver.
    assert (l40s.gpus, l40s.gpu.name, l40s.gpu.driver_version) == (4, "NVIDIA L40S", "580.159.04")
    labels = node_manifest(l40s, "v1.34.4")["metadata"]["labels"]
    assert labels["nvidia.com/gpu.product"] == "NVIDIA-L40S"
    assert (
        labels["nvidia.com/gpu.count"] == "4" and labels["nvidia.com/gpu.family"] == "ada-lovelace"
    )
    assert labels["nvidia.com/device-plugin.config"] == "time-sliced"
    assert node_manifest(h100, "v1.34.4")["metadata"]["labels"]["nvidia.com/gpu.family"] == "hopper"
    # Each model's mock NVML profile: NVIDIA's L40S config for the L40S nodes.
    assert nvml.model_key(l40s.gpu.name) == "l40s" and nvml.model_key(h100.gpu.name) == "h100"


def test_a_node_groups_gpu_fields_are_checked():
    group = {"name": "g", "count": 1, "gpus": 1, "gpu": {"nmae": "NVIDIA L40S"}}
    with pytest.raises(NodeProfileError, match=r"node_groups\[0\]: gpu: unknown field\(s\) nmae"):
        parse_node_profile({"gpu": GPU, "node_groups": [group]})


def test_unknown_fault_is_named():
    data = {"gpu": GPU, "node_groups": [{"name": "g", "count": 1, "gpus": 1, "fault": "melted"}]}
    with pytest.raises(
        NodeProfileError, match=r"unknown fault 'melted'; known faults: broken-driver"
    ):
        parse_node_profile(data)


@pytest.mark.parametrize(
    "groups, message",
    [
        ([{"name": "g", "count": 0, "gpus": 1}], "count must be >= 1"),
        ([{"name": "g", "gpus": 1}], "missing field 'count'"),
        ([{"name": "g", "count": 1, "gpus": "8"}], "must be int"),
        ([{"name": "g", "count": 1, "gpus": 1}, {"name": "g", "count": 1, "gpus": 0}], "duplicate"),
        ([], "node_groups is empty"),
        ([{"name": "g", "count": 1, "gpus": 1, "runtime": "docker"}], "runtime must be one of"),
        (
            [{"name": "g", "count": 1, "gpus": 1, "accept_envvar_unprivileged": "no"}],
            "accept_envvar_unprivileged must be true or false",
        ),
    ],
)
def test_invalid_node_profiles(groups, message):
    with pytest.raises(NodeProfileError, match=message):
        parse_node_profile({"gpu": GPU, "node_groups": groups})


def test_real_nodes_are_opt_in_per_node_group():
    nodes = load_node_profile("real")
    assert [(n.name, n.is_real, n.accept_envvar_unprivileged) for n in nodes] == [
        ("real-gpu-0", True, True),
        ("real-strict-0", True, False),
    ]
    assert not any(n.is_real for n in load_node_profile("healthy"))


def test_unknown_node_profile_lists_known():
    with pytest.raises(NodeProfileError, match=r"known: .*healthy"):
        load_node_profile("nope")


def test_sibling_replaces_follow_go_major_version_rules():
    kubernetes = "replace (\n\tk8s.io/api => ./staging/src/k8s.io/api\n)\n"
    etcd = (
        "replace (\n\tgo.etcd.io/etcd/api/v3 => ../api\n)\n"
        "replace go.etcd.io/etcd => ./FORBIDDEN_DEPENDENCY\n"
        "replace example.com/remote => example.com/fork v1.0.0\n"
    )
    assert sibling_replaces(kubernetes, "v0.34.4") == {"k8s.io/api": "v0.34.4"}
    # etcd's guard against its root module must not become a v3 replace of a v0/v1 path.
    assert sibling_replaces(etcd, "v3.6.16") == {"go.etcd.io/etcd/api/v3": "v3.6.16"}


def test_a_failed_build_names_the_binary_and_why(tmp_path, monkeypatch):
    from gpuconform.sim.toolchain import Component, ToolchainError, build_component

    monkeypatch.setenv("GPUCONFORM_CACHE", str(tmp_path))
    monkeypatch.setenv("GOFLAGS", "-mod=mod")
    broken = Component(
        name="nothing",
        module="gpuconform.invalid/nothing",
        version="v0.0.1",
        packages={"nothing": "gpuconform.invalid/nothing/cmd/nothing"},
        ldflags={},
    )
    with pytest.raises(
        ToolchainError, match=r"downloading nothing v0.0.1 .* failed: .*gpuconform\.invalid"
    ):
        build_component(broken, tmp_path / "bin", log=lambda line: None)
