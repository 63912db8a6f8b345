"""The simulated container runtime: real processes, kubelet's restarts, logs and termination.

These run real host processes in private mount namespaces (root and `unshare` needed); they do
not need the simulated cluster.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from gpuconform.sim.kubelet.logs import ContainerLogFiles
from gpuconform.sim.kubelet.runtime import (
    ContainerProcess,
    ContainerStatus,
    Mount,
    ProcessSpec,
    mount_namespaces_work,
)

pytestmark = [
    pytest.mark.sim,
    pytest.mark.skipif(
        not mount_namespaces_work(), reason="`unshare --mount` is not permitted (needs root)"
    ),
]
WAIT_S = 30


class StatusLog:
    """Every status the runtime reported, plus what the logs held at that moment."""

    def __init__(self, files: ContainerLogFiles) -> None:
        self.files = files
        self.seen: list[tuple[dict, int, str]] = []
        self.cond = threading.Condition()

    def __call__(self, status: ContainerStatus) -> None:
        with self.cond:
            previous = self.files.previous.read_text()
            self.seen.append((dict(status.state), status.restart_count, previous))
            self.cond.notify_all()

    def wait_for(self, what: str, check) -> tuple[dict, int, str]:
        with self.cond:
            ok = self.cond.wait_for(lambda: any(check(*s) for s in self.seen), timeout=WAIT_S)
            assert ok, f"timed out waiting for {what}: {self.seen}"
            return next(s for s in self.seen if check(*s))


def container(tmp_path: Path, script: str, restart: str = "Always", mounts=()) -> tuple:
    files = ContainerLogFiles(tmp_path / "logs", "ctr")
    statuses = StatusLog(files)
    spec = ProcessSpec(
        container="ctr",
        pod="pod_ns",
        argv=["/bin/sh", "-c", script],
        env={"PATH": "/usr/bin:/bin"},
        mounts=list(mounts),
        restart=restart,
    )
    return ContainerProcess(spec, "image:tag", files, statuses), statuses, files


def test_a_crashing_container_backs_off_with_its_log_kept_as_previous(tmp_path):
    proc, statuses, _files = container(tmp_path, "echo 'dying now'; exit 3")
    proc.start()
    try:
        state, _restarts, previous = statuses.wait_for(
            "the second restart",
            lambda state, restarts, previous: restarts == 2 and "waiting" in state,
        )
    finally:
        proc.stop(grace_s=1)
    assert state["waiting"]["reason"] == "CrashLoopBackOff"
    assert "restarting failed container=ctr pod=pod_ns" in state["waiting"]["message"]
    assert proc.status.last_state["terminated"]["exitCode"] == 3
    # The log of the instance that died was complete before its death was reported.
    assert "stdout F dying now" in previous
    # A process dead before kubelet's relist was never reported running.
    assert not any("running" in s for s, _, _ in statuses.seen)


def test_a_run_to_completion_container_reports_its_exit_code(tmp_path):
    proc, statuses, files = container(tmp_path, "echo done >&2; exit 0", restart="Never")
    proc.start()
    state, restarts, _ = statuses.wait_for("termination", lambda s, r, p: "terminated" in s)
    assert state["terminated"]["exitCode"] == 0 and state["terminated"]["reason"] == "Completed"
    assert restarts == 0
    assert "stderr F done" in files.current.read_text()


def test_termination_is_sigterm_then_sigkill_after_the_grace_period(tmp_path):
    ignores_term = "trap '' TERM; echo up; while :; do sleep 1; done"
    proc, statuses, _ = container(tmp_path, ignores_term)
    proc.start()
    statuses.wait_for("running", lambda state, r, p: "running" in state)
    pid = proc.pid
    started = time.monotonic()
    proc.stop(grace_s=1.5)
    assert time.monotonic() - started >= 1.5  # SIGTERM was ignored: the grace period ran out
    assert not Path(f"/proc/{pid}").exists()


def test_a_well_behaved_container_stops_on_sigterm_at_once(tmp_path):
    polite = "trap 'exit 0' TERM; echo up; while :; do sleep 1; done"
    proc, statuses, _ = container(tmp_path, polite)
    proc.start()
    statuses.wait_for("running", lambda state, r, p: "running" in state)
    started = time.monotonic()
    proc.stop(grace_s=30)
    assert time.monotonic() - started < 10


def test_volume_mounts_are_the_nodes_own_directories(tmp_path):
    node_dir = tmp_path / "node-a-device-plugins"
    node_dir.mkdir()
    (node_dir / "kubelet.sock.marker").touch()
    mount = Mount(node_dir, "/var/lib/kubelet/device-plugins")
    proc, statuses, files = container(
        tmp_path, "ls /var/lib/kubelet/device-plugins", restart="Never", mounts=[mount]
    )
    proc.start()
    statuses.wait_for("termination", lambda s, r, p: "terminated" in s)
    assert "kubelet.sock.marker" in files.current.read_text()
    # Private to the process: the host's directory does not show the node's files.
    host = Path("/var/lib/kubelet/device-plugins")
    assert not (host / "kubelet.sock.marker").exists()
