"""Image archives built on another machine and carried to this one (the GPU host's bundle).

Images are built where their inputs are (busybox, gcc, the Go module cache); the host gets
the finished OCI archives and a manifest. With ``GPUCONFORM_PREBUILT_IMAGES`` set to that
directory, real nodes import these archives instead of building them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

ENV_VAR = "GPUCONFORM_PREBUILT_IMAGES"
MANIFEST = "images.json"  # {reference: archive file name}


class PrebuiltImageError(RuntimeError):
    """The prebuilt image directory is incomplete; the message names what is missing."""


def write_manifest(directory: Path, archives: dict[str, Path]) -> Path:
    path = directory / MANIFEST
    path.write_text(json.dumps({ref: p.name for ref, p in sorted(archives.items())}, indent=2))
    return path


def prebuilt_archives(refs: list[str] | None = None) -> dict[str, Path] | None:
    """The carried archives (all, or ``refs``), or None when ``ENV_VAR`` is not set."""
    configured = os.environ.get(ENV_VAR)
    if not configured:
        return None
    directory = Path(configured)
    try:
        names = json.loads((directory / MANIFEST).read_text())
    except (OSError, ValueError) as err:
        raise PrebuiltImageError(f"{ENV_VAR}={directory}: no readable {MANIFEST} ({err})") from None
    wanted = refs or list(names)
    missing = [ref for ref in wanted if ref not in names or not (directory / names[ref]).is_file()]
    if missing:
        raise PrebuiltImageError(f"{ENV_VAR}={directory} lacks {', '.join(missing)}")
    return {ref: directory / names[ref] for ref in wanted}
