"""A pod's shared PID namespace (`shareProcessNamespace: true`), as kubelet gives one.

NVIDIA's chart sets it on the device-plugin pod: config-manager's sidecar, after it switched
the node's config, finds the plugin by its name in /proc and sends it SIGHUP. Without the
pod's own PID namespace that scan sees the whole machine and signals another node's plugin.

The namespace is held by a pause process (PID 1 inside, like the pod sandbox's pause
container) for the pod's lifetime; each container then runs in it with a /proc of its own
(runtime.py), so it sees the pod's processes only.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from pathlib import Path

READY = b"gpuconform-pid-namespace-ready"


@functools.cache
def pid_namespaces_work() -> bool:
    """Can this machine give a pod its own PID namespace and /proc (root, util-linux)?"""
    if not all(shutil.which(tool) for tool in ("unshare", "nsenter", "setpriv")):
        return False
    probe = subprocess.run(
        ["unshare", "--pid", "--fork", "--mount", "--mount-proc", "true"], capture_output=True
    )
    return probe.returncode == 0


class PodPidNamespace:
    """The pause process of one pod's PID namespace; `path` is what containers join."""

    def __init__(self) -> None:
        # --kill-child: the namespace dies with its holder; setpriv: the holder dies with the
        # sim agent, so nothing outlives a killed agent.
        holder = ["setpriv", "--pdeathsig", "KILL", "--", "unshare", "--pid", "--fork"]
        pause = ["sh", "-c", f"echo {READY.decode()}; exec sleep infinity"]
        self.proc = subprocess.Popen(
            [*holder, "--kill-child", "--", *pause],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
        )
        assert self.proc.stdout is not None
        # PID 1 of the new namespace says it runs: from then on the holder's
        # pid_for_children is that namespace.
        line = self.proc.stdout.readline().strip()
        if line != READY:
            self.stop()
            raise OSError(f"the pod's PID namespace did not start (said {line!r})")

    @property
    def path(self) -> Path:
        return Path(f"/proc/{self.proc.pid}/ns/pid_for_children")

    def stop(self) -> None:
        """End the namespace: its PID 1 goes, and the kernel kills whatever is left in it."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
