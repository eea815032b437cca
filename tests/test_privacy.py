"""Tests for ``chatguard.privacy``: masking of snippets and pseudonymisation of user ids.

The masking table pairs each identifier shape with its expected mask and adds the texts that
must come back unchanged (plain chat, amounts written as money). Properties pin the two promises
callers rely on: ``mask_text`` never raises on any ``str`` and runs in linear time.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chatguard import privacy
from chatguard.errors import ConfigError
from chatguard.privacy import IdHasher, mask_span, mask_spans, mask_text

TRC20 = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
ERC20 = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"

MASK_CASES = [
    pytest.param("电话13812345678", "电话138****5678", id="phone-glued-to-cjk"),
    pytest.param("+86 138 1234 5678 找我", "+86 138****5678 找我", id="phone-plus86-spaces"),
    pytest.param("0086-13812345678", "0086-138****5678", id="phone-0086-dash"),
    pytest.param("138.1234.5678", "138****5678", id="phone-dots"),
    pytest.param("1 3 8 1 2 3 4 5 6 7 8", "138****5678", id="phone-spaced-digits"),
    pytest.param("卡号6222 0212 3456 7890", "卡号6222 **** **** 7890", id="card-with-spaces"),
    pytest.param("6222-0212-3456-7890", "6222-****-****-7890", id="card-with-dashes"),
    pytest.param("转到6222021234567894", "转到6222********7894", id="card-16-digit-luhn"),
    pytest.param("6228480012345678903", "6228***********8903", id="card-19-digit"),
    pytest.param("qq 123456789", "qq 12****89", id="qq-number"),
    pytest.param("订单号 20240501123", "订单号 20****23", id="other-digit-run"),
    pytest.param("12345678901234567890123", "12****23", id="digit-run-longer-than-card"),
    pytest.param(
        "1 2 3 4 5 6 7 8 9 138 1234 5678",
        "1 2 * * * * * * * *** **** **78",
        id="spaced-run-longer-than-card",
    ),
    pytest.param("6222 1381 2345 678", "6222 **** ***5 678", id="phone-shape-inside-card"),
    pytest.param(f"地址 {TRC20} 收", "地址 TR7N****Lj6t 收", id="trc20-address"),
    pytest.param(f"eth:{ERC20}", "eth:0x5a****eAed", id="erc20-address"),
    pytest.param("微信：abc12345 好", "微信：ab**** 好", id="wechat-fullwidth-colon"),
    pytest.param("加我vx abc_12345", "加我vx ab****", id="wechat-vx-space"),
    pytest.param("V信:Zhang-San88", "V信:Zh****", id="wechat-v-xin-uppercase"),
    pytest.param("wx hello", "wx hello", id="wechat-cue-short-word-kept"),
    pytest.param("mail: bob.smith@example.com ok", "mail: b***@example.com ok", id="email"),
    pytest.param("123456789@qq.com", "1***@qq.com", id="qq-mail-is-an-email"),
    pytest.param("转账50000元", "转账50000元", id="amount-with-unit-kept"),
    pytest.param("¥20000", "¥20000", id="amount-with-sign-kept"),
    pytest.param("50000.00 元", "50000.00 元", id="amount-decimal-kept"),
    pytest.param("今晚一起吃饭吧，8点见", "今晚一起吃饭吧，8点见", id="nothing-to-mask"),
    pytest.param("2024-05-01 12:30", "2024-05-01 12:30", id="date-and-time-kept"),
    pytest.param("QQ 2﹏8﹏6﹏5﹏1﹏9﹏3", "QQ 2﹏8﹏*﹏*﹏*﹏9﹏3", id="qq-split-by-symbols"),
    pytest.param("1⭐3⭐8⭐1⭐2⭐3", "1⭐3⭐*⭐*⭐2⭐3", id="digits-split-by-emoji"),
    pytest.param("价格1,000,000元 12.5.2025", "价格1,000,000元 12.5.2025", id="prices-dates-kept"),
    pytest.param("", "", id="empty"),
    pytest.param("\ud800 13812345678 \udfff", "\ud800 138****5678 \udfff", id="lone-surrogates"),
]


@pytest.mark.parametrize(("text", "expected"), MASK_CASES)
def test_mask_text(text: str, expected: str) -> None:
    """Each identifier shape gets its mask; everything else is left as written."""
    assert mask_text(text) == expected


@pytest.mark.parametrize(
    ("text", "start", "end", "context", "expected"),
    [
        pytest.param("abcdefghijklmnop", 6, 8, 2, "…efghij…", id="cut-both-sides"),
        pytest.param("abcdef", 0, 3, 8, "abcdef", id="window-covers-everything"),
        pytest.param(
            "请加我微信abcdef123，然后", 0, 4, 2, "请加我微信ab****…", id="widened-to-wechat"
        ),
        pytest.param(
            "转账到6222021234567894吧", 0, 3, 2, "转账到6222********7894…", id="widened-to-card"
        ),
        pytest.param("xx 13812345678 yy", 12, 14, 1, "…138****5678 …", id="starts-inside-a-phone"),
        pytest.param("abc", 5, 9, 2, "…bc", id="offsets-past-the-end-clamped"),
        pytest.param("abc", -4, 1, 0, "a…", id="negative-start-clamped"),
        pytest.param("", 0, 0, 8, "", id="empty-text"),
    ],
)
def test_mask_span(text: str, start: int, end: int, context: int, expected: str) -> None:
    """A window with context, masked, widened so it never cuts through an identifier."""
    assert mask_span(text, start, end, context=context) == expected


@given(st.text(max_size=200), st.integers(-5, 205), st.integers(-5, 205), st.integers(0, 20))
@settings(max_examples=300, deadline=None)
def test_mask_span_never_raises_or_leaks_a_phone(text: str, start: int, end: int, ctx: int) -> None:
    """Any text and offsets give a str; a phone planted in the text never shows in full."""
    planted = text + "13812345678" + text
    out = mask_span(planted, start, end, context=ctx)
    assert isinstance(out, str)
    assert "13812345678" not in out


@given(st.text(max_size=120), st.lists(st.tuples(st.integers(-5, 260), st.integers(-5, 260)),
                                       max_size=4), st.integers(0, 12))
@settings(max_examples=300, deadline=None)
def test_mask_spans_is_mask_span_per_span(text: str, spans: list[tuple[int, int]],
                                          ctx: int) -> None:
    """Several snippets of one text (identifiers found once) equal one call per span."""
    planted = text + "，转账到6222021234567894 或 13812345678，" + text
    assert mask_spans(planted, spans, context=ctx) == [
        mask_span(planted, s, e, context=ctx) for s, e in spans]


@given(st.text(alphabet=st.sampled_from(list("转账微信号我 ，:-.@_٣１２0159aTxvX😀")),
               max_size=60) | st.text(max_size=60))
@settings(max_examples=500, deadline=None)
def test_text_without_ascii_letters_or_digits_skips_the_identifier_regex(text: str) -> None:
    """The shortcut for text with no ASCII letter and no digit is exact: such text has
    nothing to mask, and the results are those of the full pattern."""
    if privacy._MAYBE.search(text) is None:
        assert privacy._PATTERN.search(text) is None
    assert mask_text(text) == privacy._PATTERN.sub(privacy._mask_match, text)
    spans = [(0, len(text)), (len(text) // 2, len(text))]
    assert mask_spans(text, spans, context=3) == [
        privacy._snippet(text, list(privacy._PATTERN.finditer(text)), s, e, 3) for s, e in spans]


@given(st.text())
@settings(max_examples=300, deadline=None)
def test_mask_text_never_raises(text: str) -> None:
    """Any str, including lone surrogates and control characters, comes back as a str."""
    assert isinstance(mask_text(text), str)


@given(st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True), st.sampled_from(["", "我", " ", "，"]))
@settings(max_examples=100, deadline=None)
def test_mask_text_hides_every_mobile_number(phone: str, around: str) -> None:
    """No mainland mobile number survives masking, whatever surrounds it."""
    assert phone not in mask_text(f"{around}{phone}{around}")


@pytest.mark.parametrize(
    "unit",
    [
        pytest.param("1", id="digits"),
        pytest.param("a", id="letters"),
        pytest.param("a@", id="at-signs"),
        pytest.param("1 ", id="spaced-digits"),
        pytest.param("微信：", id="wechat-cues"),
        pytest.param("x@a.", id="email-fragments"),
        pytest.param("T", id="tron-prefixes"),
        pytest.param("1﹏", id="split-digits"),
        pytest.param("1﹏﹏﹏", id="split-digits-long-gaps"),
    ],
)
@pytest.mark.timeout(60)
def test_mask_text_is_linear(unit: str) -> None:
    """A megabyte of adversarial input finishes (quadratic backtracking would take hours and
    trip the timeout) and still masks: no run of 7+ digits survives."""
    text = unit * (1_000_000 // len(unit))
    masked = mask_text(text)
    assert isinstance(masked, str)
    assert masked
    assert re.search(r"[0-9]{7}", masked) is None


def test_id_hasher_without_key_is_identity() -> None:
    """IdHasher(None) keeps ids unchanged, for deployments that send ids in clear."""
    hasher = IdHasher(None)
    assert hasher("u123") == "u123"
    assert not hasher.enabled


@pytest.mark.parametrize(
    "key", [pytest.param(b"k1", id="bytes-key"), pytest.param("k1", id="str-key")]
)
def test_id_hasher_is_deterministic(key: bytes | str) -> None:
    """Same key and id give the same 'h:' + 32 hex digits, across instances and key types."""
    a, b = IdHasher(key)("u123"), IdHasher(b"k1")("u123")
    assert a == b
    assert re.fullmatch(r"h:[0-9a-f]{32}", a)
    assert IdHasher(key)("u124") != a


def test_id_hasher_keys_give_different_hashes() -> None:
    """Different deployment keys give unlinkable ids for the same member."""
    assert IdHasher("k1")("u123") != IdHasher("k2")("u123")


def test_id_hasher_handles_odd_ids_and_hides_its_key() -> None:
    """Lone surrogates hash without error; repr never shows the key; an empty key is refused."""
    hasher = IdHasher("secret-key")
    assert hasher("\ud800").startswith("h:")
    assert "secret-key" not in repr(hasher)
    with pytest.raises(ConfigError):
        IdHasher("")
