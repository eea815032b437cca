"""``chatguard scan``: yesterday's chat logs through the conversation guard, in bulk.

Trust-and-safety teams scan whole days of chat; what they get must be what the live guard
would have said (same verdicts, same events), for any input size, in any row order, on any
number of cores, and the same every time. How the scan gets there::

    inputs (JSONL / CSV / Parquet, gzip, '-' = stdin)
      │ read: decode, parse, validate each row     malformed → errors file (line + reason)
      │       shard = crc32(conversation_id) % shards
      ▼
    spill: per shard, runs sorted by (conversation, sent_at, input position), written to
      │    disk whenever the rows held in memory reach a budget   ← memory stays flat
      │    (an input that fits the budget stays in memory: one sorted run per shard)
      ▼
    shards on worker processes (fork; the detector is built and warmed up before forking):
      │    merge the shard's runs → BatchScanner (batch.py) → one Guard per shard
      ▼    results / events / problems per shard, in processing order
    outputs: the shards' files concatenated in shard order; summary on stderr

Why it is built this way:

* **Sorting by conversation**, not by time: each conversation is fed to its guard in
  ``sent_at`` order (ties by input position) and all at once, so the guard needs only the
  state of a few recent conversations, and duplicate ids and reordered rows can be found
  per conversation in flat memory.
* **A fixed number of shards** (``--shards``, default 16), each with its own guard,
  independent of ``--workers``: workers only decide which process runs which shard, so the
  output is byte-for-byte the same for 1 or 8 workers. The price: what the guard learns
  *across* conversations (the same script sent to many recipients) is seen within a shard
  only; ``--shards 1`` sees everything, on one core.
* **The HTML report** (``--report``) is gathered in flat memory too: each shard keeps 20
  histogram counters per score kind and a bounded heap of its riskiest conversations
  (texts masked in the worker), and the parent merges them; ranking by score and then
  conversation id makes the report independent of ``--workers`` as well.
* **Spilling to disk next to the results** (not to ``/tmp``, often a RAM disk), with
  ``pickle`` because the bytes never leave the scan and it is the fastest codec in the
  standard library; only when the input does not fit the budget (per forked worker):
  pickling out and back costs a third of the reading.
* **The clean message is the fast path**: most messages of a day's log have no
  finding and no split word. The guard reads them without building a message or
  touching conversation state (:meth:`Guard._feed_columns`), and their results rows are
  formatted from the ids plus a suffix shared by the conversation's rows
  (:class:`~chatguard.batch.ResultWriter`). JSONL is parsed with orjson when it is
  installed (``pip install "chatguard[fast]"``), with the same rows as without it.

Exit status: 0 when every row was scanned, 1 when any row failed (see the errors file),
2 when the scan could not run (a missing input, an unwritable output, bad options).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import gc
import gzip
import heapq
import io
import json
import multiprocessing
import os
import pickle
import shutil
import sys
import tempfile
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, BinaryIO, Literal, TextIO, cast

from .batch import (
    KNOWN_FIELDS,
    BatchScanner,
    Problem,
    ResultWriter,
    Row,
    event_json,
    result_dict,
    validate_row,
)
from .errors import ConfigError, InputError
from .report import (
    BINS,
    Figure,
    Histogram,
    Report,
    ShownConversation,
    ShownMessage,
    Span,
    Table,
    bin_of,
    clip_message,
    mask_message,
    write_html,
)

if TYPE_CHECKING:
    from multiprocessing.sharedctypes import Synchronized

    from .detector import Detector

__all__ = [
    "ScanOptions",
    "ScanSummary",
    "add_scan_parser",
    "run_scan",
    "run_scan_command",
]

Format = Literal["auto", "jsonl", "csv", "parquet"]
FORMATS: tuple[str, ...] = ("auto", "jsonl", "csv", "parquet")
_LEVELS = ("none", "low", "medium", "high", "critical")
_EVENT_KINDS = ("warning", "blacklist_suggestion", "sms_alert")
_CHUNK = 1024  # rows per pickled chunk of a spill run
_FAN_IN = 64  # sorted runs merged at once
_ROW_OVERHEAD = 400  # bytes a Row costs in memory besides its text (estimate)
_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class ScanOptions:
    """Everything a scan depends on. The same options on the same input give the same
    output files, whatever ``workers`` is."""

    inputs: tuple[str, ...]
    results: Path
    events: Path
    errors: Path | None = None  # default: <results stem>.errors.jsonl beside the results
    rules: tuple[str, ...] = ()
    workers: int = 1
    format: Format = "auto"
    quiet: bool = False
    summary_json: Path | None = None
    shards: int = 16
    batch_size: int = 2000
    max_line_bytes: int = 1 << 20
    spill_bytes: int = 64 << 20  # rows held in memory before a sorted run goes to disk
    report: Path | None = None  # HTML report (chatguard.report)
    report_top: int = 20  # riskiest conversations shown in the report

    def __post_init__(self) -> None:
        if not self.inputs:
            raise ConfigError("scan needs at least one input ('-' reads stdin)")
        if self.inputs.count("-") > 1:
            raise ConfigError("stdin ('-') can be read only once")
        if self.format not in FORMATS:
            raise ConfigError(f"unknown format {self.format!r} (one of {', '.join(FORMATS)})")
        for name in ("shards", "batch_size", "max_line_bytes", "spill_bytes", "report_top"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1")
        if self.workers < 0:
            raise ConfigError("workers must be 0 (one per CPU) or more")

    @property
    def errors_path(self) -> Path:
        if self.errors is not None:
            return self.errors
        return self.results.with_name(self.results.stem + ".errors.jsonl")


@dataclass
class ScanSummary:
    """What a scan did; printed at the end and written with ``--summary-json``."""

    inputs: list[str]
    rows: int = 0  # non-blank input rows
    messages: int = 0  # rows scanned (one results row each)
    conversations: int = 0
    failed_rows: int = 0  # rows in the errors file with severity "error"
    warnings: int = 0
    blank_lines: int = 0
    levels: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_LEVELS, 0))
    events: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_EVENT_KINDS, 0))
    top_rules: list[tuple[str, int]] = field(default_factory=list)  # (rule id, messages)
    workers: int = 1
    shards: int = 16
    seconds: float = 0.0  # read + scan + write (throughput is measured over these)
    startup_seconds: float = 0.0  # building and warming up the detector
    read_seconds: float = 0.0
    scan_seconds: float = 0.0
    write_seconds: float = 0.0
    results: str = ""
    events_path: str = ""
    errors_path: str = ""
    report: str = ""  # the HTML report, when one was asked for

    @property
    def messages_per_second(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else 0.0

    @property
    def exit_code(self) -> int:
        return 1 if self.failed_rows else 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "inputs": self.inputs, "rows": self.rows, "messages": self.messages,
            "conversations": self.conversations, "failed_rows": self.failed_rows,
            "warnings": self.warnings, "blank_lines": self.blank_lines,
            "levels": self.levels, "events": self.events,
            "top_rules": [{"rule_id": r, "messages": n} for r, n in self.top_rules],
            "workers": self.workers, "shards": self.shards,
            "seconds": round(self.seconds, 3),
            "startup_seconds": round(self.startup_seconds, 3),
            "phases": {"read": round(self.read_seconds, 3), "scan": round(self.scan_seconds, 3),
                       "write": round(self.write_seconds, 3)},
            "messages_per_second": round(self.messages_per_second, 1),
            "outputs": {"results": self.results, "events": self.events_path,
                        "errors": self.errors_path,
                        **({"report": self.report} if self.report else {})},
        }

    def render(self) -> str:
        def joined(d: dict[str, int]) -> str:
            return " · ".join(f"{k} {v:,}" for k, v in d.items())

        lines = [
            f"scanned {self.messages:,} message{'s' if self.messages != 1 else ''} in "
            f"{self.conversations:,} conversation{'s' if self.conversations != 1 else ''} "
            f"from {len(self.inputs)} input{'s' if len(self.inputs) != 1 else ''}",
            f"  levels:    {joined(self.levels)}",
            f"  events:    {joined(self.events)}",
            "  top rules: " + (", ".join(f"{r} {n:,}" for r, n in self.top_rules[:5])
                               or "none"),
            f"  speed:     {self.messages_per_second:,.0f} msg/s ({self.seconds:.2f} s: read "
            f"{self.read_seconds:.2f}, scan {self.scan_seconds:.2f}, write "
            f"{self.write_seconds:.2f}; start-up {self.startup_seconds:.2f} s; "
            f"{self.workers} worker"
            f"{'s' if self.workers != 1 else ''}, {self.shards} shards)",
        ]
        if self.failed_rows or self.warnings:
            lines.append(f"  problems:  {self.failed_rows:,} rows failed, {self.warnings:,} "
                         f"warnings: see {self.errors_path}")
        if self.report:
            lines.append(f"  report:    {self.report}")
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# progress
# ---------------------------------------------------------------------------------------
class _Progress:
    """A one-line progress bar with rate and ETA on a terminal; silent anywhere else.

    Drawn at most five times a second, so it costs nothing measurable; a dependency for
    it would cost more than these thirty lines.
    """

    def __init__(self, stream: TextIO, enabled: bool) -> None:
        self.stream = stream
        self.enabled = enabled
        self.label = ""
        self.unit = ""
        self.total: int | None = None
        self.start = self.last = 0.0

    def phase(self, label: str, total: int | None, unit: str) -> None:
        self.label, self.total, self.unit = label, total, unit
        self.start = time.monotonic()
        self.last = 0.0

    def update(self, done: int, *, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self.last < 0.2:
            return
        self.last = now
        elapsed = max(now - self.start, 1e-9)
        rate = done / elapsed
        text = f"{self.label:5} {_human(done)}"
        if self.total:
            frac = min(done / self.total, 1.0)
            filled = int(frac * 20)
            eta = (self.total - done) / rate if rate > 0 else 0.0
            text += (f"/{_human(self.total)} {self.unit} [{'#' * filled}{'.' * (20 - filled)}]"
                     f" {frac:4.0%}  {_human(rate)} {self.unit}/s  ETA {_clock(eta)}")
        else:
            text += f" {self.unit}  {_human(rate)} {self.unit}/s  {_clock(elapsed)}"
        self.stream.write("\r" + text + "\x1b[K")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


def _human(n: float) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.1f}{unit}"
    return f"{n:.0f}"


def _clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02}:{s % 60:02}" if s >= 3600 else f"{s // 60}:{s % 60:02}"


# ---------------------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Bad:
    """A line that is not a row: the reason, never its content."""

    reason: str


_BLANK = object()  # a blank line: not a row, counted in the summary


class _Source:
    """One input opened for reading: binary stream (gunzipped when needed), its format and
    a way to tell how many raw bytes were consumed (for the progress bar)."""

    def __init__(self, name: str, fmt: Format, max_line_bytes: int) -> None:
        self.name = name
        self.max_line_bytes = max_line_bytes
        self._stack = contextlib.ExitStack()
        raw: BinaryIO
        if name == "-":
            raw = sys.stdin.buffer
            self.size: int | None = None
        else:
            try:
                raw = self._stack.enter_context(open(name, "rb"))  # noqa: SIM115
                self.size = os.fstat(raw.fileno()).st_size
            except OSError as exc:
                raise InputError(f"cannot open: {exc.strerror}", source=name) from None
        self._raw = raw
        buffered: io.BufferedReader = (
            raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(cast(Any, raw)))
        head = buffered.peek(4)[:4]
        self.gzipped = head[:2] == b"\x1f\x8b"
        self.stream: BinaryIO = (
            gzip.GzipFile(fileobj=buffered, mode="rb") if self.gzipped else buffered  # type: ignore[assignment]
        )
        self.format = fmt if fmt != "auto" else _sniff(name, head)

    def consumed(self) -> int:
        try:
            return self._raw.tell() if self.size is not None else 0
        except (OSError, ValueError):
            return 0

    def close(self) -> None:
        self._stack.close()

    def rows(self) -> Iterator[tuple[int, Any]]:
        """``(line, item)`` pairs: a dict (or any parsed value), :class:`_Bad` or
        ``_BLANK``. Reading errors of the stream itself (a truncated gzip file) end this
        input with one ``_Bad`` naming the line where it stopped."""
        if self.format == "parquet":
            return self._parquet_rows()
        if self.format == "csv":
            return self._csv_rows()
        return self._jsonl_rows()

    def _lines(self) -> Iterator[tuple[int, bytes | _Bad]]:
        """Physical lines as bytes (BOM removed from the first), at most
        ``max_line_bytes`` each: a longer line is skipped in pieces and reported, so one
        huge line never has to fit in memory."""
        fh = self.stream
        limit = self.max_line_bytes
        n = 0
        try:
            while True:
                raw = fh.readline(limit + 1)
                if not raw:
                    return
                n += 1
                if len(raw) > limit and not raw.endswith(b"\n"):
                    size = len(raw)
                    while True:
                        more = fh.readline(1 << 20)
                        size += len(more)
                        if not more or more.endswith(b"\n"):
                            break
                    yield n, _Bad(f"line is {size:,} bytes, longer than the limit of "
                                  f"{limit:,} (--max-line-bytes)")
                    continue
                if n == 1 and raw.startswith(_BOM):
                    raw = raw[len(_BOM):]
                yield n, raw
        except (OSError, EOFError, zlib.error) as exc:
            yield n + 1, _Bad(f"input unreadable from here on ({type(exc).__name__}: {exc}); "
                              "the rest of this input was not scanned")

    def _jsonl_rows(self) -> Iterator[tuple[int, Any]]:
        loads = json.loads  # for what orjson left (or every line, without it)
        fast = _fast_row
        for n, raw in self._lines():
            if isinstance(raw, _Bad):
                yield n, raw
                continue
            if fast is not None:  # the common row, parsed from the bytes as they are
                d = fast(raw)
                if d is not None:
                    yield n, d
                    continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield n, _Bad(f"invalid UTF-8 at byte {exc.start} of the line")
                continue
            if not text or text.isspace():
                yield n, _BLANK
                continue
            try:
                yield n, loads(text)
            except json.JSONDecodeError as exc:
                yield n, _Bad(f"invalid JSON: {exc.msg} (column {exc.colno})")
            except RecursionError:
                yield n, _Bad("invalid JSON: nested too deeply")

    def _csv_rows(self) -> Iterator[tuple[int, Any]]:
        bad: dict[int, str] = {}

        def text_lines() -> Iterator[str]:
            for n, raw in self._lines():
                if isinstance(raw, _Bad):
                    bad[n] = raw.reason
                    yield "\n"
                    continue
                try:
                    yield raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    bad[n] = f"invalid UTF-8 at byte {exc.start} of the line"
                    yield "\n"

        csv.field_size_limit(max(self.max_line_bytes, 1 << 17))
        reader = csv.reader(text_lines(), strict=False)
        header: list[str] | None = None
        done = 0  # physical lines consumed by the rows read so far
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                if reader.line_num <= done:  # pragma: no cover - the reader made no progress
                    return
                yield reader.line_num, _Bad(f"invalid CSV: {exc}")
                done = reader.line_num
                continue
            first, done = done + 1, reader.line_num
            problem = next((bad[i] for i in range(first, done + 1) if i in bad), None)
            if problem is not None:
                yield first, _Bad(problem)
                continue
            if not cells or all(not c.strip() for c in cells):
                yield first, _BLANK
                continue
            if header is None:
                header = [c.strip() for c in cells]
                dupes = sorted({h for h in header if header.count(h) > 1})
                if dupes:
                    raise InputError(f"CSV header repeats column(s) {', '.join(dupes)}",
                                     line=first, source=self.name)
                continue
            if len(cells) != len(header):
                yield first, _Bad(f"expected {len(header)} fields as in the header, "
                                  f"got {len(cells)}")
                continue
            row: dict[str, Any] = {}
            for k, v in zip(header, cells, strict=True):
                if k == "meta":
                    if v.strip():
                        try:
                            row[k] = json.loads(v)
                        except json.JSONDecodeError as exc:
                            row = {}
                            yield first, _Bad(f"meta: invalid JSON: {exc.msg}")
                            break
                elif k == "sent_at":
                    row[k] = v if v.strip() else None
                else:
                    row[k] = v
            else:
                yield first, row

    def _parquet_rows(self) -> Iterator[tuple[int, Any]]:
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise ConfigError(f'{self.name}: reading Parquet needs pyarrow: '
                              'pip install "chatguard[arrow]"') from None
        try:
            src: Any = self.name if self.name != "-" else io.BytesIO(self.stream.read())
            pf = pq.ParquetFile(src)
        except Exception as exc:  # pyarrow's errors are not one class
            raise InputError(f"not a readable Parquet file ({type(exc).__name__}: {exc})",
                             source=self.name) from None
        n = 0
        for batch in pf.iter_batches(batch_size=4096):
            for row in batch.to_pylist():
                n += 1
                yield n, row


def _orjson_row(line: bytes | str) -> dict[str, Any] | None:
    """The row orjson parses from ``line`` when it is certainly what :func:`json.loads`
    gives, else ``None``.

    orjson parses a typical row four times faster. It rejects what json accepts beyond
    the JSON standard (NaN, lone surrogates), and invalid UTF-8 and blank lines, and turns
    integers outside 64 bits into floats: such a line, a non-object, integer ids and
    ``meta`` (kept as parsed) go through json, so every row, error message included, is
    the same with or without it.
    """
    try:
        d = _fast_loads(line)
    except ValueError:  # orjson.JSONDecodeError
        return None
    if (type(d) is not dict or d.get("meta") is not None
            or type(d.get("message_id")) is not str
            or type(d.get("conversation_id")) is not str
            or type(d.get("sender_id")) is not str
            or type(d.get("recipient_id")) is not str):
        return None
    return d


_fast_row: Callable[[bytes], dict[str, Any] | None] | None
try:  # the optional extra "fast"
    from orjson import loads as _fast_loads
except ImportError:  # pragma: no cover - depends on the environment
    _fast_row = None
else:
    _fast_row = _orjson_row


def _sniff(name: str, head: bytes) -> Format:
    """The format of an input from its name (``.csv``, ``.parquet``; ``.gz`` looked
    through) or its first bytes; JSONL otherwise (and for stdin)."""
    if head == b"PAR1":
        return "parquet"
    base = name[:-3] if name.endswith(".gz") else name
    suffix = Path(base).suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    return "jsonl"


_crc32 = zlib.crc32


def shard_of(conversation_id: str, shards: int) -> int:
    """The shard of a conversation: stable across processes, runs and platforms (crc32,
    not ``hash()``, which is salted per process)."""
    return zlib.crc32(conversation_id.encode("utf-8", "surrogatepass")) % shards


# ---------------------------------------------------------------------------------------
# spill: sorted runs per shard
# ---------------------------------------------------------------------------------------
class _Spill:
    """Rows per shard, written to disk as sorted runs whenever the rows held in memory
    reach ``budget`` bytes (estimated), so reading any input takes flat memory."""

    def __init__(self, folder: Path, shards: int, budget: int) -> None:
        self.paths = [folder / f"spill-{s}.bin" for s in range(shards)]
        self.files: list[BinaryIO] = [open(p, "wb") for p in self.paths]  # noqa: SIM115
        self.runs: list[list[tuple[int, int]]] = [[] for _ in range(shards)]  # (offset, chunks)
        self.counts = [0] * shards
        self._buf: list[list[Row]] = [[] for _ in range(shards)]
        # the rows of each shard, sorted, when the whole input fitted in the budget
        self.held: list[list[Row]] | None = None
        self._held = 0
        self._budget = budget
        self._shards = shards

    def add(self, row: Row) -> None:
        s = _crc32(row.conversation_id.encode("utf-8", "surrogatepass")) % self._shards  # shard_of
        self._buf[s].append(row)
        self.counts[s] += 1
        self._held += 2 * len(row.text) + _ROW_OVERHEAD
        if self._held >= self._budget:
            self.flush()

    def flush(self) -> None:
        for s, rows in enumerate(self._buf):
            if not rows:
                continue
            rows.sort()
            self.runs[s].append(_write_run(self.files[s], rows))
            self._buf[s] = []
        self._held = 0

    def close(self, copies: int = 1) -> None:
        """Finish reading. When nothing had to go to disk and ``copies`` of the rows held
        still fit the budget, the rows stay in memory as one sorted run per shard
        (:attr:`held`): pickling them out and back costs a third of the reading. Forked
        workers are counted as copies: touching rows copies the pages they sit on."""
        if not any(self.runs) and self._held * copies <= self._budget:
            for rows in self._buf:
                rows.sort()
            self.held = self._buf
            self._buf = [[] for _ in range(self._shards)]
            self._held = 0
        else:
            self.flush()
        for f in self.files:
            f.close()


def _read_run(path: Path, offset: int, chunks: int) -> Iterator[Row]:
    """The rows of one sorted run, a chunk at a time (one file handle per run)."""
    make = tuple.__new__
    with open(path, "rb") as f:
        f.seek(offset)
        for _ in range(chunks):
            for t in pickle.load(f):  # our own spill file, never foreign data
                yield make(Row, t)


def _write_run(out: BinaryIO, rows: Iterator[Row] | list[Row]) -> tuple[int, int]:
    """Append one sorted run; return its (offset, chunks)."""
    offset = out.tell()
    chunks = 0
    chunk: list[tuple[Any, ...]] = []
    for r in rows:
        chunk.append(tuple(r))  # plain tuples: a NamedTuple pickles three times slower
        if len(chunk) == _CHUNK:
            pickle.dump(chunk, out, protocol=pickle.HIGHEST_PROTOCOL)
            chunks += 1
            chunk = []
    if chunk:
        pickle.dump(chunk, out, protocol=pickle.HIGHEST_PROTOCOL)
        chunks += 1
    return offset, chunks


def _compact_runs(path: Path, runs: list[tuple[int, int]]) -> tuple[Path, list[tuple[int, int]]]:
    """Merge runs in groups of ``_FAN_IN`` until at most ``_FAN_IN`` are left.

    A merge holds one chunk and one file handle per run; bounding the runs bounds both,
    whatever the input size (each pass costs one more read and write of the shard).
    """
    level = 0
    while len(runs) > _FAN_IN:
        level += 1
        merged = path.with_name(f"{path.stem}.{level}.bin")
        fewer: list[tuple[int, int]] = []
        with open(merged, "wb") as out:
            for i in range(0, len(runs), _FAN_IN):
                group = [_read_run(path, off, n) for off, n in runs[i : i + _FAN_IN]]
                fewer.append(_write_run(out, heapq.merge(*group)))
        path.unlink()
        path, runs = merged, fewer
    return path, runs


# ---------------------------------------------------------------------------------------
# shards
# ---------------------------------------------------------------------------------------
@dataclass
class _ShardStats:
    shard: int
    messages: int = 0
    conversations: int = 0
    failed: int = 0
    warnings: int = 0
    levels: Counter[str] = field(default_factory=Counter)
    events: Counter[str] = field(default_factory=Counter)
    rules: Counter[str] = field(default_factory=Counter)
    report: _ShardReport | None = None  # what the HTML report needs, when one is wanted


# ---------------------------------------------------------------------------------------
# the HTML report's figures, gathered per shard in flat memory
# ---------------------------------------------------------------------------------------
_REPORT_MESSAGES = 30  # messages kept per shown conversation (the riskiest ones)


class _Ranked:
    """A conversation in the top-N heap: the heap's minimum is the one to drop first
    (lowest peak score; among equal scores the highest conversation id), so the top N
    are the same whichever shards and workers saw them."""

    __slots__ = ("conversation", "score")

    def __init__(self, conversation: ShownConversation) -> None:
        self.conversation = conversation
        self.score = conversation.score

    def __lt__(self, other: _Ranked) -> bool:
        return (self.score, other.conversation.conversation_id) < (
            other.score, self.conversation.conversation_id)


# a kept message: (score, -index, row, level, findings); the first two order the heap
_Kept = tuple[float, int, Row, str, list[dict[str, Any]]]


class _ShardReport:
    """Histogram counts of message and conversation scores and a bounded heap of the
    shard's riskiest conversations (by peak conversation score).

    Rows of one conversation arrive together (the shard is sorted by conversation), so
    only the current conversation is open; of it, the ``_REPORT_MESSAGES`` highest-scoring
    messages are kept. Texts are masked (and long ones clipped) when a conversation enters
    the heap, so raw chat text never leaves the worker and memory stays bounded by
    ``top`` conversations of at most ``_REPORT_MESSAGES`` clipped messages each.
    """

    def __init__(self, top: int) -> None:
        self.top_n = top
        self.message_hist = [0] * BINS
        self.conversation_hist = [0] * BINS
        self.top: list[_Ranked] = []
        self._cid: str | None = None
        self._peak = 0.0
        self._peak_level = "none"
        self._rules: set[str] = set()
        self._kept: list[_Kept] = []
        self._count = 0

    def add(self, row: Row, result: dict[str, Any]) -> None:
        if row.conversation_id != self._cid:
            self._close()
            self._cid = row.conversation_id
        self.message_hist[bin_of(result["score"])] += 1
        cs = result["conversation_score"]
        if cs > self._peak or self._count == 0:
            self._peak, self._peak_level = cs, result["conversation_level"]
        findings = result["findings"]
        if findings:
            self._rules.update(f["rule_id"] for f in findings)
        item: _Kept = (result["score"], -self._count, row, result["level"], findings)
        self._count += 1
        if len(self._kept) < _REPORT_MESSAGES:
            heapq.heappush(self._kept, item)
        else:
            heapq.heappushpop(self._kept, item)

    def _close(self) -> None:
        if self._cid is None:
            return
        self.conversation_hist[bin_of(self._peak)] += 1
        cid, peak = self._cid, self._peak
        full = len(self.top) >= self.top_n
        worst = self.top[0].conversation if self.top else None
        if not full or (worst is not None and (peak, worst.conversation_id) > (worst.score, cid)):
            ranked = _Ranked(self._shown())
            if full:
                heapq.heapreplace(self.top, ranked)
            else:
                heapq.heappush(self.top, ranked)
        self._cid, self._peak, self._peak_level, self._count = None, 0.0, "none", 0
        self._rules = set()
        self._kept = []

    def _shown(self) -> ShownConversation:
        messages: list[ShownMessage] = []
        for score, _, row, level, findings in sorted(self._kept, key=lambda k: -k[1]):
            spans = [Span(f["start"], f["end"], f["rule_id"], f["category"]) for f in findings]
            text, moved = clip_message(*mask_message(row.text, spans))
            messages.append(ShownMessage(row.sender_id, text, score, level, moved, masked=True))
        hidden = self._count - len(messages)
        note = (f"{self._count:,} messages; the {len(messages)} highest-scoring shown"
                if hidden else "")
        assert self._cid is not None
        return ShownConversation(self._cid, self._peak, self._peak_level,
                                 sorted(self._rules), messages, note)

    def finish(self) -> _ShardReport:
        """Close the last conversation; the object then travels back to the parent."""
        self._close()
        return self


@dataclass
class _Job:
    """What every shard needs; set before the workers fork, so they inherit it."""

    detector: Detector
    folder: Path
    sources: list[str]
    runs: list[list[tuple[int, int]]]
    batch_size: int
    progress: Synchronized[int] | None = None  # messages done, shared by the workers
    tick: Callable[[int], None] | None = None  # in-process: called with each batch's size
    report_top: int = 0  # riskiest conversations kept per shard; 0: no report
    held: list[list[Row]] | None = None  # per shard, sorted: the input fitted in memory


# the job of the worker processes: set by the pool's initializer, which under fork receives
# the job (detector included) by inheritance, not by pickling
_WORKER: dict[str, _Job] = {}


def _init_worker(job: _Job) -> None:
    _WORKER["job"] = job


def _scan_shard_in_worker(shard: int) -> _ShardStats:
    return _scan_shard(_WORKER["job"], shard)


def _shard_paths(folder: Path, shard: int) -> tuple[Path, Path, Path]:
    return (folder / f"results-{shard}.jsonl", folder / f"events-{shard}.jsonl",
            folder / f"problems-{shard}.jsonl")


def _scan_shard(job: _Job, shard: int) -> _ShardStats:
    """Scan one shard: merge its sorted runs and feed them, in batches, to its own guard."""
    from .guard import Guard
    from .state.memory import MemoryStore

    # conversations arrive one after another: the store needs only the recent ones
    guard = Guard(job.detector, store=MemoryStore(max_conversations=4096))
    scanner = BatchScanner(guard)
    stats = _ShardStats(shard)
    rows: Iterator[Row] = iter(())
    if job.held is None:  # the shard's sorted runs on disk, merged
        spill, runs = _compact_runs(job.folder / f"spill-{shard}.bin", job.runs[shard])
        streams = [_read_run(spill, off, n) for off, n in runs]
        rows = streams[0] if len(streams) == 1 else heapq.merge(*streams)
    res_path, ev_path, pr_path = _shard_paths(job.folder, shard)
    last_conv: str | None = None
    collect = _ShardReport(job.report_top) if job.report_top else None
    with open(res_path, "wb") as res, open(ev_path, "wb") as ev, open(pr_path, "wb") as pr:

        line = ResultWriter().line

        def run(batch: list[Row]) -> None:
            nonlocal last_conv
            out = scanner._scan(batch)
            fed, verdicts, readings = out.rows, out.verdicts, out.readings
            res.write(b"".join([line(row, v, reading)
                                for row, v, reading in zip(fed, verdicts, readings,
                                                           strict=True)]))
            for _, evs in out.fired:
                for e in evs:
                    ev.write(event_json(e))
                    stats.events[e.kind] += 1
            for p in out.problems:
                pr.write(_problem_json(p, job.sources))
                if p.severity == "error":
                    stats.failed += 1
                else:
                    stats.warnings += 1
            stats.levels.update(v.level for v in verdicts)
            for row in fed:
                if row.conversation_id != last_conv:
                    stats.conversations += 1
                    last_conv = row.conversation_id
            for v in verdicts:
                if v.findings:
                    stats.rules.update({f.rule_id for f in v.findings if not f.suppressed})
            if collect is not None:
                for row, v, reading in zip(fed, verdicts, readings, strict=True):
                    collect.add(row, result_dict(row, v, reading))
            stats.messages += len(fed)
            if job.progress is not None:
                with job.progress.get_lock():
                    job.progress.value += len(batch)
            if job.tick is not None:
                job.tick(len(batch))

        size = job.batch_size
        if job.held is not None:
            held = job.held[shard]
            for i in range(0, len(held), size):
                run(held[i : i + size])
        else:
            batch: list[Row] = []
            for row in rows:
                batch.append(row)
                if len(batch) >= size:
                    run(batch)
                    batch = []
            if batch:
                run(batch)
    guard.close()
    if collect is not None:
        stats.report = collect.finish()
    return stats


def _problem_json(p: Problem, sources: Sequence[str]) -> bytes:
    return json.dumps(p.to_dict(sources[p.src]), ensure_ascii=False).encode(
        "utf-8", "backslashreplace") + b"\n"


def _warm_up(detector: Detector) -> None:
    """Load everything lazy (jieba's dictionary, the guard's modules) before forking, so
    workers share it copy-on-write instead of each loading it again."""
    from .guard import Guard

    detector.warm_up()
    with Guard(detector) as g:
        g.feed_many_detailed([{
            "message_id": "warm-up", "conversation_id": "warm-up", "sender_id": "a",
            "recipient_id": "b", "text": "加我薇信，带你投资稳赚不赔，先转账五千试试",
            "sent_at": 0,
        }])


# ---------------------------------------------------------------------------------------
# the scan
# ---------------------------------------------------------------------------------------
def run_scan(
    options: ScanOptions,
    *,
    detector: Detector | None = None,
    stderr: TextIO | None = None,
    on_ready: Callable[[], None] | None = None,
) -> ScanSummary:
    """Run a scan; return its summary (``summary.exit_code`` says whether rows failed).

    Raises :class:`~chatguard.errors.ChatguardError` when the scan cannot run at all (an
    input cannot be opened, an output cannot be written, options are invalid); a bad row
    never raises, it goes to the errors file.

    ``on_ready`` is called once the detector is built and warmed up, before reading: the
    scan command, which owns its process, freezes the garbage collector's view of the
    detector there (:func:`gc.freeze`); a library caller's process is not the scan's to
    tune.
    """
    err = stderr if stderr is not None else sys.stderr
    t_start = time.monotonic()
    if detector is None:
        from .detector import Detector as _Detector

        detector = _Detector.from_rules(*options.rules) if options.rules else _Detector.default()
    _warm_up(detector)
    if on_ready is not None:
        on_ready()
    t0 = time.monotonic()
    workers = options.workers or (os.cpu_count() or 1)
    workers = max(1, min(workers, options.shards))
    summary = ScanSummary(inputs=list(options.inputs), workers=workers, shards=options.shards,
                          results=str(options.results), events_path=str(options.events),
                          errors_path=str(options.errors_path),
                          report="" if options.report is None else str(options.report))
    outputs: tuple[Path, ...] = (options.results, options.events, options.errors_path)
    sources = list(options.inputs)
    for name in sources:  # fail before anything is written, not halfway through
        if name != "-" and not os.path.isfile(name):
            raise InputError("cannot open: no such file", source=name)
    inputs = {os.path.realpath(n) for n in sources if n != "-"}
    for out in outputs:
        if os.path.realpath(out) in inputs:
            raise ConfigError(f"{out} is also an input; it would be overwritten")
    if len({os.path.realpath(o) for o in outputs}) != len(outputs):
        raise ConfigError("--results, --events and --errors must be three different files")
    if options.report is not None:
        if os.path.realpath(options.report) in inputs:
            raise ConfigError(f"{options.report} is also an input; it would be overwritten")
        if os.path.realpath(options.report) in {os.path.realpath(o) for o in outputs}:
            raise ConfigError("--report must differ from --results, --events and --errors")
        outputs = (*outputs, options.report)
    for out in outputs:
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.open("wb").close()
        except OSError as exc:
            raise ConfigError(f"cannot write {out}: {exc.strerror}") from None
    progress = _Progress(err, enabled=not options.quiet and _isatty(err))
    with tempfile.TemporaryDirectory(prefix=".chatguard-scan-", dir=options.results.parent) as tmp:
        folder = Path(tmp)
        read_problems = folder / "problems-read.jsonl"
        spill = _Spill(folder, options.shards, options.spill_bytes)
        try:
            with open(read_problems, "wb") as pr:
                _read_all(sources, options, spill, pr, summary, progress)
        finally:
            spill.close(copies=workers)
        t_read = time.monotonic()
        summary.read_seconds = t_read - t0
        total = sum(spill.counts)

        job = _Job(detector, folder, sources, spill.runs, options.batch_size,
                   report_top=options.report_top if options.report is not None else 0,
                   held=spill.held)
        shards = [s for s in range(options.shards) if spill.counts[s]]
        stats: list[_ShardStats] = []
        progress.phase("scan", total, "msg")
        if workers == 1 or len(shards) <= 1:
            done = [0]

            def tick(n: int) -> None:
                done[0] += n
                progress.update(done[0])

            job.tick = tick
            for s in shards:
                stats.append(_scan_shard(job, s))
                if job.held is not None:
                    job.held[s] = []  # scanned: its rows can go
        else:
            ctx = multiprocessing.get_context("fork")
            job.progress = ctx.Value("q", 0)
            with ctx.Pool(min(workers, len(shards)), _init_worker, (job,)) as pool:
                it = pool.imap_unordered(_scan_shard_in_worker, shards)
                while len(stats) < len(shards):
                    with contextlib.suppress(multiprocessing.TimeoutError):
                        stats.append(it.next(timeout=0.2))
                    progress.update(job.progress.value)
        progress.update(total, force=True)
        progress.close()
        t_scan = time.monotonic()
        summary.scan_seconds = t_scan - t_read

        stats.sort(key=lambda x: x.shard)
        _concat(options.results, [_shard_paths(folder, s)[0] for s in shards])
        _concat(options.events, [_shard_paths(folder, s)[1] for s in shards])
        _concat(options.errors_path, [read_problems, *(_shard_paths(folder, s)[2] for s in shards)])
        summary.write_seconds = time.monotonic() - t_scan

    rules: Counter[str] = Counter()
    for st in stats:
        summary.messages += st.messages
        summary.conversations += st.conversations
        summary.failed_rows += st.failed
        summary.warnings += st.warnings
        for k, v in st.levels.items():
            summary.levels[k] = summary.levels.get(k, 0) + v
        for k, v in st.events.items():
            summary.events[k] = summary.events.get(k, 0) + v
        rules.update(st.rules)
    summary.top_rules = sorted(rules.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    summary.seconds = time.monotonic() - t0
    summary.startup_seconds = t0 - t_start
    if options.summary_json is not None:
        try:
            options.summary_json.write_text(
                json.dumps(summary.to_dict(), ensure_ascii=False, indent=2) + "\n",
                encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot write {options.summary_json}: {exc.strerror}") from None
    if options.report is not None:
        write_html(_scan_report(summary, stats, options, detector.fingerprint), options.report)
    return summary


def _scan_report(summary: ScanSummary, stats: Sequence[_ShardStats], options: ScanOptions,
                 fingerprint: str) -> Report:
    """The HTML report of a scan: the summary's figures, the shards' histogram counts
    added up and their top conversations merged (peak score, then conversation id)."""
    message_hist = [0] * BINS
    conversation_hist = [0] * BINS
    ranked: list[ShownConversation] = []
    for st in stats:
        if st.report is None:  # pragma: no cover - every shard collects when asked to
            continue
        message_hist = [a + b for a, b in zip(message_hist, st.report.message_hist, strict=True)]
        conversation_hist = [a + b for a, b in zip(conversation_hist,
                                                   st.report.conversation_hist, strict=True)]
        ranked.extend(r.conversation for r in st.report.top)
    ranked.sort(key=lambda c: (-c.score, c.conversation_id))
    top = ranked[: options.report_top]

    n = summary.messages

    def share(k: int) -> str:
        return f"{k / n:.2%}" if n else "—"

    levels = summary.levels
    flagged = levels.get("high", 0) + levels.get("critical", 0)
    figures = [
        Figure("messages", f"{n:,}"),
        Figure("conversations", f"{summary.conversations:,}"),
        Figure("high or critical", f"{flagged:,}", f"{share(flagged)} of messages"),
        *(Figure(kind.replace("_", " ") + "s", f"{summary.events.get(kind, 0):,}", "events")
          for kind in _EVENT_KINDS),
    ]
    if summary.failed_rows or summary.warnings:
        figures.append(Figure("rows failed", f"{summary.failed_rows:,}",
                              f"{summary.warnings:,} warnings; see {summary.errors_path}"))
    figures.append(Figure(
        "messages / second", f"{summary.messages_per_second:,.0f}",
        f"{summary.seconds:.2f} s, {summary.workers} worker"
        f"{'s' if summary.workers != 1 else ''}", run=True))
    tables = [
        Table("Messages by level", ["level", "messages", "share"],
              [[lv, levels.get(lv, 0), share(levels.get(lv, 0))] for lv in _LEVELS]),
        Table("Events by kind", ["kind", "events"],
              [[k, summary.events.get(k, 0)] for k in _EVENT_KINDS]),
        Table("Top rules", ["rule", "messages", "share of messages"],
              [[r, k, share(k)] for r, k in summary.top_rules]),
    ]
    inputs = ", ".join(summary.inputs)
    return Report(
        title="chatguard scan",
        subtitle=f"{inputs} · rule set {fingerprint[:16]} · {options.shards} shards",
        figures=figures,
        histograms=[
            Histogram("messages", (), counts=message_hist, group="Message scores",
                      unit="messages"),
            Histogram("conversations", (), counts=conversation_hist,
                      group="Conversation scores (peak)", unit="conversations"),
        ],
        tables=tables,
        conversations=top,
        conversations_title=f"Riskiest conversations (top {options.report_top}, by peak "
                            "conversation score)",
        notes=[
            "Phone numbers, bank cards, wallet addresses, e-mail addresses and WeChat / QQ "
            "ids are masked; highlighted words are the rules' findings (hover for the rule).",
            f"Each of the {options.shards} shards has its own guard: what the guard learns "
            "across conversations is seen within a shard.",
            "Throughput depends on the machine and on --workers; every other figure "
            "depends only on the input, the rules and --shards.",
        ],
    )


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _read_all(names: list[str], options: ScanOptions, spill: _Spill, pr: BinaryIO,
              summary: ScanSummary, progress: _Progress) -> None:
    """Read, parse and validate every input row, one input open at a time; valid rows go
    to the spill, the others to the read-phase problems file, in input order."""
    sizes = [None if n == "-" else os.path.getsize(n) for n in names]
    total = None if None in sizes else sum(x or 0 for x in sizes)
    progress.phase("read", total, "B")
    before = 0
    pos = 0

    def problem(p: Problem) -> None:
        pr.write(_problem_json(p, names))
        if p.severity == "error":
            summary.failed_rows += 1
        else:
            summary.warnings += 1

    for src, name in enumerate(names):
        with contextlib.closing(_Source(name, options.format, options.max_line_bytes)) as source:
            rows = _read_source(src, source, spill, problem, summary, progress, before, pos)
        pos += rows + 1
        summary.rows += rows
        before += source.size or 0
    progress.update(before, force=True)
    progress.close()


def _read_source(src: int, source: _Source, spill: _Spill,
                 problem: Callable[[Problem], None], summary: ScanSummary,
                 progress: _Progress, before: int, pos: int) -> int:
    """The rows of one input (see :func:`_read_all`), positions from ``pos`` on; returns
    how many rows (non-blank lines) there were."""
    known = KNOWN_FIELDS
    unknown: set[str] = set()
    rows = 0
    for line, item in source.rows():
        if item is _BLANK:
            summary.blank_lines += 1
            continue
        rows += 1
        if isinstance(item, _Bad):
            problem(Problem(src, line, "error", item.reason))
            continue
        if isinstance(item, dict) and not item.keys() <= known:
            for k in sorted(item.keys() - known - unknown):
                unknown.add(k)
                problem(Problem(src, line, "warning",
                                f"unknown column {k!r} ignored (first seen on this line)"))
        r = validate_row(item, pos=pos + rows, src=src, line=line)
        if isinstance(r, str):
            mid = item.get("message_id") if isinstance(item, dict) else None
            problem(Problem(src, line, "error", r, mid if isinstance(mid, str) else None))
        else:
            spill.add(r)
        if rows & 1023 == 0:
            progress.update(before + source.consumed())
    if rows == 0:
        problem(Problem(src, 0, "warning", "empty input: no rows"))
    return rows


def _concat(target: Path, parts: Sequence[Path]) -> None:
    with open(target, "wb") as out:
        for part in parts:
            with open(part, "rb") as f:
                shutil.copyfileobj(f, out, 1 << 20)


# ---------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------
def add_scan_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """Register ``chatguard scan`` on the CLI's subparsers."""
    p = sub.add_parser(
        "scan", help="scan chat logs (JSONL / CSV / Parquet) through the conversation guard",
        description="Scan chat logs through the conversation guard: one results row per "
                    "message, the guard's events, malformed rows in an errors file. Exit "
                    "status 1 when any row failed.")
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="input files (gzip accepted); '-' reads stdin")
    p.add_argument("--results", required=True, type=Path,
                   help="results JSONL, one row per message")
    p.add_argument("--events", required=True, type=Path,
                   help="events JSONL, as the guard emits them")
    p.add_argument("--errors", type=Path,
                   help="rows that failed or need a look, with line and reason "
                        "(default: RESULTS_STEM.errors.jsonl beside the results)")
    p.add_argument("--rules", action="append", metavar="DIR",
                   help="rule pack directory (repeatable; default: the bundled zh-CN pack)")
    p.add_argument("--workers", type=int, default=1,
                   help="worker processes (0: one per CPU; default 1); the output does not "
                        "depend on it")
    p.add_argument("--format", choices=FORMATS, default="auto",
                   help="input format (default: from the file name; stdin is JSONL)")
    p.add_argument("--shards", type=int, default=16,
                   help="conversation shards, each with its own guard (default 16; the "
                        "output depends on it, not on --workers)")
    p.add_argument("--max-line-bytes", type=int, default=1 << 20,
                   help="longer input lines are reported, not scanned (default 1 MiB)")
    p.add_argument("--summary-json", type=Path, help="also write the summary as JSON here")
    p.add_argument("--report", type=Path, metavar="HTML",
                   help="also write a self-contained HTML report: figures, score "
                        "histograms, top rules, the riskiest conversations (texts masked)")
    p.add_argument("--report-top", type=int, metavar="N",
                   help="riskiest conversations shown in the report (default 20)")
    p.add_argument("--quiet", "-q", action="store_true",
                   help="no progress bar and no summary on stderr")
    return p


def run_scan_command(args: argparse.Namespace, *, stderr: TextIO | None = None) -> int:
    """``chatguard scan`` from parsed arguments; returns the exit status."""
    err = stderr if stderr is not None else sys.stderr
    report: Path | None = getattr(args, "report", None)
    report_top: int | None = getattr(args, "report_top", None)
    if report_top is not None and report is None:
        raise ConfigError("--report-top needs --report")
    options = ScanOptions(
        inputs=tuple(args.inputs), results=args.results, events=args.events,
        errors=args.errors, rules=tuple(args.rules or ()), workers=args.workers,
        format=args.format, quiet=args.quiet, summary_json=args.summary_json,
        shards=args.shards, max_line_bytes=args.max_line_bytes,
        report=report, report_top=report_top if report_top is not None else 20,
    )
    # The detector's hundreds of thousands of objects live as long as the process: frozen,
    # the collector stops walking them on every full collection (about 50 ms each, several
    # per 100,000 rows), and forked workers stop copying their pages by touching them.
    try:
        summary = run_scan(options, stderr=err, on_ready=gc.freeze)
    finally:
        gc.unfreeze()  # a caller running the command in-process gets its collector back
    if not options.quiet:
        print(summary.render(), file=err)
        if options.report is not None:
            print(f"  report:    {options.report}", file=err)
    return summary.exit_code

