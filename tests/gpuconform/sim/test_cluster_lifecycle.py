"""Starting and stopping simulated clusters: clean stops, clear refusals, no half clusters."""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from kubernetes import client, config

from gpuconform.sim import toolchain
from gpuconform.sim.cluster import SimCluster, SimClusterError, port_in_use
from gpuconform.sim.faults import load_faults
from gpuconform.wait import wait_for
from tests.data.plugin import plugin_daemonset

pytestmark = pytest.mark.sim


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


def start_real_plugins(cluster: SimCluster) -> list[int]:
    """Deploy NVIDIA's chart DaemonSet and wait until a real plugin process runs per GPU node."""
    api = config.new_client_from_config(str(cluster.paths.kubeconfig))
    client.AppsV1Api(api).create_namespaced_daemon_set("kube-system", plugin_daemonset())
    wait_for(
        client.CoreV1Api(api).list_node,
        lambda nodes: (
            all((n.status.allocatable or {}).get("nvidia.com/gpu") == "8" for n in nodes.values()),
            "GPUs not yet advertised",
        ),
        what="every GPU node to advertise the real plugin's GPUs",
        timeout_s=60,
        label_selector="nvidia.com/gpu.present=true",
    )
    pids = cluster.real_plugin_pids()
    assert len(pids) == 3, pids
    return pids


def wait_all_exit(pids: list[int], timeout_s: float = 30) -> list[int]:
    """Wait (pidfd: woken by the exit itself) for processes to exit; returns those still alive."""
    alive = []
    for pid in pids:
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            continue
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        if not poller.poll(timeout_s * 1000):
            alive.append(pid)
        os.close(fd)
    return alive


def test_down_leaves_no_process_and_no_port(tmp_path):
    cluster = SimCluster(f"gpuconform-life-{os.getpid()}", log=lambda line: None)
    cluster.up("healthy")
    port = cluster.apiserver_port()
    assert port and port_in_use(port)
    assert processes_mentioning(str(cluster.paths.cluster_dir))
    assert cluster.agent_running()
    plugins = start_real_plugins(cluster)
    cluster.down(quiet=True)
    assert not processes_mentioning(str(cluster.paths.cluster_dir))
    assert not processes_mentioning(str(cluster.paths.state_dir))
    assert not wait_all_exit(plugins, timeout_s=0.1)
    assert not port_in_use(port)
    assert not cluster.exists()


def test_plugin_processes_die_with_a_killed_agent():
    """An interrupted session (the agent SIGKILLed, no cleanup ran) leaves no plugin behind."""
    cluster = SimCluster(f"gpuconform-kill-{os.getpid()}", log=lambda line: None)
    cluster.up("healthy")
    try:
        plugins = start_real_plugins(cluster)
        os.kill(int(cluster.paths.agent_pid.read_text()), signal.SIGKILL)
        assert not wait_all_exit(plugins)
    finally:
        cluster.down(quiet=True)


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
        f"known faults: {', '.join(sorted(load_faults()))}"
    ]
    assert "broken-driver" in load_faults()  # the list names real faults, not an empty join
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
