"""Where events go: the sink protocol, the bundled sinks and the dispatcher.

Every sink has ``emit(event)`` and optionally ``flush()`` / ``close()``; any
``Callable[[Event], None]`` is a sink too. :class:`Dispatcher` fans events out to sinks and makes
sure a failing sink never raises into the guard. Put slow destinations (webhooks) behind a
:class:`QueueSink` so the chat request path never waits on the network.
"""

from __future__ import annotations

from .base import DeliveryError, Sink, SinkLike
from .dispatch import Dispatcher
from .jsonl import JsonlSink
from .memory import CallbackSink, MemorySink
from .queue import OverflowPolicy, QueueSink
from .redis import RedisStreamSink
from .stdlib import LoggingSink
from .webhook import WebhookSink

__all__ = [
    "CallbackSink",
    "DeliveryError",
    "Dispatcher",
    "JsonlSink",
    "LoggingSink",
    "MemorySink",
    "OverflowPolicy",
    "QueueSink",
    "RedisStreamSink",
    "Sink",
    "SinkLike",
    "WebhookSink",
]
