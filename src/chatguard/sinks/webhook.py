"""A sink that POSTs events as JSON to an HTTP endpoint, signed, retried and optionally batched.

Wire format. ``Content-Type: application/json``; the body is one event object when
``batch_size == 1`` and a JSON array of events otherwise. Headers:

* ``X-Chatguard-Signature: sha256=<hex>``: HMAC-SHA256 of the exact body bytes under ``secret``
  (only when a secret is given). The receiver must verify it on the raw bytes before parsing.
* ``X-Chatguard-Event-Id`` (single events) or ``X-Chatguard-Batch-Id`` (a digest of the event
  ids in the batch): the same value on every retry, so the receiver can drop duplicates.

Redirects are not followed (urllib would replay a POST as a body-less GET): a 3xx fails like a
4xx. Retries. Connection errors, timeouts, 5xx and 429 are transient: the request is retried up to
``retries`` more times after ``backoff * 2**attempt`` seconds. Other 4xx mean the request
itself is wrong and will not get better, so they fail at once. When the sink gives up it raises
:class:`~chatguard.sinks.DeliveryError` carrying every undelivered event, so the dispatcher does
not retry a second time and dead-letters the whole batch.

The stdlib (:mod:`urllib.request`) is enough here and keeps the dependency list short.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence

from ..errors import ConfigError
from ..events import Event
from .base import DeliveryError

__all__ = ["WebhookSink"]

_USER_AGENT = "chatguard-webhook"


def _redacted(url: str) -> str:
    """The url without credentials or query string, for error messages and logs."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Refuse redirects: urllib would turn a redirected POST into a body-less GET."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: object,
        code: int,
        msg: str,
        headers: object,
        newurl: str,
    ) -> urllib.request.Request | None:
        return None


class WebhookSink:
    """POSTs each event (or each batch of ``batch_size`` events) to ``url``. Thread-safe."""

    def __init__(
        self,
        url: str,
        *,
        secret: bytes | str | None = None,
        timeout: float = 5.0,
        retries: int = 3,
        backoff: float = 0.2,
        batch_size: int = 1,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"WebhookSink url must be an http(s) URL with a host, got {url!r}")
        if timeout <= 0:
            raise ConfigError(f"WebhookSink timeout must be > 0, got {timeout!r}")
        if retries < 0:
            raise ConfigError(f"WebhookSink retries must be >= 0, got {retries!r}")
        if backoff < 0:
            raise ConfigError(f"WebhookSink backoff must be >= 0, got {backoff!r}")
        if batch_size < 1:
            raise ConfigError(f"WebhookSink batch_size must be >= 1, got {batch_size!r}")
        if isinstance(secret, str):
            secret = secret.encode("utf-8")
        if secret is not None and not secret:
            raise ConfigError("WebhookSink secret is empty; pass None to send unsigned requests")
        self.url = url
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.batch_size = batch_size
        self._secret = secret
        self._headers = {str(k): str(v) for k, v in (headers or {}).items()}
        self._opener = urllib.request.build_opener(_NoRedirect)
        self._lock = threading.Lock()
        self._batch: list[Event] = []
        self._closed = False

    # -- sink protocol -------------------------------------------------------------------------

    def emit(self, event: Event) -> None:
        if self.batch_size == 1:
            if self._closed:
                raise DeliveryError(f"WebhookSink {self._where} is closed", undelivered=(event,))
            self._send((event,))
            return
        with self._lock:
            if self._closed:
                raise DeliveryError(f"WebhookSink {self._where} is closed", undelivered=(event,))
            self._batch.append(event)
            if len(self._batch) < self.batch_size:
                return
            batch, self._batch = self._batch, []
        self._send(tuple(batch))

    def flush(self) -> None:
        """Send the pending partial batch now (no-op when ``batch_size == 1``)."""
        with self._lock:
            batch, self._batch = self._batch, []
        if batch:
            self._send(tuple(batch))

    def close(self) -> None:
        """Send the pending partial batch, then refuse further events. Idempotent."""
        with self._lock:
            self._closed = True
        self.flush()

    @property
    def pending(self) -> int:
        """Events buffered for the next batch."""
        with self._lock:
            return len(self._batch)

    # -- internals -----------------------------------------------------------------------------

    @property
    def _where(self) -> str:
        return _redacted(self.url)

    def _request_for(self, events: Sequence[Event]) -> urllib.request.Request:
        if self.batch_size == 1:
            body = events[0].model_dump_json().encode("utf-8")
        else:
            body = b"[" + b",".join(e.model_dump_json().encode("utf-8") for e in events) + b"]"
        headers = dict(self._headers)
        headers["Content-Type"] = "application/json"
        headers.setdefault("User-Agent", _USER_AGENT)
        if self.batch_size == 1:
            headers["X-Chatguard-Event-Id"] = events[0].event_id
        else:
            ids = "\x1f".join(e.event_id for e in events).encode("utf-8")
            headers["X-Chatguard-Batch-Id"] = "b-" + hashlib.sha256(ids).hexdigest()[:24]
        if self._secret is not None:
            digest = hmac.new(self._secret, body, hashlib.sha256).hexdigest()
            headers["X-Chatguard-Signature"] = f"sha256={digest}"
        return urllib.request.Request(self.url, data=body, headers=headers, method="POST")

    def _send(self, events: Sequence[Event]) -> None:
        request = self._request_for(events)
        attempts = self.retries + 1
        last = ""
        for attempt in range(attempts):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            status, last, transient = self._post_once(request)
            if status is not None and 200 <= status < 300:
                return
            if not transient:
                raise DeliveryError(
                    f"webhook {self._where} rejected {len(events)} event(s): {last}",
                    undelivered=events,
                )
        raise DeliveryError(
            f"webhook {self._where} failed after {attempts} attempt(s): {last}",
            undelivered=events,
        )

    def _post_once(self, request: urllib.request.Request) -> tuple[int | None, str, bool]:
        """One POST: ``(status or None, description, transient?)``; never raises."""
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                response.read()
                status = int(response.status)
        except urllib.error.HTTPError as exc:
            code = int(exc.code)
            exc.close()
            return code, f"HTTP {code}", code >= 500 or code == 429
        except urllib.error.URLError as exc:
            return None, f"connection error: {exc.reason}", True
        except TimeoutError:
            return None, f"timed out after {self.timeout}s", True
        except (OSError, http.client.HTTPException) as exc:
            return None, f"connection error: {exc!r}", True
        # 2xx is success; anything else urllib returned (1xx/3xx) means a misconfigured
        # endpoint, which retrying will not fix.
        return status, f"HTTP {status}", False

    def __repr__(self) -> str:
        return f"WebhookSink({self._where!r}, batch_size={self.batch_size})"
