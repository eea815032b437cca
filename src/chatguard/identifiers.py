"""Validated detectors for contact and payment identifiers and money amounts.

A scam conversation turns dangerous at two moments: when the other side moves the victim off the
platform (a phone number, QQ number, WeChat id or link) and when money is named (an amount, a
bank card, a USDT wallet). This module finds those identifiers in one chat message and returns
them as :class:`IdentifierHit` values with half-open ``[start, end)`` spans.

Input contract. The caller passes the *folded* message: NFKC-normalized, lowercased, full-width
folded to half-width, runs of five or more Chinese digit words already turned into ASCII digits,
zero-width characters removed, punctuation and spaces kept. Every span refers to the string
that was given; the caller maps spans back to the raw message. Because folding lowercases, the
two case-sensitive checks (TRC20 base58check and ERC20 EIP-55) read an optional ``original``
string of the same length when the caller has one.

Why regexes *plus* validators. A bare regex for "11 digits" or "16 digits" fires on prices,
order numbers and timestamps all day long; every detector therefore pairs a cheap candidate
regex with a validator that carries the real knowledge: Luhn and a resident-id check for bank
cards, base58check / EIP-55 for wallets, a nearby cue word for QQ numbers and WeChat ids (a
bare five-digit number is usually a price), and units, multipliers or a money verb for
amounts.

Why ``quick_check`` exists. Every message passes through it before anything else, so it is one
compiled-regex ``search``. It is a superset of all detectors: whenever
:func:`find_identifiers` would return a hit, ``quick_check`` is true (a property test pins
this).

Why overlaps are resolved by priority. One digit run can look like several things (an 11-digit
mobile is also a 5-11 digit "QQ number"; a card number contains mobile-shaped runs). Hits are
accepted greedily in the order url, usdt-address, wechat-id, bank-card, cn-mobile, amount, qq,
and a candidate overlapping an accepted hit is dropped, so returned hits never overlap. The one
exception: a wallet address inside a URL (an explorer or payment link) is kept as
well, because the wallet is the payment target the rest of chatguard tracks.

Every pattern is written without nested quantifiers over overlapping character classes, and
candidates start only where the previous character cannot continue them, so matching is linear
in the message length even for megabytes of digits.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Literal

from chatguard.errors import ConfigError, InputError

__all__ = [
    "DETECTOR_KINDS",
    "IdentifierHit",
    "IdentifierKind",
    "find_identifiers",
    "luhn_ok",
    "parse_amount",
    "quick_check",
]

IdentifierKind = Literal[
    "cn-mobile", "qq", "wechat-id", "url", "bank-card", "usdt-address", "amount"
]

DETECTOR_KINDS: Final[tuple[IdentifierKind, ...]] = (
    "cn-mobile",
    "qq",
    "wechat-id",
    "url",
    "bank-card",
    "usdt-address",
    "amount",
)


@dataclass(frozen=True, slots=True)
class IdentifierHit:
    """One identifier or amount found in a message, on the string that was searched.

    ``text`` is exactly ``searched[start:end]``. ``value`` is the canonical form used to compare
    identifiers across messages: the bare 11 digits of a mobile (no +86, no separators), the
    digits of a QQ number or bank card, the lowercased URL or WeChat id, the wallet address
    (TRC20 in its original case when that case was available, ERC20 lowercased), or the amount
    as a float in yuan (USDT amounts such as ``1000u`` in USDT units).
    """

    kind: IdentifierKind
    start: int
    end: int
    text: str
    value: str | float


# Regex flags for every pattern: ASCII keeps \d, \s and case-insensitivity to ASCII (so the
# Kelvin sign never matches "k"); IGNORECASE lets the detectors also run on unfolded text.
_FLAGS: Final = re.ASCII | re.IGNORECASE

# --- shared character sets -------------------------------------------------------------------

_CN_DIGIT_VALUES: Final[Mapping[str, int]] = MappingProxyType(
    {
        "零": 0, "〇": 0,
        "一": 1, "壹": 1,
        "二": 2, "贰": 2, "貳": 2, "两": 2, "兩": 2,
        "三": 3, "叁": 3, "參": 3,
        "四": 4, "肆": 4,
        "五": 5, "伍": 5,
        "六": 6, "陆": 6, "陸": 6,
        "七": 7, "柒": 7,
        "八": 8, "捌": 8,
        "九": 9, "玖": 9,
    }
)  # fmt: skip
# Multipliers inside one section (below 10 000); "k" is the chat spelling of 千.
_SMALL_UNITS: Final[Mapping[str, int]] = MappingProxyType(
    {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000, "k": 1000}
)
# Multipliers that close a section; "w" is the chat spelling of 万.
_BIG_UNITS: Final[Mapping[str, int]] = MappingProxyType(
    {"万": 10_000, "萬": 10_000, "w": 10_000, "亿": 100_000_000, "億": 100_000_000}
)

_CN_DIGITS: Final = "".join(_CN_DIGIT_VALUES)
_CN_UNITS: Final = "十拾百佰千仟万萬亿億"
# Characters a number may start with: 十 starts "十万"; 百/千/万 never start one ("千万别转账"
# means "by no means transfer", "万一" means "in case").
_NUM_START: Final = "0-9" + _CN_DIGITS + "十拾"
_NUM_BODY: Final = "0-9" + _CN_DIGITS + _CN_UNITS
# Multipliers that make a bare number a money amount on their own ("5w", "三千").
_STRONG_MULTIPLIERS: Final = frozenset("千仟万萬亿億kw")
# 百 is too common in counts ("五百个") to make an amount alone, but "给我五百" is one; a bare
# 十 ("二十岁", "给十") never is.
_HUNDREDS: Final = frozenset("百佰")

# Amounts above this are identifiers or noise, never money anyone asks for in a chat.
_MAX_AMOUNT: Final = 1e12

# Characters that, right after a number without a currency unit, make it a count, a date, a
# measure or a score rather than money ("3个人", "2024年", "5000步", "两万多人").
_COUNT_FOLLOWERS: Final = frozenset(
    "个人次年岁天月日号时点分秒步里公斤克条件只张位名字倍套台部本篇首粉楼层平亩吨度集页颗棵"
    "双对遍票户家股份项期届夜周代%‰"
)
# Extra followers that rule out a plain number after a money verb: dates, times and masked
# numbers ("转至622345******" is the visible head of a card number).
_PLAIN_FOLLOWERS: Final = _COUNT_FOLLOWERS | frozenset(":/-*")
# Fixed phrases whose numerals are not amounts.
_NUMERAL_IDIOMS: Final = ("十万火急", "十万八千里", "一千零一夜")
# Characters after a currency unit that turn it into another word ("元旦", "元宵", "U盾", "U盘").
_UNIT_WORD_FOLLOWERS: Final[Mapping[str, frozenset[str]]] = MappingProxyType(
    {"元": frozenset("旦宵"), "u": frozenset("盾盘"), "个u": frozenset("盾盘")}
)

# --- quick_check -----------------------------------------------------------------------------

_WECHAT_CUES: Final = (
    r"微信|威信|薇信|徽信|v信|加v|加薇|\+v|(?<![a-z])(?:weixin|wechat|wx|vx|v:|v号)"
)
_URL_TLDS: Final = "com|cn|net|org|top|xyz|vip|cc|me|io|app|club|site|shop|info|co"
_AMOUNT_UNITS: Final = r"块钱|块|元|圆|人民币|rmb(?![a-z])|usdt(?![a-z])|个?u(?![a-z])|米"

# Between a number and its unit: a space, or up to three characters of disguise (1 块,
# 1·块, 1😘块: Unicode non-word characters, whatever the ASCII flag); never a clause break
# (一万，块钱的事 is not one amount).
_GAP_CHAR: Final = r"(?u:[^\w，。！？；：,!?;:\n\r])"
_UNIT_GAP: Final = _GAP_CHAR + "{0,3}"

_QUICK_RE: Final = re.compile(
    "|".join(
        (
            # four digits with at most single separators: mobiles, QQ, cards, plain amounts
            r"[0-9](?:[ .,\-]?[0-9]){3}",
            r"http|www\.|\.(?:co|cn|net|org|top|xyz|vip|cc|me|io|app|club|site|shop|info)",
            _WECHAT_CUES,
            r"wxid_",
            r"0x[0-9a-f]",
            r"t[9a-hj-np-z][1-9a-z]{32}",
            r"[¥￥]|rmb|人民币",
            # a numeral followed by a multiplier or a currency unit
            rf"[{_NUM_BODY}](?:[kw{_CN_UNITS}]|[多余来]?{_UNIT_GAP}个?(?:[u块元圆米]|rmb|人民币))",
        )
    ),
    _FLAGS,
)


def prefilter_cues() -> tuple[str, ...]:
    """Words (in compact, folded form) whose presence may let :func:`quick_check` say True on
    text without ASCII digits, full-width forms or currency signs.

    The detector puts them into its keyword prefilter, so a message without any of them, any
    ASCII digit and any ``¥``/``￥`` skips the identifier regexes entirely. The list is
    generous (over-triggering costs speed only): every cue of :data:`_QUICK_RE`'s branches,
    every Chinese numeral followed by a multiplier or money unit, every run of three plain
    Chinese numerals (a phone number spelled out) and every financial numeral (壹 贰 叁 ...,
    rare outside amounts and disguised numbers).
    """
    cues: set[str] = {
        "微信", "威信", "薇信", "徽信", "v信", "加v", "加薇", "v", "weixin", "wechat", "wx", "vx",
        "v号", "wxid", "http", "www", "rmb", "人民币", "0x",
        *_URL_TLDS.split("|"),
    }  # fmt: skip
    numerals = _CN_DIGITS + _CN_UNITS
    units = ["u", "块", "元", "圆", "米", "rmb", "人民币"]
    for n in numerals:
        for m in _CN_UNITS + "kw":
            cues.add(n + m)
        for mid in ("", "多", "余", "来"):
            for ge in ("", "个"):
                for u in units:
                    cues.add(n + mid + ge + u)
    plain = "零〇一二两三四五六七八九幺"
    for a in plain:
        for b in plain:
            for c in plain:
                cues.add(a + b + c)
    cues.update(ch for ch in _CN_DIGITS if ch not in plain)
    return tuple(sorted(cues))


def quick_check(text: str) -> bool:
    """Return True if ``text`` may contain any identifier or amount.

    The hot-path prefilter: one compiled-regex search. It may say True for text without hits,
    but never False for text in which :func:`find_identifiers` finds something.
    """
    return _QUICK_RE.search(text) is not None


# --- small validators ------------------------------------------------------------------------


def luhn_ok(digits: str) -> bool:
    """Return True if ``digits`` (ASCII digits only, at least two) passes the Luhn check.

    Bank cards carry a Luhn check digit; random 16-19 digit order numbers pass only one time in
    ten, which is what makes the bank-card detector usable on chat.
    """
    if len(digits) < 2 or not (digits.isascii() and digits.isdigit()):
        return False
    total = 0
    for index, char in enumerate(reversed(digits)):
        digit = ord(char) - 48
        if index % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


_RESIDENT_ID_WEIGHTS: Final = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_RESIDENT_ID_CHECK: Final = "10X98765432"


def _is_resident_id(digits: str) -> bool:
    """True if an 18-digit run is a well-formed PRC resident id (birth date + ISO 7064 check).

    Resident ids starting with 3-6 (Guangdong, Shandong, ...) have card-like length and pass
    Luhn one time in ten; an id number is not a payment target.
    """
    if len(digits) != 18:
        return False
    year, month, day = int(digits[6:10]), int(digits[10:12]), int(digits[12:14])
    if not (1900 <= year <= 2099 and 1 <= month <= 12 and 1 <= day <= 31):
        return False
    remainder = sum(int(d) * w for d, w in zip(digits[:17], _RESIDENT_ID_WEIGHTS, strict=True))
    return _RESIDENT_ID_CHECK[remainder % 11] == digits[17]


_BASE58_ALPHABET: Final = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_BASE58_INDEX: Final[Mapping[str, int]] = MappingProxyType(
    {char: index for index, char in enumerate(_BASE58_ALPHABET)}
)


def _is_tron_address(address: str) -> bool:
    """True if ``address`` is base58check with TRON's version byte 0x41 and a valid checksum."""
    number = 0
    for char in address:
        digit = _BASE58_INDEX.get(char)
        if digit is None:
            return False
        number = number * 58 + digit
    if number.bit_length() > 25 * 8:
        return False
    raw = number.to_bytes(25, "big")
    if raw[0] != 0x41:
        return False
    checksum = hashlib.sha256(hashlib.sha256(raw[:21]).digest()).digest()[:4]
    return checksum == raw[21:]


_MASK64: Final = (1 << 64) - 1


def _rotl64(value: int, shift: int) -> int:
    shift %= 64
    return ((value << shift) | (value >> (64 - shift))) & _MASK64


def _keccak_f1600(lanes: list[int]) -> None:
    """Apply the 24-round Keccak-f[1600] permutation in place (lane index ``x + 5 * y``).

    Written after the Keccak team's compact reference; the round constants come from the same
    LFSR the specification defines, so there is no table to mistype.
    """
    lfsr = 1
    for _ in range(24):
        # theta
        columns = [
            lanes[x] ^ lanes[x + 5] ^ lanes[x + 10] ^ lanes[x + 15] ^ lanes[x + 20]
            for x in range(5)
        ]
        for x in range(5):
            mix = columns[(x + 4) % 5] ^ _rotl64(columns[(x + 1) % 5], 1)
            for y in range(0, 25, 5):
                lanes[x + y] ^= mix
        # rho and pi
        x, y = 1, 0
        current = lanes[x + 5 * y]
        for step in range(24):
            x, y = y, (2 * x + 3 * y) % 5
            target = x + 5 * y
            current, lanes[target] = lanes[target], _rotl64(current, (step + 1) * (step + 2) // 2)
        # chi
        for y in range(0, 25, 5):
            row = lanes[y : y + 5]
            for x in range(5):
                lanes[x + y] = row[x] ^ (~row[(x + 1) % 5] & row[(x + 2) % 5])
        # iota
        for bit in range(7):
            lfsr = ((lfsr << 1) ^ ((lfsr >> 7) * 0x71)) % 256
            if lfsr & 2:
                lanes[0] ^= 1 << ((1 << bit) - 1)


def _keccak256(data: bytes) -> bytes:
    """Keccak-256 as Ethereum uses it (original 0x01 padding, not SHA3-256's 0x06).

    hashlib only ships SHA3-256, whose padding differs, so EIP-55 needs this. It runs only on
    ``0x`` + 40-hex candidates with mixed case, so a pure-Python sponge is fast enough.
    """
    rate = 136
    padded = bytearray(data)
    padded.append(0x01)
    padded.extend(b"\x00" * (-len(padded) % rate))
    padded[-1] |= 0x80
    lanes = [0] * 25
    for offset in range(0, len(padded), rate):
        block = padded[offset : offset + rate]
        for index in range(rate // 8):
            lanes[index] ^= int.from_bytes(block[8 * index : 8 * index + 8], "little")
        _keccak_f1600(lanes)
    return b"".join(lane.to_bytes(8, "little") for lane in lanes[:4])


def _eip55_ok(hex40: str) -> bool:
    """True if 40 hex digits carry no case information or a correct EIP-55 checksum."""
    letters = [char for char in hex40 if char.isalpha()]
    if all(char.islower() for char in letters) or all(char.isupper() for char in letters):
        return True
    digest = _keccak256(hex40.lower().encode("ascii")).hex()
    for char, nibble in zip(hex40, digest, strict=False):
        if char.isalpha() and char.isupper() != (int(nibble, 16) >= 8):
            return False
    return True


# --- amounts ---------------------------------------------------------------------------------

_NUMBER_TOKEN_RE: Final = re.compile(
    r"[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?|[0-9]+(?:\.[0-9]+)?|.", re.ASCII | re.DOTALL
)


def _evaluate_number(number: str) -> float | None:
    """Value of a numeral written with Arabic digits, Chinese numerals and multipliers.

    Handles "5000", "1,000", "1.5万", "5k", "3万5000", "三千五百", "伍仟", "十万", "一亿两千万"
    and the colloquial trailing digit ("两万三" = 23000, "三千五" = 3500, "1w5" = 15000).
    Returns None for anything that is not one well-formed number ("五五", "千万", "2024.5.1").
    """
    total = 0.0  # value of the closed 万/亿 sections
    section = 0.0  # value of the open section below 10 000
    pending: float | None = None  # a digit token waiting for its multiplier
    colloquial_unit = 0  # multiplier a trailing lone digit scales down from ("两万三")
    last_unit = 0  # multiplier of the previous token; 0 when the previous token was a digit
    last_small = 10**9  # in-section multipliers must strictly decrease (千 > 百 > 十)
    last_big = 10**9
    after_zero = False  # a 零 ended the previous group, so no colloquial scaling
    tokens = 0
    for match in _NUMBER_TOKEN_RE.finditer(number.lower()):
        token = match.group()
        tokens += 1
        if (token[0].isdigit() and token.isascii()) or token in _CN_DIGIT_VALUES:
            if pending is not None:
                return None  # two digit tokens in a row: "五五", "3五"
            if token in _CN_DIGIT_VALUES:
                value = float(_CN_DIGIT_VALUES[token])
                lone_digit = value > 0
            else:
                value = float(token.replace(",", ""))
                lone_digit = len(token) == 1 and token != "0"
            if last_unit and ("." in token or value >= last_unit):
                return None  # "3万2.5", "3千5000"
            colloquial_unit = last_unit if lone_digit and not after_zero else 0
            if token in "零〇":
                if after_zero:
                    return None
                after_zero, last_unit = True, 0
                continue
            pending, last_unit = value, 0
        elif token in _SMALL_UNITS:
            unit = _SMALL_UNITS[token]
            if pending is None:
                if unit != 10 or section:
                    return None
                pending = 1.0  # "十万", "十五"
            if unit >= last_small:
                return None
            section += pending * unit
            pending, last_small, last_unit, after_zero = None, unit, unit, False
        elif token in _BIG_UNITS:
            unit = _BIG_UNITS[token]
            base = section + (pending or 0.0)
            if unit == 10_000:
                if last_big <= unit or not base:
                    return None
                total += base * unit
            else:
                if last_big == unit or not (total or base):
                    return None
                total = (total + base) * unit
            section, pending, after_zero = 0.0, None, False
            last_small, last_unit, last_big = 10**9, unit, unit
        else:
            return None
    if not tokens:
        return None
    if pending is not None:
        # A lone digit right after a multiplier of 100 or more scales down: "两万三" is 2万 3千.
        section += pending * colloquial_unit / 10 if colloquial_unit >= 100 else pending
    value = total + section
    return value if value <= _MAX_AMOUNT else None


_AMOUNT_RE: Final = re.compile(
    # a number starts where no digit, letter, decimal point or numeral can continue one
    rf"(?<![0-9a-z])(?<![0-9]\.)(?<![{_CN_DIGITS}{_CN_UNITS}])"
    r"(?:(?P<pre>[¥￥]|rmb|人民币)[ ]?)?"
    rf"(?P<num>[{_NUM_START}](?:[{_NUM_BODY}]|\.(?=[0-9])|,(?=[0-9]{{3}}(?![0-9]))|[kw](?![a-z]))*)"
    r"(?P<approx>[多余来])?"
    rf"(?:{_UNIT_GAP}(?P<unit>{_AMOUNT_UNITS}))?",
    _FLAGS,
)
_PARSE_AMOUNT_RE: Final = re.compile(
    r"(?:(?P<pre>[¥￥]|rmb|人民币)\s*)?"
    rf"(?P<num>[{_NUM_BODY}kw.,]+)"
    r"(?P<approx>[多余来])?"
    rf"(?:(?:\s|{_GAP_CHAR})*(?P<unit>{_AMOUNT_UNITS}))?",
    _FLAGS,
)
# A money verb up to three characters before a number: "转5000", "借我2000", "转账给你5000".
# 拨打 / 打电话 dial a number and 交管 / 交通 / 交流 are not payments.
_MONEY_CUE_RE: Final = re.compile(
    r"(?:[转借汇充给付凑垫]|(?<!拨)打(?!电话)|交(?![管通流警友往易]))[^0-9]{0,3}\Z", _FLAGS
)


def parse_amount(text: str) -> float | None:
    """Parse one money amount written the way chat writes it; None if ``text`` is not one.

    ``"5000"``, ``"5k"``, ``"5w"``, ``"3万块"``, ``"1.5万"``, ``"五千"``, ``"伍仟"``, ``"两万三"``,
    ``"三千五百元"``, ``"¥5000"``, ``"1000u"``. The whole string must be the amount (surrounding
    space is ignored); judging whether a number in context is money ("5000米" is a distance
    or slang for yuan) is the detector's job, not this parser's.
    """
    folded = unicodedata.normalize("NFKC", text).strip().lower()
    match = _PARSE_AMOUNT_RE.fullmatch(folded)
    if match is None:
        return None
    return _evaluate_number(match["num"])


def _money_cue_before(text: str, start: int) -> bool:
    return _MONEY_CUE_RE.search(text, max(0, start - 4), start) is not None


def _touches_idiom(text: str, start: int, end: int) -> bool:
    for idiom in _NUMERAL_IDIOMS:
        found = text.find(idiom, max(0, start - len(idiom)), end + len(idiom))
        if found != -1 and found < end and found + len(idiom) > start:
            return True
    return False


def _find_amounts(text: str, original: str | None) -> Iterator[IdentifierHit]:
    """Amounts with a unit, multiplier, currency sign or money verb; see ``_accept_amount``."""
    del original
    for match in _AMOUNT_RE.finditer(text):
        number = match["num"]
        unit = match["unit"]
        approx = match["approx"]
        pre = match["pre"]
        start = match.start()
        # "十来块", "5000余元": 来/余 are approximators only before a unit ("拿5000来" is "bring").
        if unit is None and approx is not None and approx != "多":
            end = match.end("num")
        else:
            end = match.end()
        lowered = number.lower()
        strong = not _STRONG_MULTIPLIERS.isdisjoint(lowered)
        plain = not strong and all(char in "0123456789.," for char in number)
        # Cheap rejections first: most digit runs in a message are not amounts.
        if unit is None and pre is None and not strong:
            if plain:
                integer_digits = len(number.split(".")[0].replace(",", ""))
                if not (4 <= integer_digits <= 8) or number[0] == "0":
                    continue
            elif _HUNDREDS.isdisjoint(number):
                continue
            if not _money_cue_before(text, start):
                continue
        if not _accept_amount(
            text,
            start,
            end,
            number=number,
            unit=unit,
            has_prefix=pre is not None,
            strong=strong,
            plain=plain,
        ):
            continue
        value = _evaluate_number(number)
        if value is None:
            continue
        if unit is not None and unit.lower() == "米" and value < 100:
            continue
        yield IdentifierHit("amount", start, end, text[start:end], value)


def _accept_amount(
    text: str,
    start: int,
    end: int,
    *,
    number: str,
    unit: str | None,
    has_prefix: bool,
    strong: bool,
    plain: bool,
) -> bool:
    """Context rules that separate money from counts, dates, distances and idioms."""
    following = text[end] if end < len(text) else ""
    if unit is not None:
        unit = unit.lower()
        if following in _UNIT_WORD_FOLLOWERS.get(unit, frozenset()):
            return False
        if unit == "米":
            # 米 is slang for yuan, but "离我500米" is a distance and "3千米" is 3 km: require a
            # chat multiplier (5w米) or a money verb.
            return "k" in number.lower() or "w" in number.lower() or _money_cue_before(text, start)
        if unit == "块" and len(number) == 1 and number in _CN_DIGIT_VALUES:
            # "一块去" / "一块儿" mean "together"; a lone numeral with 块 needs a money verb.
            return _money_cue_before(text, start)
        return not _touches_idiom(text, start, end)
    if plain and not has_prefix:
        if following in _PLAIN_FOLLOWERS or (following.isascii() and following.isalpha()):
            return False
    elif following in _COUNT_FOLLOWERS:
        return False
    if strong or has_prefix:
        return not _touches_idiom(text, start, end)
    return True


# --- contact identifiers ---------------------------------------------------------------------

_MOBILE_RE: Final = re.compile(
    r"(?<![0-9])(?P<prefix>(?:\+|00)?86[ \-]?)?"
    r"(?P<body>1[ .\-]?[3-9](?:[ .\-]?[0-9]){9})(?![0-9])",
    _FLAGS,
)
_MOBILE_STANDARD_GROUPS: Final = frozenset({(11,), (3, 8), (7, 4), (3, 4, 4)})
_SEPARATOR_SPLIT_RE: Final = re.compile(r"[ .\-]")


def _digit_at(text: str, index: int) -> bool:
    """True if ``text[index]`` exists and is an ASCII digit (the detectors' notion of a digit)."""
    return 0 <= index < len(text) and "0" <= text[index] <= "9"


def _continues_number(text: str, start: int, end: int, separators: str) -> bool:
    """True if a separated digit group sits right before ``start`` or right after ``end``.

    A separated match inside a longer separated digit sequence ("6222 0000 1381 2345 678") is a
    fragment of that sequence, not an identifier of its own.
    """
    before = start >= 2 and text[start - 1] in separators and _digit_at(text, start - 2)
    after = end < len(text) and text[end] in separators and _digit_at(text, end + 1)
    return before or after


def _in_decimal(text: str, start: int, end: int) -> bool:
    """True if the digits are part of a decimal number ("3.13812345678", "13812345678.5")."""
    before = start >= 2 and text[start - 1] == "." and _digit_at(text, start - 2)
    after = end < len(text) and text[end] == "." and _digit_at(text, end + 1)
    return before or after


def _find_mobiles(text: str, original: str | None) -> Iterator[IdentifierHit]:
    """Mainland mobiles: 1[3-9] + 9 digits, optional +86/86/0086, single separators allowed.

    The usual 3-4-4 (and 3-8, 7-4) groupings are accepted as written; any other grouping
    ("1 3 8 1 2 3 4 5 6 7 8", an evasion) only when it is not a piece of a longer separated
    digit sequence such as a bank card written in groups of four.
    """
    del original
    for match in _MOBILE_RE.finditer(text):
        body = match["body"]
        start, end = match.start(), match.end()
        if _in_decimal(text, start, end):
            continue
        groups = tuple(len(part) for part in _SEPARATOR_SPLIT_RE.split(body))
        if groups not in _MOBILE_STANDARD_GROUPS and _continues_number(text, start, end, " .-"):
            continue
        digits = "".join(char for char in body if char.isdigit())
        yield IdentifierHit("cn-mobile", start, end, text[start:end], digits)


_CARD_RE: Final = re.compile(
    r"(?<![0-9])(?:[3-6][0-9]{15,18}"
    r"|[3-6][0-9]{3}(?P<sep>[ \-])[0-9]{4}(?:(?P=sep)[0-9]{4}){2}(?:(?P=sep)[0-9]{1,3})?)"
    r"(?![0-9])",
    _FLAGS,
)
# Words that say the following long number is not a payment card.
_CARD_NEGATIVE_CUE_RE: Final = re.compile(
    r"订单|单号|运单|快递|物流|编号|身份证|工号|学号|order|tracking", _FLAGS
)


def _find_bank_cards(text: str, original: str | None) -> Iterator[IdentifierHit]:
    """16-19 digit card numbers (contiguous or in groups of four) starting 3-6, passing Luhn.

    Rejected: resident-id numbers, numbers labelled as order / tracking / id numbers just
    before, and groups of four that continue past 19 digits.
    """
    del original
    for match in _CARD_RE.finditer(text):
        start, end = match.start(), match.end()
        if _in_decimal(text, start, end):
            continue
        if match["sep"] is not None and _continues_number(text, start, end, " -"):
            continue
        digits = "".join(char for char in match.group() if char.isdigit())
        if not luhn_ok(digits) or _is_resident_id(digits):
            continue
        if _CARD_NEGATIVE_CUE_RE.search(text, max(0, start - 10), start):
            continue
        yield IdentifierHit("bank-card", start, end, text[start:end], digits)


_QQ_RE: Final = re.compile(r"(?<![0-9])[1-9][0-9]{4,10}(?![0-9])", _FLAGS)
# Looked for in the 8 characters before a candidate; the last branch is "q12345" / "加q 12345".
_QQ_CUE_RE: Final = re.compile(r"qq|q号|q群|扣扣|企鹅|q:|(?<![a-z])q ?\Z", _FLAGS)
_QQ_CUE_WINDOW: Final = 8
_QQ_MAIL_SUFFIX: Final = "@qq.com"
# A number followed by a unit or multiplier is money, not an account ("qq群 50000元").
_QQ_NOT_FOLLOWED_BY: Final = frozenset("元块万千百kKwWuU")


def _find_qq(text: str, original: str | None) -> Iterator[IdentifierHit]:
    """5-11 digit QQ numbers, reported only next to a QQ cue (bare 5-digit numbers are prices).

    A cue is "qq", "q号", "q群", "扣扣", "企鹅" or "q:" within 8 characters before the number, a
    "q" directly before it, or "@qq.com" directly after it (a QQ mail address).
    """
    del original
    for match in _QQ_RE.finditer(text):
        start, end = match.start(), match.end()
        if _in_decimal(text, start, end):
            continue
        if end < len(text) and (text[end] in _COUNT_FOLLOWERS or text[end] in _QQ_NOT_FOLLOWED_BY):
            continue
        cued = _QQ_CUE_RE.search(text, max(0, start - _QQ_CUE_WINDOW), start) is not None
        if not cued and text[end : end + len(_QQ_MAIL_SUFFIX)].lower() != _QQ_MAIL_SUFFIX:
            continue
        yield IdentifierHit("qq", start, end, text[start:end], match.group())


_WECHAT_RE: Final = re.compile(
    rf"(?:{_WECHAT_CUES})[^0-9a-z_\-]{{0,6}}"
    r"(?<![0-9a-z_\-])(?P<id>[a-z][0-9a-z_\-]{5,19})(?![0-9a-z_\-@]|\.[0-9a-z])"
    r"|(?<![0-9a-z_\-])(?P<wxid>wxid_[0-9a-z]{6,24})(?![0-9a-z_\-@])",
    _FLAGS,
)
# Letter-only words that follow a WeChat cue in ordinary sentences ("wx please", "wechat
# account") and are therefore not ids. Ids with a digit, "_" or "-" are never looked up here.
_WECHAT_STOPWORDS: Final = frozenset(
    (
        "account", "accounts", "actually", "address", "already", "always", "anyway", "around",
        "before", "better", "called", "calling", "cannot", "change", "channel", "chatting",
        "contact", "contacts", "directly", "either", "everyone", "friend", "friends", "groups",
        "hongbao", "instead", "message", "messages", "moment", "moments", "number", "numbers",
        "official", "online", "payment", "people", "please", "pocket", "private", "profile",
        "qrcode", "really", "search", "should", "something", "thanks", "though", "tomorrow",
        "tonight", "transfer", "username", "wallet", "wechat", "weixin", "weixinhao", "zhanghao"
    )
)  # fmt: skip


def _find_wechat_ids(text: str, original: str | None) -> Iterator[IdentifierHit]:
    """WeChat ids (6-20 chars, letter first, then letters/digits/_/-) after a WeChat cue.

    A cue ("微信", "wx", "vx", "v信", "weixin", "wechat", "加v", "v:", ...) must come at most 6
    non-id characters before the id, or the id has the "wxid_" form. Letter-only words that are
    common English or pinyin in that position ("wx please") are not reported; a word glued to a
    cue ("wxabc123") or followed by ".com" (a domain) is not an id either.
    """
    del original
    for match in _WECHAT_RE.finditer(text):
        group = "id" if match["id"] is not None else "wxid"
        start, end = match.start(group), match.end(group)
        found = match[group]
        if found.isalpha() and found.lower() in _WECHAT_STOPWORDS:
            continue
        yield IdentifierHit("wechat-id", start, end, found, found.lower())


_URL_CHARS: Final = r"[0-9a-z\-._~:/?#\[\]@!$&'()*+,;=%]"
_HOST_LABEL: Final = r"[0-9a-z\-]+"
_URL_RE: Final = re.compile(
    rf"https?://{_URL_CHARS}+"
    rf"|(?<![0-9a-z_@.\-]){_HOST_LABEL}(?:\.{_HOST_LABEL})*\.(?:{_URL_TLDS})(?![0-9a-z\-])"
    rf"(?::[0-9]{{1,5}})?(?:[/?#]{_URL_CHARS}*)?"
    rf"|(?<![0-9a-z_@.\-])www\.{_HOST_LABEL}(?:\.{_HOST_LABEL})+(?:[/?#]{_URL_CHARS}*)?",
    _FLAGS,
)
_URL_TRAILING: Final = ".,;:!?'\"*"
_URL_BRACKETS: Final[Mapping[str, str]] = MappingProxyType({")": "(", "]": "["})


def _trim_url(url: str) -> str:
    """Drop sentence punctuation and unbalanced closing brackets from the end of a URL."""
    while url:
        last = url[-1]
        unbalanced = last in _URL_BRACKETS and url.count(_URL_BRACKETS[last]) < url.count(last)
        if last in _URL_TRAILING or unbalanced:
            url = url[:-1]
        else:
            break
    return url


def _find_urls(text: str, original: str | None) -> Iterator[IdentifierHit]:
    """http(s) URLs, www. hosts, t.me links and bare domains with the TLDs scams favour.

    Emails are not URLs (a host right after "@" is skipped); trailing sentence punctuation is
    not part of the URL.
    """
    del original
    for match in _URL_RE.finditer(text):
        url = _trim_url(match.group())
        scheme_end = url.find("://")
        if scheme_end != -1 and len(url) <= scheme_end + 3:
            continue
        start = match.start()
        end = start + len(url)
        yield IdentifierHit("url", start, end, url, url.lower())


_USDT_RE: Final = re.compile(
    r"(?<![0-9a-z])(?:(?P<trc>t[9a-hj-np-z][1-9a-z]{32})|(?P<erc>0x[0-9a-f]{40}))(?![0-9a-z])",
    _FLAGS,
)


def _find_usdt_addresses(text: str, original: str | None) -> Iterator[IdentifierHit]:
    """TRC20 (T + 33 base58, base58check with version 0x41) and ERC20 (0x + 40 hex) addresses.

    Both checks need letter case, which folding destroys, so they read ``original`` when the
    caller passed it. A TRC20 candidate is verified whenever its case is known: always with
    ``original``, and without it when the searched text itself shows upper-case letters (the
    caller passed unfolded text). An all-lowercase candidate without ``original`` cannot be
    verified and is accepted on its shape alone (T, then a character TRON addresses can have
    second, then base58 letters and digits), as is an ERC20 address without case information.
    A mixed-case ERC20 address must pass EIP-55. The original slice is NFKC-normalized first,
    so an address typed in full-width characters is checked (and reported) in ASCII.
    """
    for match in _USDT_RE.finditer(text):
        start, end = match.start(), match.end()
        if original is None:
            written = text[start:end]
        else:
            written = unicodedata.normalize("NFKC", original[start:end])
        if match["trc"] is not None:
            verifiable = original is not None or not written.islower()
            if verifiable and not _is_tron_address(written):
                continue
            value = written
        else:
            if not _eip55_ok(written[2:]):
                continue
            value = written.lower()
        yield IdentifierHit("usdt-address", start, end, text[start:end], value)


# --- orchestration ---------------------------------------------------------------------------

_Detector = Callable[[str, str | None], Iterator[IdentifierHit]]

# Acceptance order when candidates overlap: the more specific, better validated kind wins.
_PRIORITY: Final[tuple[IdentifierKind, ...]] = (
    "url",
    "usdt-address",
    "wechat-id",
    "bank-card",
    "cn-mobile",
    "amount",
    "qq",
)
_DETECTORS: Final[Mapping[IdentifierKind, _Detector]] = MappingProxyType(
    {
        "url": _find_urls,
        "usdt-address": _find_usdt_addresses,
        "wechat-id": _find_wechat_ids,
        "bank-card": _find_bank_cards,
        "cn-mobile": _find_mobiles,
        "amount": _find_amounts,
        "qq": _find_qq,
    }
)


class _DisjointSpans:
    """Sorted, pairwise disjoint half-open spans with an O(log n) overlap test."""

    __slots__ = ("_ends", "_starts")

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []

    def overlapping(self, start: int, end: int) -> tuple[int, int] | None:
        """The stored span overlapping ``[start, end)`` that starts first, or None."""
        index = bisect_right(self._starts, start)
        if index and self._ends[index - 1] > start:
            return self._starts[index - 1], self._ends[index - 1]
        if index < len(self._starts) and self._starts[index] < end:
            return self._starts[index], self._ends[index]
        return None

    def add(self, start: int, end: int) -> None:
        index = bisect_right(self._starts, start)
        self._starts.insert(index, start)
        self._ends.insert(index, end)


def _wanted_kinds(kinds: Iterable[str] | None) -> frozenset[str]:
    if kinds is None:
        return frozenset(DETECTOR_KINDS)
    wanted = frozenset([kinds] if isinstance(kinds, str) else kinds)
    unknown = sorted(wanted.difference(DETECTOR_KINDS))
    if unknown:
        raise ConfigError(
            f"unknown identifier kind(s) {', '.join(map(repr, unknown))}; "
            f"expected some of {', '.join(DETECTOR_KINDS)}"
        )
    return wanted


def find_identifiers(
    text: str, kinds: Iterable[str] | None = None, *, original: str | None = None
) -> list[IdentifierHit]:
    """Find identifiers and amounts in a folded message, sorted by start offset.

    ``kinds`` limits the result to some of :data:`DETECTOR_KINDS` (a single kind may be passed
    as a string); None means all. Restricting kinds never changes which hits are found: a
    number that is a bank card is not reported as a QQ number even when only "qq" is asked for.
    ``original`` is the unfolded message, the same length as ``text``; when given, wallet
    addresses are checked against its letter case.

    Hits never overlap, except that a usdt-address may lie inside a url hit.

    Raises ConfigError for an unknown kind and InputError when ``original`` has a different
    length from ``text``.
    """
    wanted = _wanted_kinds(kinds)
    if original is not None and len(original) != len(text):
        raise InputError(
            f"original has {len(original)} characters but text has {len(text)}; "
            "they must be the same length for spans to line up"
        )
    if not wanted:
        return []
    last = max(_PRIORITY.index(kind) for kind in wanted)
    accepted = _DisjointSpans()
    urls: set[tuple[int, int]] = set()
    hits: list[IdentifierHit] = []
    for kind in _PRIORITY[: last + 1]:
        for hit in _DETECTORS[kind](text, original):
            clash = accepted.overlapping(hit.start, hit.end)
            if clash is None:
                accepted.add(hit.start, hit.end)
                if kind == "url":
                    urls.add((hit.start, hit.end))
            elif not (
                kind == "usdt-address"
                and clash in urls
                and clash[0] <= hit.start
                and hit.end <= clash[1]
            ):
                continue
            if kind in wanted:
                hits.append(hit)
    hits.sort(key=lambda hit: (hit.start, -hit.end))
    return hits
