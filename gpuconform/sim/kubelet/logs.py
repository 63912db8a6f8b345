"""Container logs of the SIMULATED container runtime, in the CRI format kubelet reads.

Each container has two files, as kubelet keeps them: the current instance's log and the
previous (last terminated) instance's log, which `kubectl logs --previous` reads. KWOK's
logs endpoint serves both from fixed paths named in a Logs object, so the paths never change;
only their contents rotate.
"""

from __future__ import annotations

import os
import shutil
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO


def cri_line(text: str, stream: str = "stdout") -> str:
    """One CRI log record: `<RFC3339Nano time> <stream> F <line>` (F: a full line)."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return f"{stamp} {stream} F {text}\n"


def cri_log(text: str, stream: str = "stdout") -> str:
    """Text in the CRI log format, one record per line."""
    return "".join(cri_line(line, stream) for line in text.splitlines())


@dataclass(frozen=True)
class ContainerLogFiles:
    """Where one container's current and previous logs live."""

    directory: Path
    container: str

    @property
    def current(self) -> Path:
        return self.directory / f"{self.container}.log"

    @property
    def previous(self) -> Path:
        return self.directory / f"{self.container}.previous.log"

    def create(self) -> None:
        """Both files exist (empty) from the start, so KWOK never reads a missing file."""
        self.directory.mkdir(parents=True, exist_ok=True)
        for path in (self.current, self.previous):
            path.touch(exist_ok=True)

    def keep_as_previous(self) -> None:
        """The instance that just ended becomes `--previous` (atomically: copy, then rename)."""
        staging = self.previous.with_suffix(".tmp")
        shutil.copyfile(self.current, staging)
        os.replace(staging, self.previous)

    def start_new_instance(self) -> None:
        self.current.write_text("")


class LogPump:
    """Copies a process's stdout and stderr into a CRI log file, line by line.

    `join()` returns once both streams reached EOF and everything is on disk: the caller
    reports the container terminated only after that, so its log is complete by then.
    """

    def __init__(self, path: Path, stdout: IO[bytes], stderr: IO[bytes]) -> None:
        self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed in join()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._copy, args=(stream, name), daemon=True)
            for stream, name in ((stdout, "stdout"), (stderr, "stderr"))
        ]
        for thread in self._threads:
            thread.start()

    def _copy(self, stream: IO[bytes], name: str) -> None:
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", errors="replace").rstrip("\n")
            with self._lock:
                self._file.write(cri_line(line, name))
                self._file.flush()
        stream.close()

    def join(self) -> None:
        for thread in self._threads:
            thread.join()
        with self._lock:
            self._file.close()
