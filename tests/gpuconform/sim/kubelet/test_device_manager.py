"""The simulated kubelet device manager against the REAL NVIDIA device plugin (v0.20.0).

The plugin runs with NVIDIA's mock NVML (an H100 node: 8 GPUs) in its own mount namespace, where
a per-test directory is bind-mounted on /var/lib/kubelet/device-plugins (the plugin's socket
directory is fixed). These tests do not use the sim_cluster fixture.
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest

from gpuconform.sim import nvml, third_party
from gpuconform.sim.kubelet import deviceplugin_proto
from gpuconform.sim.kubelet.device_manager import AllocationError, NodeDeviceManager
from gpuconform.sim.nodes import GpuModel

pytestmark = pytest.mark.sim

GPU = "nvidia.com/gpu"
PLUGIN_VERSION = "v0.20.0"
HOST_PLUGIN_DIR = Path("/var/lib/kubelet/device-plugins")
WAIT_S = 20.0


@functools.cache
def _unshare_works() -> str | None:
    """None when a private mount namespace with a bind mount can be made; else why not."""
    if shutil.which("unshare") is None:
        return "`unshare` is not installed"
    try:
        HOST_PLUGIN_DIR.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        return f"cannot create {HOST_PLUGIN_DIR}: {err}"
    probe = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c",
         f"mount --bind /tmp {HOST_PLUGIN_DIR}"],
        capture_output=True,
        text=True,
        timeout=30,
    )  # fmt: skip
    if probe.returncode != 0:
        return f"unshare --mount is not permitted here: {probe.stderr.strip()}"
    return None


def _plugin_or_skip() -> Path:
    try:
        binary = third_party.plugin_binary(PLUGIN_VERSION)
        lib_dir = third_party.mock_nvml_dir()
    except third_party.ThirdPartyError as err:
        pytest.skip(f"third-party artifacts unusable: {err}")
    if binary is None or lib_dir is None:
        pytest.skip(
            f"no real device plugin {PLUGIN_VERSION} or mock NVML: set GPUCONFORM_THIRD_PARTY"
        )
    reason = _unshare_works()
    if reason:
        pytest.skip(reason)
    return binary


class Recorder:
    """Collects on_change calls; tests wait on it instead of sleeping."""

    def __init__(self) -> None:
        self.history: list[tuple[dict[str, int], dict[str, int]]] = []
        self._cond = threading.Condition()

    def __call__(self, node: str, capacity: dict[str, int], allocatable: dict[str, int]) -> None:
        with self._cond:
            self.history.append((capacity, allocatable))
            self._cond.notify_all()

    def wait_for(
        self,
        what: str,
        check: Callable[[dict[str, int], dict[str, int]], bool],
        timeout: float = WAIT_S,
    ) -> tuple[dict[str, int], dict[str, int]]:
        """Block until the latest counts satisfy ``check``; fail after ``timeout`` seconds."""
        with self._cond:
            ok = self._cond.wait_for(
                lambda: bool(self.history) and check(*self.history[-1]), timeout=timeout
            )
            assert ok, f"timed out waiting for {what}; counts seen: {self.history}"
            return self.history[-1]


class RealPlugin:
    """The real plugin process, in a mount namespace of its own, as the chart would run it."""

    def __init__(
        self,
        binary: Path,
        node_dir: Path,
        log_path: Path,
        config_file: Path | None = None,
        nvml_config: Path | None = None,
    ) -> None:
        self.binary = binary
        self.node_dir = node_dir
        self.log_path = log_path
        self.config_file = config_file
        self.nvml_config = nvml_config or third_party.mock_nvml_config("h100")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = dict(
            os.environ,
            LD_LIBRARY_PATH=str(third_party.mock_nvml_dir()),
            MOCK_NVML_CONFIG=str(self.nvml_config),
            # What the chart's defaults put in the container's environment (no arguments).
            MPS_ROOT="/run/nvidia/mps",
            NVIDIA_VISIBLE_DEVICES="all",
            NVIDIA_DRIVER_CAPABILITIES="compute,utility",
        )
        if self.config_file is not None:
            env["CONFIG_FILE"] = str(self.config_file)  # what the chart's config options set
        script = f'mount --bind "{self.node_dir}" {HOST_PLUGIN_DIR} && exec "{self.binary}"'
        with self.log_path.open("ab") as log:
            # unshare and `exec` replace each other, so proc.pid is the plugin's own pid.
            self.proc = subprocess.Popen(
                ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Callable[..., tuple[NodeDeviceManager, Recorder, RealPlugin]]]:
    """Factory: a started device manager and the real plugin registering with it."""
    binary = _plugin_or_skip()
    made: list[tuple[NodeDeviceManager, RealPlugin]] = []

    def make(
        grace_s: float = 1.0, config_file: Path | None = None, nvml_config: Path | None = None
    ) -> tuple[NodeDeviceManager, Recorder, RealPlugin]:
        node_dir = tmp_path / "device-plugins"
        recorder = Recorder()
        manager = NodeDeviceManager("node-a", node_dir, recorder, capacity_grace_s=grace_s)
        manager.start()
        plugin = RealPlugin(binary, node_dir, tmp_path / "plugin.log", config_file, nvml_config)
        made.append((manager, plugin))
        plugin.start()
        return manager, recorder, plugin

    yield make
    for manager, plugin in made:
        plugin.stop()
        manager.stop()


def test_registers_eight_h100s(node, record_property) -> None:
    started = time.monotonic()
    manager, recorder, plugin = node()
    capacity, _ = recorder.wait_for("8 GPUs", lambda c, a: a.get(GPU) == 8)
    record_property("plugin_registered_s", round(time.monotonic() - started, 3))
    assert capacity == {GPU: 8}, plugin.log()
    assert plugin.proc is not None
    status = Path(f"/proc/{plugin.proc.pid}/status").read_text()
    record_property("plugin_vmrss", next(ln for ln in status.splitlines() if "VmRSS" in ln))

    state = manager.resources()[GPU]
    assert state.endpoint == "nvidia-gpu.sock"
    assert state.connected
    assert state.options["get_preferred_allocation_available"]
    assert all(device_id.startswith("GPU-") for device_id in state.devices)
    assert set(state.devices.values()) == {"Healthy"}


def test_allocate_one_gpu_sets_visible_devices(node) -> None:
    manager, recorder, _ = node()
    recorder.wait_for("8 GPUs", lambda c, a: a.get(GPU) == 8)
    uuids = set(manager.resources()[GPU].devices)

    allocation = manager.allocate("pod-1", "cuda", GPU, 1)

    assert len(allocation.device_ids) == 1
    assert allocation.envs["NVIDIA_VISIBLE_DEVICES"] in uuids
    assert allocation.envs["NVIDIA_VISIBLE_DEVICES"] == allocation.device_ids[0]
    assert manager.allocated("pod-1") == {GPU: allocation.device_ids}
    # The same container asking again gets the same devices, without a second Allocate.
    assert manager.allocate("pod-1", "cuda", GPU, 1) == allocation
    manager.release("pod-1")
    assert manager.allocated("pod-1") == {}


def test_allocate_more_than_the_node_has_fails(node) -> None:
    manager, recorder, _ = node()
    recorder.wait_for("8 GPUs", lambda c, a: a.get(GPU) == 8)

    with pytest.raises(AllocationError) as err:
        manager.allocate("pod-big", "cuda", GPU, 9)
    assert err.value.message == (
        "requested number of devices unavailable for nvidia.com/gpu. Requested: 9, Available: 8"
    )
    assert err.value.pod_message.startswith("Allocate failed due to requested number")

    # Devices held by one pod are not available to another.
    manager.allocate("pod-7", "cuda", GPU, 7)
    with pytest.raises(AllocationError, match=r"Requested: 2, Available: 1$"):
        manager.allocate("pod-2", "cuda", GPU, 2)


def test_a_pods_container_gets_the_devices_its_init_container_had(node) -> None:
    """kubelet's device reuse: an init container's GPUs go to the pod's next container, so a
    GPU listing in an init container shows the devices the workload then gets."""
    manager, recorder, _ = node()
    recorder.wait_for("8 GPUs", lambda c, a: a.get(GPU) == 8)
    listed = manager.allocate("pod-1", "gpu-list", GPU, 2, init=True)
    other = manager.allocate("pod-2", "cuda", GPU, 1)  # another pod meanwhile
    workload = manager.allocate("pod-1", "workload", GPU, 2)
    assert workload.device_ids == listed.device_ids
    assert other.device_ids[0] not in listed.device_ids
    assert workload.envs["NVIDIA_VISIBLE_DEVICES"] == ",".join(listed.device_ids)
    # Reused once: a second container of the pod gets devices of its own.
    second = manager.allocate("pod-1", "sidecar", GPU, 1)
    assert second.device_ids[0] not in listed.device_ids
    assert len(set(manager.allocated("pod-1")[GPU])) == 3  # 2 shared by init + workload, 1


# transcripts/timeslicing-x4-config.yaml of the third-party set, with the plugin's own check of
# request sizes turned on (it is off by default, for compatibility) and renaming spelled out.
TIME_SLICING_X4 = """\
version: v1
sharing:
  timeSlicing:
    renameByDefault: false
    failRequestsGreaterThanOne: true
    resources:
    - name: nvidia.com/gpu
      replicas: 4
"""


def test_time_slicing_plugin_rejects_two_replicas(node, tmp_path: Path) -> None:
    config = tmp_path / "timeslicing-x4.yaml"
    config.write_text(TIME_SLICING_X4)
    manager, recorder, plugin = node(config_file=config)
    # 8 GPUs x 4 replicas, under the unrenamed resource (no nvidia.com/gpu.shared).
    capacity, _ = recorder.wait_for("32 replicas", lambda c, a: a.get(GPU) == 32)
    assert capacity == {GPU: 32}, plugin.log()
    replicas = manager.resources()[GPU].devices
    assert len({device_id.split("::")[0] for device_id in replicas}) == 8

    # Kubelet finds 2 free replicas, so the refusal is the plugin's own, in its Allocate.
    with pytest.raises(AllocationError) as err:
        manager.allocate("pod-2", "cuda", GPU, 2)
    # v0.20.0 says: invalid allocation request for "nvidia.com/gpu": invalid request: maximum
    # request size for shared resources is 1; found 2
    assert err.value.plugin_message.startswith('invalid allocation request for "nvidia.com/gpu"')
    assert "maximum request size for shared resources is 1; found 2" in err.value.plugin_message
    message = f"rpc error: code = Unknown desc = {err.value.plugin_message}"
    assert err.value.message == message
    assert err.value.pod_message == f"Allocate failed due to {message}, which is unexpected"
    assert manager.allocated("pod-2") == {}
    # One replica is what time-slicing allows.
    assert manager.allocate("pod-1", "cuda", GPU, 1).device_ids[0] in replicas


def test_plugin_exit_drops_allocatable_at_once_and_capacity_after_grace(node) -> None:
    manager, recorder, plugin = node(grace_s=1.0)
    recorder.wait_for("8 GPUs", lambda c, a: a.get(GPU) == 8)

    plugin.stop()
    recorder.wait_for("capacity 0", lambda c, a: c.get(GPU) == 0)
    # Allocatable went first, alone (the devices still counted, all unhealthy); capacity only
    # after the grace period, and kubelet keeps the resource, at 0.
    assert recorder.history[-3:] == [
        ({GPU: 8}, {GPU: 8}),
        ({GPU: 8}, {GPU: 0}),
        ({GPU: 0}, {GPU: 0}),
    ]
    assert not manager.resources()[GPU].connected
    with pytest.raises(AllocationError, match="cannot allocate unregistered device"):
        manager.allocate("pod-late", "cuda", GPU, 1)

    plugin.start()
    recorder.wait_for("re-registered", lambda c, a: c.get(GPU) == 8 and a.get(GPU) == 8)
    assert manager.allocate("pod-after", "cuda", GPU, 1).envs["NVIDIA_VISIBLE_DEVICES"]


def test_restart_within_grace_keeps_capacity(node) -> None:
    manager, recorder, plugin = node(grace_s=60.0)
    recorder.wait_for("8 GPUs", lambda c, a: a.get(GPU) == 8)
    manager.allocate("pod-old", "cuda", GPU, 1)

    plugin.stop()
    recorder.wait_for("allocatable 0", lambda c, a: a.get(GPU) == 0)
    with pytest.raises(AllocationError, match="no healthy devices present"):
        manager.allocate("pod-late", "cuda", GPU, 1)
    plugin.start()
    recorder.wait_for("re-registered", lambda c, a: a.get(GPU) == 8)

    assert all(capacity == {GPU: 8} for capacity, _ in recorder.history)
    # The allocation made before survived the plugin's restart and still counts as in use.
    with pytest.raises(AllocationError, match=r"Requested: 8, Available: 7$"):
        manager.allocate("pod-all", "cuda", GPU, 8)


H100 = GpuModel("H100", "NVIDIA H100 80GB HBM3", 81559, "550.163.01", "12.4")


# NVIDIA's mock NVML, built with shared/third_party/mock-nvml/patches/0001 (each EventSetWait
# counts as a guarded call for a device with a `failure:` block), delivers a configured Xid to
# a client that only waits for events, as the plugin's health session does (v0.20.0 calls only
# GetHandleByUUID, GetSupportedEventTypes, RegisterEvents and EventSetWait_v2 there).
def test_xid_from_the_mock_marks_the_device_unhealthy(node, tmp_path: Path) -> None:
    failure = {"mode": "ecc_uncorrectable", "xid": {"code": 79}}  # 79: fallen off the bus
    config = nvml.write_node_nvml_config(
        "node-a", H100, 8, tmp_path / "nvml.yaml", failures={3: failure}
    )
    manager, recorder, plugin = node(nvml_config=config)
    # Capacity, not allocatable: an early Xid may already have taken allocatable to 7.
    recorder.wait_for("8 GPUs", lambda c, a: c.get(GPU) == 8)

    # A pending Xid is claimed by the plugin's first EventSetWait (the mock re-checks every
    # 100 ms), so one 5 s wait cycle of the plugin suffices on a quiet machine; the bound leaves
    # room for a loaded one and is never waited out when the device goes unhealthy.
    capacity, _ = recorder.wait_for("GPU 3 unhealthy", lambda c, a: a.get(GPU) == 7, timeout=30.0)
    assert capacity == {GPU: 8}
    uuid = nvml.node_uuids("node-a", 8)[3]
    assert manager.resources()[GPU].devices[uuid] == "Unhealthy"
    assert (
        f"XidCriticalError: Xid=79 on Device={uuid}; marking device as unhealthy." in plugin.log()
    )


def test_register_rejects_an_unsupported_api_version(tmp_path: Path) -> None:
    pb2, pb2_grpc = deviceplugin_proto.load()
    manager = NodeDeviceManager("node-b", tmp_path, lambda *args: None)
    manager.start()
    try:
        with grpc.insecure_channel(f"unix://{manager.socket_path}") as channel:
            stub = pb2_grpc.RegistrationStub(channel)
            with pytest.raises(grpc.RpcError) as err:
                stub.Register(
                    pb2.RegisterRequest(version="v1alpha1", endpoint="x.sock", resource_name=GPU),
                    timeout=10,
                )
        assert err.value.details() == (
            'requested API version "v1alpha1" is not supported by kubelet. '
            'Supported version is ["v1beta1"]'
        )
    finally:
        manager.stop()
    assert not manager.socket_path.exists()
