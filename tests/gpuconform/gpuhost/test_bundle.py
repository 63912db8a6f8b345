"""The GPU host's bundle (gpuconform/gpuhost/bundle.py and unpack.py): chunking, sizes, the
manifest, and the unpack script run as the host runs it, chunk by chunk."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from gpuconform.gpuhost import bundle

UNPACK = Path(bundle.__file__).with_name("unpack.py")


def _tar_piece(path: Path, files: dict[str, bytes], mode: str = "w") -> Path:
    with tarfile.open(path, mode) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o755
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture
def pieces(tmp_path: Path) -> list[bundle.Piece]:
    """Three pieces: random bytes do not compress, so sizes straddle chunk boundaries."""
    rng = __import__("random").Random(20)
    big = bytes(rng.getrandbits(8) for _ in range(1_700_000))
    src = tmp_path / "pieces"
    src.mkdir()
    return [
        bundle.Piece("src.tar", _tar_piece(src / "src.tar", {"src/a.txt": b"hello"}), "."),
        bundle.Piece(
            "bin.tar.xz", _tar_piece(src / "bin.tar.xz", {"bin/tool": big}, "w:xz"), "cache"
        ),
        bundle.Piece("more.tar", _tar_piece(src / "more.tar", {"more/b": big[:900_000]}), "."),
    ]


def test_chunks_fit_the_limit_and_rebuild_the_pieces(pieces, tmp_path):
    out = tmp_path / "carry"
    manifest = bundle.write_chunks(pieces, out, chunk_mib=1, host_dir="/h")
    limit = 1 << 20
    sizes = [c["size"] for c in manifest["chunks"]]
    assert all(0 < size <= limit for size in sizes)
    assert sizes[:-1] == [limit] * (len(sizes) - 1)  # only the last chunk is short
    joined = b"".join((out / c["file"]).read_bytes() for c in manifest["chunks"])
    assert joined == b"".join(p.path.read_bytes() for p in pieces)
    assert manifest["total"] == len(joined)
    for entry, piece in zip(manifest["pieces"], pieces, strict=True):
        assert joined[entry["offset"] : entry["offset"] + entry["size"]] == piece.path.read_bytes()
        assert entry["sha256"] == bundle.sha256(piece.path)
    assert (out / "unpack.py").read_text() == UNPACK.read_text()
    assert json.loads((out / "manifest.json").read_text()) == manifest


def test_one_device_call_per_chunk_the_last_starts_the_run(pieces, tmp_path):
    manifest = bundle.write_chunks(pieces, tmp_path / "carry", chunk_mib=1)
    calls = bundle.device_commands(manifest, ".c", "bash run.sh")
    assert len(calls) == len(manifest["chunks"])
    for index, call in enumerate(calls):
        assert call["carry"] == [f".c/chunk-{index:02d}", ".c/manifest.json", ".c/unpack.py"]
        assert call["command"].startswith(f"python3 .c/unpack.py .c {index}")
    assert calls[-1]["command"].endswith("&& bash run.sh")
    assert not any("run.sh" in call["command"] for call in calls[:-1])


def test_a_chunk_larger_than_a_device_call_is_refused(pieces, tmp_path):
    with pytest.raises(bundle.BundleError):
        bundle.write_chunks(pieces, tmp_path / "carry", chunk_mib=0)


def _unpack(carry: Path, index: int) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(carry / "unpack.py"), str(carry), str(index)],
        capture_output=True,
        text=True,
    )


def test_unpack_extracts_each_piece_once_its_bytes_have_arrived(pieces, tmp_path):
    carry, host = tmp_path / "carry", tmp_path / "host"
    manifest = bundle.write_chunks(pieces, carry, chunk_mib=1, host_dir=str(host))
    assert len(manifest["chunks"]) == 3
    first = _unpack(carry, 0)
    assert first.returncode == 0, first.stderr
    assert (host / "src" / "a.txt").read_bytes() == b"hello"  # the small piece came whole
    assert not (host / "cache" / "bin").exists()  # the big one has not
    for index in (1, 2):
        proc = _unpack(carry, index)
        assert proc.returncode == 0, proc.stderr
    assert "bundle complete" in proc.stdout
    assert (host / "cache" / "bin" / "tool").stat().st_size == 1_700_000
    assert (host / "cache" / "bin" / "tool").stat().st_mode & 0o111  # still executable
    assert (host / "more" / "b").stat().st_size == 900_000
    assert not (host / "bundle.blob").exists()
    # Each call's time is kept for host_run.sh's device-time line, one line per chunk.
    logged = (host / "device-seconds.log").read_text().splitlines()
    assert [line.split()[0] for line in logged] == ["chunk-00", "chunk-01", "chunk-02"]
    assert all(float(line.split()[1]) >= 0 for line in logged)


def test_unpack_refuses_a_chunk_out_of_order(pieces, tmp_path):
    carry, host = tmp_path / "carry", tmp_path / "host"
    bundle.write_chunks(pieces, carry, chunk_mib=1, host_dir=str(host))
    proc = _unpack(carry, 1)  # a fresh host: chunk 0 never arrived
    assert proc.returncode != 0
    assert "start again at chunk 0" in proc.stderr


def test_unpack_refuses_a_damaged_chunk(pieces, tmp_path):
    carry, host = tmp_path / "carry", tmp_path / "host"
    bundle.write_chunks(pieces, carry, chunk_mib=1, host_dir=str(host))
    data = bytearray((carry / "chunk-00").read_bytes())
    data[100] ^= 0xFF
    (carry / "chunk-00").write_bytes(bytes(data))
    proc = _unpack(carry, 0)
    assert proc.returncode != 0
    assert "does not match the manifest" in proc.stderr


def test_the_third_party_piece_keeps_the_checksums_of_what_it_carries(tmp_path, monkeypatch):
    src = tmp_path / "third_party"
    carried_rels = (
        "nvidia-device-plugin/v0.20.0/chart.tgz",
        "nvidia-dra-driver-gpu/v25.12.0/chart.tgz",
        "mock-nvml/lib.xz",
    )
    for rel in (*carried_rels, "other/x"):
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(rel.encode())
    sums = [f"{'0' * 64}  ./{rel}" for rel in (*carried_rels, "other/x")]
    (src / "SHA256SUMS").write_text("\n".join(sums) + "\n")
    monkeypatch.setenv("GPUCONFORM_THIRD_PARTY", str(src))
    monkeypatch.setenv("GPUCONFORM_CACHE", str(tmp_path / "cache"))
    piece = bundle.third_party_piece()
    names = bundle.read_tar_names(piece.path)
    assert "third_party/nvidia-device-plugin/v0.20.0/chart.tgz" in names
    assert "third_party/nvidia-dra-driver-gpu/v25.12.0/chart.tgz" in names  # the DRA path
    assert "third_party/mock-nvml/lib.xz" in names
    assert not any(name.startswith("third_party/other") for name in names)
    with tarfile.open(piece.path) as tar:
        carried = tar.extractfile("third_party/SHA256SUMS").read().decode().splitlines()
    assert carried == sums[:3]
