"""``RedisStore``: conversation and sender state shared by several worker processes.

Layout (``prefix`` defaults to ``chatguard:``; ids are the guard's store ids, i.e. keyed
hashes when the guard has a hash key)::

    {prefix}c:{conversation}     HASH  v = version, d = encoded ConversationRecord
    {prefix}s:{sender}:fp        LIST  "recipient␟fingerprint␟time" script fingerprints (capped)
    {prefix}s:{sender}:cv        ZSET  conversations where the sender said something risky
    {prefix}k:{kind}:{user}:{b}  STR   once-per-bucket tokens (SMS per victim per day)
    {prefix}u:{user}             SET   every key (or "key␟field" entry) mentioning the user

Why it is built this way:

* **Atomic updates without locks.** A conversation update is a compare-and-set on the
  record's version, done by one Lua script that also refreshes the TTL and the user
  indexes; a worker that loses the race reloads and recomputes. Sender lists and tokens are
  each one Lua script (append + trim + expire + index) so no half-written state is ever
  visible.
* **TTL on every key**, refreshed when written: Redis 7.0 has no per-field TTL, so nothing
  relies on one; old script fingerprints inside a list are filtered by age on read and the
  lists are capped.
* **Erasure is exact.** Every write also records, in the user's index set, the key (or the
  list entry) that mentions the user; ``forget`` walks that index in one Lua script, deletes
  conversation records (unlinking them from the other member's index), removes list
  entries naming the user, and deletes the index. Tests check it by scanning every key.
* **Redis down is not the chat path's problem.** Every call is wrapped: on a connection
  error the store switches to a local :class:`~chatguard.state.memory.MemoryStore`, logs a
  warning on ``logging.getLogger("chatguard")``, reports ``degraded`` in ``stats()``, and
  tries Redis again after ``retry_seconds``. State written locally during an outage is not
  merged back (it is a best-effort bridge, not a replica). ``forget`` alone raises
  (:class:`~chatguard.state.base.StoreUnavailableError`): an erasure must not silently
  miss Redis.

The scripts compute some key names inside Lua, so this store targets a standalone Redis (or
a primary with replicas), not Redis Cluster. Conversation ids should not embed user ids
unless the guard hashes ids (``hash_key``).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

from ..errors import ConfigError
from .base import (
    ConversationRecord,
    ScriptEntry,
    StoreUnavailableError,
    decode_record,
    encode_record,
)
from .memory import MemoryStore

__all__ = ["RedisStore"]

_log = logging.getLogger("chatguard")
_SEP = "\x1f"
_RISKY_CAP = 256

_SAVE_LUA = """
local cur = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
if cur ~= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'v', cur + 1, 'd', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
for i = 5, #ARGV do
  local idx = ARGV[4] .. 'u:' .. ARGV[i]
  redis.call('SADD', idx, KEYS[1])
  redis.call('EXPIRE', idx, ARGV[3])
end
return cur + 1
"""

# KEYS[1] list; ARGV: entry, max entries, ttl, sender index, recipient index, recipient member
_SCRIPT_LUA = """
redis.call('LREM', KEYS[1], 0, ARGV[1])
redis.call('LPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[2]) - 1)
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('SADD', ARGV[4], KEYS[1])
redis.call('EXPIRE', ARGV[4], ARGV[3])
redis.call('SADD', ARGV[5], ARGV[6])
redis.call('EXPIRE', ARGV[5], ARGV[3])
return redis.call('LRANGE', KEYS[1], 0, -1)
"""

# KEYS[1] zset; ARGV: conversation, now, ttl, sender index, cap
_RISKY_LUA = """
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
local n = redis.call('ZCARD', KEYS[1])
local cap = tonumber(ARGV[5])
if n > cap then
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, n - cap - 1)
  n = cap
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('SADD', ARGV[4], KEYS[1])
redis.call('EXPIRE', ARGV[4], ARGV[3])
return n
"""

# KEYS[1] token; ARGV: ttl, user index, index ttl
_CLAIM_LUA = """
local ok = redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1])
if not ok then return 0 end
redis.call('SADD', ARGV[2], KEYS[1])
redis.call('EXPIRE', ARGV[2], ARGV[3])
return 1
"""

# KEYS[1] the user's index; ARGV: user, prefix
_FORGET_LUA = """
local idx, user, prefix = KEYS[1], ARGV[1], ARGV[2]
local sep = '\\31'
local removed = 0
local function unlink_list(key)
  -- a script list of this user: the recipients' indexes point at entries in it
  for _, it in ipairs(redis.call('LRANGE', key, 0, -1)) do
    local s = string.find(it, sep, 1, true)
    if s then
      local r = string.sub(it, 1, s - 1)
      redis.call('SREM', prefix .. 'u:' .. r, key .. sep .. r)
    end
  end
end
for _, m in ipairs(redis.call('SMEMBERS', idx)) do
  local s = string.find(m, sep, 1, true)
  if s == nil then
    local t = redis.call('TYPE', m)['ok']
    if t == 'hash' then
      local blob = redis.call('HGET', m, 'd')
      if blob then
        local ok, rec = pcall(cjson.decode, blob)
        if ok and type(rec) == 'table' and type(rec[9]) == 'table' then
          for _, p in ipairs(rec[9]) do
            for _, u in ipairs({p[1], p[2]}) do
              if type(u) == 'string' and u ~= user and u ~= '' then
                redis.call('SREM', prefix .. 'u:' .. u, m)
                redis.call('ZREM', prefix .. 's:' .. u .. ':cv', rec[2])
              end
            end
          end
        end
      end
    elseif t == 'list' then
      unlink_list(m)
    end
    removed = removed + redis.call('DEL', m)
  else
    local key = string.sub(m, 1, s - 1)
    local field = string.sub(m, s + 1)
    local t = redis.call('TYPE', key)['ok']
    if t == 'list' then
      local items = redis.call('LRANGE', key, 0, -1)
      local keep = {}
      for _, it in ipairs(items) do
        local s2 = string.find(it, sep, 1, true)
        if s2 and string.sub(it, 1, s2 - 1) == field then
          removed = removed + 1
        else
          table.insert(keep, it)
        end
      end
      if #keep ~= #items then
        local ttl = redis.call('PTTL', key)
        redis.call('DEL', key)
        if #keep > 0 then
          redis.call('RPUSH', key, unpack(keep))
          if ttl > 0 then redis.call('PEXPIRE', key, ttl) end
        end
      end
    elseif t == 'zset' then
      removed = removed + redis.call('ZREM', key, field)
    end
  end
end
removed = removed + redis.call('DEL', idx)
return removed
"""


class RedisStore:
    """:class:`~chatguard.state.base.StateStore` in Redis, shared by worker processes.

    ``client_or_url`` is a ``redis.Redis`` client or a ``redis://`` URL (then the store
    builds a client with short socket timeouts and no client-side retries, so an outage is
    noticed in ``timeout`` seconds rather than hanging a chat message). ``ttl_seconds``
    applies to every key. ``retry_seconds`` is how long the store stays on local state after
    an error before it tries Redis again.
    """

    def __init__(
        self,
        client_or_url: Any,
        *,
        prefix: str = "chatguard:",
        ttl_seconds: float = 30 * 86400.0,
        timeout: float = 0.5,
        retry_seconds: float = 5.0,
        fallback: MemoryStore | None = None,
    ) -> None:
        try:
            import redis
        except ImportError:  # pragma: no cover - depends on the environment
            raise ConfigError(
                "RedisStore needs the 'redis' package: pip install 'chatguard[redis]'"
            ) from None
        if ttl_seconds < 1:
            raise ConfigError("ttl_seconds must be at least one second")
        self._redis_errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        if isinstance(client_or_url, str):
            from redis.backoff import NoBackoff
            from redis.retry import Retry

            self._client = redis.Redis.from_url(
                client_or_url,
                socket_timeout=timeout,
                socket_connect_timeout=timeout,
                retry=Retry(NoBackoff(), 0),
                retry_on_timeout=False,
            )
            self._owns_client = True
        else:
            self._client = client_or_url
            self._owns_client = False
        self.prefix = prefix
        self.ttl_seconds = int(ttl_seconds)
        self.retry_seconds = float(retry_seconds)
        self._fallback = fallback if fallback is not None else MemoryStore(
            ttl_seconds=ttl_seconds
        )
        self._save = self._client.register_script(_SAVE_LUA)
        self._script = self._client.register_script(_SCRIPT_LUA)
        self._risky = self._client.register_script(_RISKY_LUA)
        self._claim = self._client.register_script(_CLAIM_LUA)
        self._forget = self._client.register_script(_FORGET_LUA)
        self._state_lock = threading.Lock()
        self._down_until = 0.0
        self._degraded = False
        self._errors = 0
        self._last_error = ""
        self._fallback_ops = 0

    # -- keys ------------------------------------------------------------------------------
    def _ck(self, conversation: str) -> str:
        return f"{self.prefix}c:{conversation}"

    def _idx(self, user: str) -> str:
        return f"{self.prefix}u:{user}"

    # -- health ----------------------------------------------------------------------------
    def _usable(self) -> bool:
        return not self._degraded or time.monotonic() >= self._down_until

    def _failed(self, exc: BaseException, op: str) -> None:
        with self._state_lock:
            self._errors += 1
            self._last_error = f"{op}: {type(exc).__name__}: {exc}"
            was = self._degraded
            self._degraded = True
            self._down_until = time.monotonic() + self.retry_seconds
            self._fallback_ops += 1
        if not was:
            _log.warning(
                "chatguard: Redis unreachable (%s); the guard keeps scanning on local state "
                "and retries in %.0fs", self._last_error, self.retry_seconds,
            )

    def _ok(self) -> None:
        if self._degraded:
            with self._state_lock:
                was = self._degraded
                self._degraded = False
            if was:
                _log.warning("chatguard: Redis reachable again; shared state resumed")

    def _local(self) -> MemoryStore:
        with self._state_lock:
            self._fallback_ops += 1
        return self._fallback

    @property
    def degraded(self) -> bool:
        return self._degraded

    # -- conversations ---------------------------------------------------------------------
    def load(self, conversation: str) -> tuple[ConversationRecord | None, int]:
        return self.load_many([conversation])[0]

    def load_many(
        self, conversations: Sequence[str]
    ) -> list[tuple[ConversationRecord | None, int]]:
        if not conversations:
            return []
        if not self._usable():
            return self._local().load_many(conversations)
        try:
            pipe = self._client.pipeline(transaction=False)
            for c in conversations:
                pipe.hmget(self._ck(c), "v", "d")
            rows = pipe.execute()
        except self._redis_errors as exc:
            self._failed(exc, "load")
            return self._fallback.load_many(conversations)
        self._ok()
        out: list[tuple[ConversationRecord | None, int]] = []
        for c, (v, d) in zip(conversations, rows, strict=True):
            if v is None or d is None:
                out.append((None, 0))
                continue
            version = int(v)
            try:
                out.append((decode_record(d), version))
            except ValueError as exc:
                _log.warning("chatguard: unreadable state for conversation %s (%s); "
                             "starting it afresh", c, exc)
                out.append((None, version))
        return out

    def save(self, record: ConversationRecord, version: int) -> bool:
        if not self._usable():
            return self._local().save(record, version)
        try:
            nv = self._save(
                keys=[self._ck(record.conversation)],
                args=[version, encode_record(record), self.ttl_seconds, self.prefix,
                      *record.users],
            )
        except self._redis_errors as exc:
            self._failed(exc, "save")
            return self._fallback.save(record, version)
        self._ok()
        return bool(int(nv))

    # -- senders ---------------------------------------------------------------------------
    def add_script(
        self, sender: str, recipient: str, fingerprint: int, now: float, *,
        window: float, max_entries: int,
    ) -> list[ScriptEntry]:
        if not self._usable():
            return self._local().add_script(sender, recipient, fingerprint, now,
                                            window=window, max_entries=max_entries)
        key = f"{self.prefix}s:{sender}:fp"
        entry = f"{recipient}{_SEP}{fingerprint:016x}{_SEP}{now:.3f}"
        try:
            raw = self._script(
                keys=[key],
                args=[entry, max_entries, self.ttl_seconds, self._idx(sender),
                      self._idx(recipient), f"{key}{_SEP}{recipient}"],
            )
        except self._redis_errors as exc:
            self._failed(exc, "add_script")
            return self._fallback.add_script(sender, recipient, fingerprint, now,
                                             window=window, max_entries=max_entries)
        self._ok()
        out: list[ScriptEntry] = []
        for item in raw:
            text = item.decode("utf-8") if isinstance(item, bytes) else str(item)
            parts = text.split(_SEP)
            if len(parts) != 3:
                continue
            try:
                e = ScriptEntry(parts[0], int(parts[1], 16), float(parts[2]))
            except ValueError:
                continue
            if now - e.at <= window:
                out.append(e)
        out.reverse()  # oldest first, like MemoryStore
        return out

    def add_risky_conversation(self, sender: str, conversation: str, now: float) -> int:
        if not self._usable():
            return self._local().add_risky_conversation(sender, conversation, now)
        try:
            n = self._risky(
                keys=[f"{self.prefix}s:{sender}:cv"],
                args=[conversation, now, self.ttl_seconds, self._idx(sender), _RISKY_CAP],
            )
        except self._redis_errors as exc:
            self._failed(exc, "add_risky_conversation")
            return self._fallback.add_risky_conversation(sender, conversation, now)
        self._ok()
        return int(n)

    def claim(self, kind: str, user: str, bucket: str, ttl_seconds: float) -> bool:
        if not self._usable():
            return self._local().claim(kind, user, bucket, ttl_seconds)
        ttl = max(1, int(ttl_seconds))
        try:
            ok = self._claim(
                keys=[f"{self.prefix}k:{kind}:{user}:{bucket}"],
                args=[ttl, self._idx(user), max(ttl, self.ttl_seconds)],
            )
        except self._redis_errors as exc:
            self._failed(exc, "claim")
            return self._fallback.claim(kind, user, bucket, ttl_seconds)
        self._ok()
        return bool(int(ok))

    # -- erasure ---------------------------------------------------------------------------
    def forget(self, user: str) -> int:
        """Erase every key and entry mentioning ``user`` in Redis and in the local fallback.

        Raises :class:`StoreUnavailableError` when Redis cannot be reached: the caller must
        retry, because an erasure that silently skipped Redis would be a broken promise.
        """
        removed = self._fallback.forget(user)
        try:
            n = self._forget(keys=[self._idx(user)], args=[user, self.prefix])
        except self._redis_errors as exc:
            self._failed(exc, "forget")
            raise StoreUnavailableError(
                f"cannot erase user state from Redis: {type(exc).__name__}: {exc}"
            ) from None
        self._ok()
        return removed + int(n)

    # -- housekeeping ----------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        with self._state_lock:
            out: dict[str, Any] = {
                "backend": "redis",
                "degraded": self._degraded,
                "errors": self._errors,
                "last_error": self._last_error,
                "fallback_ops": self._fallback_ops,
            }
        out["fallback"] = self._fallback.stats()
        return out

    def ping(self) -> bool:
        """Whether Redis answers now (does not change the degraded state)."""
        try:
            return bool(self._client.ping())
        except self._redis_errors:
            return False

    def close(self) -> None:
        """Close the client if this store created it (a passed-in client is the caller's)."""
        if self._owns_client:
            with contextlib.suppress(*self._redis_errors):
                self._client.close()
