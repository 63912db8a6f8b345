"""The test DaemonSet shaped like NVIDIA's device plugin (plugin-daemonset.yaml), by name."""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import yaml


@cache
def _template() -> dict[str, Any]:
    return yaml.safe_load((Path(__file__).with_name("plugin-daemonset.yaml")).read_text())


def plugin_daemonset(name: str = "test-device-plugin") -> dict[str, Any]:
    body = copy.deepcopy(_template())
    body["metadata"]["name"] = name
    return body
