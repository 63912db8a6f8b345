"""PID 1 of a real node: runs inside the node's own PID, mount and network namespaces.

Started as ``unshare --pid --fork --mount-proc --mount --net --propagation private
--kill-child -- python -m gpuconform.sim.realnode.init <node dir>``. It bind-mounts the node's
directories on the fixed paths kubelet, containerd, CNI and the NVIDIA runtime use, waits for
its parent to wire the network (a line on stdin), then gives containerd's root the node's
images (image_seed.py), starts containerd, kubelet and kube-proxy and prints ``ready``. When it
exits, the kernel kills every process of the node's PID namespace (shims and containers
too): nothing outlives it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from gpuconform.sim.realnode import driver_root, image_seed

# Fixed path on a node -> directory under the node's dir mounted there (per node).
NODE_MOUNTS = {
    "/var/lib/kubelet": "var/lib/kubelet",
    "/var/lib/containerd": "var/lib/containerd",
    "/run/containerd": "run/containerd",
    "/var/lib/cni": "var/lib/cni",
    "/etc/cni/net.d": "etc/cni/net.d",
    "/etc/cdi": "etc/cdi",
    "/var/run/cdi": "run/cdi",
    "/etc/containerd": "etc/containerd",
    "/etc/nvidia-container-runtime": "etc/nvidia-container-runtime",
    "/var/log/pods": "var/log/pods",
    "/var/log/containers": "var/log/containers",
    # Where the GPU Operator's driver container puts a node's driver root; the chart's
    # nvidiaDriverRoot names it, so one value serves every node.
    driver_root.NODE_DRIVER_ROOT: driver_root.ROOT_IN_NODE_DIR.removeprefix("root/"),
}
# Where the GPU Operator installs the container toolkit on a node: the chart's
# cdi.nvidiaHookPath points into it, so the plugin's CDI spec names a hook every node has.
TOOLKIT_DIR = "/usr/local/nvidia/toolkit"
CONTAINERD_SOCKET = "/run/containerd/containerd.sock"
CONTAINERD_ROOT = "/var/lib/containerd"
CONTAINERD_CONFIG = "/etc/containerd/config.toml"
SOCKET_WAIT_S = 30
CRI_VERSION = "/runtime.v1.RuntimeService/Version"


def log(line: str) -> None:
    print(f"[node-init] {line}", file=sys.stderr, flush=True)


def mount_node_dirs(node_dir: Path) -> None:
    for target, rel in NODE_MOUNTS.items():
        source = node_dir / "root" / rel
        source.mkdir(parents=True, exist_ok=True)
        # The mount point on the host's filesystem: an empty directory, created once.
        Path(target).mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "--bind", str(source), target], check=True)
    # Shared, as systemd leaves a host's mounts: containerd refuses a Bidirectional or
    # HostToContainer volume (the DRA kubelet plugin's) on a private mount. The namespace was
    # made private first, so nothing propagates back to the host.
    subprocess.run(["mount", "--make-rshared", "/"], check=True)


def mount_toolkit(bin_dir: str) -> None:
    """The toolkit's binaries where the GPU Operator puts them, when the host lets us."""
    try:
        Path(TOOLKIT_DIR).mkdir(parents=True, exist_ok=True)
    except OSError as err:
        # The lent GPU host keeps its own driver under a read-only /usr/local/nvidia. Only a
        # chart whose cdi.nvidiaHookPath points here needs the mount (values/cdi-strict.yaml);
        # the gpu-host profiles keep the chart's defaults.
        log(f"toolkit not mounted at {TOOLKIT_DIR}: {err.strerror}")
        return
    subprocess.run(["mount", "--bind", "-o", "ro", bin_dir, TOOLKIT_DIR], check=True)


def wait_for_socket(path: str, proc: subprocess.Popen, timeout_s: float) -> None:
    """Until containerd accepts connections; fails at once when containerd has exited."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"containerd exited with {proc.returncode}; see containerd.log")
        with socket.socket(socket.AF_UNIX) as sock:
            try:
                sock.connect(path)
                return
            except OSError:
                pass
        time.sleep(0.05)  # polling a socket that has no readiness event of its own
    raise RuntimeError(f"containerd did not listen on {path} within {timeout_s:.0f}s")


def start(cmd: list[str], log_path: Path, env: dict[str, str]) -> subprocess.Popen:
    with log_path.open("ab") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)


def wait_for_cri(path: str, proc: subprocess.Popen, timeout_s: float) -> None:
    """Until containerd's CRI answers the call kubelet makes first (RuntimeService.Version).

    containerd serves its socket before its CRI plugin has recovered its state; a kubelet
    started then exits at once (`validate CRI v1 runtime API ...: server is not initialized
    yet`), seen under load. systemd would restart it; this init waits instead."""
    import grpc  # only the node's init needs it

    deadline = time.monotonic() + timeout_s
    last = "no answer"
    with grpc.insecure_channel(f"unix://{path}") as channel:
        # VersionRequest{version: ""} is the empty message: no generated stubs needed.
        version = channel.unary_unary(
            CRI_VERSION, request_serializer=bytes, response_deserializer=bytes
        )
        while (remaining := deadline - time.monotonic()) > 0:
            if proc.poll() is not None:
                raise RuntimeError(f"containerd exited with {proc.returncode}; see containerd.log")
            try:
                version(b"", timeout=min(remaining, 5), wait_for_ready=True)
                return
            except grpc.RpcError as err:
                if err.code() not in (
                    grpc.StatusCode.UNAVAILABLE,
                    grpc.StatusCode.DEADLINE_EXCEEDED,
                ):
                    raise RuntimeError(
                        f"containerd's CRI refused {CRI_VERSION}: {err.details()}"
                    ) from None
                last = err.details() or err.code().name
            time.sleep(0.05)  # the CRI plugin has no readiness event of its own
    raise RuntimeError(f"containerd's CRI did not answer within {timeout_s:.0f}s: {last}")


def main(argv: list[str]) -> int:
    node_dir = Path(argv[0])
    plan = json.loads((node_dir / "plan.json").read_text())
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # PID 1 has no default handler
    mount_node_dirs(node_dir)
    mount_toolkit(plan["bin"])
    for target, source in plan.get("binds", {}).items():
        # Under the node's own driver-root directory (NODE_MOUNTS), so nothing lands on the host.
        Path(target).mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "--rbind", source, target], check=True)
    print("mounted", flush=True)  # the parent wires the network into our namespace now
    if sys.stdin.readline().strip() != "network-ready":
        log("the parent gave up before wiring the network")
        return 1
    env = dict(os.environ, PATH=f"{plan['bin']}:{os.environ.get('PATH', '/usr/sbin:/usr/bin')}")
    logs = node_dir / "logs"
    logs.mkdir(exist_ok=True)
    archives = {ref: Path(path) for ref, path in plan["images"].items()}
    image_seed.seed(Path(CONTAINERD_ROOT), archives, Path(plan["bin"]), Path(CONTAINERD_CONFIG))
    children = {"containerd": start(plan["containerd"], logs / "containerd.log", env)}
    wait_for_socket(CONTAINERD_SOCKET, children["containerd"], SOCKET_WAIT_S)
    wait_for_cri(CONTAINERD_SOCKET, children["containerd"], SOCKET_WAIT_S)
    for name in ("kubelet", "kube-proxy"):
        children[name] = start(plan[name], logs / f"{name}.log", env)
    print("ready", flush=True)
    # Reap everything (PID 1 inherits orphans: shims, hooks) until a node component exits.
    while True:
        pid, status = os.wait()
        for name, proc in children.items():
            if proc.pid == pid:
                log(f"{name} exited ({os.waitstatus_to_exitcode(status)}); the node stops")
                return 1


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except Exception as exc:
        log(f"failed: {exc}")
        sys.exit(1)
