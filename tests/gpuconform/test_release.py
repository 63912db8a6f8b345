"""Release bookkeeping that needs no cluster."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import pytest

from gpuconform.helm import release_objects
from gpuconform.release import Release, ReleaseError


def test_uninstalling_a_static_manifest_with_nothing_recorded_fails():
    profile = SimpleNamespace(
        chart=SimpleNamespace(manifest="nvidia-device-plugin.yml"),
        timeouts={"uninstall": 5},
        namespace="kube-system",
        release_name="nvdp",
    )
    ctx = SimpleNamespace(profile=profile, progress=lambda line: None, helm=None)
    release = Release(ctx, installed=True)  # type: ignore[arg-type]
    with pytest.raises(ReleaseError, match="nothing to delete"):
        release.uninstall()
    assert not release.uninstalled


def test_release_objects_are_the_documents_of_the_install_output_manifest():
    # `helm install --output json` carries the post-rendered manifest; comments and empty
    # documents (a template that rendered nothing) are not objects.
    result = {
        "manifest": "---\n# Source: a/ds.yaml\napiVersion: apps/v1\nkind: DaemonSet\n"
        "metadata: {name: nvdp}\n---\n# Source: a/empty.yaml\n---\n"
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: nvdp}\n"
    }
    assert [o["kind"] for o in release_objects(result)] == ["DaemonSet", "ServiceAccount"]


def test_the_post_renderer_does_not_import_the_kubernetes_client():
    # helm starts it once per install; the client's import alone took ~0.3 s (issue 18).
    code = "import sys, gpuconform.post_render; print('kubernetes' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
