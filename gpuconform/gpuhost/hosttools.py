"""Debian's ``ip`` and ``iptables`` (nft backend) with their libraries, for a GPU host whose
image lacks them: a real node's network (``network.py``), kube-proxy and the CNI plugins call
them. The host's own come first on PATH; these are the fallback. Each wrapper runs the binary
through the carried dynamic loader, so the host's libraries never mix in.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from gpuconform.sim.node_images import shared_libraries

IP = Path("/usr/sbin/ip")
XTABLES = Path("/usr/sbin/xtables-nft-multi")
XTABLES_EXTENSIONS = Path("/usr/lib/x86_64-linux-gnu/xtables")
IPTABLES_NAMES = [
    f"{family}{suffix}"
    for family in ("iptables", "ip6tables")
    for suffix in ("", "-save", "-restore")
]
LOADER = "ld-linux-x86-64.so.2"


def wrapper(program: str, subcommand: str | None) -> str:
    sub = f" {subcommand}" if subcommand else ""
    return (
        "#!/bin/sh\n"
        "# Carried from the machine that packed the bundle (gpuconform/gpuhost/hosttools.py).\n"
        'd=$(dirname "$(readlink -f "$0")")/..\n'
        'export XTABLES_LIBDIR="$d/xtables"\n'
        f'exec "$d/lib/{LOADER}" --library-path "$d/lib" "$d/libexec/{program}"{sub} "$@"\n'
    )


def stage(parent: Path) -> Path:
    """Lay the tools out under ``parent/hosttools-<key>/`` (bin, libexec, lib, xtables)."""
    programs = [IP, XTABLES]
    libs = {lib for program in programs for lib in shared_libraries(program)}
    key = hashlib.sha256(
        repr(sorted((str(p), p.stat().st_size) for p in [*programs, *libs])).encode()
    ).hexdigest()[:12]
    root = parent / f"hosttools-{key}" / "hosttools"
    if (root / "bin" / "ip").exists():
        return root
    for sub in ("bin", "libexec", "lib"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for program in programs:
        shutil.copy2(program, root / "libexec" / program.name)
    for lib in libs:
        shutil.copy2(lib.resolve(), root / "lib" / lib.name)
    shutil.copytree(XTABLES_EXTENSIONS, root / "xtables", dirs_exist_ok=True)
    (root / "bin" / "ip").write_text(wrapper(IP.name, None))
    for name in IPTABLES_NAMES:
        (root / "bin" / name).write_text(wrapper(XTABLES.name, name))
    for script in (root / "bin").iterdir():
        script.chmod(0o755)
    return root
