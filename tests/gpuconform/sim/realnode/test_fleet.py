"""Why a real node stopped, read from the files its init leaves in the cluster's state
directory (gpuconform/sim/realnode/fleet.py): what `sim up` says when a node never registers."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from gpuconform.sim.realnode.fleet import keep_node_logs, stopped_nodes


def _node(state_dir: Path, name: str, pid: int, init_log: str, kubelet_log: str = "") -> None:
    node_dir = state_dir / "nodes" / name
    (node_dir / "logs").mkdir(parents=True)
    (node_dir / "node.json").write_text(json.dumps({"cgroup_root": "/x", "host_veth": "v"}))
    (node_dir / "unshare.pid").write_text(str(pid))
    (node_dir / "init.log").write_text(init_log)
    if kubelet_log:
        (node_dir / "logs" / "kubelet.log").write_text(kubelet_log)


def test_a_node_whose_kubelet_exited_is_named_with_the_kubelets_last_line(tmp_path):
    child = subprocess.Popen(["true"])
    child.wait()
    _node(
        tmp_path,
        "gpu-node-1",
        child.pid,
        "[node-init] kubelet exited (1); the node stops\n",
        "I1201 started\nE1201 failed to create fsnotify watcher: too many open files\n",
    )
    _node(tmp_path, "gpu-node-0", os.getpid(), "")  # still running: nothing to say
    (reason,) = stopped_nodes(tmp_path)
    assert reason.startswith("gpu-node-1 stopped: [node-init] kubelet exited (1)"), reason
    assert reason.endswith("(last: E1201 failed to create fsnotify watcher: too many open files)")


def test_a_node_that_died_silently_says_so(tmp_path):
    # Not reaped: a zombie's /proc entry stays, as a node's `unshare` does under `sim up`.
    child = subprocess.Popen(["true"])
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # exited, left unreaped
    _node(tmp_path, "gpu-node-2", child.pid, "")
    assert stopped_nodes(tmp_path) == ["gpu-node-2 stopped: its init printed nothing"]
    child.wait()


def test_a_node_never_spawned_is_left_to_its_own_error(tmp_path):
    node_dir = tmp_path / "nodes" / "gpu-node-3"
    node_dir.mkdir(parents=True)
    (node_dir / "node.json").write_text("{}")
    assert stopped_nodes(tmp_path) == []


def test_the_nodes_logs_outlive_the_state_directory(tmp_path):
    state = tmp_path / "gpuconform-123"
    _node(state, "gpu-node-0", os.getpid(), "[node-init] mounted\n", "E1201 x\n")
    kept = keep_node_logs(state)
    assert kept is not None and not kept.is_relative_to(state)
    assert (kept / "gpu-node-0" / "kubelet.log").read_text() == "E1201 x\n"
    assert (kept / "gpu-node-0" / "init.log").read_text() == "[node-init] mounted\n"
    shutil.rmtree(kept)
    assert keep_node_logs(tmp_path / "no-nodes") is None
