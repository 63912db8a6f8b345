"""Kubelet's device manager for one simulated node, talking to the real device plugin over gRPC.

It follows kubelet's documented behaviour
(https://kubernetes.io/docs/concepts/extend-kubernetes/compute-storage-net/device-plugins/) and
the wording of ``pkg/kubelet/cm/devicemanager`` in Kubernetes v1.34:

* serves ``Registration`` on ``<socket_dir>/kubelet.sock``; on ``Register`` it checks the API
  version, dials the plugin's endpoint, asks ``GetDevicePluginOptions`` and follows
  ``ListAndWatch``; a later registration for the same resource replaces the old endpoint;
* capacity counts every device a plugin reports, allocatable only the healthy ones;
* when a plugin's stream ends, its devices turn unhealthy at once (allocatable 0) and the
  resource's capacity drops to 0 after a grace period unless the plugin registers again;
* ``allocate`` picks free healthy devices, asks ``GetPreferredAllocation`` when the plugin
  offers it, then calls ``Allocate``; failures carry kubelet's messages.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from gpuconform.sim.kubelet import deviceplugin_proto
from gpuconform.sim.kubelet.allocation import (
    HEALTHY,
    UNHEALTHY,
    Allocation,
    Request,
    ResourceState,
    admission_check,
    allocation_from_response,
    devices_in_use,
    rpc_error_text,
)
from gpuconform.sim.kubelet.allocation import AllocationError as AllocationError

API_VERSION = "v1beta1"
SUPPORTED_VERSIONS = (API_VERSION,)
KUBELET_SOCKET = "kubelet.sock"
# kubelet dials a registering plugin with a 10 s timeout (errFailedToDialDevicePlugin).
DIAL_TIMEOUT_S = 10.0
RPC_TIMEOUT_S = 30.0

OnChange = Callable[[str, dict[str, int], dict[str, int]], None]


@dataclass(eq=False)
class _Endpoint:
    """One registered plugin: its channel, options and ListAndWatch stream."""

    resource: str
    endpoint: str
    channel: grpc.Channel
    stub: Any
    options: Any
    stream: Any = None
    thread: threading.Thread | None = None
    connected: bool = True


def _go_quote(text: str) -> str:
    # Go's %q for plain strings; JSON's quoting agrees for everything a resource name holds.
    return json.dumps(text)


def _is_extended_resource_name(name: str) -> bool:
    # v1helper.IsExtendedResourceName: a domain-qualified name outside kubernetes.io, whose
    # "requests."-prefixed form is also valid; a lenient check is enough for a simulation.
    domain, sep, rest = name.partition("/")
    return bool(sep and domain and rest) and not (
        domain == "kubernetes.io" or domain.endswith(".kubernetes.io")
    )


class NodeDeviceManager:
    """Kubelet's device manager for one node; thread-safe.

    ``on_change(node_name, capacity, allocatable)`` is called, from an internal thread, each
    time the per-resource counts change. A resource once registered stays in both maps (at 0
    after removal), as kubelet keeps it in the node status at 0.
    """

    def __init__(
        self,
        node_name: str,
        socket_dir: Path,
        on_change: OnChange,
        capacity_grace_s: float = 5.0,
    ) -> None:
        self.node_name = node_name
        self.socket_dir = Path(socket_dir)
        self.on_change = on_change
        # Kubelet keeps a disconnected plugin's capacity for endpointStopGracePeriod (5 min);
        # the simulation compresses it so tests and demos see the removal.
        self.capacity_grace_s = capacity_grace_s
        self._pb2, self._pb2_grpc = deviceplugin_proto.load()
        self._lock = threading.Lock()
        # Serialises notifications so on_change always ends on the newest counts.
        self._notify_lock = threading.Lock()
        # Serialises admissions, as kubelet admits pods one at a time; the plugin RPCs run
        # under it but not under _lock, so ListAndWatch updates keep flowing.
        self._alloc_lock = threading.Lock()
        self._endpoints: dict[str, _Endpoint] = {}
        self._devices: dict[str, dict[str, str]] = {}
        self._grace_timers: dict[str, threading.Timer] = {}
        # pod UID -> container -> resource -> Allocation
        self._pods: dict[str, dict[str, dict[str, Allocation]]] = {}
        # pod UID -> resource -> devices its init containers hold for its next container
        self._reuse: dict[str, dict[str, set[str]]] = {}
        self._reported: tuple[dict[str, int], dict[str, int]] | None = None
        self._server: grpc.Server | None = None
        self._stopped = False

    @property
    def socket_path(self) -> Path:
        return self.socket_dir / KUBELET_SOCKET

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Serve the Registration service on ``socket_dir/kubelet.sock``."""
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        # Kubelet clears stale sockets on start; a new kubelet.sock is also what tells a running
        # plugin (it watches the directory) to register again. Plugin sockets are left alone:
        # the plugin owns and recreates them.
        self.socket_path.unlink(missing_ok=True)
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        self._pb2_grpc.add_RegistrationServicer_to_server(_Registration(self), server)
        if server.add_insecure_port(f"unix://{self.socket_path}") == 0:
            raise OSError(f"cannot listen on {self.socket_path}")
        server.start()
        self._server = server

    def stop(self) -> None:
        """Stop serving, close every plugin stream and channel, and remove the socket."""
        with self._lock:
            self._stopped = True
            endpoints = list(self._endpoints.values())
            timers = list(self._grace_timers.values())
            self._grace_timers.clear()
        for timer in timers:
            timer.cancel()
        if self._server is not None:
            self._server.stop(grace=None).wait(timeout=5)
            self._server = None
        for ep in endpoints:
            self._close(ep)
        for ep in endpoints:
            if ep.thread is not None and ep.thread is not threading.current_thread():
                ep.thread.join(timeout=5)
        self.socket_path.unlink(missing_ok=True)

    # --- registration (called from the gRPC server) -------------------------------------------

    def _register(self, request: Any, context: grpc.ServicerContext) -> Any:
        if request.version not in SUPPORTED_VERSIONS:
            context.abort(
                grpc.StatusCode.UNKNOWN,
                f"requested API version {_go_quote(request.version)} is not supported by "
                f"kubelet. Supported version is {json.dumps(list(SUPPORTED_VERSIONS))}",
            )
        if not _is_extended_resource_name(request.resource_name):
            context.abort(
                grpc.StatusCode.UNKNOWN,
                f"the ResourceName {_go_quote(request.resource_name)} is invalid",
            )
        try:
            ep = self._connect(request.resource_name, request.endpoint)
        except grpc.FutureTimeoutError:
            context.abort(
                grpc.StatusCode.UNKNOWN,
                f"failed to dial device plugin: {self.socket_dir / request.endpoint}: timeout",
            )
        except grpc.RpcError as err:
            context.abort(grpc.StatusCode.UNKNOWN, rpc_error_text(err)[0])
        self._install(ep)
        return self._pb2.Empty()

    def _connect(self, resource: str, endpoint: str) -> _Endpoint:
        channel = grpc.insecure_channel(f"unix://{self.socket_dir / endpoint}")
        try:
            grpc.channel_ready_future(channel).result(timeout=DIAL_TIMEOUT_S)
            stub = self._pb2_grpc.DevicePluginStub(channel)
            options = stub.GetDevicePluginOptions(self._pb2.Empty(), timeout=RPC_TIMEOUT_S)
        except BaseException:
            channel.close()
            raise
        return _Endpoint(resource, endpoint, channel, stub, options)

    def _install(self, ep: _Endpoint) -> None:
        """Make ``ep`` the resource's endpoint, replacing (and closing) any older one."""
        with self._lock:
            if self._stopped:
                ep.channel.close()
                return
            old = self._endpoints.get(ep.resource)
            self._endpoints[ep.resource] = ep
            # Devices stay as last reported until the new stream's first answer replaces them.
            self._devices.setdefault(ep.resource, {})
            timer = self._grace_timers.pop(ep.resource, None)
            ep.stream = ep.stub.ListAndWatch(self._pb2.Empty())
            ep.thread = threading.Thread(
                target=self._follow,
                args=(ep,),
                name=f"listandwatch-{self.node_name}-{ep.resource}",
                daemon=True,
            )
            ep.thread.start()
        if timer is not None:
            timer.cancel()
        if old is not None:
            self._close(old)

    def _follow(self, ep: _Endpoint) -> None:
        """Apply each ListAndWatch answer; on the stream's end, mark the resource unhealthy."""
        try:
            for response in ep.stream:
                with self._lock:
                    if self._endpoints.get(ep.resource) is not ep:
                        return  # replaced by a newer registration
                    self._devices[ep.resource] = {d.ID: d.health for d in response.devices}
                self._notify()
        except grpc.RpcError:
            pass  # the plugin went away (or we cancelled); handled below like a clean end
        with self._lock:
            ep.connected = False
            if self._stopped or self._endpoints.get(ep.resource) is not ep:
                return
            # markResourceUnhealthy: allocatable drops to 0 now, capacity after the grace.
            devices = self._devices.get(ep.resource, {})
            for device_id in devices:
                devices[device_id] = UNHEALTHY
            timer = threading.Timer(self.capacity_grace_s, self._expire, args=(ep,))
            timer.daemon = True
            self._grace_timers[ep.resource] = timer
            timer.start()
        ep.channel.close()
        self._notify()

    def _expire(self, ep: _Endpoint) -> None:
        """The grace period ran out without re-registration: drop the resource's devices."""
        with self._lock:
            if self._stopped or self._endpoints.get(ep.resource) is not ep:
                return
            del self._endpoints[ep.resource]
            self._grace_timers.pop(ep.resource, None)
            self._devices[ep.resource] = {}
        self._notify()

    @staticmethod
    def _close(ep: _Endpoint) -> None:
        if ep.stream is not None:
            ep.stream.cancel()
        ep.channel.close()

    def _counts(self) -> tuple[dict[str, int], dict[str, int]]:
        capacity = {name: len(devs) for name, devs in self._devices.items()}
        allocatable = {
            name: sum(h == HEALTHY for h in devs.values()) for name, devs in self._devices.items()
        }
        return capacity, allocatable

    def _notify(self) -> None:
        with self._notify_lock:
            with self._lock:
                counts = self._counts()
                if counts == self._reported:
                    return
                self._reported = counts
            self.on_change(self.node_name, dict(counts[0]), dict(counts[1]))

    # --- admission -------------------------------------------------------------------------

    def allocate(
        self, pod_uid: str, container: str, resource: str, count: int, init: bool = False
    ) -> Allocation:
        """Admit ``count`` devices of ``resource`` for a container, as kubelet does.

        An init container's devices stay the pod's, and the pod's next container takes them
        first (kubelet's devicesToReuse): a container that lists its GPUs in an init container
        sees the ones its main container gets. Raises AllocationError with kubelet's message
        when the resource is unregistered or unhealthy, too few devices are free, or the
        plugin's RPC fails.
        """
        with self._alloc_lock:
            with self._lock:
                ep, available, existing, reused = admission_check(
                    self._pods,
                    self._reuse,
                    self._endpoints.get(resource),
                    self._devices.get(resource, {}),
                    Request(pod_uid, container, resource, count),
                )
            if existing is not None:
                return existing  # kubelet: "No devices needed, nothing to do"
            chosen = reused
            if len(reused) < count:
                chosen = self._choose(ep, available, count, must_include=reused)
            try:
                response = ep.stub.Allocate(
                    self._pb2.AllocateRequest(
                        container_requests=[self._pb2.ContainerAllocateRequest(devices_ids=chosen)]
                    ),
                    timeout=RPC_TIMEOUT_S,
                )
            except grpc.RpcError as err:
                raise AllocationError(*rpc_error_text(err)) from None
            if not response.container_responses:
                raise AllocationError(f"no containers return in allocation response {response}")
            allocation = allocation_from_response(chosen, response.container_responses[0])
            with self._lock:
                self._pods.setdefault(pod_uid, {}).setdefault(container, {})[resource] = allocation
                reuse = self._reuse.setdefault(pod_uid, {}).setdefault(resource, set())
                if init:
                    reuse.update(chosen)
                else:
                    reuse.difference_update(chosen)
            return allocation

    def _choose(
        self, ep: _Endpoint, available: list[str], count: int, must_include: list[str]
    ) -> list[str]:
        """The plugin's preferred devices first (when it offers a preference), then the rest;
        `must_include` (devices reused from init containers) always."""
        preferred: list[str] = []
        if ep.options.get_preferred_allocation_available:
            request = self._pb2.PreferredAllocationRequest(
                container_requests=[
                    self._pb2.ContainerPreferredAllocationRequest(
                        available_deviceIDs=[*must_include, *available],
                        must_include_deviceIDs=must_include,
                        allocation_size=count,
                    )
                ]
            )
            try:
                response = ep.stub.GetPreferredAllocation(request, timeout=RPC_TIMEOUT_S)
            except grpc.RpcError as err:
                raise AllocationError(*rpc_error_text(err)) from None
            if response.container_responses:
                preferred = list(response.container_responses[0].deviceIDs)
        chosen = list(must_include)
        free = set(available)
        chosen += [d for d in dict.fromkeys(preferred) if d in free][: count - len(chosen)]
        chosen += [d for d in available if d not in set(chosen)][: count - len(chosen)]
        return chosen

    def _in_use(self, resource: str) -> list[str]:
        return devices_in_use(self._pods, resource)

    def release(self, pod_uid: str) -> None:
        """Free every device the pod holds (the pod was deleted or finished)."""
        with self._lock:
            self._pods.pop(pod_uid, None)
            self._reuse.pop(pod_uid, None)

    def allocated(self, pod_uid: str) -> dict[str, list[str]]:
        """The pod's devices per resource, across its containers."""
        with self._lock:
            result: dict[str, list[str]] = {}
            for resources in self._pods.get(pod_uid, {}).values():
                for resource, allocation in resources.items():
                    result.setdefault(resource, []).extend(allocation.device_ids)
            return result

    def resources(self) -> dict[str, ResourceState]:
        """A snapshot of every resource this node has had registered."""
        with self._lock:
            return {
                name: ResourceState(
                    name=name,
                    endpoint=ep.endpoint if (ep := self._endpoints.get(name)) else None,
                    connected=bool(ep and ep.connected),
                    devices=dict(devices),
                    allocated=self._in_use(name),
                    options={
                        "pre_start_required": bool(ep and ep.options.pre_start_required),
                        "get_preferred_allocation_available": bool(
                            ep and ep.options.get_preferred_allocation_available
                        ),
                    },
                )
                for name, devices in self._devices.items()
            }


class _Registration:
    """The Registration servicer; the generated base class is only known after load()."""

    def __init__(self, manager: NodeDeviceManager) -> None:
        self._manager = manager

    def Register(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._manager._register(request, context)
