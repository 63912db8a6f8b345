"""A real node's images, imported once per set of archives and shared by every node after.

Importing the preloaded images (`ctr images import`: verify, unpack every layer) took each
node about 8 s of CPU on every start, four nodes a cluster, one cluster per suite run. Now the
first node that needs a set of archives imports it into a template containerd root in the
cache (under a file lock, so concurrent clusters wait for one import), and every node's
containerd root starts as a copy of that template: its content blobs and unpacked layers are
hard links (containerd never writes to either once committed; a container's writes go to its
own upper directory), its bolt databases real copies (each node's containerd writes its own).
The node's containerd then serves those images to its kubelet exactly as if it had imported
them: the same content, the same snapshots, the same CRI image records.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from gpuconform.sim import node_images, toolchain

# containerd's bolt databases (metadata, overlayfs snapshots): written by every containerd.
DATABASES = "*.db"
SNAPSHOTTER = re.compile(r'^\s*snapshotter\s*=\s*"([^"]*)"', re.MULTILINE)
STOP_TIMEOUT_S = 30


def template_dir(archives: dict[str, Path], containerd: Path, config: Path) -> Path:
    """The template root's cache directory for these archives, binary and snapshotter (the
    rest of a node's config, its runtimes and CDI dirs, has no say in what an import writes)."""
    snapshotter = SNAPSHOTTER.search(config.read_text())
    key = json.dumps(
        {
            "images": sorted((ref, str(path)) for ref, path in archives.items()),
            "containerd": str(containerd),
            "snapshotter": snapshotter.group(1) if snapshotter else "",
        }
    )
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return toolchain.cache_root() / "containerd-roots" / digest


def lock_path() -> Path:
    """The lock every starting node takes to check (and, the first time, build) its template,
    before its containerd starts: whoever holds it holds every real node's start there."""
    path = toolchain.cache_root() / "containerd-roots" / "import.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _build(template: Path, archives: dict[str, Path], bin_dir: Path, config: Path) -> None:
    """Import the archives into a throwaway containerd whose root is the template's."""
    shutil.rmtree(template, ignore_errors=True)  # an interrupted build left half a root
    root = template / "root"
    root.mkdir(parents=True)
    # A short state path: the socket's path must fit in a sockaddr_un.
    state = Path(tempfile.mkdtemp(prefix="gpc-seed-"))
    address = str(state / "c.sock")
    log = (template / "containerd.log").open("ab")
    proc = subprocess.Popen(
        [
            *(str(bin_dir / "containerd"), "--config", str(config), "--root", str(root)),
            *("--state", str(state), "--address", address),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    try:
        from gpuconform.sim.realnode.init import wait_for_socket

        wait_for_socket(address, proc, 30)
        node_images.import_archives(bin_dir / "ctr", address, archives)
    finally:
        proc.terminate()
        try:
            proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        subprocess.run(["umount", "-R", str(state)], capture_output=True)
        shutil.rmtree(state, ignore_errors=True)
    (template / "complete").write_text("imported\n")


def _copy(template_root: Path, node_root: Path) -> None:
    """The template into the node's (empty) containerd root: links, and copies of the DBs."""
    node_root.mkdir(parents=True, exist_ok=True)
    src = f"{template_root}/."
    linked = subprocess.run(["cp", "-al", src, str(node_root)], capture_output=True, text=True)
    if linked.returncode != 0:  # another filesystem: hard links cannot cross it
        subprocess.run(["cp", "-a", "--reflink=auto", src, str(node_root)], check=True)
    for db in node_root.rglob(DATABASES):
        shutil.copy2(template_root / db.relative_to(node_root), db.with_suffix(".tmp"))
        db.with_suffix(".tmp").replace(db)  # a new inode: the template's stays untouched


def seed(node_root: Path, archives: dict[str, Path], bin_dir: Path, config: Path) -> None:
    """Give the node's containerd root (``/var/lib/containerd`` in the node) its images."""
    if any(node_root.rglob(DATABASES)):  # a root that has served before keeps its images
        return
    template = template_dir(archives, bin_dir / "containerd", config)
    with lock_path().open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one import per template, however many nodes start
        if not (template / "complete").exists():
            _build(template, archives, bin_dir, config)
    _copy(template / "root", node_root)
