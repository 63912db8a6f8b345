"""The real nodes' toolchain file: pinned apart from the control plane, built with upstream tags."""

from __future__ import annotations

import pytest

from gpuconform.sim import toolchain


def test_node_components_are_cached_apart_from_the_control_plane():
    assert toolchain.node_bin_dir() != toolchain.bin_dir()
    names = toolchain.binary_names(toolchain.NODE_TOOLCHAIN_FILE)
    for name in (
        "kubelet",
        "kube-proxy",
        "containerd",
        "containerd-shim-runc-v2",
        "ctr",
        "runc",
        "bridge",
        "host-local",
        "loopback",
        "portmap",
        "nvidia-ctk",
        "nvidia-container-runtime",
        "nvidia-cdi-hook",
    ):
        assert name in names
    assert not set(names) & set(toolchain.binary_names())


def test_runc_is_built_with_cgo_and_seccomp():
    runc = next(
        c for c in toolchain.load_components(toolchain.NODE_TOOLCHAIN_FILE) if c.name == "runc"
    )
    assert runc.cgo and "seccomp" in runc.tags


def test_a_missing_c_toolchain_is_named_before_building(monkeypatch):
    component = toolchain.Component(
        name="runc",
        module="m",
        version="v1",
        packages={},
        ldflags={},
        cgo=True,
        tags=("seccomp",),
    )
    monkeypatch.setattr(toolchain, "SECCOMP_HEADER", ("/nonexistent/seccomp.h", "libseccomp-dev"))
    with pytest.raises(toolchain.ToolchainError, match=r"libseccomp-dev.*make node-deps"):
        toolchain.check_cgo_needs(component)
