#!/usr/bin/env python3
"""On the GPU host: take one chunk of the bundle (bundle.py), append it, extract each piece
whose bytes have all arrived; after the last piece, install the carried wheels.

    python3 unpack.py CARRY_DIR INDEX

Standard library only (it runs before anything is installed). Chunks must arrive in order
on one host: a chunk that does not continue what the host holds stops with a message (a fresh
host after a give-back has nothing: start again at chunk 0).
"""

import hashlib
import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

DEVICE_SECONDS = "device-seconds.log"  # one line per call: what, seconds


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def append_chunk(carry: Path, manifest: dict, index: int, blob: Path) -> int:
    chunk = manifest["chunks"][index]
    source = carry / chunk["file"]
    if sha256(source) != chunk["sha256"]:
        raise SystemExit(f"unpack: {source} does not match the manifest's sha256")
    start = sum(c["size"] for c in manifest["chunks"][:index])
    if index == 0:
        blob.unlink(missing_ok=True)
    have = blob.stat().st_size if blob.exists() else 0
    if have != start:
        raise SystemExit(
            f"unpack: chunk {index} starts at byte {start}, but this host holds {have}: "
            "a fresh host (the last one was given back?); start again at chunk 0"
        )
    with blob.open("ab") as sink, source.open("rb") as data:
        while block := data.read(1 << 20):
            sink.write(block)
    return blob.stat().st_size


def extract(blob: Path, piece: dict, host: Path) -> None:
    part = host / f".{piece['name']}"
    with blob.open("rb") as data, part.open("wb") as sink:
        data.seek(piece["offset"])
        left = piece["size"]
        while left:
            block = data.read(min(left, 1 << 20))
            sink.write(block)
            left -= len(block)
    if sha256(part) != piece["sha256"]:
        raise SystemExit(f"unpack: piece {piece['name']} does not match the manifest")
    into = host / piece["into"]
    into.mkdir(parents=True, exist_ok=True)
    if subprocess.run(["tar", "-C", str(into), "-xf", str(part)]).returncode != 0:
        with tarfile.open(part) as tar:  # no tar (or no xz) on the host
            tar.extractall(into, filter="tar")
    part.unlink()


def install_wheels(host: Path) -> None:
    wheels = sorted(str(p) for p in (host / "wheels").glob("*.whl"))
    if not wheels or os.environ.get("GPUCONFORM_UNPACK_NO_WHEELS"):  # a rehearsal's own venv
        return
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps"]
    cmd += ["--no-compile", "--no-cache-dir", "--upgrade", "--target", str(host / "site")]
    subprocess.run([*cmd, *wheels], check=True)


def main(argv: list[str]) -> int:
    started = time.monotonic()
    carry, index = Path(argv[0]), int(argv[1])
    manifest = json.loads((carry / "manifest.json").read_text())
    host = Path(manifest["host_dir"])
    done = host / ".extracted"
    done.mkdir(parents=True, exist_ok=True)
    blob = host / "bundle.blob"
    have = append_chunk(carry, manifest, index, blob)
    for piece in manifest["pieces"]:
        marker = done / piece["name"]
        if not marker.exists() and piece["offset"] + piece["size"] <= have:
            extract(blob, piece, host)
            marker.touch()
            print(f"unpack: {piece['name']} -> {host / piece['into']}", flush=True)
    complete = all((done / p["name"]).exists() for p in manifest["pieces"])
    if complete:
        blob.unlink()
        install_wheels(host)
    state = "complete" if complete else f"{have}/{manifest['total']} bytes"
    seconds = time.monotonic() - started
    # Each call's time on the host, summed by host_run.sh into the session's device time.
    with (host / DEVICE_SECONDS).open("a") as log:
        log.write(f"chunk-{index:02d} {seconds:.1f}\n")
    print(f"unpack: chunk {index} in {seconds:.1f}s; bundle {state}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
