"""The sink contract: where events go once the guard has decided to raise them.

A sink is anything with ``emit(event)``; ``flush()`` and ``close()`` are optional and looked up
with ``getattr``, as in the stdlib logging handler model. A plain ``Callable[[Event], None]`` is a
sink too, because the simplest extension point should be a function.

Why :class:`DeliveryError` exists. Some sinks retry on their own (the webhook sink retries with
backoff) or buffer several events before sending (a batching webhook). When such a sink gives
up, retrying ``emit`` from outside would multiply the attempts and, for a batch, would re-buffer
one event while silently losing the others. The sink therefore raises :class:`DeliveryError`
listing every event it could not deliver; the dispatcher treats it as final and dead-letters
exactly those events.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol, runtime_checkable

from ..errors import ConfigError, SinkError
from ..events import Event

__all__ = ["DeliveryError", "Sink", "SinkLike", "as_emit", "call_optional", "sink_name"]


@runtime_checkable
class Sink(Protocol):
    """Receives events. May also define ``flush()`` and ``close()`` (both optional)."""

    def emit(self, event: Event) -> None: ...


SinkLike = Sink | Callable[[Event], None]


class DeliveryError(SinkError):
    """A sink already retried and gave up; ``undelivered`` lists every event it lost.

    Raised instead of a plain :class:`~chatguard.errors.SinkError` by sinks that retry or batch
    internally, so callers neither retry again nor lose the other events of a failed batch.
    """

    def __init__(self, message: str, *, undelivered: Iterable[Event] = ()) -> None:
        super().__init__(message)
        self.undelivered: tuple[Event, ...] = tuple(undelivered)


def as_emit(sink: SinkLike) -> Callable[[Event], None]:
    """The bound emit function of a sink object, or the callable itself.

    An object with ``emit`` wins over ``__call__``, so a sink class that is also callable is
    used through its documented method.
    """
    if isinstance(sink, Sink):
        return sink.emit
    if callable(sink):
        return sink
    raise ConfigError(
        f"not a sink: {sink!r} (expected an object with emit(event) or a callable taking an Event)"
    )


def sink_name(sink: object) -> str:
    """A readable name for stats and dead letters.

    A sink may name itself with a ``name`` str attribute; otherwise objects are named by their
    class and plain functions by their qualified name (``repr`` as the last resort), because
    ``<function f at 0x7f...>`` changes from run to run.
    """
    own = getattr(sink, "name", None)
    if isinstance(own, str) and own:
        return own
    if isinstance(sink, Sink) or not callable(sink):
        return type(sink).__name__
    qualname = getattr(sink, "__qualname__", None)
    if isinstance(qualname, str) and qualname:
        return qualname
    return repr(sink)


def call_optional(sink: object, method: str) -> None:
    """Call ``sink.<method>()`` if the sink defines it (``flush`` / ``close`` are optional)."""
    fn = getattr(sink, method, None)
    if callable(fn):
        fn()
