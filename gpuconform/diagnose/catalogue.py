"""The catalogue: each GPU-stack component's own messages, taken from its source (YAML in
catalogue/), read into signatures the explainer matches.

Three kinds of entry:
- `patterns`: regular expressions (named groups fill the meaning), e.g. containerd's
  'no runtime for "nvidia" is configured';
- `reason` (scheduler.yaml): one Filter reason of a FitError, matched after parse.py has
  split the FitError into reasons with node counts;
- `code` + `name` + `text` (nvml.yaml, cuda.yaml): an enum code, found by parse.py.
components.yaml is the never-silent fallback: which layer a line's component belongs to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from gpuconform.diagnose.model import LAYER_ONLY, Signature

CATALOGUE_DIR = Path(__file__).with_name("catalogue")
LAYERS = ("node-labels", "driver", "container-runtime", "device-plugin", "scheduler", "workload")
REQUIRED = ("id", "layer", "meaning", "fix", "source")
CODE_FILES = {"nvml.yaml": "nvml", "cuda.yaml": "cuda"}
# libyaml's loader where PyYAML has it: the catalogue is ~2,000 lines, read on every
# `gpuconform explain`; the pure-Python loader alone takes a quarter of a second.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# Messages change case between releases (Go's lint moved errors to lower case: the device
# plugin's "Failed to initialize NVML" became "failed to initialize NVML"), so an entry's
# patterns match either.
_CASE = re.IGNORECASE


class CatalogueError(ValueError):
    """An entry that breaks the catalogue's schema."""


@dataclass(frozen=True)
class Reason:
    """One scheduler Filter reason: its signature and where its filter runs."""

    signature: Signature
    pattern: re.Pattern[str]
    position: int  # the filter's place in the default profile's order
    same_as: str | None = None  # explained by the curated signature of this id
    shortage: bool = False  # "Insufficient <resource>": ranked after the other reasons
    selection: bool = False  # the pod's own node selection (nodeSelector, nodeName)


@dataclass(frozen=True)
class Component:
    signature: Signature  # the lower-confidence finding's template
    name: str
    prefix: re.Pattern[str]
    weak: bool = False  # names a GPU or resource, not a component: only when nothing else is
    names: bool = True  # whether naming it alone (no error line) is a finding


@dataclass(frozen=True)
class Catalogue:
    signatures: tuple[Signature, ...]  # pattern entries, file by file
    reasons: tuple[Reason, ...]
    gpu_terms: re.Pattern[str]
    normal_terms: re.Pattern[str]
    codes: dict[str, dict[str, Signature]]  # "nvml"/"cuda" -> code name -> signature
    code_texts: dict[str, dict[str, str]]  # "nvml"/"cuda" -> lower-cased text -> name
    cuda_runtime_codes: dict[int, str]
    components: tuple[Component, ...]
    error_words: re.Pattern[str]
    report_fields: re.Pattern[str]
    quiet_levels: re.Pattern[str]
    source_components: dict[str, str]
    cuda_driver_codes: dict[int, str] = field(default_factory=dict)  # CUresult -> name

    def all_signatures(self) -> list[Signature]:
        """Every entry of the catalogue, in file order (for listing and ranking)."""
        coded = [sig for table in self.codes.values() for sig in table.values()]
        return [
            *self.signatures,
            *(r.signature for r in self.reasons),
            *coded,
            *(c.signature for c in self.components),
        ]


def _require(entry: dict[str, Any], where: str) -> None:
    missing = [key for key in REQUIRED if not entry.get(key)]
    if missing:
        raise CatalogueError(f"{where}: entry {entry.get('id', '?')} lacks {', '.join(missing)}")
    if entry["layer"] not in LAYERS:
        raise CatalogueError(f"{where}: entry {entry['id']} has unknown layer {entry['layer']}")


def _reference(doc: dict[str, Any], entry: dict[str, Any]) -> str:
    """Where the message was read: the file's repository and version, then the entry's file."""
    if not doc.get("repo"):
        return entry["source"]
    return f"{doc['repo']} ({doc['ref']}): {entry['source']}"


def _signature(doc: dict[str, Any], entry: dict[str, Any], patterns: list[str]) -> Signature:
    values = {k: (v[0], v[1]) for k, v in (entry.get("values") or {}).items()}
    return Signature(
        id=entry["id"],
        layer=entry["layer"],
        severity=entry.get("severity", "error"),
        patterns=tuple(re.compile(p, _CASE) for p in patterns),
        diagnosis=entry["meaning"],
        remediation=entry["fix"],
        reference=_reference(doc, entry),
        fallback=bool(entry.get("generic", False)),
        hardware=bool(entry.get("hardware", False)),
        symptom=bool(entry.get("symptom", False)),
        explains=tuple(entry.get("explains") or ()),
        component=doc["component"],
        values_by=entry.get("by"),
        values=values,
        unless=tuple(re.compile(p, _CASE) for p in entry.get("unless") or ()),
    )


def read_entries(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A catalogue file and its entries, `defaults` applied, each checked against the schema."""
    doc = yaml.load(path.read_text(), Loader=_LOADER)  # a safe loader (C or Python)
    defaults = doc.get("defaults") or {}
    entries = []
    for raw in doc["entries"]:
        entry = {**defaults, **raw}
        entry = {
            k: v.format(**entry) if k in defaults and isinstance(v, str) else v
            for k, v in entry.items()
        }
        _require(entry, path.name)
        entries.append(entry)
    return doc, entries


def _codes(doc: dict[str, Any], entries: list[dict[str, Any]]) -> dict[str, Signature]:
    # Generic: the curated signature that explains the same line in context wins.
    return {e["name"]: _signature(doc, {**e, "generic": True}, []) for e in entries}


def _read_folder(folder: Path) -> list[tuple[str, dict[str, Any], list[dict[str, Any]]]]:
    """(file name, document, entries) of every catalogue file, in name order; an id used
    twice, in one file or across files, stops the load."""
    files = []
    seen: set[str] = set()
    for path in sorted(folder.glob("*.yaml")):
        doc, entries = read_entries(path)
        for entry in entries:
            if entry["id"] in seen:
                raise CatalogueError(f"{path.name}: duplicate id {entry['id']}")
            seen.add(entry["id"])
        files.append((path.name, doc, entries))
    return files


def _code_texts(entries: list[dict[str, Any]]) -> dict[str, str]:
    # `also`: the same code's text in other releases (cudaGetErrorString changed words).
    return {t.lower(): e["name"] for e in entries for t in (e["text"], *(e.get("also") or ()))}


def _components(doc: dict[str, Any], entries: list[dict[str, Any]]) -> list[Component]:
    return [
        Component(
            replace(_signature(doc, e, []), confidence=LAYER_ONLY),
            e["component"],
            re.compile(e["prefix"]),
            bool(e.get("weak", False)),
            bool(e.get("names", True)),
        )
        for e in entries
    ]


def _reasons(doc: dict[str, Any], entries: list[dict[str, Any]]) -> list[Reason]:
    return [
        Reason(
            _signature(doc, e, []),
            re.compile(f"^(?:{e['reason']})$"),
            n,
            e.get("signature"),
            bool(e.get("shortage", False)),
            bool(e.get("selection", False)),
        )
        for n, e in enumerate(entries)
    ]


@cache
def load_catalogue(folder: Path = CATALOGUE_DIR) -> Catalogue:
    """Every file of the folder, read by its kind: code tables (CODE_FILES), the components'
    fallback (components.yaml), Filter reasons (scheduler.yaml), else pattern entries."""
    signatures: list[Signature] = []
    reasons: list[Reason] = []
    codes: dict[str, dict[str, Signature]] = {}
    texts: dict[str, dict[str, str]] = {}
    runtime_codes: dict[int, str] = {}
    driver_codes: dict[int, str] = {}
    components: list[Component] = []
    files = _read_folder(folder)
    for name, doc, entries in files:
        if name in CODE_FILES:
            codes[CODE_FILES[name]] = _codes(doc, entries)
            texts[CODE_FILES[name]] = _code_texts(entries)
            runtime_codes |= {e["code"]: e["name"] for e in entries if e.get("api") == "runtime"}
            driver_codes |= {e["code"]: e["name"] for e in entries if e.get("api") == "driver"}
        elif name == "components.yaml":
            components += _components(doc, entries)
        elif name == "scheduler.yaml":
            reasons += _reasons(doc, entries)
        else:
            signatures += [_signature(doc, e, e["patterns"]) for e in entries]
    docs = {name: doc for name, doc, _ in files}
    fallback = docs["components.yaml"]
    # Without scheduler.yaml no term matches: "(?!)" never does.
    scheduler = docs.get("scheduler.yaml", {"gpu_terms": "(?!)", "normal_terms": "(?!)"})
    return Catalogue(
        tuple(signatures),
        tuple(reasons),
        re.compile(scheduler["gpu_terms"]),
        re.compile(scheduler["normal_terms"]),
        codes,
        texts,
        runtime_codes,
        tuple(components),
        re.compile(fallback["error_words"]),
        re.compile(fallback["report_fields"]),
        re.compile(fallback["quiet_levels"]),
        dict(fallback["source_components"]),
        driver_codes,
    )


def list_catalogue() -> list[tuple[str, str, str, str]]:
    """(id, layer, component, meaning) of every entry, for `gpuconform explain --list-catalogue`."""
    rows = []
    for path in sorted(CATALOGUE_DIR.glob("*.yaml")):
        doc, entries = read_entries(path)
        rows += [
            (e["id"], e["layer"], doc["component"], " ".join(e["meaning"].split())) for e in entries
        ]
    return rows
