"""The real third-party artifacts the simulated cluster runs: plugin binaries, charts, mock NVML.

They are not part of the project. The device-plugin binaries are built from source through the
Go module proxy where it serves the pinned tag (``third_party_sources.yaml``), as
for a user with internet. Everything else, and any binary that cannot be built, comes from the
directory named by ``GPUCONFORM_THIRD_PARTY`` (default: ``<project root>/../shared/third_party``):
checked against its ``SHA256SUMS`` and unpacked (``.xz`` decompressed) once into the cache, in a
directory keyed by the hash of ``SHA256SUMS`` so a new set of artifacts never mixes with an old
one. ``provenance()`` says which way each binary came.
"""

from __future__ import annotations

import hashlib
import lzma
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from gpuconform.sim.source_build import _PLUGIN_DIR, NFD, _source_binary, build_from_source

# The source build's names that callers (toolchain, tests) reach through this module.
from gpuconform.sim.source_build import DOWNLOAD_TIMEOUT_S as DOWNLOAD_TIMEOUT_S
from gpuconform.sim.source_build import RETRY_AFTER_S as RETRY_AFTER_S
from gpuconform.sim.source_build import SOURCES_FILE as SOURCES_FILE
from gpuconform.sim.source_build import PluginSource as PluginSource
from gpuconform.sim.source_build import download_module as download_module
from gpuconform.sim.source_build import failed_build as failed_build
from gpuconform.sim.source_build import load_sources as load_sources
from gpuconform.sim.source_build import source_build_dir as source_build_dir
from gpuconform.sim.source_build import version_replaces as version_replaces
from gpuconform.sim.toolchain import Component, cache_root

ENV_VAR = "GPUCONFORM_THIRD_PARTY"
PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DIR = PROJECT_ROOT.parent / "shared" / "third_party"
PLUGIN_BINARIES = ("nvidia-device-plugin", "gpu-feature-discovery", "config-manager")
_MOCK_DIR = "mock-nvml"
# NVIDIA's DRA driver for GPUs: only prebuilt (the proxy refuses its module), GPU plugin only.
_DRA_DIR = "nvidia-dra-driver-gpu"
DRA_FILES = ("gpu-kubelet-plugin", "kubelet-plugin-prestart.sh")
# The artifacts the simulated cluster uses: binaries, charts, the mock library and its profiles.
_NEEDED = re.compile(
    rf"^(?:{_PLUGIN_DIR}/v[^/]+/(?:bin/[^/]+\.xz|[^/]+\.tgz)"
    rf"|{_MOCK_DIR}/(?:libnvidia-ml\.so\.1\.xz|mock-nvml-config-[^/]+\.yaml)"
    rf"|{_DRA_DIR}/v[^/]+/(?:bin/[^/]+\.xz|[^/]+\.tgz|[^/]+\.sh))$"
)
# Serialises unpacking within this process; across processes the tmp+rename keeps it safe.
_LOCK = threading.Lock()
BUILT = "built from source"
PREBUILT = f"prebuilt (${ENV_VAR})"
_provenance: dict[str, str] = {}


class ThirdPartyError(RuntimeError):
    """A third-party artifact is unusable; the message is one line saying which and what to do."""


def source_dir() -> Path | None:
    """The third-party directory, or None when there is none (the env var unset, no default)."""
    configured = os.environ.get(ENV_VAR)
    if configured:
        path = Path(configured)
        if not (path / "SHA256SUMS").is_file():
            raise ThirdPartyError(
                f"{ENV_VAR}={configured} has no SHA256SUMS; point it at the third_party directory"
            )
        return path
    return DEFAULT_DIR if (DEFAULT_DIR / "SHA256SUMS").is_file() else None


def _checksums(src: Path) -> dict[str, str]:
    """Map relative path (without the leading ``./``) to expected sha256 hex."""
    sums: dict[str, str] = {}
    for line in (src / "SHA256SUMS").read_text().splitlines():
        match = re.match(r"^([0-9a-fA-F]{64})\s+\*?(?:\./)?(.+?)\s*$", line)
        if match:
            sums[match.group(2)] = match.group(1).lower()
    return sums


def unpack_dir() -> Path | None:
    """The cache directory this set of artifacts unpacks into (None without a source dir)."""
    src = source_dir()
    if src is None:
        return None
    key = hashlib.sha256((src / "SHA256SUMS").read_bytes()).hexdigest()[:12]
    return cache_root() / "third_party" / key


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _unpacked(rel: str, executable: bool = False) -> Path | None:
    """Cached, verified and decompressed copy of ``rel`` (a path in SHA256SUMS), or None.

    None means the artifact is not part of this third-party set (SHA256SUMS does not list it).
    """
    src = source_dir()
    if src is None:
        return None
    sums = _checksums(src)
    if rel not in sums:
        return None
    out_rel = rel.removesuffix(".xz")
    dest = unpack_dir() / out_rel  # type: ignore[operator]  # src is not None here
    if dest.exists():
        # The cache key covers SHA256SUMS, and a file only appears by rename once complete.
        return dest
    with _LOCK:
        if dest.exists():
            return dest
        origin = src / rel
        if not origin.is_file():
            raise ThirdPartyError(
                f"{origin} is listed in SHA256SUMS but missing; restore the third_party directory"
            )
        actual = _sha256(origin)
        if actual != sums[rel]:
            raise ThirdPartyError(
                f"checksum mismatch for {origin} (expected {sums[rel][:12]}…, got {actual[:12]}…); "
                "the file is corrupt or replaced: restore it from the original third_party set"
            )
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.")
        try:
            with os.fdopen(fd, "wb") as out:
                if rel.endswith(".xz"):
                    with lzma.open(origin, "rb") as packed:
                        shutil.copyfileobj(packed, out, 1 << 20)
                else:
                    with origin.open("rb") as plain:
                        shutil.copyfileobj(plain, out, 1 << 20)
            os.chmod(tmp_name, 0o755 if executable else 0o644)
            os.replace(tmp_name, dest)
        except lzma.LZMAError as exc:
            os.unlink(tmp_name)
            raise ThirdPartyError(
                f"{origin} does not decompress ({exc}); "
                "restore it from the original third_party set"
            ) from exc
        except BaseException:
            if os.path.exists(tmp_name):
                os.unlink(tmp_name)
            raise
    return dest


def available_plugin_versions() -> list[str]:
    """Device-plugin versions (e.g. ``v0.20.0``) pinned to build or shipped prebuilt, oldest first.

    A pinned version may still have no binary (no prebuilt copy and the build failed);
    ``plugin_binary`` says.
    """
    versions = {v for v, s in load_sources().items() if "nvidia-device-plugin" in s.packages}
    src = source_dir()
    if src is not None:
        pattern = re.compile(rf"^{_PLUGIN_DIR}/(v[^/]+)/bin/nvidia-device-plugin\.xz$")
        versions |= {m.group(1) for rel in _checksums(src) if (m := pattern.match(rel))}
    return sorted(versions, key=_version_key)


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version))


def plugin_binary(version: str, name: str = "nvidia-device-plugin") -> Path | None:
    """The real binary ``name`` of device-plugin ``version`` (e.g. ``v0.20.0``), or None.

    Built from source when the proxy serves the pinned tag (the first call builds: minutes),
    else the prebuilt copy. None when neither exists (v0.17.4 ships only the plugin itself).
    """
    if name not in PLUGIN_BINARIES:
        raise ValueError(f"unknown plugin binary {name!r}; expected one of {PLUGIN_BINARIES}")
    version = version if version.startswith("v") else f"v{version}"
    return _resolve(version, name, build_from_source)


def nfd_binary(version: str, name: str) -> Path | None:
    """Node Feature Discovery's program ``name`` (``nfd-worker``...) at ``version``, or None.

    Built from the Go module proxy on first use (minutes); None when the proxy refuses it.
    """
    built = _source_binary(version, name, build_from_source, project=NFD)
    if built is not None:
        _provenance[f"{NFD} {version}/{name}"] = BUILT
    return built


def nfd_ready() -> bool:
    """Is every pinned Node Feature Discovery program built?"""
    return all(
        nfd_binary(version, name)
        for version, source in load_sources(project=NFD).items()
        for name in source.packages
    )


def _resolve(version: str, name: str, build: Callable[[Component, Path, str], None]) -> Path | None:
    """The source-built binary, else the prebuilt one; records which in ``provenance()``."""
    built = _source_binary(version, name, build)
    if built is not None:
        _provenance[f"{version}/{name}"] = BUILT
        return built
    path = _unpacked(f"{_PLUGIN_DIR}/{version}/bin/{name}.xz", executable=True)
    if path is not None:
        _provenance[f"{version}/{name}"] = PREBUILT
    return path


def provenance() -> dict[str, str]:
    """How each plugin binary handed out so far came: ``{"v0.20.0/config-manager": BUILT}``."""
    return dict(sorted(_provenance.items()))


def mock_nvml_dir() -> Path | None:
    """A directory holding the mock ``libnvidia-ml.so.1``, for ``LD_LIBRARY_PATH``; or None."""
    lib = _unpacked(f"{_MOCK_DIR}/libnvidia-ml.so.1.xz")
    return lib.parent if lib else None


def mock_nvml_config(model: str) -> Path | None:
    """The mock NVML profile for a GPU model (e.g. ``h100``), for ``MOCK_NVML_CONFIG``; or None."""
    return _unpacked(f"{_MOCK_DIR}/mock-nvml-config-{model.lower()}.yaml")


def chart_archive(version: str) -> Path | None:
    """The published Helm chart ``.tgz`` of device-plugin ``version`` (e.g. ``0.20.0``); or None."""
    version = version.removeprefix("v")
    return _unpacked(f"{_PLUGIN_DIR}/v{version}/nvidia-device-plugin-{version}.tgz")


def dra_driver_file(version: str, name: str) -> Path | None:
    """A file of NVIDIA's DRA driver ``version`` (e.g. ``v25.12.0``) that its image carries:
    the GPU kubelet plugin or the init container's prestart script; None when not shipped."""
    if name not in DRA_FILES:
        raise ValueError(f"unknown DRA driver file {name!r}; expected one of {DRA_FILES}")
    version = version if version.startswith("v") else f"v{version}"
    rel = f"bin/{name}.xz" if name == "gpu-kubelet-plugin" else name
    return _unpacked(f"{_DRA_DIR}/{version}/{rel}", executable=True)


def dra_chart_archive(version: str) -> Path | None:
    """NVIDIA's published ``nvidia-dra-driver-gpu`` chart ``.tgz`` (e.g. ``25.12.0``); or None."""
    version = version.removeprefix("v")
    return _unpacked(f"{_DRA_DIR}/v{version}/nvidia-dra-driver-gpu-{version}.tgz")


def ensure_third_party(log: Callable[[str], None] = print) -> bool:
    """Verify and unpack every artifact; True when real plugin binaries are available.

    A missing third-party directory is not an error (the simulated cluster falls back to its
    stand-ins and says so); a corrupt artifact is, and raises ThirdPartyError.
    """
    src = source_dir()
    if src is None:
        log(f"third-party artifacts: none ({ENV_VAR} unset and {DEFAULT_DIR} absent)")
        return False
    # Only what the cluster runs: documentation (README, transcripts) is not needed, and a
    # stale checksum on it must not stop the cluster.
    for rel in sorted(_checksums(src)):
        if _NEEDED.match(rel):
            _unpacked(rel, executable="/bin/" in rel or rel.endswith(".sh"))
    versions = [v for v in available_plugin_versions() if plugin_binary(v)]
    for version, source in load_sources().items():
        for name in source.packages:
            plugin_binary(version, name)  # so every pinned binary is built (or not) now
        if reason := failed_build(version):
            log(f"device plugin {version}: not built from source ({reason.splitlines()[0]})")
    for version, source in load_sources(project=NFD).items():
        for name in source.packages:
            nfd_binary(version, name)
        if reason := failed_build(version, project=NFD):
            log(f"{NFD} {version}: not built ({reason.splitlines()[0]}); GFD labels stay unapplied")
    log(
        f"third-party artifacts from {src} unpacked in {unpack_dir()}: plugin {', '.join(versions)}"
    )
    for binary, how in provenance().items():
        log(f"  {binary}: {how}")
    return bool(versions) and mock_nvml_dir() is not None
