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
import json
import lzma
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from gpuconform.sim.toolchain import (
    Component,
    ToolchainError,
    cache_root,
    go_env,
    run_go,
    wrapper_gomod,
)

ENV_VAR = "GPUCONFORM_THIRD_PARTY"
SOURCES_FILE = Path(__file__).with_name("third_party_sources.yaml")
PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DIR = PROJECT_ROOT.parent / "shared" / "third_party"
PLUGIN_BINARIES = ("nvidia-device-plugin", "gpu-feature-discovery", "config-manager")
_PLUGIN_DIR = "nvidia-device-plugin"
# Node Feature Discovery (the chart's nfd subchart, which turns GFD's labels into node labels):
# only ever built from source; there is no prebuilt copy.
NFD = "node-feature-discovery"
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
# Serialises source builds (minutes each); separate from _LOCK, which the fallback takes.
_BUILD_LOCK = threading.Lock()
BUILT = "built from source"
PREBUILT = f"prebuilt (${ENV_VAR})"
# How long a failed source build is remembered before it is tried again. A refusal by the proxy
# is usually permanent for a tag (here the proxy serves v0.17.4, which builds, but refuses
# NVIDIA/k8s-device-plugin@v0.20.0:
# "reading https://proxy.golang.org/github.com/%21n%21v%21i%21d%21i%21a/k8s-device-plugin/@v/
# v0.20.0.info: 403 Forbidden / server response: This module version is not available."), but a
# network outage is not: a day keeps the cost at one refused request per version per day,
# while a machine that gains access still switches to source builds without clearing the cache.
RETRY_AFTER_S = 24 * 3600
DOWNLOAD_TIMEOUT_S = 60
_FAILED = "FAILED"  # marker file in a version's build directory; holds the reason
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


# --- building from source ---------------------------------------------------------------


@dataclass(frozen=True)
class PluginSource:
    """One pinned tag of a project: the module, its programs (cmd packages) and ldflags."""

    component: Component
    extldflags: str
    # Build against the upstream go.mod's own replace directives (a module that pins the
    # Kubernetes staging modules, as Node Feature Discovery does); see build_from_source.
    upstream_replaces: bool = False

    @property
    def packages(self) -> dict[str, str]:
        return self.component.packages


def _project_spec(project: str, path: Path) -> dict:
    return (yaml.safe_load(path.read_text()).get("third_party_sources") or {}).get(project) or {}


def load_sources(path: Path = SOURCES_FILE, project: str = _PLUGIN_DIR) -> dict[str, PluginSource]:
    """One project's pinned tags from third_party_sources.yaml, by tag."""
    spec = _project_spec(project, path)
    if not spec:
        return {}
    return {
        version: PluginSource(
            Component(
                name=f"{project}-{version}",
                module=spec["module"],
                version=version,
                packages=dict(pinned["packages"]),
                ldflags={k: str(v) for k, v in (pinned.get("ldflags") or {}).items()},
                sibling_version=version if spec.get("upstream_replaces") else None,
            ),
            extldflags=str(spec.get("extldflags") or ""),
            upstream_replaces=bool(spec.get("upstream_replaces")),
        )
        for version, pinned in spec["versions"].items()
    }


def source_build_dir(path: Path = SOURCES_FILE, project: str = _PLUGIN_DIR) -> Path:
    """Cache directory of a project's source builds, keyed by its pins (a new pin never reuses
    old binaries, and pinning one project does not rebuild another)."""
    pins = {project: _project_spec(project, path)}
    key = hashlib.sha256(json.dumps(pins, sort_keys=True).encode()).hexdigest()[:12]
    return cache_root() / "third_party" / f"src-{key}"


def failed_build(version: str, now: float | None = None, project: str = _PLUGIN_DIR) -> str | None:
    """Why the last source build of ``version`` failed, while that is still remembered; or None."""
    marker = source_build_dir(project=project) / version / _FAILED
    try:
        age = (time.time() if now is None else now) - marker.stat().st_mtime
        return marker.read_text().strip() if age < RETRY_AFTER_S else None
    except FileNotFoundError:
        return None


def _source_binary(
    version: str,
    name: str,
    build: Callable[[Component, Path, str], None],
    project: str = _PLUGIN_DIR,
) -> Path | None:
    """The source-built binary, building the version's programs first if needed; None on failure.

    Any failure falls back to the prebuilt copy, so it is recorded (FAILED) and not retried for
    RETRY_AFTER_S. A missing ``go`` is not recorded: checking for it costs nothing.
    """
    source = load_sources(project=project).get(version)
    if source is None or name not in source.packages:
        return None
    version_dir = source_build_dir(project=project) / version
    binary = version_dir / "bin" / name
    if binary.exists():  # go build writes elsewhere and renames, so it is complete
        return binary
    with _BUILD_LOCK:
        if binary.exists():
            return binary
        if shutil.which("go") is None or failed_build(version, project=project) is not None:
            return None
        try:
            build(source.component, version_dir, source.extldflags)
        except Exception as err:  # any failure at all means: use the prebuilt copy
            version_dir.mkdir(parents=True, exist_ok=True)
            (version_dir / _FAILED).write_text(f"{type(err).__name__}: {err}\n")
            return None
        (version_dir / _FAILED).unlink(missing_ok=True)  # an old failure no longer applies
    return binary if binary.exists() else None


def download_module(
    module: str,
    version: str,
    cwd: Path,
    env: dict[str, str],
    run: Callable[..., subprocess.CompletedProcess[str]] = subprocess.run,
) -> dict[str, str]:
    """``go mod download -json module@version``'s answer; ToolchainError with the proxy's reason."""
    try:
        proc = run(
            ["go", "mod", "download", "-json", f"{module}@{version}"],
            capture_output=True,
            text=True,
            env=env,
            cwd=cwd,  # outside any module, so no go.mod there can interfere
            timeout=DOWNLOAD_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired as err:
        what = f"downloading {module}@{version}"
        raise ToolchainError(f"{what} timed out after {err.timeout}s") from None
    try:  # -json reports a failure inside the JSON document, as "Error"
        answer = json.loads(proc.stdout)
    except ValueError:
        answer = {"Error": (proc.stderr or proc.stdout).strip()[-500:] or "no output"}
    if proc.returncode != 0 or "Error" in answer:
        raise ToolchainError(f"downloading {module}@{version} failed: {answer.get('Error')}")
    return answer


def build_from_source(component: Component, version_dir: Path, extldflags: str) -> None:
    """Build every program of one pinned tag into ``version_dir/bin``; ToolchainError on failure.

    Module zips omit vendor/, so the build goes through a wrapper module (toolchain.py's) that
    requires the tag and resolves its dependencies, at the versions its go.mod asks, from the proxy.
    """
    env = go_env()
    env["CGO_ENABLED"] = "1"  # go-nvml binds NVML through cgo, as upstream builds it
    version_dir.mkdir(parents=True, exist_ok=True)
    answer = download_module(component.module, component.version, version_dir, env)
    work = version_dir / "src"
    work.mkdir(exist_ok=True)
    gomod = wrapper_gomod(component, "")
    if component.sibling_version:
        # A dependency's replace directives do not apply to the wrapper, so it repeats them:
        # local sub-modules at the same tag, and the upstream pins of every other module.
        upstream = Path(answer["GoMod"]).read_text()
        gomod = wrapper_gomod(component, upstream) + "".join(
            f"replace {old} => {new} {version}\n"
            for old, new, version in version_replaces(upstream)
        )
    (work / "go.mod").write_text(gomod)
    what = f"{component.module}@{component.version}"
    get = ["go", "get", *(f"{pkg}@{component.version}" for pkg in component.packages.values())]
    run_go(get, work, what, env)
    flags = ["-s", "-w", *(f"-X '{k}={v}'" for k, v in component.ldflags.items())]
    if extldflags:
        flags.insert(2, f"'-extldflags={extldflags}'")
    out = version_dir / "bin"
    out.mkdir(exist_ok=True)
    for name, pkg in component.packages.items():
        tmp = out / f".{name}.{os.getpid()}.tmp"  # another process may be building too
        run_go(["go", "build", "-ldflags", " ".join(flags), "-o", str(tmp), pkg], work, name, env)
        os.replace(tmp, out / name)  # appears complete, or not at all


_VERSION_REPLACE = re.compile(r"^\s*(?:replace\s+)?(\S+)\s+=>\s+(\S+)\s+(v\S+)\s*$")


def version_replaces(gomod: str) -> list[tuple[str, str, str]]:
    """The ``old => new version`` replace directives of a go.mod (local-path ones excluded)."""
    return [m.groups() for line in gomod.splitlines() if (m := _VERSION_REPLACE.match(line))]  # type: ignore[misc]


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
