"""The bundled zh-CN pack on the hand-labeled dev set: a regression guard for recall and
false positives, overall, per scam category and per disguise.

The floors sit a little under the figures measured when the pack was tuned (96% of risky
messages at medium or above, about 1% of benign ones), so a rule change that loses recall
or starts flagging ordinary money talk fails here, with the offending messages printed.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

import chatguard
from chatguard.models import Level

DEV = Path(__file__).parent / "data" / "dev_messages.jsonl"


@pytest.fixture(scope="module")
def scored(default_detector: chatguard.Detector) -> list[tuple[dict[str, Any], bool]]:
    rows = [json.loads(line) for line in DEV.read_text(encoding="utf-8").splitlines() if line]
    verdicts = default_detector.check_many([r["text"] for r in rows])
    return [(r, v.level_value >= Level.MEDIUM) for r, v in zip(rows, verdicts, strict=True)]


def test_dev_set_is_balanced_and_covers_every_disguise(
    scored: list[tuple[dict[str, Any], bool]],
) -> None:
    risky = [r for r, _ in scored if r["label"] == 1]
    benign = [r for r, _ in scored if r["label"] == 0]
    assert len(risky) >= 200
    assert len(benign) >= 200
    disguises = {r["disguise"] for r in risky}
    for kind in ("spaces", "symbols", "zero_width", "emoji_inside", "fullwidth", "traditional",
                 "digits_styled", "repeated", "homophone", "lookalike", "split_radical",
                 "pinyin", "initials"):
        assert kind in disguises, kind


def test_recall_and_false_positive_rate(scored: list[tuple[dict[str, Any], bool]]) -> None:
    """At least 93% of risky messages medium or above; at most 2.5% of benign ones."""
    risky = [(r, hit) for r, hit in scored if r["label"] == 1]
    benign = [(r, hit) for r, hit in scored if r["label"] == 0]
    missed = [r["text"] for r, hit in risky if not hit]
    flagged = [r["text"] for r, hit in benign if hit]
    recall = 1 - len(missed) / len(risky)
    fpr = len(flagged) / len(benign)
    print(f"\nrecall {recall:.1%}  false-positive rate {fpr:.1%}")
    print("missed:", *missed, sep="\n  ")
    print("flagged benign:", *flagged, sep="\n  ")
    assert recall >= 0.93
    assert fpr <= 0.025


@pytest.mark.parametrize(
    "field",
    [pytest.param("category", id="per-category"), pytest.param("disguise", id="per-disguise")],
)
def test_recall_per_group(scored: list[tuple[dict[str, Any], bool]], field: str) -> None:
    """Every scam category, and every kind of disguised writing, keeps at least 80% recall
    (most are at 100%): disguised writing is caught about as well as plain writing."""
    groups: dict[str, list[bool]] = defaultdict(list)
    for r, hit in scored:
        if r["label"] == 1:
            groups[r[field]].append(hit)
    low = {g: f"{sum(h) / len(h):.0%} of {len(h)}" for g, h in groups.items()
           if sum(h) / len(h) < 0.8}
    assert not low, low
