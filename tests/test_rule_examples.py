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


@pytest.fixture(scope="module")
def bundled_results(default_detector: chatguard.Detector) -> dict[str, list[str]]:
    failures: dict[str, list[str]] = {r.id: [] for r in BUNDLED.rules}
    for result in run_examples(default_detector):
        if not result.passed:
            failures[result.rule_id].append(result.describe())
    return failures


@pytest.mark.parametrize("rule_id", [r.id for r in BUNDLED.rules])
def test_bundled_rule_examples(bundled_results: dict[str, list[str]], rule_id: str) -> None:
    assert bundled_results[rule_id] == []


def test_every_bundled_rule_has_both_kinds_of_example() -> None:
    for r in BUNDLED.rules:
        assert r.spec.examples.match, r.id
        assert r.spec.examples.no_match, r.id


def test_minimal_pack_examples(minimal_detector: chatguard.Detector) -> None:
    results = run_examples(minimal_detector)
    assert len(results) >= 20
    assert [r.describe() for r in results if not r.passed] == []


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
