"""A bounded queue in front of a slow sink, drained by one background thread.

The guard runs inside a chat backend's request path; a webhook that takes five seconds to time
out must not hold a message for five seconds. :class:`QueueSink` makes ``emit`` a constant-time
hand-off and moves delivery to a daemon thread, as ``logging.handlers.QueueHandler`` does.

A bounded queue has to choose what to lose when it is full. ``overflow`` makes that choice
explicit:

* ``"drop_oldest"`` (default): evict the oldest queued event; recent warnings are the ones that
  can still protect a member.
* ``"drop_newest"``: refuse the incoming event.
* ``"block"``: wait up to ``block_timeout`` seconds for room, then refuse the incoming event.

Nothing is lost silently: every dropped event is counted in :attr:`QueueSink.dropped` and handed
to ``on_drop`` (the :class:`~chatguard.sinks.Dispatcher` installs one that writes it to the dead
letter). A failure of the inner sink is handed to ``on_error(event, exc)``, once per undelivered
event. Without callbacks both are logged on the ``chatguard`` logger.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Literal, get_args

from ..errors import ConfigError
from ..events import Event
from .base import DeliveryError, SinkLike, as_emit, sink_name

__all__ = ["OverflowPolicy", "QueueSink"]

OverflowPolicy = Literal["drop_oldest", "drop_newest", "block"]

_log = logging.getLogger("chatguard")


class QueueSink:
    """Queues events for ``inner``; ``emit`` never raises and never blocks past ``block_timeout``.

    Call :meth:`close` (or use the dispatcher's) at shutdown: it drains the queue, stops the
    thread and closes ``inner``. The thread is a daemon so a forgotten sink cannot keep the host
    process alive.
    """

    def __init__(
        self,
        inner: SinkLike,
        *,
        maxsize: int = 10_000,
        overflow: OverflowPolicy = "drop_oldest",
        block_timeout: float = 1.0,
        on_drop: Callable[[Event], None] | None = None,
        on_error: Callable[[Event, Exception], None] | None = None,
    ) -> None:
        if maxsize < 1:
            raise ConfigError(f"QueueSink maxsize must be >= 1, got {maxsize!r}")
        if overflow not in get_args(OverflowPolicy):
            raise ConfigError(
                f"QueueSink overflow must be one of {', '.join(get_args(OverflowPolicy))}, "
                f"got {overflow!r}"
            )
        if block_timeout < 0:
            raise ConfigError(f"QueueSink block_timeout must be >= 0, got {block_timeout!r}")
        self.inner = inner
        self._emit_inner = as_emit(inner)
        self.name = f"QueueSink({sink_name(inner)})"
        self.maxsize = maxsize
        self.overflow: OverflowPolicy = overflow
        self.block_timeout = block_timeout
        self.on_drop = on_drop
        self.on_error = on_error
        self._queue: deque[Event] = deque()
        self._cond = threading.Condition(threading.Lock())
        self._in_flight = 0
        self._dropped = 0
        self._closing = False
        self._stop = False
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    # -- sink protocol -------------------------------------------------------------------------

    def emit(self, event: Event) -> None:
        dropped: Event | None = None
        with self._cond:
            if self._closing:
                dropped = event
            elif len(self._queue) < self.maxsize:
                self._queue.append(event)
            elif self.overflow == "drop_oldest":
                dropped = self._queue.popleft()
                self._queue.append(event)
            elif self.overflow == "drop_newest":
                dropped = event
            else:  # block
                deadline = time.monotonic() + self.block_timeout
                while len(self._queue) >= self.maxsize and not self._closing:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
                if len(self._queue) < self.maxsize and not self._closing:
                    self._queue.append(event)
                else:
                    dropped = event
            if dropped is not None:
                self._dropped += 1
            else:
                self._cond.notify_all()
        if dropped is not None:
            self._report_drop(dropped)

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Wait until every queued event was handed to ``inner``, then flush ``inner``.

        Returns False if the queue was not drained within ``timeout`` seconds (None: no limit).
        """
        drained = self._wait_drained(timeout)
        self._inner_call("flush")
        return drained

    def close(self, timeout: float | None = 10.0) -> None:
        """Drain (up to ``timeout``), stop the thread, close ``inner``. Idempotent.

        Events still queued when the timeout expires are dropped through ``on_drop``, and so are
        events emitted after close.
        """
        with self._cond:
            if self._closing:
                return
            self._closing = True
            self._cond.notify_all()
        start = time.monotonic()
        self._wait_drained(timeout)
        with self._cond:
            self._stop = True
            leftovers = list(self._queue)
            self._queue.clear()
            self._dropped += len(leftovers)
            self._cond.notify_all()
        remaining = None if timeout is None else max(0.0, timeout - (time.monotonic() - start))
        self._thread.join(remaining)
        for event in leftovers:
            self._report_drop(event)
        self._inner_call("close")

    # -- observation ---------------------------------------------------------------------------

    @property
    def dropped(self) -> int:
        """Events dropped so far (overflow, or emitted after/while closing)."""
        with self._cond:
            return self._dropped

    @property
    def pending(self) -> int:
        """Events queued or being delivered right now."""
        with self._cond:
            return len(self._queue) + self._in_flight

    # -- internals -----------------------------------------------------------------------------

    def _wait_drained(self, timeout: float | None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._queue or self._in_flight:
                if not self._thread.is_alive():
                    return False
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stop:
                    self._cond.wait()
                if not self._queue:
                    return
                event = self._queue.popleft()
                self._in_flight += 1
                self._cond.notify_all()  # room for a blocked emit
            try:
                self._emit_inner(event)
            except Exception as exc:
                self._report_failure(exc, event)
            finally:
                with self._cond:
                    self._in_flight -= 1
                    self._cond.notify_all()

    def _inner_call(self, method: str) -> None:
        fn = getattr(self.inner, method, None)
        if not callable(fn):
            return
        try:
            fn()
        except DeliveryError as exc:
            self._report_failure(exc, None)
        except Exception as exc:
            _log.warning("%s: %s() of the inner sink failed: %r", self.name, method, exc)

    def _report_failure(self, exc: Exception, event: Event | None) -> None:
        """Hand each undelivered event to ``on_error``: all of a failed batch, else ``event``."""
        if isinstance(exc, DeliveryError) and exc.undelivered:
            events: tuple[Event, ...] = exc.undelivered
        else:
            events = () if event is None else (event,)
        for ev in events:
            if self.on_error is None:
                _log.warning("%s: inner sink failed for event %s: %r", self.name, ev.event_id, exc)
                continue
            try:
                self.on_error(ev, exc)
            except Exception as cb_exc:
                _log.error("%s: on_error callback failed: %r", self.name, cb_exc)

    def _report_drop(self, event: Event) -> None:
        if self.on_drop is None:
            _log.warning(
                "%s: dropped event %s (overflow=%s)", self.name, event.event_id, self.overflow
            )
            return
        try:
            self.on_drop(event)
        except Exception as exc:
            _log.error("%s: on_drop callback failed: %r", self.name, exc)

    def __repr__(self) -> str:
        return f"{self.name} maxsize={self.maxsize} overflow={self.overflow}"
