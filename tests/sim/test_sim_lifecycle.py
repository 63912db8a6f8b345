"""Starting and stopping simulated clusters: clean stops, clear refusals, no half clusters."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from gpuconform.sim import toolchain
from gpuconform.sim.cluster import SimCluster, SimClusterError, port_in_use


def processes_mentioning(text: str) -> list[str]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if text in cmdline and int(pid) != os.getpid():
            found.append(f"{pid}: {cmdline[:120]}")
    return found


def test_down_leaves_no_process_and_no_port(tmp_path):
    cluster = SimCluster(f"gpuconform-life-{os.getpid()}", log=lambda line: None)
    cluster.up("healthy")
    port = cluster.apiserver_port()
    assert port and port_in_use(port)
    assert processes_mentioning(str(cluster.paths.cluster_dir))
    assert cluster.agent_running()
    cluster.down(quiet=True)
    assert not processes_mentioning(str(cluster.paths.cluster_dir))
    assert not processes_mentioning(str(cluster.paths.state_dir))
    assert not port_in_use(port)
    assert not cluster.exists()


def test_up_twice_is_refused_and_a_busy_port_is_named(sim_cluster):
    with pytest.raises(SimClusterError, match="already running"):
        SimCluster(sim_cluster.name).up("healthy")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        other = SimCluster(f"gpuconform-port-{os.getpid()}")
        with pytest.raises(SimClusterError, match=f"port {port} is already in use"):
            other.up("healthy", port=port)
        assert not other.exists()


def test_a_failed_start_leaves_nothing_running(monkeypatch):
    cluster = SimCluster(f"gpuconform-fail-{os.getpid()}", log=lambda line: None)

    def fail(nodes):  # a fault injected after the control plane and agent are up
        raise SimClusterError("injected failure while creating nodes")

    monkeypatch.setattr(cluster, "_create_nodes", fail)
    with pytest.raises(SimClusterError, match="injected failure"):
        cluster.up("healthy")
    assert not processes_mentioning(str(cluster.paths.cluster_dir))
    assert not processes_mentioning(str(cluster.paths.state_dir))
    assert not cluster.exists()


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gpuconform.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def test_cli_bad_node_profile_is_one_clear_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "gpu: {product: P, name: N, memory_mib: 1, driver_version: '1', cuda_version: '1'}\n"
        "node_groups: [{name: g, count: 1, gpus: 8, fault: melted}]\n"
    )
    proc = run_cli("sim", "up", "--nodes", str(bad), "--name", "never-started")
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"gpuconform: error: {bad}: node_groups[0]: unknown fault 'melted'; "
        "known faults: broken-driver, no-devices, unlabeled"
    ]
    assert "Traceback" not in proc.stderr


def test_cli_missing_toolchain_binary_is_named(tmp_path):
    with pytest.raises(
        toolchain.ToolchainError, match=r"'kwokctl' is missing .* run `make toolchain`"
    ):
        original = os.environ.get("GPUCONFORM_CACHE")
        os.environ["GPUCONFORM_CACHE"] = str(tmp_path)
        try:
            toolchain.require_binary("kwokctl")
        finally:
            if original is None:
                del os.environ["GPUCONFORM_CACHE"]
            else:
                os.environ["GPUCONFORM_CACHE"] = original


def test_cli_status_reports_a_stopped_cluster():
    proc = run_cli("sim", "status", "--name", "no-such-cluster")
    assert proc.returncode == 3 and '"running": false' in proc.stdout
