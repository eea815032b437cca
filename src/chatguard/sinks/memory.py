"""In-process sinks: a recording sink for tests and a wrapper for plain callbacks.

:class:`MemorySink` is the test double chatguard ships to its users (as structlog ships
``capture_logs``): assertions about emitted events run against the real pipeline.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from ..errors import ConfigError
from ..events import Event, EventKind

__all__ = ["CallbackSink", "MemorySink"]


class MemorySink:
    """Keeps every event in ``events``, in emission order. Thread-safe."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._lock = threading.Lock()

    def emit(self, event: Event) -> None:
        with self._lock:
            self.events.append(event)

    def clear(self) -> None:
        """Forget every recorded event (e.g. between test phases)."""
        with self._lock:
            self.events.clear()

    def of_kind(self, kind: EventKind) -> list[Event]:
        """The recorded events of one kind, in emission order."""
        with self._lock:
            return [e for e in self.events if e.kind == kind]

    def __len__(self) -> int:
        return len(self.events)

    def __repr__(self) -> str:
        return f"MemorySink({len(self.events)} events)"


class CallbackSink:
    """Adapts a ``Callable[[Event], None]`` to the sink protocol.

    The dispatcher accepts bare callables already; this wrapper exists to give a callback a
    stable ``name`` in stats and dead letters, and to pass one where an object is required
    (for example as the inner sink of a :class:`~chatguard.sinks.QueueSink`).
    """

    def __init__(self, fn: Callable[[Event], None], *, name: str | None = None) -> None:
        if not callable(fn):
            raise ConfigError(f"CallbackSink needs a callable, got {fn!r}")
        self.fn = fn
        self.name = name or f"CallbackSink({getattr(fn, '__qualname__', repr(fn))})"

    def emit(self, event: Event) -> None:
        self.fn(event)

    def __repr__(self) -> str:
        return self.name
