"""Every example of every rule, in the bundled pack and in the test pack: a rule fires on
each of its ``examples.match`` and never on its ``examples.no_match``. One test per rule, so
a failure names the rule."""

from __future__ import annotations

from pathlib import Path

import pytest

import chatguard
from chatguard.rules.examples import run_examples
from chatguard.rules.loader import load_rules

from .conftest import DATA

BUNDLED = load_rules()
MINIMAL = DATA / "packs" / "minimal"
MINIMAL_RULES = load_rules(MINIMAL)


def _failures_by_rule(detector: chatguard.Detector) -> dict[str, list[str]]:
    failures: dict[str, list[str]] = {r.id: [] for r in detector.ruleset.rules}
    for result in run_examples(detector):
        if not result.passed:
            failures[result.rule_id].append(result.describe())
    return failures


@pytest.fixture(scope="module")
def bundled_results(default_detector: chatguard.Detector) -> dict[str, list[str]]:
    return _failures_by_rule(default_detector)


@pytest.fixture(scope="module")
def minimal_results(minimal_detector: chatguard.Detector) -> dict[str, list[str]]:
    return _failures_by_rule(minimal_detector)


@pytest.mark.parametrize("rule_id", [r.id for r in BUNDLED.rules])
def test_bundled_rule_examples(bundled_results: dict[str, list[str]], rule_id: str) -> None:
    assert bundled_results[rule_id] == []


@pytest.mark.parametrize("rule_id", [r.id for r in MINIMAL_RULES.rules])
def test_minimal_rule_examples(minimal_results: dict[str, list[str]], rule_id: str) -> None:
    assert minimal_results[rule_id] == []


def test_every_bundled_rule_has_both_kinds_of_example() -> None:
    for r in BUNDLED.rules:
        assert r.spec.examples.match, r.id
        assert r.spec.examples.no_match, r.id


def test_every_example_is_run(
    default_detector: chatguard.Detector, minimal_detector: chatguard.Detector
) -> None:
    """The runner covers every example of every rule, nothing more."""
    for det in (default_detector, minimal_detector):
        expected = sum(len(r.spec.examples.match) + len(r.spec.examples.no_match)
                       for r in det.ruleset.rules)
        results = run_examples(det)
        assert len(results) == expected
        assert {r.rule_id for r in results} == {r.id for r in det.ruleset.rules}
        assert all(r.file.endswith(".toml") and r.line for r in results)
    assert len(run_examples(minimal_detector)) >= 20


def test_examples_catch_a_broken_rule(tmp_path: Path) -> None:
    """The example runner really fails: a rule whose match example cannot match."""
    pack = tmp_path / "pack"
    pack.mkdir()
    (pack / "pack.toml").write_text('schema_version = 1\nid = "t"\n', encoding="utf-8")
    (pack / "r.toml").write_text(
        'schema_version = 1\n[[rules]]\nid = "r"\ntitle = "t"\ncategory = "money_transfer"\n'
        'keywords = ["转账"]\nexamples.match = ["你好"]\nexamples.no_match = ["转账"]\n',
        encoding="utf-8",
    )
    results = run_examples(chatguard.Detector.from_rules(pack))
    assert sorted((r.kind, r.passed) for r in results) == [("match", False), ("no_match", False)]
