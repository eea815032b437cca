"""Tests for ``chatguard.identifiers``.

Every detector gets a table of positives and of the hard negatives it exists to reject (prices,
years, times, order numbers, Luhn failures, bad checksums, cue words too far away, English words
after "wx"). Validators and the amount parser have their own tables; properties pin the span
contract, the prefilter superset and linear running time.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chatguard.errors import ConfigError, InputError
from chatguard.identifiers import (
    DETECTOR_KINDS,
    IdentifierHit,
    find_identifiers,
    luhn_ok,
    parse_amount,
    quick_check,
)
from chatguard.identifiers import _keccak256 as keccak256

# Real-world vectors: the USDT contract on TRON, and the EIP-55 specification's examples.
TRON_USDT = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
TRON_ZERO = "T9yD14Nj9j7xAB4dbGeiX9h8unkKHxuWwb"  # base58check of 0x41 + 20 zero bytes
TRON_BAD_CHECKSUM = TRON_USDT[:-1] + "u"
TRON_FULLWIDTH = "".join(chr(ord(char) + 0xFEE0) for char in TRON_USDT)  # ＴＲ７ＮＨ...
EIP55 = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
EIP55_OTHER = "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"
EIP55_BROKEN = EIP55[:-1] + "D"  # one letter's case flipped
CARD_16 = "6222021234567894"  # UnionPay-shaped, Luhn-valid
CARD_19 = "6228480012345678903"
RESIDENT_ID = "440106199001011155"  # valid id checksum and, by bad luck, Luhn-valid too

Expected = list[tuple[str, str | float]]


def _found(text: str, kind: str, *, original: str | None = None) -> list[tuple[str, str | float]]:
    return [(hit.text, hit.value) for hit in find_identifiers(text, [kind], original=original)]


MOBILE_CASES = [
    pytest.param("我电话13812345678", [("13812345678", "13812345678")], id="glued-to-cjk"),
    pytest.param("138 1234 5678", [("138 1234 5678", "13812345678")], id="spaces-3-4-4"),
    pytest.param("138-1234-5678", [("138-1234-5678", "13812345678")], id="dashes"),
    pytest.param("138.1234.5678", [("138.1234.5678", "13812345678")], id="dots"),
    pytest.param("+86 138 1234 5678", [("+86 138 1234 5678", "13812345678")], id="plus86-prefix"),
    pytest.param("8613812345678", [("8613812345678", "13812345678")], id="86-glued"),
    pytest.param("0086-13812345678", [("0086-13812345678", "13812345678")], id="0086-prefix"),
    pytest.param("电话:19912345678,加我", [("19912345678", "19912345678")], id="199-range"),
    pytest.param(
        "1 3 8 1 2 3 4 5 6 7 8", [("1 3 8 1 2 3 4 5 6 7 8", "13812345678")], id="spaced-out"
    ),
    pytest.param(
        "13812345678 13912345678",
        [("13812345678", "13812345678"), ("13912345678", "13912345678")],
        id="two-numbers",
    ),
    pytest.param("12345678901", [], id="second-digit-2-is-not-mobile"),
    pytest.param("138123456789", [], id="twelve-digit-run"),
    pytest.param("1381234567", [], id="ten-digit-run"),
    pytest.param("订单号2013812345678", [], id="inside-order-number"),
    pytest.param("6222 0000 1381 2345 678", [], id="tail-of-grouped-card"),
    pytest.param("3.13812345678", [], id="inside-decimal"),
    pytest.param("10:30 见", [], id="time"),
    pytest.param("138****5678", [], id="masked"),
    pytest.param("微信 a13812345678", [], id="inside-wechat-id"),
]


@pytest.mark.parametrize(("text", "expected"), MOBILE_CASES)
def test_cn_mobile(text: str, expected: Expected) -> None:
    """cn-mobile finds mainland mobiles and nothing inside longer numbers or ids."""
    assert _found(text, "cn-mobile") == expected


QQ_CASES = [
    pytest.param("我qq123456789", [("123456789", "123456789")], id="glued-qq"),
    pytest.param("qq号:12345678", [("12345678", "12345678")], id="qq-hao"),
    pytest.param("扣扣 1234567", [("1234567", "1234567")], id="koukou"),
    pytest.param("企鹅号 87654321", [("87654321", "87654321")], id="penguin"),
    pytest.param("q:10001", [("10001", "10001")], id="q-colon-five-digits"),
    pytest.param("加q 123456", [("123456", "123456")], id="directly-after-q"),
    pytest.param("我的qq群是 12345678", [("12345678", "12345678")], id="cue-within-8"),
    pytest.param("12345678@qq.com", [("12345678", "12345678")], id="qq-mail"),
    pytest.param("价格12345", [], id="price-without-cue"),
    pytest.param("我的qq你知道的,订单号是 20240521", [], id="qq-not-nearby"),
    pytest.param("faq 12345", [], id="q-inside-word"),
    pytest.param("qq 1234", [], id="four-digits"),
    pytest.param("qq 012345", [], id="leading-zero"),
    pytest.param("qq 13812345678", [], id="mobile-not-qq"),
    pytest.param(f"qq {CARD_16}", [], id="card-not-qq"),
    pytest.param("qq群有12345人", [], id="head-count"),
    pytest.param("qq上转 50000元", [], id="amount-not-qq"),
]


@pytest.mark.parametrize(("text", "expected"), QQ_CASES)
def test_qq(text: str, expected: Expected) -> None:
    """qq reports 5-11 digit numbers only next to a QQ cue, never mobiles, cards or money."""
    assert _found(text, "qq") == expected


WECHAT_CASES = [
    pytest.param("加我微信abc123", [("abc123", "abc123")], id="glued-to-cue"),
    pytest.param("微信号:lily_520", [("lily_520", "lily_520")], id="underscore"),
    pytest.param("wx: zhang-san88", [("zhang-san88", "zhang-san88")], id="wx-colon-dash"),
    pytest.param("vx:Lily2024", [("Lily2024", "lily2024")], id="unfolded-case"),
    pytest.param("v信 kitty_cat", [("kitty_cat", "kitty_cat")], id="v-xin"),
    pytest.param("加v sunny888", [("sunny888", "sunny888")], id="jia-v"),
    pytest.param("我的微信是 annabella", [("annabella", "annabella")], id="letters-only-name"),
    pytest.param("wxid_abcdef123456", [("wxid_abcdef123456",) * 2], id="wxid-without-cue"),
    pytest.param("wechat: wxid_abcdef123456", [("wxid_abcdef123456",) * 2], id="wxid-after-cue"),
    pytest.param("wx please add me", [], id="english-please"),
    pytest.param("wechat: thanks", [], id="english-thanks"),
    pytest.param("add my wechat account", [], id="english-account"),
    pytest.param("微信 hello", [], id="five-letters"),
    pytest.param("微信 abc", [], id="too-short"),
    pytest.param("微信 abcdefghijklmnopqrstuvwxyz", [], id="too-long"),
    pytest.param("微信 123456", [], id="digit-first"),
    pytest.param("wxabc123", [], id="glued-to-ascii-cue"),
    pytest.param("newx abc123", [], id="cue-inside-word"),
    pytest.param("微信 abcdef.com", [], id="domain-is-url"),
    pytest.param("微信 abcdefg@163.com", [], id="email-local-part"),
    pytest.param("微信转账给你了", [], id="no-id"),
    pytest.param("my name is lily2024", [], id="no-cue"),
    pytest.param("微信:我们明天再说吧好吗 abc123", [], id="cue-too-far"),
]


@pytest.mark.parametrize(("text", "expected"), WECHAT_CASES)
def test_wechat_id(text: str, expected: Expected) -> None:
    """wechat-id needs a nearby cue (or the wxid_ form) and skips plain English words."""
    assert _found(text, "wechat-id") == expected


URL_CASES = [
    pytest.param(
        "看这个http://example.com/path?a=1",
        [("http://example.com/path?a=1", "http://example.com/path?a=1")],
        id="http-with-query",
    ),
    pytest.param(
        "链接:https://a.b.cn/x,快点",
        [("https://a.b.cn/x", "https://a.b.cn/x")],
        id="trailing-comma-stripped",
    ),
    pytest.param(
        "点(https://t.me/scam_group).", [("https://t.me/scam_group",) * 2], id="in-parens"
    ),
    pytest.param("WWW.Baidu.com", [("WWW.Baidu.com", "www.baidu.com")], id="www-lowercased"),
    pytest.param("www.tm2.ch 补充", [("www.tm2.ch",) * 2], id="www-any-tld"),
    pytest.param("t.me/joinchat", [("t.me/joinchat",) * 2], id="telegram"),
    pytest.param("下载 abc-pay.top", [("abc-pay.top",) * 2], id="bare-top"),
    pytest.param("bit.vip/xyz。", [("bit.vip/xyz",) * 2], id="bare-vip-path"),
    pytest.param("89dt.cn/5p填写", [("89dt.cn/5p",) * 2], id="bare-cn-path"),
    pytest.param("abc.com.cn", [("abc.com.cn",) * 2], id="second-level"),
    pytest.param("photo.jpg", [], id="file-name"),
    pytest.param("3.14", [], id="decimal"),
    pytest.param("abc@qq.com", [], id="email"),
    pytest.param("abc.comx", [], id="tld-prefix"),
    pytest.param("http://", [], id="scheme-only"),
]


@pytest.mark.parametrize(("text", "expected"), URL_CASES)
def test_url(text: str, expected: Expected) -> None:
    """url finds links and bare domains without trailing sentence punctuation."""
    assert _found(text, "url") == expected


CARD_CASES = [
    pytest.param(f"卡号{CARD_16}", [(CARD_16, CARD_16)], id="unionpay-16"),
    pytest.param(f"打到{CARD_19}", [(CARD_19, CARD_19)], id="unionpay-19"),
    pytest.param(
        "4111 1111 1111 1111", [("4111 1111 1111 1111", "4111111111111111")], id="spaced-16"
    ),
    pytest.param("6228-4800-1234-5678-903", [("6228-4800-1234-5678-903", CARD_19)], id="dashed-19"),
    pytest.param(
        "4111111111111111 123", [("4111111111111111", "4111111111111111")], id="then-number"
    ),
    pytest.param("4111111111111112", [], id="luhn-fails"),
    pytest.param("6222021234567890", [], id="luhn-fails-unionpay"),
    pytest.param("1234567812345670", [], id="first-digit-1"),
    pytest.param("378282246310005", [], id="fifteen-digit-amex"),
    pytest.param("41111111111111110000", [], id="twenty-digits"),
    pytest.param("4111 1111 1111 1111 1234", [], id="grouped-twenty-digits"),
    pytest.param("订单号4111111111111111", [], id="order-number"),
    pytest.param(f"身份证{RESIDENT_ID}", [], id="resident-id-labelled"),
    pytest.param(RESIDENT_ID, [], id="resident-id-bare"),
    pytest.param("4111 1111-1111 1111", [], id="mixed-separators"),
]


@pytest.mark.parametrize(("text", "expected"), CARD_CASES)
def test_bank_card(text: str, expected: Expected) -> None:
    """bank-card accepts Luhn-valid 16-19 digit numbers and rejects look-alikes."""
    assert _found(text, "bank-card") == expected


USDT_CASES = [
    pytest.param(
        TRON_USDT.lower(), TRON_USDT, [(TRON_USDT.lower(), TRON_USDT)], id="trc20-with-original"
    ),
    pytest.param(f"地址:{TRON_USDT}", None, [(TRON_USDT, TRON_USDT)], id="trc20-unfolded-text"),
    pytest.param(TRON_ZERO, None, [(TRON_ZERO, TRON_ZERO)], id="trc20-lowest-address"),
    pytest.param(
        TRON_USDT.lower(),
        None,
        [(TRON_USDT.lower(), TRON_USDT.lower())],
        id="trc20-folded-unverifiable-accepted",
    ),
    pytest.param(
        TRON_USDT.lower(), TRON_FULLWIDTH, [(TRON_USDT.lower(), TRON_USDT)], id="trc20-fullwidth"
    ),
    pytest.param(
        TRON_BAD_CHECKSUM.lower(), TRON_BAD_CHECKSUM, [], id="trc20-bad-checksum-original"
    ),
    pytest.param(TRON_BAD_CHECKSUM, None, [], id="trc20-bad-checksum-unfolded"),
    pytest.param(TRON_USDT.lower(), TRON_USDT.lower(), [], id="trc20-typed-in-lowercase"),
    pytest.param(TRON_USDT[:-1], None, [], id="trc20-too-short"),
    pytest.param(TRON_USDT + "a", None, [], id="trc20-too-long"),
    pytest.param("T1" + TRON_USDT[2:], None, [], id="trc20-impossible-second-char"),
    pytest.param(EIP55.lower(), None, [(EIP55.lower(), EIP55.lower())], id="erc20-lowercase"),
    pytest.param(
        "0x" + EIP55[2:].upper(), None, [("0x" + EIP55[2:].upper(), EIP55.lower())], id="upper"
    ),
    pytest.param(EIP55, None, [(EIP55, EIP55.lower())], id="erc20-eip55"),
    pytest.param(
        EIP55_OTHER.lower(),
        EIP55_OTHER,
        [(EIP55_OTHER.lower(), EIP55_OTHER.lower())],
        id="erc20-eip55-original",
    ),
    pytest.param(EIP55_BROKEN, None, [], id="erc20-broken-checksum"),
    pytest.param(EIP55_BROKEN.lower(), EIP55_BROKEN, [], id="erc20-broken-checksum-original"),
    pytest.param(EIP55[:-1], None, [], id="erc20-39-hex"),
    pytest.param(EIP55 + "a", None, [], id="erc20-41-hex"),
]


@pytest.mark.parametrize(("text", "original", "expected"), USDT_CASES)
def test_usdt_address(text: str, original: str | None, expected: Expected) -> None:
    """usdt-address validates checksums whenever the letter case is known."""
    assert _found(text, "usdt-address", original=original) == expected


AMOUNT_CASES = [
    pytest.param("转账5000元", [("5000元", 5000.0)], id="yuan"),
    pytest.param("5000块", [("5000块", 5000.0)], id="kuai"),
    pytest.param("借我5k", [("5k", 5000.0)], id="k"),
    pytest.param("给我转5W", [("5W", 50000.0)], id="w-unfolded"),
    pytest.param("还差3万", [("3万", 30000.0)], id="wan"),
    pytest.param("3万块", [("3万块", 30000.0)], id="wan-kuai"),
    pytest.param("1.5万", [("1.5万", 15000.0)], id="decimal-wan"),
    pytest.param("五千", [("五千", 5000.0)], id="cn-thousand"),
    pytest.param("伍仟元", [("伍仟元", 5000.0)], id="capital-numerals"),
    pytest.param("两万", [("两万", 20000.0)], id="liang-wan"),
    pytest.param("两万三", [("两万三", 23000.0)], id="colloquial-tail"),
    pytest.param("三千五百元", [("三千五百元", 3500.0)], id="cn-compound"),
    pytest.param("十万", [("十万", 100000.0)], id="shi-wan"),
    pytest.param("¥5000", [("¥5000", 5000.0)], id="yen-sign"),
    pytest.param("rmb 5000", [("rmb 5000", 5000.0)], id="rmb-prefix"),
    pytest.param("5000rmb", [("5000rmb", 5000.0)], id="rmb-suffix"),
    pytest.param("人民币5000", [("人民币5000", 5000.0)], id="renminbi-prefix"),
    pytest.param("1000u", [("1000u", 1000.0)], id="usdt-u"),
    pytest.param("1000 usdt", [("1000 usdt", 1000.0)], id="usdt-word"),
    pytest.param("500个u", [("500个u", 500.0)], id="ge-u"),
    pytest.param("转1314", [("1314", 1314.0)], id="plain-after-zhuan"),
    pytest.param("转账给你20000", [("20000", 20000.0)], id="verb-three-chars-before"),
    pytest.param("打5000过来", [("5000", 5000.0)], id="plain-after-da"),
    pytest.param("也挺诚恳的,我再借你5000。", [("5000", 5000.0)], id="plain-after-jie"),
    pytest.param("充值达到10000以上", [("10000", 10000.0)], id="plain-after-chong"),
    pytest.param("给我五百", [("五百", 500.0)], id="hundreds-after-verb"),
    pytest.param("转500米", [("500米", 500.0)], id="mi-after-verb"),
    pytest.param("5w米", [("5w米", 50000.0)], id="mi-with-w"),
    pytest.param("两万多块", [("两万多块", 20000.0)], id="approx-duo"),
    pytest.param("十来块钱", [("十来块钱", 10.0)], id="approx-lai"),
    pytest.param("1,000元", [("1,000元", 1000.0)], id="thousands-comma"),
    pytest.param("1w5", [("1w5", 15000.0)], id="w-tail"),
    pytest.param("月薪5k", [("5k", 5000.0)], id="salary"),
    pytest.param("拿五千来", [("五千", 5000.0)], id="lai-without-unit"),
    pytest.param("5000,6000元", [("6000元", 6000.0)], id="comma-list"),
    pytest.param("打 1  块吧", [("1  块", 1.0)], id="spaces-before-unit"),
    pytest.param("打1·块吧", [("1·块", 1.0)], id="symbol-before-unit"),
    pytest.param("转1😘块", [("1😘块", 1.0)], id="emoji-before-unit"),
    pytest.param("转五千 💰 元", [("五千 💰 元", 5000.0)], id="three-gap-characters"),
    pytest.param("打1，块钱的事以后再说", [], id="no-unit-across-a-clause-break"),
    pytest.param("我有3个，块头大", [], id="count-then-clause"),
    pytest.param("2024年", [], id="year"),
    pytest.param("转2024年", [], id="year-after-verb"),
    pytest.param("10:30", [], id="time"),
    pytest.param("转账时间10:30", [], id="time-after-verb"),
    pytest.param("转5000%", [], id="percent"),
    pytest.param("3个人", [], id="count"),
    pytest.param("5000步", [], id="steps"),
    pytest.param("两万多人", [], id="approx-people"),
    pytest.param("5000", [], id="bare-number"),
    pytest.param("价格12345", [], id="bare-price-no-verb"),
    pytest.param("5000米", [], id="mi-without-context"),
    pytest.param("离我500米", [], id="distance"),
    pytest.param("3千米", [], id="kilometres"),
    pytest.param("转50米", [], id="mi-below-100"),
    pytest.param("千万别转账", [], id="qianwan-by-no-means"),
    pytest.param("万一被骗", [], id="wanyi-in-case"),
    pytest.param("十万火急", [], id="idiom"),
    pytest.param("我们一块去吃饭", [], id="yikuai-together"),
    pytest.param("2024元旦快乐", [], id="new-year"),
    pytest.param("买2个u盘", [], id="usb-stick"),
    pytest.param("五百个", [], id="hundreds-count"),
    pytest.param("五百", [], id="hundreds-bare"),
    pytest.param("5km", [], id="km"),
    pytest.param("iphone15k", [], id="glued-to-word"),
    pytest.param("打13812345678", [], id="phone-not-amount"),
    pytest.param(f"转{CARD_16}", [], id="card-not-amount"),
    pytest.param("转1234567812345678", [], id="long-order-number-after-verb"),
    pytest.param("转至622345******", [], id="masked-card"),
    pytest.param("拨打96110咨询", [], id="dial"),
    pytest.param("交管12123系统", [], id="traffic-app"),
    pytest.param("2024.5.1", [], id="dotted-date"),
]


@pytest.mark.parametrize(("text", "expected"), AMOUNT_CASES)
def test_amount(text: str, expected: Expected) -> None:
    """amount needs a unit, multiplier, currency sign or money verb, and skips counts and dates."""
    assert _found(text, "amount") == expected


QUICK_CHECK_CASES = [
    pytest.param("电话138 1234 5678", True, id="separated-digits"),
    pytest.param("看 t.me/abc", True, id="telegram-link"),
    pytest.param("加我微信", True, id="wechat-cue"),
    pytest.param("wxid_abcdef", True, id="wxid"),
    pytest.param(EIP55, True, id="hex-address"),
    pytest.param(TRON_USDT.lower(), True, id="tron-address"),
    pytest.param("五千", True, id="cn-numeral-thousand"),
    pytest.param("5k", True, id="digit-k"),
    pytest.param("50 块", True, id="unit-after-space"),
    pytest.param("¥5", True, id="yen-sign"),
    pytest.param("今天心情不错", False, id="plain-chat"),
    pytest.param("明天下午三点见", False, id="time-in-words"),
    pytest.param("3个人 10:30", False, id="count-and-time"),
    pytest.param("hello there", False, id="english"),
    pytest.param("", False, id="empty"),
]


@pytest.mark.parametrize(("text", "expected"), QUICK_CHECK_CASES)
def test_quick_check(text: str, expected: bool) -> None:
    """quick_check passes anything a detector could use and drops ordinary chat."""
    assert quick_check(text) is expected


PARSE_AMOUNT_CASES = [
    pytest.param("5000", 5000.0, id="plain"),
    pytest.param("5k", 5000.0, id="k"),
    pytest.param("5w", 50000.0, id="w"),
    pytest.param("3万块", 30000.0, id="wan-kuai"),
    pytest.param("1.5万", 15000.0, id="decimal-wan"),
    pytest.param("五千", 5000.0, id="cn"),
    pytest.param("伍仟", 5000.0, id="capital"),
    pytest.param("两万三", 23000.0, id="colloquial-wan"),
    pytest.param("三千五", 3500.0, id="colloquial-qian"),
    pytest.param("一百五", 150.0, id="colloquial-bai"),
    pytest.param("三千五百元", 3500.0, id="compound"),
    pytest.param("2000块", 2000.0, id="kuai"),
    pytest.param("十万", 100000.0, id="shi-wan"),
    pytest.param("二十万", 200000.0, id="er-shi-wan"),
    pytest.param("十五", 15.0, id="shi-wu"),
    pytest.param("1314", 1314.0, id="love-number"),
    pytest.param("一千零五", 1005.0, id="zero-filler"),
    pytest.param("一亿两千万", 120000000.0, id="yi-and-wan"),
    pytest.param("3万5000", 35000.0, id="mixed-tail"),
    pytest.param("1w5", 15000.0, id="w-tail"),
    pytest.param("5k5", 5500.0, id="k-tail"),
    pytest.param("1,000元", 1000.0, id="comma"),
    pytest.param("¥5000", 5000.0, id="yen"),
    pytest.param("￥5000", 5000.0, id="fullwidth-yen"),
    pytest.param("５０００元", 5000.0, id="fullwidth-digits"),
    pytest.param(" 5000元 ", 5000.0, id="surrounding-space"),
    pytest.param("1000 USDT", 1000.0, id="usdt"),
    pytest.param("500个u", 500.0, id="ge-u"),
    pytest.param("两万多块", 20000.0, id="approx"),
    pytest.param("", None, id="empty"),
    pytest.param("abc", None, id="letters"),
    pytest.param("2024年", None, id="year"),
    pytest.param("5%", None, id="percent"),
    pytest.param("10:30", None, id="time"),
    pytest.param("5km", None, id="km"),
    pytest.param("千万", None, id="qianwan"),
    pytest.param("万一", None, id="wanyi"),
    pytest.param("五五", None, id="two-digit-words"),
    pytest.param("3千5000", None, id="tail-too-large"),
    pytest.param("两万三万", None, id="wan-twice"),
    pytest.param("2024.5.1", None, id="dotted-date"),
    pytest.param("1" * 20, None, id="beyond-any-amount"),
]


@pytest.mark.parametrize(("text", "expected"), PARSE_AMOUNT_CASES)
def test_parse_amount(text: str, expected: float | None) -> None:
    """parse_amount reads chat-style amounts and refuses anything that is not one number."""
    assert parse_amount(text) == expected


LUHN_CASES = [
    pytest.param("4111111111111111", True, id="visa-test-number"),
    pytest.param("79927398713", True, id="textbook-example"),
    pytest.param(CARD_19, True, id="nineteen-digits"),
    pytest.param("4111111111111112", False, id="last-digit-off"),
    pytest.param("79927398710", False, id="textbook-wrong-check"),
    pytest.param("0", False, id="single-digit"),
    pytest.param("", False, id="empty"),
    pytest.param("4111-1111-1111-1111", False, id="separators"),
    pytest.param("４１１１１１１１１１１１１１１１", False, id="fullwidth-digits"),
]


@pytest.mark.parametrize(("digits", "expected"), LUHN_CASES)
def test_luhn_ok(digits: str, expected: bool) -> None:
    """luhn_ok checks ASCII digit strings and rejects anything else."""
    assert luhn_ok(digits) is expected


KECCAK_EMPTY = "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
KECCAK_ABC = "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45"
KECCAK_CASES = [
    pytest.param(b"", KECCAK_EMPTY, id="empty"),
    pytest.param(b"abc", KECCAK_ABC, id="abc"),
]


@pytest.mark.parametrize(("data", "digest"), KECCAK_CASES)
def test_keccak256_known_vectors(data: bytes, digest: str) -> None:
    """The private keccak256 matches Ethereum's Keccak-256 on published vectors."""
    assert keccak256(data).hex() == digest


def test_keccak256_is_not_sha3() -> None:
    """keccak256 differs from hashlib.sha3_256, whose padding is different."""
    assert keccak256(b"").hex() != hashlib.sha3_256(b"").hexdigest()


def test_keccak256_multi_block() -> None:
    """Inputs longer than one 136-byte block absorb every block (stable, distinct digests)."""
    long_digest = keccak256(b"a" * 300)
    assert len(long_digest) == 32
    assert long_digest != keccak256(b"a" * 299)
    assert long_digest == keccak256(b"a" * 300)


def test_detector_kinds_pinned() -> None:
    """DETECTOR_KINDS is part of the public contract; changing it is a deliberate act."""
    assert DETECTOR_KINDS == (
        "cn-mobile",
        "qq",
        "wechat-id",
        "url",
        "bank-card",
        "usdt-address",
        "amount",
    )


def test_hit_is_frozen() -> None:
    """IdentifierHit is immutable, so results can be shared and cached safely."""
    hit = IdentifierHit("qq", 0, 5, "12345", "12345")
    with pytest.raises(dataclasses.FrozenInstanceError):
        hit.start = 1  # type: ignore[misc]


def test_mixed_message_sorted_and_resolved() -> None:
    """A message with many identifiers yields each once, sorted, with the specific kind winning."""
    text = (
        f"加我微信lily_520或qq 87654321,电话138-1234-5678,"
        f"先转5000元到卡号{CARD_16},或者 1000u 打到{TRON_USDT.lower()},详情 www.abc.top"
    )
    hits = find_identifiers(text)
    assert [(hit.kind, hit.text) for hit in hits] == [
        ("wechat-id", "lily_520"),
        ("qq", "87654321"),
        ("cn-mobile", "138-1234-5678"),
        ("amount", "5000元"),
        ("bank-card", CARD_16),
        ("amount", "1000u"),
        ("usdt-address", TRON_USDT.lower()),
        ("url", "www.abc.top"),
    ]


def test_wallet_inside_url_kept() -> None:
    """A validated wallet inside an explorer link is reported alongside the link."""
    text = f"https://tronscan.org/#/address/{TRON_USDT}"
    kinds = [(hit.kind, hit.text) for hit in find_identifiers(text)]
    assert kinds == [("url", text), ("usdt-address", TRON_USDT)]


def test_numbers_inside_url_suppressed() -> None:
    """Digits in a URL path are part of the link, not a phone number or card."""
    text = f"http://x.com/u/13812345678/{CARD_16}"
    assert [hit.kind for hit in find_identifiers(text)] == ["url"]


def test_kind_filter_keeps_resolution() -> None:
    """Asking only for qq still lets the mobile claim its digits first."""
    assert find_identifiers("qq 13812345678", ["qq"]) == []
    assert [hit.kind for hit in find_identifiers("qq 13812345678", ["cn-mobile"])] == ["cn-mobile"]


def test_kind_filter_accepts_single_string() -> None:
    """A single kind may be passed as a plain string instead of a one-element list."""
    assert [hit.kind for hit in find_identifiers("qq 12345678", "qq")] == ["qq"]


def test_empty_kind_filter_finds_nothing() -> None:
    """An empty kinds iterable asks for nothing and gets nothing."""
    assert find_identifiers("13812345678", []) == []


def test_unknown_kind_rejected() -> None:
    """An unknown kind is a configuration error that names the kind."""
    with pytest.raises(ConfigError, match="'phone'"):
        find_identifiers("13812345678", ["phone"])


def test_original_length_mismatch_rejected() -> None:
    """original must line up with text character for character."""
    with pytest.raises(InputError, match="same length"):
        find_identifiers("abc", original="abcd")


_TOKENS = (
    *"0123456789",
    *" -.,:_@%*",
    "138", "1234", "5678", "6222", "13812345678", CARD_16, "86", "+",
    *"零一两二三五九十百千万亿壹伍仟拾",
    *"块元米个人年多来余",
    "u", "k", "w", "K", "W", "U", "rmb", "usdt", "¥",
    "转", "给我", "借", "打",
    "qq", "q", "Q", "扣扣", "企鹅", "q:",
    "wx", "vx", "微信", "v:", "加v", "wxid_", "weixin",
    "http://", "https://", "www.", ".com", ".cn", ".me", ".top", "t.me/", "/",
    "t", "T", "0x", "a", "b", "f", "z", "A", "F", "Z", "abc123", "lily",
    TRON_USDT, TRON_USDT.lower(), EIP55, EIP55.lower(),
    "。", "\n",
)  # fmt: skip
_TEXTS = st.lists(st.sampled_from(_TOKENS), max_size=30).map("".join)


@settings(max_examples=400, deadline=None, database=None)
@given(_TEXTS)
def test_property_spans_and_prefilter(text: str) -> None:
    """Every hit is a non-empty slice of the text, hits are sorted and disjoint, and quick_check
    is true whenever anything is found."""
    hits = find_identifiers(text)
    for hit in hits:
        assert 0 <= hit.start < hit.end <= len(text)
        assert text[hit.start : hit.end] == hit.text
        assert hit.kind in DETECTOR_KINDS
    starts = [hit.start for hit in hits]
    assert starts == sorted(starts)
    for before, after in itertools.pairwise(hits):
        nested_wallet = after.kind == "usdt-address" and before.kind == "url"
        assert before.end <= after.start or (nested_wallet and after.end <= before.end)
    if hits:
        assert quick_check(text)


@settings(max_examples=300, deadline=None, database=None)
@given(_TEXTS)
def test_property_folded_with_original(text: str) -> None:
    """Searching folded text with its original keeps spans on the folded string."""
    folded = text.lower()
    assert len(folded) == len(text)  # the token alphabet lowercases without changing length
    for hit in find_identifiers(folded, original=text):
        assert folded[hit.start : hit.end] == hit.text


@settings(max_examples=300, deadline=None, database=None)
@given(_TEXTS)
def test_property_amount_value_reparses(text: str) -> None:
    """An amount hit's value is what parse_amount reads from the hit's own text."""
    for hit in find_identifiers(text, ["amount"]):
        assert parse_amount(hit.text) == hit.value


def _random_digits_and_spaces(size: int) -> str:
    rng = random.Random(20240521)
    return "".join(rng.choice("0123456789 ") for _ in range(size))


PATHOLOGICAL_CASES = [
    pytest.param(_random_digits_and_spaces(1_000_000), id="digits-and-spaces-1mb"),
    pytest.param("7" * 1_000_000, id="one-digit-run-1mb"),
    pytest.param("1 3 " * 125_000, id="spaced-digits"),
    pytest.param("1-" * 250_000, id="dashed-digits"),
    pytest.param("1,000" * 100_000, id="comma-groups"),
    pytest.param("1." * 250_000, id="dotted-digits"),
    pytest.param("a." * 250_000, id="dotted-labels"),
    pytest.param("a-" * 250_000, id="hyphen-labels"),
    pytest.param("www." * 125_000, id="www-repeats"),
    pytest.param("http://" + "a" * 500_000, id="long-url"),
    pytest.param("一" * 500_000, id="numeral-run"),
    pytest.param("千" * 500_000, id="multiplier-run"),
    pytest.param("五千" * 250_000, id="numeral-multiplier-run"),
    pytest.param("微信" * 250_000, id="cue-repeats"),
    pytest.param("wx " + "a" * 500_000, id="long-word-after-cue"),
    pytest.param("qq" * 250_000 + "12345", id="qq-repeats"),
    pytest.param("转" * 250_000 + "5000", id="verb-repeats"),
    pytest.param("t" * 500_000, id="t-run"),
    pytest.param("0x" + "a" * 500_000, id="hex-run"),
]


@pytest.mark.slow
@pytest.mark.timeout(60)
@pytest.mark.parametrize("text", PATHOLOGICAL_CASES)
def test_no_catastrophic_backtracking(text: str) -> None:
    """Large adversarial inputs finish (quadratic backtracking would take hours and trip
    the timeout) and give well-formed hits inside the text."""
    quick_check(text)
    for hit in find_identifiers(text):
        assert 0 <= hit.start < hit.end <= len(text)
