"""The data checks every labelled held-out set keeps (tests/data/real-world/README.md).

They read only the sets' YAML and the catalogue's ids from its YAML: nothing here imports the
explainer, so running them cannot leak a held-out set into the catalogue's authors' view of
their results. Each set's test module builds its tests with `data_tests`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
REAL_WORLD = REPO / "tests" / "data" / "real-world"
RULES = REPO / "gpuconform" / "diagnose"
LAYERS = {"node-labels", "driver", "container-runtime", "device-plugin", "scheduler", "workload"}
URL = re.compile(r"^https://[\w.-]+\.[a-z]{2,}/\S*$")
# One thread, whatever the URL spells it as (issues/N and pull/N are the same number space).
THREAD = re.compile(r"github\.com/([\w.-]+/[\w.-]+)/(?:issues|pull|discussions)/(\d+)")
# The labeller's keys: every failure carries them, no healthy output does (it has `expect`).
LABEL_KEYS = {"class", "accept", "label_note"}
# The corpus and the labelled sets in the order they were collected (folders of REAL_WORLD).
SETS = [
    "",
    "seen",
    "held-out",
    "held-out-3",
    "held-out-4",
    "held-out-5",
    "held-out-6",
    "held-out-7",
    "held-out-8",
    "held-out-9",
    "held-out-10",
]

Entry = tuple[Path, dict[str, Any]]


def load_entries(folder: Path) -> list[Entry]:
    """Return (folder, entry) pairs of one index file."""
    return [(folder, entry) for entry in yaml.safe_load((folder / "index.yaml").read_text())]


def catalogue_ids(rules: Path) -> set[str]:
    """Every id a label may name: the curated signatures' and the catalogue entries'."""
    ids = {s["id"] for s in yaml.safe_load((rules / "signatures.yaml").read_text())["signatures"]}
    for path in sorted((rules / "catalogue").glob("*.yaml")):
        ids |= {e["id"] for e in yaml.safe_load(path.read_text())["entries"]}
    return ids


def threads_in(text: str) -> set[tuple[str, str]]:
    """Every GitHub thread a text cites, as (owner/repo lower-cased, number)."""
    return {(repo.lower(), number) for repo, number in THREAD.findall(text)}


def case_id(case: Entry) -> str:
    return case[1]["file"]


def check_label(entry: dict[str, Any]) -> None:
    """A failure's label: one class, a list of other accepted ids, and the labeller's why."""
    assert set(entry) >= LABEL_KEYS
    assert isinstance(entry["class"], str) and entry["class"]
    assert isinstance(entry["accept"], list)
    assert entry["class"] not in entry["accept"] and "none" not in entry["accept"]
    # "none" says no entry names the cause, so nothing else can be accepted either - unless a
    # catalogue writer added an entry after the set's one measurement and widened the label,
    # which the entry must then say (`relabelled`, as in seen/ and held-out/; issue 22).
    assert entry["class"] != "none" or entry["accept"] == [] or entry.get("relabelled")
    if entry.get("relabelled"):
        assert entry["class"] == "none" and entry["accept"]
        assert all(i in entry["relabelled"] for i in entry["accept"])
    assert isinstance(entry["label_note"], str) and entry["label_note"].strip()


def indexes_before(name: str) -> list[Path]:
    """The index files (failures and healthy) of every set collected before set `name`."""
    earlier = SETS[: SETS.index(name)]
    return [REAL_WORLD / s / sub / "index.yaml" for s in earlier for sub in ("", "healthy")]


def data_tests(name: str) -> dict[str, Callable[..., None]]:
    """The data tests of the labelled set REAL_WORLD/`name` (and its healthy/), for a test
    module's globals; no thread of it may appear in a set collected before it."""
    folder = REAL_WORLD / name
    failures = load_entries(folder)
    healthy = load_entries(folder / "healthy")
    every = failures + healthy
    earlier_threads = set().union(*(threads_in(p.read_text()) for p in indexes_before(name)))
    each = pytest.mark.parametrize("case", every, ids=case_id)

    @each
    def test_quote_and_decisive_line_are_verbatim_in_the_file(case: Entry) -> None:
        case_folder, entry = case
        text = (case_folder / entry["file"]).read_text(encoding="utf-8")
        assert entry["quote"] in text
        assert entry["decisive"] in text.splitlines()

    @each
    def test_entry_cites_a_source_and_a_layer(case: Entry) -> None:
        entry = case[1]
        assert entry["source"]["repo"] and URL.match(entry["source"]["url"])
        assert entry["layer"] in LAYERS
        assert entry["component"]

    @each
    def test_thread_is_not_cited_by_an_earlier_set(case: Entry) -> None:
        assert threads_in(case[1]["source"]["url"]).isdisjoint(earlier_threads)

    @pytest.mark.parametrize("case", failures, ids=case_id)
    def test_failure_is_labelled_with_what_the_thread_established(case: Entry) -> None:
        check_label(case[1])
        assert case[1]["cause"] and case[1]["resolution"]

    @pytest.mark.parametrize("case", healthy, ids=case_id)
    def test_healthy_output_says_what_a_diagnoser_should_report_and_no_label(case: Entry) -> None:
        assert case[1]["expect"] and case[1]["shows"]
        assert LABEL_KEYS.isdisjoint(case[1])

    def test_labels_name_only_catalogue_ids() -> None:
        named = {i for _, e in failures for i in (e["class"], *e["accept"])} - {"none"}
        assert named - catalogue_ids(RULES) == set()

    def test_every_file_in_the_folder_has_an_entry() -> None:
        listed = {(f / entry["file"]).resolve() for f, entry in every}
        present = {
            p.resolve()
            for f in (folder, folder / "healthy")
            for p in f.iterdir()
            if p.is_file() and p.name != "index.yaml"
        }
        assert present == listed

    return {name: fn for name, fn in locals().items() if name.startswith("test_")}


def collected_set_tests(name: str) -> dict[str, Callable[..., None]]:
    """The two checks of a set whose folder also holds the collector's README.md (held-out-7
    on): every case file has an entry (README.md is no case, unlike in `data_tests`' own
    every-file check, which such a set leaves out), and every failure carries the collector's
    keys."""
    folder = REAL_WORLD / name

    def test_every_case_file_in_the_folder_has_an_entry() -> None:
        every = load_entries(folder) + load_entries(folder / "healthy")
        listed = {(f / entry["file"]).resolve() for f, entry in every}
        present = {
            p.resolve()
            for f in (folder, folder / "healthy")
            for p in f.iterdir()
            if p.is_file() and p.name not in {"index.yaml", "README.md"}
        }
        assert present == listed

    def test_failures_carry_the_collectors_keys() -> None:
        for _, entry in load_entries(folder):
            assert entry["cause"] and entry["resolution"] and entry["decisive"]
            assert {"repo", "issue", "url"} <= set(entry["source"])

    return {name: fn for name, fn in locals().items() if name.startswith("test_")}
