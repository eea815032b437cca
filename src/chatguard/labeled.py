"""Labeled data for ``chatguard eval`` and ``chatguard fit``: messages and conversations.

Rule authors measure a pack on data they did not write the rules from, and that data comes
in whatever shape its publisher chose. Every loader here produces the same two nouns,
:class:`LabeledMessage` and :class:`LabeledConversation`, each remembering the file and line
it came from, so a surprising result (or a malformed row) can be traced back to its source.

Formats (sniffed per row, so one JSONL file may mix messages and conversations):

* **message rows** (JSONL): ``text`` (or ``content``), ``label``, optional ``category``,
  ``id``, ``disguise``;
* **conversation rows** (JSONL): ``turns``, a list of ``{"sender", "text"}`` (``speaker`` /
  ``role`` and ``content`` are accepted too; turns without a sender alternate between
  ``a`` and ``b``), ``label``, optional ``category`` (or ``scenario``), ``id`` (or
  ``dialogue_id``);
* **segment rows** (JSONL): ``input`` holding ``speaker: text`` lines, ``label``, as in the
  golfxiao ``test0902`` / ``eval0902`` files;
* **CSV** with a header: a text column (``text`` / ``content``) and a label column
  (``label`` / ``is_fraud`` / ``is_scam`` / ``is_spam``), one message per row;
* **TSV** without a header: ``label<TAB>text``, as the SMS Spam Collection ships.

Labels: ``0`` / ``1``, ``true`` / ``false``, or a word: :data:`POSITIVE_LABELS` mean scam,
:data:`NEGATIVE_LABELS` mean benign (case-insensitive). Anything else is an
:class:`~chatguard.errors.InputError` naming the file and line.

A folder is read through an adapter picked from the files inside (:data:`ADAPTERS`: the
public golfxiao anti-fraud, TeleAntiFraud and SMS Spam Collection layouts); any other folder
yields one set per data file in it, and a folder of such folders yields all of them.
``PATH:part`` picks one part of a folder (``golfxiao_anti_fraud:utterances``) or forces how
a file is read (``rows.txt:jsonl``).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from .errors import InputError

__all__ = [
    "ADAPTERS",
    "NEGATIVE_LABELS",
    "POSITIVE_LABELS",
    "Adapter",
    "LabeledConversation",
    "LabeledMessage",
    "LabeledSet",
    "Turn",
    "load",
    "load_file",
    "parse_label",
]

#: Label words read as 1 (scam) ...
POSITIVE_LABELS: Final = frozenset(
    {"1", "true", "yes", "scam", "fraud", "spam", "positive", "pos", "risky", "malicious"})
#: ... and as 0 (benign).
NEGATIVE_LABELS: Final = frozenset(
    {"0", "false", "no", "benign", "normal", "ham", "negative", "neg", "legit", "clean"})

_TEXT_KEYS: Final = ("text", "content")
_LABEL_KEYS: Final = ("label", "is_fraud", "is_scam", "is_spam")
_SENDER_KEYS: Final = ("sender", "speaker", "role")
_CATEGORY_KEYS: Final = ("category", "scenario")
_ID_KEYS: Final = ("id", "dialogue_id", "message_id", "conversation_id")
_FORMATS: Final = ("jsonl", "csv", "tsv")


@dataclass(frozen=True, slots=True)
class LabeledMessage:
    """One labeled message; ``source`` and ``line`` say where it was read."""

    id: str
    text: str
    label: int
    category: str
    source: str
    line: int
    disguise: str = ""


@dataclass(frozen=True, slots=True)
class Turn:
    """One turn of a labeled conversation."""

    sender: str
    text: str


@dataclass(frozen=True, slots=True)
class LabeledConversation:
    """One labeled conversation (a dialogue, a call, a chat segment)."""

    id: str
    turns: tuple[Turn, ...]
    label: int
    category: str
    source: str
    line: int
    disguise: str = ""


@dataclass(slots=True)
class LabeledSet:
    """What one file (or one part of an adapted folder) holds."""

    name: str
    source: str
    messages: list[LabeledMessage] = field(default_factory=list)
    conversations: list[LabeledConversation] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.messages) + len(self.conversations)


@dataclass(frozen=True, slots=True)
class Adapter:
    """A published data set's folder layout: ``marker`` files identify it, ``parts`` name
    the files read by default (part name → file name, and how to read it)."""

    name: str
    marker: frozenset[str]
    parts: tuple[tuple[str, str, str], ...]  # (part, file name, format)


#: Folder layouts of the public sets, checked in order; the first whose markers are all
#: present is used. ``sms_spam_collection`` also ships a CSV copy of the same messages,
#: which the adapter leaves out so nothing is counted twice.
ADAPTERS: Final[tuple[Adapter, ...]] = (
    Adapter("golfxiao_anti_fraud", frozenset({"dialogues.jsonl", "utterances.csv"}), (
        ("dialogues", "dialogues.jsonl", "jsonl"),
        ("test0902", "test0902.jsonl", "jsonl"),
        ("eval0902", "eval0902.jsonl", "jsonl"),
        ("utterances", "utterances.csv", "csv"),
    )),
    Adapter("sms_spam_collection", frozenset({"SMSSpamCollection.tsv"}), (
        ("messages", "SMSSpamCollection.tsv", "tsv"),
    )),
)


def parse_label(value: object, *, source: str = "<input>", line: int | None = None) -> int:
    """A row's label as 0 / 1 (see :data:`POSITIVE_LABELS`, :data:`NEGATIVE_LABELS`)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float) and value in (0, 1):
        return int(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in POSITIVE_LABELS:
            return 1
        if word in NEGATIVE_LABELS:
            return 0
    raise InputError(f"label {value!r} is neither 0/1 nor a known word "
                     "(scam/fraud/spam or benign/normal/ham)", source=source, line=line)


# ---------------------------------------------------------------------------------------
# rows
# ---------------------------------------------------------------------------------------
def _first(row: dict[str, Any], keys: Sequence[str]) -> Any:
    for k in keys:
        if k in row and row[k] is not None:
            return row[k]
    return None


def _str_field(row: dict[str, Any], keys: Sequence[str], default: str, what: str,
               source: str, line: int) -> str:
    value = _first(row, keys)
    if value is None:
        return default
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise InputError(f"{what} must be a string, not {type(value).__name__}",
                     source=source, line=line)


def _label_of(row: dict[str, Any], source: str, line: int) -> int:
    value = _first(row, _LABEL_KEYS)
    if value is None:
        raise InputError("missing 'label'", source=source, line=line)
    return parse_label(value, source=source, line=line)


def _row(row: object, lset: LabeledSet, source: str, line: int) -> None:
    """One JSON row into ``lset``: a conversation, a segment or a message."""
    if not isinstance(row, dict):
        raise InputError(f"expected a JSON object, got {type(row).__name__}",
                         source=source, line=line)
    label = _label_of(row, source, line)
    category = _str_field(row, _CATEGORY_KEYS, "scam" if label else "benign", "category",
                          source, line)
    disguise = _str_field(row, ("disguise",), "", "disguise", source, line)
    default_id = f"{lset.name}:{line}"
    ident = _str_field(row, _ID_KEYS, default_id, "id", source, line)
    if "turns" in row:
        raw = row["turns"]
        if not isinstance(raw, list):
            raise InputError("'turns' must be a list", source=source, line=line)
        turns: list[Turn] = []
        for i, t in enumerate(raw):
            if not isinstance(t, dict):
                raise InputError(f"turn {i} must be an object with sender and text",
                                 source=source, line=line)
            text = _first(t, _TEXT_KEYS)
            if not isinstance(text, str):
                raise InputError(f"turn {i} has no text string", source=source, line=line)
            # no sender: the two sides take turns, as a chat without names reads
            sender = _str_field(t, _SENDER_KEYS, "ab"[i % 2], f"turn {i} sender", source,
                                line)
            turns.append(Turn(sender, text))
        lset.conversations.append(LabeledConversation(
            ident, tuple(turns), label, category, source, line, disguise))
    elif "input" in row and _first(row, _TEXT_KEYS) is None:
        text = row["input"]
        if not isinstance(text, str):
            raise InputError("'input' must be a string", source=source, line=line)
        seg: list[Turn] = []
        for part in text.splitlines():
            speaker, sep, said = part.partition(": ")
            seg.append(Turn(speaker, said) if sep else Turn("?", part))
        if "category" not in row:
            category = "fraud" if label else "normal"
        lset.conversations.append(LabeledConversation(
            ident, tuple(seg), label, category, source, line, disguise))
    else:
        text = _first(row, _TEXT_KEYS)
        if not isinstance(text, str):
            raise InputError("missing 'text' (a string), 'turns' or 'input'",
                             source=source, line=line)
        lset.messages.append(LabeledMessage(ident, text, label, category, source, line,
                                            disguise))


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """Decoded lines with their 1-based numbers; a BOM and CRLF are tolerated, invalid
    UTF-8 is reported with its line."""
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", source=str(path)) from None
    with fh:
        for n, raw in enumerate(fh, 1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InputError(f"invalid UTF-8 at byte {exc.start}", source=str(path),
                                 line=n) from None
            if n == 1:
                text = text.removeprefix("\ufeff")
            yield n, text.rstrip("\r\n")


def _read_jsonl(path: Path, lset: LabeledSet, limit: int | None) -> None:
    src = str(path)
    for n, text in _lines(path):
        if not text.strip():
            continue
        try:
            row = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"invalid JSON: {exc.msg} (column {exc.colno})", source=src,
                             line=n) from None
        _row(row, lset, src, n)
        if limit is not None and len(lset) >= limit:
            return


def _read_tsv(path: Path, lset: LabeledSet, limit: int | None) -> None:
    src = str(path)
    for n, text in _lines(path):
        if not text.strip():
            continue
        tag, sep, body = text.partition("\t")
        if not sep:
            raise InputError("expected 'label<TAB>text'", source=src, line=n)
        label = parse_label(tag, source=src, line=n)
        lset.messages.append(LabeledMessage(f"{lset.name}:{n}", body, label,
                                            tag.strip().lower(), src, n))
        if limit is not None and len(lset) >= limit:
            return


def _read_csv(path: Path, lset: LabeledSet, limit: int | None) -> None:
    src = str(path)
    try:
        data = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", source=src) from None
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise InputError(f"invalid UTF-8 at byte {exc.start}", source=src, line=line) from None
    reader = csv.DictReader(io.StringIO(data, newline=""))
    header = reader.fieldnames or []
    text_key = next((k for k in _TEXT_KEYS if k in header), None)
    label_key = next((k for k in ("is_fraud", "is_scam", "is_spam", "label") if k in header),
                     None)
    if text_key is None or label_key is None:
        raise InputError(f"the CSV header needs a text column ({', '.join(_TEXT_KEYS)}) and a "
                         f"label column ({', '.join(_LABEL_KEYS)}); it has {header}",
                         source=src, line=1)
    try:
        for row in reader:
            n = reader.line_num
            text = row.get(text_key)
            if text is None:
                raise InputError(f"row has fewer columns than the header ({len(header)})",
                                 source=src, line=n)
            label = parse_label(row.get(label_key), source=src, line=n)
            if row.get("dialogue_id") and row.get("turn_idx") is not None:
                ident = f"{row['dialogue_id']}#{row['turn_idx']}"
            else:
                ident = row.get("id") or row.get("message_id") or f"{lset.name}:{n}"
            category = (row.get("category") or row.get("scenario")
                        or ("scam" if label else "benign"))
            lset.messages.append(LabeledMessage(ident, text, label, category, src, n,
                                                row.get("disguise") or ""))
            if limit is not None and len(lset) >= limit:
                return
    except csv.Error as exc:
        raise InputError(f"malformed CSV: {exc}", source=src, line=reader.line_num) from None


def _sniff(path: Path) -> str:
    """How to read a file: by its suffix, else by its first non-empty line."""
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix == ".csv":
        return "csv"
    if suffix == ".tsv":
        return "tsv"
    for _, text in _lines(path):
        stripped = text.strip()
        if not stripped:
            continue
        if stripped.startswith("{"):
            return "jsonl"
        if "\t" in text:
            return "tsv"
        if "," in text:
            return "csv"
        break
    raise InputError("cannot tell the format (JSONL rows, a CSV header or label<TAB>text); "
                     "name it with PATH:jsonl, PATH:csv or PATH:tsv", source=str(path), line=1)


def load_file(path: str | Path, fmt: str = "auto", *, name: str | None = None,
              limit: int | None = None) -> LabeledSet:
    """One labeled file; ``fmt`` is ``auto`` (sniffed), ``jsonl``, ``csv`` or ``tsv``.

    ``limit`` stops after that many items (the first ones in the file).
    """
    p = Path(path)
    if not p.is_file():
        raise InputError("no such file", source=str(p))
    kind = _sniff(p) if fmt == "auto" else fmt
    lset = LabeledSet(name or p.stem, str(p))
    if kind == "jsonl":
        _read_jsonl(p, lset, limit)
    elif kind == "csv":
        _read_csv(p, lset, limit)
    elif kind == "tsv":
        _read_tsv(p, lset, limit)
    else:
        raise InputError(f"unknown format {fmt!r} (expected one of {', '.join(_FORMATS)})",
                         source=str(p))
    return lset


def _listing(folder: Path) -> list[Path]:
    try:
        return sorted(folder.iterdir())
    except OSError as exc:
        raise InputError(f"cannot list the folder: {exc.strerror}", source=str(folder)) from None


def _data_files(folder: Path) -> list[Path]:
    return [p for p in _listing(folder)
            if p.is_file() and p.suffix.lower() in (".jsonl", ".ndjson", ".csv", ".tsv")]


def _load_folder(folder: Path, part: str | None, limit: int | None) -> list[LabeledSet]:
    names = {p.name for p in _listing(folder)}
    for ad in ADAPTERS:
        if ad.marker <= names:
            parts = ad.parts if part is None else tuple(x for x in ad.parts if x[0] == part)
            if not parts:
                raise InputError(f"no part {part!r} in a {ad.name} folder (parts: "
                                 f"{', '.join(x[0] for x in ad.parts)})", source=str(folder))
            return [load_file(folder / file, fmt, name=f"{folder.name}/{pname}", limit=limit)
                    for pname, file, fmt in parts if (folder / file).is_file()]
    files = _data_files(folder)
    if part is not None:
        files = [f for f in files if f.stem == part]
        if not files:
            raise InputError(f"no data file named {part!r} here", source=str(folder))
    if files:
        return [load_file(f, name=f"{folder.name}/{f.stem}", limit=limit) for f in files]
    subs = [p for p in _listing(folder) if p.is_dir() and not p.name.startswith(".")]
    out: list[LabeledSet] = []
    for sub in subs:
        if any(ad.marker <= {p.name for p in _listing(sub)} for ad in ADAPTERS) \
                or _data_files(sub):
            out.extend(_load_folder(sub, None, limit))
    if not out:
        raise InputError("no labeled data here (.jsonl, .csv or .tsv files, or folders of "
                         "them)", source=str(folder))
    return out


def _split_spec(spec: str) -> tuple[Path, str | None]:
    """``PATH`` or ``PATH:part``; a path that exists as given wins over the split."""
    if Path(spec).exists() or ":" not in spec:
        return Path(spec), None
    head, _, tail = spec.rpartition(":")
    return Path(head), tail or None


def load(spec: str | Path, *, limit: int | None = None) -> list[LabeledSet]:
    """The labeled sets a ``--data`` argument names: a file, a folder, ``PATH:part``.

    Raises :class:`~chatguard.errors.InputError` naming the file and line of the first
    malformed row, or the path when it holds no labeled data.
    """
    path, part = _split_spec(str(spec))
    if not path.exists():
        raise InputError("no such file or folder", source=str(path))
    if path.is_dir():
        return _load_folder(path, part, limit)
    fmt = part if part is not None else "auto"
    if fmt not in ("auto", *_FORMATS):
        raise InputError(f"unknown format {fmt!r} after ':' (expected one of "
                         f"{', '.join(_FORMATS)})", source=str(path))
    return [load_file(path, fmt, limit=limit)]
