"""``chatguard eval``: rule sets side by side on labeled data.

A rule author changing a pack needs to know whether it catches more scams without flagging
more ordinary members, and on which kinds of scam it gained or lost. So every rule set runs
over exactly the same items and the figures land in one table, one column per rule set.

* **Messages** go through ``Detector.check_many``; a message is *flagged* when its level is
  at least the threshold (default ``medium``, the level at which the member is reminded).
  Precision, recall, F1 and the false-positive rate on benign messages; per data-set
  category the share flagged (recall for scam categories, false-positive rate for benign
  ones); per detector category (the strongest category of a flagged verdict) its precision.
* **Conversations** go turn by turn through a :class:`~chatguard.guard.Guard`
  (``feed_many_detailed``: each turn's verdict and the events a sink would receive; one
  guard per piece of about 8,000 turns; ids unique per conversation, so nothing leaks
  between conversations and the cut changes nothing; turns 90 s apart; the recipient of a
  turn is the other side, or ``others`` when more than two speak). A conversation is
  *detected* when the guard emits any event (warning, blacklist suggestion, SMS alert):
  detection rate on scams, the share of benign conversations with events, and how early:
  the first event's turn against the first *money request*.
* **Money request**: the first turn whose own verdict has a (not suppressed) finding in one
  of :data:`MONEY_CATEGORIES`. Money is what the script is after; diversion, trust and
  investment talk come earlier and are not asked-for money yet. Detected scams are split
  into caught before / at / after that turn (scams with no such turn are counted apart),
  with the median number of turns the first event came before it.

Everything is deterministic except the throughput and seconds figures.
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing
import os
import random
import statistics
import sys
import time
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TextIO

from . import __version__
from .detector import Detector
from .errors import ConfigError, InputError
from .labeled import LabeledConversation, LabeledMessage, LabeledSet, load
from .models import Level, Verdict
from .report import (
    Curve,
    Figure,
    Histogram,
    Report,
    ShownConversation,
    ShownMessage,
    Span,
    Table,
    write_html,
)

__all__ = [
    "MONEY_CATEGORIES",
    "ConversationScores",
    "Counts",
    "EvalResult",
    "MessageScores",
    "RuleSetRef",
    "SetResult",
    "add_eval_parser",
    "evaluate",
    "run_eval_command",
    "sample",
]

#: Finding categories that make a turn a money request (see the module docstring).
#: ``payment_id`` is a bank card or wallet address handed over to be paid into.
MONEY_CATEGORIES: Final = frozenset({
    "money_transfer", "red_packet", "loan_request", "withdrawal_fee", "credit_loan",
    "task_scam", "payment_id",
})
T0: Final = 1_750_000_000.0
STEP: Final = 90.0  # seconds between the turns fed to the guard
_BATCH: Final = 2000  # messages per check_many / feed_many_detailed call
_SHOWN_TURNS: Final = 12  # turns shown per conversation in the report
_PIECE: Final = 8000  # turns per piece of work (see _pieces)


# ---------------------------------------------------------------------------------------
# figures
# ---------------------------------------------------------------------------------------
@dataclass(slots=True)
class Counts:
    """A confusion matrix and the ratios drawn from it (``None`` when undefined)."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def add(self, label: int, flagged: bool) -> None:
        if label:
            if flagged:
                self.tp += 1
            else:
                self.fn += 1
        elif flagged:
            self.fp += 1
        else:
            self.tn += 1

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    @property
    def f1(self) -> float | None:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p is not None and r is not None and p + r else None

    @property
    def fpr(self) -> float | None:
        return self.fp / (self.fp + self.tn) if self.fp + self.tn else None

    def to_dict(self) -> dict[str, Any]:
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn, "tn": self.tn,
                "precision": _r(self.precision), "recall": _r(self.recall),
                "f1": _r(self.f1), "fpr": _r(self.fpr)}


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


@dataclass(slots=True)
class _Cat:
    label: int
    n: int = 0
    hit: int = 0


@dataclass(slots=True)
class MessageScores:
    """One rule set on one message set."""

    counts: Counts = field(default_factory=Counts)
    per_category: dict[str, _Cat] = field(default_factory=dict)
    attributed: dict[str, list[int]] = field(default_factory=dict)  # top category → [n, scam]
    scores: list[float] = field(default_factory=list)
    seconds: float = 0.0
    missed: list[ShownConversation] = field(default_factory=list)
    false_alarms: list[ShownConversation] = field(default_factory=list)

    def merge(self, other: MessageScores, top: int) -> None:
        """Add the figures of the next chunk of the same set (chunks merge in file order)."""
        _add_counts(self.counts, other.counts)
        _add_categories(self.per_category, other.per_category)
        for c, (n, scam) in other.attributed.items():
            att = self.attributed.setdefault(c, [0, 0])
            att[0] += n
            att[1] += scam
        self.scores += other.scores
        self.seconds += other.seconds
        self.missed = (self.missed + other.missed)[:top]
        self.false_alarms = (self.false_alarms + other.false_alarms)[:top]

    def to_dict(self) -> dict[str, Any]:
        n = len(self.scores)
        return {
            **self.counts.to_dict(),
            "per_category": _categories(self.per_category),
            "attributed_precision": {
                c: {"flagged": v[0], "precision": _r(v[1] / v[0])}
                for c, v in sorted(self.attributed.items(), key=lambda kv: (-kv[1][0], kv[0]))},
            "seconds": round(self.seconds, 3),
            "messages_per_second": round(n / self.seconds) if self.seconds > 0 else None,
        }


@dataclass(slots=True)
class ConversationScores:
    """One rule set on one conversation set (through the guard)."""

    counts: Counts = field(default_factory=Counts)  # flagged = any guard event
    turn_flagged: Counts = field(default_factory=Counts)  # any turn's level >= threshold
    per_category: dict[str, _Cat] = field(default_factory=dict)
    before: int = 0
    at: int = 0
    after: int = 0
    no_money_request: int = 0
    leads: list[int] = field(default_factory=list)  # money turn − first event turn
    scores: list[float] = field(default_factory=list)  # peak conversation score
    turns: int = 0
    events: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    missed: list[ShownConversation] = field(default_factory=list)
    false_alarms: list[ShownConversation] = field(default_factory=list)

    def merge(self, other: ConversationScores, top: int) -> None:
        """Add the figures of the next chunk of the same set (chunks merge in file order)."""
        _add_counts(self.counts, other.counts)
        _add_counts(self.turn_flagged, other.turn_flagged)
        _add_categories(self.per_category, other.per_category)
        self.before += other.before
        self.at += other.at
        self.after += other.after
        self.no_money_request += other.no_money_request
        self.leads += other.leads
        self.scores += other.scores
        self.turns += other.turns
        for k, n in other.events.items():
            self.events[k] = self.events.get(k, 0) + n
        self.seconds += other.seconds
        self.missed = (self.missed + other.missed)[:top]
        self.false_alarms = (self.false_alarms + other.false_alarms)[:top]

    def timing(self) -> dict[str, Any]:
        timed = self.before + self.at + self.after
        return {
            "with_money_request": timed,
            "no_money_request": self.no_money_request,
            "before": _r(self.before / timed) if timed else None,
            "at": _r(self.at / timed) if timed else None,
            "after": _r(self.after / timed) if timed else None,
            "median_turns_before": statistics.median(self.leads) if self.leads else None,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.counts.to_dict(),
            "detection_rate": _r(self.counts.recall),
            "benign_with_events": _r(self.counts.fpr),
            "any_turn_flagged": self.turn_flagged.to_dict(),
            "timing": self.timing(),
            "per_category": _categories(self.per_category),
            "events": dict(sorted(self.events.items())),
            "turns": self.turns,
            "seconds": round(self.seconds, 3),
            "turns_per_second": round(self.turns / self.seconds) if self.seconds > 0 else None,
        }


def _add_counts(into: Counts, other: Counts) -> None:
    into.tp += other.tp
    into.fp += other.fp
    into.fn += other.fn
    into.tn += other.tn


def _add_categories(into: dict[str, _Cat], other: dict[str, _Cat]) -> None:
    for c, v in other.items():
        mine = into.setdefault(c, _Cat(v.label))
        mine.n += v.n
        mine.hit += v.hit


def _categories(cats: dict[str, _Cat]) -> list[dict[str, Any]]:
    return [{"category": c, "label": v.label, "n": v.n, "flagged": _r(v.hit / v.n)}
            for c, v in sorted(cats.items(), key=lambda kv: (-kv[1].label, kv[0]))]


@dataclass(frozen=True, slots=True)
class RuleSetRef:
    """A rule set as the table names it: ``name`` (as given), its packs and fingerprint."""

    name: str
    dirs: tuple[str, ...]
    fingerprint: str


@dataclass(slots=True)
class SetResult:
    """One labeled set (messages or conversations of one source), every rule set on it."""

    name: str
    source: str
    unit: str  # "messages" | "conversations"
    n: int
    positives: int
    labels: list[int]
    results: list[MessageScores | ConversationScores]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "source": self.source, "unit": self.unit, "n": self.n,
                "positives": self.positives, "negatives": self.n - self.positives,
                "rulesets": [r.to_dict() for r in self.results]}


@dataclass(slots=True)
class EvalResult:
    """Every rule set on every labeled set: the table, its JSON and its HTML report."""

    threshold: Level
    rulesets: list[RuleSetRef]
    sets: list[SetResult]
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "chatguard": __version__,
            "threshold": self.threshold.label,
            "money_categories": sorted(MONEY_CATEGORIES),
            "rulesets": [{"name": r.name, "dirs": list(r.dirs), "fingerprint": r.fingerprint}
                         for r in self.rulesets],
            "sets": [s.to_dict() for s in self.sets],
            "seconds": round(self.seconds, 3),
        }

    # -- the side-by-side table ------------------------------------------------------------
    def main_rows(self) -> list[tuple[str, str, list[str]]]:
        """(set, metric, one cell per rule set) rows of the side-by-side table."""
        rows: list[tuple[str, str, list[str]]] = []
        for s in self.sets:
            label = f"{s.name} ({s.n} {s.unit}, {s.positives} scam)"
            if s.unit == "messages":
                ms = [r for r in s.results if isinstance(r, MessageScores)]
                for metric, cells in (
                    ("precision", [_pct(m.counts.precision) for m in ms]),
                    ("recall", [_pct(m.counts.recall) for m in ms]),
                    ("F1", [_pct(m.counts.f1) for m in ms]),
                    ("FPR on benign", [_pct(m.counts.fpr) for m in ms]),
                    ("messages/s", [_rate(len(m.scores), m.seconds) for m in ms]),
                ):
                    rows.append((label, metric, cells))
                    label = ""
            else:
                cs = [r for r in s.results if isinstance(r, ConversationScores)]
                ts = [c.timing() for c in cs]
                for metric, cells in (
                    ("detection rate", [_pct(c.counts.recall) for c in cs]),
                    ("benign with events", [_pct(c.counts.fpr) for c in cs]),
                    ("precision", [_pct(c.counts.precision) for c in cs]),
                    ("any turn flagged", [_pct(c.turn_flagged.recall) for c in cs]),
                    ("... on benign", [_pct(c.turn_flagged.fpr) for c in cs]),
                    ("caught before money", [_pct(t["before"]) for t in ts]),
                    ("... at it", [_pct(t["at"]) for t in ts]),
                    ("... after it", [_pct(t["after"]) for t in ts]),
                    ("median turns before", [_num(t["median_turns_before"]) for t in ts]),
                    ("no money request", [str(c.no_money_request) for c in cs]),
                    ("turns/s", [_rate(c.turns, c.seconds) for c in cs]),
                ):
                    rows.append((label, metric, cells))
                    label = ""
        return rows

    def category_rows(self, s: SetResult) -> list[list[str]]:
        """Per data-set category: label, n and the share flagged by each rule set."""
        cats = sorted({(c, v.label) for r in s.results for c, v in r.per_category.items()},
                      key=lambda cl: (-cl[1], cl[0]))
        rows = []
        for c, y in cats:
            first = s.results[0].per_category[c]
            rows.append([c, str(y), str(first.n),
                         *(_pct(r.per_category[c].hit / r.per_category[c].n)
                           for r in s.results)])
        return rows

    def render(self) -> str:
        """The plain-text table: rule sets side by side, then per-category tables."""
        names = [r.name for r in self.rulesets]
        widths = [max(9, _width(n)) for n in names]
        out = [f"chatguard eval: {len(self.sets)} data sets, {len(self.rulesets)} rule sets; "
               f"a message is flagged at level >= {self.threshold.label}; a conversation is "
               f"detected when the guard emits any event; money request = first turn with a "
               f"finding in {', '.join(sorted(MONEY_CATEGORIES))}", ""]
        for r in self.rulesets:
            out.append(f"  {r.name}: {', '.join(r.dirs) or 'bundled zh-CN pack'} "
                       f"(fingerprint {r.fingerprint})")
        out.append("")
        set_w = max([_width(s) for s, _, _ in self.main_rows()] + [8])
        head = _pad("data set", set_w) + "  " + _pad("metric", 20) + "".join(
            "  " + _rpad(n, w) for n, w in zip(names, widths, strict=True))
        out += [head, "-" * _width(head)]
        for s, metric, cells in self.main_rows():
            if s and out[-1] and not out[-1].startswith("-"):
                out.append("")
            out.append(_pad(s, set_w) + "  " + _pad(metric, 20) + "".join(
                "  " + _rpad(c, w) for c, w in zip(cells, widths, strict=True)))
        for one in self.sets:
            rows = self.category_rows(one)
            if not rows:
                continue
            what = "detected" if one.unit == "conversations" else "flagged"
            out += ["", f"== {one.name} per category: share {what} "
                        "(recall for label 1, false-positive rate for label 0)"]
            cat_w = max([_width(row[0]) for row in rows] + [8])
            out.append("   " + _pad("category", cat_w) + f"{'label':>6}{'n':>7}" + "".join(
                "  " + _rpad(n, w) for n, w in zip(names, widths, strict=True)))
            for row in rows:
                out.append("   " + _pad(row[0], cat_w) + f"{row[1]:>6}{row[2]:>7}" + "".join(
                    "  " + _rpad(c, w) for c, w in zip(row[3:], widths, strict=True)))
            if one.unit == "messages":
                for ref, res in zip(self.rulesets, one.results, strict=True):
                    assert isinstance(res, MessageScores)
                    if res.attributed:
                        out.append(f"   precision by the detector's strongest category "
                                   f"({ref.name}): " + ", ".join(
                                       f"{c} {_pct(v[1] / v[0])} of {v[0]}" for c, v in
                                       sorted(res.attributed.items(),
                                              key=lambda kv: (-kv[1][0], kv[0]))))
        out += ["", f"{self.seconds:.1f} s"]
        return "\n".join(out)

    # -- the HTML report -------------------------------------------------------------------
    def to_report(self) -> Report:
        """The :class:`~chatguard.report.Report` of this evaluation."""
        names = [r.name for r in self.rulesets]
        figures = [
            Figure("rule sets", str(len(self.rulesets)), ", ".join(names)),
            Figure("data sets", str(len(self.sets))),
            Figure("messages", f"{sum(s.n for s in self.sets if s.unit == 'messages'):,}"),
            Figure("conversations",
                   f"{sum(s.n for s in self.sets if s.unit == 'conversations'):,}"),
            Figure("threshold", self.threshold.label, "a message is flagged at this level"),
            Figure("time", f"{self.seconds:.1f} s", run=True),
        ]
        for s in self.sets:
            for ref, res in zip(self.rulesets, s.results, strict=True):
                headline = (res.counts.f1 if isinstance(res, MessageScores)
                            else res.counts.recall)
                what = "F1" if isinstance(res, MessageScores) else "detection"
                figures.append(Figure(f"{s.name} · {ref.name}", _pct(headline).strip(), what))
        histograms: list[Histogram] = []
        curves: list[Curve] = []
        for s in self.sets:
            what = "message score" if s.unit == "messages" else "peak conversation score"
            for ref, res in zip(self.rulesets, s.results, strict=True):
                histograms.append(Histogram(f"{ref.name}", res.scores,
                                            group=f"{s.name}: {what}", unit=s.unit))
                curves.append(Curve(f"{s.name} · {ref.name}", res.scores, s.labels))
        tables = [Table("Rule sets side by side", ["data set", "metric", *names],
                        [[a, b, *c] for a, b, c in self.main_rows()])]
        for s in self.sets:
            rows = self.category_rows(s)
            if rows:
                what = "detected" if s.unit == "conversations" else "flagged"
                tables.append(Table(f"{s.name}: share {what} per category",
                                    ["category", "label", "n", *names], rows))
        shown: list[ShownConversation] = []
        for s in self.sets:
            for res in s.results:
                shown += res.missed
                shown += res.false_alarms
        return Report(
            title="chatguard eval",
            subtitle=(f"{len(self.rulesets)} rule sets on {len(self.sets)} labeled sets; "
                      f"flagged at level >= {self.threshold.label}"),
            figures=figures, histograms=histograms, curves=curves, tables=tables,
            conversations=shown, conversations_title="Missed scams and false alarms",
            notes=(f"Money request: the first turn with a finding in "
                   f"{', '.join(sorted(MONEY_CATEGORIES))}.",
                   "Texts are masked; detection of a conversation = any guard event."),
        )


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:g}"


def _rate(n: int, seconds: float) -> str:
    return f"{n / seconds:,.0f}" if seconds > 0 else "-"


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - _width(text))


def _rpad(text: str, width: int) -> str:
    return " " * max(0, width - _width(text)) + text


# ---------------------------------------------------------------------------------------
# running
# ---------------------------------------------------------------------------------------
def _top_category(v: Verdict) -> str:
    if not v.categories:
        return ""
    return max(v.categories.items(), key=lambda kv: (kv[1], kv[0]))[0]


def _spans(v: Verdict) -> tuple[Span, ...]:
    return tuple(Span(f.start, f.end, f.rule_id, f.category)
                 for f in v.findings if not f.suppressed)


def _shown(v: Verdict, sender: str, text: str) -> ShownMessage:
    return ShownMessage(sender, text, v.score, v.level, _spans(v))


def _chunks(n: int, size: int) -> Iterator[tuple[int, int]]:
    for i in range(0, n, size):
        yield i, min(n, i + size)


def _run_messages(det: Detector, name: str, items: Sequence[LabeledMessage],
                  threshold: Level, top: int) -> MessageScores:
    res = MessageScores()
    det.warm_up()  # the tokenizer loads on first use: keep it out of the throughput
    t = time.perf_counter()
    verdicts: list[Verdict] = []
    for a, b in _chunks(len(items), _BATCH):
        verdicts.extend(det.check_many([m.text for m in items[a:b]]))
    res.seconds = time.perf_counter() - t
    for m, v in zip(items, verdicts, strict=True):
        flagged = v.level_value >= threshold
        res.counts.add(m.label, flagged)
        res.scores.append(v.score)
        cat = res.per_category.setdefault(m.category, _Cat(m.label))
        cat.n += 1
        cat.hit += flagged
        if flagged:
            att = res.attributed.setdefault(_top_category(v), [0, 0])
            att[0] += 1
            att[1] += m.label
        if m.label and not flagged and len(res.missed) < top:
            res.missed.append(ShownConversation(
                m.id, v.score, v.level, v.rule_ids, (_shown(v, "", m.text),),
                note=f"missed scam ({m.category}) · {name} · {m.source}:{m.line}"))
        elif not m.label and flagged and len(res.false_alarms) < top:
            res.false_alarms.append(ShownConversation(
                m.id, v.score, v.level, v.rule_ids, (_shown(v, "", m.text),),
                note=f"false alarm ({m.category}) · {name} · {m.source}:{m.line}"))
    return res


def _money_turn(verdicts: Sequence[Verdict]) -> int | None:
    for i, v in enumerate(verdicts):
        if any(f.category in MONEY_CATEGORIES and not f.suppressed for f in v.findings):
            return i
    return None


def _show_conversation(c: LabeledConversation, verdicts: Sequence[Verdict],
                       peak: float, level: str, first_event: int | None,
                       note: str) -> ShownConversation:
    """The turns worth a look: those with findings (and the first event's turn), else the
    opening turns; at most :data:`_SHOWN_TURNS`."""
    keep = [i for i, v in enumerate(verdicts) if _spans(v) or i == first_event]
    if not keep:
        keep = list(range(min(len(verdicts), _SHOWN_TURNS)))
    keep = keep[:_SHOWN_TURNS]
    rule_ids = tuple(dict.fromkeys(r for v in verdicts for r in v.rule_ids))
    shown = tuple(_shown(verdicts[i], f"#{i} {c.turns[i].sender}", c.turns[i].text)
                  for i in keep)
    extra = f"; {len(keep)} of {len(c.turns)} turns shown" if len(keep) < len(c.turns) else ""
    return ShownConversation(c.id, peak, level, rule_ids, shown, note=note + extra)


def _run_conversations(det: Detector, name: str, items: Sequence[LabeledConversation],
                       threshold: Level, top: int) -> ConversationScores:
    from .guard import Guard

    res = ConversationScores()
    det.warm_up()
    guard = Guard(det)
    t = time.perf_counter()
    try:
        start = 0
        while start < len(items):
            # Whole conversations per batch, about _BATCH turns each.
            end, size = start, 0
            while end < len(items) and (size == 0 or size + len(items[end].turns) <= _BATCH):
                size += len(items[end].turns)
                end += 1
            rows: list[dict[str, Any]] = []
            for k in range(start, end):
                c = items[k]
                cid = f"{k}:{c.id}"
                speakers = list(dict.fromkeys(turn.sender for turn in c.turns))
                for i, turn in enumerate(c.turns):
                    others = [x for x in speakers if x != turn.sender]
                    to = others[0] if len(others) == 1 else "others"
                    rows.append({"message_id": f"{cid}#{i}", "conversation_id": cid,
                                 "sender_id": f"{cid}:{turn.sender}",
                                 "recipient_id": f"{cid}:{to}", "text": turn.text,
                                 "sent_at": T0 + i * STEP})
            fed = guard.feed_many_detailed(rows)
            pos = 0
            for k in range(start, end):
                c = items[k]
                mine = fed[pos:pos + len(c.turns)]
                pos += len(c.turns)
                _score_conversation(res, name, c, mine, threshold, top)
            start = end
    finally:
        guard.close()
    res.seconds = time.perf_counter() - t
    return res


def _score_conversation(res: ConversationScores, name: str, c: LabeledConversation,
                        fed: Sequence[Any], threshold: Level, top: int) -> None:
    verdicts: list[Verdict] = [f.verdict for f in fed]
    first_event = next((i for i, f in enumerate(fed) if f.events), None)
    for f in fed:
        for e in f.events:
            res.events[e.kind] = res.events.get(e.kind, 0) + 1
    detected = first_event is not None
    peak_i = max(range(len(fed)), key=lambda i: fed[i].conversation_score, default=None)
    peak = fed[peak_i].conversation_score if peak_i is not None else 0.0
    level = fed[peak_i].conversation_level if peak_i is not None else "none"
    res.turns += len(fed)
    res.scores.append(peak)
    res.counts.add(c.label, detected)
    res.turn_flagged.add(c.label, any(v.level_value >= threshold for v in verdicts))
    cat = res.per_category.setdefault(c.category, _Cat(c.label))
    cat.n += 1
    cat.hit += detected
    if c.label and first_event is not None:
        money = _money_turn(verdicts)
        if money is None:
            res.no_money_request += 1
        else:
            if first_event < money:
                res.before += 1
            elif first_event == money:
                res.at += 1
            else:
                res.after += 1
            res.leads.append(money - first_event)
    if c.label and not detected and len(res.missed) < top:
        res.missed.append(_show_conversation(
            c, verdicts, peak, level, None,
            f"missed scam ({c.category}) · {name} · {c.source}:{c.line}"))
    elif not c.label and detected and len(res.false_alarms) < top:
        res.false_alarms.append(_show_conversation(
            c, verdicts, peak, level, first_event,
            f"false alarm ({c.category}) · {name} · {c.source}:{c.line}; first event at "
            f"turn {first_event}"))


@dataclass(frozen=True, slots=True)
class _Job:
    """What every worker needs; set before the workers fork, so they inherit it."""

    rulesets: tuple[tuple[RuleSetRef, Detector], ...]
    units: tuple[tuple[str, str, Sequence[LabeledMessage] | Sequence[LabeledConversation]],
                 ...]  # (set name, unit, items)
    threshold: Level
    top: int

    def run(self, task: tuple[int, int, int, int]) -> MessageScores | ConversationScores:
        unit_i, rs_i, a, b = task
        _, unit, items = self.units[unit_i]
        ref, det = self.rulesets[rs_i]
        if unit == "messages":
            return _run_messages(det, ref.name, items[a:b],  # type: ignore[arg-type]
                                 self.threshold, self.top)
        return _run_conversations(det, ref.name, items[a:b],  # type: ignore[arg-type]
                                  self.threshold, self.top)


# The job of a worker process: set by the pool's initializer, which under fork receives
# its arguments without pickling (the labeled items and detectors are shared, not copied).
_WORKER: dict[str, _Job] = {}


def _init_worker(job: _Job) -> None:
    _WORKER["job"] = job


def _run_task(task: tuple[int, int, int, int]) -> tuple[
        tuple[int, int, int, int], MessageScores | ConversationScores]:
    return task, _WORKER["job"].run(task)


def evaluate(
    rulesets: Sequence[tuple[RuleSetRef, Detector]],
    sets: Sequence[LabeledSet],
    *,
    threshold: Level | str = Level.MEDIUM,
    top: int = 10,
    workers: int = 1,
) -> EvalResult:
    """Every rule set over every labeled set. ``top``: missed scams and false alarms kept
    per set and rule set for the report. ``workers`` > 1 runs the (set, rule set) pairs in
    forked processes, biggest first; the figures do not depend on it (throughput aside)."""
    if not rulesets:
        raise ConfigError("eval needs at least one rule set")
    if workers < 1:
        raise ConfigError("--workers must be at least 1")
    level = Level.parse(threshold)
    t = time.perf_counter()
    units: list[tuple[str, str, Sequence[LabeledMessage] | Sequence[LabeledConversation]]] = []
    shells: list[SetResult] = []
    for lset in sets:
        for unit, items, labels in (
            ("messages", lset.messages, [m.label for m in lset.messages]),
            ("conversations", lset.conversations, [c.label for c in lset.conversations]),
        ):
            if items:
                units.append((lset.name, unit, items))
                shells.append(SetResult(lset.name, lset.source, unit, len(items),
                                        sum(labels), labels, []))
    job = _Job(tuple(rulesets), tuple(units), level, top)
    tasks = [(u, r, a, b) for u in range(len(units)) for r in range(len(rulesets))
             for a, b in _pieces(units[u])]
    done: dict[tuple[int, int, int, int], MessageScores | ConversationScores] = {}
    workers = min(workers, len(tasks))
    if workers > 1 and "fork" in multiprocessing.get_all_start_methods():
        for _, det in rulesets:
            det.warm_up()  # load jieba once, before forking, not once per worker
        # Biggest first, so a large piece does not start last and run alone.
        order = sorted(tasks, key=lambda t: -_cost(units[t[0]], t[2], t[3]))
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(workers, _init_worker, (job,)) as pool:
            for task, res in pool.imap_unordered(_run_task, order):
                done[task] = res
    else:
        for task in tasks:
            done[task] = job.run(task)
    for u, shell in enumerate(shells):
        for r in range(len(rulesets)):
            parts = [done[t] for t in tasks if t[0] == u and t[1] == r]
            first = parts[0]
            for part in parts[1:]:
                first.merge(part, top)  # type: ignore[arg-type]
            shell.results.append(first)
    return EvalResult(level, [ref for ref, _ in rulesets], shells, time.perf_counter() - t)


def _pieces(unit: tuple[str, str, Sequence[Any]]) -> list[tuple[int, int]]:
    """Item ranges of about :data:`_PIECE` turns: the unit of work of a worker. Results do
    not depend on the cut: conversation and sender ids are unique per conversation, so a
    guard per piece sees what one guard for the whole set would."""
    _, kind, items = unit
    out: list[tuple[int, int]] = []
    a = size = 0
    for i, item in enumerate(items):
        size += 1 if kind == "messages" else len(item.turns)
        if size >= _PIECE:
            out.append((a, i + 1))
            a, size = i + 1, 0
    if a < len(items):
        out.append((a, len(items)))
    return out


def _cost(unit: tuple[str, str, Sequence[Any]], a: int, b: int) -> int:
    """Turns to check: the work a piece stands for."""
    _, kind, items = unit
    return b - a if kind == "messages" else sum(len(c.turns) for c in items[a:b])


def sample(lset: LabeledSet, limit: int, seed: int = 0) -> LabeledSet:
    """At most ``limit`` messages and ``limit`` conversations, a seeded sample kept in file
    order (a file's first rows are often all of one label)."""
    def pick(items: list[Any]) -> list[Any]:
        if len(items) <= limit:
            return items
        keep = sorted(random.Random(seed).sample(range(len(items)), limit))
        return [items[i] for i in keep]

    return LabeledSet(lset.name, lset.source, pick(lset.messages), pick(lset.conversations))


# ---------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------
def _ruleset(spec: str) -> tuple[RuleSetRef, Detector]:
    """``default`` (the bundled pack) or comma-separated pack folders, read as one set."""
    if spec in ("default", "bundled"):
        det = Detector.default()
        return RuleSetRef(spec, (), det.fingerprint), det
    dirs = tuple(d for d in spec.split(",") if d)
    if not dirs:
        raise ConfigError(f"--rules {spec!r} names no pack folder")
    det = Detector.from_rules(*dirs)
    return RuleSetRef(spec, dirs, det.fingerprint), det


def add_eval_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """Register ``chatguard eval`` on the CLI's subparsers."""
    p = sub.add_parser(
        "eval", help="evaluate rule sets side by side on labeled messages and conversations",
        description="Evaluate one or more rule sets on labeled data: precision, recall, F1 "
                    "and false-positive rate on messages; detection rate, false alarms and "
                    "how early on conversations (through the guard). One column per rule set.")
    p.add_argument("--data", action="append", required=True, metavar="PATH[:PART]",
                   help="labeled JSONL / CSV / TSV file, or a folder (public sets are "
                        "recognised by their files); PATH:part picks one part of a folder "
                        "or the format of a file; repeatable")
    p.add_argument("--rules", action="append", metavar="DIR[,DIR...]",
                   help="a rule set: pack folders read together, or 'default' for the "
                        "bundled pack; repeat to compare (default: the bundled pack)")
    p.add_argument("--threshold", default="medium",
                   choices=["low", "medium", "high", "critical"],
                   help="level at which a message counts as flagged (default medium)")
    p.add_argument("--limit", type=int, metavar="N",
                   help="at most N messages and N conversations per data set (a seeded "
                        "sample in file order)")
    p.add_argument("--workers", type=int, default=1, metavar="N",
                   help="forked processes sharing the work, in pieces of about 8000 turns "
                        "(0: one per CPU; default 1); the figures do not depend on it")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--report", type=Path, metavar="HTML",
                   help="also write a self-contained HTML report")
    p.add_argument("--report-top", type=int, default=10, metavar="N",
                   help="missed scams and false alarms shown per data set and rule set "
                        "(default 10)")
    return p


def run_eval_command(args: argparse.Namespace, *, stdout: TextIO | None = None) -> int:
    """``chatguard eval`` from parsed arguments; returns the exit status (0)."""
    out = stdout if stdout is not None else sys.stdout
    if args.limit is not None and args.limit < 1:
        raise ConfigError("--limit must be at least 1")
    if args.report_top < 0:
        raise ConfigError("--report-top must not be negative")
    sets: list[LabeledSet] = []
    for spec in args.data:
        for lset in load(spec):
            sets.append(sample(lset, args.limit) if args.limit else lset)
    if not any(len(s) for s in sets):
        raise InputError("no labeled items", source=", ".join(args.data))
    rulesets = [_ruleset(spec) for spec in (args.rules or ["default"])]
    # The detectors' and the data sets' millions of objects live as long as the run: frozen,
    # the collector stops walking them on every full collection, and forked workers stop
    # copying their pages by touching them (as `chatguard scan` does).
    gc.freeze()
    workers = args.workers if args.workers != 0 else (os.cpu_count() or 1)
    result = evaluate(rulesets, sets, threshold=args.threshold,
                      top=args.report_top if args.report is not None else 0, workers=workers)
    if args.report is not None:
        write_html(result.to_report(), args.report)
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False, indent=2), file=out)
    else:
        print(result.render(), file=out)
        if args.report is not None:
            print(f"report: {args.report}", file=out)
    return 0

