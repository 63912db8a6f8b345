"""helm post-renderer: put the run-id label on every rendered object and pod template.

helm pipes the rendered manifests in and installs what comes out; usage:
`python -m gpuconform.post_render RUN_ID`.
"""

from __future__ import annotations

import sys
from typing import Any

import yaml

from gpuconform.conditions import RUN_ID_LABEL

POD_TEMPLATE_KINDS = {"DaemonSet", "Deployment", "StatefulSet", "ReplicaSet", "Job"}


def label_objects(docs: list[Any], run_id: str) -> list[Any]:
    for doc in docs:
        if not isinstance(doc, dict) or "kind" not in doc:
            continue
        meta = doc.setdefault("metadata", {}) or {}
        doc["metadata"] = meta
        meta.setdefault("labels", {})
        meta["labels"] = (meta["labels"] or {}) | {RUN_ID_LABEL: run_id}
        if doc["kind"] in POD_TEMPLATE_KINDS:
            template = doc.setdefault("spec", {}).setdefault("template", {})
            tmeta = template.setdefault("metadata", {}) or {}
            template["metadata"] = tmeta
            tmeta["labels"] = (tmeta.get("labels") or {}) | {RUN_ID_LABEL: run_id}
    return docs


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m gpuconform.post_render RUN_ID", file=sys.stderr)
        return 2
    docs = [d for d in yaml.safe_load_all(sys.stdin.read()) if d is not None]
    yaml.safe_dump_all(label_objects(docs, argv[0]), sys.stdout, sort_keys=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
