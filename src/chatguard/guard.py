"""The conversation guard: what a platform backend calls for every chat message.

A scam is a conversation, not a message. The guard keeps a little state per conversation and
per sender and turns the detector's per-message verdicts into three kinds of
:class:`~chatguard.events.Event`: an in-chat ``warning`` for the potential victim, a
``blacklist_suggestion`` for the suspect and an ``sms_alert`` for the potential victim.

How a message moves through it (``feed``)::

    ChatMessage ── Detector.check ──► verdict
        │  + split words: the sender's previous tail (≤ 8 normalized chars, in process memory
        │    only) joined to this message's head; only findings straddling the junction count
        │    (the two characters either side of the cut settle most junctions: no rule word
        │    contains that pair → no automaton pass); also a near rule whose word groups
        │    sit on both sides of the cut, when both messages reached analysis
        ▼
    facts (suspicion per category, victim cues, stages)   nothing risky? → done, no state I/O
        ▼  under the conversation's lock: load record → step → compare-and-set save (on a
        │  lost race: random backoff, reload, step again)
    assessment: suspect, potential victim, stage-aware decayed risk, corroboration
        ▼  policy
    events ──► sinks (Dispatcher: isolated, never raises into feed)

The mechanics, and why each exists:

* **Decayed evidence per category.** Each member's evidence is the per-category maximum of
  their messages, decayed with ``policy.half_life_seconds``, and combined exactly like the
  detector combines categories inside one message (noisy-OR plus the rule pack's combo
  bonuses). The maximum, not a sum, so twenty harmless mentions of an amount never add up
  to a scam, while diversion in one message and an investment hook in the next do (combo).
* **Stages in order.** Rules carry a stage (trust, diversion, hook, money request,
  blocker). The longest in-order chain of distinct stages per member adds
  ``policy.stage_bonus``: a script that walks through its stages raises the level even when
  every message alone is mild.
* **Roles.** The member whose messages carry the suspicion is the suspect; whom they address
  is the potential victim. Victim cues (离异, 存款, 网贷 …) strengthen the protection of the
  member who reveals them (warnings come earlier for them) and never count as suspicion. A
  withdrawal blocker from a member who pushed nothing reads as a victim's report ("it says I
  must pay a deposit to withdraw"): protection for them, a blocker stage for the other
  side's script. A category a member raises only after the other side raised it, and no
  more strongly, is an *echo* ("U商是什么?"): it never makes them the suspect. Risk both
  members raise on their own is a discussion, not a push: ``policy.echo_discount`` of the
  other member's own risk is subtracted from the suspect's.
* **Corroboration.** Events need the level *and* corroboration: several messages with
  evidence from the suspect (an amount they name counts), or stages in order, or one
  message strong enough alone (see :class:`~chatguard.policy.Trigger`); a single unlucky
  match in an ordinary chat does not reach a member.
* **Scripts across recipients.** Risky messages are fingerprinted (64-bit SimHash of
  character trigrams of the normalized text); one sender sending near-duplicates to
  ``policy.script_min_recipients`` recipients raises a blacklist suggestion on its own.

Privacy: stores keep counters, fingerprints, rule ids and message ids, never chat text
(``keep_text=True`` adds masked snippets to the evidence kept in state). The split-word tail
lives only in this process's memory for ``policy.split_window_seconds``. With ``hash_key``
every user and conversation id is replaced by a keyed hash before it reaches a store.
``forget(user_id)`` erases the user from the store and from process memory.

Thread safety: a striped lock serialises the messages of one conversation inside a process;
the store's compare-and-set serialises them across processes. ``reload`` swaps one reference
to an immutable engine, so feeding goes on during a rule reload.
"""

from __future__ import annotations

import hashlib
import logging
import math
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

from .detector import Detector
from .events import Event, EventKind, Evidence, make_event_id
from .messages import ChatMessage
from .models import LEVEL_BY_NAME, LEVEL_NAMES, Finding, Level, LevelName, Verdict
from .normalize import NOISE_RE, NUMERAL_RUN_RE
from .policy import Policy, Trigger
from .privacy import IdHasher, mask_spans, mask_text
from .rules.schema import CATEGORIES, STAGES
from .sinks import Dispatcher
from .state.base import ConversationRecord, PartyState, StateStore
from .state.memory import MemoryStore

__all__ = ["ConversationView", "Fed", "Guard"]

_log = logging.getLogger("chatguard")

#: Stage order of a scam script; index 0 (trust) is context, 1..4 form the chain.
_STAGE_INDEX: dict[str, int] = {s: i for i, s in enumerate(STAGES)}
_TRUST = _STAGE_INDEX["trust"]
_BLOCKER = _STAGE_INDEX["blocker"]
_MONEY_REQUEST = _STAGE_INDEX["money_request"]
#: Stage of a rule that declares none, by its category (amounts and victim cues have none).
_CATEGORY_STAGE: dict[str, str] = {
    "diversion": "diversion", "contact_id": "diversion",
    "investment": "hook", "gambling": "hook", "crypto": "hook", "task_scam": "hook",
    "fake_service": "hook", "venue_lure": "hook", "credit_loan": "hook", "sextortion": "hook",
    "money_transfer": "money_request", "loan_request": "money_request",
    "red_packet": "money_request", "money_mule": "money_request",
    "payment_id": "money_request",
    "withdrawal_fee": "blocker",
    "affection": "trust",
}
#: Categories whose blocker-stage findings are threats made by the suspect (sextortion's
#: "I recorded your video"): unlike a withdrawal blocked by fees, never a victim's report.
_THREAT_CATEGORIES = frozenset({"sextortion"})
_CAT_INDEX: dict[str, int] = {c: i for i, c in enumerate(CATEGORIES)}
_VICTIM_CAT = _CAT_INDEX["victim_cue"]
_MAX_W = 0.999  # as in scoring.Scorer: one finding never makes a category certain
_N_LOCKS = 64
_MAX_CAS_ATTEMPTS = 16
#: After a lost compare-and-set, wait a random time below this (doubled per loss, capped):
#: two workers writing one conversation at full speed otherwise collide in lockstep.
_CAS_BACKOFF = 0.0005
_CAS_BACKOFF_CAP = 0.05
_MAX_PARTIES = 4
_MAX_SNIPPETS = 3
_VICTIM_ON = 0.01  # decayed victim-cue strength below which protection lapses
_EPS = 1e-4


# ---------------------------------------------------------------------------------------
# engine: everything derived from one detector, swapped as a whole on reload
# ---------------------------------------------------------------------------------------
class _Engine:
    """A detector plus what the guard precomputes from its rule set. Immutable."""

    __slots__ = ("_bonus", "combos", "detector", "fingerprint", "junction_pairs",
                 "near_spans_junction", "none", "rule_stage", "spans_junction", "thresholds")

    def __init__(self, detector: Detector) -> None:
        self.detector = detector
        self.fingerprint = detector.fingerprint
        stages: dict[str, int] = {}
        for rule in detector.ruleset.rules:
            spec = rule.spec
            name = spec.stage or _CATEGORY_STAGE.get(spec.category)
            stages[spec.id] = -1 if name is None else _STAGE_INDEX[name]
        self.rule_stage: Mapping[str, int] = MappingProxyType(stages)
        scoring = detector.ruleset.scoring
        self.thresholds = (scoring.low, scoring.medium, scoring.high, scoring.critical)
        self.combos: tuple[tuple[int, float], ...] = tuple(
            (sum(1 << _CAT_INDEX[c] for c in set(combo.categories)), combo.bonus)
            for combo in scoring.combos
        )
        # combo bonus per set of categories present (a bit mask): a conversation meets few
        # distinct sets, and summing the pack's combos on every call cost more than the rest
        self._bonus: dict[int, float] = {}
        # a junction of two messages is analysed only when some keyword, variant or
        # context word spans the cut
        self.spans_junction: Callable[[str, int], bool] = detector.spans_junction
        # a word split over the cut contains the two characters on either side of it: a
        # set lookup settles most junctions before the automaton pass (None: no pair test,
        # every junction takes the automaton pass)
        self.junction_pairs: frozenset[str] | None = detector.junction_pairs
        self.near_spans_junction: Callable[[str, int], bool] = detector.near_spans_junction
        # the verdict of a message that never reached analysis (see Detector.__init__)
        self.none: Verdict = detector._none

    def combine(self, cats: Mapping[int, float]) -> float:
        """Per-category evidence -> score, exactly as :class:`~chatguard.scoring.Scorer`
        combines categories (noisy-OR, combo bonuses, clipped, rounded), without numpy's
        per-call overhead on a handful of numbers."""
        miss = 1.0
        present = 0
        for i, v in cats.items():
            if v > 0.0:
                miss *= 1.0 - min(v, _MAX_W)
                present |= 1 << i
        bonus = self._bonus.get(present)
        if bonus is None:
            # the bonuses summed first, then added, as the scorer's matrix product does
            bonus = 0.0
            for mask, b in self.combos:
                if present & mask == mask:
                    bonus += b
            if len(self._bonus) < 4096:
                self._bonus[present] = bonus
        total = 1.0 - miss + bonus
        return round(min(max(total, 0.0), 1.0), 6)

    def level(self, score: float) -> int:
        n = 0
        for t in self.thresholds:
            if score >= t:
                n += 1
        return n


def _category_scores(findings: Iterable[Finding]) -> dict[int, float]:
    """Noisy-OR of finding weights per category (as the scorer does inside a message)."""
    miss: dict[int, float] = {}
    for f in findings:
        if f.weight > 0.0:
            i = _CAT_INDEX[f.category]
            miss[i] = miss.get(i, 1.0) * (1.0 - min(f.weight, _MAX_W))
    return {i: round(1.0 - m, 6) for i, m in miss.items()}


# ---------------------------------------------------------------------------------------
# per-message facts and per-conversation assessment
# ---------------------------------------------------------------------------------------
@dataclass(slots=True)
class _Facts:
    """What one message contributes, before it meets the conversation's state."""

    level: int
    cats: dict[int, float]  # category index -> evidence in this message (incl. victim cues)
    blocker_cats: dict[int, float]  # the part of ``cats`` that came from blocker-stage rules
    stages: set[int]  # stages this message shows (findings strong enough)
    stage_cats: dict[int, set[int]]  # stage -> categories of the findings that show it
    rules: list[tuple[int, str]]  # (stage, rule id), first occurrence order
    findings: list[Finding]  # on the raw message
    junction: list[tuple[str, Finding]]  # (junction text, finding straddling it)


@dataclass(slots=True)  # not frozen: a frozen dataclass pays a setattr call per field
class _Msg:
    """One message as the pipeline sees it: the engine it runs on and its store ids."""

    engine: _Engine
    m: ChatMessage
    conv: str  # store ids (keyed hashes when the guard has a hash key)
    sender: str
    recipient: str
    now: float  # message time, epoch seconds


@dataclass(slots=True)
class _Assessment:
    suspect: PartyState | None
    target: str  # store id of the potential victim ("" when unknown)
    risk: float  # the suspect's risk after the echo discount
    protected: float  # risk + victim protection (warning and SMS use this)
    level: int


@dataclass(slots=True)
class _Decision:
    assessment: _Assessment
    warn_step: int = 0
    blacklist: bool = False
    sms: bool = False
    risky_sender: bool = False  # the sender is the suspect at medium or above


@dataclass(frozen=True, slots=True)
class ConversationView:
    """The guard's current reading of one conversation.

    ``suspect_id`` / ``target_id`` are the ids as stored (keyed hashes when the guard has a
    hash key). ``stages`` lists the scam stages seen, in script order, and ``stage_rules``
    the rule ids behind each. ``risk`` is as of the conversation's last risky message.
    """

    conversation_id: str
    risk: float
    level: LevelName
    suspect_id: str | None
    target_id: str | None
    stages: tuple[str, ...]
    stage_rules: Mapping[str, tuple[str, ...]]
    rule_ids: tuple[str, ...]
    risky_messages: int
    warnings: int
    updated_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "conversation_id": self.conversation_id,
            "risk": round(self.risk, 4),
            "level": self.level,
            "suspect_id": self.suspect_id,
            "target_id": self.target_id,
            "stages": list(self.stages),
            "stage_rules": {k: list(v) for k, v in self.stage_rules.items()},
            "rule_ids": list(self.rule_ids),
            "risky_messages": self.risky_messages,
            "warnings": self.warnings,
            "updated_at": self.updated_at.isoformat() if self.updated_at else None,
        }


@dataclass(frozen=True, slots=True)
class Fed:
    """What feeding one message did, for callers that record every message (batch scans).

    ``verdict`` is the detector's verdict on the message alone; ``events`` the events it
    raised (already dispatched to the sinks); ``conversation_score`` / ``conversation_level``
    the conversation's risk right after it, as :meth:`Guard.conversation` reads it (the
    suspect's decayed, stage-aware risk as of the conversation's last risky message).
    """

    message: ChatMessage
    verdict: Verdict
    events: tuple[Event, ...]
    conversation_score: float
    conversation_level: LevelName


# ---------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------
class _TailCache:
    """Last few normalized characters per (conversation, sender), in process memory only.

    Bounded (oldest entries go first) and short-lived (``policy.split_window_seconds``): the
    tail exists to join a word split over two consecutive messages, nothing else. A plain
    dict kept in insertion order (an entry is re-inserted on every swap) is the LRU: every
    message pays one swap, and ``dict`` is about twice as fast as ``OrderedDict`` at it.
    """

    def __init__(self, max_entries: int = 200_000) -> None:
        self._max = max_entries
        # (conversation, sender) -> (tail, message time, did the message reach analysis)
        self._d: dict[tuple[str, str], tuple[str, float, bool]] = {}
        self._lock = threading.Lock()

    def swap(self, key: tuple[str, str], tail: str, now: float,
             analysed: bool) -> tuple[str, float, bool] | None:
        d = self._d
        with self._lock:
            old = d.pop(key, None)
            if tail:
                d[key] = (tail, now, analysed)
                if len(d) > self._max:
                    del d[next(iter(d))]
            return old

    def forget(self, user: str, conversations: Iterable[str] = ()) -> int:
        convs = set(conversations)
        with self._lock:
            doomed = [k for k in self._d if k[1] == user or k[0] in convs]
            for k in doomed:
                del self._d[k]
        return len(doomed)

    def conversations_of(self, user: str) -> set[str]:
        with self._lock:
            return {k[0] for k in self._d if k[1] == user}


def _simhash(text: str) -> int:
    """64-bit SimHash of the character trigrams of ``text``.

    Stable across processes and releases (blake2b, not ``hash()``), so workers sharing a
    Redis store agree on fingerprints. Near-duplicates differ in a few bits.

    Bit ``i`` is set when more than half of the distinct trigrams' hashes have it. The
    per-bit counts are kept bit-sliced (``planes[k]`` holds bit ``k`` of all 64 counts), so
    adding a hash is a ripple-carry over a few integers and the majority test a comparison
    over the planes: plain integer work, cheaper than numpy's per-call overhead on the
    tens of trigrams of a chat message.
    """
    grams = {text[i : i + 3] for i in range(max(1, len(text) - 2))}
    planes: list[int] = []
    from_bytes = int.from_bytes
    blake2b = hashlib.blake2b
    for g in grams:
        carry = from_bytes(blake2b(g.encode("utf-8"), digest_size=8).digest(), "little")
        k = 0
        while carry:
            if k == len(planes):
                planes.append(carry)
                break
            p = planes[k]
            planes[k] = p ^ carry
            carry &= p
            k += 1
    # count > n / 2  <=>  count > n // 2: compare the bit-sliced counts with t, top bit first
    t = len(grams) // 2
    greater, equal = 0, (1 << 64) - 1
    for k in range(max(len(planes), t.bit_length()) - 1, -1, -1):
        c = planes[k] if k < len(planes) else 0
        if t >> k & 1:
            equal &= c
        else:
            greater |= equal & c
            equal &= ~c
    return greater


class _Fingerprints:
    """:func:`_simhash` of recent script candidates, keyed by a digest of the text.

    A script is one text sent to many recipients: the same SimHash (a blake2b hash per
    character trigram, the costliest step of a risky message) over and over. The cache
    holds 16-byte digests and fingerprints, never text, and is bounded (oldest first out).
    """

    def __init__(self, max_entries: int = 4096) -> None:
        self._max = max_entries
        self._d: dict[bytes, int] = {}
        self._lock = threading.Lock()

    def get(self, text: str) -> int:
        key = hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()
        fp = self._d.get(key)
        if fp is None:
            fp = _simhash(text)
            with self._lock:
                self._d[key] = fp
                if len(self._d) > self._max:
                    del self._d[next(iter(self._d))]
        return fp

    def clear(self) -> None:
        with self._lock:
            self._d.clear()


def _ends(det: Detector, text: str, n: int, compact: str | None = None) -> tuple[str, str]:
    """The first and last ``n`` normalized characters of ``text``, folding only those.

    ``compact``: ``text`` without its noise, as the detector's plain path computed it
    (``Detector._check_compact``). That path takes only messages with nothing to fold, so
    the ends are slices of it unless a run of Chinese numerals turns into digits.
    """
    if compact is not None and NUMERAL_RUN_RE.search(compact) is None:
        return compact[:n], compact[-n:]
    raw = NOISE_RE.sub("", text) if compact is None else compact
    if len(raw) > 2 * n:
        raw = raw[:n] + raw[-n:]
    normalizer = det.normalizer
    if not normalizer.changes(raw):
        return raw[:n], raw[-n:]  # what fold would leave as it is (most chat): no map
    folded = normalizer.fold(raw)
    if folded.to_raw is None or len(raw) <= n:
        # folding may turn a character into noise (a full-width space): strip again then
        both = raw if folded.text is raw else NOISE_RE.sub("", folded.text)
        return both[:n], both[-n:]
    cut = next((i for i, r in enumerate(folded.to_raw) if r >= n), len(folded.text))
    head = NOISE_RE.sub("", folded.text[:cut])
    tail = NOISE_RE.sub("", folded.text[cut:])
    return head[:n], (head + tail)[-n:] if len(tail) < n else tail[-n:]


def _level_at_least(level: int, name: LevelName | None) -> bool:
    return name is not None and level >= LEVEL_BY_NAME[name]


# ---------------------------------------------------------------------------------------
# the guard
# ---------------------------------------------------------------------------------------
class Guard:
    """Stateful scanning of chat streams; see the module docstring for the mechanics.

    ``sinks``: where events go (objects with ``emit`` or plain callables), behind a
    :class:`~chatguard.sinks.Dispatcher` that isolates failures and writes undeliverable
    events to ``dead_letter`` (a JSONL path). ``store``: a
    :class:`~chatguard.state.StateStore` (default: a private :class:`MemoryStore`).
    ``policy``: a :class:`~chatguard.policy.Policy` or a mapping. ``hash_key``: replace
    user and conversation ids by keyed hashes in state. ``keep_text``: also keep masked
    evidence snippets in state (never whole messages).
    """

    def __init__(
        self,
        detector: Detector,
        *,
        sinks: Iterable[Any] = (),
        store: StateStore | None = None,
        policy: Policy | Mapping[str, Any] | None = None,
        dead_letter: str | Path | None = None,
        hash_key: bytes | str | None = None,
        keep_text: bool = False,
    ) -> None:
        self._engine = _Engine(detector)
        self.policy: Policy = Policy() if policy is None else Policy.parse(policy)
        self._store: StateStore = store if store is not None else MemoryStore()
        self._owns_store = store is None
        self._dispatcher = Dispatcher(list(sinks), dead_letter=dead_letter)
        self._hasher: Callable[[str], str] | None = (
            IdHasher(hash_key) if hash_key is not None else None
        )
        self.keep_text = keep_text
        self._locks = tuple(threading.Lock() for _ in range(_N_LOCKS))
        self._tails = _TailCache()
        self._fingerprints = _Fingerprints()
        self._decay_ln = math.log(2.0) / self.policy.half_life_seconds
        self._stats_lock = threading.Lock()
        self._counts: dict[str, int] = {
            "messages": 0, "risky_messages": 0, "split_words": 0, "duplicates": 0,
            "cas_retries": 0, "store_errors": 0, "reloads": 0,
        }
        self._events_by_kind: dict[str, int] = {
            "warning": 0, "blacklist_suggestion": 0, "sms_alert": 0,
        }
        self._closed = False

    # -- public API --------------------------------------------------------------------------
    @property
    def detector(self) -> Detector:
        return self._engine.detector

    @property
    def store(self) -> StateStore:
        return self._store

    def feed(self, msg: ChatMessage | Mapping[str, Any]) -> list[Event]:
        """Scan one message in the light of its conversation; return (and dispatch) events.

        Invalid input raises :class:`~chatguard.errors.InputError`; nothing else raises:
        sink failures stay in the dispatcher and store failures fall back to local state.
        """
        # (pydantic's isinstance is a metaclass hook: the exact type is tested first)
        m = msg if type(msg) is ChatMessage else ChatMessage.parse(msg)
        engine = self._engine  # one read: a concurrent reload does not split a message
        text = m.text
        verdict, compact = engine.detector._check_compact(text)
        if self._hasher is None:
            conv, sender = m.conversation_id, m.sender_id
        else:
            conv, sender = self._cid(m.conversation_id), self._sid(m.sender_id)
        now = m.timestamp
        # Facts need no conversation lock (the sender's tail has its own), and most
        # messages end there: a clean message never takes the lock or touches the store.
        facts = self._facts(engine, text, conv, sender, now, verdict, compact)
        events = [] if facts is None else self._act(engine, m, conv, sender, now, facts,
                                                    None)[0]
        with self._stats_lock:
            self._counts["messages"] += 1
        if events:
            self._dispatch(events)
        return events

    def feed_many(self, msgs: Iterable[ChatMessage | Mapping[str, Any]]) -> list[Event]:
        """Scan many messages in order; same events as feeding them one by one.

        Every message is validated first (an :class:`~chatguard.errors.InputError` names
        the 1-based position), the detector runs once for the batch (``check_many``), and
        the state of the conversations with risky messages is loaded in one round trip.
        """
        _, _, _, fired = self._feed_messages(msgs, "feed_many", detailed=False)
        return [e for _, evs in fired for e in evs]

    def feed_many_detailed(self, msgs: Iterable[ChatMessage | Mapping[str, Any]]) -> list[Fed]:
        """:meth:`feed_many` for callers that record every message: one :class:`Fed` per
        message, in order, with its verdict, its events and the conversation's risk right
        after it. Same events, same state, the detector still runs once for the batch.

        A batch scan needs the per-message verdict the guard computed anyway; running the
        detector a second time for it would double the cost of the scan.
        """
        parsed, verdicts, readings, fired = self._feed_messages(
            msgs, "feed_many_detailed", detailed=True)
        events: dict[int, tuple[Event, ...]] = {i: tuple(evs) for i, evs in fired}
        return [Fed(m, v, events.get(i, ()), risk, LEVEL_NAMES[level])
                for i, (m, v, (risk, level)) in enumerate(zip(parsed, verdicts, readings,
                                                              strict=True))]

    def _feed_messages(
        self, msgs: Iterable[ChatMessage | Mapping[str, Any]], source: str, *, detailed: bool,
    ) -> tuple[list[ChatMessage], list[Verdict], list[tuple[float, int]],
               list[tuple[int, list[Event]]]]:
        """Validate ``msgs`` (an error names the 1-based position) and feed them as
        columns; the parsed messages come back with what :meth:`_feed_columns` returns."""
        parsed = [x if type(x) is ChatMessage else ChatMessage.parse(x, line=i + 1, source=source)
                  for i, x in enumerate(msgs)]
        verdicts, readings, fired = self._feed_columns(
            [m.text for m in parsed], [m.conversation_id for m in parsed],
            [m.sender_id for m in parsed], [m.timestamp for m in parsed], parsed.__getitem__,
            detailed=detailed)
        return parsed, verdicts, readings, fired

    def _feed_columns(
        self, texts: list[str], conversations: Sequence[str], senders: Sequence[str],
        times: Sequence[float], message: Callable[[int], ChatMessage], *, detailed: bool,
    ) -> tuple[list[Verdict], list[tuple[float, int]], list[tuple[int, list[Event]]]]:
        """The batch path of :meth:`feed_many`, :meth:`feed_many_detailed` and batch scans.

        A batch comes as columns (texts, raw conversation and sender ids, message times as
        :attr:`ChatMessage.timestamp` gives them) and ``message(i)`` builds the i-th
        :class:`ChatMessage` on demand: only messages with something risky reach the
        conversation state and events, so a batch scan never builds the others (building
        them was a large share of a clean message's cost).

        Returns the verdicts; with ``detailed``, per message the conversation's
        ``(risk, level)`` right after it (else an empty list); and ``(index, events)`` for
        each message that raised events, in order (the events are already dispatched).
        """
        n = len(texts)
        if not n:
            return [], [], []
        engine = self._engine
        compacts: list[str | None] = [None] * n
        verdicts = engine.detector._check_many_compact(texts, compacts)
        if self._hasher is None:
            keys, subjects = conversations, senders
        else:
            keys = [self._cid(c) for c in conversations]
            subjects = [self._sid(u) for u in senders]
        convs = list(dict.fromkeys(keys[i] for i, v in enumerate(verdicts) if v.findings))
        cache: dict[str, tuple[ConversationRecord | None, int]] = {}
        if convs:
            try:
                cache = dict(zip(convs, self._store.load_many(convs), strict=True))
            except Exception as exc:  # a custom store failing must not break the chat path
                self._store_error("load_many", exc)
        readings: list[tuple[float, int]] = []
        fired: list[tuple[int, list[Event]]] = []
        events: list[Event] = []
        known: dict[str, tuple[float, int]] = {}  # conversation key -> (risk, level)
        facts_of = self._facts
        for i, v in enumerate(verdicts):
            key = keys[i]
            # Facts need no conversation lock (the sender's tail has its own), and most
            # messages end there: a clean message never takes the lock or touches the store.
            facts = facts_of(engine, texts[i], key, subjects[i], times[i], v, compacts[i])
            a: _Assessment | None = None
            if facts is not None:
                evs, a = self._act(engine, message(i), key, subjects[i], times[i], facts,
                                   cache)
                if evs:
                    fired.append((i, evs))
                    events.extend(evs)
            if detailed:
                if a is not None:
                    reading = known[key] = (a.risk, a.level)
                else:  # the message left the conversation as it was
                    seen = known.get(key)
                    reading = known[key] = self._risk_of(key) if seen is None else seen
                readings.append(reading)
        self._count(messages=n)
        if events:
            self._dispatch(events)
        return verdicts, readings, fired

    def _risk_of(self, key: str) -> tuple[float, int]:
        """(risk, level) of a stored conversation as :meth:`conversation` reads it."""
        try:
            rec, _ = self._store.load(key)
        except Exception as exc:
            self._store_error("load", exc)
            return 0.0, 0
        if rec is None:
            return 0.0, 0
        a = self._assess(self._engine, rec.parties, rec.updated)
        return a.risk, a.level

    def conversation(self, conversation_id: str) -> ConversationView:
        """Current risk, level, suspect, stages seen and the rules behind them."""
        key = self._cid(conversation_id)
        try:
            rec, _ = self._store.load(key)
        except Exception as exc:
            self._store_error("load", exc)
            rec = None
        if rec is None:
            return ConversationView(conversation_id, 0.0, "none", None, None, (),
                                    MappingProxyType({}), (), 0, 0, None)
        engine = self._engine
        a = self._assess(engine, rec.parties, rec.updated)
        by_stage: dict[str, list[str]] = {}
        for stage, rule_id, _user in rec.rules:
            if stage >= 0:
                names = by_stage.setdefault(STAGES[stage], [])
                if rule_id not in names:
                    names.append(rule_id)
        stages = tuple(s for s in STAGES if s in by_stage)
        return ConversationView(
            conversation_id=conversation_id,
            risk=a.risk,
            level=LEVEL_NAMES[a.level],
            suspect_id=a.suspect.user if a.suspect is not None else None,
            target_id=a.target or None,
            stages=stages,
            stage_rules=MappingProxyType({s: tuple(by_stage[s]) for s in stages}),
            rule_ids=tuple(dict.fromkeys(r for _, r, _ in rec.rules)),
            risky_messages=sum(p.messages for p in rec.parties),
            warnings=rec.warnings,
            updated_at=datetime.fromtimestamp(rec.updated, tz=UTC),
        )

    def forget(self, user_id: str) -> int:
        """Erase every trace of ``user_id`` (account closed): conversation records they
        took part in, their script fingerprints and counters, tokens, entries naming them
        in other senders' lists, and split-word tails in this process. Returns the number
        of keys / entries removed. Raises
        :class:`~chatguard.state.StoreUnavailableError` if a shared store is unreachable
        (the erasure must be retried, not silently skipped)."""
        uid = self._sid(user_id)
        convs = self._tails.conversations_of(uid)
        removed = self._tails.forget(uid, convs)
        self._fingerprints.clear()  # digests name no one, but they came from messages
        removed += self._store.forget(uid)
        return removed

    def reload(self, detector: Detector) -> None:
        """Swap in a new detector (new rules) atomically; feeding goes on meanwhile.

        The new engine is built first, then published with one reference assignment: a
        message in flight finishes with the rules it started with.
        """
        engine = _Engine(detector)
        self._engine = engine
        self._count(reloads=1)

    @property
    def stats(self) -> dict[str, Any]:
        """Counters: messages, events by kind, sink delivery, store health."""
        with self._stats_lock:
            out: dict[str, Any] = dict(self._counts)
            out["events"] = dict(self._events_by_kind)
        out["ruleset"] = self._engine.fingerprint
        try:
            out["sinks"] = self._dispatcher.stats
        except Exception:  # pragma: no cover - a dispatcher must not break stats
            out["sinks"] = {}
        try:
            store = dict(self._store.stats())
        except Exception as exc:
            store = {"degraded": True, "last_error": f"{type(exc).__name__}: {exc}"}
        store.setdefault("degraded", False)
        out["store"] = store
        out["degraded"] = bool(store["degraded"])
        return out

    def flush(self) -> None:
        self._dispatcher.flush()

    def close(self) -> None:
        """Flush and close the sinks; close the store if the guard created it."""
        if self._closed:
            return
        self._closed = True
        self._dispatcher.flush()
        self._dispatcher.close()
        if self._owns_store:
            self._store.close()

    def __enter__(self) -> Guard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- ids -------------------------------------------------------------------------------
    def _sid(self, raw: str) -> str:
        return raw if self._hasher is None else self._hasher(raw)

    def _cid(self, conversation_id: str) -> str:
        """Conversation ids are hashed in their own domain (never equal to a user's hash)."""
        if self._hasher is None:
            return conversation_id
        return self._hasher("conversation\x1f" + conversation_id)

    def hash_id(self, user_id: str) -> str:
        """The id under which ``user_id`` appears in state (and in events when
        ``policy.hash_ids_in_events``): lets a platform look up hashed events."""
        return self._sid(user_id)

    # -- the per-message pipeline --------------------------------------------------------------
    def _act(
        self, engine: _Engine, m: ChatMessage, conv: str, sender: str, now: float,
        facts: _Facts, cache: dict[str, tuple[ConversationRecord | None, int]] | None,
    ) -> tuple[list[Event], _Assessment | None]:
        """A message with facts under the conversation's lock: state step, then events."""
        x = _Msg(engine, m, conv, sender, self._sid(m.recipient_id), now)
        with self._locks[hash(conv) % _N_LOCKS]:
            with self._stats_lock:
                counts = self._counts
                counts["risky_messages"] += 1
                if facts.junction:
                    counts["split_words"] += 1
            outcome = self._update(x, facts, cache)
        if outcome is None:
            return [], None
        rec, decision = outcome
        return self._events(x, facts, rec, decision), decision.assessment

    def _facts(self, engine: _Engine, text: str, conv: str, sender: str, now: float,
               verdict: Verdict, compact: str | None = None) -> _Facts | None:
        """What this message adds (joined with the sender's previous tail); ``None`` when
        nothing risky was found, so a clean message never touches the store. ``compact``:
        the text without noise, when the detector computed it."""
        pol = self.policy
        det = engine.detector
        n_tail = pol.split_tail_chars
        junction: list[tuple[str, Finding]] = []
        if n_tail > 0:
            head, tail = _ends(det, text, n_tail, compact)
            analysed = verdict is not engine.none
            prev = self._tails.swap((conv, sender), tail, now, analysed)
            if prev is not None and head and 0 <= now - prev[1] <= pol.split_window_seconds:
                before = prev[0]  # never empty: the tail cache keeps no empty tail
                pairs = engine.junction_pairs
                cut = len(before)
                # a word cut in two, or the word groups of a near rule sent apart. One of
                # the two messages then holds the rule's rarest group, so it was analysed;
                # requiring both (about 2% of junctions instead of a quarter) keeps the
                # automaton pass off clean chat and still finds most such phrases
                if ((pairs is None or before[-1] + head[0] in pairs)
                        and engine.spans_junction(before + head, cut)) or \
                        (analysed and prev[2]
                         and engine.near_spans_junction(before + head, cut)):
                    joined = before + head
                    for f in det.check(joined).findings:
                        if f.start < cut < f.end and not f.suppressed and f.weight > 0.0:
                            junction.append((joined, f))
        if not verdict.findings and not junction:
            return None  # most messages: nothing of their own, no split word
        findings = [f for f in verdict.findings if not f.suppressed and f.weight > 0.0]
        if not findings and not junction:
            return None
        if junction:
            cats = _category_scores([*findings, *(f for _, f in junction)])
            level = engine.level(engine.combine(cats))
        else:
            cats = {_CAT_INDEX[c]: v for c, v in verdict.categories.items() if v > 0.0}
            level = int(verdict.level_value)
        rule_stage = engine.rule_stage
        stage_weight: dict[int, float] = {}
        stage_cats: dict[int, set[int]] = {}
        blocker: list[Finding] = []
        rules: dict[tuple[int, str], None] = {}
        for f in (*findings, *(f for _, f in junction)):
            st = rule_stage.get(f.rule_id, -1)
            rules.setdefault((st, f.rule_id), None)
            if st < 0:
                continue
            stage_weight[st] = max(stage_weight.get(st, 0.0), f.weight)
            if st == _TRUST or f.weight >= pol.stage_min_weight:
                stage_cats.setdefault(st, set()).add(_CAT_INDEX[f.category])
            if st == _BLOCKER:
                blocker.append(f)
        stages = {s for s, w in stage_weight.items()
                  if s == _TRUST or w >= pol.stage_min_weight}
        # "Your video is recorded" is the threat itself, never a victim's report of one:
        # a message with such a blocker cannot read as a report.
        threat = any(f.category in _THREAT_CATEGORIES for f in blocker)
        return _Facts(
            level=level,
            cats=cats,
            blocker_cats={} if threat else _category_scores(blocker),
            stages=stages,
            stage_cats=stage_cats,
            rules=list(rules),
            findings=findings,
            junction=junction,
        )

    def _update(
        self, x: _Msg, facts: _Facts,
        cache: dict[str, tuple[ConversationRecord | None, int]] | None,
    ) -> tuple[ConversationRecord, _Decision] | None:
        """Load, step, compare-and-set; on a lost race, back off a random while, reload and
        step again. Without the backoff two workers feeding one conversation at full speed
        kept colliding, and a message that lost eight races in a row went unsaved."""
        store = self._store
        conv = x.conv
        for attempt in range(_MAX_CAS_ATTEMPTS):
            if cache is not None and conv in cache and attempt == 0:
                rec, version = cache[conv]
            else:
                try:
                    rec, version = store.load(conv)
                except Exception as exc:
                    self._store_error("load", exc)
                    rec, version = None, -1
            step = self._step(x, rec, facts)
            if step is None:
                self._count(duplicates=1)
                return None
            new, decision = step
            if version < 0:
                return new, decision  # the store is broken: decide on this message alone
            try:
                saved = store.save(new, version)
            except Exception as exc:
                self._store_error("save", exc)
                return new, decision
            if saved:
                if cache is not None:
                    cache[conv] = (new, version + 1)
                return new, decision
            self._count(cas_retries=1)
            if cache is not None:
                cache.pop(conv, None)
            if attempt + 1 < _MAX_CAS_ATTEMPTS:
                time.sleep(random.random() * min(_CAS_BACKOFF_CAP, _CAS_BACKOFF * (1 << attempt)))
        _log.warning("chatguard: conversation state kept changing under message %s; "
                     "decided without saving", x.m.message_id)
        return new, decision

    def _decay(self, dt: float) -> float:
        return math.exp(-self._decay_ln * dt) if dt > 0 else 1.0

    def _step(
        self, x: _Msg, rec: ConversationRecord | None, facts: _Facts
    ) -> tuple[ConversationRecord, _Decision] | None:
        """The pure state transition: (record, message facts) -> (new record, decision)."""
        pol = self.policy
        engine, m, conv, sender, recipient, now = (
            x.engine, x.m, x.conv, x.sender, x.recipient, x.now)
        if rec is None:
            rec = ConversationRecord(conversation=conv, updated=now)
        elif any(r[0] == m.message_id for r in rec.recent):
            return None  # a re-delivered message: already counted, already acted on
        parties = list(rec.parties)
        me_i = next((i for i, p in enumerate(parties) if p.user == sender), -1)
        if me_i < 0:
            parties.append(PartyState(user=sender, recipient=recipient, at=now, stage_at=now))
            if len(parties) > _MAX_PARTIES:  # group chats: keep the most suspicious members
                parties.sort(key=lambda p: -self._suspicion(engine, p, now))
                parties = parties[:_MAX_PARTIES]
                if all(p.user != sender for p in parties):
                    parties[-1] = PartyState(user=sender, recipient=recipient, at=now,
                                             stage_at=now)
            me_i = next(i for i, p in enumerate(parties) if p.user == sender)
        me = parties[me_i]

        factor = self._decay(now - me.at)
        cats = {i: v * factor for i, v in me.cats if v * factor >= _EPS}
        victim = me.victim * factor
        chain = list(me.chain)
        trust_first = me.trust_first
        if max(chain) and now - me.stage_at > pol.stage_window_seconds:
            chain = [0, 0, 0, 0]
            trust_first = False

        msg_cats = dict(facts.cats)
        stages = set(facts.stages)
        reported = (
            pol.reported_blocker_is_victim_cue
            and bool(facts.blocker_cats)
            and _BLOCKER in stages
            and max(chain) == 0
            and not (stages - {_TRUST, _BLOCKER})
        )
        if reported:
            # a member who pushed nothing says withdrawals are blocked: their report, not
            # their demand -> protection for them, a blocker stage for the other side
            for ci, v in facts.blocker_cats.items():
                rest = msg_cats.get(ci, 0.0)
                victim = 1.0 - (1.0 - victim) * (1.0 - v)
                if rest <= v + _EPS:
                    msg_cats.pop(ci, None)
            stages.discard(_BLOCKER)
        cue = msg_cats.pop(_VICTIM_CAT, 0.0)
        if cue > 0.0:
            victim = 1.0 - (1.0 - victim) * (1.0 - cue)
        # echoes: a category this member raises only after someone else raised it (a
        # victim asking "U商是什么?") is not theirs: it does not make them the suspect
        echo = 0
        for ci in cats:
            if me.echo >> ci & 1:
                echo |= 1 << ci
        theirs: dict[int, float] = {}
        for p in parties:
            if p.user != sender:
                f = self._decay(now - p.at)
                for ci, v in p.cats:
                    if v * f >= _EPS and v * f > theirs.get(ci, 0.0):
                        theirs[ci] = v * f
        for ci, v in msg_cats.items():
            if ci not in cats and v <= theirs.get(ci, 0.0) + _EPS:
                echo |= 1 << ci  # repeats what the other side said, no stronger
            elif v > theirs.get(ci, 0.0) + _EPS:
                echo &= ~(1 << ci)  # goes beyond it: now their own push
            if v > cats.get(ci, 0.0):
                cats[ci] = v
        stages = {st for st in stages
                  if st == _TRUST
                  or any(not (echo >> ci & 1) for ci in facts.stage_cats.get(st, ()))}
        if _TRUST in stages and max(chain) == 0:
            trust_first = True
        chain_grew = False
        for st in sorted(stages - {_TRUST}):
            before = max(chain[: st - 1], default=0)
            if before + 1 > chain[st - 1]:
                chain[st - 1] = before + 1
                chain_grew = True
        msg_score = engine.combine(msg_cats)
        risky = msg_score >= pol.evidence_min_score
        c0, c1, c2, c3 = chain
        me = PartyState(
            user=sender,
            recipient=recipient,
            at=now,
            cats=tuple(sorted((i, round(v, 6)) for i, v in cats.items())),
            victim=round(victim, 6),
            chain=(c0, c1, c2, c3),
            trust_first=trust_first,
            echo=echo,
            stage_at=now if (chain_grew or stages - {_TRUST}) else me.stage_at,
            messages=me.messages + (1 if msg_score >= pol.corroboration_min_score else 0),
            peak=max(me.peak, engine.level(msg_score)) if risky else me.peak,
            ask_peak=(max(me.ask_peak, engine.level(msg_score))
                      if risky and stages & {_MONEY_REQUEST, _BLOCKER} else me.ask_peak),
        )
        parties[me_i] = me
        if reported:
            # the blocker belongs to the other side's script: it extends their chain (and
            # makes their own later blocker talk a demand, not a report)
            oi = next((i for i, p in enumerate(parties) if p.user == recipient), -1)
            if oi < 0 and len(parties) < _MAX_PARTIES:
                parties.append(PartyState(user=recipient, recipient=sender, at=now,
                                          stage_at=now))
                oi = len(parties) - 1
            if oi >= 0:
                o = parties[oi]
                pc = list(o.chain)
                pc[3] = max(pc[3], max(pc[:3]) + 1)
                parties[oi] = replace(o, chain=(pc[0], pc[1], pc[2], pc[3]), stage_at=now)

        # evidence kept in state: rule ids (bounded) and the last risky messages
        rules = list(rec.rules)
        known = {(r[1], r[2]) for r in rules}
        for st, rid in facts.rules:
            if (rid, sender) not in known and len(rules) < pol.max_rule_ids:
                rules.append((st, rid, sender))
                known.add((rid, sender))
        snippets = self._snippets(m, facts) if self.keep_text else ()
        recent = (*rec.recent, (m.message_id, sender, facts.level,
                                tuple(r for _, r in facts.rules), snippets))
        recent = recent[-pol.max_evidence:]

        new_parties = tuple(parties)
        a = self._assess(engine, new_parties, now)
        decision = _Decision(assessment=a)
        warnings, warned_at, flagged = rec.warnings, rec.warned_at, rec.flagged
        s = a.suspect
        if s is not None and a.target:
            cooled = warnings == 0 or now - warned_at >= pol.warning_cooldown_seconds
            if cooled and self._fires(engine, pol.warning, a.protected, s):
                warnings += 1
                warned_at = now
                decision.warn_step = warnings
            if s.user not in flagged and self._fires(engine, pol.blacklist, a.risk, s):
                flagged = (*flagged, s.user)
                decision.blacklist = True
            if self._fires(engine, pol.sms, a.protected, s):
                decision.sms = True
            decision.risky_sender = s.user == sender and a.level >= Level.MEDIUM
        new = ConversationRecord(
            conversation=conv, updated=max(now, rec.updated), parties=new_parties,
            warnings=warnings, warned_at=warned_at, flagged=flagged, rules=tuple(rules),
            recent=recent,
        )
        return new, decision

    def _suspicion(
        self, engine: _Engine, p: PartyState, now: float, *, own: bool = False
    ) -> float:
        """A member's stage-aware, decayed risk at ``now`` (victim cues excluded; with
        ``own``, also the categories they only echoed)."""
        factor = self._decay(now - p.at)
        cats = {i: v * factor for i, v in p.cats
                if v * factor >= _EPS and not (own and p.echo >> i & 1)}
        base = engine.combine(cats)
        pol = self.policy
        if base < pol.evidence_min_score or now - p.stage_at > pol.stage_window_seconds:
            return base
        n = p.stages
        bonus = pol.stage_bonus_for(n)
        if p.trust_first and n >= 2:
            bonus += pol.trust_bonus
        return min(1.0, round(base + bonus, 6))

    def _assess(
        self, engine: _Engine, parties: tuple[PartyState, ...], now: float
    ) -> _Assessment:
        """Who is the suspect, whom to protect, and how risky the conversation is now
        (a record's parties are all it reads)."""
        pol = self.policy
        if not parties:
            return _Assessment(None, "", 0.0, 0.0, 0)
        # the suspect is who raised the most risk on their own (echoes aside); ties go to
        # whoever raised it first (parties are kept in order of first risky message)
        owned = [(self._suspicion(engine, p, now, own=True), p) for p in parties]
        best, suspect = owned[0]
        for sc, p in owned[1:]:
            if sc > best:
                best, suspect = sc, p
        other = max((sc for sc, p in owned if p is not suspect), default=0.0)
        # without echoes, their own risk is their full risk: no second pass over the state
        full = best if not suspect.echo else self._suspicion(engine, suspect, now)
        risk = max(0.0, round(full - pol.echo_discount * other, 6))
        if risk <= 0.0 or suspect.recipient == suspect.user:
            return _Assessment(None, "", 0.0, 0.0, 0)
        target = suspect.recipient
        protected = risk
        victim = next((p for p in parties if p.user == target), None)
        if victim is not None and victim.victim * self._decay(now - victim.at) >= _VICTIM_ON:
            protected = min(1.0, round(risk + pol.victim_protection, 6))
        return _Assessment(suspect, target, risk, protected, engine.level(risk))

    @staticmethod
    def _fires(engine: _Engine, trig: Trigger, score: float, suspect: PartyState) -> bool:
        if score < trig.min_score or not _level_at_least(engine.level(score), trig.min_level):
            return False
        return (
            suspect.messages >= trig.min_messages
            or suspect.stages >= trig.min_stages
            or _level_at_least(suspect.peak, trig.single_message_level)
            or _level_at_least(suspect.ask_peak, trig.single_request_level)
        )

    # -- events ----------------------------------------------------------------------------
    def _out(self, x: _Msg, store_id: str) -> str:
        """The id an event carries for a member: the platform's own id (or, with
        ``policy.hash_ids_in_events``, the stored hash)."""
        if self._hasher is not None and self.policy.hash_ids_in_events:
            return store_id
        if store_id == x.sender:
            return x.m.sender_id
        if store_id == x.recipient:
            return x.m.recipient_id
        return store_id  # a third member of a group chat: only the stored id is known

    def _snippets(self, m: ChatMessage, facts: _Facts) -> tuple[str, ...]:
        """Masked snippets around the strongest findings (never the whole message)."""
        ctx = self.policy.snippet_context
        strongest = sorted(facts.findings, key=lambda f: -f.weight)[:_MAX_SNIPPETS]
        out = mask_spans(m.text, [(f.start, f.end) for f in strongest], context=ctx)
        for joined, f in facts.junction[: max(0, _MAX_SNIPPETS - len(out))]:
            out.append(mask_text(joined[f.start : f.end]))
        return tuple(dict.fromkeys(out))

    def _event(
        self, x: _Msg, kind: EventKind, event_id: str, *, subject: str, target: str,
        score: float, rule_ids: list[str], evidence: Evidence, template: str | None = None,
        meta: dict[str, Any] | None = None,
    ) -> Event:
        score = min(1.0, max(0.0, score))
        return Event(
            kind=kind, event_id=event_id, conversation_id=x.m.conversation_id,
            subject_id=subject, target_id=target, score=score,
            level=LEVEL_NAMES[x.engine.level(score)], rule_ids=rule_ids, evidence=evidence,
            ruleset=x.engine.fingerprint, created_at=x.m.sent_at, message_id=x.m.message_id,
            template=template, meta=meta or {},
        )

    def _events(
        self, x: _Msg, facts: _Facts, rec: ConversationRecord, d: _Decision
    ) -> list[Event]:
        """The events a decision calls for (state is already committed)."""
        pol = self.policy
        a = d.assessment
        m = x.m
        events: list[Event] = []
        day = str(int((x.now + pol.day_offset_hours * 3600.0) // 86400.0))
        suspect = a.suspect
        if suspect is not None and (d.warn_step or d.blacklist or d.sms):
            subject = self._out(x, suspect.user)
            target = self._out(x, a.target)
            rule_ids = list(dict.fromkeys(r for _, r, u in rec.rules if u == suspect.user))
            stages = [STAGES[i] for i in sorted({st for st, _, u in rec.rules
                                                 if u == suspect.user and st >= 0})]
            mine = [r for r in rec.recent if r[1] == suspect.user]
            snippets = [snip for r in mine for snip in r[4]]
            if x.sender == suspect.user and not self.keep_text:
                snippets.extend(self._snippets(m, facts))
            evidence = Evidence(
                message_ids=[r[0] for r in mine],
                rule_ids=rule_ids,
                levels=[LEVEL_NAMES[r[2]] for r in mine],
                snippets=list(dict.fromkeys(snippets))[: pol.max_evidence],
                stages=stages,
            )
            if d.warn_step:
                events.append(self._event(
                    x, "warning",
                    make_event_id("warning", m.conversation_id, m.message_id, target),
                    subject=subject, target=target, score=a.protected, rule_ids=rule_ids,
                    evidence=evidence, template=pol.warning_key(d.warn_step),
                    meta={"step": d.warn_step},
                ))
            if d.blacklist:
                convs = self._risky_conversations(suspect.user, rec.conversation, x.now)
                events.append(self._event(
                    x, "blacklist_suggestion",
                    make_event_id("blacklist_suggestion", m.conversation_id, subject),
                    subject=subject, target=subject, score=a.risk, rule_ids=rule_ids,
                    evidence=evidence.model_copy(update={"conversations": convs}),
                    meta={"reason": "conversation"},
                ))
            elif d.risky_sender:
                self._risky_conversations(suspect.user, rec.conversation, x.now)
            if d.sms and self._claim("sms", a.target, day, 2 * 86400.0):
                # the SMS carries a template key and nothing from the chat
                events.append(self._event(
                    x, "sms_alert", make_event_id("sms_alert", target, day),
                    subject=subject, target=target, score=a.protected, rule_ids=[],
                    evidence=Evidence(stages=stages), template=pol.sms_template,
                ))
        elif d.risky_sender and suspect is not None:
            self._risky_conversations(suspect.user, rec.conversation, x.now)
        script = self._script(x, facts, rec, day)
        if script is not None:
            events.append(script)
        return events

    def _script(
        self, x: _Msg, facts: _Facts, rec: ConversationRecord, day: str
    ) -> Event | None:
        """Near-duplicate risky text from one sender to many recipients."""
        pol = self.policy
        engine = x.engine
        score = engine.combine({i: v for i, v in facts.cats.items() if i != _VICTIM_CAT})
        if score < pol.script_min_score:
            return None
        # raw text without noise, case-folded: one sender's script is copied, not re-typed,
        # so the (costly) full normalization adds nothing here
        compact = NOISE_RE.sub("", x.m.text).casefold()
        if len(compact) < pol.script_min_chars:
            return None
        fp = self._fingerprints.get(compact)
        try:
            entries = self._store.add_script(
                x.sender, x.recipient, fp, x.now, window=pol.script_window_seconds,
                max_entries=pol.script_max_entries,
            )
        except Exception as exc:
            self._store_error("add_script", exc)
            return None
        near = {e.recipient for e in entries
                if (e.fingerprint ^ fp).bit_count() <= pol.script_max_hamming}  # Hamming
        if len(near) < pol.script_min_recipients:
            return None
        if not self._claim("script", x.sender, day, 2 * 86400.0):
            return None  # already suggested today
        subject = self._out(x, x.sender)
        convs = self._risky_conversations(x.sender, rec.conversation, x.now)
        rule_ids = list(dict.fromkeys(r for _, r in facts.rules))
        return self._event(
            x, "blacklist_suggestion",
            make_event_id("blacklist_suggestion", "script", subject, day),
            subject=subject, target=subject, score=score, rule_ids=rule_ids,
            evidence=Evidence(
                message_ids=[x.m.message_id], rule_ids=rule_ids,
                levels=[LEVEL_NAMES[engine.level(score)]],
                snippets=list(self._snippets(x.m, facts)),
                stages=[STAGES[i] for i in sorted(facts.stages)],
                conversations=convs, recipients=len(near),
                note=f"near-duplicate risky text sent to {len(near)} recipients",
            ),
            meta={"reason": "script"},
        )

    def _risky_conversations(self, user: str, conv: str, now: float) -> int:
        try:
            return self._store.add_risky_conversation(user, conv, now)
        except Exception as exc:
            self._store_error("add_risky_conversation", exc)
            return 1

    def _claim(self, kind: str, user: str, bucket: str, ttl: float) -> bool:
        try:
            return self._store.claim(kind, user, bucket, ttl)
        except Exception as exc:
            self._store_error("claim", exc)
            return True  # better one duplicate alert than a missed one

    # -- plumbing --------------------------------------------------------------------------
    def _dispatch(self, events: Sequence[Event]) -> None:
        with self._stats_lock:
            for e in events:
                self._events_by_kind[e.kind] += 1
        try:
            self._dispatcher.dispatch(events)
        except Exception:  # pragma: no cover - the dispatcher promises not to raise
            _log.exception("chatguard: event dispatch failed")

    def _count(self, **deltas: int) -> None:
        with self._stats_lock:
            for k, v in deltas.items():
                self._counts[k] += v

    def _store_error(self, op: str, exc: BaseException) -> None:
        self._count(store_errors=1)
        _log.warning("chatguard: state store %s failed (%s: %s); continuing on this message "
                     "alone", op, type(exc).__name__, exc)

