"""The profile schema, derived from profile_defaults.yaml: each key's default is its type.

One place per default: a key's default value is written once, in the defaults file, and the
shape a profile may give it is read from that value:

- a boolean, a number or a string default: the key takes a value of that kind;
- a list default: a list (`chart.values` and `chart.set` also take one item alone);
- a mapping with keys: those keys and no others, each checked the same way;
- an empty mapping: a free-form mapping (`node_selector`, `resources`);
- null: no default shape; the key's own parser checks it (`chart.version` takes a string or
  a number, `gpu_nodes.count` a whole number, `accelerator_metrics` an endpoint).

A key set to null in a profile takes its default: `probe_image: null` is `ubuntu:24.04`.
"""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import yaml

DEFAULTS_FILE = Path(__file__).with_name("profile_defaults.yaml")
# Keys the defaults file does not hold: `simulated` is given only by the simulator's profiles,
# `extends` names the profile an entry builds on.
EXTRA_KEYS: dict[str, Any] = {"simulated": {"nodes": None}, "extends": None}
# List keys that also take a single item (`values: sim-values.yaml`).
ONE_OR_MANY = {"chart.values", "chart.set"}
KINDS: tuple[tuple[type, str], ...] = (
    (bool, "boolean (true or false)"),
    (int | float, "number"),
    (str, "string"),
    (list, "list"),
    (dict, "mapping"),
)


class SchemaError(ValueError):
    """A profile's key is unknown or of the wrong kind; the message names the key."""


@cache
def _defaults_text() -> str:
    return DEFAULTS_FILE.read_text()


def defaults() -> dict[str, Any]:
    """A fresh copy of profile_defaults.yaml, for a caller to merge over."""
    return yaml.safe_load(_defaults_text())


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`over` on top of `base`, mapping by mapping; neither is changed."""
    merged = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _kind_of(default: Any) -> tuple[type, str] | None:
    if default is None:
        return None
    if isinstance(default, bool):  # before numbers: a bool is an int to isinstance
        return KINDS[0]
    return next(k for k in KINDS if isinstance(default, k[0]))


def _check_value(value: Any, default: Any, dotted: str) -> None:
    kind = _kind_of(default)
    if value is None or kind is None:
        return
    shape, said = kind
    if dotted in ONE_OR_MANY and isinstance(value, str):
        return
    wrong_bool = isinstance(value, bool) and shape is not bool
    if wrong_bool or not isinstance(value, shape):
        raise SchemaError(f"{dotted} must be a {said}, got {value!r}")


def check(data: dict[str, Any], schema: dict[str, Any], prefix: str = "") -> None:
    """Every key of `data` is one of `schema`'s and of its default's kind; raises SchemaError
    naming the first that is not (`workload.runtime_clas`, `timeouts.ready`)."""
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if key not in schema:
            where = f"{prefix[:-1]}: " if prefix else ""
            raise SchemaError(f"{where}unknown field {key!r} (known: {', '.join(sorted(schema))})")
        default = schema[key]
        _check_value(value, default, dotted)
        if isinstance(default, dict) and default and isinstance(value, dict):
            check(value, default, f"{dotted}.")


def fill_nulls(data: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """Each key left null (by a profile or an override) takes its default."""
    for key, default in schema.items():
        value = data.get(key)
        if value is None and default is not None:
            data[key] = copy.deepcopy(default)
        elif isinstance(value, dict) and isinstance(default, dict) and default:
            fill_nulls(value, default)
    return data
