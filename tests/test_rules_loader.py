"""Loading rule packs: every validator has a deliberately broken pack that must fail clearly."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

import chatguard
from chatguard.errors import RuleError, SchemaVersionError
from chatguard.rules.loader import load_rules
from chatguard.rules.schema import PackFile, RuleFile

PACK = 'schema_version = 1\nid = "broken"\nversion = "1"\n'
GOOD_RULE = """
[[rules]]
id = "ok-rule"
title = "fine"
category = "money_transfer"
keywords = ["转账"]
examples.match = ["转账"]
examples.no_match = ["你好"]
"""


def _pack(
    tmp_path: Path,
    rules: str,
    pack: str = PACK,
    files: dict[str, str] | None = None,
    name: str = "pack",
) -> Path:
    d = tmp_path / name
    d.mkdir()
    (d / "pack.toml").write_text(pack, encoding="utf-8")
    (d / "rules.toml").write_text(textwrap.dedent(rules), encoding="utf-8")
    for rel, text in (files or {}).items():
        p = d / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
    return d


V1 = "schema_version = 1\n"
KW = 'keywords = ["转账"]'


def _good(old: str, new: str) -> str:
    """Schema-version-1 text of the good rule with one edit."""
    return V1 + GOOD_RULE.replace(old, new)


BROKEN = [
    pytest.param(
        "schema_version = 2\n" + GOOD_RULE, None, SchemaVersionError,
        "unsupported schema_version 2",
        1, None, "schema_version", id="unsupported-schema-version",
    ),
    pytest.param(
        GOOD_RULE, None, SchemaVersionError, "missing 'schema_version'", None, None,
        "schema_version", id="missing-schema-version",
    ),
    pytest.param(
        "schema_version = 1\n" + GOOD_RULE + GOOD_RULE, None, RuleError, "duplicate rule id",
        12, "ok-rule", "id", id="duplicate-id",
    ),
    pytest.param(
        _good(KW, 'keywords = []'),
        None, RuleError, "at least 1 item", 7, "ok-rule", "keywords", id="empty-keyword-list",
    ),
    pytest.param(
        _good('title = "fine"', 'title = "fine"\ncolour = "red"'),
        None, RuleError, "unknown field", 6, "ok-rule", "colour", id="unknown-field",
    ),
    pytest.param(
        _good('id = "ok-rule"', 'id = "Bad_Id"'),
        None, RuleError, "kebab-case", 4, "Bad_Id", "id", id="id-not-kebab-case",
    ),
    pytest.param(
        _good('"money_transfer"', '"money"'),
        None, RuleError, "Input should be", 6, "ok-rule", "category", id="unknown-category",
    ),
    pytest.param(
        _good('examples.no_match = ["你好"]', ""),
        None, RuleError, "Field required", 4, "ok-rule", "examples.no_match",
        id="missing-no-match-examples",
    ),
    pytest.param(
        _good(
            'keywords = ["转账"]', 'keywords = ["转账"]\npatterns = [{ name = "x", regex = "(a+" }]'
        ),
        None, RuleError, "invalid regex", 8, "ok-rule", "patterns[0].regex", id="invalid-regex",
    ),
    pytest.param(
        _good(KW, KW + '\npatterns = [{ name = "x", regex = "(\\\\d+)+$" }]'),
        None, RuleError, "catastrophically", 8, "ok-rule", "patterns[0].regex",
        id="catastrophic-regex",
    ),
    pytest.param(
        "schema_version = 1\n[[rules]\nid = 'x'", None, RuleError, "invalid TOML", 2, None, None,
        id="invalid-toml",
    ),
    pytest.param(
        _good(KW, 'keywords_file = "../x.txt"'),
        None, RuleError, "inside the pack", 7, "ok-rule", "keywords_file",
        id="keywords-file-escapes-pack",
    ),
    pytest.param(
        _good(KW, 'keywords_file = "w/empty.txt"'),
        {"w/empty.txt": "# only a comment\n\n"}, RuleError, "has no keywords", 7, "ok-rule",
        "keywords_file", id="empty-keywords-file",
    ),
    pytest.param(
        _good(KW, 'keywords = ["！！"]'),
        None, RuleError, "empty once normalized", 4, "ok-rule", "keywords",
        id="keyword-only-punctuation",
    ),
    pytest.param(
        _good(
            'keywords = ["转账"]', 'keywords = ["转账"]\ncontext = { window = 3 }'
        ),
        None, RuleError, "at least one 'boost' or 'suppress'", 8, "ok-rule", "context",
        id="empty-context",
    ),
]


@pytest.mark.parametrize(
    ("rules", "files", "error", "message", "line", "rule_id", "field"), BROKEN
)
def test_broken_pack_fails_with_its_place(
    tmp_path: Path,
    rules: str,
    files: dict[str, str] | None,
    error: type[Exception],
    message: str,
    line: int | None,
    rule_id: str | None,
    field: str | None,
) -> None:
    """Each broken rule file fails at load with the file, line, rule id and field named."""
    d = _pack(tmp_path, rules, files=files)
    with pytest.raises(error) as info:
        chatguard.Detector.from_rules(d)
    exc = info.value
    assert isinstance(exc, RuleError)
    assert message in str(exc)
    assert exc.file is not None
    assert exc.file.endswith(".toml")
    assert exc.line == line
    assert exc.rule_id == rule_id
    assert exc.field == field
    assert isinstance(exc, ValueError)  # catchable as the builtin too


def test_pack_without_pack_toml(tmp_path: Path) -> None:
    """A directory without pack.toml is not a pack."""
    with pytest.raises(RuleError, match=r"needs a pack\.toml"):
        load_rules(tmp_path)


def test_missing_directory(tmp_path: Path) -> None:
    """A pack path that does not exist names the path."""
    with pytest.raises(RuleError, match="not found") as info:
        load_rules(tmp_path / "nope")
    assert "nope" in str(info.value)


def test_extends_disables_and_overrides(tmp_path: Path) -> None:
    """A platform pack extends the bundled one, disables a rule and re-weights another."""
    base = load_rules()
    victim, reweighted = base.rules[0].id, base.rules[1].id
    pack = (
        'schema_version = 1\nid = "platform"\nversion = "3"\nextends = ["bundled:zh-CN"]\n'
        f'disabled_rules = ["{victim}"]\n[overrides.{reweighted}]\nweight = 0.01\n'
    )
    own = GOOD_RULE.replace("ok-rule", "platform-only")
    d = _pack(tmp_path, "schema_version = 1\n" + own, pack=pack)
    rs = load_rules(d)
    ids = [r.id for r in rs.rules]
    assert victim not in ids
    assert "platform-only" in ids
    assert rs.rule(reweighted).spec.effective_weight == 0.01
    assert rs.packs[-1] == "platform@3"
    assert rs.fingerprint != base.fingerprint


def test_redefining_an_extended_rule_needs_disabling_first(tmp_path: Path) -> None:
    """An id already defined upstream is an error: rules are replaced deliberately."""
    first = load_rules().rules[0]
    pack = 'schema_version = 1\nid = "platform"\nextends = ["bundled:zh-CN"]\n'
    d = _pack(tmp_path, _good("ok-rule", first.id), pack=pack)
    with pytest.raises(RuleError, match="duplicate rule id"):
        load_rules(d)


def test_circular_extends(tmp_path: Path) -> None:
    """Packs that extend each other fail instead of recursing forever."""
    a, b = tmp_path / "a", tmp_path / "b"
    for me, other in ((a, "../b"), (b, "../a")):
        me.mkdir()
        (me / "pack.toml").write_text(
            f'schema_version = 1\nid = "{me.name}"\nextends = ["{other}"]\n', encoding="utf-8"
        )
        (me / "r.toml").write_text(
            _good("ok-rule", f"rule-{me.name}"),
            encoding="utf-8",
        )
    with pytest.raises(RuleError, match="circular"):
        load_rules(a)


def test_disabling_an_unknown_rule_is_an_error(tmp_path: Path) -> None:
    """A typo in disabled_rules must not silently keep the rule enabled."""
    pack = PACK + 'extends = ["bundled:zh-CN"]\ndisabled_rules = ["no-such-rule"]\n'
    d = _pack(tmp_path, "schema_version = 1\n" + GOOD_RULE, pack=pack)
    with pytest.raises(RuleError, match="no-such-rule") as info:
        load_rules(d)
    assert info.value.field == "disabled_rules"


def test_fingerprint_is_stable_and_content_addressed(tmp_path: Path) -> None:
    """The same content gives the same fingerprint; a changed keyword changes it."""
    d1 = _pack(tmp_path, "schema_version = 1\n" + GOOD_RULE, name="one")
    d2 = _pack(tmp_path, "schema_version = 1\n" + GOOD_RULE, name="two")
    d3 = _pack(tmp_path, _good("转账", "汇款"), name="three")
    f1, f2, f3 = (load_rules(d).fingerprint for d in (d1, d2, d3))
    assert f1 == f2
    assert f1 != f3
    assert f1.startswith("broken@1#")


@pytest.mark.parametrize("model", [RuleFile, PackFile], ids=["rule-file", "pack-file"])
def test_json_schema_exports(model: type[RuleFile] | type[PackFile]) -> None:
    """The JSON Schema for editors is exported and forbids unknown fields."""
    schema = model.model_json_schema()
    text = json.dumps(schema)
    assert '"additionalProperties": false' in text
    assert "schema_version" in schema["properties"]


def test_bundled_pack_validates() -> None:
    """The bundled pack loads, and carries id@version in its fingerprint."""
    rs = load_rules()
    assert len(rs.rules) >= 20
    assert rs.fingerprint.startswith("zh-cn@")
