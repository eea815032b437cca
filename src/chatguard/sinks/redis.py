"""A sink that appends events to a Redis stream (``XADD``), for consumers in other processes.

Each entry has one field, ``event``, holding ``Event.model_dump_json()``. The stream is capped
with ``MAXLEN ~ maxlen`` so a stalled consumer cannot grow it without bound; the approximate
form lets Redis trim whole macro nodes, which is much cheaper than exact trimming.

``redis`` is an optional dependency (``pip install chatguard[redis]``) and is imported only when
this sink is built from a URL, so importing :mod:`chatguard.sinks` never requires it.
"""

from __future__ import annotations

import threading
from typing import Any

from ..errors import ConfigError, SinkError
from ..events import Event

__all__ = ["RedisStreamSink"]


def _connect(url: str) -> Any:
    try:
        import redis
    except ImportError as exc:
        raise ConfigError(
            "RedisStreamSink needs the 'redis' package: pip install 'chatguard[redis]'"
        ) from exc
    try:
        return redis.Redis.from_url(url)
    except ValueError as exc:
        raise ConfigError(f"RedisStreamSink: invalid redis URL: {exc}") from exc


class RedisStreamSink:
    """``XADD <stream> MAXLEN ~ <maxlen> * event <json>`` per event.

    ``client_or_url`` is a ``redis://`` URL (the sink owns the connection and closes it in
    :meth:`close`) or an existing ``redis.Redis`` client (shared; the sink never closes it).
    ``approximate=False`` trims exactly, at a higher cost per write.
    """

    def __init__(
        self,
        client_or_url: Any,
        *,
        stream: str = "chatguard:events",
        maxlen: int = 100_000,
        approximate: bool = True,
    ) -> None:
        if not stream:
            raise ConfigError("RedisStreamSink stream name must not be empty")
        if maxlen < 1:
            raise ConfigError(f"RedisStreamSink maxlen must be >= 1, got {maxlen!r}")
        if isinstance(client_or_url, str):
            self._client = _connect(client_or_url)
            self._owned = True
        elif callable(getattr(client_or_url, "xadd", None)):
            self._client = client_or_url
            self._owned = False
        else:
            raise ConfigError(
                f"RedisStreamSink needs a redis URL or a redis.Redis client, got {client_or_url!r}"
            )
        self.stream = stream
        self.maxlen = maxlen
        self.approximate = approximate
        self._closed = False
        self._lock = threading.Lock()

    def emit(self, event: Event) -> None:
        if self._closed:
            raise SinkError(f"RedisStreamSink {self.stream!r} is closed")
        try:
            self._client.xadd(
                self.stream,
                {"event": event.model_dump_json()},
                maxlen=self.maxlen,
                approximate=self.approximate,
            )
        except Exception as exc:  # any redis/socket failure becomes the library's own error
            raise SinkError(f"RedisStreamSink XADD to {self.stream!r} failed: {exc!r}") from exc

    def close(self) -> None:
        """Close the connection pool if this sink created it. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        if self._owned:
            try:
                self._client.close()
            except Exception as exc:
                raise SinkError(f"RedisStreamSink cannot close its connection: {exc!r}") from exc

    def __repr__(self) -> str:
        return f"RedisStreamSink(stream={self.stream!r}, maxlen={self.maxlen})"
