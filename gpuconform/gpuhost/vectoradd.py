"""The vectorAdd workload image's program: vector_add.c (CUDA driver API, PTX), compiled.

No CUDA toolkit: gcc and glibc only. The image that runs it is defined in images.yaml.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

SOURCE = Path(__file__).parent.parent / "workload_images" / "vectoradd" / "vector_add.c"


class VectorAddBuildError(RuntimeError):
    """vector_add.c did not compile; the message has the compiler's last words."""


def build_vector_add(out: Path, source: Path = SOURCE) -> Path:
    """Compile once per source change (the output is rebuilt when the source is newer)."""
    if out.exists() and out.stat().st_mtime_ns >= source.stat().st_mtime_ns:
        return out
    if shutil.which("gcc") is None:
        raise VectorAddBuildError("building the vectorAdd image needs gcc; run `make node-deps`")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    proc = subprocess.run(
        ["gcc", "-O2", "-Wall", "-Werror", "-o", str(tmp), str(source), "-ldl", "-lm"],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise VectorAddBuildError(f"compiling {source} failed: {proc.stderr.strip()[-300:]}")
    tmp.replace(out)
    return out
