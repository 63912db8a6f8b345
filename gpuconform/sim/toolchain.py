"""Build the simulated cluster's binaries from the Go module proxy, once, into a cache.

The control plane's versions live in ``toolchain.yaml``, the real nodes' (kubelet, containerd,
runc, CNI, NVIDIA's container toolkit) in ``node_toolchain.yaml``. Each file's cache directory
is keyed by a hash of that file, so changing a version builds a new toolchain and never mixes
binaries, and a node component changes without rebuilding the control plane.
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
NODE_TOOLCHAIN_FILE = Path(__file__).with_name("node_toolchain.yaml")
IMAGE_TOOLCHAIN_FILE = Path(__file__).with_name("image_toolchain.yaml")
# What a cgo component needs from the system, and the Debian package that provides it.
CGO_NEEDS = {"gcc": "gcc", "/usr/include/stdio.h": "libc6-dev"}
SECCOMP_HEADER = ("/usr/include/seccomp.h", "libseccomp-dev")
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
    cgo: bool = False  # needs a C compiler (runc's nsenter, go-nvml's dlopen)
    tags: tuple[str, ...] = ()  # Go build tags, as the upstream Makefile passes them


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
            cgo=bool(spec.get("cgo", False)),
            tags=tuple(spec.get("tags") or ()),
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


def bin_dir(path: Path = TOOLCHAIN_FILE) -> Path:
    return toolchain_dir(path) / "bin"


def node_bin_dir() -> Path:
    """Where the real nodes' binaries (kubelet, containerd, runc, CNI, nvidia-ctk...) live."""
    return bin_dir(NODE_TOOLCHAIN_FILE)


def binary_names(path: Path = TOOLCHAIN_FILE) -> list[str]:
    return [name for c in load_components(path) for name in c.packages]


def missing_binaries(path: Path = TOOLCHAIN_FILE) -> list[str]:
    return [name for name in binary_names(path) if not os.access(bin_dir(path) / name, os.X_OK)]


def require_binary(name: str, path: Path = TOOLCHAIN_FILE) -> Path:
    """Path of a built toolchain binary, or a ToolchainError telling how to build it."""
    binary = bin_dir(path) / name
    if not os.access(binary, os.X_OK):
        raise ToolchainError(
            f"toolchain binary {name!r} is missing from {binary.parent}; "
            "run `make toolchain` (or `gpuconform sim build`) to build it"
        )
    return binary


def require_node_binary(name: str) -> Path:
    return require_binary(name, NODE_TOOLCHAIN_FILE)


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


def go_env(cgo: bool = False) -> dict[str, str]:
    env = dict(os.environ)
    if cgo:
        env["CGO_ENABLED"] = "1"
    else:
        env.setdefault("CGO_ENABLED", "0")
    env["GOFLAGS"] = "-mod=mod"
    return env


def check_cgo_needs(component: Component) -> None:
    """Fail before a minutes-long build when the C toolchain a cgo component needs is absent."""
    needs = dict(CGO_NEEDS)
    if "seccomp" in component.tags:
        needs[SECCOMP_HEADER[0]] = SECCOMP_HEADER[1]
    missing = sorted(
        {pkg for need, pkg in needs.items() if not (shutil.which(need) or os.path.exists(need))}
    )
    if missing:
        raise ToolchainError(
            f"building {component.name} {component.version} needs C (cgo) and Debian's "
            f"{' '.join(missing)} is missing; run `make node-deps` "
            f"(as root: apt-get install {' '.join(missing)})"
        )


def build_component(
    component: Component, out_dir: Path, log=print, work_root: Path | None = None
) -> None:
    if component.cgo:
        check_cgo_needs(component)
    env = go_env(component.cgo)
    work = (work_root or toolchain_dir()) / "src" / component.name
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
        tags = ["-tags", ",".join(component.tags)] if component.tags else []
        run_go(
            ["go", "build", *tags, "-ldflags", ldflags, "-o", str(out_dir / name), pkg],
            work,
            name,
            env,
        )
        log(f"  built {name} in {time.monotonic() - started:.0f}s")


def ensure_toolchain(log=print, path: Path = TOOLCHAIN_FILE) -> Path:
    """Build whatever binaries are missing; return the bin directory (cheap when warm)."""
    out_dir = bin_dir(path)
    if not missing_binaries(path):
        return out_dir
    if shutil.which("go") is None:
        raise ToolchainError(
            "the Go toolchain (`go`) is not on PATH; it is needed to build the cluster"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    log(f"building the simulated-cluster toolchain into {out_dir} (first run only)")
    for component in load_components(path):
        if any(not (out_dir / n).exists() for n in component.packages):
            build_component(component, out_dir, log, work_root=toolchain_dir(path))
    return out_dir


def ensure_node_toolchain(log=print) -> Path:
    """The real nodes' binaries, built once (see node_toolchain.yaml)."""
    return ensure_toolchain(log, NODE_TOOLCHAIN_FILE)


def require_image_binary(name: str, log=print) -> Path:
    """A binary only the nodes' images carry (image_toolchain.yaml), built on first use."""
    return ensure_toolchain(log, IMAGE_TOOLCHAIN_FILE) / name


if __name__ == "__main__":
    try:
        print(ensure_toolchain())
    except ToolchainError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)
