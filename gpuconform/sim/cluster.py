"""Start and stop the simulated GPU cluster: a real control plane (etcd, kube-apiserver,
kube-controller-manager, kube-scheduler) run by kwokctl's binary runtime, and the node
profile's nodes: real nodes (realnode/: only their GPUs SIMULATED) and KWOK nodes, whose
kubelet and container runtime the sim agent SIMULATES (started only when there are any).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from gpuconform.sim import toolchain
from gpuconform.sim.chart_repo import start as start_chart_repo
from gpuconform.sim.kubelet.node import socket_root
from gpuconform.sim.local import (
    SimClusterError,
    SimPaths,
    creation_lock,
    free_port,
    pid_alive,
    port_in_use,
    wait_pid_gone,
)
from gpuconform.sim.nodes import SimNode, load_node_profile, node_manifest
from gpuconform.sim.realnode import dns, fleet
from gpuconform.sim.realnode.node import RealNodeError
from gpuconform.wait import WaitTimeout

DEFAULT_NAME = "gpuconform-sim"
STAGES_FILE = Path(__file__).with_name("stages.yaml")
PROJECT_ROOT = Path(__file__).resolve().parents[2]
# SIMULATED GPU tools on the PATH of simulated containers: module that implements each.
# nvidia-smi and vectorAdd read the node's NVML (NVIDIA's mock library); no real
# nvidia-container-cli or ldconfig of a GPU host exists here.
SIM_TOOLS = {
    "nvidia-smi": "gpuconform.sim.tools.__main__",
    "vectorAdd": "gpuconform.sim.tools.__main__",
    "nvidia-container-cli": "gpuconform.sim.fake_tools",
    "ldconfig": "gpuconform.sim.fake_tools",
}
# For benchmarks: one audit line per finished request, with its verb and user agent.
AUDIT_POLICY = """apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived, ResponseStarted]
rules:
- level: Metadata
"""


class SimCluster:
    """One named simulated cluster; `up()` and `down()` are idempotent from the outside."""

    def __init__(self, name: str = DEFAULT_NAME, log=print) -> None:
        self.paths = SimPaths(name)
        self.name = name
        self.log = log

    # -- helpers -------------------------------------------------------------------------
    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["KWOK_WORKDIR"] = str(self.paths.kwok_workdir)
        # KWOK runs `kubectl exec` commands itself: the simulated GPU tools must be first on
        # its PATH.
        env["PATH"] = f"{self.paths.simbin}:{toolchain.bin_dir()}:{env.get('PATH', '')}"
        return env

    def _kwokctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        kwokctl = toolchain.require_binary("kwokctl")
        proc = subprocess.run(
            [str(kwokctl), *args], env=self._env(), capture_output=True, text=True
        )
        if check and proc.returncode != 0:
            detail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
            raise SimClusterError(
                f"kwokctl {args[0]} {args[1] if len(args) > 1 else ''} failed: "
                + " | ".join(detail)
            )
        return proc

    def exists(self) -> bool:
        return self.paths.cluster_dir.exists()

    def agent_running(self) -> bool:
        try:
            pid = int(self.paths.agent_pid.read_text())
        except (OSError, ValueError):
            return False
        return pid_alive(pid)

    def apiserver_port(self) -> int | None:
        try:
            config = yaml.safe_load(self.paths.kubeconfig.read_text())
            server = config["clusters"][0]["cluster"]["server"]
            return int(server.rsplit(":", 1)[1])
        except (OSError, KeyError, IndexError, ValueError, TypeError):
            return None

    def running(self) -> bool:
        port = self.apiserver_port()
        return self.exists() and port is not None and port_in_use(port)

    def _write_simbin(self) -> None:
        self.paths.simbin.mkdir(parents=True, exist_ok=True)
        for tool, module in SIM_TOOLS.items():
            script = self.paths.simbin / tool
            script.write_text(
                f"#!{sys.executable}\n"
                "# SIMULATED GPU tool of the gpuconform sim cluster.\n"
                f"import sys\nfrom {module} import main\n"
                f"sys.exit(main([{tool!r}] + sys.argv[1:]))\n"
            )
            script.chmod(0o755)

    @property
    def audit_log(self) -> Path:
        """The API server's audit log, when the cluster was started with `audit=True`."""
        return self.paths.cluster_dir / "logs" / "audit.log"

    def _write_config(self, port: int, audit: bool = False, real_nodes: bool = False) -> None:
        bins = {name: str(toolchain.require_binary(name)) for name in toolchain.binary_names()}
        kube_version = toolchain.kubernetes_version()
        options = {
            "runtime": "binary",
            "kubeVersion": kube_version,
            "kubeApiserverPort": port,
            "etcdBinary": bins["etcd"],
            "kubeApiserverBinary": bins["kube-apiserver"],
            "kubeControllerManagerBinary": bins["kube-controller-manager"],
            "kubeSchedulerBinary": bins["kube-scheduler"],
            "kubectlBinary": bins["kubectl"],
            "kwokControllerBinary": bins["kwok"],
            "enableCRDs": ["Exec", "Logs"],
            "bindAddress": "127.0.0.1",
            "disableQPSLimits": True,
        }
        patches: list[dict] = []
        if real_nodes:
            net = fleet.cluster_network(self.name, self.paths.state_dir)
            options |= fleet.kwokctl_options(net)
            patches = fleet.kwokctl_patches(net)
        if audit:
            policy = self.paths.state_dir / "audit-policy.yaml"
            policy.write_text(AUDIT_POLICY)
            options["kubeAuditPolicy"] = str(policy)
        docs = [
            {
                "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
                "kind": "KwokctlConfiguration",
                "options": options,
                **({"componentsPatches": patches} if patches else {}),
            },
            *yaml.safe_load_all(STAGES_FILE.read_text()),
        ]
        self.paths.config_file.write_text(yaml.safe_dump_all(docs, sort_keys=False))

    # -- lifecycle -----------------------------------------------------------------------
    def up(
        self,
        node_profile: str = "healthy",
        port: int | None = None,
        timeout_s: float = 120,
        audit: bool = False,
    ):
        """Start the cluster with the given node profile; raise SimClusterError on any problem.

        A failed start tears down whatever it started, so no half cluster is left running.
        """
        nodes = load_node_profile(node_profile)  # validate before starting anything
        self._check_can_start(port)
        toolchain.ensure_toolchain(self.log)
        if self.exists():  # a stale, stopped cluster from an earlier crash
            self._kwokctl("delete", "cluster", "--name", self.name, check=False)
        started = time.monotonic()
        try:
            self._start(nodes, port, audit, timeout_s)
        except (WaitTimeout, RealNodeError) as err:
            # Said in one line, with what a real node that gave up printed last.
            message = fleet.start_failure(self.paths.state_dir, err)
            self.down(quiet=True)
            raise SimClusterError(message) from None
        except BaseException:
            self.down(quiet=True)
            raise
        self.log(
            f"simulated cluster {self.name!r} ready: {len(nodes)} nodes in "
            f"{time.monotonic() - started:.1f}s; kubeconfig {self.paths.kubeconfig}"
        )
        return self.paths.kubeconfig

    def _start(self, nodes: list[SimNode], port: int | None, audit: bool, timeout_s: float):
        """Everything `up` starts, in order; `up` cleans up after any failure."""
        real_nodes = [n for n in nodes if n.is_real]
        kwok_nodes = [n for n in nodes if not n.is_real]
        fleet.stop_real_nodes(self.paths.state_dir)  # a stale node of a crashed `up`
        shutil.rmtree(self.paths.state_dir, ignore_errors=True)
        self.paths.state_dir.mkdir(parents=True)
        self._write_simbin()
        port = self._start_control_plane(port, audit, bool(real_nodes), timeout_s)
        # The sim agent is the kubelet of KWOK nodes only; real nodes run their own.
        if kwok_nodes:
            self._start_agent()
        else:
            self.paths.device_plugin_mode.write_text("real")  # the image's own binary
        start_chart_repo(self.paths)
        if real_nodes:
            # Sent first, so the scheduler places CoreDNS as soon as a real node is Ready.
            dns.create(self.paths.kubeconfig)
            fleet.start_real_nodes(
                self.name,
                self.paths.state_dir,
                self.paths.kubeconfig,
                port,
                real_nodes,
                self.log,
                timeout_s,
            )
        self._create_nodes(kwok_nodes)
        self._wait_nodes_ready([n.name for n in nodes], timeout_s)
        if real_nodes:
            dns_started = time.monotonic()
            dns.wait_ready(self.paths.kubeconfig, timeout_s, self.log)
            self.log(f"cluster DNS ready in {time.monotonic() - dns_started:.1f}s ({dns.IMAGE})")

    def _check_can_start(self, port: int | None) -> None:
        """SimClusterError if this cluster already runs or the asked-for port is taken."""
        if self.running() or self.agent_running():
            raise SimClusterError(
                f"simulated cluster {self.name!r} is already running; "
                "run `gpuconform sim down` first (or use it as it is)"
            )
        if port is not None and port_in_use(port):
            raise SimClusterError(f"port {port} is already in use; choose another with --port")

    def _start_control_plane(
        self, port: int | None, audit: bool, real_nodes: bool, timeout_s: float
    ) -> int:
        """kwokctl's control plane on `port` (a free one if None); returns the port."""
        with creation_lock(self.paths):
            # Chosen under the lock: no other cluster is between choosing and binding.
            port = port or free_port()
            self._write_config(port, audit, real_nodes=real_nodes)
            self.log(
                f"starting simulated cluster {self.name!r} (control plane on 127.0.0.1:{port})"
            )
            self._kwokctl(
                "create",
                "cluster",
                "--name",
                self.name,
                "--config",
                str(self.paths.config_file),
                "--wait",
                f"{int(timeout_s)}s",
            )
        return port

    def _start_agent(self) -> None:
        log_file = open(self.paths.agent_log, "ab")  # noqa: SIM115 - handed to the child
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gpuconform.sim.agent",
                "--kubeconfig",
                str(self.paths.kubeconfig),
                "--state-dir",
                str(self.paths.state_dir),
                "--simbin",
                str(self.paths.simbin),
            ],
            stdout=subprocess.PIPE,
            stderr=log_file,
            env=self._env(),
            start_new_session=True,
        )
        log_file.close()
        self.paths.agent_pid.write_text(str(proc.pid))
        line = proc.stdout.readline().decode().strip() if proc.stdout else ""
        if not line.startswith("ready device-plugin="):
            raise SimClusterError(f"the sim agent did not start; see {self.paths.agent_log}")
        mode = line.removeprefix("ready device-plugin=")
        self.paths.device_plugin_mode.write_text(mode)
        if mode != "real":
            self.log(f"device plugin: {mode}")

    def real_plugin_pids(self, node: str | None = None) -> list[int]:
        """PIDs of the real device-plugin processes serving this cluster's simulated nodes
        (or one node's: a container process works in its node's root directory)."""
        marker = str(self.paths.state_dir).encode()  # their env points into our state dir
        pids = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                exe = os.readlink(f"/proc/{pid}/exe")
                environ = Path(f"/proc/{pid}/environ").read_bytes()
                cwd = os.readlink(f"/proc/{pid}/cwd")
            except OSError:
                continue  # gone meanwhile, or not ours to read
            if not exe.endswith("/nvidia-device-plugin") or marker not in environ:
                continue
            if node is None or cwd == str(self.paths.state_dir / "hosts" / node):
                pids.append(int(pid))
        return pids

    def device_plugin_mode(self) -> str | None:
        """ "real" when simulated nodes run NVIDIA's real plugin, else why not; None if down."""
        try:
            return self.paths.device_plugin_mode.read_text().strip()
        except OSError:
            return None

    def chart_repo(self) -> str | None:
        """URL of the simulated chart repository, while the cluster runs."""
        try:
            return self.paths.chart_repo_url.read_text().strip()
        except OSError:
            return None

    def _create_nodes(self, nodes: list[SimNode]) -> None:
        from kubernetes import client, config

        api = client.CoreV1Api(config.new_client_from_config(str(self.paths.kubeconfig)))
        kube_version = toolchain.kubernetes_version()
        for node in nodes:
            api.create_node(node_manifest(node, kube_version))

    def _wait_nodes_ready(self, names: list[str], timeout_s: float) -> None:
        from kubernetes import client, config

        from gpuconform.conditions import wait_nodes_ready

        api = client.CoreV1Api(config.new_client_from_config(str(self.paths.kubeconfig)))
        wait_nodes_ready(
            api.list_node, names, timeout_s, self.log, what="simulated nodes to be Ready"
        )

    def down(self, quiet: bool = False) -> None:
        """Stop the agent, the real nodes and the control plane and remove their state; safe
        to repeat, and enough after a SIGKILLed or interrupted `up`."""
        fleet.stop_real_nodes(self.paths.state_dir)
        for pid_file in (self.paths.agent_pid, self.paths.chart_repo_pid):
            try:
                pid = int(pid_file.read_text())
            except (OSError, ValueError):
                continue
            if pid_alive(pid):
                os.killpg(pid, signal.SIGTERM)
                wait_pid_gone(pid)
        if self.exists():
            component_pids = self._component_pids()
            self._kwokctl("delete", "cluster", "--name", self.name, check=False)
            # kwokctl signals the control plane and returns; wait until it has really exited,
            # so no process and no listening port outlive `down`.
            for component_pid in component_pids:
                wait_pid_gone(component_pid, timeout_s=30)
        shutil.rmtree(self.paths.state_dir, ignore_errors=True)
        shutil.rmtree(socket_root(self.paths.state_dir), ignore_errors=True)
        if not quiet:
            self.log(f"simulated cluster {self.name!r} stopped")

    def _component_pids(self) -> list[int]:
        pids = []
        for pid_file in (self.paths.cluster_dir / "pids").glob("*.pid"):
            try:
                pids.append(int(pid_file.read_text().strip()))
            except (OSError, ValueError):
                continue
        return pids

    def status(self) -> dict[str, object]:
        return {
            "name": self.name,
            "running": self.running(),
            "agent_running": self.agent_running(),
            "apiserver_port": self.apiserver_port(),
            "kubeconfig": str(self.paths.kubeconfig) if self.exists() else None,
            "chart_repo": self.chart_repo(),
            "device_plugin": self.device_plugin_mode(),
        }
