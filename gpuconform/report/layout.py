"""report.yaml: the runbook's steps in order, GPU node labels, trend length."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

LAYOUT_FILE = Path(__file__).with_name("report.yaml")


@dataclass(frozen=True)
class StepInfo:
    name: str
    title: str


@cache
def _layout() -> dict[str, Any]:
    return yaml.safe_load(LAYOUT_FILE.read_text())


def steps() -> list[StepInfo]:
    """The runbook's steps, in order."""
    return [StepInfo(s["name"], s["title"]) for s in _layout()["steps"]]


def gpu_label_keys() -> list[str]:
    return list(_layout()["gpu_labels"])


def trend_runs() -> int:
    return int(_layout()["trend_runs"])
