"""Python gRPC bindings for kubelet's device plugin API, generated from the upstream proto.

The protocol is never written by hand: on first use ``load()`` takes
``pkg/apis/deviceplugin/v1beta1/api.proto`` from the Go module ``k8s.io/kubelet`` at the
Kubernetes sibling version pinned in ``toolchain.yaml`` (through ``go mod download``), runs
``grpc_tools.protoc`` on it into the cache, and imports the result.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from types import ModuleType

import yaml

from gpuconform.sim.toolchain import TOOLCHAIN_FILE, ToolchainError, cache_root

MODULE = "k8s.io/kubelet"
PROTO_PATH = "pkg/apis/deviceplugin/v1beta1/api.proto"
# The generated modules get a distinctive name: the upstream file is just "api.proto", and a
# bare `api_pb2` could collide with any other generated module on sys.path.
STEM = "deviceplugin_v1beta1"
_LOCK = threading.Lock()
_LOADED: tuple[ModuleType, ModuleType] | None = None


def kubelet_module_version(path: Path = TOOLCHAIN_FILE) -> str:
    """The ``k8s.io/kubelet`` version that matches the pinned Kubernetes (its sibling_version)."""
    return yaml.safe_load(path.read_text())["components"]["kubernetes"]["sibling_version"]


def generated_dir() -> Path:
    """Cache directory of the generated code, keyed by the proto's origin and the generator.

    The key covers the grpcio-tools and protobuf versions because generated code checks the
    runtime version it was made for.
    """
    key_text = "|".join(
        [
            f"{MODULE}@{kubelet_module_version()}/{PROTO_PATH}",
            f"grpcio-tools {importlib.metadata.version('grpcio-tools')}",
            f"protobuf {importlib.metadata.version('protobuf')}",
        ]
    )
    return cache_root() / "proto" / hashlib.sha256(key_text.encode()).hexdigest()[:12]


def strip_gogoproto(proto: str) -> str:
    """Remove gogoproto's import and options from a proto file.

    gogoproto annotations only steer Go code generation (older k8s.io/kubelet releases carry
    them; newer ones dropped them); protoc for Python would need gogo.proto and gains nothing.
    """
    proto = re.sub(
        r'^\s*import\s+"github\.com/gogo/protobuf/gogoproto/gogo\.proto";\s*\n',
        "",
        proto,
        flags=re.M,
    )
    # File-level options: `option (gogoproto.foo) = true;`
    proto = re.sub(r"^\s*option\s+\(gogoproto\.[^)]*\)\s*=\s*[^;]*;\s*\n", "", proto, flags=re.M)
    # Field options: `[(gogoproto.customname) = "ID", (gogoproto.nullable) = false]`: drop the
    # gogoproto entries, then any bracket left empty.
    proto = re.sub(r"\(gogoproto\.[^)]*\)\s*=\s*(?:\"[^\"]*\"|[\w.]+)\s*,?\s*", "", proto)
    proto = re.sub(r",\s*\]", "]", proto)
    return re.sub(r"\s*\[\s*\]", "", proto)


def _download_proto(version: str) -> str:
    """The upstream proto text, from the Go module cache or proxy."""
    if shutil.which("go") is None:
        raise ToolchainError(
            "the Go toolchain (`go`) is not on PATH; it fetches kubelet's device plugin API"
        )
    proc = subprocess.run(
        ["go", "mod", "download", "-json", f"{MODULE}@{version}"],
        capture_output=True,
        text=True,
        cwd=tempfile.gettempdir(),  # outside any module, so no go.mod interferes
        timeout=300,
    )
    try:
        info = json.loads(proc.stdout)
    except ValueError:
        info = {"Error": (proc.stderr or proc.stdout).strip()[-500:]}
    if proc.returncode != 0 or "Dir" not in info:
        raise ToolchainError(
            f"downloading {MODULE}@{version} from the Go module proxy failed: {info.get('Error')}"
        )
    return (Path(info["Dir"]) / PROTO_PATH).read_text()


def _generate(out: Path) -> None:
    from grpc_tools import protoc  # only needed on a cold cache

    proto = strip_gogoproto(_download_proto(kubelet_module_version()))
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=out.parent, prefix=".gen-"))
    try:
        (work / f"{STEM}.proto").write_text(proto)
        include = Path(protoc.__file__).with_name("_proto")  # well-known types
        code = protoc.main(
            [
                "grpc_tools.protoc",
                f"-I{work}",
                f"-I{include}",
                f"--python_out={work}",
                f"--grpc_python_out={work}",
                f"{work / STEM}.proto",
            ]
        )
        if code != 0:
            raise ToolchainError(f"protoc failed (exit {code}) on {MODULE} {PROTO_PATH}")
        try:
            os.replace(work, out)  # atomic: another process may have won the race
        except OSError:
            if not out.is_dir():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _import(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # Registered before running, so the _grpc module's `import deviceplugin_v1beta1_pb2`
    # finds it without putting the cache directory on sys.path.
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def load() -> tuple[ModuleType, ModuleType]:
    """The generated ``(pb2, pb2_grpc)`` modules of the device plugin API v1beta1.

    Generates them on first use (needs ``go`` and the module proxy, or a warm Go module cache);
    raises ToolchainError when that is impossible.
    """
    global _LOADED
    with _LOCK:
        if _LOADED is None:
            out = generated_dir()
            if not (out / f"{STEM}_pb2_grpc.py").is_file():
                _generate(out)
            pb2 = _import(f"{STEM}_pb2", out / f"{STEM}_pb2.py")
            pb2_grpc = _import(f"{STEM}_pb2_grpc", out / f"{STEM}_pb2_grpc.py")
            _LOADED = (pb2, pb2_grpc)
        return _LOADED
