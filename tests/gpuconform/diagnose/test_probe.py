"""node_probe.sh's own logic: driver roots and the container CLI's debug log.

The script runs here for real (sh); the host's tools are stand-ins written by the test,
which record how the probe called them. A node root is a temporary directory laid out like
a GPU Operator node (containerized driver under /run/nvidia/driver) or a GKE node
(/home/kubernetes/bin/nvidia with bin/ and lib64/).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from gpuconform.diagnose.explain import Evidence, explain
from gpuconform.diagnose.probe import parse_probe, probe_script

CLI = """#!/bin/sh
echo "$@" > "$CALLS/nvidia-container-cli"
echo "$LD_LIBRARY_PATH" > "$CALLS/library-path"
while [ $# -gt 0 ]; do
  case "$1" in -d) shift; echo "I1130 nvc.c:364] debug line from the cli" >> "$1";; esac
  shift
done
echo "NVRM version:   580.159.04"
echo "CUDA version:   13.0"
"""
SMI = """#!/bin/sh
echo "GPU 0: NVIDIA H200 (UUID: GPU-8a1f0f3e-0000-0000-0000-000000000000)"
"""


def run_probe(tmp_path: Path, driver_dir: str, lib_dir: str, smi_dir: str | None) -> str:
    host = tmp_path / "host"
    (host / driver_dir / lib_dir).mkdir(parents=True)
    (host / driver_dir / lib_dir / "libnvidia-ml.so.1").write_text("")
    tools = tmp_path / "tools"
    tools.mkdir()
    calls = tmp_path / "calls"
    calls.mkdir()
    for name, body, where in (("nvidia-container-cli", CLI, tools), ("nvidia-smi", SMI, None)):
        target = Path(where) if where else (host / smi_dir if smi_dir else tools)
        target.mkdir(parents=True, exist_ok=True)
        (target / name).write_text(body)
        (target / name).chmod(0o755)
    env = {
        "PATH": f"{tools}:/usr/bin:/bin",
        "HOST_ROOT": str(host),
        "GPUCONFORM_SIM": "1",  # run the tools directly: no chroot in a test
        "CALLS": str(calls),
        "LD_LIBRARY_PATH": "/opt/driver/lib",  # the host's: the tool must keep it
    }
    proc = subprocess.run(
        ["sh", "-c", probe_script()], env=env, capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_a_containerized_driver_is_not_reported_broken_for_the_host_linker_cache(tmp_path):
    out = run_probe(tmp_path, "run/nvidia/driver", "usr/lib/x86_64-linux-gnu", None)
    probe = parse_probe(out)
    assert probe.text("driver root") == "/run/nvidia/driver"
    assert "no NVIDIA libraries in the linker cache" not in out
    assert "libnvidia-ml.so.1" in probe.text("ldconfig nvidia")
    calls = (tmp_path / "calls" / "nvidia-container-cli").read_text().split()
    assert calls[:2] == ["--root", "/run/nvidia/driver"] and "info" in calls
    assert (tmp_path / "calls" / "library-path").read_text().strip() == "/opt/driver/lib"
    ids = {
        f.signature.id for f in explain([Evidence("node-probe", "gpu-0", out, "gpu-0")]).findings
    }
    assert "libnvidia-ml-not-loadable-on-node" not in ids


def test_the_container_cli_debug_log_is_kept_without_a_tty(tmp_path):
    out = run_probe(tmp_path, "run/nvidia/driver", "usr/lib/x86_64-linux-gnu", None)
    probe = parse_probe(out)
    calls = (tmp_path / "calls" / "nvidia-container-cli").read_text().split()
    assert calls[calls.index("-d") + 1] == "/dev/stderr"  # never /dev/tty: a pod has none
    assert probe.exit_code("nvidia-container-cli debug log") == 0
    assert "debug line from the cli" in probe.text("nvidia-container-cli debug log")
    assert "NVRM version:   580.159.04" in probe.text("nvidia-container-cli info")


def test_gke_driver_tools_run_from_the_driver_directory(tmp_path):
    out = run_probe(
        tmp_path, "home/kubernetes/bin/nvidia", "lib64", "home/kubernetes/bin/nvidia/bin"
    )
    probe = parse_probe(out)
    assert probe.text("driver root") == "/home/kubernetes/bin/nvidia"
    assert probe.exit_code("nvidia-smi -L") == 0 and probe.gpu_models == ["NVIDIA H200"]
    assert not os.path.exists(tmp_path / "host" / "tmp")  # nothing written on the host


def test_the_gpu_operators_toolkit_is_found_off_the_path(tmp_path):
    host = tmp_path / "host"
    toolkit = host / "usr/local/nvidia/toolkit"
    toolkit.mkdir(parents=True)
    calls = tmp_path / "calls"
    calls.mkdir()
    (toolkit / "nvidia-container-cli").write_text(CLI)
    (toolkit / "nvidia-container-cli").chmod(0o755)
    env = {
        "PATH": "/usr/bin:/bin",
        "HOST_ROOT": str(host),
        "GPUCONFORM_SIM": "1",
        "CALLS": str(calls),
    }
    proc = subprocess.run(
        ["sh", "-c", probe_script()], env=env, capture_output=True, text=True, timeout=30
    )
    probe = parse_probe(proc.stdout)
    assert probe.exit_code("nvidia-container-cli info") == 0, proc.stdout
    assert "NVRM version:   580.159.04" in probe.text("nvidia-container-cli info")


# Raw output of this node_probe.sh run as root on the lent real H200 host (device tool,
# 2026-11-30; driver 580.159.04 in the host root, no nvidia-container-cli installed there).
H200 = Path(__file__).resolve().parents[2] / "data" / "h200-host" / "node-probe-h200-2026-11-30.txt"


def test_on_a_real_h200_host_the_driver_is_found_in_the_host_root_and_healthy():
    out = H200.read_text()
    probe = parse_probe(out)
    assert probe.text("driver root") == "/"
    assert probe.gpu_models == ["NVIDIA H200"] and probe.driver_version == "580.159.04"
    assert "libnvidia-ml.so.1" in probe.text("ldconfig nvidia")
    explanation = explain([Evidence("node-probe", "h200", out, "h200")])
    assert [h.summary() for h in explanation.healthy] == [
        "driver layer healthy: driver 580.159.04, CUDA 13.0, 1 GPU(s) (NVIDIA H200)"
    ]
    # The host has no container toolkit: a warning, never a driver error.
    assert {f.signature.id: f.signature.severity for f in explanation.findings} == {
        "container-toolkit-missing": "warning"
    }


def _probe_with(tmp_path: Path, files: dict[str, str]) -> str:
    """Run the probe on a host root holding `files` (path -> text; `#!` ones executable)."""
    host = tmp_path / "host"
    for rel, text in files.items():
        path = host / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        if text.startswith("#!"):
            path.chmod(0o755)
    env = {"PATH": "/usr/bin:/bin", "HOST_ROOT": str(host), "GPUCONFORM_SIM": "1"}
    proc = subprocess.run(
        ["sh", "-c", probe_script()], env=env, capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


SMI_WITH_LIBS = """#!/bin/sh
echo "GPU 0: NVIDIA H200 (UUID: GPU-8a1f0f3e-0000-0000-0000-000000000000)"
echo "libraries from $LD_LIBRARY_PATH" >&2
"""
CDI_CONFIG = '[nvidia-container-runtime]\nmode = "cdi" # the GPU Operator\'s\n'
# The shape of a spec nvidia-ctk writes (see tests/data/real-node-probe), for a driver
# root that is libraries and tools only (no /bin/sh to chroot into).
SPEC = """cdiVersion: 0.5.0
kind: nvidia.com/gpu
containerEdits:
  mounts:
  - hostPath: /drivers/current/usr/lib64/libnvidia-ml.so.580.159.04
    containerPath: /usr/lib64/libnvidia-ml.so.580.159.04
"""


def test_the_driver_root_is_the_one_the_cdi_spec_mounts_from(tmp_path):
    out = _probe_with(
        tmp_path,
        {
            "etc/nvidia-container-runtime/config.toml": CDI_CONFIG,
            "etc/cdi/nvidia.yaml": SPEC,
            "drivers/current/usr/lib64/libnvidia-ml.so.1": "",
            "drivers/current/usr/bin/nvidia-smi": SMI_WITH_LIBS,
        },
    )
    probe = parse_probe(out)
    assert probe.text("driver root") == "/drivers/current"
    # The root's own nvidia-smi, with the root's libraries.
    assert probe.exit_code("nvidia-smi -L") == 0 and probe.gpu_models == ["NVIDIA H200"]
    assert f"libraries from {tmp_path}/host/drivers/current/usr/lib64" in probe.text(
        "nvidia-smi -L"
    )
    assert "nvidia-container-runtime mode = cdi" in probe.text("container toolkit")
    ids = {f.signature.id for f in explain([Evidence("node-probe", "n", out, "n")]).findings}
    assert "container-toolkit-missing" not in ids


def test_a_legacy_runtime_without_the_cli_is_still_reported(tmp_path):
    config = '[nvidia-container-cli]\nroot = "/run/nvidia/driver"\n'
    out = _probe_with(
        tmp_path,
        {
            "etc/nvidia-container-runtime/config.toml": config,
            "run/nvidia/driver/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1": "",
        },
    )
    probe = parse_probe(out)
    assert "nvidia-container-runtime mode = auto" in probe.text("container toolkit")
    assert "[nvidia-container-cli] root" in probe.text("container toolkit")
    assert probe.text("nvidia-container-cli info") == "tool not found: nvidia-container-cli"
    findings = explain([Evidence("node-probe", "n", out, "n")]).findings
    assert "container-toolkit-missing" in {f.signature.id for f in findings}


def test_the_toolkit_configs_driver_root_is_taken(tmp_path):
    config = '[nvidia-container-cli]\nroot = "/opt/nvidia-driver"\n'
    out = _probe_with(
        tmp_path,
        {
            "etc/nvidia-container-runtime/config.toml": config,
            "opt/nvidia-driver/lib64/libnvidia-ml.so.1": "",
        },
    )
    assert parse_probe(out).text("driver root") == "/opt/nvidia-driver"
