"""The SIMULATED container runtime: a container of a pod runs as a host process.

What is real: the program (e.g. NVIDIA's device plugin binary), its command, args and env,
its exit codes and its output. What is simulated: the container itself. There is no image
filesystem; the process runs on the host in a private mount namespace (`unshare --mount`)
where each of the pod's volume mounts is a bind mount of a per-node directory, so that
e.g. `/var/lib/kubelet/device-plugins` is that simulated node's own directory. The mount
points are created on the host as empty directories (mounting needs a directory to mount on).

Restarts follow kubelet's documented behaviour (restartPolicy Always: restart after an
exponentially growing back-off, reported as CrashLoopBackOff with the true restart count;
the last instance's log stays readable with `--previous`) with the back-off compressed.
Stopping follows kubelet's pod termination: SIGTERM, then SIGKILL after the grace period.
"""

from __future__ import annotations

import shlex
import shutil
import signal
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gpuconform.sim.kubelet.logs import ContainerLogFiles, LogPump

# kubelet's back-off is 10 s doubling to 300 s; compressed so a crash loop shows in seconds.
BACKOFF_START_S, BACKOFF_MAX_S = 1.0, 8.0
# kubelet's pod lifecycle event generator relists container states every second.
PLEG_RELIST_S = 1.0


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def backoff_delay(restarts: int) -> float:
    """Seconds before restart number `restarts` (1-based), kubelet's doubling, compressed."""
    return min(BACKOFF_START_S * 2 ** max(restarts - 1, 0), BACKOFF_MAX_S)


def mount_namespaces_work() -> bool:
    """Can this machine give a process its own mount namespace (root, `unshare`)?"""
    if not shutil.which("unshare"):
        return False
    probe = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "true"], capture_output=True
    )
    return probe.returncode == 0


@dataclass(frozen=True)
class Mount:
    """A volume mount: `source` on the host appears at `target` inside the container."""

    source: Path
    target: str


@dataclass(frozen=True)
class ProcessSpec:
    """What one container runs: the resolved host program and the container's argv/env."""

    container: str
    pod: str  # `<name>_<namespace>(<uid>)`, as kubelet names a pod in its messages
    argv: list[str]
    env: dict[str, str]
    mounts: list[Mount] = field(default_factory=list)
    # kubelet's restart rule for this container: Always, OnFailure (also init containers of a
    # pod that restarts) or Never
    restart: str = "Always"
    workdir: Path = Path("/")
    # The pod's shared PID namespace (pid_namespace.py) to run in, if it has one.
    pid_namespace: Path | None = None

    def restarts_after(self, exit_code: int) -> bool:
        return self.restart == "Always" or (self.restart == "OnFailure" and exit_code != 0)


@dataclass
class ContainerStatus:
    """One entry of a pod's `status.containerStatuses`, as kubelet would report it."""

    name: str
    image: str
    restart_count: int = 0
    state: dict[str, Any] = field(
        default_factory=lambda: {"waiting": {"reason": "ContainerCreating"}}
    )
    last_state: dict[str, Any] = field(default_factory=dict)

    @property
    def running(self) -> bool:
        return "running" in self.state

    @property
    def waiting_reason(self) -> str | None:
        return (self.state.get("waiting") or {}).get("reason")

    def to_api(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "image": self.image,
            "imageID": "",
            "ready": self.running,
            "started": self.running,
            "restartCount": self.restart_count,
            "state": self.state,
            "lastState": self.last_state,
        }


# In a pod's shared PID namespace: nsenter --no-fork makes this shell's children members, so
# the program runs as its child, with a /proc of that namespace mounted first (it sees the
# pod's processes only); the shell passes kubelet's signals on and exits as the program did.
SHARED_PID_RUN = """set +e
setpriv --pdeathsig KILL -- sh -c 'mount -t proc proc /proc && exec "$@"' "$0" "$@" &
child=$!
for sig in TERM INT HUP QUIT USR1 USR2; do trap "kill -$sig $child" $sig; done
wait $child; status=$?
while kill -0 $child 2>/dev/null; do wait $child; status=$?; done
exit $status"""


def _launcher(spec: ProcessSpec) -> list[str]:
    """argv that runs the program in its own mount namespace with the pod's mounts bound
    (and in the pod's PID namespace, when it shares one)."""
    script = ["set -e"]
    for mount in spec.mounts:
        source, target = shlex.quote(str(mount.source)), shlex.quote(mount.target)
        script.append(f"mkdir -p {target} && mount --bind {source} {target}")
    script.append('exec "$@"' if spec.pid_namespace is None else SHARED_PID_RUN)
    argv = ["unshare", "--mount", "--propagation", "private", "--"]
    argv += ["/bin/sh", "-c", "\n".join(script), spec.container, *spec.argv]
    if spec.pid_namespace is not None:
        argv = ["nsenter", f"--pid={spec.pid_namespace}", "--no-fork", "--", *argv]
    if shutil.which("setpriv"):
        # If the sim agent dies without cleaning up (SIGKILL), its containers die with it.
        argv = ["setpriv", "--pdeathsig", "KILL", "--", *argv]
    return argv


class ContainerProcess:
    """One container run as a host process, restarted as kubelet would, until stopped."""

    def __init__(
        self,
        spec: ProcessSpec,
        image: str,
        logs: ContainerLogFiles,
        on_status: Callable[[ContainerStatus], None],
    ) -> None:
        self.spec = spec
        self.logs = logs
        self.on_status = on_status
        self.status = ContainerStatus(spec.container, image)
        self._stopping = threading.Event()
        self._proc: subprocess.Popen[bytes] | None = None
        self._proc_lock = threading.Lock()
        self._thread = threading.Thread(
            target=self._supervise, name=f"container-{spec.container}", daemon=True
        )

    @property
    def pid(self) -> int | None:
        with self._proc_lock:
            return self._proc.pid if self._proc and self._proc.poll() is None else None

    def start(self) -> None:
        self.logs.create()
        self._thread.start()

    def stop(self, grace_s: float) -> None:
        """Pod termination: SIGTERM, SIGKILL after `grace_s`; returns once the process is gone."""
        self._stopping.set()
        with self._proc_lock:
            proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                proc.kill()
        if self._thread.ident is not None:  # never started: an init container was still due
            self._thread.join()

    def finished(self) -> bool:
        """The container ran to completion and will not restart."""
        return not self._thread.is_alive() and "terminated" in self.status.state

    def wait(self) -> bool:
        """Block until the container has run to completion (or was stopped); True if it
        succeeded. For init containers, which must succeed before the next one starts."""
        self._thread.join()
        terminated = self.status.state.get("terminated") or {}
        return not self._stopping.is_set() and terminated.get("exitCode") == 0

    # -- the supervisor thread ---------------------------------------------------------
    def _supervise(self) -> None:
        while not self._stopping.is_set():
            terminated = self._run_once()
            if self._stopping.is_set():
                return
            if not self.spec.restarts_after(terminated["exitCode"]):
                self.status.state = {"terminated": terminated}
                self.on_status(self.status)
                return
            self.status.restart_count += 1
            delay = backoff_delay(self.status.restart_count)
            self.status.last_state = {"terminated": terminated}
            self.status.state = {
                "waiting": {
                    "reason": "CrashLoopBackOff",
                    "message": f"back-off {delay:.0f}s restarting failed container="
                    f"{self.spec.container} pod={self.spec.pod}",
                }
            }
            self.on_status(self.status)
            if self._stopping.wait(delay):
                return

    def _run_once(self) -> dict[str, Any]:
        """Run one instance; its log is complete on disk before this returns."""
        self.logs.start_new_instance()
        started = now_rfc3339()
        try:
            with self._proc_lock:
                if self._stopping.is_set():
                    return {"exitCode": 0, "reason": "Completed"}
                self._proc = subprocess.Popen(
                    _launcher(self.spec),
                    env=self.spec.env,
                    cwd=self.spec.workdir,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                )
                proc = self._proc
        except OSError as err:
            return {
                "exitCode": 128,
                "reason": "StartError",
                "message": f"failed to start {self.spec.argv[0]}: {err.strerror}",
                "startedAt": started,
                "finishedAt": now_rfc3339(),
            }
        assert proc.stdout is not None and proc.stderr is not None
        pump = LogPump(self.logs.current, proc.stdout, proc.stderr)
        try:
            # kubelet learns container states from the runtime at its PLEG relist, once a
            # second: a process that is gone by then was never reported running.
            code = proc.wait(timeout=PLEG_RELIST_S)
        except subprocess.TimeoutExpired:
            self.status.state = {"running": {"startedAt": started}}
            self.on_status(self.status)
            code = proc.wait()
        pump.join()
        self.logs.keep_as_previous()
        exit_code = code if code >= 0 else 128 - code  # killed by a signal: 128 + signo
        return {
            "exitCode": exit_code,
            "reason": "Completed" if exit_code == 0 else "Error",
            "startedAt": started,
            "finishedAt": now_rfc3339(),
        }
