"""A pod's volumes as the SIMULATED kubelet materialises them: directories on this machine.

hostPath volumes are the node's own directories; emptyDir a directory of the pod; configMap
and projected volumes (the service-account token kubelet puts in every pod, the cluster CA,
the namespace) files written from the API, as kubelet writes them. Each becomes a bind mount
in the container's mount namespace.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kubernetes import client

from gpuconform.sim.kubelet import credentials
from gpuconform.sim.kubelet.node import SimNodeRuntime
from gpuconform.sim.kubelet.runtime import Mount


class VolumeError(RuntimeError):
    """A volume cannot be set up (e.g. its ConfigMap is missing); one line."""


def _write_items(dest: Path, data: dict[str, str], items: list[Any] | None) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    wanted = {i.key: i.path for i in items} if items else {key: key for key in data}
    for key, path in wanted.items():
        if key in data:
            target = dest / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(data[key])


def _config_map(core: client.CoreV1Api, namespace: str, source: Any, dest: Path) -> None:
    try:
        config_map = core.read_namespaced_config_map(source.name, namespace)
    except client.ApiException as err:
        if err.status == 404 and source.optional:
            dest.mkdir(parents=True, exist_ok=True)
            return
        raise VolumeError(f"configmap {namespace}/{source.name}: {err.reason}") from None
    _write_items(dest, config_map.data or {}, source.items)


def _projected(
    core: client.CoreV1Api, pod: client.V1Pod, volume: Any, dest: Path, ca_pem: bytes
) -> None:
    """kube-api-access-*: token (TokenRequest, bound to the pod), ca.crt, namespace."""
    dest.mkdir(parents=True, exist_ok=True)
    for source in volume.projected.sources or []:
        if source.service_account_token:
            try:
                credentials.service_account_volume(core, pod, dest, ca_pem)
            except credentials.CredentialsError as err:
                raise VolumeError(str(err)) from None
        elif source.config_map:
            _config_map(core, pod.metadata.namespace, source.config_map, dest)
        elif source.downward_api:
            meta = pod.metadata
            fields = {"metadata.namespace": meta.namespace, "metadata.name": meta.name}
            for item in source.downward_api.items or []:
                if item.field_ref:
                    (dest / item.path).write_text(fields.get(item.field_ref.field_path, ""))


class PodVolumes:
    """Materialises the volumes of one pod once; mounts per container."""

    def __init__(
        self, core: client.CoreV1Api, pod: client.V1Pod, node: SimNodeRuntime, pod_dir: Path
    ) -> None:
        self.core = core
        self.pod = pod
        self.node = node
        self.pod_dir = pod_dir
        self.sources: dict[str, Path] = {}

    def source(self, name: str, ca_pem: bytes) -> Path | None:
        """The directory standing in for volume `name`, or None for a kind not simulated."""
        if name in self.sources:
            return self.sources[name]
        volume = next((v for v in self.pod.spec.volumes or [] if v.name == name), None)
        if volume is None:
            return None
        dest = self.pod_dir / "volumes" / name
        if volume.host_path:
            dest = self.node.host_path(volume.host_path.path)
        elif volume.empty_dir is not None:
            dest.mkdir(parents=True, exist_ok=True)
        elif volume.config_map:
            _config_map(self.core, self.pod.metadata.namespace, volume.config_map, dest)
        elif volume.projected:
            _projected(self.core, self.pod, volume, dest, ca_pem)
        else:
            return None  # secrets, CSI, ...: no chart of the plugin uses them
        self.sources[name] = dest
        return dest

    def mounts(self, container: Any, ca_pem: bytes) -> list[Mount]:
        """The container's volume mounts as bind mounts (subPath mounts a part of the volume)."""
        mounts = []
        for mount in container.volume_mounts or []:
            source = self.source(mount.name, ca_pem)
            if source is None:
                continue
            if mount.sub_path:
                source = source / mount.sub_path
            mounts.append(Mount(source, mount.mount_path))
        return mounts
