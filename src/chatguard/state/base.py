"""What the guard remembers, and the contract a state store fulfils.

The guard keeps state only for conversations in which something risky was said: a clean
message touches no store at all, which is what keeps memory flat over millions of
conversations. What is kept is deliberately small and contains no chat text by default:

* :class:`PartyState` per member of a conversation: decayed evidence per category (sparse),
  the decayed strength of victim cues, the ordered chain of scam stages, counters;
* :class:`ConversationRecord`: the parties, warning bookkeeping, the rule ids behind the
  stages, and the last few risky messages as (message id, sender, level, rule ids) so an
  event can cite its evidence and a re-delivered message is recognised. Masked snippets are
  stored only when the guard runs with ``keep_text=True``.

Records are immutable values; the guard computes a new record from the old one and asks the
store to replace it *only if nobody else changed it meanwhile* (``save`` is a
compare-and-set on a version number). That single rule makes the in-process store and the
Redis store behave the same under concurrency: several threads or worker processes feeding
the same conversation never lose an update, they retry.

Records travel between processes as compact JSON arrays (:func:`encode_record` /
:func:`decode_record`) with a leading format version, so a store written by an older release
is read or rejected clearly. Inside one process the same nested tuples are kept as
``marshal`` bytes (:class:`~chatguard.state.memory.MemoryStore`): flat, and several times
faster to write and read than JSON.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, runtime_checkable

from ..errors import ChatguardError

__all__ = [
    "RECORD_FORMAT",
    "ConversationRecord",
    "PartyState",
    "ScriptEntry",
    "StateStore",
    "StoreUnavailableError",
    "decode_record",
    "encode_record",
    "record_from_data",
    "record_to_data",
]

#: Version of the record wire format (first element of every encoded record).
RECORD_FORMAT = 1


class StoreUnavailableError(ChatguardError, ConnectionError):
    """A state store cannot be reached (raised by :meth:`StateStore.forget` only: feeding
    never raises because of the store, it falls back to local state)."""


@dataclass(frozen=True, slots=True)
class PartyState:
    """One member of a conversation, as the guard sees them.

    ``cats`` holds ``(category index, evidence)`` pairs (sparse, sorted) decayed to time
    ``at``; ``chain`` the length of the longest in-order run of distinct non-trust stages
    ending at each stage (diversion, hook, money request, blocker); ``trust_first`` whether
    trust-building came before the first of them. ``recipient`` is whom the member last
    addressed: the potential victim if the member turns out to be the suspect.
    """

    user: str
    recipient: str
    at: float
    cats: tuple[tuple[int, float], ...] = ()
    victim: float = 0.0
    chain: tuple[int, int, int, int] = (0, 0, 0, 0)
    trust_first: bool = False
    stage_at: float = 0.0
    messages: int = 0
    peak: int = 0
    echo: int = 0  # bit per category index: raised only after another member raised it
    ask_peak: int = 0  # highest level of a message of theirs that asks for money

    @property
    def stages(self) -> int:
        """Distinct non-trust stages in order (the longest chain)."""
        return max(self.chain)


#: A risky message remembered as evidence: (message id, sender, level, rule ids, snippets).
Recent = tuple[str, str, int, tuple[str, ...], tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class ConversationRecord:
    """Everything the guard keeps about one conversation (keys are store ids: hashed user
    ids when the guard has a hash key)."""

    conversation: str
    updated: float
    parties: tuple[PartyState, ...] = ()
    warnings: int = 0
    warned_at: float = 0.0
    flagged: tuple[str, ...] = ()
    rules: tuple[tuple[int, str, str], ...] = ()  # (stage index or -1, rule id, user)
    recent: tuple[Recent, ...] = ()

    @property
    def users(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for p in self.parties:
            seen.setdefault(p.user, None)
            if p.recipient:
                seen.setdefault(p.recipient, None)
        return tuple(seen)

    def party(self, user: str) -> PartyState | None:
        for p in self.parties:
            if p.user == user:
                return p
        return None


class ScriptEntry(NamedTuple):
    """A risky message's near-duplicate fingerprint, remembered per sender.

    A named tuple, not a dataclass: a store hands back up to ``policy.script_max_entries``
    of them for every risky message, and a tuple costs a quarter as much to build.
    """

    recipient: str
    fingerprint: int
    at: float


def record_to_data(rec: ConversationRecord) -> tuple[Any, ...]:
    """The record as nested tuples of str / int / float (format version first)."""
    return (
        RECORD_FORMAT, rec.conversation, rec.updated, rec.warnings, rec.warned_at,
        rec.flagged, rec.rules, rec.recent,
        tuple(
            (p.user, p.recipient, p.at, tuple(x for pair in p.cats for x in pair), p.victim,
             p.chain, int(p.trust_first), p.stage_at, p.messages, p.peak, p.echo, p.ask_peak)
            for p in rec.parties
        ),
    )


def record_from_data(data: Any) -> ConversationRecord:
    """Inverse of :func:`record_to_data` (lists are accepted for tuples, as JSON gives
    them); a ``ValueError`` for anything else."""
    try:
        if not isinstance(data, list | tuple) or not data or data[0] != RECORD_FORMAT:
            head = data[0] if isinstance(data, list | tuple) and data else None
            raise ValueError(f"unknown record format {head!r}")
        _, conv, updated, warnings, warned_at, flagged, rules, recent, parties = data
        return ConversationRecord(
            conversation=str(conv),
            updated=float(updated),
            warnings=int(warnings),
            warned_at=float(warned_at),
            flagged=tuple(str(x) for x in flagged),
            rules=tuple((int(s), str(r), str(u)) for s, r, u in rules),
            recent=tuple(
                (str(m), str(s), int(lv), tuple(map(str, ids)), tuple(map(str, sn)))
                for m, s, lv, ids, sn in recent
            ),
            parties=tuple(_decode_party(p) for p in parties),
        )
    except (TypeError, KeyError, IndexError, ValueError) as exc:
        raise ValueError(f"malformed conversation record: {exc}") from None


def encode_record(rec: ConversationRecord) -> bytes:
    """Compact, deterministic JSON for a record: the form shared between processes (Redis
    Lua scripts read it with cjson)."""
    return json.dumps(record_to_data(rec), ensure_ascii=False,
                      separators=(",", ":")).encode("utf-8")


def decode_record(blob: bytes | str) -> ConversationRecord:
    """Inverse of :func:`encode_record`; a ``ValueError`` for anything else."""
    try:
        data = json.loads(blob)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"malformed conversation record: {exc}") from None
    return record_from_data(data)


def _decode_party(p: Sequence[Any]) -> PartyState:
    user, recipient, at, cats, victim, chain, trust, stage_at, messages, peak, echo, ask = p
    flat = [float(x) for x in cats]
    c0, c1, c2, c3 = (int(x) for x in chain)
    return PartyState(
        user=str(user),
        recipient=str(recipient),
        at=float(at),
        cats=tuple((int(flat[i]), flat[i + 1]) for i in range(0, len(flat), 2)),
        victim=float(victim),
        chain=(c0, c1, c2, c3),
        trust_first=bool(trust),
        stage_at=float(stage_at),
        messages=int(messages),
        peak=int(peak),
        echo=int(echo),
        ask_peak=int(ask),
    )


@runtime_checkable
class StateStore(Protocol):
    """Where the guard keeps conversation and sender state.

    Contract (both bundled stores pin it with the same tests):

    * ``load`` returns ``(record, version)``; version 0 means "no record";
    * ``save(record, version)`` stores ``record`` only if the stored version is still
      ``version`` and returns whether it did (compare-and-set), refreshing the TTL;
    * ``add_script`` remembers a sender's fingerprint for a recipient and returns the
      sender's entries younger than ``window`` (the new one included);
    * ``add_risky_conversation`` returns in how many distinct conversations the sender has
      said something risky (bounded memory, TTL);
    * ``claim`` is a once-per-bucket token (SMS per victim per day): true the first time;
    * ``forget`` erases every record, entry and token that mentions the user, and returns
      how many keys / entries it removed;
    * nothing here raises because a backend is unreachable, except ``forget`` (a
      :class:`StoreUnavailableError`: an erasure must not silently fail); stores fall back
      to local state and report it in ``stats()``.
    """

    def load(self, conversation: str) -> tuple[ConversationRecord | None, int]: ...

    def load_many(
        self, conversations: Sequence[str]
    ) -> list[tuple[ConversationRecord | None, int]]: ...

    def save(self, record: ConversationRecord, version: int) -> bool: ...

    def add_script(
        self, sender: str, recipient: str, fingerprint: int, now: float, *,
        window: float, max_entries: int,
    ) -> list[ScriptEntry]: ...

    def add_risky_conversation(self, sender: str, conversation: str, now: float) -> int: ...

    def claim(self, kind: str, user: str, bucket: str, ttl_seconds: float) -> bool: ...

    def forget(self, user: str) -> int: ...

    def stats(self) -> dict[str, Any]: ...

    def close(self) -> None: ...
