"""Where a cached file is written before it takes its name.

Two runs may build the same cached file at once (a test session beside `make demo`, two CI
jobs on one machine). Each writes under a name of its own process and renames it into place:
the rename is atomic, so a reader sees a whole file, and one build never renames, truncates
or half-reads the other's.
"""

from __future__ import annotations

import os
from pathlib import Path


def staging_path(dest: Path) -> Path:
    """A temporary name beside ``dest``, this process's own."""
    return dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
