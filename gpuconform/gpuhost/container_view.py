"""On the GPU host: what a container of one of our images makes of the host's driver libraries.

    python3 -m gpuconform.gpuhost.container_view IMAGES_DIR [REF]

No Kubernetes and no runtime: the image's root filesystem (from its carried OCI archive) gets
the driver's ``libnvidia-ml``, ``libcuda`` and ``nvidia-smi`` at the host's paths (where CDI
mounts them), the host's ldconfig rebuilds its cache over their folder (what NVIDIA's
update-ldcache hook does), then the image's own dynamic loader lists what each library needs
(ldd's view) and ``nvidia-smi -L`` runs inside it (it dlopens ``libnvidia-ml.so.1`` by name,
as the device plugin's NVML does). Then the same without the glibc siblings
(``node_images.GLIBC_SIBLINGS``), which our images lacked on the first leases: the control.
Everything it makes is in a temporary directory, its mounts in a private mount namespace.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from gpuconform.sim.node_images import GLIBC_SIBLINGS

PLUGIN_IMAGE = "nvcr.io/nvidia/k8s-device-plugin:v0.20.0"
DRIVER_LIBS = ("libnvidia-ml.so.1", "libcuda.so.1")
LOADER = "/lib64/ld-linux-x86-64.so.2"


def host_library(soname: str) -> Path | None:
    """Where the host's linker cache finds ``soname`` (the real file behind the link)."""
    listing = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
    for line in listing.splitlines():
        if line.strip().startswith(soname + " ") and "x86-64" in line:
            return Path(line.rsplit("=>", 1)[1].strip())
    return None


def extract_rootfs(archive: Path, dest: Path) -> None:
    """The image's layers, in order, into ``dest`` (our archives: one uncompressed layer)."""
    with tarfile.open(archive) as outer:

        def blob(digest: str) -> bytes:
            return outer.extractfile(f"blobs/sha256/{digest.split(':')[1]}").read()

        index = json.loads(outer.extractfile("index.json").read())
        manifest = json.loads(blob(index["manifests"][0]["digest"]))
        for layer in manifest["layers"]:
            path = dest.parent / "layer.tar"
            path.write_bytes(blob(layer["digest"]))
            with tarfile.open(path) as tar:
                tar.extractall(dest, filter="fully_trusted")  # our own image, built here
            path.unlink()


def run(cmd: list[str], out: list[str]) -> int:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    out.append(f"$ {' '.join(cmd)}  (exit {proc.returncode})")
    out.extend(line for line in (proc.stdout + proc.stderr).splitlines())
    return proc.returncode


def view(rootfs: Path, label: str) -> list[str]:
    """ldconfig as the hook runs it, then the loader's and nvidia-smi's view inside."""
    out = [f"=== {label} ===", "glibc in the image: " + " ".join(
        sorted(p.name for p in (rootfs / "lib/x86_64-linux-gnu").glob("lib*.so*"))
    )]  # fmt: skip
    ldconfig = "/sbin/ldconfig.real" if Path("/sbin/ldconfig.real").exists() else "ldconfig"
    run([ldconfig, "-r", str(rootfs), "-f", "/etc/ld.so.conf", "-C", "/etc/ld.so.cache"], out)
    for soname in DRIVER_LIBS:
        real = host_library(soname)
        if real is None:
            continue
        for entry in sorted(
            (rootfs / str(real.parent).lstrip("/")).glob(soname.split(".so")[0] + ".so*")
        ):
            link = f" -> {entry.readlink()}" if entry.is_symlink() else ""
            out.append(f"in the image: {real.parent / entry.name}{link}")
        run(["chroot", str(rootfs), LOADER, "--list", str(real.parent / soname)], out)
    smi = "/usr/local/nvidia/bin/nvidia-smi"
    script = (
        f"mount --bind /dev {rootfs}/dev && mount -t proc proc {rootfs}/proc && "
        f"mount --bind /sys {rootfs}/sys && chroot {rootfs} {smi} -L"
    )
    run(["unshare", "-m", "--propagation", "private", "sh", "-c", script], out)
    return out


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: container_view IMAGES_DIR [REF]", file=sys.stderr)
        return 2
    images, ref = Path(argv[0]), argv[1] if len(argv) > 1 else PLUGIN_IMAGE
    names = json.loads((images / "images.json").read_text())
    if ref not in names:
        print(f"container_view: {ref} is not among the carried images", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="gpuconform-view-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        rootfs.mkdir()
        extract_rootfs(images / names[ref], rootfs)
        lib_dirs = set()
        for soname in DRIVER_LIBS:
            real = host_library(soname)
            if real is None:
                print(f"container_view: the host's linker cache has no {soname}")
                continue
            real = real.resolve()
            lib_dirs.add(str(real.parent))
            target = rootfs / str(real).lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(real, target)  # what CDI bind-mounts: the versioned file only
        smi = shutil.which("nvidia-smi")
        if smi:
            target = rootfs / "usr/local/nvidia/bin/nvidia-smi"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(Path(smi).resolve(), target)
        for name in ("dev", "proc", "sys"):
            (rootfs / name).mkdir(exist_ok=True)
        conf = rootfs / "etc/ld.so.conf.d/00-nvcr-view.conf"
        conf.parent.mkdir(parents=True, exist_ok=True)
        conf.write_text("".join(f"{d}\n" for d in sorted(lib_dirs)))
        print(f"image {ref}; driver libraries from {', '.join(sorted(lib_dirs)) or 'nowhere'}")
        print("\n".join(view(rootfs, "as built (glibc siblings included)")))
        for name in GLIBC_SIBLINGS:
            (rootfs / "lib/x86_64-linux-gnu" / name).unlink(missing_ok=True)
        print("\n".join(view(rootfs, "control: without " + ", ".join(GLIBC_SIBLINGS))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
