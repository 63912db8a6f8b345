"""Building the device plugin's (and Node Feature Discovery's) programs from source: the tags
third_party_sources.yaml pins, fetched through the Go module proxy and built with the
toolchain's Go. A failed build is remembered for a day; third_party.py falls back to the
prebuilt copy meanwhile.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
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

SOURCES_FILE = Path(__file__).with_name("third_party_sources.yaml")
_PLUGIN_DIR = "nvidia-device-plugin"
# Node Feature Discovery (the chart's nfd subchart, which turns GFD's labels into node labels):
# only ever built from source; there is no prebuilt copy.
NFD = "node-feature-discovery"
# Serialises source builds (minutes each); separate from third_party's unpacking lock, which
# the fallback takes.
_BUILD_LOCK = threading.Lock()
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
