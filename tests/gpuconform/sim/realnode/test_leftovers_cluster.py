"""Nothing of a real node survives: after `sim down`, after a `sim up` SIGKILLed while it
starts the node (or while it starts the cluster's second node), and after the node itself is
SIGKILLed. Each kind of leftover is listed on its own (KINDS): processes in the node's
namespaces or cgroups (containerd, kubelet, kube-proxy, containers), containerd shims, the
node's namespaces (held by any process or pinned by a mount), mounts, cgroups, iptables rules,
veths and the bridge."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from kubernetes import client, config

from gpuconform.sim.cluster import SimCluster
from gpuconform.sim.realnode import fleet, image_seed, leftovers
from gpuconform.wait import wait_for
from tests.fixtures.real_cluster import require_root

pytestmark = pytest.mark.real_node

PROFILE = "real"
NODE = "real-gpu-0"
SLEEP_IMAGE = "nvcr.io/nvidia/cuda:12.8.0-base-ubuntu24.04"
PROCESSES = leftovers.PROCESSES
# Every kind the issue names; the inventory must list each, so none is silently unchecked.
KINDS = {
    PROCESSES,
    "containerd shims",
    "namespaces",
    "mounts",
    "cgroups",
    "iptables rules",
    "veths and bridge",
}


def _inventory(cluster: SimCluster) -> tuple[list[dict], str, Path, str]:
    """What to look for, read while the cluster's state still exists."""
    state = cluster.paths.state_dir
    net = fleet.cluster_network(cluster.name, state)
    return leftovers.load_records(state), net.bridge, state, str(net.subnet.network_address)


def _leftovers(inventory) -> dict[str, list[str]]:
    records, bridge, state, subnet = inventory
    listed = leftovers.find(records, bridge, state, subnet)
    assert set(listed) == KINDS, sorted(listed)
    return {kind: found for kind, found in listed.items() if found}


def _wait_until(condition, what: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout_s}s waiting for {what}"
        time.sleep(0.1)  # a file written by another process: no event to wait on


def _node_iptables(cluster: SimCluster) -> str:
    unshare = (cluster.paths.state_dir / "nodes" / NODE / "unshare.pid").read_text().strip()
    (init,) = Path(f"/proc/{unshare}/task/{unshare}/children").read_text().split()
    save = ["nsenter", "-t", init, "-n", "iptables-save"]
    return subprocess.run(save, capture_output=True, text=True, check=True).stdout


def _run_sleeping_pod(cluster: SimCluster) -> None:
    core = client.CoreV1Api(config.new_client_from_config(str(cluster.paths.kubeconfig)))
    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name="sleeper"),
        spec=client.V1PodSpec(
            node_name=NODE,
            tolerations=[client.V1Toleration(operator="Exists")],
            containers=[client.V1Container(name="c", image=SLEEP_IMAGE, command=["sleep", "3600"])],
        ),
    )
    core.create_namespaced_pod("default", pod)
    wait_for(
        core.list_namespaced_pod,
        lambda pods: (pods["default/sleeper"].status.phase == "Running", "sleeper"),
        what="a pod to run on the real node",
        timeout_s=60,
        namespace="default",
    )


def test_sim_down_leaves_nothing():
    cluster = SimCluster(f"gpuconform-rdown-{os.getpid()}", log=lambda line: None)
    cluster.up(PROFILE, timeout_s=90)
    try:
        _run_sleeping_pod(cluster)
        inventory = _inventory(cluster)
        found = _leftovers(inventory)
        # While up, the lists are not empty: the check can see what it looks for.
        processes = " ".join(found[PROCESSES])
        for what in ("containerd)", "kubelet", "kube-proxy", "(sleep)", "(pause)"):
            assert what in processes, f"{what} not seen among the node's processes: {processes}"
        assert "containerd-shim" in " ".join(found["containerd shims"]), found
        assert found["namespaces"] and found["veths and bridge"] and found["cgroups"], found
        # kube-proxy's and CNI's rules live in the node's network namespace (network.py), so
        # they go with it; the host has none to leave behind, then or now.
        assert "KUBE-SERVICES" in _node_iptables(cluster), "kube-proxy wrote no rules"
        assert "iptables rules" not in found, found
        assert any(
            Path(p).exists()
            for r in inventory[0]
            for p in [f"/sys/fs/cgroup/memory{r['cgroup_root']}"]
        )
    finally:
        cluster.down(quiet=True)
    assert _leftovers(inventory) == {}


@contextmanager
def _start_interrupted(name: str) -> Iterator[tuple[subprocess.Popen, SimCluster]]:
    """`sim up` in a child process, yielded once the real node's namespaces exist and while
    the node is held before its containerd starts: the test holds the images' lock that every
    starting node takes (image_seed.py), so the interrupt lands during the start, however
    fast the start would otherwise be."""
    cluster = SimCluster(name, log=lambda line: None)
    with image_seed.lock_path().open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        up = ["sim", "up", "--name", name, "--nodes", PROFILE]
        stderr_log = Path(tempfile.mkstemp(prefix=f"{name}-", suffix=".stderr")[1])
        proc = subprocess.Popen(
            # faulthandler: a SIGABRT makes a hung `sim up` print every thread's stack.
            [sys.executable, "-X", "faulthandler", "-m", "gpuconform.cli", *up],
            stdout=subprocess.DEVNULL,
            stderr=stderr_log.open("w"),
            # As from a terminal: a shell starts background jobs (`make test &`, CI) with SIGINT
            # ignored, children inherit that, and a Ctrl-C would then never reach `sim up`.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        proc.stderr_log = stderr_log  # where a hung run's stacks land (the Ctrl-C test)
        record = cluster.paths.state_dir / "nodes" / NODE / "node.json"
        try:
            _wait_until(
                lambda: record.exists() and "namespaces" in json.loads(record.read_text() or "{}"),
                "the real node's namespaces",
            )
            yield proc, cluster
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
            # Whatever the test found, nothing of this cluster stays (the node waiting at the
            # held lock included: `sim down` kills its namespace).
            cluster.down(quiet=True)
            stderr_log.unlink(missing_ok=True)


def test_an_interrupted_start_is_cleaned_up_by_sim_down():
    name = f"gpuconform-rkill-{os.getpid()}"
    with _start_interrupted(name) as (proc, cluster):
        # SIGKILL `sim up` once the node's namespaces exist, before the node is ready.
        proc.kill()
        proc.wait(timeout=10)
        inventory = _inventory(cluster)
        assert _leftovers(inventory), "an interrupted start left nothing to clean: test is blind"
    # _start_interrupted ends with `sim down`.
    assert _leftovers(inventory) == {}


def test_ctrl_c_during_start_cleans_up_by_itself():
    """Ctrl-C while `sim up` starts the node: `sim up` removes what it started, no `sim down`."""
    with _start_interrupted(f"gpuconform-rint-{os.getpid()}") as (proc, cluster):
        inventory = _inventory(cluster)
        assert _leftovers(inventory), "nothing started yet: the test would be blind"
        proc.send_signal(signal.SIGINT)
        try:
            assert proc.wait(timeout=60) != 0  # interrupted, not started
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGABRT)
            proc.wait(timeout=30)
            stacks = proc.stderr_log.read_text()
            pytest.fail(f"sim up ignored Ctrl-C for 60 s; its threads:\n{stacks[-6000:]}")
        assert _leftovers(inventory) == {}
        assert not cluster.paths.state_dir.exists()


def test_a_sigkilled_node_takes_its_processes_and_sim_down_the_rest():
    cluster = SimCluster(f"gpuconform-rnode-{os.getpid()}", log=lambda line: None)
    cluster.up(PROFILE, timeout_s=90)
    try:
        inventory = _inventory(cluster)
        unshare = int((cluster.paths.state_dir / "nodes" / NODE / "unshare.pid").read_text())
        os.kill(unshare, signal.SIGKILL)
        kind = PROCESSES
        killed = (
            [r for r in inventory[0] if r["cgroup_root"].endswith(f"/{NODE}")],
            *inventory[1:],
        )
        # The kernel kills the node's PID namespace with its init: no process survives it.
        _wait_until(lambda: kind not in _leftovers(killed), "the node's processes to die")
    finally:
        cluster.down(quiet=True)
    assert _leftovers(inventory) == {}


@pytest.fixture(autouse=True)
def _root():
    require_root()
