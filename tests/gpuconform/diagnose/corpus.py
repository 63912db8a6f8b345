"""The real-world corpus (tests/data/real-world/): its index entries and how the explainer
reads a case, exactly as `gpuconform explain FILE` does."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gpuconform.diagnose.explain import Evidence, Explanation, explain
from gpuconform.diagnose.explain_files import read_text_file

CORPUS = Path(__file__).resolve().parents[2] / "data" / "real-world"
HEALTHY = CORPUS / "healthy"
# Real cases collected by one helper and labelled with the catalogue id of their cause by
# another. `seen/` and `held-out/` were each measured once unseen (32 %, 45 %), then read to
# improve the explainer in general ways: both are development sets now (issue 22).
SEEN = CORPUS / "seen"
HELD_OUT = CORPUS / "held-out"


@dataclass(frozen=True)
class Case:
    folder: Path
    entry: dict[str, Any]

    @property
    def path(self) -> Path:
        return (self.folder / self.entry["file"]).resolve()

    @property
    def name(self) -> str:
        return self.entry["file"]

    def text(self) -> str:
        return read_text_file(self.path)

    def explain(self) -> Explanation:
        return explain([Evidence("file", str(self.path), self.text())])


def load_cases(folder: Path) -> list[Case]:
    return [Case(folder, entry) for entry in yaml.safe_load((folder / "index.yaml").read_text())]


def failure_cases() -> list[Case]:
    return load_cases(CORPUS)


def healthy_cases() -> list[Case]:
    return load_cases(HEALTHY)


def labelled_cases(folder: Path) -> list[Case]:
    """A labelled set's failure cases; none where the set is not there yet."""
    return load_cases(folder) if (folder / "index.yaml").is_file() else []


def labelled_healthy_cases(folder: Path) -> list[Case]:
    return labelled_cases(folder / "healthy")
