"""Tests for ``chatguard.sinks``: every sink against the real thing it writes to.

Files are real files, the webhook talks to a real ``ThreadingHTTPServer`` on 127.0.0.1, the
Redis sink to a real ``redis-server`` (``tests/redisfixture.py``), and the queue and dispatcher
run their real threads. Failing sinks are small real classes that fail on purpose, not mocks.
Everything network-bound uses short timeouts and backoffs so the file runs in a few seconds.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import redis

from chatguard.errors import ConfigError, InputError, SinkError
from chatguard.events import Event, Evidence, make_event_id
from chatguard.sinks import (
    CallbackSink,
    DeliveryError,
    Dispatcher,
    JsonlSink,
    LoggingSink,
    MemorySink,
    QueueSink,
    RedisStreamSink,
    Sink,
    WebhookSink,
)

SNIPPET = "加我微信ab****转账"


def make_event(i: int = 0, *, kind: str = "warning", snippets: tuple[str, ...] = ()) -> Event:
    return Event(
        kind=kind,  # type: ignore[arg-type]
        event_id=make_event_id(kind, "c1", f"m{i}"),
        conversation_id="c1",
        subject_id="u1",
        target_id="u2",
        score=0.7,
        level="high",
        rule_ids=["r"],
        ruleset="test#x",
        created_at=datetime.now(UTC),
        message_id=f"m{i}",
        evidence=Evidence(snippets=list(snippets)),
    )


# --- small real sinks that misbehave on purpose ----------------------------------------------


class Boom:
    """Fails every emit."""

    def __init__(self) -> None:
        self.calls = 0

    def emit(self, event: Event) -> None:
        self.calls += 1
        raise RuntimeError(f"boom {event.event_id}")


class Flaky:
    """Fails the first ``failures`` emits of each event, then records it."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.attempts: dict[str, int] = {}
        self.events: list[Event] = []
        self._lock = threading.Lock()

    def emit(self, event: Event) -> None:
        with self._lock:
            n = self.attempts[event.event_id] = self.attempts.get(event.event_id, 0) + 1
            if n <= self.failures:
                raise ConnectionError(f"transient failure {n}")
            self.events.append(event)


class Gated:
    """Blocks in emit until ``gate`` is set; ``entered`` tells the test the worker is inside."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.events: list[Event] = []
        self.closed = False

    def emit(self, event: Event) -> None:
        self.entered.set()
        self.gate.wait(5)
        self.events.append(event)

    def close(self) -> None:
        self.closed = True


class BadClose(MemorySink):
    """Records events but fails to flush and close."""

    def flush(self) -> None:
        raise OSError("flush failed")

    def close(self) -> None:
        raise OSError("close failed")


class Closable(MemorySink):
    def __init__(self) -> None:
        super().__init__()
        self.closed = 0

    def close(self) -> None:
        self.closed += 1


# --- a real HTTP endpoint --------------------------------------------------------------------


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Hook:
    """What the test server answers (a script of (status, delay)) and what it received."""

    url: str = ""
    secret: bytes = b"s3cret"
    script: deque[tuple[int, float]] = field(default_factory=deque)
    received: list[Received] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, *steps: int | tuple[int, float]) -> None:
        self.script.extend(s if isinstance(s, tuple) else (s, 0.0) for s in steps)

    def signature_ok(self, r: Received) -> bool:
        want = "sha256=" + hmac.new(self.secret, r.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(r.headers.get("x-chatguard-signature", ""), want)


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        hook: Hook = self.server.hook  # type: ignore[attr-defined]
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with hook.lock:
            hook.received.append(Received({k.lower(): v for k, v in self.headers.items()}, body))
            status, delay = hook.script.popleft() if hook.script else (200, 0.0)
        if delay:
            hook.release.wait(delay)
        try:
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", "/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()
        except OSError:
            pass  # the client already gave up (timeout test)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep urllib from routing 127.0.0.1 through a proxy configured in the environment."""
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture
def hook() -> Iterator[Hook]:
    h = Hook()
    server = _Server(("127.0.0.1", 0), _Handler)
    server.hook = h  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    h.url = f"http://127.0.0.1:{server.server_address[1]}/events"
    try:
        yield h
    finally:
        h.release.set()
        server.shutdown()
        server.server_close()
        thread.join(2)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- protocol, memory and callback sinks -----------------------------------------------------


def test_sink_protocol_recognises_objects_with_emit() -> None:
    """Every bundled sink object satisfies the runtime-checkable Sink protocol; functions do not."""
    assert isinstance(MemorySink(), Sink)
    assert isinstance(CallbackSink(lambda e: None), Sink)
    assert not isinstance(print, Sink)


def test_memory_sink_records_in_order_and_filters_by_kind() -> None:
    """MemorySink keeps events in emission order; of_kind filters; clear empties."""
    sink = MemorySink()
    events = [make_event(0), make_event(1, kind="sms_alert"), make_event(2)]
    for e in events:
        sink.emit(e)
    assert sink.events == events
    assert sink.of_kind("warning") == [events[0], events[2]]
    assert sink.of_kind("blacklist_suggestion") == []
    assert len(sink) == 3
    sink.clear()
    assert sink.events == []


def test_memory_sink_is_thread_safe() -> None:
    """Concurrent emits from several threads lose no event."""
    sink = MemorySink()

    def work(base: int) -> None:
        for i in range(200):
            sink.emit(make_event(base + i))

    threads = [threading.Thread(target=work, args=(k * 1000,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({e.event_id for e in sink.events}) == 800


def test_callback_sink_calls_the_function_and_names_itself() -> None:
    """CallbackSink forwards each event to the callable and carries a readable name."""
    seen: list[Event] = []
    sink = CallbackSink(seen.append, name="audit")
    event = make_event()
    sink.emit(event)
    assert seen == [event]
    assert sink.name == "audit"
    with pytest.raises(ConfigError):
        CallbackSink(42)  # type: ignore[arg-type]


# --- JSONL -----------------------------------------------------------------------------------


def test_jsonl_sink_appends_and_round_trips(tmp_path: Path) -> None:
    """Lines survive closing and reopening (append mode) and parse back into equal Events."""
    path = tmp_path / "events.jsonl"
    first = [make_event(i) for i in range(3)]
    with JsonlSink(path) as sink:
        for e in first:
            sink.emit(e)
    second = make_event(9, snippets=("微信ab****",))
    with JsonlSink(path, fsync=False) as sink:
        sink.emit(second)
    lines = path.read_bytes().splitlines()
    assert [Event.model_validate_json(line) for line in lines] == [*first, second]


def test_chat_text_with_lone_surrogates_reaches_every_sink(tmp_path: Path) -> None:
    """JSON chat logs can carry lone surrogates ("\\ud800"); the evidence cut from such a
    message must still serialize, or the JSONL sink would fail on the event and dead-letter
    it."""
    from chatguard import Detector, Guard

    path = tmp_path / "events.jsonl"
    memory = MemorySink()
    jsonl = JsonlSink(path, fsync=False)
    guard = Guard(Detector.default(), sinks=[jsonl, memory])
    texts = ["加我薇信\ud800，带你投资稳赚不赔", "平台稳赚不赔，先转\udc00账五千给我"]
    for i, text in enumerate(texts):
        guard.feed({"message_id": f"m{i}", "conversation_id": "c1", "sender_id": "s",
                    "recipient_id": "r", "text": text, "sent_at": 1000 + 60 * i})
    jsonl.close()
    assert memory.events, "the scam must raise events"
    assert guard.stats["sinks"]["failed"] == 0
    lines = path.read_bytes().splitlines()
    assert [Event.model_validate_json(line) for line in lines] == memory.events
    snippets = [s for e in memory.events for s in e.evidence.snippets]
    assert any("\ufffd" in s for s in snippets)
    assert not any("\ud800" <= ch <= "\udfff" for s in snippets for ch in s)


def test_jsonl_sink_is_durable_before_close(tmp_path: Path) -> None:
    """With fsync, an emitted event is on disk before close (another reader sees it)."""
    path = tmp_path / "events.jsonl"
    sink = JsonlSink(path)
    event = make_event(1)
    sink.emit(event)
    with open(path, "rb") as other_reader:
        assert Event.model_validate_json(other_reader.read()) == event
    sink.close()
    sink.close()  # idempotent
    assert sink.closed
    with pytest.raises(SinkError, match="closed"):
        sink.emit(make_event(2))


def test_jsonl_sink_unopenable_path_is_a_config_error(tmp_path: Path) -> None:
    """A path in a missing directory fails at construction, naming the path."""
    with pytest.raises(ConfigError, match="missing"):
        JsonlSink(tmp_path / "missing" / "events.jsonl")


def test_jsonl_sink_is_thread_safe(tmp_path: Path) -> None:
    """Concurrent emits produce whole, parseable lines, one per event."""
    path = tmp_path / "events.jsonl"
    with JsonlSink(path, fsync=False) as sink:
        threads = [
            threading.Thread(target=lambda b=b: [sink.emit(make_event(b + i)) for i in range(100)])
            for b in (0, 1000, 2000, 3000)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    ids = {Event.model_validate_json(x).event_id for x in path.read_bytes().splitlines()}
    assert len(ids) == 400


# --- logging ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("include_evidence", "snippet_in_message", "snippets_in_extra"),
    [
        pytest.param(False, False, [], id="default-hides-evidence"),
        pytest.param(True, True, [SNIPPET], id="include-evidence"),
    ],
)
def test_logging_sink_logs_one_line_per_event(
    caplog: pytest.LogCaptureFixture,
    include_evidence: bool,
    snippet_in_message: bool,
    snippets_in_extra: list[str],
) -> None:
    """One record per event naming kind, conversation, level and rules; evidence only on request."""
    sink = LoggingSink(include_evidence=include_evidence)
    event = make_event(1, snippets=(SNIPPET,))
    with caplog.at_level(logging.WARNING, logger="chatguard.events"):
        sink.emit(event)
    [record] = caplog.records
    text = record.getMessage()
    assert record.name == "chatguard.events"
    assert record.levelno == logging.WARNING
    for part in ("warning", "conversation=c1", "level=high", "rules=r", event.event_id):
        assert part in text
    assert (SNIPPET in text) is snippet_in_message
    payload = record.chatguard_event  # type: ignore[attr-defined]
    assert payload["event_id"] == event.event_id
    assert payload["evidence"]["snippets"] == snippets_in_extra
    json.dumps(payload)  # JSON-ready


def test_logging_sink_respects_logger_level(caplog: pytest.LogCaptureFixture) -> None:
    """Below the logger's level nothing is logged; an explicit Logger object is accepted."""
    logger = logging.getLogger("chatguard.test.sink")
    sink = LoggingSink(logger, level=logging.INFO)
    with caplog.at_level(logging.WARNING, logger="chatguard.test.sink"):
        sink.emit(make_event())
    assert caplog.records == []
    with caplog.at_level(logging.INFO, logger="chatguard.test.sink"):
        sink.emit(make_event())
    assert len(caplog.records) == 1


# --- webhook ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("script", "retries", "requests", "error"),
    [
        pytest.param([200], 3, 1, None, id="ok-first-time"),
        pytest.param([500, 200], 3, 2, None, id="500-then-ok-is-retried"),
        pytest.param([502, 503, 200], 3, 3, None, id="two-5xx-then-ok"),
        pytest.param([429, 200], 3, 2, None, id="429-is-retried"),
        pytest.param([500] * 4, 3, 4, "HTTP 500", id="always-500-gives-up"),
        pytest.param([400], 3, 1, "HTTP 400", id="400-is-not-retried"),
        pytest.param([404], 3, 1, "HTTP 404", id="404-is-not-retried"),
        pytest.param([302], 3, 1, "HTTP 302", id="redirect-is-not-followed"),
        pytest.param([500, 200], 0, 1, "HTTP 500", id="retries-zero"),
    ],
)
def test_webhook_retry_policy(
    hook: Hook, script: list[int], retries: int, requests: int, error: str | None
) -> None:
    """Transient statuses (5xx, 429) are retried with backoff; other failures fail at once."""
    hook.answer(*script)
    sink = WebhookSink(hook.url, retries=retries, backoff=0.01)
    event = make_event()
    if error is None:
        sink.emit(event)
    else:
        with pytest.raises(SinkError, match=error) as info:
            sink.emit(event)
        assert "http://127.0.0.1:" in str(info.value)
        assert isinstance(info.value, DeliveryError)
        assert info.value.undelivered == (event,)
    assert len(hook.received) == requests
    # every attempt carries the same idempotency key
    assert {r.headers["x-chatguard-event-id"] for r in hook.received} == {event.event_id}


def test_webhook_signs_the_exact_body(hook: Hook) -> None:
    """The server can verify the HMAC over the raw body and parse the event back."""
    sink = WebhookSink(hook.url, secret=hook.secret.decode(), headers={"Authorization": "Bearer t"})
    event = make_event(3, snippets=("微信ab****",))
    sink.emit(event)
    [r] = hook.received
    assert hook.signature_ok(r)
    assert r.headers["content-type"] == "application/json"
    assert r.headers["authorization"] == "Bearer t"
    assert Event.model_validate_json(r.body) == event


def test_webhook_without_secret_sends_no_signature(hook: Hook) -> None:
    """No secret, no signature header (rather than a signature under an empty key)."""
    WebhookSink(hook.url).emit(make_event())
    assert "x-chatguard-signature" not in hook.received[0].headers
    with pytest.raises(ConfigError):
        WebhookSink(hook.url, secret=b"")


def test_webhook_timeout_is_retried_then_fails(hook: Hook) -> None:
    """A server slower than the timeout counts as a transient failure; the total stays short."""
    hook.answer((200, 2.0), (200, 2.0))
    sink = WebhookSink(hook.url, timeout=0.2, retries=1, backoff=0.01)
    t0 = time.monotonic()
    with pytest.raises(SinkError, match="timed out"):
        sink.emit(make_event())
    assert time.monotonic() - t0 < 1.5
    assert len(hook.received) == 2


def test_webhook_connection_refused_is_a_sink_error() -> None:
    """Nothing listening: retried, then a SinkError naming the url."""
    url = f"http://127.0.0.1:{_free_port()}/x?token=secret"
    sink = WebhookSink(url, retries=1, backoff=0.01, timeout=1.0)
    with pytest.raises(SinkError, match="connection error") as info:
        sink.emit(make_event())
    assert "127.0.0.1" in str(info.value)
    assert "token=secret" not in str(info.value)


def test_webhook_batches_send_json_arrays(hook: Hook) -> None:
    """batch_size=3 sends arrays of 3 as they fill, and the rest on flush; close refuses more."""
    sink = WebhookSink(hook.url, secret=hook.secret, batch_size=3)
    events = [make_event(i) for i in range(7)]
    for e in events:
        sink.emit(e)
    assert len(hook.received) == 2
    assert sink.pending == 1
    sink.close()
    bodies = [json.loads(r.body) for r in hook.received]
    assert [len(b) for b in bodies] == [3, 3, 1]
    assert [Event.model_validate(x) for b in bodies for x in b] == events
    assert all(hook.signature_ok(r) for r in hook.received)
    assert all(r.headers["x-chatguard-batch-id"].startswith("b-") for r in hook.received)
    with pytest.raises(SinkError, match="closed"):
        sink.emit(make_event(8))


def test_webhook_failed_batch_reports_every_event(hook: Hook) -> None:
    """When a batch fails, DeliveryError lists all of its events, not just the last emitted."""
    hook.answer(500)
    sink = WebhookSink(hook.url, batch_size=2, retries=0)
    a, b = make_event(1), make_event(2)
    sink.emit(a)
    with pytest.raises(DeliveryError) as info:
        sink.emit(b)
    assert info.value.undelivered == (a, b)
    assert sink.pending == 0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        pytest.param({"url": "ftp://x/y"}, "http", id="scheme"),
        pytest.param({"url": "http:///path"}, "host", id="no-host"),
        pytest.param({"timeout": 0}, "timeout", id="timeout"),
        pytest.param({"retries": -1}, "retries", id="retries"),
        pytest.param({"batch_size": 0}, "batch_size", id="batch-size"),
    ],
)
def test_webhook_rejects_bad_options(kwargs: dict[str, Any], match: str) -> None:
    """Invalid options fail at construction with a ConfigError naming the option."""
    options: dict[str, Any] = {"url": "http://127.0.0.1:9/x", **kwargs}
    with pytest.raises(ConfigError, match=match):
        WebhookSink(**options)


# --- redis -----------------------------------------------------------------------------------


def test_redis_stream_sink_xadds_events(redis_server: str, redis_client: redis.Redis) -> None:
    """XRANGE reads back one entry per event, each holding the event's JSON."""
    sink = RedisStreamSink(redis_server, stream="t:events")
    events = [make_event(i) for i in range(3)]
    for e in events:
        sink.emit(e)
    sink.close()
    entries = redis_client.xrange("t:events")
    assert [Event.model_validate_json(fields[b"event"]) for _id, fields in entries] == events
    with pytest.raises(SinkError, match="closed"):
        sink.emit(make_event())


def test_redis_stream_sink_trims_exactly(redis_client: redis.Redis) -> None:
    """With approximate=False the stream keeps exactly the newest maxlen entries."""
    sink = RedisStreamSink(redis_client, stream="t:exact", maxlen=5, approximate=False)
    events = [make_event(i) for i in range(20)]
    for e in events:
        sink.emit(e)
    entries = redis_client.xrange("t:exact")
    assert [Event.model_validate_json(f[b"event"]) for _i, f in entries] == events[-5:]
    sink.close()
    assert redis_client.ping()  # a shared client is not closed by the sink


def test_redis_stream_sink_trims_approximately(redis_client: redis.Redis) -> None:
    """MAXLEN ~ bounds the stream (whole macro nodes are trimmed, so not exactly maxlen)."""
    sink = RedisStreamSink(redis_client, stream="t:approx", maxlen=10)
    pipe_events = [make_event(i) for i in range(400)]
    for e in pipe_events:
        sink.emit(e)
    assert 10 <= redis_client.xlen("t:approx") < 400


def test_redis_stream_sink_unreachable_server_is_a_sink_error() -> None:
    """A connection failure surfaces as SinkError, not as a bare redis exception."""
    sink = RedisStreamSink(f"redis://127.0.0.1:{_free_port()}/0")
    with pytest.raises(SinkError, match="XADD"):
        sink.emit(make_event())
    sink.close()


def test_redis_stream_sink_without_redis_package(monkeypatch: pytest.MonkeyPatch) -> None:
    """When the optional redis package is absent, the error says how to install it."""
    monkeypatch.setitem(sys.modules, "redis", None)
    with pytest.raises(ConfigError, match=r"chatguard\[redis\]"):
        RedisStreamSink("redis://127.0.0.1:6379/0")


@pytest.mark.parametrize(
    ("client", "kwargs", "match"),
    [
        pytest.param(42, {}, "redis URL or a redis.Redis client", id="not-a-client"),
        pytest.param("redis://127.0.0.1:1/0", {"maxlen": 0}, "maxlen", id="maxlen"),
        pytest.param("redis://127.0.0.1:1/0", {"stream": ""}, "stream", id="empty-stream"),
        pytest.param("http://nope", {}, "invalid redis URL", id="bad-url"),
    ],
)
def test_redis_stream_sink_rejects_bad_options(
    client: object, kwargs: dict[str, Any], match: str
) -> None:
    """Invalid construction fails with ConfigError before any command is sent."""
    with pytest.raises(ConfigError, match=match):
        RedisStreamSink(client, **kwargs)


# --- queue -----------------------------------------------------------------------------------


def test_queue_sink_drains_in_order() -> None:
    """Events reach the inner sink in order; flush waits for them; close stops the thread."""
    inner = Closable()
    sink = QueueSink(inner)
    events = [make_event(i) for i in range(200)]
    for e in events:
        sink.emit(e)
    assert sink.flush(timeout=5)
    assert inner.events == events
    sink.close()
    sink.close()  # idempotent
    assert inner.closed == 1
    assert not sink._thread.is_alive()
    assert sink.dropped == 0


@pytest.mark.parametrize(
    ("overflow", "dropped", "delivered"),
    [
        pytest.param("drop_oldest", [1, 2], [0, 3, 4, 5, 6], id="drop-oldest"),
        pytest.param("drop_newest", [5, 6], [0, 1, 2, 3, 4], id="drop-newest"),
        pytest.param("block", [5, 6], [0, 1, 2, 3, 4], id="block-then-drop-newest"),
    ],
)
def test_queue_sink_overflow_policies(
    overflow: Any, dropped: list[int], delivered: list[int]
) -> None:
    """A full queue drops by policy, counts drops and hands each to on_drop; emit never raises."""
    inner = Gated()
    lost: list[Event] = []
    sink = QueueSink(inner, maxsize=4, overflow=overflow, block_timeout=0.05, on_drop=lost.append)
    events = [make_event(i) for i in range(7)]
    sink.emit(events[0])
    assert inner.entered.wait(2)  # event 0 is in flight, the queue itself is empty
    t0 = time.monotonic()
    for e in events[1:]:
        sink.emit(e)
    elapsed = time.monotonic() - t0
    assert sink.dropped == len(dropped)
    assert lost == [events[i] for i in dropped]
    if overflow == "block":
        assert 0.08 <= elapsed < 1.0  # two emits waited block_timeout each
    else:
        assert elapsed < 0.5
    inner.gate.set()
    assert sink.flush(timeout=5)
    assert inner.events == [events[i] for i in delivered]
    sink.close()


def test_queue_sink_block_mode_waits_for_room() -> None:
    """In block mode an emit that finds room within block_timeout is not dropped."""
    inner = Gated()
    sink = QueueSink(inner, maxsize=1, overflow="block", block_timeout=3.0)
    sink.emit(make_event(0))
    assert inner.entered.wait(2)
    sink.emit(make_event(1))  # fills the queue
    threading.Timer(0.1, inner.gate.set).start()
    sink.emit(make_event(2))  # waits until the worker takes event 1
    assert sink.dropped == 0
    sink.close(timeout=5)
    assert [e.message_id for e in inner.events] == ["m0", "m1", "m2"]


def test_queue_sink_reports_inner_failures_to_on_error() -> None:
    """An inner failure goes to on_error(event, exc) and does not stop the worker."""
    failures: list[tuple[str, str]] = []
    inner = Flaky(failures=1)
    sink = QueueSink(inner, on_error=lambda e, exc: failures.append((e.event_id, str(exc))))
    events = [make_event(i) for i in range(3)]
    for e in events:
        sink.emit(e)
    assert sink.flush(timeout=5)
    sink.close()
    assert failures == [(e.event_id, "transient failure 1") for e in events]
    assert inner.events == []  # each event was tried once; retrying is the dispatcher's job


def test_queue_sink_flush_times_out_and_close_drops_leftovers() -> None:
    """flush returns False while the inner sink is stuck; close hands leftovers to on_drop."""
    inner = Gated()
    lost: list[Event] = []
    sink = QueueSink(inner, on_drop=lost.append)
    sink.emit(make_event(0))
    assert inner.entered.wait(2)
    sink.emit(make_event(1))
    assert sink.flush(timeout=0.05) is False
    assert sink.pending == 2
    sink.close(timeout=0.05)
    assert [e.message_id for e in lost] == ["m1"]
    sink.emit(make_event(2))  # after close: dropped, never raised
    assert [e.message_id for e in lost] == ["m1", "m2"]
    assert sink.dropped == 2
    inner.gate.set()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        pytest.param({"maxsize": 0}, "maxsize", id="maxsize"),
        pytest.param({"overflow": "spill"}, "overflow", id="overflow"),
        pytest.param({"block_timeout": -1}, "block_timeout", id="block-timeout"),
    ],
)
def test_queue_sink_rejects_bad_options(kwargs: dict[str, Any], match: str) -> None:
    """Invalid options fail with ConfigError before a thread is started."""
    with pytest.raises(ConfigError, match=match):
        QueueSink(MemorySink(), **kwargs)


# --- dispatcher ------------------------------------------------------------------------------


def read_dead_letters(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def test_dispatcher_isolates_a_failing_sink(tmp_path: Path) -> None:
    """A sink that always fails neither raises into the caller nor stops the sinks after it."""
    boom, memory, seen = Boom(), MemorySink(), []
    dead = tmp_path / "dead.jsonl"

    def record(event: Event) -> None:
        seen.append(event)

    events = [make_event(i) for i in range(3)]
    with Dispatcher([boom, memory, record], dead_letter=dead, retry_backoff=0.001) as d:
        d.dispatch(events)
        stats = d.stats
    assert memory.events == events
    assert seen == events
    assert boom.calls == 3 * 3  # first try + 2 retries, per event
    assert stats["events"] == 3
    assert stats["emitted"] == 6
    assert stats["failed"] == 3
    assert stats["retried"] == 6
    assert stats["dead_lettered"] == 3
    assert stats["sinks"] == {
        "Boom": {"emitted": 0, "failed": 3},
        "MemorySink": {"emitted": 3, "failed": 0},
        d.names[2]: {"emitted": 3, "failed": 0},
    }
    assert "record" in d.names[2]
    letters = read_dead_letters(dead)
    assert [x["sink"] for x in letters] == ["Boom"] * 3
    assert all("RuntimeError" in x["error"] and x["attempts"] == 3 for x in letters)
    assert [Event.model_validate(x["event"]) for x in letters] == events


@pytest.mark.parametrize(
    ("failures", "retries", "delivered", "retried", "dead_lettered"),
    [
        pytest.param(0, 2, True, 0, 0, id="no-failure"),
        pytest.param(1, 2, True, 1, 0, id="one-failure-retried"),
        pytest.param(2, 2, True, 2, 0, id="two-failures-within-retries"),
        pytest.param(3, 2, False, 2, 1, id="more-failures-than-retries"),
        pytest.param(1, 0, False, 0, 1, id="retries-disabled"),
    ],
)
def test_dispatcher_retries_then_dead_letters(
    failures: int, retries: int, delivered: bool, retried: int, dead_lettered: int
) -> None:
    """A failing emit is retried `retries` times, then kept as a dead letter."""
    sink = Flaky(failures)
    d = Dispatcher([sink], retries=retries, retry_backoff=0.001)
    d.dispatch([make_event()])
    assert bool(sink.events) is delivered
    assert d.stats["retried"] == retried
    assert d.stats["dead_lettered"] == dead_lettered
    assert len(d.dead_letters) == dead_lettered


def test_dispatcher_without_file_keeps_dead_letters_in_memory_and_warns(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """No dead-letter file: a bounded in-memory list, and a warning on the chatguard logger."""
    d = Dispatcher([Boom()], retries=0, dead_letter_limit=2)
    with caplog.at_level(logging.WARNING, logger="chatguard"):
        d.dispatch([make_event(i) for i in range(3)])
    assert [x["event"]["message_id"] for x in d.dead_letters] == ["m1", "m2"]
    assert d.stats["dead_lettered"] == 3
    warnings = [r for r in caplog.records if r.name == "chatguard"]
    assert len(warnings) == 3
    assert "Boom" in warnings[0].getMessage()


def test_dispatcher_does_not_retry_a_delivery_error(hook: Hook, tmp_path: Path) -> None:
    """A sink that retried itself is not retried again; a failed batch is dead-lettered whole."""
    hook.answer(*[500] * 10)
    dead = tmp_path / "dead.jsonl"
    webhook = WebhookSink(hook.url, batch_size=2, retries=1, backoff=0.01)
    d = Dispatcher([webhook], dead_letter=dead, retries=2, retry_backoff=0.001)
    events = [make_event(i) for i in range(2)]
    d.dispatch(events)
    assert len(hook.received) == 2  # the sink's own 1 + 1 attempts, nothing more
    letters = read_dead_letters(dead)
    assert [Event.model_validate(x["event"]) for x in letters] == events
    assert {x["sink"] for x in letters} == {"WebhookSink"}
    assert d.stats["retried"] == 0
    assert d.stats["failed"] == 2


def test_dispatcher_dead_letters_queue_drops_and_background_failures(tmp_path: Path) -> None:
    """A QueueSink's drops and its inner sink's failures reach the dead-letter file."""
    dead = tmp_path / "dead.jsonl"
    gated = Gated()
    queued = QueueSink(gated, maxsize=1, overflow="drop_newest")
    failing = QueueSink(Flaky(failures=5))
    d = Dispatcher([queued, failing], dead_letter=dead, retries=2, retry_backoff=0.001)
    d.dispatch([make_event(0)])
    assert gated.entered.wait(2)
    d.dispatch([make_event(1), make_event(2)])  # 1 queued, 2 dropped
    gated.gate.set()
    d.close()
    letters = read_dead_letters(dead)
    by_sink: dict[str, list[str]] = {}
    for x in letters:
        by_sink.setdefault(x["sink"], []).append(x["event"]["message_id"])
    assert by_sink == {"QueueSink(Gated)": ["m2"], "QueueSink(Flaky)": ["m0", "m1", "m2"]}
    assert [e.message_id for e in gated.events] == ["m0", "m1"]
    assert d.stats["sinks"]["QueueSink(Flaky)"]["failed"] == 3
    assert d.stats["retried"] == 6  # background retries follow the dispatcher's policy


def test_dispatcher_dead_letters_a_failed_queued_batch_once(hook: Hook, tmp_path: Path) -> None:
    """A batching webhook behind a queue: each event of a failed batch is dead-lettered once."""
    hook.answer(*[503] * 10)
    dead = tmp_path / "dead.jsonl"
    queued = QueueSink(WebhookSink(hook.url, batch_size=3, retries=0))
    d = Dispatcher([queued], dead_letter=dead, retry_backoff=0.001)
    events = [make_event(i) for i in range(4)]
    d.dispatch(events)
    d.close()  # the 4th event goes out in the final partial batch, which fails too
    letters = read_dead_letters(dead)
    assert sorted(x["event"]["message_id"] for x in letters) == ["m0", "m1", "m2", "m3"]
    assert len(hook.received) == 2
    assert d.stats["failed"] == 4


def test_dispatcher_concurrent_dispatch_loses_nothing(tmp_path: Path) -> None:
    """Four threads x 250 events: every sink gets every event and the counters add up."""
    memory = MemorySink()
    path = tmp_path / "events.jsonl"
    jsonl = JsonlSink(path, fsync=False)
    flaky = Flaky(failures=1)
    d = Dispatcher([memory, jsonl, flaky], retries=1, retry_backoff=0)

    def work(base: int) -> None:
        for i in range(250):
            d.dispatch([make_event(base + i)])

    threads = [threading.Thread(target=work, args=(k * 1000,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    d.close()
    ids = {e.event_id for e in memory.events}
    assert len(ids) == 1000
    assert len(path.read_bytes().splitlines()) == 1000
    assert {e.event_id for e in flaky.events} == ids
    stats = d.stats
    assert stats["events"] == 1000
    assert stats["emitted"] == 3000
    assert stats["retried"] == 1000
    assert stats["failed"] == stats["dead_lettered"] == 0


def test_dispatcher_names_are_unique() -> None:
    """Two sinks of one class get a numeric suffix; functions are named by qualified name."""

    def on_event(event: Event) -> None:
        pass

    d = Dispatcher([MemorySink(), MemorySink(), on_event, CallbackSink(on_event, name="audit")])
    assert d.names == (
        "MemorySink",
        "MemorySink#2",
        "test_dispatcher_names_are_unique.<locals>.on_event",
        "audit",
    )


def test_dispatcher_flush_and_close_are_isolated(caplog: pytest.LogCaptureFixture) -> None:
    """A sink whose flush/close raise does not stop the other sinks being flushed and closed."""
    bad, good = BadClose(), Closable()
    d = Dispatcher([bad, good])
    with caplog.at_level(logging.WARNING, logger="chatguard"):
        d.flush()
        d.close()
        d.close()  # idempotent
    assert good.closed == 1
    assert any("close failed" in r.getMessage() for r in caplog.records)


def test_dispatcher_after_close_dead_letters() -> None:
    """Events dispatched after close are dead-lettered, never silently dropped."""
    memory = MemorySink()
    d = Dispatcher([memory])
    d.close()
    d.dispatch([make_event()])
    assert memory.events == []
    assert [x["sink"] for x in d.dead_letters] == ["Dispatcher"]


def test_dispatcher_accepts_a_single_event_and_is_a_sink() -> None:
    """A lone Event is not iterated field by field; a Dispatcher can be nested as a sink."""
    memory = MemorySink()
    outer = Dispatcher([Dispatcher([memory])])
    outer.dispatch(make_event(1))  # type: ignore[arg-type]
    outer.emit(make_event(2))
    assert [e.message_id for e in memory.events] == ["m1", "m2"]


@pytest.mark.parametrize(
    ("build", "error"),
    [
        pytest.param(lambda tmp: Dispatcher([42]), ConfigError, id="not-a-sink"),  # type: ignore[list-item]
        pytest.param(lambda tmp: Dispatcher([], retries=-1), ConfigError, id="negative-retries"),
        pytest.param(
            lambda tmp: Dispatcher([], dead_letter=tmp / "no" / "dead.jsonl"),
            ConfigError,
            id="dead-letter-dir-missing",
        ),
        pytest.param(
            lambda tmp: Dispatcher([MemorySink()]).dispatch(["not an event"]),  # type: ignore[list-item]
            InputError,
            id="non-event-item",
        ),
    ],
)
def test_dispatcher_rejects_bad_input(build: Any, error: type[Exception], tmp_path: Path) -> None:
    """Programming errors fail loudly at the boundary (sink failures never do)."""
    with pytest.raises(error):
        build(tmp_path)
