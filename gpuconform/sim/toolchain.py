"""Build the simulated cluster's binaries from the Go module proxy, once, into a cache.

The versions live in ``toolchain.yaml``. The cache directory is keyed by a hash of that
file, so changing a version builds a new toolchain and never mixes binaries.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

TOOLCHAIN_FILE = Path(__file__).with_name("toolchain.yaml")
# A local-path replace in an upstream go.mod, e.g. `k8s.io/api => ./staging/src/k8s.io/api`.
LOCAL_REPLACE = re.compile(r"^\s*(?:replace\s+)?(\S+)\s+=>\s+(\.{1,2}/\S*)\s*$")


class ToolchainError(RuntimeError):
    """A toolchain binary is missing or could not be built; the message says which and why."""


@dataclass(frozen=True)
class Component:
    name: str
    module: str
    version: str
    packages: dict[str, str]
    ldflags: dict[str, str]
    sibling_version: str | None = None


def load_components(path: Path = TOOLCHAIN_FILE) -> list[Component]:
    data = yaml.safe_load(path.read_text())
    return [
        Component(
            name=name,
            module=spec["module"],
            version=spec["version"],
            packages=dict(spec["packages"]),
            ldflags={k: str(v) for k, v in (spec.get("ldflags") or {}).items()},
            sibling_version=spec.get("sibling_version"),
        )
        for name, spec in data["components"].items()
    ]


def kubernetes_version(path: Path = TOOLCHAIN_FILE) -> str:
    return yaml.safe_load(path.read_text())["kubernetes_version"]


def cache_root() -> Path:
    base = os.environ.get("GPUCONFORM_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "gpuconform"
    )
    return Path(base)


def toolchain_dir(path: Path = TOOLCHAIN_FILE) -> Path:
    key = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    return cache_root() / "toolchain" / key


def bin_dir() -> Path:
    return toolchain_dir() / "bin"


def binary_names() -> list[str]:
    return [name for c in load_components() for name in c.packages]


def missing_binaries() -> list[str]:
    return [name for name in binary_names() if not os.access(bin_dir() / name, os.X_OK)]


def require_binary(name: str) -> Path:
    """Path of a built toolchain binary, or a ToolchainError telling how to build it."""
    path = bin_dir() / name
    if not os.access(path, os.X_OK):
        raise ToolchainError(
            f"toolchain binary {name!r} is missing from {path.parent}; "
            "run `make toolchain` (or `gpuconform sim build`) to build it"
        )
    return path


def sibling_replaces(upstream_gomod: str, sibling_version: str) -> dict[str, str]:
    """Map each module the upstream go.mod replaces with a local directory to a proxy version."""
    replaces: dict[str, str] = {}
    major = int(sibling_version.lstrip("v").split(".")[0])
    for line in upstream_gomod.splitlines():
        match = LOCAL_REPLACE.match(line)
        # Go's rule: a module at v2+ ends in /vN. A local replace that cannot match the
        # sibling version (etcd's ./FORBIDDEN_DEPENDENCY guards) is not a sibling module.
        if match and _fits_major(match.group(1), major):
            replaces[match.group(1)] = sibling_version
    return replaces


def _fits_major(module: str, major: int) -> bool:
    suffix = re.search(r"/v(\d+)$", module)
    return int(suffix.group(1)) == major if suffix else major < 2


def wrapper_gomod(component: Component, upstream_gomod: str) -> str:
    lines = ["module gpuconform.local/toolchain/" + component.name, "", "go 1.24", ""]
    lines.append(f"require {component.module} {component.version}")
    if component.sibling_version:
        for module, version in sorted(
            sibling_replaces(upstream_gomod, component.sibling_version).items()
        ):
            lines.append(f"replace {module} => {module} {version}")
    return "\n".join(lines) + "\n"


def run_go(cmd: list[str], cwd: Path, what: str, env: dict[str, str]) -> None:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        raise ToolchainError(f"building {what} failed at `{' '.join(cmd[:3])}`:\n{tail}")


def go_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("CGO_ENABLED", "0")
    env["GOFLAGS"] = "-mod=mod"
    return env


def build_component(component: Component, out_dir: Path, log=print) -> None:
    env = go_env()
    work = toolchain_dir() / "src" / component.name
    work.mkdir(parents=True, exist_ok=True)
    what = f"{component.name} {component.version}"
    proc = subprocess.run(
        ["go", "mod", "download", "-json", f"{component.module}@{component.version}"],
        capture_output=True,
        text=True,
        env=env,
        cwd=work.parent,  # outside any module: the wrapper's go.mod may be stale
    )
    if proc.returncode != 0:
        try:  # `-json` reports the error inside the JSON document
            detail = json.loads(proc.stdout)["Error"]
        except (ValueError, KeyError):
            detail = (proc.stderr or proc.stdout).strip()[-500:]
        raise ToolchainError(f"downloading {what} from the Go module proxy failed: {detail}")
    gomod_path = json.loads(proc.stdout)["GoMod"]
    (work / "go.mod").write_text(wrapper_gomod(component, Path(gomod_path).read_text()))
    for pkg in component.packages.values():
        run_go(["go", "get", f"{pkg}@{component.version}"], work, what, env)
    ldflags = "-s -w " + " ".join(f"-X '{k}={v}'" for k, v in component.ldflags.items())
    missing = {n: p for n, p in component.packages.items() if not (out_dir / n).exists()}
    for name, pkg in missing.items():
        log(f"  building {name} ({component.module}@{component.version}) ...")
        started = time.monotonic()
        run_go(
            ["go", "build", "-ldflags", ldflags, "-o", str(out_dir / name), pkg], work, name, env
        )
        log(f"  built {name} in {time.monotonic() - started:.0f}s")


def ensure_toolchain(log=print) -> Path:
    """Build whatever binaries are missing; return the bin directory (cheap when warm)."""
    out_dir = bin_dir()
    if not missing_binaries():
        return out_dir
    if shutil.which("go") is None:
        raise ToolchainError(
            "the Go toolchain (`go`) is not on PATH; it is needed to build the cluster"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    log(f"building the simulated-cluster toolchain into {out_dir} (first run only)")
    for component in load_components():
        if any(not (out_dir / n).exists() for n in component.packages):
            build_component(component, out_dir, log)
    return out_dir


if __name__ == "__main__":
    try:
        print(ensure_toolchain())
    except ToolchainError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)
