"""The named per-node faults of the SIMULATED cluster, read from faults.yaml."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

FAULTS_FILE = Path(__file__).with_name("faults.yaml")


@cache
def load_faults() -> dict[str, dict[str, Any]]:
    return yaml.safe_load(FAULTS_FILE.read_text())
