"""Build the real nodes' images (``images.yaml``) as OCI archives and import them into a node.

No Docker and no registry: each image is written by ``oci.write_archive`` into the cache,
keyed by a hash of its definition and of every file in it, and imported with
``ctr -n k8s.io images import`` under its upstream reference. A reference that was never
imported is pulled by containerd as usual and fails with the real ``ErrImagePull``.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path

import yaml

from gpuconform.gpuhost import prebuilt
from gpuconform.sim import third_party, toolchain
from gpuconform.sim.oci import ImageSpec, write_archive
from gpuconform.sim.staging import staging_path

IMAGES_FILE = Path(__file__).with_name("images.yaml")
BUSYBOX = Path("/bin/busybox")  # Debian's busybox-static, as the upstream Dockerfiles copy it
GLIBC_REFERENCE = Path("/bin/sh")  # any dynamically linked program: ldd names libc and ld.so
# The rest of glibc a distribution base image has, beside libc: NVIDIA's real driver libraries
# (libnvidia-ml, libcuda) and nvidia-smi, which CDI mounts into the container, link these; the
# mock NVML links libc only. Without them NVML reports ERROR_LIBRARY_NOT_FOUND (H200, issue 20).
GLIBC_SIBLINGS = ("libm.so.6", "libdl.so.2", "libpthread.so.0", "librt.so.1")
PAUSE_SOURCE = "build/pause/linux/pause.c"  # in the k8s.io/kubernetes module
# The vectorAdd sample's work through the CUDA driver API from PTX: gcc and glibc, no toolkit.
VECTOR_ADD_SOURCE = Path(__file__).parents[1] / "workload_images" / "vectoradd" / "vector_add.c"
# `ldd` lines: "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)", "/lib64/ld-linux... (0x...)"
LDD_PATH = re.compile(r"(?:=>\s+)?(/\S+)\s+\(0x[0-9a-f]+\)")


class ImageError(RuntimeError):
    """An image could not be built or imported; the message names it and what to do."""


def load_images(path: Path = IMAGES_FILE) -> dict[str, dict]:
    return dict(yaml.safe_load(path.read_text())["images"])


def images_dir() -> Path:
    return toolchain.cache_root() / "images"


def _is_elf(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(4) == b"\x7fELF"


def shared_libraries(binary: Path) -> list[Path]:
    """The dynamic loader and libraries ``binary`` links, as this host resolves them."""
    proc = subprocess.run(["ldd", str(binary)], capture_output=True, text=True)
    if proc.returncode != 0:  # "not a dynamic executable": static, nothing to add
        return []
    if "not found" in proc.stdout:
        missing = [line.split()[0] for line in proc.stdout.splitlines() if "not found" in line]
        raise ImageError(f"{binary} needs {', '.join(missing)}, which this host lacks")
    return [Path(m.group(1)) for m in LDD_PATH.finditer(proc.stdout)]


def build_pause(out: Path) -> Path:
    """Kubernetes' own pause.c, compiled static (what registry.k8s.io/pause runs)."""
    if out.exists():  # the module's source never changes; skip asking Go where it is
        return out
    return compile_c(
        _kubernetes_source() / PAUSE_SOURCE, out, ["-Os", "-static", "-DVERSION=v3.10"]
    )


def build_vector_add(out: Path) -> Path:
    """The vectorAdd image's program (vector_add.c), rebuilt when the source changes."""
    return compile_c(VECTOR_ADD_SOURCE, out, ["-O2", "-Wall", "-Werror"], libs=("-ldl", "-lm"))


def compile_c(source: Path, out: Path, flags: list[str], libs: tuple[str, ...] = ()) -> Path:
    """Compile one C program with the host's gcc, unless ``out`` is newer than ``source``."""
    if out.exists() and out.stat().st_mtime_ns >= source.stat().st_mtime_ns:
        return out
    if shutil.which("gcc") is None:
        raise ImageError(f"building {out.name} needs gcc; run `make node-deps`")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = staging_path(out)
    proc = subprocess.run(
        ["gcc", *flags, "-o", str(tmp), str(source), *libs], capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise ImageError(f"compiling {source} failed: {proc.stderr.strip()[-300:]}")
    tmp.replace(out)
    return out


def _kubernetes_source() -> Path:
    version = next(c.version for c in toolchain.load_components() if c.name == "kubernetes")
    proc = subprocess.run(
        ["go", "mod", "download", "-json", f"k8s.io/kubernetes@{version}"],
        capture_output=True,
        text=True,
        env=toolchain.go_env(),
        cwd=toolchain.cache_root(),
    )
    if proc.returncode != 0:
        raise ImageError(
            f"k8s.io/kubernetes@{version} is not in the Go module cache: {proc.stdout}"
        )
    return Path(json.loads(proc.stdout)["Dir"])


def resolve_source(source: str) -> Path:
    """The host file an image definition's source names (see images.yaml)."""
    if source == "pause":
        return build_pause(images_dir() / "bin" / "pause")
    if source == "vectoradd":
        return build_vector_add(images_dir() / "bin" / "vector_add")
    kind, _, rest = source.partition(":")
    if kind in ("plugin", "dra"):
        # NVIDIA's binaries and files: <tag>/<name>, built or taken from the third-party set.
        version, _, name = rest.partition("/")
        lookup = third_party.plugin_binary if kind == "plugin" else third_party.dra_driver_file
        found = lookup(version, name)
        if found is None:
            raise ImageError(
                f"no {name} {version} (not built, not in ${third_party.ENV_VAR}); "
                "run `make toolchain` or point the variable at the third_party directory"
            )
        return found
    if kind == "node":
        return toolchain.require_node_binary(rest)
    if kind == "image-tool":
        return toolchain.require_image_binary(rest)
    if kind == "host":
        path = Path(rest)
        if not path.is_file():
            raise ImageError(f"{path} is missing on this host; run `make node-deps`")
        return path.resolve()
    raise ImageError(f"unknown image file source {source!r} in {IMAGES_FILE.name}")


# What a distribution's base image has in /etc. The dynamic loader's config matters most:
# NVIDIA's update-ldcache hook rebuilds /etc/ld.so.cache only when the image has one, and the
# device plugin finds the CDI-mounted libnvidia-ml.so.1 only through that cache.
BASE_ETC = {
    "/etc/ld.so.conf": b"include /etc/ld.so.conf.d/*.conf\n",
    "/etc/ld.so.cache": b"",
    "/etc/passwd": b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
    "/etc/group": b"root:x:0:\nnogroup:x:65534:\n",
}


def busybox_layout(spec: ImageSpec) -> None:
    """The base every image but pause gets: the /etc of a distribution image, and busybox as
    the device plugin's Dockerfile lays it out (/busybox/busybox, every applet beside it,
    /bin/sh -> /busybox/sh)."""
    spec.contents.update(BASE_ETC)
    spec.dirs.append("/etc/ld.so.conf.d")
    # glibc, as a distribution base has it: the driver's tools that CDI mounts link it.
    libs = shared_libraries(GLIBC_REFERENCE)
    for lib in libs:
        spec.files.setdefault(str(lib), lib.resolve())
    libc = next(lib for lib in libs if lib.name == "libc.so.6")
    for name in GLIBC_SIBLINGS:
        sibling = libc.with_name(name)
        spec.files.setdefault(str(sibling), sibling.resolve())
    if not BUSYBOX.exists():
        raise ImageError(f"{BUSYBOX} is missing; run `make node-deps` (Debian busybox-static)")
    spec.files["/busybox/busybox"] = BUSYBOX
    applets = subprocess.run([str(BUSYBOX), "--list"], capture_output=True, text=True).stdout
    for applet in applets.split():
        if applet != "busybox":
            spec.symlinks[f"/busybox/{applet}"] = "/busybox/busybox"
    spec.symlinks["/bin/sh"] = "/busybox/sh"


def image_spec(ref: str, definition: dict) -> ImageSpec:
    spec = ImageSpec(
        ref=ref,
        env={k: str(v) for k, v in (definition.get("env") or {}).items()},
        entrypoint=definition.get("entrypoint"),
        cmd=definition.get("cmd"),
        user=str(definition.get("user", "")),
        # Mount points every runtime expects; /tmp for programs that write scratch files.
        dirs=["/proc", "/sys", "/dev", "/etc", "/tmp", "/run", "/var/run"],
    )
    if definition.get("busybox"):
        busybox_layout(spec)
    for dest, source in (definition.get("files") or {}).items():
        spec.files[dest] = resolve_source(source)
    for binary in [p for p in list(spec.files.values()) if _is_elf(p)]:
        for lib in shared_libraries(binary):
            spec.files.setdefault(str(lib), lib.resolve())
    return spec


def _content_key(spec: ImageSpec, definition: dict) -> str:
    digest = hashlib.sha256(yaml.safe_dump({spec.ref: definition}).encode())
    for dest, data in sorted(spec.contents.items()):
        digest.update(f"{dest}=".encode() + hashlib.sha256(data).digest())
    for dest, source in sorted(spec.files.items()):
        stat = source.stat()
        digest.update(f"{dest}={source}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def build_archive(ref: str, definition: dict) -> Path:
    """The image's OCI archive in the cache, written now unless an identical one exists."""
    spec = image_spec(ref, definition)
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", ref)
    dest = images_dir() / f"{safe}-{_content_key(spec, definition)}.oci.tar"
    if not dest.exists():
        write_archive(spec, dest)
    return dest


def build_archives(refs: list[str] | None = None) -> dict[str, Path]:
    carried = prebuilt.prebuilt_archives(refs)  # on the GPU host: archives built elsewhere
    if carried is not None:
        return carried
    definitions = load_images()
    unknown = sorted(set(refs or []) - definitions.keys())
    if unknown:
        raise ImageError(f"no image definition for {', '.join(unknown)} in {IMAGES_FILE}")
    return {ref: build_archive(ref, definitions[ref]) for ref in refs or definitions}


def import_archives(ctr: Path, address: str, archives: dict[str, Path]) -> None:
    """Import into a node's containerd, in the CRI's namespace, so kubelet finds them."""
    for ref, archive in archives.items():
        proc = subprocess.run(
            [str(ctr), "--address", address, "-n", "k8s.io", "images", "import", str(archive)],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            raise ImageError(
                f"importing {ref} into containerd at {address} failed: "
                f"{(proc.stderr or proc.stdout).strip()[-300:]}"
            )
