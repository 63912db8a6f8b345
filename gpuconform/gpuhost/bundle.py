"""Pack what a lent GPU host needs for ``pytest --cluster=gpu-host`` into carryable chunks.

One device call carries at most 64 MiB (the checkout plus its ``carry`` paths), and the host
is given back after 30 s idle. So everything is packed here into *pieces* (each a tar,
xz-compressed unless its content already is), the pieces are laid end to end and cut into
*chunks* of ``chunk_mib``; back-to-back calls each carry one chunk, and ``unpack.py`` on the
host appends it and extracts every piece whose bytes have all arrived into ``/opt/gpuconform``.

    python -m gpuconform.gpuhost.bundle OUT_DIR [--chunk-mib N]

writes ``OUT_DIR/chunk-NN``, ``manifest.json`` and ``unpack.py``, and prints one device
command per chunk. Pieces are cached by content key under the cache, so a second bundle
only re-packs what changed (usually the source).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

from gpuconform.gpuhost import hosttools, prebuilt
from gpuconform.gpuhost.unpack import sha256  # the host's own check, the same function
from gpuconform.sim import node_images, third_party, toolchain
from gpuconform.sim.staging import staging_path

REPO = Path(__file__).resolve().parents[2]
UNPACK_SCRIPT = Path(__file__).with_name("unpack.py")
HOST_DIR = "/opt/gpuconform"  # where the host keeps what arrives, while it is warm
DEFAULT_CHUNK_MIB = 56  # 64 MiB a call, less the checkout that travels too (~3 MiB) and slack
THIRD_PARTY_PARTS = ("nvidia-device-plugin", "nvidia-dra-driver-gpu", "mock-nvml")  # the host reads
XZ = ["xz", "-3", "-T2"]


class BundleError(RuntimeError):
    """The bundle could not be made; the message says which piece and why."""


@dataclass
class Piece:
    name: str  # also says what it holds: control-plane-<key>.tar.xz
    path: Path
    into: str  # directory under HOST_DIR it is extracted into

    def describe(self) -> dict:
        return {
            "name": self.name,
            "size": self.path.stat().st_size,
            "sha256": sha256(self.path),
            "into": self.into,
        }


def pieces_dir() -> Path:
    return toolchain.cache_root() / "gpuhost-bundle" / "pieces"


def _tar(name: str, base: Path, members: list[str], compress: bool) -> Path:
    """tar ``members`` (relative to ``base``) into the piece ``name``, unless cached."""
    out = pieces_dir() / name
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = staging_path(out)
    with tmp.open("wb") as sink:
        tar = subprocess.Popen(
            ["tar", "-C", str(base), "-cf", "-", *members],
            stdout=subprocess.PIPE if compress else sink,
        )
        if compress:
            subprocess.run(XZ, stdin=tar.stdout, stdout=sink, check=True)
            tar.stdout.close()
        if tar.wait() != 0:
            raise BundleError(f"tar of {members} in {base} failed for piece {name}")
    tmp.replace(out)
    return out


def _key(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:12]


def _files_key(paths: list[Path]) -> str:
    return _key([(str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(paths)])


def toolchain_pieces() -> list[Piece]:
    """Control plane and node binaries, as ``toolchain.ensure_*`` left them in the cache."""
    out = []
    for label, yaml_file in (
        ("control-plane", toolchain.TOOLCHAIN_FILE),
        ("node-toolchain", toolchain.NODE_TOOLCHAIN_FILE),
    ):
        missing = toolchain.missing_binaries(yaml_file)
        if missing:
            raise BundleError(
                f"{label} binaries missing: {', '.join(missing)}; run `make toolchain`"
            )
        bin_dir = toolchain.bin_dir(yaml_file)
        rel = str(bin_dir.relative_to(toolchain.cache_root()))
        name = f"{label}-{bin_dir.parent.name}.tar.xz"
        out.append(Piece(name, _tar(name, toolchain.cache_root(), [rel], True), "cache"))
    return out


def images_piece() -> Piece:
    """Every image images.yaml defines, built here, with the manifest the host reads."""
    archives = node_images.build_archives()
    key = _files_key(list(archives.values()))
    stage = pieces_dir() / f"images-{key}"
    if not (stage / "images" / prebuilt.MANIFEST).exists():
        (stage / "images").mkdir(parents=True, exist_ok=True)
        for path in archives.values():
            shutil.copy2(path, stage / "images" / path.name)
        prebuilt.write_manifest(stage / "images", archives)
    name = f"images-{key}.tar.xz"
    return Piece(name, _tar(name, stage, ["images"], True), ".")


def third_party_piece() -> Piece:
    """NVIDIA's plugin binaries and charts (and the mock NVML), with their SHA256SUMS lines."""
    src = third_party.source_dir()
    if src is None:
        raise BundleError(f"no third-party directory; set {third_party.ENV_VAR}")
    lines = [
        line
        for line in (src / "SHA256SUMS").read_text().splitlines()
        if line.split()[-1].removeprefix("./").split("/")[0] in THIRD_PARTY_PARTS
    ]
    key = _key(lines)
    stage = pieces_dir() / f"third-party-{key}"
    if not (stage / "third_party" / "SHA256SUMS").exists():
        for part in THIRD_PARTY_PARTS:
            shutil.copytree(src / part, stage / "third_party" / part, dirs_exist_ok=True)
        (stage / "third_party" / "SHA256SUMS").write_text("\n".join(lines) + "\n")
    name = f"third-party-{key}.tar"  # already xz inside
    return Piece(name, _tar(name, stage, ["third_party"], False), ".")


def proto_piece() -> Piece:
    """The kubelet device-plugin API generated here (the host has no grpc_tools)."""
    proto = toolchain.cache_root() / "proto"
    files = [p for p in proto.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    if not files:
        raise BundleError(f"{proto} is empty; run `make toolchain` (it generates the API)")
    name = f"proto-{_files_key(files)}.tar"
    return Piece(name, _tar(name, toolchain.cache_root(), ["proto"], False), "cache")


def wheels_piece(wheel_dir: Path) -> Piece:
    """Python packages the host's Python 3.12 lacks (wheels.txt), installed by unpack.py."""
    wheels = sorted(wheel_dir.glob("*.whl"))
    if not wheels:
        raise BundleError(f"no wheels in {wheel_dir}; see gpuconform/gpuhost/wheels.txt")
    key = _files_key(wheels)
    stage = pieces_dir() / f"wheels-{key}"
    (stage / "wheels").mkdir(parents=True, exist_ok=True)
    for wheel in wheels:
        shutil.copy2(wheel, stage / "wheels" / wheel.name)
    name = f"wheels-{key}.tar"
    return Piece(name, _tar(name, stage, ["wheels"], False), ".")


def source_piece(ref: str = "HEAD") -> Piece:
    """The project at ``ref`` (committed code only: what runs there is what was committed)."""
    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", ref], capture_output=True, text=True, check=True
    ).stdout.strip()
    name = f"source-{commit[:12]}.tar.xz"
    out = pieces_dir() / name
    if not out.exists():
        tmp = staging_path(out)
        with tmp.open("wb") as sink:
            archive = subprocess.Popen(
                ["git", "-C", str(REPO), "archive", "--prefix=src/", commit],
                stdout=subprocess.PIPE,
            )
            subprocess.run(XZ, stdin=archive.stdout, stdout=sink, check=True)
            archive.stdout.close()
            if archive.wait() != 0:
                raise BundleError(f"git archive {commit} failed")
        tmp.replace(out)
    return Piece(name, out, ".")


def hosttools_piece() -> Piece:
    stage = hosttools.stage(pieces_dir())
    name = f"{stage.parent.name}.tar.xz"
    return Piece(name, _tar(name, stage.parent, [stage.name], True), ".")


def collect(wheel_dir: Path) -> list[Piece]:
    """Small pieces first: the source, wheels and tools arrive in the first call."""
    pieces = [
        source_piece(),
        wheels_piece(wheel_dir),
        proto_piece(),
        hosttools_piece(),
        third_party_piece(),
        images_piece(),
        *toolchain_pieces(),
    ]
    return pieces


def write_chunks(
    pieces: list[Piece], out_dir: Path, chunk_mib: int, host_dir: str = HOST_DIR
) -> dict:
    """Lay the pieces end to end, cut into chunks; write them, the manifest and unpack.py."""
    if chunk_mib < 1:
        raise BundleError("chunk size must be at least 1 MiB")
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("chunk-*"):
        old.unlink()
    limit = chunk_mib << 20
    entries, offset = [], 0
    for piece in pieces:
        entry = piece.describe()
        entry["offset"] = offset
        offset += entry["size"]
        entries.append(entry)
    chunks: list[dict] = []
    current, written = None, 0
    for piece in pieces:
        with piece.path.open("rb") as source:
            while True:
                if current is None or written == limit:
                    if current is not None:
                        current.close()
                    path = out_dir / f"chunk-{len(chunks):02d}"
                    chunks.append({"file": path.name})
                    current, written = path.open("wb"), 0
                block = source.read(min(limit - written, 1 << 20))
                if not block:
                    break
                current.write(block)
                written += len(block)
    if current is not None:
        current.close()
    for chunk in chunks:
        path = out_dir / chunk["file"]
        chunk.update(size=path.stat().st_size, sha256=sha256(path))
    chunks = [c for c in chunks if c["size"] > 0]
    manifest = {"host_dir": host_dir, "total": offset, "pieces": entries, "chunks": chunks}
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2))
    shutil.copy2(UNPACK_SCRIPT, out_dir / "unpack.py")
    return manifest


def device_commands(manifest: dict, carry_dir: str, run_command: str) -> list[dict]:
    """One device call per chunk: carry it (and the manifest and unpacker), unpack it; the
    last call also starts the run."""
    calls = []
    for index, chunk in enumerate(manifest["chunks"]):
        command = f"python3 {carry_dir}/unpack.py {carry_dir} {index}"
        if index == len(manifest["chunks"]) - 1:
            command += f" && {run_command}"
        carry = [f"{carry_dir}/{chunk['file']}", f"{carry_dir}/manifest.json"]
        calls.append({"carry": [*carry, f"{carry_dir}/unpack.py"], "command": command})
    return calls


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--chunk-mib", type=int, default=DEFAULT_CHUNK_MIB)
    parser.add_argument("--wheels", type=Path, required=True, help="directory of .whl files")
    parser.add_argument(
        "--carry-dir", default=".gpuhost-carry", help="out_dir, as the call sees it"
    )
    parser.add_argument("--host-dir", default=HOST_DIR, help="where the host unpacks it")
    parser.add_argument(
        "--run", help="the last call's command after unpacking (default: host_run.sh)"
    )
    args = parser.parse_args(argv)
    run = args.run or f"bash {args.host_dir}/src/gpuconform/gpuhost/host_run.sh"
    try:
        pieces = collect(args.wheels)
        manifest = write_chunks(pieces, args.out_dir, args.chunk_mib, args.host_dir)
    except (BundleError, node_images.ImageError, third_party.ThirdPartyError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    for piece in manifest["pieces"]:
        print(f"piece {piece['name']}: {piece['size'] / 2**20:.1f} MiB")
    calls = device_commands(manifest, args.carry_dir, run)
    (args.out_dir / "calls.json").write_text(json.dumps(calls, indent=2))
    print(f"{len(calls)} chunks, {manifest['total'] / 2**20:.1f} MiB; calls in calls.json")
    return 0


def read_tar_names(path: Path) -> list[str]:
    """The member names of a piece (for tests and for checking a bundle by hand)."""
    with tarfile.open(path) as tar:
        return tar.getnames()


if __name__ == "__main__":
    sys.exit(main())
