"""Start, wait for and stop one real node of the simulated cluster.

The node's processes (containerd, kubelet, kube-proxy, shims, containers) all live in the PID
namespace of its init (``init.py``); ``unshare --kill-child`` kills that init when ``unshare``
dies, and the kernel then kills the whole namespace. What stays on the host is removed by
``RealNode.stop``: the node's cgroups, the host end of its veth (gone with its namespace) and
its directory.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from string import Template

import yaml

from gpuconform.gpuhost import host_driver
from gpuconform.sim import node_images, toolchain
from gpuconform.sim.faults import load_faults
from gpuconform.sim.realnode import cgroups, dns, driver_root, leftovers, network
from gpuconform.sim.realnode.network import ClusterNetwork

TEMPLATES = Path(__file__).with_name("templates")


class RealNodeError(RuntimeError):
    """A real node did not start or stop; the message names it and where its logs are."""


@dataclass
class RealNodeSpec:
    """One real node: its name, place in the cluster's network, GPUs and registration."""

    name: str
    index: int
    gpus: int
    gpu: object | None = None  # a GpuSpec (nodes.GpuModel) when gpus > 0
    labels: dict[str, str] = field(default_factory=dict)
    taints: list[dict[str, str]] = field(default_factory=list)
    fault: str | None = None
    accept_envvar_unprivileged: bool = True  # the toolkit's default
    driver: str = "mock"  # or "host": the host's real driver (gpuconform/gpuhost)
    default_runtime: str = "nvidia"  # containerd's; "runc": a runtime never set up for GPUs
    nodes: int = 1  # the cluster's real nodes: a pod route to each other one


# containerd's own default CDI spec directories (and the toolkit's).
CDI_DIRS = ["/etc/cdi", "/var/run/cdi"]


def _render(name: str, **values: object) -> str:
    return Template((TEMPLATES / name).read_text()).substitute(**values)


class RealNode:
    def __init__(
        self, spec: RealNodeSpec, cluster: str, state_dir: Path, net: ClusterNetwork
    ) -> None:
        self.spec = spec
        self.cluster = cluster
        self.net = net
        self.dir = state_dir / "nodes" / spec.name
        self.proc: subprocess.Popen | None = None

    @property
    def pid_file(self) -> Path:
        return self.dir / "unshare.pid"

    @property
    def cgroup_root(self) -> str:
        return f"/gpuconform/{self.cluster}/{self.spec.name}"

    @property
    def ip(self) -> str:
        return self.net.node_ip(self.spec.index)

    # -- preparation (host side) -------------------------------------------------------
    def prepare(self, kubeconfig: Path, api_port: int) -> None:
        bin_dir = toolchain.ensure_node_toolchain()
        root = self.dir / "root"
        self._write_runtime_configs(root, bin_dir)
        node_kubeconfig = self._write_kubernetes_configs(kubeconfig, api_port)
        binds: dict[str, str] = {}
        if self.spec.gpus > 0:
            binds = self._prepare_driver(root / "etc/cdi/nvidia.yaml")
        labels = ",".join(f"{k}={v}" for k, v in sorted(self.spec.labels.items()))
        archives = node_images.build_archives()  # every image images.yaml defines
        plan = {
            "bin": str(bin_dir),
            "binds": binds,  # node path -> host path, bound in the node's mount namespace
            "images": {ref: str(path) for ref, path in archives.items()},
            "containerd": [str(bin_dir / "containerd"), "--config", "/etc/containerd/config.toml"],
            "kubelet": [
                str(bin_dir / "kubelet"),
                f"--config={self.dir / 'kubelet.yaml'}",
                f"--kubeconfig={node_kubeconfig}",
                f"--hostname-override={self.spec.name}",
                f"--node-ip={self.ip}",
                *([f"--node-labels={labels}"] if labels else []),
                "--v=2",
            ],
            "kube-proxy": [str(bin_dir / "kube-proxy"), f"--config={self.dir / 'kube-proxy.yaml'}"],
        }
        (self.dir / "plan.json").write_text(json.dumps(plan, indent=2))
        cgroups.create(self.cgroup_root)

    def _write_runtime_configs(self, root: Path, bin_dir: Path) -> None:
        """containerd's, the NVIDIA container runtime's and CNI's config in the node's root."""
        for rel in ("etc/containerd", "etc/cni/net.d", "etc/cdi", "etc/nvidia-container-runtime"):
            (root / rel).mkdir(parents=True, exist_ok=True)
        (root / "etc/containerd/config.toml").write_text(
            _render(
                "containerd.toml",
                bin=bin_dir,
                default_runtime=self.spec.default_runtime,
                # A fault may narrow them (faults.yaml cdi-dirs-etc-only); TOML reads JSON's list.
                cdi_spec_dirs=json.dumps(
                    load_faults().get(self.spec.fault or "", {}).get("cdi_spec_dirs", CDI_DIRS)
                ),
                snapshotter="native" if filesystem_type(self.dir) == "overlay" else "overlayfs",
            )
        )
        (root / "etc/nvidia-container-runtime/config.toml").write_text(
            _render(
                "nvidia-container-runtime.toml",
                bin=bin_dir,
                accept_envvar=str(self.spec.accept_envvar_unprivileged).lower(),
            )
        )
        (root / "etc/cni/net.d/10-gpuconform.conflist").write_text(
            _render("cni.conflist", pod_cidr=self.net.pod_cidr(self.spec.index))
        )

    def _write_kubernetes_configs(self, kubeconfig: Path, api_port: int) -> Path:
        """The node's kubeconfig (the API server through the gateway), the kubelet's and
        kube-proxy's config; returns the node's kubeconfig."""
        node_kubeconfig = self.dir / "kubeconfig.yaml"
        config = yaml.safe_load(kubeconfig.read_text())
        for cluster in config["clusters"]:
            cluster["cluster"]["server"] = f"https://{self.net.gateway}:{api_port}"
        node_kubeconfig.write_text(yaml.safe_dump(config))
        (self.dir / "kubelet.yaml").write_text(
            _render(
                "kubelet.yaml",
                cgroup_root=self.cgroup_root,
                node_ip=self.ip,
                taints=json.dumps(self.spec.taints),
                cluster_dns=network.CLUSTER_DNS_IP,
                cluster_domain=dns.CLUSTER_DOMAIN,
            )
        )
        (self.dir / "kube-proxy.yaml").write_text(
            _render(
                "kube-proxy.yaml",
                kubeconfig=node_kubeconfig,
                node_name=self.spec.name,
                node_ip=self.ip,
                cluster_cidr=network.POD_CIDR,
            )
        )
        return node_kubeconfig

    def _prepare_driver(self, spec_path: Path) -> dict[str, str]:
        """The driver root and its CDI spec; a fault (faults.yaml) changes the driver root.

        ``nvml: absent`` (broken-driver): no libnvidia-ml.so in the driver root. nvidia-ctk
        then cannot write a spec, as on a real node whose driver is broken, and the node runs
        without one: containers that ask for GPUs fail in the runtime (unresolvable CDI devices).
        ``nvml_devices: 0`` (no-devices): nvidia-ctk refuses to write a spec without devices
        (``invalid device, empty device edits``), with the same result. ``cdi_spec: absent``
        (cdi-spec-missing): the driver root is whole, but nvidia-ctk is never run.
        Returns the bind mounts the node needs for its driver (a host driver's layout).
        """
        fault = load_faults().get(self.spec.fault or "", {})
        binds: dict[str, str] = {}
        spec_expected = fault.get("nvml") != "absent" and fault.get("nvml_devices") != 0
        if self.spec.driver == "host":
            hidden = fault.get("driver_root") == "hidden"
            spec_expected = not hidden
            host_driver.record_host_gpus(self.dir)
            driver = host_driver.driver_root(self.dir, hidden)
            binds = {} if hidden else host_driver.operator_layout(driver_root.NODE_DRIVER_ROOT)
        else:
            driver = driver_root.build_driver_root(
                self.dir / driver_root.ROOT_IN_NODE_DIR,
                self.spec.name,
                self.spec.gpu,
                self.spec.gpus,
                fault,
            )
        if fault.get("cdi_spec") == "absent":
            (self.dir / "cdi-generate.log").write_text("not run: fault cdi-spec-missing\n")
            return binds
        try:
            driver_root.generate_cdi_spec(driver, spec_path)
        except driver_root.DriverRootError as err:
            if spec_expected:
                raise
            (self.dir / "cdi-generate.log").write_text(f"{err}\n")
        return binds

    # -- lifecycle ---------------------------------------------------------------------
    def spawn(self) -> None:
        """Start the node's init in new namespaces; `stop` can find it from here on."""
        log = (self.dir / "init.log").open("ab")
        self.proc = subprocess.Popen(
            [
                "unshare",
                "--pid",
                "--fork",
                "--mount-proc",
                "--mount",
                "--net",
                "--propagation",
                "private",
                "--kill-child",
                sys.executable,
                "-m",
                "gpuconform.sim.realnode.init",
                str(self.dir),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            start_new_session=True,  # the node outlives `sim up`, as the cluster does
        )
        log.close()
        self.pid_file.write_text(str(self.proc.pid))

    def wait_started(self, timeout_s: float = 60) -> None:
        """Wire the spawned node's network and wait for its ``ready``; stop it on any failure."""
        try:
            self._expect("mounted", timeout_s)  # the namespaces exist from here on
            self._record_namespaces()
            network.connect_node(self.net, self.spec.index, self.proc.pid, self.spec.nodes)
            self.proc.stdin.write(b"network-ready\n")
            self.proc.stdin.flush()
            self._expect("ready", timeout_s)
        except BaseException:
            self.stop()
            raise

    def _record_namespaces(self) -> None:
        """Remember the node's namespaces, so a leftover process in them can be found."""
        record_path = self.dir / "node.json"
        record = json.loads(record_path.read_text()) if record_path.exists() else {}
        record["namespaces"] = leftovers.namespace_inodes(self.init_pid())
        record_path.write_text(json.dumps(record))

    def _expect(self, word: str, timeout_s: float) -> None:
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout_s)
        line = self.proc.stdout.readline().decode().strip() if ready else ""
        if line != word:
            tail = (self.dir / "init.log").read_text(errors="replace").strip().splitlines()[-3:]
            raise RealNodeError(
                f"real node {self.spec.name} did not start within {timeout_s:.0f}s: "
                f"{' | '.join(tail) or 'no output'} (logs in {self.dir})"
            )

    def init_pid(self) -> int:
        """The node's init, PID 1 of its namespace (``unshare``'s one child)."""
        pid = self.proc.pid
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        if len(children) != 1:
            raise RealNodeError(f"unshare (pid {pid}) of {self.spec.name} has no single init")
        return int(children[0])

    def stop(self) -> None:
        """Kill the node's namespace and remove what it left on the host (idempotent)."""
        stop_node_dir(self.dir, self.cgroup_root, self.net.host_veth(self.spec.index))


def filesystem_type(path: Path) -> str:
    """The type of the filesystem ``path`` lives on (the longest mount point above it)."""
    best, kind = "", ""
    resolved = str(path.resolve())
    for line in Path("/proc/self/mounts").read_text().splitlines():
        _, mount_point, fstype, *_ = line.split()
        inside = resolved == mount_point or resolved.startswith(mount_point.rstrip("/") + "/")
        if inside and len(mount_point) >= len(best):
            best, kind = mount_point, fstype
    return kind


def stop_node_dir(node_dir: Path, cgroup_root: str, host_veth: str) -> None:
    try:
        pid = int((node_dir / "unshare.pid").read_text())
    except (OSError, ValueError):
        pid = None
    if pid is not None:
        _kill_and_wait(pid)
    _kill_namespace_members(node_dir)
    cgroups.remove(cgroup_root)
    network.ip("link", "del", host_veth, check=False)
    (node_dir / "unshare.pid").unlink(missing_ok=True)


def _kill_namespace_members(node_dir: Path, timeout_s: float = 10) -> None:
    """Until no process is left in the node's namespaces. Normally the kernel has killed them
    with the node's init; this also catches an init whose ``unshare`` died before it could
    pass the kill on, and waits for the last exits to finish."""
    try:
        record = json.loads((node_dir / "node.json").read_text())
    except (OSError, ValueError):
        return
    inodes = set((record.get("namespaces") or {}).values())
    deadline = time.monotonic() + timeout_s
    marker = leftovers.cluster_marker(node_dir.parent.parent)
    while members := leftovers.pids_in(inodes, [record["cgroup_root"]], marker):
        for member in members:
            with contextlib.suppress(ProcessLookupError):
                os.kill(member, signal.SIGKILL)
        if time.monotonic() > deadline:
            raise RealNodeError(f"processes survive in a real node's namespaces: {members}")
        time.sleep(0.05)  # a killed process leaves /proc when its parent reaps it


def _kill_and_wait(pid: int, timeout_s: float = 10) -> None:
    """SIGKILL ``unshare`` and its process group: --kill-child takes the node's init, the
    kernel the rest of the namespace. The group too, because --kill-child is set by the
    forked child itself: an ``unshare`` killed before that leaves an init that runs on, holding
    the pipe its start waits on (seen under load, a Ctrl-C during start). The group is the
    node's own: ``unshare`` starts a session (`spawn`), and the init stays in it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return
        except ChildProcessError:  # not our child (an earlier `sim up` started it)
            if not Path(f"/proc/{pid}").exists():
                return
        time.sleep(0.05)
    raise RealNodeError(f"unshare (pid {pid}) of a real node did not exit within {timeout_s}s")
