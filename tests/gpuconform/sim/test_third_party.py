"""third_party's pure logic: SHA256SUMS, the pinned sources, and source-build-or-prebuilt.

No network and no Go: builds are fakes, the cache and the artifacts live in tmp_path.
"""

from __future__ import annotations

import hashlib
import json
import lzma
import os
import subprocess
import time
from pathlib import Path

import pytest

from gpuconform.sim import third_party
from gpuconform.sim.toolchain import Component, ToolchainError

REFUSED = (
    "github.com/NVIDIA/k8s-device-plugin@v0.20.0: reading https://proxy.golang.org/github.com/"
    "%21n%21v%21i%21d%21i%21a/k8s-device-plugin/@v/v0.20.0.info: 403 Forbidden\n"
    "\tserver response: This module version is not available."
)


@pytest.fixture
def prebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A third-party directory with a prebuilt v0.20.0 plugin, and an empty cache."""
    src = tmp_path / "third_party"
    rel = "nvidia-device-plugin/v0.20.0/bin/nvidia-device-plugin.xz"
    (src / rel).parent.mkdir(parents=True)
    (src / rel).write_bytes(lzma.compress(b"prebuilt plugin"))
    digest = hashlib.sha256((src / rel).read_bytes()).hexdigest()
    (src / "SHA256SUMS").write_text(f"{digest}  ./{rel}\n")
    monkeypatch.setenv(third_party.ENV_VAR, str(src))
    monkeypatch.setenv("GPUCONFORM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(third_party, "_provenance", {})
    # `go` present or not on this machine must not matter.
    monkeypatch.setattr(third_party.shutil, "which", lambda name: f"/usr/bin/{name}")
    return src


class FakeBuild:
    """Stands in for build_from_source: writes the binaries, or fails like the proxy here."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.calls: list[str] = []

    def __call__(self, component: Component, version_dir: Path, extldflags: str) -> None:
        self.calls.append(component.version)
        if self.error is not None:
            raise self.error
        (version_dir / "bin").mkdir(parents=True, exist_ok=True)
        for name in component.packages:
            (version_dir / "bin" / name).write_text("built")


def test_checksums_parse_both_sha256sum_forms(tmp_path: Path) -> None:
    (tmp_path / "SHA256SUMS").write_text(
        f"{'A' * 64}  ./mock-nvml/LICENSE\n"
        f"{'b' * 64} *nvidia-device-plugin/v0.20.0/bin/config-manager.xz\n"
        "not a checksum line\n"
    )
    assert third_party._checksums(tmp_path) == {
        "mock-nvml/LICENSE": "a" * 64,
        "nvidia-device-plugin/v0.20.0/bin/config-manager.xz": "b" * 64,
    }


def test_sources_are_pinned_in_third_party_sources_yaml() -> None:
    sources = third_party.load_sources()
    assert set(sources) == {"v0.17.4", "v0.20.0"}
    assert set(sources["v0.17.4"].packages) == {"nvidia-device-plugin"}
    assert set(sources["v0.20.0"].packages) == set(third_party.PLUGIN_BINARIES)
    new = sources["v0.20.0"].component
    assert new.module == "github.com/NVIDIA/k8s-device-plugin"
    assert new.packages["gpu-feature-discovery"] == f"{new.module}/cmd/gpu-feature-discovery"
    # The same tag and commit as the prebuilt copies' SOURCE file.
    assert new.ldflags == {
        f"{new.module}/internal/info.version": "v0.20.0",
        f"{new.module}/internal/info.gitCommit": "1b826acc6af3079d8923bac395c3124b8861a9a6",
    }
    assert "--unresolved-symbols=ignore-in-object-files" in sources["v0.20.0"].extldflags


def test_built_binary_is_preferred(prebuilt: Path) -> None:
    build = FakeBuild()
    path = third_party._resolve("v0.20.0", "config-manager", build)
    assert path is not None and path.read_text() == "built"
    # One build covers every program of the tag.
    assert third_party._resolve("v0.20.0", "nvidia-device-plugin", build).read_text() == "built"
    assert build.calls == ["v0.20.0"]
    assert third_party.provenance() == {
        "v0.20.0/config-manager": "built from source",
        "v0.20.0/nvidia-device-plugin": "built from source",
    }


def test_refused_download_falls_back_once_and_is_remembered(prebuilt: Path) -> None:
    build = FakeBuild(ToolchainError(f"downloading ... failed: {REFUSED}"))
    path = third_party._resolve("v0.20.0", "nvidia-device-plugin", build)
    assert path is not None and path.read_bytes() == b"prebuilt plugin"
    assert third_party.provenance() == {
        "v0.20.0/nvidia-device-plugin": "prebuilt ($GPUCONFORM_THIRD_PARTY)"
    }
    third_party._resolve("v0.20.0", "nvidia-device-plugin", build)
    third_party._resolve("v0.20.0", "gpu-feature-discovery", build)
    assert build.calls == ["v0.20.0"]  # one refused attempt for the version, not per call
    assert "403 Forbidden" in (third_party.failed_build("v0.20.0") or "")


def test_a_remembered_failure_expires_after_a_day(prebuilt: Path) -> None:
    third_party._resolve("v0.20.0", "nvidia-device-plugin", FakeBuild(OSError("no network")))
    assert third_party.failed_build("v0.20.0") == "OSError: no network"
    later = time.time() + third_party.RETRY_AFTER_S + 1
    assert third_party.failed_build("v0.20.0", now=later) is None

    marker = third_party.source_build_dir() / "v0.20.0" / "FAILED"
    a_day_ago = time.time() - third_party.RETRY_AFTER_S - 1
    os.utime(marker, (a_day_ago, a_day_ago))
    build = FakeBuild()
    assert third_party._resolve("v0.20.0", "nvidia-device-plugin", build).read_text() == "built"
    assert build.calls == ["v0.20.0"] and not marker.exists()


def test_without_go_nothing_is_attempted_or_remembered(
    prebuilt: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(third_party.shutil, "which", lambda name: None)
    build = FakeBuild()
    assert third_party._resolve("v0.20.0", "nvidia-device-plugin", build) is not None
    assert build.calls == [] and third_party.failed_build("v0.20.0") is None


def test_unpinned_program_without_prebuilt_copy_is_none(prebuilt: Path) -> None:
    # v0.17.4 pins only the plugin itself, and this directory ships no prebuilt GFD for it.
    build = FakeBuild()
    assert third_party._resolve("v0.17.4", "gpu-feature-discovery", build) is None
    assert build.calls == [] and third_party.provenance() == {}


def _answer(returncode: int, payload: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.CompletedProcess([], returncode, stdout=json.dumps(payload), stderr="")


def test_download_reports_the_proxy_refusal(tmp_path: Path) -> None:
    def run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        assert cmd == ["go", "mod", "download", "-json", "example.com/m@v1.0.0"]
        assert kwargs["timeout"] == third_party.DOWNLOAD_TIMEOUT_S
        return _answer(1, {"Path": "example.com/m", "Version": "v1.0.0", "Error": REFUSED})

    with pytest.raises(ToolchainError, match="403 Forbidden") as err:
        third_party.download_module("example.com/m", "v1.0.0", tmp_path, {}, run=run)
    assert "This module version is not available." in str(err.value)


def test_download_timeout_is_a_toolchain_error(tmp_path: Path) -> None:
    def run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        raise subprocess.TimeoutExpired(cmd, 60)

    with pytest.raises(ToolchainError, match="timed out after 60s"):
        third_party.download_module("example.com/m", "v1.0.0", tmp_path, {}, run=run)


def test_download_returns_the_module_on_success(tmp_path: Path) -> None:
    ok = {"Path": "example.com/m", "Version": "v1.0.0", "Dir": "/mod/m@v1.0.0"}
    answer = third_party.download_module(
        "example.com/m", "v1.0.0", tmp_path, {}, run=lambda cmd, **kw: _answer(0, ok)
    )
    assert answer["Dir"] == "/mod/m@v1.0.0"


def test_nfd_is_pinned_with_upstream_replaces_and_its_image_ldflags() -> None:
    (source,) = third_party.load_sources(project=third_party.NFD).values()
    assert source.upstream_replaces and source.component.sibling_version == "v0.19.0"
    assert set(source.packages) == {"nfd-master", "nfd-worker", "nfd-gc"}
    # Upstream's image is built with HOSTMOUNT_PREFIX=/host- (its Makefile and Dockerfile).
    prefix = "sigs.k8s.io/node-feature-discovery/pkg/utils/hostpath.pathPrefix"
    assert source.component.ldflags[prefix] == "/host-"
    # Pinning NFD does not move the plugin's build directory.
    assert third_party.source_build_dir() != third_party.source_build_dir(project=third_party.NFD)


def test_version_replaces_keeps_pins_and_drops_local_paths() -> None:
    gomod = (
        "module sigs.k8s.io/node-feature-discovery\n"
        "replace (\n"
        "\tk8s.io/api => k8s.io/api v0.35.3\n"
        "\tsigs.k8s.io/node-feature-discovery/api/nfd => ./api/nfd\n"
        ")\n"
        "replace k8s.io/kubelet => k8s.io/kubelet v0.35.3\n"
    )
    assert third_party.version_replaces(gomod) == [
        ("k8s.io/api", "k8s.io/api", "v0.35.3"),
        ("k8s.io/kubelet", "k8s.io/kubelet", "v0.35.3"),
    ]
