"""The real nodes' rendered configuration (no node started)."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from gpuconform.sim.faults import load_faults
from gpuconform.sim.realnode.node import CDI_DIRS, _render, filesystem_type


def _containerd(cdi_dirs: list[str] = CDI_DIRS) -> dict:
    return tomllib.loads(
        _render(
            "containerd.toml",
            bin="/b",
            default_runtime="nvidia",
            snapshotter="overlayfs",
            cdi_spec_dirs=json.dumps(cdi_dirs),
        )
    )


def test_containerd_runs_nvidia_in_cdi_mode_by_default_with_a_restricted_oom_score():
    config = _containerd()
    runtime = config["plugins"]["io.containerd.cri.v1.runtime"]
    assert runtime["enable_cdi"] is True
    assert runtime["cdi_spec_dirs"] == ["/etc/cdi", "/var/run/cdi"]
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


def test_the_cdi_dirs_fault_narrows_containerds_cdi_spec_dirs():
    dirs = load_faults()["cdi-dirs-etc-only"]["cdi_spec_dirs"]
    runtime = _containerd(dirs)["plugins"]["io.containerd.cri.v1.runtime"]
    assert runtime["cdi_spec_dirs"] == ["/etc/cdi"]
