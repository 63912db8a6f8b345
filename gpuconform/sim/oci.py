"""Write OCI image archives without Docker or a registry: a tar of an OCI image layout.

One uncompressed layer, built deterministically (sorted entries, mtime 0, root-owned), so the
same inputs give the same digests and a cached archive is reused. ``ctr images import`` reads
the archive and names the image by the ``io.containerd.image.name`` annotation, which holds the
full upstream reference (``nvcr.io/nvidia/k8s-device-plugin:v0.20.0``).
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

from gpuconform.sim.staging import staging_path

LAYER_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar"
CONFIG_MEDIA_TYPE = "application/vnd.oci.image.config.v1+json"
MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"


@dataclass
class ImageSpec:
    """What an image holds and how it runs (the Dockerfile's ENV, ENTRYPOINT, CMD, USER)."""

    ref: str
    files: dict[str, Path] = field(default_factory=dict)  # path in image -> file on this host
    symlinks: dict[str, str] = field(default_factory=dict)  # path in image -> link target
    contents: dict[str, bytes] = field(default_factory=dict)  # path in image -> file content
    dirs: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    user: str = ""
    workdir: str = ""
    labels: dict[str, str] = field(default_factory=dict)


def _tar_info(name: str, kind: bytes, mode: int, size: int = 0) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name.lstrip("/"))
    info.type = kind
    info.mode = mode
    info.size = size
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def _parents(path: str) -> list[str]:
    parts = path.strip("/").split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def layer_bytes(spec: ImageSpec) -> bytes:
    """The image's single layer: every directory, file and symlink, in sorted order."""
    files = {p.strip("/"): src for p, src in spec.files.items()}
    links = {p.strip("/"): target for p, target in spec.symlinks.items()}
    contents = {p.strip("/"): data for p, data in spec.contents.items()}
    dirs = {d.strip("/") for d in spec.dirs}
    for path in [*files, *links, *contents, *dirs]:
        dirs.update(_parents(path))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(dirs | files.keys() | links.keys() | contents.keys()):
            if name in contents:
                data = contents[name]
                tar.addfile(_tar_info(name, tarfile.REGTYPE, 0o644, len(data)), io.BytesIO(data))
            elif name in links:
                info = _tar_info(name, tarfile.SYMTYPE, 0o777)
                info.linkname = links[name]
                tar.addfile(info)
            elif name in files:
                data = files[name].read_bytes()
                mode = 0o755 if files[name].stat().st_mode & 0o111 else 0o644
                tar.addfile(_tar_info(name, tarfile.REGTYPE, mode, len(data)), io.BytesIO(data))
            else:
                mode = 0o1777 if name == "tmp" else 0o755
                tar.addfile(_tar_info(name, tarfile.DIRTYPE, mode))
    return buf.getvalue()


def _blob(data: bytes) -> tuple[str, bytes]:
    return "sha256:" + hashlib.sha256(data).hexdigest(), data


def _json(obj: dict) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def image_config(spec: ImageSpec, layer_digest: str) -> dict:
    config: dict = {"Env": [f"{k}={v}" for k, v in spec.env.items()]}
    if spec.entrypoint is not None:
        config["Entrypoint"] = spec.entrypoint
    if spec.cmd is not None:
        config["Cmd"] = spec.cmd
    if spec.user:
        config["User"] = spec.user
    if spec.workdir:
        config["WorkingDir"] = spec.workdir
    if spec.labels:
        config["Labels"] = spec.labels
    return {
        "architecture": "amd64",
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": config,
        # An uncompressed layer's diff ID is its own digest.
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
    }


def write_archive(spec: ImageSpec, dest: Path) -> str:
    """Write ``spec`` as an OCI layout tar at ``dest``; return the manifest digest."""
    layer_digest, layer = _blob(layer_bytes(spec))
    config_digest, config = _blob(_json(image_config(spec, layer_digest)))
    manifest_digest, manifest = _blob(
        _json(
            {
                "schemaVersion": 2,
                "mediaType": MANIFEST_MEDIA_TYPE,
                "config": {
                    "mediaType": CONFIG_MEDIA_TYPE,
                    "digest": config_digest,
                    "size": len(config),
                },
                "layers": [
                    {"mediaType": LAYER_MEDIA_TYPE, "digest": layer_digest, "size": len(layer)}
                ],
            }
        )
    )
    tag = spec.ref.rsplit(":", 1)[1] if ":" in spec.ref.rsplit("/", 1)[-1] else "latest"
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": MANIFEST_MEDIA_TYPE,
                "digest": manifest_digest,
                "size": len(manifest),
                "annotations": {
                    "io.containerd.image.name": spec.ref,
                    "org.opencontainers.image.ref.name": tag,
                },
                "platform": {"architecture": "amd64", "os": "linux"},
            }
        ],
    }
    files = {
        "oci-layout": _json({"imageLayoutVersion": "1.0.0"}),
        "index.json": _json(index),
        **{
            f"blobs/sha256/{digest.split(':')[1]}": data
            for digest, data in (
                (layer_digest, layer),
                (config_digest, config),
                (manifest_digest, manifest),
            )
        },
    }
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = staging_path(dest)
    with tarfile.open(tmp, mode="w") as tar:
        for name in ["blobs", "blobs/sha256"]:
            tar.addfile(_tar_info(name, tarfile.DIRTYPE, 0o755))
        for name, data in files.items():
            tar.addfile(_tar_info(name, tarfile.REGTYPE, 0o644, len(data)), io.BytesIO(data))
    tmp.replace(dest)
    return manifest_digest
