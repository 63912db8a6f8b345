"""The real nodes' rendered configuration (no node started)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from gpuconform.sim.realnode.node import _render, filesystem_type


def test_containerd_runs_nvidia_in_cdi_mode_by_default_with_a_restricted_oom_score():
    config = tomllib.loads(
        _render("containerd.toml", bin="/b", default_runtime="nvidia", snapshotter="overlayfs")
    )
    runtime = config["plugins"]["io.containerd.cri.v1.runtime"]
    assert runtime["enable_cdi"] is True
    assert runtime["restrict_oom_score_adj"] is True
    runtimes = runtime["containerd"]["runtimes"]
    assert runtime["containerd"]["default_runtime_name"] == "nvidia"
    assert runtimes["nvidia"]["options"]["BinaryName"] == "/b/nvidia-container-runtime"
    assert runtimes["runc"]["options"]["BinaryName"] == "/b/runc"
    images = config["plugins"]["io.containerd.cri.v1.images"]
    assert images["pinned_images"]["sandbox"] == "registry.k8s.io/pause:3.10"


def test_the_runtime_is_in_cdi_mode_and_its_envvar_setting_follows_the_node_group():
    for accept in ("true", "false"):
        config = tomllib.loads(
            _render("nvidia-container-runtime.toml", bin="/b", accept_envvar=accept)
        )
        assert config["nvidia-container-runtime"]["mode"] == "cdi"
        assert config["accept-nvidia-visible-devices-envvar-when-unprivileged"] is (
            accept == "true"
        )


def test_filesystem_type_is_the_innermost_mount():
    assert filesystem_type(Path("/proc/self")) == "proc"
    assert filesystem_type(Path("/")) not in ("", "proc")
