"""Smoke tests of the benchmark scripts: the corpus is deterministic and about 2% risky, and
the throughput measuring functions return sane numbers and identical verdicts on a tiny
corpus. No timing assertions: speed is the benchmarks' business, not the test suite's."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import chatguard

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
if str(BENCHMARKS) not in sys.path:
    sys.path.insert(0, str(BENCHMARKS))

import bench_quality  # noqa: E402
import bench_throughput  # noqa: E402
import corpus  # noqa: E402

SEED = 4242


def test_corpus_is_deterministic_and_two_percent_risky() -> None:
    a = corpus.generate(2000, SEED)
    assert a == corpus.generate(2000, SEED)
    assert a != corpus.generate(2000, SEED + 1)
    assert len(a) == 2000
    assert all(isinstance(t, str) and t and label in (0, 1) for t, label in a)
    risky = sum(label for _, label in a)
    assert risky == 40  # round(2000 * 0.02)
    assert len({t for t, _ in a}) > 500  # templates x fillers, not a handful of lines


def test_corpus_has_disguised_risky_messages_and_benign_money_talk() -> None:
    samples = corpus.generate_samples(2000, SEED)
    risky = [s for s in samples if s.label]
    assert {s.category for s in risky} <= set(corpus.RISKY_CATEGORIES)
    assert any(s.disguise != "none" for s in risky)
    assert all(s.disguise == "none" for s in samples if not s.label)
    assert sum(s.category == "money_talk" for s in samples) > 50
    assert corpus.generate_samples(0, SEED) == []


@pytest.fixture(scope="module")
def tiny() -> list[str]:
    return [t for t, _ in corpus.generate(400, SEED)]


def test_throughput_functions_return_positive_rates(
    default_detector: chatguard.Detector, tiny: list[str]
) -> None:
    res = bench_throughput.measure_throughput(default_detector, tiny, repeat=1, batch=64)
    assert res["messages"] == len(tiny)
    assert res["keys"] > 1000
    for key in ("baseline_msgs_per_s", "check_msgs_per_s", "check_many_msgs_per_s",
                "check_ratio", "check_many_ratio"):
        assert res[key] > 0, key
    assert res["mismatches"] == 0, res["mismatch_examples"]
    assert sum(res["levels"].values()) == len(tiny)
    assert res["levels"].get("none", 0) < len(tiny)  # the risky 2% hit something


def test_check_many_equals_check_on_the_corpus(
    default_detector: chatguard.Detector, tiny: list[str]
) -> None:
    one = bench_throughput.run_check(default_detector, tiny)
    batches = [tiny[i : i + 37] for i in range(0, len(tiny), 37)]
    many = bench_throughput.run_check_many(default_detector, batches)
    assert bench_throughput.compare_verdicts(one, many, tiny) == (0, [])


def test_baseline_uses_the_detector_keys(default_detector: chatguard.Detector) -> None:
    keys = bench_throughput.detector_keys(default_detector)
    assert len(keys) == len(set(keys)) >= default_detector.keyword_count // 2
    automaton = bench_throughput.bare_automaton(keys)
    assert bench_throughput.run_baseline(automaton, ["加我薇信", "今天天气不错"]) >= 1


def test_quality_metrics_on_a_toy_example() -> None:
    m = bench_quality.binary([1, 1, 0, 0, 0], [True, False, True, False, False])
    assert (m["tp"], m["fp"], m["fn"], m["tn"]) == (1, 1, 1, 2)
    assert m["precision"] == pytest.approx(0.5)
    assert m["recall"] == pytest.approx(0.5)
    assert m["fpr"] == pytest.approx(1 / 3)
    assert bench_quality.binary([0], [False])["precision"] is None
