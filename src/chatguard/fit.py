"""``chatguard fit``: rule weights learned from labeled data.

A rule's weight says how strongly one hit of it points to a scam. Hand-set weights drift
from what the data says: some rules fire mostly on ordinary money talk, others almost only
in scams. ``fit`` measures that and writes the result as a pack file of ``overrides`` that
extends the fitted pack, so the learned weights stay a reviewable diff, never an edit of the
rules themselves.

The model is a regularized logistic regression, in numpy, on one feature per rule: whether
the rule has a live (not suppressed) finding in the sample. The detector runs once per
sample; identical feature rows are collapsed into one weighted row, so the fit costs the
number of distinct rule combinations, not the number of messages. With balanced class
weights (the default) the intercept does not encode the data set's scam share. The pack
scores by noisy-or (``1 - prod(1 - w)``), so a learned weight is the noisy-or weight that
lifts the model's probability for a sample hitting nothing (the leak) to its probability
for a sample with that rule alone: ``w = (p_rule - p_leak) / (1 - p_leak)``. A rule that
fires as often on ordinary chat as in scams gets a weight near zero, one that fires only in
scams a weight near one. The penalty pulls towards the rule author's weight, not towards
zero, so a rule seen a few times keeps about the weight it had. Rules with too little
support in the training split keep their weights: the absence of evidence is not evidence.

The held-out split is scored twice, with the pack as it was and with the pack plus the
written overrides (a real detector over the written file), so the report shows what the
file changes, not what the model predicts.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import numpy.typing as npt

from .errors import ConfigError
from .evaluate import Counts
from .models import Level, Verdict
from .rules.loader import RuleSet, load_rules
from .rules.schema import SCHEMA_VERSION

__all__ = [
    "FitResult",
    "LogisticModel",
    "add_fit_parser",
    "features",
    "features_of",
    "fit_logistic",
    "fit_weights",
    "run_fit_command",
    "write_overrides",
]

_MIN_WEIGHT = 0.01
_MAX_WEIGHT = 0.99


@dataclass(frozen=True, slots=True)
class LogisticModel:
    """``P(scam | x) = sigmoid(intercept + coef @ x)``."""

    coef: npt.NDArray[np.float64]
    intercept: float
    iterations: int
    converged: bool

    def predict(self, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        z = self.intercept + x @ self.coef
        out: npt.NDArray[np.float64] = 1.0 / (1.0 + np.exp(-z))
        return out


def fit_logistic(
    x: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    *,
    sample_weight: npt.NDArray[np.float64] | None = None,
    l2: float = 1.0,
    prior: npt.NDArray[np.float64] | None = None,
    max_iter: int = 100,
    tol: float = 1e-8,
) -> LogisticModel:
    """L2-regularized logistic regression by Newton's method (iteratively reweighted least
    squares); the intercept is not penalized. The penalty pulls the coefficients towards
    ``prior`` (default zero): ``l2 / 2 * ||coef - prior||^2``.

    Newton rather than gradient descent: with one feature per rule (a few hundred at most)
    the Hessian is small, and it converges in a handful of steps with no learning rate to
    tune, so the same data always gives the same weights.
    """
    n, d = x.shape
    if y.shape != (n,):
        raise ValueError("y must have one label per row of x")
    sw = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    xa = np.hstack([np.ones((n, 1)), x])  # column 0: the intercept
    penalty = np.full(d + 1, float(l2))
    penalty[0] = 0.0
    center = np.zeros(d + 1)
    if prior is not None:
        center[1:] = prior
    beta = center.copy()
    converged = False
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 - the count is reported
        z = xa @ beta
        p = 1.0 / (1.0 + np.exp(-z))
        grad = xa.T @ (sw * (p - y)) + penalty * (beta - center)
        h = (xa * (sw * p * (1.0 - p))[:, None]).T @ xa + np.diag(penalty)
        h[np.diag_indices_from(h)] += 1e-9  # a column of zeros must not make it singular
        step = np.linalg.solve(h, grad)
        beta -= step
        if float(np.max(np.abs(step))) < tol:
            converged = True
            break
    return LogisticModel(beta[1:].copy(), float(beta[0]), it, converged)


def features(ruleset: RuleSet, texts: Sequence[str]) -> npt.NDArray[np.float64]:
    """One row per text, one column per rule (in ``ruleset.rules`` order): 1.0 when the rule
    has a live finding in the text."""
    from .detector import Detector

    return features_of(ruleset, Detector(ruleset).check_many(texts))


def features_of(ruleset: RuleSet, verdicts: Sequence[Verdict]) -> npt.NDArray[np.float64]:
    """:func:`features` from verdicts already computed with ``ruleset``."""
    index = {r.id: j for j, r in enumerate(ruleset.rules)}
    x = np.zeros((len(verdicts), len(index)), dtype=np.float64)
    for i, v in enumerate(verdicts):
        for rid in v.rule_ids:
            x[i, index[rid]] = 1.0
    return x


@dataclass(slots=True)
class FitResult:
    """What ``fit`` learned and what it changes on the held-out split."""

    pack: str
    train: int
    holdout: int
    weights: dict[str, float]  # rule id -> learned weight (rules with enough support only)
    previous: dict[str, float]  # rule id -> weight before
    support: dict[str, tuple[int, int]]  # rule id -> (scam, benign) training samples hit
    model: LogisticModel
    before: Counts | None = None
    after: Counts | None = None
    threshold: str = "medium"
    seconds: float = 0.0
    skipped: list[str] = field(default_factory=list)  # rules hit too rarely to fit

    def to_dict(self) -> dict[str, Any]:
        return {
            "pack": self.pack, "train": self.train, "holdout": self.holdout,
            "threshold": self.threshold, "seconds": round(self.seconds, 3),
            "converged": self.model.converged, "iterations": self.model.iterations,
            "intercept": self.model.intercept,
            "weights": {rid: {"before": self.previous[rid], "after": w,
                              "scam_hits": self.support[rid][0],
                              "benign_hits": self.support[rid][1]}
                        for rid, w in self.weights.items()},
            "kept": self.skipped,
            "holdout_before": _split(self.before),
            "holdout_after": _split(self.after),
        }

    def render(self) -> str:
        def pct(x: float | None) -> str:
            return "   n/a" if x is None else f"{100 * x:5.1f}%"

        lines = [f"fitted {len(self.weights)} rule weights of {self.pack} on {self.train} "
                 f"samples ({len(self.skipped)} rules kept: too few hits); "
                 f"{'converged' if self.model.converged else 'NOT converged'} in "
                 f"{self.model.iterations} Newton steps, {self.seconds:.1f} s"]
        changed = sorted(self.weights, key=lambda r: -abs(self.weights[r] - self.previous[r]))
        if changed:
            lines.append("largest changes (rule: before -> after, scam/benign hits):")
            for rid in changed[:15]:
                s, b = self.support[rid]
                lines.append(f"  {rid}: {self.previous[rid]:.2f} -> {self.weights[rid]:.2f}"
                             f"  ({s}/{b})")
        if self.before is not None and self.after is not None:
            lines.append(f"held-out split ({self.holdout} samples, flagged at level >= "
                         f"{self.threshold}):")
            lines.append("           precision  recall      F1     FPR")
            for name, sp in (("before", self.before), ("after", self.after)):
                lines.append(f"  {name:7}    {pct(sp.precision)}  {pct(sp.recall)}  "
                             f"{pct(sp.f1)}  {pct(sp.fpr)}")
        return "\n".join(lines)


def _split(c: Counts | None) -> dict[str, Any] | None:
    if c is None:
        return None
    return {"n": c.tp + c.fp + c.fn + c.tn, "positives": c.tp + c.fn, **c.to_dict()}


def _counts(labels: Sequence[int], flagged: Sequence[bool]) -> Counts:
    c = Counts()
    for y, f in zip(labels, flagged, strict=True):
        c.add(y, f)
    return c


def _stratified_split(labels: Sequence[int], holdout: float, seed: int) -> npt.NDArray[np.bool_]:
    """A boolean mask of held-out rows, the same share of each class, reproducible."""
    rng = np.random.default_rng(seed)
    y = np.asarray(labels)
    mask = np.zeros(len(y), dtype=bool)
    for cls in (0, 1):
        idx = np.flatnonzero(y == cls)
        k = round(len(idx) * holdout)
        if k:
            mask[rng.choice(idx, size=k, replace=False)] = True
    return mask


def fit_weights(
    ruleset: RuleSet,
    texts: Sequence[str],
    labels: Sequence[int],
    *,
    l2: float = 1.0,
    min_support: int = 5,
    balanced: bool = True,
    x: npt.NDArray[np.float64] | None = None,
) -> tuple[dict[str, float], dict[str, tuple[int, int]], LogisticModel, list[str]]:
    """Learned weights for the rules hit in at least ``min_support`` samples: (weights,
    support per rule, the model, rules kept as they were)."""
    if len(texts) != len(labels):
        raise ValueError("one label per text")
    y = np.asarray(labels, dtype=np.float64)
    if set(np.unique(y).tolist()) - {0.0, 1.0}:
        raise ValueError("labels must be 0 (benign) or 1 (scam)")
    if x is None:
        x = features(ruleset, texts)
    rules = [r.id for r in ruleset.rules]
    scam_hits = x[y == 1].sum(axis=0).astype(int)
    benign_hits = x[y == 0].sum(axis=0).astype(int)
    support = {rid: (int(scam_hits[j]), int(benign_hits[j])) for j, rid in enumerate(rules)}
    keep = np.flatnonzero(scam_hits + benign_hits >= min_support)
    skipped = [rules[j] for j in range(len(rules)) if j not in set(keep.tolist())]
    xs = x[:, keep]
    # Collapse identical rows: most messages hit nothing, the rest few distinct rule sets.
    rows, inverse = np.unique(xs, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    pos = np.bincount(inverse, weights=y, minlength=len(rows))
    tot = np.bincount(inverse, minlength=len(rows)).astype(np.float64)
    neg = tot - pos
    n_pos, n_neg = float(y.sum()), float(len(y) - y.sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError("fitting needs both scam and benign samples")
    w_pos = len(y) / (2 * n_pos) if balanced else 1.0
    w_neg = len(y) / (2 * n_neg) if balanced else 1.0
    xx = np.vstack([rows, rows])
    yy = np.concatenate([np.ones(len(rows)), np.zeros(len(rows))])
    ww = np.concatenate([pos * w_pos, neg * w_neg])
    live = ww > 0
    # Pull each coefficient towards the rule author's weight, not towards zero: a rule seen
    # a few times keeps about the weight it had; much evidence moves it. A weight w is read
    # the way the pack's noisy-or scoring reads it, over a leak p0 (the chance that a
    # sample hitting nothing is a scam): P(scam | the rule alone) = p0 + (1 - p0) * w.
    empty = np.flatnonzero(~rows.any(axis=1))
    p0 = (float(pos[empty].sum()) * w_pos + 0.5) / (
        float(pos[empty].sum()) * w_pos + float(neg[empty].sum()) * w_neg + 1.0)
    b0 = math.log(p0 / (1.0 - p0))
    authors = np.array([_logit(p0 + (1.0 - p0) * ruleset.rules[j].spec.effective_weight)
                        for j in keep.tolist()])
    model = fit_logistic(xx[live], yy[live], sample_weight=ww[live], l2=l2,
                         prior=authors - b0)
    leak = 1.0 / (1.0 + math.exp(-model.intercept))
    weights: dict[str, float] = {}
    for k, j in enumerate(keep.tolist()):
        p = 1.0 / (1.0 + math.exp(-(model.intercept + float(model.coef[k]))))
        w = (p - leak) / (1.0 - leak)  # the noisy-or weight that gives p over the leak
        weights[rules[j]] = round(min(max(w, _MIN_WEIGHT), _MAX_WEIGHT), 3)
    return weights, support, model, skipped


def _logit(p: float) -> float:
    p = min(max(p, _MIN_WEIGHT), _MAX_WEIGHT)
    return math.log(p / (1.0 - p))


def write_overrides(
    path: str | Path,
    extends: str | Path,
    weights: dict[str, float],
    *,
    pack_id: str = "fitted-weights",
    comment: str = "",
) -> Path:
    """Write ``weights`` as a lone pack file: ``extends`` the fitted pack and ``overrides``
    each rule's weight. Load it with ``Detector.from_rules(path)``, or name it in a pack's
    ``extends``."""
    out = Path(path)
    ext = Path(extends)
    ref = str(extends)
    if not ref.startswith("bundled:"):
        ext = ext.resolve()
        try:  # relative when it can be, so the pair can move together
            ref = Path(os.path.relpath(ext, out.resolve().parent)).as_posix()
        except ValueError:
            ref = ext.as_posix()
    lines = [f"# {line}" for line in comment.splitlines()] if comment else []
    lines += [
        f"schema_version = {SCHEMA_VERSION}",
        f"id = {json.dumps(pack_id)}",
        f'version = "{time.strftime("%Y.%m.%d", time.gmtime())}"',
        f"description = {json.dumps('rule weights learned by chatguard fit')}",
        f"extends = [{json.dumps(ref)}]",
        "",
        "[overrides]",
    ]
    lines += [f"{json.dumps(rid)} = {{ weight = {w} }}" for rid, w in sorted(weights.items())]
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


# ---------------------------------------------------------------------------------------
# the command
# ---------------------------------------------------------------------------------------
def add_fit_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    f = sub.add_parser(
        "fit", help="learn rule weights from labeled data; write an overrides pack file")
    f.add_argument("--data", action="append", required=True, metavar="LABELED",
                   help="labeled data (see `chatguard eval`); repeat to combine")
    f.add_argument("--rules", default=None, metavar="DIR",
                   help="the pack to fit (default: the bundled pack)")
    f.add_argument("--out", required=True, metavar="FILE.toml",
                   help="where to write the overrides pack file")
    f.add_argument("--holdout", type=float, default=0.2,
                   help="share of the data held out to compare before and after (default 0.2)")
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--l2", type=float, default=1.0, help="L2 penalty (default 1.0)")
    f.add_argument("--min-support", type=int, default=5,
                   help="fit only rules hit in at least this many training samples")
    f.add_argument("--threshold", default="medium",
                   choices=["low", "medium", "high", "critical"],
                   help="level at which a sample counts as flagged (default medium)")
    f.add_argument("--json", action="store_true", help="print the result as JSON")


def load_samples(paths: Sequence[str]) -> tuple[list[str], list[int]]:
    """Texts and 0/1 labels from labeled data sets; a conversation is one sample (its
    turns joined by newlines), since a rule's evidence in it is the same either way."""
    from . import labeled

    texts: list[str] = []
    labels: list[int] = []
    for p in paths:
        for ds in labeled.load(p):
            for m in ds.messages:
                texts.append(m.text)
                labels.append(int(m.label))
            for c in ds.conversations:
                texts.append("\n".join(t.text for t in c.turns))
                labels.append(int(c.label))
    return texts, labels


def run_fit_command(args: argparse.Namespace, *, stdout: TextIO | None = None) -> int:
    out = stdout or sys.stdout
    if not 0.0 <= args.holdout < 1.0:
        raise ConfigError("--holdout must be in [0, 1)")
    if args.min_support < 1:
        raise ConfigError("--min-support must be at least 1")
    if args.l2 < 0:
        raise ConfigError("--l2 must not be negative")
    if not str(args.out).endswith(".toml"):
        raise ConfigError("--out must name a .toml file")
    t0 = time.perf_counter()
    rules_ref: str = args.rules if args.rules else "bundled:zh-CN"
    ruleset = load_rules(args.rules) if args.rules else load_rules()
    texts, labels = load_samples(args.data)
    if not texts:
        raise ConfigError("no labeled samples in " + ", ".join(args.data))
    held = _stratified_split(labels, args.holdout, args.seed)
    train_idx = np.flatnonzero(~held)
    hold_idx = np.flatnonzero(held)
    from .detector import Detector

    # one detector and one pass over every sample: the features of the training split and
    # the "before" verdicts of the held-out split come from the same verdicts
    verdicts = Detector(ruleset).check_many(texts)
    x_all = features_of(ruleset, verdicts)
    y_train = [labels[i] for i in train_idx]
    try:
        weights, support, model, skipped = fit_weights(
            ruleset, [texts[i] for i in train_idx], y_train, l2=args.l2,
            min_support=args.min_support, x=x_all[train_idx])
    except ValueError as exc:
        raise ConfigError(f"cannot fit: {exc}") from None
    previous = {r.id: r.spec.effective_weight for r in ruleset.rules}
    out_path = write_overrides(
        args.out, rules_ref, weights,
        comment=(f"{len(weights)} weights fitted on {len(train_idx)} samples from "
                 f"{', '.join(Path(d).name for d in args.data)}; l2={args.l2}, "
                 f"seed={args.seed}"))
    result = FitResult(ruleset.name, len(train_idx), len(hold_idx), weights, previous,
                       support, model, threshold=args.threshold, skipped=skipped)
    if len(hold_idx):
        floor = Level[args.threshold.upper()]
        hold_labels = [labels[i] for i in hold_idx]
        before = [verdicts[i] for i in hold_idx]
        after = Detector.from_rules(out_path).check_many([texts[i] for i in hold_idx])
        result.before = _counts(hold_labels, [v.level_value >= floor for v in before])
        result.after = _counts(hold_labels, [v.level_value >= floor for v in after])
    result.seconds = time.perf_counter() - t0
    if args.json:
        out.write(json.dumps(result.to_dict(), ensure_ascii=False, indent=2) + "\n")
    else:
        out.write(result.render() + f"\nwrote {out_path}\n")
    return 0

