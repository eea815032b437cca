"""``MemoryStore``: in-process state, bounded by count (LRU) and by age (TTL).

Built to stay flat over millions of conversations: a conversation is one entry of an
ordered dict holding ``(expires_at, version, blob)`` where ``blob`` is the record as
``marshal`` bytes (one ``bytes`` object, typically 200-800 bytes), not a tree of Python
objects for the garbage collector to walk. ``marshal`` because the bytes never leave the
process (shared stores use the JSON form) and it is several times faster than JSON. Only
conversations in which something risky was said get an entry at all.

The ``hot`` most recently saved conversations (1024 by default) keep the record itself
(immutable, safe to hand out) in place of the blob, and are encoded when they leave that
set: a conversation that is being scammed right now has one risky message after another,
and encoding each save only to decode it at the next load was a tenth of the guard's
work on those messages. Memory stays bounded: ``hot`` records at most.

Expiry is lazy (an expired entry is dropped when touched, or when the LRU evicts it), so no
background thread is needed. ``forget`` scans the blobs for the user's id (a bytes search
in C, then a decode of the few candidates): erasure is rare, feeding is not, so the store
keeps no per-user index for it.

One lock guards the dicts; every critical section is a few dict operations. The store is
also the local fallback of :class:`~chatguard.state.redis.RedisStore`.
"""

from __future__ import annotations

import marshal
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from .base import ConversationRecord, PartyState, ScriptEntry, record_to_data

__all__ = ["MemoryStore"]

_new_entry = tuple.__new__  # a ScriptEntry from a (recipient, fingerprint, at) tuple


def _decode(blob: bytes) -> ConversationRecord:
    """A record from this store's own ``marshal`` bytes (never from outside the process, so
    the types are trusted and the validating :func:`record_from_data` is skipped)."""
    _, conv, updated, warnings, warned_at, flagged, rules, recent, parties = marshal.loads(blob)
    return ConversationRecord(
        conversation=conv, updated=updated, warnings=warnings, warned_at=warned_at,
        flagged=flagged, rules=rules, recent=recent,
        parties=tuple(
            PartyState(user=u, recipient=r, at=at, cats=tuple(zip(c[::2], c[1::2], strict=True)),
                       victim=victim, chain=chain, trust_first=bool(trust), stage_at=stage_at,
                       messages=messages, peak=peak, echo=echo, ask_peak=ask)
            for u, r, at, c, victim, chain, trust, stage_at, messages, peak, echo, ask in parties
        ),
    )


def _encode(record: ConversationRecord) -> bytes:
    return marshal.dumps(record_to_data(record))


class MemoryStore:
    """Bounded in-process :class:`~chatguard.state.base.StateStore`.

    ``max_conversations`` and ``max_senders`` bound the entries (least recently used go
    first); ``ttl_seconds`` bounds their age; ``hot``: how many of the most recently saved
    conversations are kept as records rather than bytes (0: none). ``clock`` is injectable
    for tests (TTL runs on wall-clock time, decay on message time).
    """

    def __init__(
        self,
        *,
        max_conversations: int = 1_000_000,
        max_senders: int = 200_000,
        ttl_seconds: float = 30 * 86400.0,
        hot: int = 1024,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_conversations < 1 or max_senders < 1 or ttl_seconds <= 0:
            raise ValueError("max_conversations, max_senders and ttl_seconds must be positive")
        if hot < 0:
            raise ValueError("hot must be 0 (every record encoded at once) or more")
        self.max_conversations = max_conversations
        self.max_senders = max_senders
        self.ttl_seconds = float(ttl_seconds)
        self.hot = hot
        self._clock = clock
        self._lock = threading.Lock()
        # conversation -> (expires_at, version, marshal blob, or the record while it is hot)
        self._convs: OrderedDict[str, tuple[float, int, bytes | ConversationRecord]] = (
            OrderedDict()
        )
        self._hot: dict[str, None] = {}  # conversations saved as records, oldest first
        # sender -> (expires_at, entries); entries: ((recipient, fingerprint, at), ...)
        self._scripts: OrderedDict[str, tuple[float, tuple[tuple[str, int, float], ...]]] = (
            OrderedDict()
        )
        # sender -> (expires_at, conversation keys, most recent last)
        self._risky: OrderedDict[str, tuple[float, tuple[str, ...]]] = OrderedDict()
        self._claims: OrderedDict[tuple[str, str, str], float] = OrderedDict()
        self._evicted = 0
        self._expired = 0

    # -- conversations ---------------------------------------------------------------------
    def load(self, conversation: str) -> tuple[ConversationRecord | None, int]:
        now = self._clock()
        with self._lock:
            entry = self._convs.get(conversation)
            if entry is None:
                return None, 0
            if entry[0] <= now:
                del self._convs[conversation]
                self._expired += 1
                return None, 0
            self._convs.move_to_end(conversation)
            payload, version = entry[2], entry[1]
        if isinstance(payload, bytes):
            return _decode(payload), version
        return payload, version  # a hot record

    def load_many(
        self, conversations: Sequence[str]
    ) -> list[tuple[ConversationRecord | None, int]]:
        return [self.load(c) for c in conversations]

    def save(self, record: ConversationRecord, version: int) -> bool:
        if not self.hot:
            blob: bytes | ConversationRecord = _encode(record)
        else:
            if not isinstance(record, ConversationRecord):
                raise TypeError(f"expected a ConversationRecord, got {type(record).__name__}")
            blob = record
        now = self._clock()
        key = record.conversation
        with self._lock:
            entry = self._convs.get(key)
            current = 0 if entry is None or entry[0] <= now else entry[1]
            if current != version:
                return False
            convs = self._convs
            convs[key] = (now + self.ttl_seconds, current + 1, blob)
            convs.move_to_end(key)
            while len(convs) > self.max_conversations:
                convs.popitem(last=False)
                self._evicted += 1
            if self.hot:
                hot = self._hot
                hot.pop(key, None)
                hot[key] = None
                while len(hot) > self.hot:
                    self._cool(next(iter(hot)))
        return True

    def _cool(self, key: str) -> None:
        """Encode a record that leaves the hot set (under the lock)."""
        del self._hot[key]
        entry = self._convs.get(key)
        if entry is not None and not isinstance(entry[2], bytes):
            self._convs[key] = (entry[0], entry[1], _encode(entry[2]))

    def blobs(self) -> list[bytes]:
        """Every conversation record as the store's bytes (hot ones encoded now): what a
        privacy check searches for ids that must not be there."""
        with self._lock:
            return [p if isinstance(p, bytes) else _encode(p) for _, _, p in self._convs.values()]

    # -- senders ---------------------------------------------------------------------------
    def add_script(
        self, sender: str, recipient: str, fingerprint: int, now: float, *,
        window: float, max_entries: int,
    ) -> list[ScriptEntry]:
        wall = self._clock()
        with self._lock:
            old = self._scripts.get(sender)
            entries = old[1] if old is not None and old[0] > wall else ()
            kept = tuple(e for e in entries if now - e[2] <= window)
            item = (recipient, fingerprint, now)
            if item not in kept:
                kept = (*kept, item)
            kept = kept[-max_entries:]
            self._scripts[sender] = (wall + self.ttl_seconds, kept)
            self._scripts.move_to_end(sender)
            while len(self._scripts) > self.max_senders:
                self._scripts.popitem(last=False)
                self._evicted += 1
        return [_new_entry(ScriptEntry, e) for e in kept]

    def add_risky_conversation(self, sender: str, conversation: str, now: float) -> int:
        wall = self._clock()
        with self._lock:
            old = self._risky.get(sender)
            convs = old[1] if old is not None and old[0] > wall else ()
            if conversation in convs:
                convs = tuple(c for c in convs if c != conversation)
            convs = (*convs, conversation)[-256:]
            self._risky[sender] = (wall + self.ttl_seconds, convs)
            self._risky.move_to_end(sender)
            while len(self._risky) > self.max_senders:
                self._risky.popitem(last=False)
                self._evicted += 1
            return len(convs)

    def claim(self, kind: str, user: str, bucket: str, ttl_seconds: float) -> bool:
        wall = self._clock()
        key = (kind, user, bucket)
        with self._lock:
            expires = self._claims.get(key)
            if expires is not None and expires > wall:
                return False
            self._claims[key] = wall + ttl_seconds
            self._claims.move_to_end(key)
            while len(self._claims) > self.max_senders:
                self._claims.popitem(last=False)
        return True

    # -- erasure ---------------------------------------------------------------------------
    def forget(self, user: str) -> int:
        needle = user.encode("utf-8", "surrogatepass")
        removed = 0
        with self._lock:
            doomed: list[str] = []
            for key, (_, _, payload) in self._convs.items():
                if isinstance(payload, bytes):
                    if needle in payload and user in _decode(payload).users:
                        doomed.append(key)
                elif user in payload.users:
                    doomed.append(key)
            for key in doomed:
                del self._convs[key]
                self._hot.pop(key, None)
            removed += len(doomed)
            gone = set(doomed)
            if self._scripts.pop(user, None) is not None:
                removed += 1
            if self._risky.pop(user, None) is not None:
                removed += 1
            for sender, (exp, entries) in list(self._scripts.items()):
                kept = tuple(e for e in entries if e[0] != user)
                if len(kept) != len(entries):
                    removed += len(entries) - len(kept)
                    self._scripts[sender] = (exp, kept)
            for sender, (exp, convs) in list(self._risky.items()):
                kept_c = tuple(c for c in convs if c not in gone)
                if len(kept_c) != len(convs):
                    removed += len(convs) - len(kept_c)
                    self._risky[sender] = (exp, kept_c)
            for ckey in [k for k in self._claims if k[1] == user]:
                del self._claims[ckey]
                removed += 1
        return removed

    # -- housekeeping ----------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._convs)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "backend": "memory",
                "degraded": False,
                "conversations": len(self._convs),
                "senders": len(self._scripts) + len(self._risky),
                "evicted": self._evicted,
                "expired": self._expired,
                "hot": len(self._hot),
            }

    def clear(self) -> None:
        with self._lock:
            self._convs.clear()
            self._hot.clear()
            self._scripts.clear()
            self._risky.clear()
            self._claims.clear()

    def close(self) -> None:
        """Nothing to release; present for the :class:`StateStore` protocol."""
