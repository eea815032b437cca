"""A durable append-only JSON Lines sink.

One event per line, exactly ``Event.model_dump_json()``, so ``Event.model_validate_json(line)``
reads it back. The file is opened in binary append mode and each line is written with a single
``write`` call: with ``O_APPEND`` several processes can share one file without interleaving
lines. With ``fsync=True`` (the default) each event is flushed and fsynced before ``emit``
returns, so an event the dispatcher counted as emitted survives a crash of the host.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from ..errors import ConfigError, SinkError
from ..events import Event

__all__ = ["JsonlSink"]


class JsonlSink:
    """Appends one JSON line per event to ``path``. Thread-safe; call :meth:`close` when done."""

    def __init__(self, path: str | Path, *, fsync: bool = True) -> None:
        self.path = Path(path)
        self.fsync = fsync
        self._lock = threading.Lock()
        try:
            self._file: BinaryIO | None = open(self.path, "ab")  # noqa: SIM115 - closed in close()
        except OSError as exc:
            raise ConfigError(f"JsonlSink cannot open {self.path} for appending: {exc}") from exc

    def emit(self, event: Event) -> None:
        line = event.model_dump_json().encode("utf-8") + b"\n"
        with self._lock:
            if self._file is None:
                raise SinkError(f"JsonlSink {self.path} is closed")
            try:
                self._file.write(line)
                self._file.flush()
                if self.fsync:
                    os.fsync(self._file.fileno())
            except OSError as exc:
                raise SinkError(f"JsonlSink cannot write {self.path}: {exc}") from exc

    def flush(self) -> None:
        with self._lock:
            if self._file is not None:
                try:
                    self._file.flush()
                    if self.fsync:
                        os.fsync(self._file.fileno())
                except OSError as exc:
                    raise SinkError(f"JsonlSink cannot flush {self.path}: {exc}") from exc

    def close(self) -> None:
        """Flush and close the file; idempotent. A later ``emit`` raises ``SinkError``."""
        with self._lock:
            f, self._file = self._file, None
        if f is not None:
            try:
                f.close()
            except OSError as exc:
                raise SinkError(f"JsonlSink cannot close {self.path}: {exc}") from exc

    @property
    def closed(self) -> bool:
        return self._file is None

    def __enter__(self) -> JsonlSink:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"JsonlSink({str(self.path)!r}, fsync={self.fsync})"
