"""From findings to a risk score in [0, 1] and a level with an operational meaning.

Within a category, independent findings combine like independent pieces of evidence:
``1 - Π(1 - wᵢ)``. Categories combine the same way, and categories that mean more together
than apart (diversion + money, investment + withdrawal fees) add the pack's combo bonus.
The arithmetic runs in numpy over many messages at once (``score_many``): one ``bincount``
per batch, not one Python loop per finding. Scores are rounded to 6 decimals so the same
rule-set fingerprint always gives the same verdict on every platform.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from .models import LEVEL_NAMES, LevelName
from .rules.schema import CATEGORIES, ScoringSpec

__all__ = ["Scorer"]

_MAX_W = 0.999  # a single finding never makes a category certain on its own


class Scorer:
    """Immutable scorer for one rule set's thresholds and combos."""

    def __init__(self, spec: ScoringSpec) -> None:
        self.spec = spec
        self.categories: tuple[str, ...] = CATEGORIES
        self.cat_index = {c: i for i, c in enumerate(CATEGORIES)}
        ncat = len(CATEGORIES)
        combos = spec.combos
        self._combo_masks = np.zeros((len(combos), ncat), dtype=bool)
        for k, combo in enumerate(combos):
            for c in combo.categories:
                self._combo_masks[k, self.cat_index[c]] = True
        self._combo_need = self._combo_masks.sum(axis=1)
        self._combo_bonus = np.array([c.bonus for c in combos], dtype=np.float64)
        self._thresholds = np.array(
            [spec.low, spec.medium, spec.high, spec.critical], dtype=np.float64
        )

        self._threshold_list = [float(x) for x in self._thresholds]
        self._combo_sets = [
            (frozenset(c.categories), float(c.bonus)) for c in combos
        ]

    def level_of(self, score: float) -> LevelName:
        return LEVEL_NAMES[bisect_right(self._threshold_list, score)]

    def score_one(
        self, cats: Sequence[str], weights: Sequence[float]
    ) -> tuple[float, LevelName, dict[str, float]]:
        """One message, in plain Python: numpy's per-call overhead (tens of microseconds)
        would dominate a single message. Same formula as :meth:`score_many`, and both round
        to 6 decimals, so the two agree."""
        log_miss: dict[str, float] = {}
        for c, w in zip(cats, weights, strict=True):
            if w > 0.0:
                log_miss[c] = log_miss.get(c, 0.0) + math.log1p(-min(w, _MAX_W))
        if not log_miss:
            return 0.0, "none", {}
        order = self.cat_index
        per_cat = {c: -math.expm1(log_miss[c]) for c in sorted(log_miss, key=order.__getitem__)}
        miss = 1.0
        for v in per_cat.values():
            miss *= 1.0 - min(v, _MAX_W)
        total = 1.0 - miss
        present = per_cat.keys()
        for need, bonus in self._combo_sets:
            if need <= present:
                total += bonus
        total = round(min(max(total, 0.0), 1.0), 6)
        return total, self.level_of(total), {c: round(v, 6) for c, v in per_cat.items()}

    def score_many(
        self, batches: Sequence[tuple[Sequence[str], Sequence[float]]]
    ) -> list[tuple[float, LevelName, dict[str, float]]]:
        """Score many messages at once; each item is (categories, weights) of its findings."""
        n = len(batches)
        ncat = len(self.categories)
        if n == 0:
            return []
        msg_idx: list[int] = []
        cat_idx: list[int] = []
        weights: list[float] = []
        index = self.cat_index
        for i, (cats, ws) in enumerate(batches):
            for c, w in zip(cats, ws, strict=True):
                if w > 0.0:
                    msg_idx.append(i)
                    cat_idx.append(index[c])
                    weights.append(w)
        per_cat = np.zeros((n, ncat), dtype=np.float64)
        if weights:
            w_arr = np.minimum(np.asarray(weights, dtype=np.float64), _MAX_W)
            flat = np.asarray(msg_idx, dtype=np.int64) * ncat + np.asarray(cat_idx, dtype=np.int64)
            log_miss = np.bincount(flat, weights=np.log1p(-w_arr), minlength=n * ncat)
            per_cat = -np.expm1(log_miss.reshape(n, ncat))
        total = self._combine(per_cat)
        levels = np.searchsorted(self._thresholds, total, side="right")
        out: list[tuple[float, LevelName, dict[str, float]]] = []
        for i in range(n):
            row = per_cat[i]
            nonzero = np.flatnonzero(row > 0)
            per = {self.categories[j]: round(float(row[j]), 6) for j in nonzero}
            out.append((float(total[i]), LEVEL_NAMES[int(levels[i])], per))
        return out

    def _combine(self, per_cat: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        miss = np.prod(1.0 - np.minimum(per_cat, _MAX_W), axis=1)
        total = 1.0 - miss
        if len(self._combo_bonus):
            present = per_cat > 0
            masks = self._combo_masks.T.astype(np.int64)
            hit = (present.astype(np.int64) @ masks) == self._combo_need
            total = total + hit.astype(np.float64) @ self._combo_bonus
        result: npt.NDArray[np.float64] = np.round(np.clip(total, 0.0, 1.0), 6)
        return result
