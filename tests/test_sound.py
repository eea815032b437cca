"""Keywords written by sound: any characters with the keyword's pinyin (赚帐 for 转账).

The curated homophone table holds the substitutes people use most; the sound pass catches
whatever other same-sounding character a scammer picks, and must leave alone the ordinary
text that happens to sound like a keyword.
"""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

import chatguard
from chatguard._tables import read_table
from chatguard.variants import VariantExpander

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def expander() -> VariantExpander:
    return VariantExpander()


@pytest.fixture(scope="module")
def deaf() -> chatguard.Detector:
    """The bundled pack with the sound pass switched off: what the curated tables catch."""
    d = chatguard.Detector.default()
    d._sound_iter = None
    d._sound_all = None
    return d


def test_sound_table_puts_same_sounding_characters_in_one_class(
    expander: VariantExpander,
) -> None:
    table = expander.sound_table()
    assert "转".translate(table) == "赚".translate(table) == "撰".translate(table)
    assert "账".translate(table) == "帐".translate(table) == "仗".translate(table)
    assert "转".translate(table) != "账".translate(table)
    # what has no reading stays itself: letters, digits, the batch separator
    assert "usdt 500\ua66e".translate(table) == "usdt 500\ua66e"


def test_sound_keys(expander: VariantExpander) -> None:
    table = expander.sound_table()
    keys = expander.sound_keys("银行卡")
    assert "银行卡".translate(table) in keys  # the first readings
    assert "银航卡".translate(table) in keys  # 行 read hang, as in 银行
    # two characters: the first reading only (合约 read ge-yue would be 个月)
    assert expander.sound_keys("合约") == ["合约".translate(table)]
    assert "个月".translate(table) not in expander.sound_keys("合约")
    assert expander.sound_keys("转") == []
    assert expander.sound_keys("usdt") == []


@pytest.mark.parametrize(("text", "rule_id"), [
    ("需要交解动费", "withdrawal-unfreeze-fee"),  # 解冻费, a keyword
    ("你先赚帐给我", "transfer-request-to-me"),  # 转账, a near word
    ("我是平台的刻服", "fake-service-impersonation"),  # 客服
    ("给我发个宏包", "red-packet-demand"),  # 红包
])
def test_a_keyword_written_by_sound_is_found(
    default_detector: chatguard.Detector, deaf: chatguard.Detector, text: str, rule_id: str,
) -> None:
    v = default_detector.check(text)
    assert rule_id in {f.rule_id for f in v.findings}
    assert rule_id not in {f.rule_id for f in deaf.check(text).findings}
    assert v.level_value >= 2
    assert default_detector.check_many([text, "今天天气不错"])[0] == v


def test_a_sound_finding_says_so(default_detector: chatguard.Detector) -> None:
    (f,) = [f for f in default_detector.check("需要交解动费").findings
            if f.rule_id == "withdrawal-unfreeze-fee"]
    assert f.variant == "sound"
    assert f.matched == "解动费"
    assert f.keyword == "解冻费"
    assert "sound variant" in f.explanation


@pytest.mark.parametrize("text", [
    "这体现了你的价值",  # 体现: a common word that sounds like 提现
    "今天晚饭炒了个菠菜",  # 菠菜: a rarer word that sounds like 博彩 (soundalikes.tsv)
    "修复预期已经提前反映在价格里",  # 修复 + 预期: made of words, sounds like 修复逾期
    "因为新年要回家，红包准备好了",  # 因为|新年 holds wei-xin
    "好的，我家在世纪花园小区",  # 世纪|花园 holds 纪花园 (计划员)
    "我要买这张卡，但手机没余额了",  # 卡，但: across a clause, sounds like 卡单
    "我妈刚给我转了下个月的生活费",  # 个月 is not 合约
    "我买的那件衣服太大了",  # 太大 is not 泰达: two-character keywords never match by sound
])
def test_ordinary_text_that_sounds_like_a_keyword_is_left_alone(
    default_detector: chatguard.Detector, deaf: chatguard.Detector, text: str,
) -> None:
    v = default_detector.check(text)
    assert not [f for f in v.findings if f.variant == "sound"]
    assert v == deaf.check(text)


def test_check_many_agrees_with_check_on_sound_hits(
    default_detector: chatguard.Detector,
) -> None:
    texts = ["需要交解动费", "你先赚帐给我", "这体现了你的价值", "好的", "", "今天晚饭炒了个菠菜",
             "提现100元", "给我发个宏包", "我是平台的刻服 123", "因为新年要回家"] * 3
    assert default_detector.check_many(texts) == [default_detector.check(t) for t in texts]


def _pack(tmp_path: Path, variants: str) -> Path:
    pack = tmp_path / "pack"
    pack.mkdir(parents=True)
    (pack / "pack.toml").write_text('schema_version = 1\nid = "mini"\n', encoding="utf-8")
    (pack / "fees.toml").write_text(
        'schema_version = 1\n[[rules]]\nid = "unfreeze-fee"\ntitle = "unfreeze fee"\n'
        f'category = "withdrawal_fee"\nlevel = "high"\nkeywords = ["解冻费"]\n{variants}'
        '[rules.examples]\nmatch = ["交解冻费"]\nno_match = ["今天天气好"]\n',
        encoding="utf-8")
    return pack


def test_a_rule_without_homophone_variants_is_not_matched_by_sound(tmp_path: Path) -> None:
    on = chatguard.Detector.from_rules(_pack(tmp_path / "a", ""))
    off = chatguard.Detector.from_rules(_pack(tmp_path / "b", 'variants = ["split"]\n'))
    assert [f.rule_id for f in on.check("需要交解动费").findings] == ["unfreeze-fee"]
    assert off.check("需要交解动费").findings == ()
    assert off.check_many(["需要交解动费"])[0].findings == ()


def test_soundalikes_table_is_up_to_date() -> None:
    """``soundalikes.tsv`` is built from the bundled pack's keywords: a change to them
    must come with a rebuilt table (``python scripts/build_soundalikes.py``)."""
    build = runpy.run_path(str(ROOT / "scripts" / "build_soundalikes.py"))["build"]
    assert [w for w, _ in build()] == [w for w, _ in read_table("soundalikes.tsv")]
