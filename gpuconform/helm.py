"""The real helm CLI: install, upgrade, uninstall and status, with errors as one clear line.

Every object a release renders gets the run-id label through a post-renderer, so the suite
can find, clean up and leak-check exactly what this run created, with any chart.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gpuconform.kube import RUN_ID_LABEL
from gpuconform.profile import ChartSource

# Names the helm binary to use, ahead of PATH.
HELM_ENV = "GPUCONFORM_HELM"


class HelmError(RuntimeError):
    """helm failed; the message is helm's own error, trimmed to one line."""


@dataclass
class Helm:
    binary: str
    kubeconfig: str | None
    context: str | None

    @classmethod
    def locate(
        cls, kubeconfig: str | None, context: str | None, extra_dirs: Sequence[Path] = ()
    ) -> Helm:
        """The helm binary: $GPUCONFORM_HELM, else `helm` on PATH, else one in `extra_dirs`
        (the session passes the toolchain's bin directory; the library knows no simulator)."""
        binary = os.environ.get(HELM_ENV) or shutil.which("helm")
        if binary is None:
            binary = next((str(d / "helm") for d in extra_dirs if (d / "helm").exists()), None)
        if binary is None:
            raise HelmError("the helm CLI is not on PATH; install helm 3 or run `make toolchain`")
        return cls(binary, kubeconfig, context)

    def _run(self, *args: str, timeout_s: float | None = None) -> str:
        cmd = [self.binary, *args]
        if self.kubeconfig:
            cmd += ["--kubeconfig", self.kubeconfig]
        if self.context:
            cmd += ["--kube-context", self.context]
        try:
            proc = subprocess.run(
                cmd, capture_output=True, text=True, timeout=(timeout_s + 30) if timeout_s else None
            )
        except subprocess.TimeoutExpired:
            raise HelmError(f"helm {args[0]} did not finish within {timeout_s:.0f}s") from None
        if proc.returncode != 0:
            raise HelmError(one_line_error(proc.stderr or proc.stdout))
        return proc.stdout

    def version(self) -> str:
        return self._run("version", "--short").strip()

    def chart_args(self, chart: ChartSource) -> list[str]:
        """Where the chart comes from, as helm arguments (repo URL, local path or OCI ref)."""
        if chart.path:
            ref = [chart.path]
        elif chart.oci:
            ref = [chart.oci]
        elif chart.repo:
            # --repo avoids touching the operator's repository list (`helm repo add`).
            ref = [chart.name, "--repo", chart.repo]
        else:
            raise HelmError("no helm chart source (repo, path or oci) in the profile")
        if chart.version:
            ref += ["--version", chart.version]
        for values in chart.values:
            ref += ["--values", values]
        for item in chart.set:
            ref += ["--set", item]
        return ref

    def _release_args(self, run_id: str, extra_set: list[str], timeout_s: float) -> list[str]:
        args = [
            "--labels",
            f"{RUN_ID_LABEL}={run_id}",
            "--post-renderer",
            sys.executable,
            "--post-renderer-args",
            "-m",
            "--post-renderer-args",
            "gpuconform.post_render",
            "--post-renderer-args",
            run_id,
            "--timeout",
            f"{int(timeout_s)}s",
            "--output",
            "json",
        ]
        for item in extra_set:
            args += ["--set", item]
        return args

    def render(
        self, release: str, namespace: str, chart: ChartSource, kube_version: str
    ) -> list[dict[str, Any]]:
        """`helm template`: proves the chart exists and renders with these values, creating
        nothing on the cluster. Returns the rendered objects."""
        out = self._run(
            "template",
            release,
            *self.chart_args(chart),
            "--namespace",
            namespace,
            "--kube-version",
            kube_version,
        )
        return [doc for doc in yaml.safe_load_all(out) if isinstance(doc, dict)]

    def install(
        self,
        release: str,
        namespace: str,
        chart: ChartSource,
        run_id: str,
        timeout_s: float,
        extra_set: list[str] | None = None,
    ) -> dict[str, Any]:
        out = self._run(
            "install",
            release,
            *self.chart_args(chart),
            "--namespace",
            namespace,
            *self._release_args(run_id, extra_set or [], timeout_s),
            timeout_s=timeout_s,
        )
        return json.loads(out)

    def upgrade(
        self,
        release: str,
        namespace: str,
        chart: ChartSource,
        run_id: str,
        timeout_s: float,
        extra_set: list[str] | None = None,
    ) -> dict[str, Any]:
        out = self._run(
            "upgrade",
            release,
            *self.chart_args(chart),
            "--namespace",
            namespace,
            *self._release_args(run_id, extra_set or [], timeout_s),
            timeout_s=timeout_s,
        )
        return json.loads(out)

    def uninstall(self, release: str, namespace: str, timeout_s: float) -> None:
        self._run(
            "uninstall",
            release,
            "--namespace",
            namespace,
            "--wait",
            "--timeout",
            f"{int(timeout_s)}s",
            timeout_s=timeout_s,
        )

    def status(self, release: str, namespace: str) -> dict[str, Any] | None:
        try:
            return json.loads(self._run("status", release, "--namespace", namespace, "-o", "json"))
        except HelmError as err:
            if "not found" in str(err):
                return None
            raise


def release_objects(release: dict[str, Any]) -> list[dict[str, Any]]:
    """The objects a release rendered, from `helm install --output json`: its `manifest` is
    what `helm get manifest` prints (post-rendered), without a second helm run."""
    return [doc for doc in yaml.safe_load_all(release["manifest"]) if isinstance(doc, dict)]


def one_line_error(stderr: str) -> str:
    """helm's error, one line: the `Error:` line without helm's prefixes, warnings dropped."""
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error:")] or lines[-1:] or ["(no output)"]
    message = errors[-1].removeprefix("Error:").strip()
    for prefix in ("INSTALLATION FAILED:", "UPGRADE FAILED:", "uninstall:"):
        message = message.removeprefix(prefix).strip()
    return message
