"""The engine-neutral per-batch core of ``chatguard scan``: rows in, one output per row out.

``chatguard scan`` streams files through it on worker processes; a distributed engine
(Spark's ``applyInArrow`` grouped by conversation, a Ray or Dask task) calls the same code
with an Arrow record batch and gets one back. Everything that decides a verdict lives here
or in the :class:`~chatguard.guard.Guard` it drives, so a batch scan and the live guard
give the same verdicts and the same events, and every engine gives the same scan.

What the core does with a batch, and why:

* **Validation** (:func:`validate_row`) turns an input mapping into a :class:`Row` or a
  reason. It accepts what :class:`~chatguard.messages.ChatMessage` accepts (ids may also be
  integers, which columnar exports and databases produce) and is several times cheaper
  than pydantic: a scan validates every row, and the guard then gets ready-made messages.
* **Order**: rows are fed to the guard in ``(conversation_id, sent_at, position)`` order,
  so each conversation is seen in time order whatever order the rows came in. A row that
  came *after* a row of the same conversation with a later ``sent_at`` is reported as a
  warning (it was reordered, not dropped).
* **Duplicates**: a ``message_id`` seen before in the same conversation is a re-delivery;
  it is reported as an error and not fed again (the guard would count it once anyway, and
  two result rows for one id make every join downstream ambiguous).
* **One Guard per scanner**: the guard's conversation scores and events are the ones
  written, with state in a small :class:`~chatguard.state.MemoryStore` (conversations
  arrive together, so only the recent ones are needed; memory stays flat).

The scanner keeps per-conversation bookkeeping (duplicate ids, reorder detection: a few
dozen bytes per message of the conversation) for the last ``max_conversations``
conversations only, so a scan of any length runs in flat memory when conversations arrive
together, as ``chatguard scan`` and a grouped engine deliver them. A duplicate id is found
within the conversations still in that window.

pyarrow is optional (``pip install "chatguard[arrow]"``) and imported only by the Arrow
functions; plain lists of dicts work without it.
"""

from __future__ import annotations

import json
import math
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from json.encoder import encode_basestring as _enc
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from .errors import ConfigError
from .messages import ChatMessage
from .models import LEVEL_NAMES, Verdict
from .privacy import mask_text

if TYPE_CHECKING:
    import pyarrow as pa

    from .events import Event
    from .guard import Guard

__all__ = [
    "ID_FIELDS",
    "INPUT_FIELDS",
    "KNOWN_FIELDS",
    "RESULT_FIELDS",
    "BatchOutput",
    "BatchScanner",
    "Problem",
    "ResultWriter",
    "Row",
    "arrow_result_schema",
    "event_json",
    "result_dict",
    "result_json",
    "validate_row",
]

ID_FIELDS: tuple[str, ...] = ("message_id", "conversation_id", "sender_id", "recipient_id")
#: The ``ChatMessage`` fields an input row carries.
INPUT_FIELDS: tuple[str, ...] = (*ID_FIELDS, "text", "sent_at")
#: Every column a row may have (``meta`` is optional); others are reported and ignored.
KNOWN_FIELDS: frozenset[str] = frozenset((*INPUT_FIELDS, "meta"))
#: The columns of a results row, in output order.
RESULT_FIELDS: tuple[str, ...] = (
    "message_id", "conversation_id", "score", "level", "conversation_score",
    "conversation_level", "findings",
)
# datetime.fromtimestamp's range, years 1..9999 (checked before calling it)
_MIN_TS = -62_135_596_800.0
_MAX_TS = 253_402_300_799.0


class Row(NamedTuple):
    """A validated input row.

    The first three fields are the processing order: tuples of rows sort by conversation,
    then time, then input position (unique, so the sort is total and stable). ``src`` and
    ``line`` say where the row came from (input index and line or row number).
    """

    conversation_id: str
    ts: float  # sent_at, epoch seconds
    pos: int  # position in the whole input (ordering tie-break)
    src: int
    line: int
    message_id: str
    sender_id: str
    recipient_id: str
    text: str
    meta: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class Problem:
    """A row that could not be scanned (``error``) or was scanned with a caveat
    (``warning``). Carries ids and a reason, never chat text."""

    src: int
    line: int
    severity: Literal["error", "warning"]
    reason: str
    message_id: str | None = None
    conversation_id: str | None = None
    pos: int = -1  # the row's input position, when it was valid

    def to_dict(self, source: str) -> dict[str, Any]:
        out: dict[str, Any] = {"source": source, "line": self.line,
                               "severity": self.severity, "reason": self.reason}
        if self.message_id is not None:
            out["message_id"] = self.message_id
        if self.conversation_id is not None:
            out["conversation_id"] = self.conversation_id
        return out


@dataclass(slots=True)
class BatchOutput:
    """What one batch produced. ``results`` are in processing order and pair with
    ``rows`` (the rows actually fed to the guard); ``events`` are in emission order."""

    rows: list[Row] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    event_rows: list[int] = field(default_factory=list)  # index into rows, per event
    problems: list[Problem] = field(default_factory=list)


# ---------------------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------------------
def _type_name(v: Any) -> str:
    return "null" if v is None else type(v).__name__


def parse_sent_at(v: Any) -> float | str:
    """``sent_at`` as epoch seconds, or a reason. Accepts what ``ChatMessage`` accepts:
    epoch seconds (number or numeric string), an ISO-8601 string (naive means UTC) or a
    datetime."""
    if isinstance(v, bool):
        return f"sent_at: expected epoch seconds or an ISO-8601 time, got {_type_name(v)}"
    if isinstance(v, int | float):
        ts = float(v)
    elif isinstance(v, str):
        s = v.strip()
        try:
            ts = float(s)
        except ValueError:
            try:
                when = datetime.fromisoformat(s)
            except ValueError:
                return "sent_at: not epoch seconds or an ISO-8601 time"
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            return when.timestamp()
    elif isinstance(v, datetime):
        return (v.replace(tzinfo=UTC) if v.tzinfo is None else v).timestamp()
    elif v is None:
        return "sent_at: missing"
    else:
        return f"sent_at: expected epoch seconds or an ISO-8601 time, got {_type_name(v)}"
    if not math.isfinite(ts) or not _MIN_TS <= ts <= _MAX_TS:
        return "sent_at: out of range"
    return ts


def _id(data: Mapping[str, Any], name: str) -> str:
    """An id field as a non-empty string; raises ``ValueError(reason)`` otherwise."""
    v = data.get(name)
    if type(v) is str and v:
        return v
    if isinstance(v, int) and not isinstance(v, bool):
        return str(v)
    if v is None:
        raise ValueError(f"{name}: missing")
    if isinstance(v, str):
        raise ValueError(f"{name}: empty")
    raise ValueError(f"{name}: expected a string, got {_type_name(v)}")


_make_row = tuple.__new__  # NamedTuple's own __new__ is a Python function: twice the cost


def validate_row(data: Any, *, pos: int, src: int = 0, line: int = 0) -> Row | str:
    """An input mapping as a :class:`Row`, or the reason it is not one.

    Keys other than :data:`KNOWN_FIELDS` are ignored (callers report them once per input).
    Ids must be non-empty strings (integers are taken as their decimal form), ``text`` a
    string, ``meta`` an object or null.
    """
    if type(data) is not dict and not isinstance(data, Mapping):
        return f"row is not an object (got {_type_name(data)})"
    get = data.get
    mid = get("message_id")
    cid = get("conversation_id")
    sender = get("sender_id")
    recipient = get("recipient_id")
    # the common case inline (four calls of _id are a fifth of a row's validation)
    if not (type(mid) is str and mid and type(cid) is str and cid
            and type(sender) is str and sender and type(recipient) is str and recipient):
        try:
            mid = _id(data, "message_id")
            cid = _id(data, "conversation_id")
            sender = _id(data, "sender_id")
            recipient = _id(data, "recipient_id")
        except ValueError as exc:
            return str(exc)
    text = get("text")
    if type(text) is not str:
        if text is None:
            return "text: missing"
        if not isinstance(text, str):
            return f"text: expected a string, got {_type_name(text)}"
    ts = get("sent_at")
    if type(ts) is not float or not _MIN_TS <= ts <= _MAX_TS:  # NaN fails the range too
        ts = parse_sent_at(ts)
        if isinstance(ts, str):
            return ts
    meta = get("meta")
    if meta is not None and not isinstance(meta, dict):
        return f"meta: expected an object or null, got {_type_name(meta)}"
    return _make_row(Row, (cid, ts, pos, src, line, mid, sender, recipient, text, meta))


_MESSAGE_FIELDS: frozenset[str] = frozenset(ChatMessage.model_fields)
_new = object.__new__
_set = object.__setattr__


def _message(row: Row) -> ChatMessage:
    """The guard's message for a validated row, without validating it a second time.

    What ``ChatMessage.model_construct`` does, at a third of its cost (it is a fifth of a
    clean message's scan otherwise): the row is already validated to the model's rules,
    and a test pins that the result equals ``ChatMessage.parse`` of the same row.
    """
    m = _new(ChatMessage)
    _set(m, "__dict__", {
        "message_id": row.message_id, "conversation_id": row.conversation_id,
        "sender_id": row.sender_id, "recipient_id": row.recipient_id, "text": row.text,
        "sent_at": datetime.fromtimestamp(row.ts, tz=UTC), "meta": row.meta,
    })
    _set(m, "__pydantic_fields_set__", _MESSAGE_FIELDS)
    _set(m, "__pydantic_extra__", None)
    _set(m, "__pydantic_private__", None)
    return m


def message_time(ts: float) -> float:
    """``ChatMessage.timestamp`` of a row's ``ts``: what
    ``datetime.fromtimestamp(ts, UTC).timestamp()`` gives, in a quarter of its time.

    A message's time is a datetime, so microseconds: ``fromtimestamp`` rounds the fraction
    times 10**6 half to even and ``timestamp`` divides the whole microseconds by 10**6
    (integers, correctly rounded). The guard must see exactly the time it would see with
    the message built, and a test pins the two against each other.
    """
    frac, whole = math.modf(ts)
    us = round(frac * 1e6)
    if us >= 1_000_000:
        us -= 1_000_000
        whole += 1.0
    elif us < 0:
        us += 1_000_000
        whole -= 1.0
    return (int(whole) * 1_000_000 + us) / 1_000_000


def result_json(result: Mapping[str, Any]) -> bytes:
    """One results row as a UTF-8 JSON line, keys in :data:`RESULT_FIELDS` order.

    Formatted directly rather than through ``json.dumps`` (four times slower on the one
    line every message writes); the output is the same JSON. Text that cannot be UTF-8
    (lone surrogates, which JSON input may carry) is written with ``\\u`` escapes.
    """
    enc = _enc
    findings = ",".join(
        f'{{"rule_id":{enc(f["rule_id"])},"category":{enc(f["category"])},'
        f'"start":{f["start"]},"end":{f["end"]},"matched":{enc(f["matched"])}}}'
        for f in result["findings"])
    line = (f'{{"message_id":{enc(result["message_id"])},'
            f'"conversation_id":{enc(result["conversation_id"])},'
            f'"score":{float(result["score"])!r},"level":"{result["level"]}",'
            f'"conversation_score":{float(result["conversation_score"])!r},'
            f'"conversation_level":"{result["conversation_level"]}",'
            f'"findings":[{findings}]}}\n')
    try:
        return line.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps({k: result[k] for k in RESULT_FIELDS},
                          separators=(",", ":")).encode("ascii") + b"\n"


def event_json(event: Event) -> bytes:
    """An event as a UTF-8 JSON line, as :class:`~chatguard.sinks.JsonlSink` writes it;
    an event carrying lone surrogates (from JSON input) gets ``\\u`` escapes instead of
    failing to serialize."""
    try:
        return event.model_dump_json().encode("utf-8") + b"\n"
    except ValueError:  # pydantic's serialization error is a ValueError
        data = event.model_dump(mode="json")
        return json.dumps(data, separators=(",", ":")).encode("ascii") + b"\n"


def _findings(v: Verdict) -> list[dict[str, Any]]:
    return [
        {"rule_id": f.rule_id, "category": f.category, "start": f.start, "end": f.end,
         "matched": mask_text(f.matched)}
        for f in v.findings if not f.suppressed
    ] if v.findings else []


def result_dict(row: Row, v: Verdict, reading: tuple[float, int]) -> dict[str, Any]:
    """The results row of a scanned row: its verdict (findings masked) and the
    conversation's ``(risk, level)`` reading right after it."""
    return {
        "message_id": row.message_id, "conversation_id": row.conversation_id,
        "score": v.score, "level": v.level,
        "conversation_score": round(reading[0], 4),
        "conversation_level": LEVEL_NAMES[reading[1]], "findings": _findings(v),
    }


class ResultWriter:
    """Results rows as JSON lines, the same bytes as :func:`result_json` of
    :func:`result_dict`, without a dict per row.

    Nearly every row of a day's log is a clean message of a conversation whose reading
    repeats from row to row: the part after the ids is formatted once per distinct
    ``(reading, verdict)`` and reused (a handful of entries per conversation, dropped
    when the conversation changes).
    """

    __slots__ = ("_cid", "_cid_json", "_tails")

    def __init__(self) -> None:
        self._cid: str | None = None
        self._cid_json = ""
        self._tails: dict[tuple[float, int, float, str], str] = {}

    def line(self, row: Row, v: Verdict, reading: tuple[float, int]) -> bytes:
        """One results line; rows with findings go through :func:`result_json`."""
        if v.findings:
            return result_json(result_dict(row, v, reading))
        cid = row.conversation_id
        if cid != self._cid:
            self._cid, self._cid_json = cid, _enc(cid)
            self._tails.clear()
        # equal keys format alike: the one float pair that compares equal and prints
        # differently, 0.0 and -0.0, cannot occur (risks are max(0.0, ...); a verdict
        # without findings is the detector's shared "none")
        key = (reading[0], reading[1], v.score, v.level)
        tail = self._tails.get(key)
        if tail is None:
            tail = self._tails[key] = (
                f',"score":{float(v.score)!r},"level":"{v.level}",'
                f'"conversation_score":{float(round(reading[0], 4))!r},'
                f'"conversation_level":"{LEVEL_NAMES[reading[1]]}","findings":[]}}\n')
        try:
            return (f'{{"message_id":{_enc(row.message_id)},"conversation_id":'
                    f'{self._cid_json}{tail}').encode()
        except UnicodeEncodeError:  # lone surrogates in an id: \u escapes, as result_json
            return result_json(result_dict(row, v, reading))


@dataclass(slots=True)
class _Scanned:
    """What :meth:`BatchScanner._scan` produced: the rows fed (processing order), their
    verdicts and conversation readings, ``(row index, events)`` of the rows that raised
    events, and problems."""

    rows: list[Row] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)
    readings: list[tuple[float, int]] = field(default_factory=list)
    fired: list[tuple[int, list[Event]]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


# ---------------------------------------------------------------------------------------
# the scanner
# ---------------------------------------------------------------------------------------
class _ConvBook:
    """Per-conversation bookkeeping: ids seen (duplicates) and a stack of input positions
    (reordered rows)."""

    __slots__ = ("ids", "stack")

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}  # message id -> line where first seen
        # (pos, line) of rows fed so far whose position no later row has undercut; kept
        # increasing, so each row is pushed and popped at most once
        self.stack: list[tuple[int, int, int]] = []  # (pos, line, src)


class BatchScanner:
    """Scans batches of rows through one :class:`~chatguard.guard.Guard`.

    Keep one scanner per guard and feed it every batch of that guard's conversations:
    the guard's state and the scanner's bookkeeping carry over between batches.
    """

    def __init__(self, guard: Guard, *, max_conversations: int = 4096) -> None:
        if max_conversations < 1:
            raise ConfigError("max_conversations must be at least 1")
        self.guard = guard
        self._max = max_conversations
        self._books: OrderedDict[str, _ConvBook] = OrderedDict()
        self._arrow_rows = 0  # positions handed out to Arrow batches so far

    def _book(self, conversation_id: str) -> _ConvBook:
        book = self._books.get(conversation_id)
        if book is None:
            book = self._books[conversation_id] = _ConvBook()
            if len(self._books) > self._max:
                self._books.popitem(last=False)
        elif next(reversed(self._books)) != conversation_id:
            self._books.move_to_end(conversation_id)
        return book

    def scan(self, rows: Iterable[Row]) -> BatchOutput:
        """Scan validated rows (any order; they are sorted into processing order)."""
        s = self._scan(rows)
        out = BatchOutput(rows=s.rows, problems=s.problems)
        out.results = [result_dict(row, v, reading)
                       for row, v, reading in zip(s.rows, s.verdicts, s.readings, strict=True)]
        for i, evs in s.fired:
            for e in evs:
                out.events.append(e)
                out.event_rows.append(i)
        return out

    def _scan(self, rows: Iterable[Row]) -> _Scanned:
        """:meth:`scan` without building a result per row: ``chatguard scan`` writes most
        rows (clean messages) straight from their verdict and conversation reading."""
        out = _Scanned()
        problems = out.problems
        fed = out.rows
        last_cid: str | None = None
        book = _ConvBook()
        for row in sorted(rows):
            cid = row.conversation_id
            if cid != last_cid:  # rows come grouped by conversation: one lookup per group
                book = self._book(cid)
                last_cid = cid
            first = book.ids.get(row.message_id)
            if first is not None:
                problems.append(Problem(
                    row.src, row.line, "error",
                    f"duplicate message_id in this conversation (first at line {first}); "
                    "not scanned again",
                    row.message_id, cid, row.pos))
                continue
            book.ids[row.message_id] = row.line
            stack = book.stack
            while stack and stack[-1][0] > row.pos:
                late_pos, late_line, late_src = stack.pop()
                problems.append(Problem(
                    late_src, late_line, "warning",
                    f"sent_at earlier than that of line {row.line}, which comes before it "
                    "in the input; scanned in sent_at order",
                    None, cid, late_pos))
            stack.append((row.pos, row.line, row.src))
            fed.append(row)
        if not fed:
            return out
        out.verdicts, out.readings, out.fired = self.guard._feed_columns(
            [r.text for r in fed], [r.conversation_id for r in fed],
            [r.sender_id for r in fed], [message_time(r.ts) for r in fed],
            lambda i: _message(fed[i]), detailed=True)
        return out

    def scan_dicts(
        self, rows: Iterable[Any], *, src: int = 0, first_line: int = 1, first_pos: int = 0
    ) -> BatchOutput:
        """Validate and scan mappings; invalid rows become ``error`` problems naming their
        line (``first_line`` + index)."""
        valid: list[Row] = []
        problems: list[Problem] = []
        for i, data in enumerate(rows):
            r = validate_row(data, pos=first_pos + i, src=src, line=first_line + i)
            if isinstance(r, str):
                mid = data.get("message_id") if isinstance(data, Mapping) else None
                problems.append(Problem(src, first_line + i, "error", r,
                                        mid if isinstance(mid, str) else None))
            else:
                valid.append(r)
        out = self.scan(valid)
        out.problems[:0] = problems
        return out

    def scan_arrow(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """Arrow in, Arrow out: one output row per input row, in processing order.

        Input columns: the :data:`INPUT_FIELDS` (``sent_at`` as a timestamp, epoch seconds
        or ISO-8601 strings; ids as strings or integers), optionally ``meta``; other
        columns are ignored. Output: :func:`arrow_result_schema`: ``row`` (0-based index
        of the input row), the result columns, ``events`` (the guard's events raised by
        that message, as JSON) and ``error`` / ``warning`` (null unless the row was not
        scanned / was scanned with a caveat; rows with an error have null results).
        """
        pa_ = _pyarrow()
        n = batch.num_rows
        base = self._arrow_rows
        self._arrow_rows += n
        out = self.scan_dicts(batch.to_pylist(), first_line=0, first_pos=base)
        events_of: list[list[str]] = [[] for _ in out.rows]
        for e, i in zip(out.events, out.event_rows, strict=True):
            events_of[i].append(event_json(e)[:-1].decode("utf-8"))
        cols: dict[str, list[Any]] = {k: [] for k in arrow_result_schema().names}

        def add(row: int, result: Mapping[str, Any] | None, events: list[str],
                error: str | None, warning: str | None) -> None:
            cols["row"].append(row)
            for k in RESULT_FIELDS:
                cols[k].append(None if result is None else result[k])
            cols["events"].append(events)
            cols["error"].append(error)
            cols["warning"].append(warning)

        warnings: dict[int, str] = {}  # by input position, this batch's rows only
        for p in out.problems:
            if p.severity == "warning" and p.pos >= base:
                warnings.setdefault(p.pos, p.reason)
        done: set[int] = set()
        for row, result, evs in zip(out.rows, out.results, events_of, strict=True):
            add(row.line, result, evs, None, warnings.get(row.pos))
            done.add(row.line)
        for p in out.problems:
            if p.severity == "error" and p.line not in done:
                add(p.line, None, [], p.reason, None)
                done.add(p.line)
        if len(done) != n:  # pragma: no cover - every row is a result or an error
            raise AssertionError(f"scan_arrow produced {len(done)} rows for {n}")
        return pa_.RecordBatch.from_pydict(cols, schema=arrow_result_schema())


def _pyarrow() -> Any:
    try:
        import pyarrow
    except ImportError:
        raise ConfigError(
            'the Arrow interface needs pyarrow: pip install "chatguard[arrow]"') from None
    return pyarrow


def arrow_result_schema() -> pa.Schema:
    """The schema of :meth:`BatchScanner.scan_arrow`'s output."""
    pa_ = _pyarrow()
    finding = pa_.struct([
        ("rule_id", pa_.string()), ("category", pa_.string()), ("start", pa_.int64()),
        ("end", pa_.int64()), ("matched", pa_.string()),
    ])
    return pa_.schema([
        ("row", pa_.int64()),
        ("message_id", pa_.string()),
        ("conversation_id", pa_.string()),
        ("score", pa_.float64()),
        ("level", pa_.string()),
        ("conversation_score", pa_.float64()),
        ("conversation_level", pa_.string()),
        ("findings", pa_.list_(finding)),
        ("events", pa_.list_(pa_.string())),
        ("error", pa_.string()),
        ("warning", pa_.string()),
    ])
