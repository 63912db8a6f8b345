"""This machine's side of a simulated cluster: where it keeps its files, the local ports it
binds, its processes, and its error."""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from gpuconform.sim import toolchain


class SimClusterError(RuntimeError):
    """The simulated cluster could not be started, found or stopped; the message says why."""


@dataclass(frozen=True)
class SimPaths:
    name: str

    @property
    def kwok_workdir(self) -> Path:
        return toolchain.cache_root() / "kwok"

    @property
    def cluster_dir(self) -> Path:
        return self.kwok_workdir / "clusters" / self.name

    @property
    def kubeconfig(self) -> Path:
        return self.cluster_dir / "kubeconfig.yaml"

    @property
    def state_dir(self) -> Path:
        return toolchain.cache_root() / "sim-state" / self.name

    @property
    def simbin(self) -> Path:
        return self.state_dir / "bin"

    @property
    def agent_pid(self) -> Path:
        return self.state_dir / "agent.pid"

    @property
    def agent_log(self) -> Path:
        return self.state_dir / "agent.log"

    @property
    def config_file(self) -> Path:
        return self.state_dir / "kwokctl.yaml"

    @property
    def charts_dir(self) -> Path:
        return self.state_dir / "charts"

    @property
    def device_plugin_mode(self) -> Path:
        return self.state_dir / "device-plugin-mode"

    @property
    def chart_repo_pid(self) -> Path:
        return self.state_dir / "chart-repo.pid"

    @property
    def chart_repo_url(self) -> Path:
        return self.state_dir / "chart-repo.url"


def port_in_use(port: int) -> bool:
    """Is something listening on 127.0.0.1:port? (TIME_WAIT leftovers do not count: the
    control plane's listeners reuse such addresses.)"""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def wait_pid_gone(pid: int, timeout_s: float = 10) -> None:
    """Wait for a process to exit (pidfd: woken by the exit itself), then force it."""
    import select

    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        if not poller.poll(timeout_s * 1000):
            _force_kill(pid)
    finally:
        os.close(fd)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _force_kill(pid: int) -> None:
    for kill in (os.killpg, os.kill):
        try:
            kill(pid, signal.SIGKILL)
            return
        except (ProcessLookupError, PermissionError):
            continue


@contextlib.contextmanager
def creation_lock(paths: SimPaths) -> Iterator[None]:
    """One cluster creation at a time on this machine.

    kwokctl picks its components' ports by probing for a free one and binding it later; two
    clusters created at once can be handed the same port (seen: a second cluster's CRD set-up
    talking to a port nobody serves any more). Real nodes' subnets are chosen the same way (a
    /24 no address is in yet). Creation is seconds, so serialising it costs little; clusters
    still run side by side.
    """
    paths.kwok_workdir.mkdir(parents=True, exist_ok=True)
    with open(paths.kwok_workdir / "create.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
