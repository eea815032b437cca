"""Self-contained HTML reports for ``chatguard scan`` and ``chatguard eval``.

The report model below is the contract between the commands that gather figures and the
renderer: commands fill a :class:`Report`, :func:`render_html` turns it into one HTML file
that opens offline (inline CSS and SVG, no scripts or fonts fetched from anywhere).

Why the renderer is built the way it is:

* **Chat text is hostile input.** Every string from a report goes through one escaping
  function (HTML escaping, lone surrogates and control characters replaced), and the
  document carries a Content-Security-Policy that forbids scripts and network access, so
  a message that smuggles markup past one layer still cannot run or phone home.
* **Reports travel** (mail, tickets, shared folders), so personal data is masked with
  :mod:`chatguard.privacy` before a message is shown. Masking changes lengths, so every
  finding's span is mapped from the raw text onto the masked one; a span that touches a
  masked identifier covers the whole masked identifier.
* **Charts are drawn here**, as inline SVG, rather than by a JavaScript library: the file
  must open offline, print, and show the same thing in every browser.
* **Scores arrive as histogram counts** when there are millions of them: a batch scan keeps
  20 counters, not every score (:func:`histogram_counts`, :attr:`Histogram.counts`).
"""

from __future__ import annotations

import html
import math
import re
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Final

from .errors import ConfigError
from .privacy import mask_pieces

__all__ = [
    "BINS",
    "Curve",
    "Figure",
    "Histogram",
    "PrecisionRecall",
    "Report",
    "ShownConversation",
    "ShownMessage",
    "Span",
    "Table",
    "bin_of",
    "clip_message",
    "histogram_counts",
    "mask_message",
    "precision_recall",
    "render_html",
    "write_html",
]

#: Histogram bins over [0, 1]: 0.05 wide; a score of exactly 1.0 falls in the last one.
BINS: Final = 20
#: Longest shown message text, in characters after masking; longer texts keep their start
#: and the text around each span.
MAX_SHOWN_CHARS: Final = 2000


@dataclass(frozen=True, slots=True)
class Figure:
    """One headline number (a summary tile): ``label`` and its already formatted ``value``.

    ``run`` marks a figure that describes the run rather than the data (throughput, time,
    worker count): it is drawn like the others but tagged ``data-run``, so two reports of
    the same data can be compared with those tiles set aside.
    """

    label: str
    value: str
    note: str = ""
    run: bool = False


@dataclass(frozen=True, slots=True)
class Histogram:
    """Scores in [0, 1] to draw as one histogram series (e.g. one rule set, or scam vs
    benign).

    ``counts`` (:data:`BINS` numbers, as :func:`histogram_counts` makes them) replaces
    ``scores`` when given, so a scan of millions of messages passes 20 counters. Series with
    the same ``group`` share one chart, bars side by side; ``unit`` labels the count axis.
    """

    name: str
    scores: Sequence[float]
    counts: Sequence[int] = ()
    group: str = ""
    unit: str = "count"


@dataclass(frozen=True, slots=True)
class Curve:
    """A precision-recall curve, computed by the renderer from scores and 0/1 labels."""

    name: str
    scores: Sequence[float]
    labels: Sequence[int]


@dataclass(frozen=True, slots=True)
class Table:
    """A plain table (per category, per rule set side by side, top rules, ...)."""

    title: str
    columns: Sequence[str]
    rows: Sequence[Sequence[str | int | float | None]]


@dataclass(frozen=True, slots=True)
class Span:
    """A finding's place in a message's raw text, half-open, as in ``Finding``."""

    start: int
    end: int
    rule_id: str
    category: str


@dataclass(frozen=True, slots=True)
class ShownMessage:
    """One message of a shown conversation; the renderer masks personal data in ``text``
    and keeps the spans on the words they marked.

    ``masked`` says the text (and its spans) already went through :func:`mask_message`
    (and perhaps :func:`clip_message`), as a scan does to keep long messages out of memory.
    """

    sender: str
    text: str
    score: float
    level: str
    spans: Sequence[Span] = ()
    masked: bool = False


@dataclass(frozen=True, slots=True)
class ShownConversation:
    """One of the riskiest conversations (or, in eval, a miss or a false alarm)."""

    conversation_id: str
    score: float
    level: str
    rule_ids: Sequence[str]
    messages: Sequence[ShownMessage]
    note: str = ""


@dataclass(frozen=True, slots=True)
class Report:
    """Everything one HTML report shows, top to bottom."""

    title: str
    subtitle: str = ""
    figures: Sequence[Figure] = ()
    histograms: Sequence[Histogram] = ()
    curves: Sequence[Curve] = ()
    tables: Sequence[Table] = ()
    conversations: Sequence[ShownConversation] = ()
    conversations_title: str = "Riskiest conversations"
    notes: Sequence[str] = field(default_factory=tuple)


# ---------------------------------------------------------------------------------------
# figures computed from the data
# ---------------------------------------------------------------------------------------
def bin_of(score: float) -> int:
    """The histogram bin of a score: ``[0.05 k, 0.05 (k + 1))``, 1.0 in the last bin.

    Scores are rounded to 4 decimals by the scorer; the small epsilon keeps 0.15 in the
    bin that starts at 0.15, which plain ``0.15 / 0.05`` (2.9999...) would miss.
    Out-of-range scores are clamped; NaN counts as 0.
    """
    if not score > 0.0:  # NaN too
        return 0
    return min(int(score * BINS + 1e-9), BINS - 1)


def histogram_counts(scores: Sequence[float]) -> list[int]:
    """Counts per bin (:data:`BINS` of them) for :attr:`Histogram.counts`."""
    counts = [0] * BINS
    for s in scores:
        counts[bin_of(s)] += 1
    return counts


@dataclass(frozen=True, slots=True)
class PrecisionRecall:
    """A precision-recall curve: one point per distinct score threshold, highest first.

    ``average_precision`` is ``sum((R_k - R_{k-1}) * P_k)`` (the step-wise area, no
    interpolation, as scikit-learn defines it); ``None`` when there are no positive labels.
    """

    thresholds: tuple[float, ...]
    precision: tuple[float, ...]
    recall: tuple[float, ...]
    average_precision: float | None
    positives: int
    negatives: int


def precision_recall(scores: Sequence[float], labels: Sequence[int]) -> PrecisionRecall:
    """The precision-recall curve of ``scores`` against 0/1 ``labels``.

    Predicting positive when ``score >= threshold``, for each distinct score as threshold:
    tied scores enter together, so the curve does not depend on the order of ties.
    Raises :class:`~chatguard.errors.ConfigError` on mismatched lengths, labels other than
    0/1 or non-finite scores.
    """
    if len(scores) != len(labels):
        raise ConfigError(f"precision-recall: {len(scores)} scores but {len(labels)} labels")
    pairs: list[tuple[float, int]] = []
    for i, (s, y) in enumerate(zip(scores, labels, strict=True)):
        if isinstance(y, bool) or y not in (0, 1):
            raise ConfigError(f"precision-recall: label {i} is {y!r}, expected 0 or 1")
        if not math.isfinite(s):
            raise ConfigError(f"precision-recall: score {i} is {s!r}, expected a number")
        pairs.append((float(s), int(y)))
    pairs.sort(key=lambda p: -p[0])
    positives = sum(y for _, y in pairs)
    negatives = len(pairs) - positives
    thresholds: list[float] = []
    precision: list[float] = []
    recall: list[float] = []
    tp = fp = 0
    ap = 0.0
    prev_recall = 0.0
    i = 0
    while i < len(pairs):
        t = pairs[i][0]
        while i < len(pairs) and pairs[i][0] == t:
            tp += pairs[i][1]
            fp += 1 - pairs[i][1]
            i += 1
        p = tp / (tp + fp)
        r = tp / positives if positives else 0.0
        ap += (r - prev_recall) * p
        prev_recall = r
        thresholds.append(t)
        precision.append(p)
        recall.append(r)
    return PrecisionRecall(tuple(thresholds), tuple(precision), tuple(recall),
                           ap if positives else None, positives, negatives)


# ---------------------------------------------------------------------------------------
# text: sanitising, masking with span mapping, clipping
# ---------------------------------------------------------------------------------------
# lone surrogates cannot be written as UTF-8; C0/C1 controls (but tab, newline, return)
# are parse errors or invisible in HTML. Each becomes U+FFFD: one character for one, so
# offsets into the text stay valid.
_UNSHOWABLE: Final = re.compile("[\ud800-\udfff\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _clean(text: str) -> str:
    return _UNSHOWABLE.sub("\ufffd", text)


def _esc(value: object) -> str:
    """The one way any text enters the document: sanitised, then HTML-escaped (quotes
    too, so the same function serves text and attribute values)."""
    return html.escape(_clean(str(value)), quote=True)


def mask_message(text: str, spans: Sequence[Span] = ()) -> tuple[str, list[Span]]:
    """``text`` with personal data masked (as :func:`chatguard.privacy.mask_text` does)
    and ``spans`` moved onto the masked text.

    A span boundary inside a masked identifier moves to the identifier's edge, outward,
    so the span covers the whole masked identifier it touched. Out-of-range spans are
    clamped; spans left empty are dropped. Returned spans are sorted.
    """
    raw_starts: list[int] = []
    raw_ends: list[int] = []
    out_starts: list[int] = []
    out_ends: list[int] = []
    pieces: list[str] = []
    pos = out = 0
    for start, end, masked in mask_pieces(text):
        pieces.append(text[pos:start])
        out += start - pos
        raw_starts.append(start)
        raw_ends.append(end)
        out_starts.append(out)
        pieces.append(masked)
        out += len(masked)
        out_ends.append(out)
        pos = end
    pieces.append(text[pos:])
    masked_text = "".join(pieces)

    def moved(offset: int, is_end: bool) -> int:
        i = bisect_right(raw_starts, offset) - 1
        if i < 0:
            return offset
        if offset >= raw_ends[i]:
            return out_ends[i] + offset - raw_ends[i]
        if offset == raw_starts[i]:
            return out_starts[i]
        return out_ends[i] if is_end else out_starts[i]

    n = len(text)
    result: list[Span] = []
    for s in spans:
        start = min(max(s.start, 0), n)
        end = min(max(s.end, start), n)
        if start == end:
            continue
        a, b = moved(start, False), moved(end, True)
        if a < b:
            result.append(Span(a, b, s.rule_id, s.category))
    result.sort(key=lambda s: (s.start, s.end, s.rule_id, s.category))
    return masked_text, result


_ELLIPSIS: Final = " … "
_HEAD: Final = 120  # characters kept from the start of a clipped message
_AROUND: Final = 80  # characters kept on each side of a span of a clipped message


def clip_message(text: str, spans: Sequence[Span], limit: int = MAX_SHOWN_CHARS,
                 ) -> tuple[str, list[Span]]:
    """A long (already masked) message cut down to its start and the text around its
    spans, with the spans moved onto the cut text; cuts are marked with `` … ``.

    Apply it to masked text only: cutting raw text could leave half an identifier that
    masking no longer recognises. Texts of at most ``limit`` characters come back whole.
    """
    if len(text) <= limit:
        return text, sorted(spans, key=lambda s: (s.start, s.end, s.rule_id, s.category))
    keep: list[tuple[int, int]] = [(0, _HEAD)]
    for s in spans:
        keep.append((max(0, s.start - _AROUND), min(len(text), s.end + _AROUND)))
    keep.sort()
    merged: list[list[int]] = []
    for a, b in keep:
        if merged and a <= merged[-1][1] + len(_ELLIPSIS):
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    pieces: list[str] = []
    shift: list[tuple[int, int, int]] = []  # (raw start, raw end, offset in the output)
    out = 0
    for a, b in merged:
        if a > 0:
            pieces.append(_ELLIPSIS)
            out += len(_ELLIPSIS)
        shift.append((a, b, out))
        pieces.append(text[a:b])
        out += b - a
    if merged[-1][1] < len(text):
        pieces.append(_ELLIPSIS)
    moved: list[Span] = []
    for s in spans:
        for a, b, o in shift:
            if a <= s.start and s.end <= b:
                moved.append(Span(s.start - a + o, s.end - a + o, s.rule_id, s.category))
                break
    moved.sort(key=lambda s: (s.start, s.end, s.rule_id, s.category))
    return "".join(pieces), moved


def _shown_text(message: ShownMessage) -> tuple[str, list[Span]]:
    if message.masked:
        text, spans = message.text, list(message.spans)
    else:
        text, spans = mask_message(message.text, message.spans)
    return clip_message(text, spans)


def _highlighted(text: str, spans: Sequence[Span]) -> str:
    """Escaped ``text`` with each stretch covered by spans in one ``<mark>`` (overlapping
    spans split into stretches, never nested), titled with the rule ids that cover it."""
    bounds = sorted({0, len(text), *(s.start for s in spans), *(s.end for s in spans)})
    out: list[str] = []
    for a, b in pairwise(bounds):
        if a >= b:
            continue
        piece = _esc(text[a:b])
        cover = sorted({(s.rule_id, s.category) for s in spans if s.start <= a and b <= s.end})
        if cover:
            title = ", ".join(f"{r} ({c})" if c else r for r, c in cover)
            rules = " ".join(r for r, _ in cover)
            out.append(f'<mark title="{_esc(title)}" data-rules="{_esc(rules)}">{piece}</mark>')
        else:
            out.append(piece)
    return "".join(out)


# ---------------------------------------------------------------------------------------
# formatting
# ---------------------------------------------------------------------------------------
def _cell(value: str | int | float | None) -> tuple[str, bool]:
    """A table cell's text and whether it is a number (numbers are right-aligned)."""
    if value is None:
        return "—", False
    if isinstance(value, bool):
        return ("yes" if value else "no"), False
    if isinstance(value, int):
        return f"{value:,}", True
    if isinstance(value, float):
        if not math.isfinite(value):
            return "—", True
        if abs(value) >= 1000:
            return f"{value:,.0f}", True
        return f"{value:.4g}" if value != 0 else "0", True
    return value, False


def _num(x: float) -> str:
    """SVG coordinates: short and the same on every platform."""
    return f"{x:.1f}".rstrip("0").rstrip(".") if x != int(x) else str(int(x))


def _count_label(n: float) -> str:
    if n >= 1e6:
        return f"{n / 1e6:g}M"
    if n >= 1e4:
        return f"{n / 1e3:g}k"
    return f"{n:g}"


_LEVEL_CLASS: Final = {"none": "none", "low": "low", "medium": "medium", "high": "high",
                       "critical": "critical"}
# colour-blind-safe series colours (Okabe-Ito)
_SERIES: Final = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9",
                  "#000000", "#f0e442")


# ---------------------------------------------------------------------------------------
# charts (inline SVG)
# ---------------------------------------------------------------------------------------
_W, _H = 720, 280
_ML, _MR, _MT, _MB = 64, 16, 16, 48  # margins: room for the axis labels


def _axes(x_label: str, y_label: str, x_ticks: Sequence[tuple[float, str]],
          y_ticks: Sequence[tuple[float, str]]) -> list[str]:
    """Frame, ticks and labels; tick positions in plot pixels."""
    x0, y0, x1, y1 = _ML, _H - _MB, _W - _MR, _MT
    out = [f'<line class="axis" x1="{x0}" y1="{y0}" x2="{x1}" y2="{y0}"/>',
           f'<line class="axis" x1="{x0}" y1="{y0}" x2="{x0}" y2="{y1}"/>']
    for x, label in x_ticks:
        out.append(f'<line class="tick" x1="{_num(x)}" y1="{y0}" x2="{_num(x)}" '
                   f'y2="{y0 + 4}"/>')
        out.append(f'<text class="tl" x="{_num(x)}" y="{y0 + 16}" '
                   f'text-anchor="middle">{_esc(label)}</text>')
    for y, label in y_ticks:
        out.append(f'<line class="grid" x1="{x0}" y1="{_num(y)}" x2="{x1}" y2="{_num(y)}"/>')
        out.append(f'<text class="tl" x="{x0 - 6}" y="{_num(y + 4)}" '
                   f'text-anchor="end">{_esc(label)}</text>')
    out.append(f'<text class="al" x="{(x0 + x1) / 2:g}" y="{_H - 8}" '
               f'text-anchor="middle">{_esc(x_label)}</text>')
    out.append(f'<text class="al" transform="translate(14 {(y0 + y1) / 2:g}) rotate(-90)" '
               f'text-anchor="middle">{_esc(y_label)}</text>')
    return out


def _legend(entries: Sequence[tuple[str, str]]) -> str:
    items = "".join(
        f'<li><span class="swatch" style="background:{color}"></span>{_esc(label)}</li>'
        for label, color in entries)
    return f'<ul class="legend">{items}</ul>'


def _svg(body: Sequence[str], label: str) -> str:
    return (f'<svg class="chart" viewBox="0 0 {_W} {_H}" width="{_W}" height="{_H}" '
            f'role="img" aria-label="{_esc(label)}" xmlns="http://www.w3.org/2000/svg">'
            + "".join(body) + "</svg>")


def _histogram_counts(h: Histogram) -> list[int]:
    if h.counts:
        if len(h.counts) != BINS:
            raise ConfigError(f"histogram {h.name!r}: {len(h.counts)} counts, expected {BINS}")
        return [int(c) for c in h.counts]
    return histogram_counts(h.scores)


def _histogram_chart(title: str, series: Sequence[Histogram]) -> str:
    counts = [_histogram_counts(h) for h in series]
    top = max((max(c) for c in counts), default=0)
    unit = series[0].unit or "count"
    head = f"<h3>{_esc(title)}</h3>" if title else ""
    if top == 0:
        return f'<div class="chartbox">{head}<p class="nodata">no data</p></div>'
    nonzero = [v for c in counts for v in c if v > 0]
    log = top / min(nonzero) > 50  # a few risky messages among millions stay visible
    x0, y0, x1, y1 = _ML, _H - _MB, _W - _MR, _MT
    plot_h = y0 - y1

    if log:
        decades = max(1, math.ceil(math.log10(top + 1)))

        def height(v: int) -> float:
            return plot_h * math.log10(v + 1) / decades if v else 0.0

        y_ticks = [(y0 - plot_h * math.log10(10**k + 1) / decades if k else y0,
                    _count_label(10**k) if k else "0") for k in range(decades + 1)]
        y_label = f"{unit} (log scale)"
    else:
        step = _nice_step(top)
        y_max = math.ceil(top / step) * step

        def height(v: int) -> float:
            return plot_h * v / y_max

        y_ticks = [(y0 - plot_h * k * step / y_max, _count_label(k * step))
                   for k in range(int(y_max / step) + 1)]
        y_label = unit
    bin_w = (x1 - x0) / BINS
    bar_w = (bin_w - 2) / len(series)
    body = _axes("score", y_label,
                 [(x0 + bin_w * 2 * k, f"{k / 10:.1f}") for k in range(BINS // 2 + 1)],
                 y_ticks)
    for si, (h, c) in enumerate(zip(series, counts, strict=True)):
        color = _SERIES[si % len(_SERIES)]
        for b, v in enumerate(c):
            if not v:
                continue
            bh = max(height(v), 1.0)
            x = x0 + bin_w * b + 1 + bar_w * si
            tip = f"{h.name}: {b / BINS:.2f}–{(b + 1) / BINS:.2f}: {v:,}"
            body.append(f'<rect x="{_num(x)}" y="{_num(y0 - bh)}" width="{_num(bar_w)}" '
                        f'height="{_num(bh)}" fill="{color}" data-bin="{b}" data-count="{v}">'
                        f"<title>{_esc(tip)}</title></rect>")
    legend = _legend([(f"{h.name} ({sum(c):,})", _SERIES[i % len(_SERIES)])
                      for i, (h, c) in enumerate(zip(series, counts, strict=True))])
    return (f'<div class="chartbox">{head}'
            f"{_svg(body, f'{title or unit}: score histogram')}{legend}</div>")


def _nice_step(top: float) -> float:
    """A tick step of 1, 2 or 5 times a power of ten giving about five ticks."""
    raw = top / 5
    mag = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    for f in (1, 2, 5, 10):
        if raw <= f * mag:
            return max(float(f * mag), 1.0)
    return float(10 * mag)  # pragma: no cover - the loop always returns


def _pr_chart(curves: Sequence[Curve]) -> str:
    x0, y0, x1, y1 = _ML, _H - _MB, _W - _MR, _MT
    ticks = [k / 5 for k in range(6)]
    body = _axes("recall", "precision",
                 [(x0 + (x1 - x0) * t, f"{t:.1f}") for t in ticks],
                 [(y0 - (y0 - y1) * t, f"{t:.1f}") for t in ticks])
    legend: list[tuple[str, str]] = []

    def px(r: float, p: float) -> str:
        return f"{_num(x0 + (x1 - x0) * r)},{_num(y0 - (y0 - y1) * p)}"

    for i, c in enumerate(curves):
        color = _SERIES[i % len(_SERIES)]
        pr = precision_recall(c.scores, c.labels)
        if pr.average_precision is None:
            legend.append((f"{c.name} (no positive labels)", color))
            continue
        # the step curve whose area is the average precision: precision P_k held over
        # the recall interval (R_{k-1}, R_k]
        # (thresholds that add no recall add no area and are left out: they would only
        # draw zero-width drops)
        steps = [(p, r) for p, r, before in zip(pr.precision, pr.recall, (0.0, *pr.recall),
                                                 strict=False) if r > before]
        pts: list[str] = []
        prev = 0.0
        for p, r in steps:
            pts.append(px(prev, p))
            pts.append(px(r, p))
            prev = r
        body.append(f'<polyline class="curve" points="{" ".join(pts)}" stroke="{color}" '
                    f'data-ap="{pr.average_precision:.4f}"><title>{_esc(c.name)}</title>'
                    "</polyline>")
        legend.append((f"{c.name} (AP {pr.average_precision:.3f}, {pr.positives:,} positive, "
                       f"{pr.negatives:,} negative)", color))
    return (f'<div class="chartbox">{_svg(body, "precision-recall curves")}'
            f"{_legend(legend)}</div>")


# ---------------------------------------------------------------------------------------
# sections
# ---------------------------------------------------------------------------------------
def _figures(figures: Sequence[Figure]) -> str:
    tiles = []
    for f in figures:
        note = f'<div class="n">{_esc(f.note)}</div>' if f.note else ""
        run = " data-run" if f.run else ""
        tiles.append(f'<div class="tile"{run}><div class="v">{_esc(f.value)}</div>'
                     f'<div class="l">{_esc(f.label)}</div>{note}</div>')
    return f'<section class="tiles" aria-label="summary">{"".join(tiles)}</section>'


def _histograms(histograms: Sequence[Histogram]) -> str:
    groups: dict[str, list[Histogram]] = {}
    for h in histograms:
        groups.setdefault(h.group, []).append(h)
    charts = "".join(_histogram_chart(g, hs) for g, hs in groups.items())
    return f'<section id="histograms"><h2>Score distribution</h2>{charts}</section>'


def _table(t: Table) -> str:
    head = "".join(f"<th>{_esc(c)}</th>" for c in t.columns)
    rows: list[str] = []
    for row in t.rows:
        cells = []
        for v in row:
            text, numeric = _cell(v)
            cls = ' class="num"' if numeric else ""
            cells.append(f"<td{cls}>{_esc(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    if not rows:
        rows.append(f'<tr><td class="nodata" colspan="{max(len(t.columns), 1)}">no data</td>'
                    "</tr>")
    return (f'<section class="table"><h2>{_esc(t.title)}</h2><table><thead><tr>{head}</tr>'
            f'</thead><tbody>{"".join(rows)}</tbody></table></section>')


def _badge(level: str, score: float | None = None) -> str:
    cls = _LEVEL_CLASS.get(level, "none")
    text = level if score is None else f"{level} {score:.2f}"
    return f'<span class="badge {cls}">{_esc(text)}</span>'


def _conversation(c: ShownConversation, rank: int) -> str:
    rules = ", ".join(c.rule_ids)
    msgs: list[str] = []
    for m in c.messages:
        text, spans = _shown_text(m)
        sender, _ = mask_message(m.sender)
        msgs.append(f'<li class="msg"><span class="sender">{_esc(sender)}</span>'
                    f"{_badge(m.level, m.score)}"
                    f'<span class="text" lang="zh-CN">{_highlighted(text, spans)}</span></li>')
    body = f'<ol class="msgs">{"".join(msgs)}</ol>' if msgs else '<p class="nodata">no messages</p>'
    note = f'<p class="note">{_esc(c.note)}</p>' if c.note else ""
    rule_line = f'<p class="rules">rules: {_esc(rules)}</p>' if rules else ""
    return (f'<article class="conv" data-conversation="{_esc(c.conversation_id)}">'
            f'<h3><span class="rank">{rank}.</span> <span class="cid">'
            f"{_esc(c.conversation_id)}</span> {_badge(c.level, c.score)}</h3>"
            f"{rule_line}{note}{body}</article>")


_CSS: Final = """
:root{color-scheme:light}
*{box-sizing:border-box}
body{margin:0 auto;max-width:1000px;padding:24px;color:#1d232b;background:#fff;
font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,
"PingFang SC","Hiragino Sans GB","Microsoft YaHei","Noto Sans CJK SC","Noto Sans SC",
"Source Han Sans SC","WenQuanYi Micro Hei","WenQuanYi Zen Hei",sans-serif}
h1{font-size:26px;margin:0 0 4px}
h2{font-size:19px;margin:28px 0 10px;border-bottom:1px solid #d8dde3;padding-bottom:4px}
h3{font-size:16px;margin:14px 0 6px}
.subtitle{color:#4b5563;margin:0 0 16px}
.tiles{display:flex;flex-wrap:wrap;gap:10px;margin:16px 0}
.tile{flex:1 1 140px;border:1px solid #d8dde3;border-radius:6px;padding:10px 12px;
background:#f7f9fb}
.tile .v{font-size:22px;font-weight:600;font-variant-numeric:tabular-nums}
.tile .l{color:#374151}
.tile .n{color:#6b7280;font-size:12px}
.chartbox{margin:8px 0 18px;break-inside:avoid}
svg.chart{max-width:100%;height:auto;display:block;background:#fff}
svg .axis{stroke:#374151;stroke-width:1}
svg .tick{stroke:#374151}
svg .grid{stroke:#e5e7eb;stroke-width:1}
svg .tl{font-size:11px;fill:#374151}
svg .al{font-size:12px;fill:#1d232b}
svg .curve{fill:none;stroke-width:2}
.legend{list-style:none;padding:0;margin:4px 0 0 64px;display:flex;flex-wrap:wrap;
gap:4px 18px;font-size:13px}
.swatch{display:inline-block;width:12px;height:12px;margin-right:6px;vertical-align:-1px;
border-radius:2px}
table{border-collapse:collapse;width:100%;font-size:14px;margin:4px 0 12px}
th,td{border:1px solid #d8dde3;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f1f4f7}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.nodata{color:#6b7280;font-style:italic}
.conv{border:1px solid #d8dde3;border-radius:6px;padding:4px 14px 10px;margin:12px 0;
break-inside:avoid}
.conv .rank{color:#6b7280}
.conv .rules,.conv .note{color:#4b5563;font-size:13px;margin:2px 0}
.msgs{list-style:none;padding:0;margin:6px 0 0}
.msg{padding:4px 0;border-top:1px dashed #e5e7eb;display:flex;gap:8px;align-items:baseline}
.msg .sender{flex:0 0 auto;min-width:80px;color:#374151;font-size:13px;
font-family:ui-monospace,"SFMono-Regular",Menlo,Consolas,monospace}
.msg .text{flex:1 1 auto;white-space:pre-wrap;overflow-wrap:anywhere;unicode-bidi:isolate}
mark{background:#ffe08a;color:inherit;padding:0 1px;border-radius:2px;
box-shadow:inset 0 -2px 0 #d97706;unicode-bidi:isolate}
.badge{flex:0 0 auto;display:inline-block;font-size:12px;padding:0 6px;border-radius:9px;
border:1px solid;white-space:nowrap;font-variant-numeric:tabular-nums}
.badge.none{color:#4b5563;border-color:#c4cad1;background:#f3f4f6}
.badge.low{color:#1e4e8c;border-color:#93b4dd;background:#eaf1fb}
.badge.medium{color:#7a4b00;border-color:#e3b34f;background:#fff5dc}
.badge.high{color:#9a3412;border-color:#f0a06a;background:#ffedd5}
.badge.critical{color:#fff;border-color:#b91c1c;background:#b91c1c}
.notes{color:#4b5563;font-size:13px}
@media print{body{padding:0;max-width:none}
*{-webkit-print-color-adjust:exact;print-color-adjust:exact}
h2{break-after:avoid}}
"""

# no scripts, no network, no frames: only the inline style and inline SVG this file carries
_CSP: Final = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
               "base-uri 'none'; form-action 'none'")


def render_html(report: Report) -> str:
    """The report as one self-contained HTML document.

    Deterministic: the same report gives the same bytes (no timestamps, no random ids).
    Raises :class:`~chatguard.errors.ConfigError` when the report's data is inconsistent
    (curve scores and labels of different lengths, labels other than 0/1, a histogram with
    the wrong number of counts).
    """
    parts = [
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="generator" content="chatguard">',
        f"<title>{_esc(report.title)}</title><style>{_CSS}</style></head><body>",
        f"<header><h1>{_esc(report.title)}</h1>",
    ]
    if report.subtitle:
        parts.append(f'<p class="subtitle">{_esc(report.subtitle)}</p>')
    parts.append("</header>")
    if report.figures:
        parts.append(_figures(report.figures))
    if report.histograms:
        parts.append(_histograms(report.histograms))
    if report.curves:
        parts.append('<section id="curves"><h2>Precision and recall</h2>'
                     f"{_pr_chart(report.curves)}</section>")
    parts.extend(_table(t) for t in report.tables)
    if report.conversations:
        parts.append(f'<section id="conversations"><h2>{_esc(report.conversations_title)}'
                     "</h2>")
        parts.extend(_conversation(c, i) for i, c in enumerate(report.conversations, 1))
        parts.append("</section>")
    if report.notes:
        items = "".join(f"<li>{_esc(n)}</li>" for n in report.notes)
        parts.append(f'<section class="notes"><h2>Notes</h2><ul>{items}</ul></section>')
    parts.append("</body></html>\n")
    return "".join(parts)


def write_html(report: Report, path: str | Path) -> Path:
    """Render ``report`` and write it to ``path`` (UTF-8); returns the path."""
    p = Path(path)
    text = render_html(report)
    try:
        p.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write the report {p}: {exc.strerror}") from None
    return p
