"""The normalizer: what it folds, what it drops, and that offsets always lead back to raw."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chatguard._tables import read_table
from chatguard.normalize import Normalizer, collapse_repeats


@pytest.fixture(scope="module")
def norm() -> Normalizer:
    return Normalizer(dict(read_table("t2s.tsv")))


@pytest.mark.parametrize(
    ("raw", "compact"),
    [
        pytest.param("转 账", "转账", id="space-inside-word"),
        pytest.param("转*账", "转账", id="symbol-inside-word"),
        pytest.param("转.账", "转账", id="dot-inside-word"),
        pytest.param("转💰账", "转账", id="emoji-inside-word"),
        pytest.param("转\u200b账", "转账", id="zero-width-space"),
        pytest.param("转\u202e账", "转账", id="bidi-override"),
        pytest.param("转\ufe0f账", "转账", id="variation-selector"),
        pytest.param("轉賬", "转账", id="traditional"),
        pytest.param("銀行卡", "银行卡", id="traditional-bank-card"),
        pytest.param("ＶＸ", "vx", id="fullwidth-latin"),
        pytest.param("WeChat", "wechat", id="case-fold"),
        pytest.param("①③⑧", "138", id="circled-digits"),
        pytest.param("⑴⑵", "12", id="parenthesized-digits"),
        pytest.param("⁹₉", "99", id="super-and-subscript"),
        pytest.param("一三八一二三四五六七八", "13812345678", id="chinese-numeral-run"),
        pytest.param("壹叁捌壹贰叁肆伍陆柒捌", "13812345678", id="financial-numeral-run"),
        pytest.param("一起吃饭", "一起吃饭", id="short-numerals-untouched"),
        pytest.param("a\ud800b", "ab", id="lone-surrogate"),
        pytest.param("\x00转\x07账\x1b", "转账", id="control-characters"),
        pytest.param("İ", "i", id="length-changing-casefold"),
    ],
)
def test_compact_form(norm: Normalizer, raw: str, compact: str) -> None:
    """Disguises at the character level disappear in the compact form."""
    _, c = norm.normalize(raw)
    assert c.text == compact


@pytest.mark.parametrize(
    ("raw", "start", "end", "expected_raw"),
    [
        pytest.param("加我 V 信", 2, 4, "V 信", id="span-over-removed-space"),
        pytest.param("ＶＸ：abc", 0, 2, "ＶＸ", id="fullwidth-span"),
        pytest.param("㈠转账", 0, 1, "㈠", id="expanding-char-then-removed-parens"),
        pytest.param("㈠转账", 1, 3, "转账", id="after-expanding-char"),
        pytest.param("İ转账", 1, 3, "转账", id="after-length-changing-char"),
    ],
)
def test_compact_spans_map_to_raw(
    norm: Normalizer, raw: str, start: int, end: int, expected_raw: str
) -> None:
    """A compact span maps back to exactly the raw characters it came from."""
    _, c = norm.normalize(raw)
    rs, re_ = c.raw_span(start, end)
    assert raw[rs:re_] == expected_raw


def test_plain_text_takes_the_identity_fast_path(norm: Normalizer) -> None:
    """Already-folded text is not copied or mapped (the common, fast case)."""
    folded = norm.fold("你好呀今天吃了吗")
    assert folded.to_raw is None
    assert norm.needs_fold("你好呀") is False
    assert norm.needs_fold("轉賬") is True


def test_collapse_repeats_maps_runs(norm: Normalizer) -> None:
    """转转转账账 collapses to 转账 and its span covers every repeated raw character."""
    _, c = norm.normalize("我要转转 转账账了")
    col = collapse_repeats(c)
    i = col.text.index("转账")
    rs, re_ = col.raw_span(i, i + 2)
    assert "我要转转 转账账了"[rs:re_] == "转转 转账账"


_ALPHABET = st.sampled_from(
    [
        *"转账微信钱卡轉賬銀Ａｖx1① ⑴㈠.*💰\u200b\u202e\ufe0fİß一三八壹",
        *("\ud800", "\x00", "\n", "a", "Z", "é", "ﬁ"),
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_ALPHABET, max_size=40).map("".join))
def test_offset_map_property(raw: str) -> None:
    """Every compact character maps to a raw index; spans stay inside the raw text, in order."""
    norm = Normalizer(dict(read_table("t2s.tsv")))
    folded, compact = norm.normalize(raw)
    for form in (folded, compact, collapse_repeats(compact)):
        n = len(form.text)
        prev = -1
        for i in range(n):
            rs, re_ = form.raw_span(i, i + 1)
            assert 0 <= rs < re_ <= len(raw)
            assert rs >= prev
            prev = rs
        if n:
            rs, re_ = form.raw_span(0, n)
            assert 0 <= rs < re_ <= len(raw)
