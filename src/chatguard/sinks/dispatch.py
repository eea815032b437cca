"""The dispatcher: gives every event to every sink and keeps sink failures away from the caller.

The guard calls :meth:`Dispatcher.dispatch` from inside a chat backend's message handler, so a
broken sink must neither raise into that handler nor stop the other sinks. Each ``(sink, event)``
delivery is isolated: a failing ``emit`` is retried ``retries`` times with exponential backoff
(``retry_backoff * 2**n`` seconds); after that the event is dead-lettered.

Dead letters. One JSON object per failed ``(sink, event)``::

    {"sink": "WebhookSink", "error": "DeliveryError('...')", "attempts": 3,
     "failed_at": "2024-05-01T12:00:00+00:00", "event": {...Event as JSON...}}

appended as a line to the ``dead_letter`` JSONL file (fsynced, like the JSONL sink), so a
replay tool can re-emit ``Event.model_validate(record["event"])``. Without a file the records
stay in the bounded in-memory :attr:`Dispatcher.dead_letters` and each failure is logged as a
warning on the ``chatguard`` logger.

Sinks that retry or batch themselves raise :class:`~chatguard.sinks.DeliveryError`: that is
final, so it is not retried again, and every event it lists is dead-lettered. A
:class:`~chatguard.sinks.QueueSink` delivers in the background; unless it already has its own
callbacks, the dispatcher gives it ``on_drop`` / ``on_error`` handlers that apply the same retry
and dead-letter policy, so an event dropped from a full queue is not lost silently.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from ..errors import ConfigError, InputError
from ..events import Event
from .base import DeliveryError, SinkLike, as_emit, sink_name
from .queue import QueueSink

__all__ = ["Dispatcher"]

_log = logging.getLogger("chatguard")


@dataclass(slots=True)
class _Slot:
    """One registered sink with its counters (mutated under the dispatcher lock)."""

    name: str
    sink: SinkLike
    emit: Callable[[Event], None]
    emitted: int = 0
    failed: int = 0


class Dispatcher:
    """Fans events out to sinks, isolating, retrying and dead-lettering failures. Thread-safe.

    ``stats`` counts ``(sink, event)`` deliveries: ``emitted`` succeeded, ``failed`` were given
    up on (each one dead-lettered), ``retried`` counts retry attempts, and ``events`` counts the
    events passed to :meth:`dispatch`. For a :class:`~chatguard.sinks.QueueSink`, ``emitted``
    means "accepted by the queue"; its later drops and background failures add to ``failed``.
    """

    def __init__(
        self,
        sinks: Sequence[SinkLike],
        *,
        dead_letter: str | Path | None = None,
        retries: int = 2,
        retry_backoff: float = 0.05,
        dead_letter_limit: int = 1000,
    ) -> None:
        if retries < 0:
            raise ConfigError(f"Dispatcher retries must be >= 0, got {retries!r}")
        if retry_backoff < 0:
            raise ConfigError(f"Dispatcher retry_backoff must be >= 0, got {retry_backoff!r}")
        if dead_letter_limit < 1:
            raise ConfigError(
                f"Dispatcher dead_letter_limit must be >= 1, got {dead_letter_limit!r}"
            )
        self.dead_letter = Path(dead_letter) if dead_letter is not None else None
        if self.dead_letter is not None and not self.dead_letter.parent.is_dir():
            raise ConfigError(
                f"Dispatcher dead_letter directory does not exist: {self.dead_letter.parent}"
            )
        self.retries = retries
        self.retry_backoff = retry_backoff
        self._lock = threading.Lock()
        self._dl_lock = threading.Lock()
        self._dead_letters: deque[dict[str, Any]] = deque(maxlen=dead_letter_limit)
        self._events = 0
        self._retried = 0
        self._dead_lettered = 0
        self._closed = False

        slots: list[_Slot] = []
        seen: dict[str, int] = {}
        for sink in sinks:
            emit = as_emit(sink)
            base = sink_name(sink)
            seen[base] = seen.get(base, 0) + 1
            name = base if seen[base] == 1 else f"{base}#{seen[base]}"
            slot = _Slot(name, sink, emit)
            slots.append(slot)
            if isinstance(sink, QueueSink):
                self._adopt_queue(slot, sink)
        self._slots: tuple[_Slot, ...] = tuple(slots)

    # -- public API ----------------------------------------------------------------------------

    @property
    def names(self) -> tuple[str, ...]:
        """Sink names as they appear in ``stats`` and dead letters, in registration order."""
        return tuple(s.name for s in self._slots)

    def dispatch(self, events: Iterable[Event]) -> None:
        """Give every event to every sink. Sink failures never raise here.

        Raises :class:`~chatguard.errors.InputError` (before delivering anything) only when an
        item is not an :class:`~chatguard.events.Event`, which is a bug in the caller.
        """
        batch = [events] if isinstance(events, Event) else list(events)
        for i, event in enumerate(batch):
            if not isinstance(event, Event):
                raise InputError(f"dispatch expects Event objects; item {i} is {type(event)!r}")
        with self._lock:
            self._events += len(batch)
            closed = self._closed
        for event in batch:
            if closed:
                self._dead_letter("Dispatcher", event, "Dispatcher is closed", attempts=0)
                continue
            for slot in self._slots:
                self._deliver(slot, slot.emit, event, count_emitted=True)

    def emit(self, event: Event) -> None:
        """Dispatch one event, so a dispatcher can itself be used as a sink."""
        self.dispatch((event,))

    def flush(self) -> None:
        """Call every sink's optional ``flush()``; failures are isolated like ``emit``'s."""
        for slot in self._slots:
            self._call_optional(slot, "flush")

    def close(self) -> None:
        """Close every sink (``close()``, else ``flush()``), isolated. Idempotent.

        Events dispatched after close are dead-lettered rather than dropped.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
        for slot in self._slots:
            has_close = callable(getattr(slot.sink, "close", None))
            self._call_optional(slot, "close" if has_close else "flush")

    @property
    def stats(self) -> dict[str, Any]:
        """A snapshot: totals plus ``sinks: {name: {"emitted": n, "failed": n}}``."""
        with self._lock:
            return {
                "events": self._events,
                "emitted": sum(s.emitted for s in self._slots),
                "failed": sum(s.failed for s in self._slots),
                "retried": self._retried,
                "dead_lettered": self._dead_lettered,
                "sinks": {s.name: {"emitted": s.emitted, "failed": s.failed} for s in self._slots},
            }

    @property
    def dead_letters(self) -> list[dict[str, Any]]:
        """Dead letters kept in memory: all of them without a file, else only unwritable ones."""
        with self._dl_lock:
            return list(self._dead_letters)

    def __enter__(self) -> Dispatcher:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Dispatcher([{', '.join(self.names)}])"

    # -- delivery ------------------------------------------------------------------------------

    def _deliver(
        self,
        slot: _Slot,
        emit: Callable[[Event], None],
        event: Event,
        *,
        count_emitted: bool,
        first_error: Exception | None = None,
    ) -> None:
        """Emit with retries; on final failure, count and dead-letter. Never raises.

        ``first_error`` is the failure of a first attempt made elsewhere (a queue's worker).
        """
        attempt = 1
        error = first_error if first_error is not None else self._try(emit, event)
        while error is not None and not isinstance(error, DeliveryError):
            if attempt > self.retries:
                break
            time.sleep(self.retry_backoff * 2 ** (attempt - 1))
            with self._lock:
                self._retried += 1
            attempt += 1
            error = self._try(emit, event)
        if error is None:
            if count_emitted:
                with self._lock:
                    slot.emitted += 1
            return
        # A queue reports a failed batch once per event, so expand the batch only here.
        if first_error is None and isinstance(error, DeliveryError) and error.undelivered:
            undelivered: tuple[Event, ...] = error.undelivered
        else:
            undelivered = (event,)
        for ev in undelivered:
            self._fail(slot, ev, repr(error), attempts=attempt)

    @staticmethod
    def _try(emit: Callable[[Event], None], event: Event) -> Exception | None:
        try:
            emit(event)
        except Exception as exc:
            return exc
        return None

    def _call_optional(self, slot: _Slot, method: str) -> None:
        fn = getattr(slot.sink, method, None)
        if not callable(fn):
            return
        try:
            fn()
        except DeliveryError as exc:
            for ev in exc.undelivered:
                self._fail(slot, ev, repr(exc), attempts=1)
            if not exc.undelivered:
                _log.warning("chatguard sink %s: %s() failed: %r", slot.name, method, exc)
        except Exception as exc:
            _log.warning("chatguard sink %s: %s() failed: %r", slot.name, method, exc)

    def _adopt_queue(self, slot: _Slot, sink: QueueSink) -> None:
        """Route a queue sink's drops and background failures into this dispatcher's policy."""
        if sink.on_drop is None:
            reason = f"dropped by {slot.name} (queue full or closed, overflow={sink.overflow})"

            def on_drop(event: Event) -> None:
                self._fail(slot, event, reason, attempts=0)

            sink.on_drop = on_drop
        if sink.on_error is None:
            inner_emit = as_emit(sink.inner)

            def on_error(event: Event, exc: Exception) -> None:
                # Runs on the queue's worker thread: retrying here delays only that queue.
                self._deliver(slot, inner_emit, event, count_emitted=False, first_error=exc)

            sink.on_error = on_error

    # -- dead letters --------------------------------------------------------------------------

    def _fail(self, slot: _Slot, event: Event, error: str, *, attempts: int) -> None:
        with self._lock:
            slot.failed += 1
        self._dead_letter(slot.name, event, error, attempts=attempts)

    def _dead_letter(self, sink: str, event: Event, error: str, *, attempts: int) -> None:
        record: dict[str, Any] = {
            "sink": sink,
            "error": error,
            "attempts": attempts,
            "failed_at": datetime.now(tz=UTC).isoformat(),
            "event": event.model_dump(mode="json"),
        }
        where = "kept in memory"
        with self._dl_lock:
            if self.dead_letter is not None:
                try:
                    line = json.dumps(record, ensure_ascii=False).encode("utf-8") + b"\n"
                    with open(self.dead_letter, "ab") as f:
                        f.write(line)
                        f.flush()
                        os.fsync(f.fileno())
                    where = f"written to {self.dead_letter}"
                except OSError as exc:
                    _log.error("chatguard cannot write dead letter %s: %r", self.dead_letter, exc)
                    self._dead_letters.append(record)
            else:
                self._dead_letters.append(record)
        with self._lock:
            self._dead_lettered += 1
        _log.warning(
            "chatguard sink %s failed for event %s after %d attempt(s): %s; dead letter %s",
            sink,
            event.event_id,
            attempts,
            error,
            where,
        )
