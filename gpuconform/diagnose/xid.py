"""What an Xid code means and what to do about it (xid.yaml, from NVIDIA's Xid catalogue)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

XID_FILE = Path(__file__).with_name("xid.yaml")


@cache
def _catalogue() -> dict[str, Any]:
    return yaml.safe_load(XID_FILE.read_text())


def describe(code: int | str) -> str:
    """e.g. "Xid 79 (GPU has fallen off the bus; drain and reboot the node; ...)"."""
    entry = _catalogue()["codes"].get(int(code))
    if entry is None:
        return f"Xid {code} (not in gpuconform's Xid list: see NVIDIA's Xid catalogue)"
    return f"Xid {code} ({entry['meaning']}; {entry['action']})"
