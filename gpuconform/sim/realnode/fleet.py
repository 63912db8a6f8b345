"""A cluster's real nodes together: the network they share, starting them, stopping them.

``sim up`` calls ``start_real_nodes`` after the control plane is up; ``sim down`` (and a failed
or interrupted start) calls ``stop_real_nodes``, which needs nothing but the state directory,
so it also cleans up after a SIGKILLed ``sim up``.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path

from gpuconform.sim import node_images, toolchain
from gpuconform.sim.nodes import SimNode, gpu_labels
from gpuconform.sim.realnode import network
from gpuconform.sim.realnode.network import ClusterNetwork
from gpuconform.sim.realnode.node import RealNode, RealNodeError, RealNodeSpec, stop_node_dir
from gpuconform.sim.realnode.nvidia_smi_build import nvidia_smi_binary

NETWORK_FILE = "real-nodes-network.json"
LABEL_RUNTIME = "gpuconform.io/node-runtime"


def cluster_network(cluster: str, state_dir: Path) -> ClusterNetwork:
    """The cluster's network, chosen once and remembered in the state directory. Called
    under the machine's cluster-creation lock: the bridge that takes the subnet exists before
    the next cluster looks for a free one (a subnet is free when no address is in it)."""
    path = state_dir / NETWORK_FILE
    if path.exists():
        data = json.loads(path.read_text())
        return ClusterNetwork(data["cluster"], network.ipaddress.ip_network(data["subnet"]))
    net = ClusterNetwork.for_cluster(cluster)
    state_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"cluster": cluster, "subnet": str(net.subnet)}))
    network.ensure_bridge(net)
    return net


def kwokctl_options(net: ClusterNetwork) -> dict:
    """kwokctl options so real nodes and their pods can reach the API server."""
    # The node's kubelet connects to the bridge address; pods to the Service IP.
    return {"kubeApiserverCertSANs": [net.gateway, network.KUBERNETES_SERVICE_IP]}


def kwokctl_patches(net: ClusterNetwork) -> list[dict]:
    """kwokctl componentsPatches: the API server on the bridge; KWOK off the real nodes."""
    return [
        {
            "name": "kube-apiserver",
            "extraArgs": [
                # Listen on the bridge too (kwokctl's bindAddress is loopback only).
                {"key": "bind-address", "value": "0.0.0.0", "override": True},
                # The `kubernetes` Service's endpoint: kube-proxy forwards pods there.
                {"key": "advertise-address", "value": net.gateway},
                # Logs and exec by the node's address: its name resolves nowhere.
                {"key": "kubelet-preferred-address-types", "value": "InternalIP"},
            ],
        },
        {
            "name": "kwok-controller",
            "extraArgs": [
                # kwokctl's binary runtime manages every node; real nodes are not KWOK's.
                {"key": "manage-all-nodes", "value": "false", "override": True},
                {
                    "key": "manage-nodes-with-annotation-selector",
                    "value": "kwok.x-k8s.io/node=fake",
                },
            ],
        },
    ]


# How often the main thread looks for a pending Ctrl-C while the nodes start.
SIGNAL_CHECK_S = 0.5


def start_real_nodes(
    cluster: str,
    state_dir: Path,
    kubeconfig: Path,
    api_port: int,
    nodes: list[SimNode],
    log=print,
    timeout_s: float = 60,
) -> list[str]:
    """Start the real nodes, all at once; return their names. Any failure (the first one is
    raised once every start has ended) leaves cleanup to the caller."""
    net = cluster_network(cluster, state_dir)
    network.ensure_bridge(net)
    # What every node shares is built once, before the nodes start side by side.
    toolchain.ensure_node_toolchain(log)
    node_images.build_archives()
    # Only a SIMULATED driver root carries our nvidia-smi; a host's driver has its own.
    if any(node.gpus > 0 and node.driver == "mock" for node in nodes):
        nvidia_smi_binary()
    reals = [_recorded_node(cluster, state_dir, net, nodes, index) for index in range(len(nodes))]
    return _start_side_by_side(reals, kubeconfig, api_port, log, timeout_s)


def _recorded_node(
    cluster: str, state_dir: Path, net: ClusterNetwork, nodes: list[SimNode], index: int
) -> RealNode:
    """The real node for ``nodes[index]``, recorded in the state directory before it starts."""
    node = nodes[index]
    spec = RealNodeSpec(
        name=node.name,
        index=index,
        gpus=node.gpus,
        gpu=node.gpu,
        # kubelet may set these: nvidia.com/* and *.node.kubernetes.io/* are not restricted.
        labels={**gpu_labels(node), **node.labels, LABEL_RUNTIME: "real"},
        taints=node.taints,
        fault=node.fault,
        accept_envvar_unprivileged=node.accept_envvar_unprivileged,
        driver=node.driver,
        default_runtime=node.default_runtime,
        nodes=len(nodes),
    )
    real = RealNode(spec, cluster, state_dir, net)
    real.dir.mkdir(parents=True, exist_ok=True)
    # Written first: `stop_real_nodes` must find a node that fails halfway through start.
    (real.dir / "node.json").write_text(
        json.dumps({"cgroup_root": real.cgroup_root, "host_veth": net.host_veth(index)})
    )
    return real


def _start_side_by_side(
    reals: list[RealNode], kubeconfig: Path, api_port: int, log, timeout_s: float
) -> list[str]:
    """Prepare, spawn and wait for each node in its own thread; a Ctrl-C stops them all."""
    cancelled = threading.Event()
    # Checking for a cancel and spawning a node is one step: a node spawned just after the
    # cancel stopped the others would run on, waiting out its timeout before `sim up` exits.
    spawning = threading.Lock()

    def start(real: RealNode) -> str:
        started = time.monotonic()
        real.prepare(kubeconfig, api_port)
        with spawning:
            if cancelled.is_set():
                raise RealNodeError(f"start of {real.spec.name} cancelled")
            real.spawn()
        real.wait_started(timeout_s)
        log(f"real node {real.spec.name} started in {time.monotonic() - started:.1f}s ({real.ip})")
        return real.spec.name

    with ThreadPoolExecutor(max_workers=max(1, len(reals))) as pool, _ctrl_c_flag() as ctrl_c:
        futures = [pool.submit(start, real) for real in reals]
        try:
            # In slices: the main thread looks at the flag between them.
            pending = set(futures)
            while pending and not ctrl_c.is_set():
                _, pending = wait(pending, timeout=SIGNAL_CHECK_S)
            if ctrl_c.is_set():
                raise KeyboardInterrupt
        except BaseException:
            # Ctrl-C or SIGTERM: each thread waits on its node's `ready` line; stopping the
            # nodes ends those waits now instead of at their timeout, so the caller's cleanup
            # runs at once (it stops the nodes again, from the state directory).
            with spawning:
                cancelled.set()
            for real in reals:
                # Every node, whatever one stop raises (a node's own thread may be stopping
                # it at the same moment): one left running would hold its thread, and this
                # exit, until its start timed out. The caller's cleanup stops them all again.
                with contextlib.suppress(Exception):
                    real.stop()
            raise
    return [future.result() for future in futures]


@contextlib.contextmanager
def _ctrl_c_flag() -> Iterator[threading.Event]:
    """Ctrl-C as a flag while the nodes start, not as a KeyboardInterrupt raised wherever the
    main thread is: raised inside concurrent.futures' wait, between taking the futures' locks
    and giving them back, it left a lock held, and a node's thread then hung setting its
    result (seen once in make test). A shell's ignored SIGINT stays ignored."""
    flag = threading.Event()
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or previous is signal.SIG_IGN:
        yield flag
        return
    signal.signal(signal.SIGINT, lambda *_: flag.set())
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)


def stop_real_nodes(state_dir: Path) -> None:
    """Stop every real node recorded in ``state_dir`` and remove the cluster's bridge."""
    for info in sorted((state_dir / "nodes").glob("*/node.json")):
        data = json.loads(info.read_text())
        stop_node_dir(info.parent, data["cgroup_root"], data["host_veth"])
    path = state_dir / NETWORK_FILE
    if path.exists():
        net = json.loads(path.read_text())
        network.delete_bridge(
            ClusterNetwork(net["cluster"], network.ipaddress.ip_network(net["subnet"]))
        )


def start_failure(state_dir: Path, error: Exception) -> str:
    """One line for a start that failed: the error, why each real node that gave up stopped,
    and where their logs are kept (the state directory goes with the cleanup)."""
    kept = keep_node_logs(state_dir)
    where = [f"the real nodes' logs are kept in {kept}"] if kept else []
    return "; ".join([str(error), *stopped_nodes(state_dir), *where])


def stopped_nodes(state_dir: Path) -> list[str]:
    """Why each real node of the cluster that is no longer running stopped: the node init's
    last line (which component exited) and that component's last log line."""
    reasons = []
    for info in sorted((state_dir / "nodes").glob("*/node.json")):
        node_dir = info.parent
        try:
            pid = int((node_dir / "unshare.pid").read_text())
        except (OSError, ValueError):
            continue  # never spawned: its start failed and said so itself
        if _running(pid):
            continue
        said = _last_line(node_dir / "init.log") or "its init printed nothing"
        component = re.match(r"\[node-init\] (\S+) exited", said)
        last = _last_line(node_dir / "logs" / f"{component[1]}.log") if component else ""
        reasons.append(f"{node_dir.name} stopped: {said}" + (f" (last: {last})" if last else ""))
    return reasons


def keep_node_logs(state_dir: Path) -> Path | None:
    """Copy every real node's logs (its init's and its components') out of the state
    directory, which the failed start's cleanup removes; return where they went."""
    logs = sorted((state_dir / "nodes").glob("*/init.log"))
    if not logs:
        return None
    kept = Path(tempfile.mkdtemp(prefix=f"{state_dir.name}-node-logs-"))
    for init_log in logs:
        node_dir = init_log.parent
        target = kept / node_dir.name
        target.mkdir()
        shutil.copy2(init_log, target)
        for component_log in (node_dir / "logs").glob("*.log"):
            shutil.copy2(component_log, target)
    return kept


def _running(pid: int) -> bool:
    """Alive, not a zombie: `sim up` never reaps a node's `unshare` that died under it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _last_line(path: Path) -> str:
    try:
        lines = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return lines[-1][-300:] if lines else ""


# Each node component and how it reports its version (the first line that names it).
VERSION_COMMANDS = {
    "kubelet": ["kubelet", "--version"],
    "kube-proxy": ["kube-proxy", "--version"],
    "containerd": ["containerd", "--version"],
    "runc": ["runc", "--version"],
    "CNI plugins": ["bridge", "--version"],
    "nvidia-container-toolkit": ["nvidia-ctk", "--version"],
}
VERSION = re.compile(r"v?\d+\.\d+\.\d+\S*")


def component_versions(bin_dir: Path) -> dict[str, str]:
    """What each node component says its version is (run, not read from the pins)."""
    versions = {}
    for name, (binary, *args) in VERSION_COMMANDS.items():
        proc = subprocess.run([str(bin_dir / binary), *args], capture_output=True, text=True)
        match = VERSION.search(proc.stdout + proc.stderr)
        versions[name] = match.group(0) if match else "unknown"
    return versions


def node_versions(state_dir: Path) -> dict[str, str]:
    """For the report header: each real node and its components' versions, one line each."""
    lines = {}
    for plan_path in sorted((state_dir / "nodes").glob("*/plan.json")):
        versions = component_versions(Path(json.loads(plan_path.read_text())["bin"]))
        lines[plan_path.parent.name] = ", ".join(f"{k} {v}" for k, v in versions.items())
    return lines
