"""Detection quality of ``Detector.default()``: precision, recall, F1 and false-positive rate.

Data sets (each optional; a missing file is skipped with a message):

* **dev** (in-repo, the rule pack was tuned on these): ``tests/data/dev_messages.jsonl``
  (one message each; fields id, text, label 0/1, category, disguise) and
  ``tests/data/dev_conversations.jsonl`` (labeled two-member conversations);
* **held-out** (third-party, in ``../shared/data``; the rules were never tuned on them, and
  none is dating-platform chat, see its README.md):
  ``golfxiao_anti_fraud`` (GPL-3.0; fraud dialogues reconstructed by an LLM from news
  reports, negatives are financial conference-call transcripts): the dialogues, their
  utterances (machine-assigned per-utterance labels, noisy) and the labeled segments
  ``test0902`` / ``eval0902``; ``teleantifraud_dialogues`` (Apache-2.0; LLM-generated phone
  calls: 8 fraud types against 7 ordinary service scenarios, many of which talk about
  paying); ``sms_spam_collection`` (CC BY 4.0; English SMS, ham / spam: out of the pack's
  language, shown for its false-positive rate).

A message is *flagged* when its verdict's level is at least ``medium`` (the level at which
the platform reminds the member); ``low`` and ``high`` are reported too. A dialogue is scored
by running the detector over every turn and taking the maximum level. With the guard
(default on; ``--no-guard`` skips it), each dialogue is also fed turn by turn through a
``chatguard.Guard`` with the default policy, and counts as detected when the guard emits any
event (warning, blacklist suggestion or SMS alert).

Per data set the report gives: the binary precision / recall / F1 / false-positive rate at
each threshold; per gold category (the data set's own categories), the share flagged (the
recall of a fraud category, the false-positive rate of a benign one); per detector category
(the strongest category of the flagged verdict), its precision; and, for the dev messages,
whose categories are the pack's own, per-category precision / recall / F1 of the attributed
category, and recall per disguise.

The files are read by :mod:`chatguard.labeled` (the loaders ``chatguard eval`` uses, one
copy); this script only names the sets and keeps its own per-set figures.

Run: ``python benchmarks/bench_quality.py [--data DIR] [--sets NAME ...] [--limit N]
[--no-guard] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import chatguard
from chatguard import labeled
from chatguard.models import Level

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEV = ROOT / "tests" / "data"
SHARED = ROOT.parent / "shared" / "data"
THRESHOLDS: tuple[tuple[str, Level], ...] = (
    ("low", Level.LOW), ("medium", Level.MEDIUM), ("high", Level.HIGH),
)
FLAG = Level.MEDIUM
T0 = 1_750_000_000.0
STEP = 90.0  # seconds between turns fed to the guard
#: Detector categories named after the dev set's: identifiers count for their scam type.
_ATTRIBUTION = {"contact_id": "diversion", "payment_id": "money_transfer"}


@dataclass
class Item:
    """One labeled unit: a message (one turn) or a dialogue (several)."""

    id: str
    label: int
    category: str
    turns: list[tuple[str, str]]  # (speaker, text)
    disguise: str = ""


@dataclass
class Scored:
    item: Item
    level: int  # max Level over the turns
    top: str  # strongest category of the highest-scoring turn ("" when none)
    turn: int = 0  # index of the highest-scoring turn
    guard: bool | None = None  # the guard emitted an event (None: not run)


@dataclass
class DataSet:
    name: str
    kind: str  # "dev" or "held-out"
    unit: str  # "message" or "dialogue"
    note: str
    items: list[Item] = field(default_factory=list)
    guard: bool = False  # feed dialogues through the guard too


# ---------------------------------------------------------------------------------------
# loaders: the parsing lives in chatguard.labeled (one copy, shared with `chatguard eval`)
# ---------------------------------------------------------------------------------------
def _items(lset: labeled.LabeledSet) -> list[Item]:
    """A labeled set as bench items: a message is a one-turn item."""
    items = [Item(m.id, m.label, m.category, [("a", m.text)], m.disguise)
             for m in lset.messages]
    items += [Item(c.id, c.label, c.category, [(t.sender, t.text) for t in c.turns],
                   c.disguise) for c in lset.conversations]
    return items


def _one(path: Path, part: str = "") -> labeled.LabeledSet:
    """The one set a file (or a folder's ``part``) holds; a missing path is
    FileNotFoundError, which the runner reports as a skipped set."""
    if not path.exists():
        raise FileNotFoundError(2, "absent", str(path))
    (lset,) = labeled.load(f"{path}:{part}" if part else path)
    return lset


def load_dev_messages(path: Path = DEV / "dev_messages.jsonl") -> DataSet:
    ds = DataSet("dev_messages", "dev", "message", "hand-labeled dating chat; rules tuned on it")
    ds.items = _items(_one(path))
    return ds


def load_dev_conversations(path: Path = DEV / "dev_conversations.jsonl") -> DataSet:
    ds = DataSet("dev_conversations", "dev", "dialogue",
                 "hand-labeled dating conversations; rules tuned on them", guard=True)
    ds.items = _items(_one(path))
    return ds


def load_golfxiao_dialogues(root: Path) -> DataSet:
    ds = DataSet("golfxiao_dialogues", "held-out", "dialogue",
                 "LLM-reconstructed fraud dialogues vs meeting transcripts; label 0 includes "
                 "118 unmarked fraud cases", guard=True)
    ds.items = _items(_one(root / "golfxiao_anti_fraud", "dialogues"))
    return ds


def load_golfxiao_utterances(root: Path) -> DataSet:
    ds = DataSet("golfxiao_utterances", "held-out", "message",
                 "per-utterance is_fraud (machine-assigned, noisy)")
    ds.items = _items(_one(root / "golfxiao_anti_fraud", "utterances"))
    return ds


def load_golfxiao_segments(root: Path, split: str) -> DataSet:
    ds = DataSet(f"golfxiao_{split}", "held-out", "dialogue",
                 "labeled dialogue segments (1-8 lines)")
    ds.items = _items(_one(root / "golfxiao_anti_fraud", split))
    return ds


def load_teleantifraud(root: Path) -> DataSet:
    ds = DataSet("teleantifraud", "held-out", "dialogue",
                 "LLM-generated phone calls; benign side = service calls about paying",
                 guard=True)
    ds.items = _items(_one(root / "teleantifraud_dialogues" / "dialogues.jsonl"))
    return ds


def load_sms_spam(root: Path) -> DataSet:
    ds = DataSet("sms_spam", "held-out", "message", "English SMS; out of the pack's language")
    ds.items = _items(_one(root / "sms_spam_collection" / "SMSSpamCollection.tsv"))
    return ds


LOADERS: dict[str, Callable[[Path], DataSet]] = {
    "dev_messages": lambda _root: load_dev_messages(),
    "dev_conversations": lambda _root: load_dev_conversations(),
    "golfxiao_dialogues": load_golfxiao_dialogues,
    "golfxiao_utterances": load_golfxiao_utterances,
    "golfxiao_test0902": lambda root: load_golfxiao_segments(root, "test0902"),
    "golfxiao_eval0902": lambda root: load_golfxiao_segments(root, "eval0902"),
    "teleantifraud": load_teleantifraud,
    "sms_spam": load_sms_spam,
}


# ---------------------------------------------------------------------------------------
# scoring
# ---------------------------------------------------------------------------------------
def _top_category(v: chatguard.Verdict) -> str:
    if not v.categories:
        return ""
    return max(v.categories.items(), key=lambda kv: (kv[1], kv[0]))[0]


def score_detector(det: chatguard.Detector, items: Sequence[Item],
                   batch: int = 1000) -> list[Scored]:
    """Every turn through ``check_many``; an item's level is the maximum over its turns."""
    texts = [t for it in items for _, t in it.turns]
    verdicts: list[chatguard.Verdict] = []
    for i in range(0, len(texts), batch):
        verdicts.extend(det.check_many(texts[i : i + batch]))
    out: list[Scored] = []
    k = 0
    for it in items:
        best: chatguard.Verdict | None = None
        at = 0
        for j, v in enumerate(verdicts[k : k + len(it.turns)]):
            if best is None or v.score > best.score:
                best, at = v, j
        k += len(it.turns)
        if best is None:
            out.append(Scored(it, 0, ""))
        else:
            out.append(Scored(it, int(best.level_value), _top_category(best), at))
    return out


def score_guard(det: chatguard.Detector, scored: Sequence[Scored]) -> None:
    """Feed each dialogue through one guard (ids unique per dialogue, so conversations and
    senders never mix); ``Scored.guard`` is True when the dialogue produced any event."""
    guard = chatguard.Guard(det)
    try:
        for s in scored:
            it = s.item
            speakers = list(dict.fromkeys(sp for sp, _ in it.turns))
            events = 0
            for i, (speaker, text) in enumerate(it.turns):
                others = [x for x in speakers if x != speaker]
                recipient = others[0] if len(others) == 1 else "others"
                events += len(guard.feed({
                    "message_id": f"{it.id}#{i}", "conversation_id": it.id,
                    "sender_id": f"{it.id}:{speaker}", "recipient_id": f"{it.id}:{recipient}",
                    "text": text, "sent_at": T0 + i * STEP,
                }))
            s.guard = events > 0
    finally:
        guard.close()


# ---------------------------------------------------------------------------------------
# metrics
# ---------------------------------------------------------------------------------------
def binary(labels: Sequence[int], flagged: Sequence[bool]) -> dict[str, Any]:
    tp = sum(1 for y, f in zip(labels, flagged, strict=True) if y and f)
    fp = sum(1 for y, f in zip(labels, flagged, strict=True) if not y and f)
    fn = sum(1 for y, f in zip(labels, flagged, strict=True) if y and not f)
    tn = len(labels) - tp - fp - fn
    p = tp / (tp + fp) if tp + fp else None
    r = tp / (tp + fn) if tp + fn else None
    f1 = 2 * p * r / (p + r) if p is not None and r is not None and p + r else None
    fpr = fp / (fp + tn) if fp + tn else None
    return {"tp": tp, "fp": fp, "fn": fn, "tn": tn, "precision": p, "recall": r, "f1": f1,
            "fpr": fpr}


def evaluate(ds: DataSet, scored: Sequence[Scored], examples: int = 5) -> dict[str, Any]:
    labels = [s.item.label for s in scored]
    res: dict[str, Any] = {
        "name": ds.name, "kind": ds.kind, "unit": ds.unit, "note": ds.note,
        "n": len(scored), "positives": sum(labels), "negatives": len(labels) - sum(labels),
        "turns": sum(len(s.item.turns) for s in scored),
        "thresholds": {name: binary(labels, [s.level >= lv for s in scored])
                       for name, lv in THRESHOLDS},
    }
    if any(s.guard is not None for s in scored):
        res["guard"] = binary(labels, [bool(s.guard) for s in scored])
    # per gold category: flagged share at each threshold
    cats: dict[tuple[str, int], list[Scored]] = defaultdict(list)
    for s in scored:
        cats[(s.item.category, s.item.label)].append(s)
    res["per_category"] = [
        {"category": c, "label": y, "n": len(ss),
         **{f"flagged_{name}": sum(s.level >= lv for s in ss) / len(ss)
            for name, lv in THRESHOLDS},
         **({"guard": sum(bool(s.guard) for s in ss) / len(ss)}
            if ss[0].guard is not None else {})}
        for (c, y), ss in sorted(cats.items(), key=lambda kv: (-kv[0][1], kv[0][0]))
    ]
    # per detector category (strongest category of flagged items): precision
    by_top: dict[str, list[int]] = defaultdict(list)
    for s in scored:
        if s.level >= FLAG:
            by_top[s.top].append(s.item.label)
    res["per_detector_category"] = [
        {"category": c, "flagged": len(ys), "precision": sum(ys) / len(ys)}
        for c, ys in sorted(by_top.items(), key=lambda kv: -len(kv[1]))
    ]
    res["false_positive_examples"] = [
        _snippet(s) for s in scored if not s.item.label and s.level >= FLAG
    ][:examples]
    res["missed_examples"] = [
        _snippet(s) for s in scored if s.item.label and s.level < FLAG
    ][:examples]
    if ds.name == "dev_messages":
        res["attribution"] = _attribution(scored)
        dis: dict[str, list[bool]] = defaultdict(list)
        for s in scored:
            if s.item.label:
                dis[s.item.disguise or "none"].append(s.level >= FLAG)
        res["recall_per_disguise"] = {k: sum(v) / len(v) for k, v in sorted(dis.items())}
    return res


def _attribution(scored: Sequence[Scored]) -> list[dict[str, Any]]:
    """Per-category P/R/F1 when the prediction is the flagged verdict's strongest category
    (identifier categories mapped to their scam type) and the truth is the dev category."""
    gold = Counter(s.item.category for s in scored if s.item.label)
    pred: Counter[str] = Counter()
    hit: Counter[str] = Counter()
    for s in scored:
        if s.level < FLAG:
            continue
        p = _ATTRIBUTION.get(s.top, s.top)
        pred[p] += 1
        if s.item.label and p == s.item.category:
            hit[p] += 1
    rows = []
    for c in sorted(gold):
        prec = hit[c] / pred[c] if pred[c] else None
        rec = hit[c] / gold[c]
        f1 = 2 * prec * rec / (prec + rec) if prec and rec else 0.0
        rows.append({"category": c, "n": gold[c], "predicted": pred[c], "precision": prec,
                     "recall": rec, "f1": f1})
    return rows


def _snippet(s: Scored, width: int = 60) -> str:
    """The item id and its highest-scoring turn (for a dialogue: which turn)."""
    it = s.item
    text = it.turns[s.turn][1].replace("\n", " ")
    text = text if len(text) <= width else text[: width - 1] + "…"
    where = it.id if len(it.turns) == 1 else f"{it.id}#{s.turn}"
    return f"{where}: {text}"


# ---------------------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------------------
def _pad(text: str, width: int) -> str:
    """``text`` cut or padded to ``width`` terminal columns (CJK characters take two)."""
    out: list[str] = []
    used = 0
    for ch in text:
        w = 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
        if used + w > width:
            break
        out.append(ch)
        used += w
    return "".join(out) + " " * (width - used)


def _pct(x: float | None) -> str:
    return "   -  " if x is None else f"{100 * x:5.1f}%"


def render(results: Sequence[dict[str, Any]], header: str) -> str:
    out = [header, "", "flagged = level >= medium unless the column says otherwise; "
           "dialogues: max level over turns", ""]
    out.append(f"{'data set':<22}{'kind':<9}{'unit':<9}{'n':>7}{'pos':>7}  "
               f"{'P':>6} {'R':>6} {'F1':>6} {'FPR':>6} | {'R>=low':>6} {'FPR>=low':>7} | "
               f"{'R>=hi':>6} {'FPR>=hi':>7} | {'guard R':>7} {'FPR':>6}")
    out.append("-" * 146)
    for r in results:
        m, lo, hi = (r["thresholds"][k] for k in ("medium", "low", "high"))
        g = r.get("guard")
        gtxt = f"{_pct(g['recall']):>7} {_pct(g['fpr']):>6}" if g else f"{'':>7} {'':>6}"
        out.append(
            f"{r['name']:<22}{r['kind']:<9}{r['unit']:<9}{r['n']:>7}{r['positives']:>7}  "
            f"{_pct(m['precision'])} {_pct(m['recall'])} {_pct(m['f1'])} {_pct(m['fpr'])} | "
            f"{_pct(lo['recall'])} {_pct(lo['fpr']):>7} | {_pct(hi['recall'])} "
            f"{_pct(hi['fpr']):>7} | {gtxt}"
        )
    for r in results:
        tag = ("HELD-OUT: third-party, rules never tuned on it" if r["kind"] == "held-out"
               else "DEV: the rules were tuned on it")
        out += ["", f"== {r['name']} [{tag}]: {r['note']}"]
        out.append(f"   {'gold category':<26}{'label':>5}{'n':>7}  {'>=low':>6} {'>=med':>6} "
                   f"{'>=high':>6}  {'guard':>6}   (recall for label 1, FPR for label 0)")
        for c in r["per_category"]:
            out.append(f"   {_pad(c['category'], 26)}{c['label']:>5}{c['n']:>7}  "
                       f"{_pct(c['flagged_low'])} {_pct(c['flagged_medium'])} "
                       f"{_pct(c['flagged_high'])}  {_pct(c.get('guard')) if 'guard' in c else ''}")
        if r["per_detector_category"]:
            out.append("   precision by the detector's strongest category (flagged >= medium): "
                       + ", ".join(f"{d['category']} {_pct(d['precision']).strip()} of "
                                   f"{d['flagged']}" for d in r["per_detector_category"]))
        if "attribution" in r:
            out.append(f"   {'attributed category':<26}{'n':>5}{'pred':>6}  {'P':>6} {'R':>6} "
                       f"{'F1':>6}")
            for a in r["attribution"]:
                out.append(f"   {a['category']:<26}{a['n']:>5}{a['predicted']:>6}  "
                           f"{_pct(a['precision'])} {_pct(a['recall'])} {_pct(a['f1'])}")
            out.append("   recall per disguise: " + ", ".join(
                f"{k} {_pct(v).strip()}" for k, v in r["recall_per_disguise"].items()))
        if r["false_positive_examples"]:
            out.append("   benign flagged (>= medium), e.g.:")
            out += [f"     {x}" for x in r["false_positive_examples"]]
        if r["missed_examples"]:
            out.append("   risky missed (< medium), e.g.:")
            out += [f"     {x}" for x in r["missed_examples"]]
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--data", type=Path, default=SHARED, help="the shared labeled data folder")
    p.add_argument("--sets", nargs="+", choices=list(LOADERS), default=list(LOADERS),
                   help="data sets to evaluate (default: all)")
    p.add_argument("--limit", type=int, default=0,
                   help="evaluate at most N items per data set (seeded sample; 0 = all)")
    p.add_argument("--no-guard", action="store_true", help="skip the guard on dialogues")
    p.add_argument("--examples", type=int, default=5, help="examples of errors per set")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    args = p.parse_args(argv)

    det = chatguard.Detector.default()
    results: list[dict[str, Any]] = []
    skipped: list[str] = []
    for name in args.sets:
        if not name.startswith("dev_") and not args.data.is_dir():
            skipped.append(f"{name}: {args.data} is absent")
            continue
        try:
            ds = LOADERS[name](args.data)
        except FileNotFoundError as exc:
            skipped.append(f"{name}: {exc.filename} is absent")
            continue
        if args.limit and len(ds.items) > args.limit:
            import random

            ds.items = random.Random(0).sample(ds.items, args.limit)
        t = time.perf_counter()
        scored = score_detector(det, ds.items)
        if ds.guard and not args.no_guard:
            score_guard(det, scored)
        res = evaluate(ds, scored, args.examples)
        res["seconds"] = round(time.perf_counter() - t, 2)
        results.append(res)
        print(f"{name}: {len(ds.items)} items in {res['seconds']:.1f} s", file=sys.stderr)
    header = (f"chatguard {chatguard.__version__} | ruleset {det.fingerprint[:16]} | "
              f"Python {platform.python_version()} | {os.cpu_count()} CPUs | "
              f"{time.strftime('%Y-%m-%d')}")
    if args.json:
        print(json.dumps({"header": header, "fingerprint": det.fingerprint,
                          "results": results, "skipped": skipped},
                         ensure_ascii=False, indent=2))
    else:
        print(render(results, header))
        for s in skipped:
            print(f"skipped {s}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
