"""Keyword variants: which disguises a keyword gets, the rules every output obeys, the tables."""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Set
from importlib import resources

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chatguard.errors import ConfigError, RuleError
from chatguard.normalize import Normalizer
from chatguard.variants import KIND_ORDER, Variant, VariantExpander, _parse_table

ALL = frozenset(KIND_ORDER)
TABLES = ("t2s.tsv", "pinyin.tsv", "homophones.tsv", "split.tsv", "aliases.tsv")

# Realistic rule keywords: plain, with ASCII, 2 to 4 characters, with heteronyms.
KEYWORDS = [
    pytest.param("微信", id="weixin"),
    pytest.param("加微信", id="add-weixin"),
    pytest.param("转账", id="transfer"),
    pytest.param("银行卡", id="bank-card"),
    pytest.param("二维码", id="qr-code"),
    pytest.param("支付宝", id="alipay"),
    pytest.param("稳赚不赔", id="sure-win"),
    pytest.param("充值返利", id="top-up-rebate"),
    pytest.param("qq号", id="qq-number"),
    pytest.param("usdt", id="ascii-only"),
    pytest.param("长长长", id="heteronym-product"),
    pytest.param("刷单任务佣金日结", id="long-keyword"),
]


@pytest.fixture(scope="module")
def expander() -> VariantExpander:
    return VariantExpander()


def _texts(expander: VariantExpander, keyword: str, kinds: frozenset[str]) -> dict[str, str]:
    return {v.text: v.kind for v in expander.expand(keyword, kinds)}


@pytest.mark.parametrize(
    ("keyword", "kinds", "text", "kind"),
    [
        pytest.param("微信", {"homophone"}, "薇信", "homophone", id="weixin-homophone-wei"),
        pytest.param("微信", {"homophone"}, "威信", "homophone", id="weixin-homophone-wei2"),
        pytest.param("微信", {"homophone"}, "v信", "homophone", id="weixin-latin-letter"),
        pytest.param("微信", {"alias"}, "vx", "alias", id="weixin-alias-vx"),
        pytest.param("微信", ALL, "薇信", "alias", id="weixin-alias-beats-homophone"),
        pytest.param("微信", ALL, "v信", "alias", id="weixin-alias-v-xin"),
        pytest.param("银行卡", {"initials"}, "yhk", "initials", id="bank-card-initials"),
        pytest.param("银行卡", ALL, "yhk", "alias", id="bank-card-initials-listed-alias"),
        pytest.param("银行卡", {"split"}, "钅艮行卡", "split", id="bank-card-split"),
        pytest.param("银行卡", {"pinyin"}, "yinhangka", "pinyin", id="bank-card-second-reading"),
        pytest.param("转账", {"pinyin"}, "zhuanzhang", "pinyin", id="transfer-full-pinyin"),
        pytest.param("转账", {"pinyin"}, "zhuan账", "pinyin", id="transfer-mixed-first"),
        pytest.param("转账", {"pinyin"}, "转zhang", "pinyin", id="transfer-mixed-second"),
        pytest.param("转账", {"split"}, "车专账", "split", id="transfer-split"),
        pytest.param("转账", {"split"}, "车专贝k", "split", id="transfer-split-all-alt-form"),
        pytest.param("转账", {"alias"}, "zz", "alias", id="transfer-two-letter-alias"),
        pytest.param("计划", {"split"}, "讠十戈刂", "split", id="plan-split-both"),
        pytest.param("加微信", {"alias"}, "加vx", "alias", id="contained-canonical-vx"),
        pytest.param("加微信", {"alias"}, "加v信", "alias", id="contained-canonical-v-xin"),
        pytest.param("加微信", {"alias"}, "加薇", "alias", id="own-alias"),
        pytest.param("qq号", {"alias"}, "扣扣号", "alias", id="ascii-canonical-contained"),
        pytest.param("qq号", {"pinyin"}, "qqhao", "pinyin", id="pinyin-keeps-ascii"),
        pytest.param("稳赚不赔", {"homophone"}, "吻撰不赔", "homophone", id="two-positions"),
        pytest.param("二维码", {"homophone"}, "2维码", "homophone", id="digit-substitute"),
        pytest.param("二维码", {"initials"}, "ewm", "initials", id="qr-code-initials"),
    ],
)
def test_expected_variant_is_produced(
    expander: VariantExpander, keyword: str, kinds: Set[str], text: str, kind: str
) -> None:
    """Each disguise seen in scam chat is produced, under the kind that explains it."""
    assert _texts(expander, keyword, frozenset(kinds)).get(text) == kind


@pytest.mark.parametrize(
    ("keyword", "kinds", "text"),
    [
        pytest.param("转账", ALL - {"alias"}, "zz", id="two-letter-initials"),
        pytest.param("计划", ALL, "jh", id="two-letter-initials-unlisted"),
        pytest.param("微信", {"homophone"}, "薇芯", id="two-positions-needs-three-chars"),
        pytest.param("qq号", {"alias"}, "q号号", id="alias-not-reapplied-inside"),
        pytest.param("泰达币", {"pinyin"}, "taidayin", id="unattested-reading"),
        pytest.param("泰达币", {"pinyin"}, "泰达yin", id="unattested-reading-mixed"),
        pytest.param("计划", {"pinyin"}, "ji划", id="mixed-needs-three-letters"),
        pytest.param("加微信", {"alias"}, "加微信", id="keyword-itself"),
    ],
)
def test_unwanted_variant_is_not_produced(
    expander: VariantExpander, keyword: str, kinds: Set[str], text: str
) -> None:
    """Variants that would be noise (ambiguous, unattested, malformed) are never emitted."""
    assert text not in _texts(expander, keyword, frozenset(kinds))


@pytest.mark.parametrize(
    ("keyword", "kinds", "limit"),
    [
        pytest.param("钱", ALL, 64, id="single-cjk-char"),
        pytest.param("v", ALL, 64, id="single-ascii-char"),
        pytest.param("", ALL, 64, id="empty"),
        pytest.param("zz", ALL, 64, id="ascii-without-alias"),
        pytest.param("α转账", {"pinyin", "initials"}, 64, id="non-cjk-non-ascii-skips-pinyin"),
        pytest.param("转账", {"initials"}, 64, id="two-char-initials"),
        pytest.param("转账", {"traditional"}, 64, id="traditional-is-normalizer-work"),
        pytest.param("转账", frozenset(), 64, id="no-kinds"),
        pytest.param("转账", ALL, 0, id="zero-limit"),
    ],
)
def test_expands_to_nothing(
    expander: VariantExpander, keyword: str, kinds: Set[str], limit: int
) -> None:
    """Keywords too short or foreign to disguise, and empty requests, give no variants."""
    assert expander.expand(keyword, frozenset(kinds), limit=limit) == []


@pytest.mark.parametrize("keyword", KEYWORDS)
def test_no_variant_shorter_than_two(expander: VariantExpander, keyword: str) -> None:
    """A one-character variant would match inside unrelated words everywhere."""
    assert all(len(v.text) >= 2 for v in expander.expand(keyword, ALL))


@pytest.mark.parametrize("keyword", KEYWORDS)
def test_two_ascii_letters_only_from_aliases(expander: VariantExpander, keyword: str) -> None:
    """Two ASCII letters are too ambiguous unless curated (zz, vx), never mechanical."""
    for v in expander.expand(keyword, ALL):
        if len(v.text) == 2 and v.text.isascii() and v.text.isalpha():
            assert v.kind == "alias", v


@pytest.mark.parametrize("keyword", KEYWORDS)
def test_variants_are_nfkc_casefold_stable(expander: VariantExpander, keyword: str) -> None:
    """The matcher sees NFKC + case-folded text, so a variant must already be in that form."""
    for v in expander.expand(keyword, ALL):
        assert unicodedata.normalize("NFKC", v.text).casefold() == v.text, v


@pytest.mark.parametrize("keyword", KEYWORDS)
def test_variants_survive_the_normalizer(expander: VariantExpander, keyword: str) -> None:
    """Every variant is unchanged by the real keyword normalizer, so it can match at all."""
    normalizer = Normalizer(expander.t2s)
    for v in expander.expand(keyword, ALL):
        assert normalizer.normalize_keyword(v.text) == v.text, v


@pytest.mark.parametrize("keyword", KEYWORDS)
def test_output_is_unique_sorted_and_excludes_keyword(
    expander: VariantExpander, keyword: str
) -> None:
    """The automaton gets each text once, in kind-then-text order, never the keyword again."""
    variants = expander.expand(keyword, ALL)
    texts = [v.text for v in variants]
    assert keyword not in texts
    assert len(set(texts)) == len(texts)
    assert variants == sorted(variants, key=lambda v: (KIND_ORDER.index(v.kind), v.text))


@pytest.mark.parametrize("keyword", KEYWORDS)
def test_expansion_is_deterministic(keyword: str) -> None:
    """Two expanders, and two calls, give identical output (rule fingerprints depend on it)."""
    first, second = VariantExpander(), VariantExpander()
    assert first.expand(keyword, ALL) == second.expand(keyword, ALL)
    assert first.expand(keyword, ALL) == first.expand(keyword, ALL)


@pytest.mark.parametrize(
    ("keyword", "limit"),
    [
        pytest.param("转账", 1, id="one"),
        pytest.param("转账", 3, id="inside-split"),
        pytest.param("银行卡", 10, id="inside-homophone"),
        pytest.param("稳赚不赔", 20, id="homophone-doubles-cut"),
        pytest.param("刷单任务佣金日结", 64, id="default-limit-long-keyword"),
    ],
)
def test_limit_keeps_higher_priority_kinds(
    expander: VariantExpander, keyword: str, limit: int
) -> None:
    """A spent budget drops whole lower-priority kinds first (alias, split, homophone, ...)."""
    full = expander.expand(keyword, ALL, limit=10_000)
    cut = expander.expand(keyword, ALL, limit=limit)
    assert len(cut) == min(limit, len(full))
    assert set(cut) <= set(full)
    worst = max(KIND_ORDER.index(v.kind) for v in cut)
    assert {v for v in full if KIND_ORDER.index(v.kind) < worst} <= set(cut)


_SHARED = VariantExpander()  # hypothesis tests cannot take function-scoped fixtures


@given(
    keyword=st.text(
        alphabet="微信转账银行卡计划加二维码支付宝红包稳赚不赔长了行qv2α", min_size=0, max_size=7
    ),
    kinds=st.frozensets(st.sampled_from(KIND_ORDER)),
    limit=st.integers(min_value=0, max_value=80),
)
@settings(max_examples=300, deadline=None)
def test_output_rules_hold_for_any_keyword(keyword: str, kinds: frozenset[str], limit: int) -> None:
    """Whatever the keyword, kinds and limit, the output obeys every documented rule."""
    variants = _SHARED.expand(keyword, kinds, limit=limit)
    texts = [v.text for v in variants]
    assert len(variants) <= limit
    assert len(set(texts)) == len(texts)
    assert keyword not in texts
    assert {v.kind for v in variants} <= kinds
    for v in variants:
        assert len(v.text) >= 2
        assert v.text.isalnum()
        assert unicodedata.normalize("NFKC", v.text).casefold() == v.text
        if len(v.text) == 2 and v.text.isascii() and v.text.isalpha():
            assert v.kind == "alias"


@pytest.mark.parametrize(
    ("kinds", "limit", "error"),
    [
        pytest.param(frozenset({"homophones"}), 64, RuleError, id="misspelt-kind"),
        pytest.param(frozenset({"alias", "emoji"}), 64, RuleError, id="unknown-kind"),
        pytest.param(ALL, -1, ConfigError, id="negative-limit"),
    ],
)
def test_invalid_request_raises(
    expander: VariantExpander, kinds: frozenset[str], limit: int, error: type[Exception]
) -> None:
    """A bad kind or limit is a caller bug; it fails loudly with a chatguard error."""
    with pytest.raises(error):
        expander.expand("转账", kinds, limit=limit)


@pytest.mark.parametrize(
    ("char", "simplified"),
    [
        pytest.param("轉", "转", id="zhuan"),
        pytest.param("賬", "账", id="zhang"),
        pytest.param("銀", "银", id="yin"),
        pytest.param("薇", "薇", id="identity-absent"),
        pytest.param("v", "v", id="ascii-absent"),
    ],
)
def test_to_simplified(expander: VariantExpander, char: str, simplified: str) -> None:
    """Traditional characters map to simplified; everything else maps to itself."""
    assert expander.to_simplified(char) == simplified
    assert expander.t2s.get(char, char) == simplified


def test_t2s_has_no_identity_entries(expander: VariantExpander) -> None:
    """Identity mappings are skipped, so 薇 (already simplified) is not a key at all."""
    table = expander.t2s
    assert "薇" not in table
    assert all(k != v for k, v in table.items())


def test_t2s_property_is_a_copy(expander: VariantExpander) -> None:
    """The normalizer receives its own table; changing it cannot change the expander."""
    expander.t2s["轉"] = "x"
    assert expander.to_simplified("轉") == "转"


@pytest.mark.parametrize("name", TABLES)
def test_bundled_table_is_well_formed(name: str) -> None:
    """Each data file states source and license, has key<TAB>value lines and unique keys."""
    text = resources.files("chatguard").joinpath("_data", name).read_text(encoding="utf-8")
    lines = text.splitlines()
    header = [line for line in lines if line.startswith("#")]
    assert any("license" in line.lower() for line in header)
    rows = [line for line in lines if line and not line.startswith("#")]
    assert all(line.count("\t") == 1 for line in rows)
    duplicates = [k for k, n in Counter(r.split("\t")[0] for r in rows).items() if n > 1]
    assert duplicates == []


@pytest.mark.parametrize(
    ("name", "low", "high"),
    [
        pytest.param("t2s.tsv", 4000, 4500, id="t2s"),
        pytest.param("pinyin.tsv", 6763, 6763, id="pinyin-all-gb2312"),
        pytest.param("homophones.tsv", 60, 130, id="homophones"),
        pytest.param("split.tsv", 50, 110, id="split"),
        pytest.param("aliases.tsv", 25, 40, id="aliases"),
    ],
)
def test_bundled_table_size(expander: VariantExpander, name: str, low: int, high: int) -> None:
    """Tables keep their intended scope: generated ones complete, curated ones focused."""
    text = resources.files("chatguard").joinpath("_data", name).read_text(encoding="utf-8")
    table = _parse_table(name, text, expander.t2s)
    assert low <= len(table) <= high


@pytest.mark.parametrize(
    ("name", "text", "line", "message"),
    [
        pytest.param("t2s.tsv", "轉\t转转\n", 1, "single character", id="t2s-two-chars"),
        pytest.param("t2s.tsv", "转\t转\n", 1, "different", id="t2s-identity"),
        pytest.param("t2s.tsv", "# c\n轉转\n", 2, "key<TAB>values", id="no-tab"),
        pytest.param("pinyin.tsv", "转\tZhuan\n", 1, "lowercase", id="pinyin-uppercase"),
        pytest.param("pinyin.tsv", "转\tzhuǎn\n", 1, "lowercase", id="pinyin-tone-mark"),
        pytest.param("homophones.tsv", "加\t+\n", 1, "compact", id="punctuation"),
        pytest.param("homophones.tsv", "加\t傢\n", 1, "compact", id="traditional-form"),
        pytest.param("homophones.tsv", "加\t家 家\n", 1, "repeated", id="repeated-value"),
        pytest.param("homophones.tsv", "加\t家  佳\n", 1, "empty", id="double-space"),
        pytest.param("homophones.tsv", "加\t家\n加\t佳\n", 2, "duplicate key", id="dup-key"),
        pytest.param("homophones.tsv", "加\t加\n", 1, "equal the key", id="value-is-key"),
        pytest.param("homophones.tsv", "加微\t家\n", 1, "key length", id="multi-char-key"),
        pytest.param("split.tsv", "账\t贝K\n", 1, "compact", id="uppercase-form"),
        pytest.param("split.tsv", "银\t钅\n", 1, "too short", id="one-component"),
        pytest.param("split.tsv", "银\t\n", 1, "key<TAB>values", id="no-values"),
        pytest.param("aliases.tsv", "微信\tv\n", 1, "too short", id="one-char-alias"),
        pytest.param("aliases.tsv", "微\tvx\n", 1, "key length", id="one-char-canonical"),
        pytest.param("aliases.tsv", "微信\tvx\tx\n", 1, "key<TAB>values", id="two-tabs"),
        pytest.param("aliases.tsv", "微信\tvx||wx\n", 1, "empty", id="empty-alias"),
        pytest.param("aliases.tsv", "微信\t➕v\n", 1, "compact", id="emoji-alias"),
    ],
)
def test_broken_table_is_rejected(
    expander: VariantExpander, name: str, text: str, line: int, message: str
) -> None:
    """A malformed table fails at load with file and line, never with a silent bad variant."""
    with pytest.raises(RuleError, match=message) as info:
        _parse_table(name, text, expander.t2s)
    assert info.value.file == f"chatguard/_data/{name}"
    assert info.value.line == line


def test_variant_is_frozen() -> None:
    """Variants go into shared automaton payloads, so they cannot be changed after creation."""
    v = Variant("vx", "alias")
    with pytest.raises(AttributeError):
        v.text = "wx"  # type: ignore[misc]
