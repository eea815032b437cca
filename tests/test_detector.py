"""The message detector: disguised writing, harmless money talk, spans on the raw text,
batch and single paths agreeing, and bad input that never breaks it."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import chatguard
from chatguard.models import LEVEL_NAMES, Level

from .conftest import DATA

MINIMAL = DATA / "packs" / "minimal"


def _categories(v: chatguard.Verdict) -> set[str]:
    return {f.category for f in v.findings if not f.suppressed and f.weight > 0}


def _spans_ok(text: str, v: chatguard.Verdict) -> None:
    for f in v.findings:
        assert 0 <= f.start < f.end <= len(text), f
        assert text[f.start : f.end] == f.matched, f


# -- disguised writing ---------------------------------------------------------------------
EVASIONS = [
    pytest.param("你先转账给我", "money_transfer", id="plain"),
    pytest.param("你先转 账给我", "money_transfer", id="space-inside-word"),
    pytest.param("你先转*账给我", "money_transfer", id="symbol-inside-word"),
    pytest.param("你先转💰账给我", "money_transfer", id="emoji-inside-word"),
    pytest.param("你先转.账给我", "money_transfer", id="dot-inside-word"),
    pytest.param("你先转\u200b账给我", "money_transfer", id="zero-width-space"),
    pytest.param("你先转\u202e账给我", "money_transfer", id="bidi-override"),
    pytest.param("你先转\ufe0f账给我", "money_transfer", id="variation-selector"),
    pytest.param("你先轉賬給我", "money_transfer", id="traditional"),
    pytest.param("你先转转账账给我", "money_transfer", id="repeated-characters"),
    pytest.param("你先zhuanzhang给我", "money_transfer", id="pinyin"),
    pytest.param("你先车专账给我", "money_transfer", id="split-radical"),
    pytest.param("加我薇信，聊点私密的", "diversion", id="homophone-wei"),
    pytest.param("加我威信详聊", "diversion", id="homophone-wei2"),
    pytest.param("加我V信吧", "diversion", id="lookalike-v-xin"),
    pytest.param("加我vx吧", "diversion", id="alias-vx"),
    pytest.param("加我ＶＸ吧", "diversion", id="fullwidth-vx"),
    pytest.param("➕V 详聊", "diversion", id="plus-v"),
    pytest.param("加我扣扣聊", "diversion", id="alias-koukou"),
    pytest.param("加我企鹅聊", "diversion", id="alias-penguin"),
    pytest.param("带你投资稳赚不赔", "investment", id="investment-plain"),
    pytest.param("带你投资穩賺不賠", "investment", id="investment-traditional"),
    pytest.param("导师带单，稳 赚 不 赔", "investment", id="investment-spaced"),
    pytest.param("我电话 ①③⑧⓪⓪①③⑧⓪⓪⓪", "contact_id", id="circled-digits-phone"),
    pytest.param("我电话 一三八零零一三八零零零", "contact_id", id="chinese-numeral-phone"),
    pytest.param("我电话 13800138000", "contact_id", id="ascii-phone"),
    pytest.param("我电话 138 0013 8000", "contact_id", id="spaced-phone"),
    pytest.param("先交解冻费两万才能提现", "withdrawal_fee", id="withdrawal-fee"),
    pytest.param("验.证.码发我一下", "fake_service", id="dotted-verification-code"),
]


@pytest.mark.parametrize(("text", "category"), EVASIONS)
def test_disguised_writing_is_caught(
    default_detector: chatguard.Detector, text: str, category: str
) -> None:
    v = default_detector.check(text)
    assert category in _categories(v), [f.explanation for f in v.findings]
    assert v.level_value >= Level.MEDIUM
    _spans_ok(text, v)


MINIMAL_EVASIONS = [
    pytest.param("转账", "转账", id="exact"),
    pytest.param("zhuanzhang", "zhuanzhang", id="pinyin"),
    pytest.param("yhk发我", "yhk", id="initials"),
    pytest.param("钅艮行卡号发我", "钅艮行卡", id="split-radicals"),
    pytest.param("銀 行 卡", "銀 行 卡", id="traditional-spaced"),
    pytest.param("轉💰賬", "轉💰賬", id="traditional-emoji"),
]


@pytest.mark.parametrize(("text", "matched"), MINIMAL_EVASIONS)
def test_variant_spans_cover_the_raw_disguise(
    minimal_detector: chatguard.Detector, text: str, matched: str
) -> None:
    """The finding's span is the disguised raw text, not the normalized keyword."""
    v = minimal_detector.check(text)
    hits = [f for f in v.findings if f.rule_id == "transfer-request"]
    assert hits, v
    assert hits[0].matched == matched
    _spans_ok(text, v)


# -- harmless money talk -------------------------------------------------------------------
BENIGN = [
    pytest.param("这顿饭我们AA吧，你转我一半就行", id="aa-split"),
    pytest.param("我妈刚给我转了下个月的生活费", id="parents-allowance"),
    pytest.param("千万别给陌生人转账，最近骗子好多", id="warning-transfer"),
    pytest.param("小心那种让你刷单的，都是骗子", id="warning-task-scam"),
    pytest.param("我在银行上班，每天都要办转账业务", id="bank-job"),
    pytest.param("过年家族群抢红包，我抢了八块八", id="family-red-packet"),
    pytest.param("我在自己银行APP上买了点基金", id="own-fund"),
    pytest.param("今天特别开心，谢谢你", id="te-bie-is-not-bie"),
    pytest.param("你好，今天吃了吗？我们晚上一起去看电影好不好呀", id="small-talk"),
]


@pytest.mark.parametrize("text", BENIGN)
def test_harmless_money_talk_is_not_flagged(
    default_detector: chatguard.Detector, text: str
) -> None:
    v = default_detector.check(text)
    assert v.level_value <= Level.LOW, [f.explanation for f in v.findings]


def test_warning_keeps_the_suppressed_finding_and_says_why(
    minimal_detector: chatguard.Detector,
) -> None:
    v = minimal_detector.check("千万别给陌生人转账")
    assert v.level == "none"
    (f,) = [f for f in v.findings if f.rule_id == "transfer-request"]
    assert f.suppressed
    assert f.weight == 0
    assert "千万别" in f.context
    assert "suppressed" in f.explanation


def test_boost_word_raises_the_weight(minimal_detector: chatguard.Detector) -> None:
    plain = minimal_detector.check("转账")
    boosted = minimal_detector.check("马上转账")
    assert boosted.score > plain.score
    assert "boosted" in boosted.findings[0].explanation


# -- boundaries ----------------------------------------------------------------------------
def test_token_boundary_rule(minimal_detector: chatguard.Detector) -> None:
    """佳保安全 does not contain the word 保安; 我是保安 does."""
    assert "security-guard" in minimal_detector.check("我是保安").rule_ids
    assert "security-guard" not in minimal_detector.check("佳保安全").rule_ids


@pytest.mark.parametrize(
    ("text", "fires"),
    [
        pytest.param("加我vx", True, id="isolated"),
        pytest.param("加我 vx 吧", True, id="spaced"),
        pytest.param("加我vxworks", False, id="glued-to-letters"),
    ],
)
def test_ascii_keywords_need_isolation(
    minimal_detector: chatguard.Detector, text: str, fires: bool
) -> None:
    assert ("add-wechat" in minimal_detector.check(text).rule_ids) is fires


def test_near_rule_needs_every_group(minimal_detector: chatguard.Detector) -> None:
    assert "money-near-request" in minimal_detector.check("能借我点钱吗").rule_ids
    assert "money-near-request" not in minimal_detector.check("借我的书看看").rule_ids
    far = "借我" + "的" * 20 + "钱"
    assert "money-near-request" not in minimal_detector.check(far).rule_ids


def test_repeating_a_word_does_not_add_up(default_detector: chatguard.Detector) -> None:
    once = default_detector.check("转账给我")
    many = default_detector.check("转账给我 " * 6)
    assert many.score == pytest.approx(once.score)


# -- verdict contract ----------------------------------------------------------------------
def test_verdict_shape(default_detector: chatguard.Detector) -> None:
    v = default_detector.check("加我薇信，带你投资稳赚不赔")
    assert 0.0 <= v.score <= 1.0
    assert v.level in LEVEL_NAMES
    assert v.level_value >= Level.HIGH
    assert v.ruleset == default_detector.fingerprint
    for f in v.findings:
        assert f.rule_id
        assert f.category
        assert 0.0 <= f.weight <= 1.0
        assert f.rule_id in f.explanation
    d = v.to_dict()
    assert d["level"] == v.level
    assert d["ruleset"] == v.ruleset
    assert {"rule_id", "category", "start", "end", "matched"} <= set(d["findings"][0])


def test_level_follows_score(default_detector: chatguard.Detector) -> None:
    scoring = default_detector.ruleset.scoring
    for text in ["你好", "宝贝", "转账给我", "加我薇信，带你投资稳赚不赔", "先交解冻费"]:
        v = default_detector.check(text)
        expected = sum(v.score >= t for t in (scoring.low, scoring.medium, scoring.high,
                                               scoring.critical))
        assert Level[v.level.upper()] == expected, (text, v.score, v.level)


def test_fingerprint_tracks_the_rules(tmp_path: Path) -> None:
    a = chatguard.Detector.from_rules(MINIMAL)
    b = chatguard.Detector.from_rules(MINIMAL)
    assert a.fingerprint == b.fingerprint
    changed = tmp_path / "pack"
    changed.mkdir()
    for p in MINIMAL.rglob("*"):
        target = changed / p.relative_to(MINIMAL)
        if p.is_dir():
            target.mkdir(exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(p.read_text(encoding="utf-8").replace('level = "high"',
                                                                     'level = "medium"'),
                              encoding="utf-8")
    c = chatguard.Detector.from_rules(changed)
    assert c.fingerprint != a.fingerprint
    assert c.check("带你投资稳赚不赔").ruleset == c.fingerprint


def test_explain_shows_the_normalized_forms(minimal_detector: chatguard.Detector) -> None:
    out = minimal_detector.explain("轉 賬ＯＫ")
    assert out["folded"] == "转 账ok"
    assert out["compact"] == "转账ok"
    assert out["findings"]


# -- batch path ----------------------------------------------------------------------------
def test_check_many_equals_check_on_the_dev_set(default_detector: chatguard.Detector) -> None:
    import json

    rows = [json.loads(x)["text"]
            for x in (DATA / "dev_messages.jsonl").read_text(encoding="utf-8").splitlines()]
    texts = [*rows, "", "嗯嗯", "哈哈哈哈", "转转账账", "ＯＫ", "\ua66e转账", "明天8点见"]
    assert default_detector.check_many(texts) == [default_detector.check(t) for t in texts]
    assert default_detector.check_many(iter(texts[:5])) == default_detector.check_many(texts[:5])
    assert default_detector.check_many([]) == []


# -- bad input -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("\x00", id="nul"),
        pytest.param("转\x00账给我", id="nul-inside-word"),
        pytest.param("\ud800", id="lone-surrogate"),
        pytest.param("转\udfff账给我", id="surrogate-inside-word"),
        pytest.param("\x1b[31m转账给我\x07", id="control-characters"),
        pytest.param("\u200f\u202b转账给我\u202c", id="rtl-marks"),
        pytest.param("\ufeff", id="bom"),
        pytest.param("🙂" * 1000, id="emoji-only"),
        pytest.param("\U0010ffff\U000e0001", id="astral-private"),
        pytest.param("五五千千块块", id="repeats-around-an-identifier-cue"),
        pytest.param("微微信信", id="repeats-around-a-cue-word"),
    ],
)
def test_never_raises_on_any_str(default_detector: chatguard.Detector, text: str) -> None:
    v = default_detector.check(text)
    _spans_ok(text, v)
    assert default_detector.check_many([text]) == [v]


@pytest.mark.timeout(120)
def test_a_megabyte_message(default_detector: chatguard.Detector) -> None:
    """1 MB of mixed chat, keywords, digits and noise: finishes (linear work) with bounded
    findings per rule."""
    rnd = random.Random(7)
    parts = ["转账给我", "加我薇信", "13800138000", "，", "😀", "你好", "稳赚不赔", "A", "转 账",
             "壹贰叁", "哈哈哈哈"]
    text = "".join(rnd.choice(parts) for _ in range(200_000))[:1_000_000]
    v = default_detector.check(text)
    assert v.level == "critical"
    by_rule: dict[str, int] = {}
    for f in v.findings:
        by_rule[f.rule_id] = by_rule.get(f.rule_id, 0) + 1
    assert max(by_rule.values()) <= 200
    _spans_ok(text, v)


@pytest.mark.parametrize("bad", [None, b"\xe8\xbd\xac\xe8\xb4\xa6", 1, ["转账"]])
def test_non_str_is_a_type_error(default_detector: chatguard.Detector, bad: object) -> None:
    with pytest.raises(TypeError, match="expects str"):
        default_detector.check(bad)  # type: ignore[arg-type]


def test_check_many_names_the_bad_index(default_detector: chatguard.Detector) -> None:
    with pytest.raises(TypeError, match="index 2"):
        default_detector.check_many(["a", "b", None])  # type: ignore[list-item]


# -- properties ----------------------------------------------------------------------------
_PIECES = st.sampled_from([
    "转账", "给我", "薇信", "加我", "vx", "ＶＸ", "轉賬", "银行卡", "钅艮", "稳赚不赔", "导师",
    "zhuanzhang", "①③⑧", "一三八", "13800138000", "5000", "五千", "万", "U", "usdt",
    " ", "*", ".", "，", "💰", "\u200b", "\u202e", "\ufe0f", "\ud800", "\x00", "İ", "ß", "㈠",
    "别", "千万别", "小心", "你", "好", "的", "哈哈", "转转", "账账", "A", "a", "\n",
])
_TEXTS = st.one_of(
    st.lists(_PIECES, max_size=20).map("".join),
    st.text(max_size=40),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_TEXTS)
def test_spans_always_lie_on_the_raw_text(text: str) -> None:
    det = _shared_detector()
    v = det.check(text)
    _spans_ok(text, v)
    assert 0.0 <= v.score <= 1.0
    assert det.check(text) == v  # deterministic


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts=st.lists(_TEXTS, max_size=12))
def test_check_many_matches_check(texts: list[str]) -> None:
    det = _shared_detector()
    assert det.check_many(texts) == [det.check(t) for t in texts]


_DETECTOR: list[chatguard.Detector] = []


def _shared_detector() -> chatguard.Detector:
    # hypothesis runs a test function many times; fixtures are not re-entered per example
    if not _DETECTOR:
        _DETECTOR.append(chatguard.Detector.default())
    return _DETECTOR[0]
