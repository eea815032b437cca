"""State stores: the StateStore contract (MemoryStore and RedisStore pass the same tests),
bounds and expiry, erasure checked by scanning every Redis key, worker restarts, two
processes sharing state, and Redis outages that must not reach the chat path."""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

import chatguard
from chatguard import Guard, MemoryStore, RedisStore
from chatguard.sinks import MemorySink
from chatguard.state import StateStore, StoreUnavailableError
from chatguard.state.base import (
    ConversationRecord,
    PartyState,
    decode_record,
    encode_record,
)
from tests.test_guard import CRITICAL, DIVERT, HOOK, PACK_TOML, RULES_TOML, T0

ROOT = Path(__file__).resolve().parents[1]


def _record(conv: str = "c1", users: tuple[str, str] = ("s", "v"), *, at: float = T0,
            warnings: int = 0) -> ConversationRecord:
    s, v = users
    return ConversationRecord(
        conversation=conv, updated=at, warnings=warnings,
        parties=(PartyState(user=s, recipient=v, at=at, cats=((0, 0.5),), chain=(1, 0, 0, 0),
                            messages=1, peak=2),),
        rules=((1, "some-rule", s),),
        recent=(("m1", s, 2, ("some-rule",), ()),),
    )


@pytest.fixture(scope="module")
def pack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The guard test pack (round weights), written once for this module."""
    d = tmp_path_factory.mktemp("state-pack")
    (d / "pack.toml").write_text(PACK_TOML, encoding="utf-8")
    (d / "rules.toml").write_text(RULES_TOML, encoding="utf-8")
    return d


@pytest.fixture(scope="module")
def det(pack: Path) -> chatguard.Detector:
    """A detector over the guard test pack."""
    return chatguard.Detector.from_rules(pack)


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest) -> Iterator[StateStore]:
    """Each contract test runs on both stores."""
    if request.param == "memory":
        yield MemoryStore()
        return
    client = request.getfixturevalue("redis_client")
    s = RedisStore(client)
    yield s
    s.close()


def _msg(text: str, *, sender: str = "sam", recipient: str = "amy", conv: str = "c1",
         at: float = T0, mid: str) -> dict[str, Any]:
    return {"message_id": mid, "conversation_id": conv, "sender_id": sender,
            "recipient_id": recipient, "text": text, "sent_at": at}


# -- the record codec -----------------------------------------------------------------------
def test_record_codec_round_trips() -> None:
    """encode -> decode gives back an equal record (the wire format is lossless)."""
    rec = _record(warnings=2)
    assert decode_record(encode_record(rec)) == rec
    assert json.loads(encode_record(rec))[0] == 1  # format version first


@pytest.mark.parametrize(
    "blob",
    [b"", b"{}", b"[2, \"c\"]", b"[1, \"c\"]", b"not json", b"[1,\"c\",0,0,0,[],[],[],[[1]]]"],
    ids=["empty", "object", "future-format", "truncated", "garbage", "bad-party"],
)
def test_record_codec_rejects_malformed_blobs(blob: bytes) -> None:
    """Anything that is not a record of a known format is a ValueError, never a crash."""
    with pytest.raises(ValueError, match="record"):
        decode_record(blob)


# -- the StateStore contract -------------------------------------------------------------------
def test_store_satisfies_the_protocol(store: StateStore) -> None:
    """Both stores are StateStores."""
    assert isinstance(store, StateStore)


def test_save_is_compare_and_set(store: StateStore) -> None:
    """A save succeeds only against the version it read; stale writers must retry."""
    assert store.load("c1") == (None, 0)
    assert store.save(_record(), 0) is True
    rec, version = store.load("c1")
    assert rec == _record()
    assert version == 1
    assert store.save(_record(warnings=5), 0) is False  # a writer that read "absent"
    assert store.save(_record(warnings=1), 1) is True
    assert store.load("c1") == (_record(warnings=1), 2)
    assert store.load_many(["c1", "nope"]) == [(_record(warnings=1), 2), (None, 0)]


def test_script_entries_are_windowed_capped_and_idempotent(store: StateStore) -> None:
    """Fingerprints come back oldest first, within the window, at most max_entries."""
    for i in range(6):
        store.add_script("sam", f"r{i}", i, T0 + i, window=100, max_entries=4)
    again = store.add_script("sam", "r5", 5, T0 + 5, window=100, max_entries=4)
    assert [e.recipient for e in again] == ["r2", "r3", "r4", "r5"]
    later = store.add_script("sam", "r9", 9, T0 + 103, window=100, max_entries=4)
    assert [e.recipient for e in later] == ["r3", "r4", "r5", "r9"]
    assert later[-1].fingerprint == 9


def test_risky_conversations_count_distinct(store: StateStore) -> None:
    """Counting conversations where a sender raised risk ignores repeats."""
    assert store.add_risky_conversation("sam", "c1", T0) == 1
    assert store.add_risky_conversation("sam", "c1", T0 + 1) == 1
    assert store.add_risky_conversation("sam", "c2", T0 + 2) == 2
    assert store.add_risky_conversation("bob", "c2", T0 + 2) == 1


def test_claims_are_once_per_bucket(store: StateStore) -> None:
    """A token can be claimed once per (kind, user, bucket)."""
    assert store.claim("sms", "amy", "20254", 100) is True
    assert store.claim("sms", "amy", "20254", 100) is False
    assert store.claim("sms", "amy", "20255", 100) is True
    assert store.claim("sms", "bea", "20254", 100) is True


def test_forget_removes_the_user_and_keeps_the_others(store: StateStore) -> None:
    """forget() erases records, entries and tokens naming the user, nothing else."""
    store.save(_record("c1", ("sam", "amy")), 0)
    store.save(_record("c2", ("sam", "bea")), 0)
    store.save(_record("c3", ("bob", "cat")), 0)
    store.add_script("sam", "amy", 1, T0, window=100, max_entries=8)
    store.add_script("sam", "bea", 1, T0, window=100, max_entries=8)
    store.add_script("bob", "amy", 2, T0, window=100, max_entries=8)
    store.add_risky_conversation("sam", "c1", T0)
    store.claim("sms", "amy", "1", 100)
    assert store.forget("amy") >= 4
    assert store.load("c1") == (None, 0)
    assert store.load("c2")[0] is not None
    assert store.load("c3")[0] is not None
    assert [e.recipient for e in store.add_script("sam", "x", 3, T0, window=100,
                                                  max_entries=8)] == ["bea", "x"]
    assert store.claim("sms", "amy", "1", 100) is True
    assert store.forget("nobody") == 0


# -- MemoryStore bounds ------------------------------------------------------------------------
def test_memory_store_evicts_least_recently_used() -> None:
    """Past max_conversations the least recently used conversation goes first."""
    s = MemoryStore(max_conversations=2)
    s.save(_record("a"), 0)
    s.save(_record("b"), 0)
    s.load("a")  # touch a: b is now the oldest
    s.save(_record("c"), 0)
    assert s.load("b") == (None, 0)
    assert s.load("a")[0] is not None
    assert s.load("c")[0] is not None
    assert s.stats()["evicted"] == 1


def test_memory_store_expires_by_ttl() -> None:
    """Entries older than ttl_seconds are gone (wall clock, injectable)."""
    now = [1000.0]
    s = MemoryStore(ttl_seconds=10, clock=lambda: now[0])
    s.save(_record(), 0)
    assert s.claim("sms", "amy", "d", 5) is True
    now[0] += 6
    assert s.claim("sms", "amy", "d", 5) is True  # token expired
    assert s.load("c1")[0] is not None
    now[0] += 5
    assert s.load("c1") == (None, 0)
    assert s.save(_record(), 0) is True  # an expired record counts as absent


def test_memory_store_records_are_flat_bytes() -> None:
    """Each conversation is one compact bytes blob, not a tree of objects (with ``hot=0``
    at once; by default once it leaves the ``hot`` most recently saved)."""
    s = MemoryStore(hot=0)
    s.save(_record(), 0)
    (_, version, blob), = s._convs.values()
    assert isinstance(blob, bytes)
    assert version == 1
    assert len(blob) < 300


def test_memory_store_keeps_the_hot_records_as_objects_and_encodes_the_rest() -> None:
    s = MemoryStore(hot=2)
    records = [_record(conv=f"c{i}") for i in range(5)]
    for r in records:
        assert s.save(r, 0)
    payloads = {k: p for k, (_, _, p) in s._convs.items()}
    assert [k for k, p in payloads.items() if not isinstance(p, bytes)] == ["c3", "c4"]
    assert all(isinstance(payloads[f"c{i}"], bytes) for i in range(3))
    assert s.stats()["hot"] == 2
    for r in records:  # hot or encoded, a load gives back an equal record
        assert s.load(r.conversation) == (r, 1)
    assert s.load("c4")[0] is records[4]  # the hot one is not decoded at all
    # a later save of an encoded conversation makes it hot again; versions go on
    assert s.save(records[0], 1)
    assert s.load("c0") == (records[0], 2)
    assert not isinstance(s._convs["c0"][2], bytes)
    assert isinstance(s._convs["c3"][2], bytes)  # pushed out of the hot set
    assert len(s.blobs()) == 5
    assert all(isinstance(b, bytes) for b in s.blobs())


# -- Redis: keys, TTLs, erasure by scanning everything -----------------------------------------
def _dump(client: redis.Redis) -> dict[bytes, str]:
    """Every key with its whole value as text (all Redis types the store uses)."""
    out: dict[bytes, str] = {}
    for key in client.scan_iter(count=1000):
        kind = client.type(key)
        if kind == b"string":
            value: Any = client.get(key)
        elif kind == b"hash":
            value = client.hgetall(key)
        elif kind == b"list":
            value = client.lrange(key, 0, -1)
        elif kind == b"set":
            value = client.smembers(key)
        elif kind == b"zset":
            value = client.zrange(key, 0, -1)
        else:  # pragma: no cover - the store writes no other types
            value = kind
        out[key] = repr(value)
    return out


def _busy_conversations(g: Guard) -> None:
    """sam sends the same script to three members; bob writes to amy; amy answers."""
    script = "亲爱的，这个平台稳赚不赔，我带你投资，钱转到安全账户就行"
    for i, who in enumerate(["amy", "bea", "cat"]):
        g.feed(_msg(script, recipient=who, conv=f"c-{who}", at=T0 + i, mid=f"s{i}"))
        g.feed(_msg(CRITICAL, recipient=who, conv=f"c-{who}", at=T0 + 10 + i, mid=f"t{i}"))
    g.feed(_msg(CRITICAL, sender="bob", recipient="amy", conv="c-bob", at=T0 + 20, mid="b1"))
    g.feed(_msg(CRITICAL + "!", sender="bob", recipient="amy", conv="c-bob", at=T0 + 21,
                mid="b2"))
    g.feed(_msg(HOOK + "?", sender="amy", recipient="bob", conv="c-bob", at=T0 + 22, mid="a1"))


def test_every_redis_key_has_a_ttl(det: chatguard.Detector, redis_client: redis.Redis) -> None:
    """Nothing the guard writes to Redis lives forever."""
    g = Guard(det, store=RedisStore(redis_client, ttl_seconds=3600))
    _busy_conversations(g)
    keys = list(redis_client.scan_iter())
    assert len(keys) > 8
    for key in keys:  # the store's TTL, or two days for once-per-day tokens
        assert 0 < redis_client.ttl(key) <= 2 * 86400, key


@pytest.mark.parametrize("hash_key", [None, "k3y"], ids=["plain-ids", "hashed-ids"])
@pytest.mark.parametrize("victim", ["amy", "sam"], ids=["forget-a-victim", "forget-a-sender"])
def test_forget_leaves_no_key_or_value_mentioning_the_user(
    det: chatguard.Detector, redis_client: redis.Redis, hash_key: str | None, victim: str
) -> None:
    """After forget(), a SCAN over every key finds the user in no key name and no value;
    the other members' state is still there."""
    g = Guard(det, store=RedisStore(redis_client), hash_key=hash_key)
    _busy_conversations(g)
    uid = g.hash_id(victim)
    before = _dump(redis_client)
    assert any(uid in k.decode() or uid in v for k, v in before.items())
    removed = g.forget(victim)
    assert removed > 0
    after = _dump(redis_client)
    leaks = {k: v for k, v in after.items() if uid in k.decode() or uid in v}
    assert leaks == {}
    assert after, "other members' state must survive"
    if hash_key is not None:
        for raw in ("amy", "bea", "cat", "sam", "bob", "c-amy"):
            assert not any(raw in k.decode() or raw in v for k, v in after.items())


def test_state_survives_a_worker_restart(det: chatguard.Detector, redis_server: str,
                                         redis_client: redis.Redis) -> None:
    """A new guard (a restarted worker) continues the conversation from Redis."""
    first = Guard(det, store=RedisStore(redis_server))
    assert first.feed(_msg(DIVERT, mid="r1")) == []
    first.close()
    sink = MemorySink()
    second = Guard(det, sinks=[sink], store=RedisStore(redis_server))
    second.feed(_msg(HOOK, mid="r2", at=T0 + 60))
    second.feed(_msg("你先转账给我", mid="r3", at=T0 + 120))
    assert [e.kind for e in sink.events] == ["warning"]
    assert second.conversation("c1").stages == ("diversion", "hook", "money_request")


# -- two processes sharing state -----------------------------------------------------------------
_WORKER = textwrap.dedent("""
    import json, sys
    import chatguard
    from chatguard import Guard, RedisStore
    from chatguard.sinks import MemorySink

    pack, url, batch = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    sink = MemorySink()
    guard = Guard(chatguard.Detector.from_rules(pack), sinks=[sink], store=RedisStore(url))
    for m in batch:
        guard.feed(m)
    print(json.dumps({"events": [e.model_dump(mode="json") for e in sink.events],
                      "stats": guard.stats}))
""")


def _run_worker(pack: Path, url: str, batch: list[dict[str, Any]],
                script: Path) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src") + os.pathsep
               + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen(
        [sys.executable, str(script), str(pack), url, json.dumps(batch)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )


def _result(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-2000:]
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def test_two_processes_share_conversation_state(
    pack: Path, redis_server: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    """Worker A sees the first two stages, worker B the third: B's warning rests on A's
    state, and B's blacklist cites A's messages."""
    script = tmp_path / "worker.py"
    script.write_text(_WORKER, encoding="utf-8")
    a = _result(_run_worker(pack, redis_server, [
        _msg(DIVERT, mid="p1"), _msg(HOOK, mid="p2", at=T0 + 60)], script))
    assert a["events"] == []
    b = _result(_run_worker(pack, redis_server, [
        _msg(CRITICAL, mid="p3", at=T0 + 120)], script))
    kinds = {e["kind"] for e in b["events"]}
    assert {"warning", "blacklist_suggestion"} <= kinds
    bl = next(e for e in b["events"] if e["kind"] == "blacklist_suggestion")
    assert bl["evidence"]["message_ids"] == ["p1", "p2", "p3"]
    assert b["stats"]["store"]["degraded"] is False


def test_concurrent_processes_lose_no_update(
    pack: Path, redis_server: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    """Two processes hammering one conversation: compare-and-set keeps every message (before
    the backoff between lost rounds, 40 messages each lost one in about every third run)."""
    script = tmp_path / "worker.py"
    script.write_text(_WORKER, encoding="utf-8")
    n = 40
    procs = [
        _run_worker(pack, redis_server, [
            _msg(HOOK, mid=f"w{w}-{i}", at=T0 + i) for i in range(n)], script)
        for w in range(2)
    ]
    results = [_result(p) for p in procs]
    rec, version = RedisStore(redis_client).load("c1")
    assert rec is not None
    assert sum(p.messages for p in rec.parties) == 2 * n
    assert version == 2 * n
    warnings = [e for r in results for e in r["events"] if e["kind"] == "warning"]
    assert len(warnings) <= 1  # one conversation, one cooldown: never two reminders


# -- Redis outages ---------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_redis_degrades_to_local_state(
    det: chatguard.Detector, caplog: pytest.LogCaptureFixture
) -> None:
    """No Redis: feeding goes on with local state, stats say degraded, one warning is
    logged, and forget() refuses to pretend it erased anything."""
    store = RedisStore(f"redis://127.0.0.1:{_free_port()}/0", timeout=0.2, retry_seconds=60)
    sink = MemorySink()
    g = Guard(det, sinks=[sink], store=store)
    with caplog.at_level(logging.WARNING, logger="chatguard"):
        g.feed(_msg(DIVERT, mid="d1"))
        g.feed(_msg(HOOK, mid="d2", at=T0 + 60))
        g.feed(_msg("你先转账给我", mid="d3", at=T0 + 120))
    assert [e.kind for e in sink.events] == ["warning"]  # local state carried the stages
    stats = g.stats
    assert stats["degraded"] is True
    assert stats["store"]["errors"] == 1  # then it stops trying until retry_seconds pass
    assert "Redis unreachable" in caplog.text
    assert sum("Redis unreachable" in r.message for r in caplog.records) == 1
    with pytest.raises(StoreUnavailableError):
        g.forget("amy")


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server")
def test_redis_outage_and_recovery(det: chatguard.Detector, tmp_path: Path) -> None:
    """Redis goes away mid-conversation and comes back: the guard never raises, reports
    the outage, and resumes shared state after retry_seconds."""
    port = _free_port()
    url = f"redis://127.0.0.1:{port}/0"

    def start() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(tmp_path)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                if redis.Redis.from_url(url, socket_connect_timeout=0.2).ping():
                    return proc
            except redis.RedisError:
                time.sleep(0.05)
        proc.kill()
        pytest.fail("redis-server did not start")

    proc = start()
    try:
        store = RedisStore(url, timeout=0.2, retry_seconds=0.2)
        g = Guard(det, store=store)
        g.feed(_msg(DIVERT, mid="o1"))
        assert g.stats["degraded"] is False
        proc.terminate()
        proc.wait(timeout=10)
        g.feed(_msg(HOOK, mid="o2", at=T0 + 60))
        assert g.stats["degraded"] is True
        proc = start()
        time.sleep(0.3)
        g.feed(_msg(CRITICAL, conv="c2", mid="o3", at=T0 + 120))
        assert g.stats["degraded"] is False
        rec, _ = RedisStore(url).load("c2")
        assert rec is not None
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_corrupt_redis_record_starts_afresh(
    det: chatguard.Detector, redis_client: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    """A record that cannot be decoded is logged and replaced, never raised."""
    redis_client.hset("chatguard:c:c1", mapping={"v": 3, "d": b"garbage"})
    g = Guard(det, store=RedisStore(redis_client))
    with caplog.at_level(logging.WARNING, logger="chatguard"):
        g.feed(_msg(CRITICAL, mid="x1"))
    assert "unreadable state" in caplog.text
    rec, version = RedisStore(redis_client).load("c1")
    assert rec is not None
    assert version == 4
