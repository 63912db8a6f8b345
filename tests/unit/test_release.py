"""Release bookkeeping that needs no cluster."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

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
