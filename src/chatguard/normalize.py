"""Text normalization that defeats character-level disguise and never loses the raw offsets.

Two forms of every message are used:

* **folded**: each raw character mapped on its own (traditional -> simplified, NFKC, which
  also folds full-width and digit styles such as ① ⑴ ⁹ ₉, case folding; runs of five or more
  Chinese numerals become ASCII digits so 一三八… reads as a phone number). Punctuation is
  kept, so identifier detectors (URLs, phone numbers) see it. Folding is per character, which
  keeps an exact map from every folded character to the raw character it came from.
* **compact**: the folded text with every non-word character removed (spaces, punctuation,
  symbols, emoji, zero-width and bidi marks), so 转 账 / 转*账 / 转💰账 all read 转账. Keywords
  are matched here.

The hot path avoids Python-level loops: a message whose characters are all already folded
(the common case) skips folding entirely (one regex ``search`` decides), and compacting is a
single ``re.sub``. The offset maps are only built for messages that hit something.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

__all__ = [
    "NOISE_RE", "NUMERAL_RUN_RE", "REPEAT_RE", "Normalized", "Normalizer", "collapse_repeats",
]

#: Characters that are removed in the compact form: everything that is not a letter, digit
#: or CJK character (``\w`` minus ``_``). Zero-width, bidi and variation selectors, emoji and
#: lone surrogates fall in here too.
NOISE_RE = re.compile(r"[\W_]+")
_KEEP_RE = re.compile(r"[^\W_]+")
#: Adjacent repeats of one character (转转账账); matched again in a collapsed form.
REPEAT_RE = re.compile(r"(.)\1+", re.DOTALL)
_RUN_RE = re.compile(r"(.)\1*", re.DOTALL)

_CN_DIGITS = {
    "零": "0", "〇": "0", "○": "0", "O": "0",
    "一": "1", "壹": "1", "幺": "1", "二": "2", "贰": "2", "两": "2", "三": "3", "叁": "3",
    "四": "4", "肆": "4", "五": "5", "伍": "5", "六": "6", "陆": "6", "七": "7", "柒": "7",
    "八": "8", "捌": "8", "九": "9", "玖": "9",
}  # fmt: skip
_CN_DIGIT_CLASS = "".join(sorted(k for k in _CN_DIGITS if k != "O"))
#: Five or more numerals (Chinese or ASCII, at least one Chinese) read as a digit string.
#: A run of digits or Chinese numerals that folding turns into ASCII digits (五五五五五 -> 55555).
NUMERAL_RUN_RE = re.compile(f"[0-9{_CN_DIGIT_CLASS}]{{5,}}")
_NUMERAL_TABLE = str.maketrans({k: v for k, v in _CN_DIGITS.items() if k != "O"})


def _digit_styles() -> dict[str, str]:
    """Digit styles NFKC leaves alone or wraps in brackets: ❶ ➀ ➊ ⓵ stay symbols, ⑴ becomes
    "(1)" and ㈠ "(一)", which would cut a number apart; here each is its bare number."""
    out: dict[str, str] = {}
    for first, count in ((0x2776, 10), (0x2780, 10), (0x278A, 10), (0x24F5, 10)):
        for k in range(count):
            out[chr(first + k)] = str(k + 1)
    for k in range(20):  # ⑴..⒇
        out[chr(0x2474 + k)] = str(k + 1)
    for k in range(11, 21):  # ⓫..⓴
        out[chr(0x24EB + k - 11)] = str(k)
    out["⓿"] = "0"
    for k, ch in enumerate("一二三四五六七八九十"):  # ㈠..㈩
        out[chr(0x3220 + k)] = ch
    return out


#: Simplified characters that chat uses interchangeably with another one (帐户 / 账户), and
#: digit styles folded to bare digits.
# 帐 is the old form of 账; 著 is how traditional script writes the particle 着 (跟著我,
# 躺著賺), which OpenCC keeps because 著 is also simplified (著名): folding it costs nothing,
# keywords are folded the same way.
_EXTRA_FOLD = {"帐": "账", "著": "着", **_digit_styles()}

#: Supplementary-plane characters that fold to letters or digits: mathematical alphanumerics
#: (𝟗 𝐀), enclosed alphanumerics (🄰 🅐), CJK compatibility ideographs.
_ASTRAL_FOLD = r"\U0001D400-\U0001D7FF\U0001F100-\U0001F1FF\U0002F800-\U0002FA1F"


def _char_class(chars: list[str]) -> str:
    """A regex character class body for sorted ``chars``, written as ranges."""
    parts: list[str] = []
    i = 0
    while i < len(chars):
        j = i
        while j + 1 < len(chars) and ord(chars[j + 1]) == ord(chars[j]) + 1:
            j += 1
        lo, hi = re.escape(chars[i]), re.escape(chars[j])
        parts.append(lo if i == j else f"{lo}-{hi}")
        i = j + 1
    return "".join(parts)


@dataclass(frozen=True, slots=True)
class Normalized:
    """A normalized string plus, for each of its characters, the raw index it came from.

    ``to_raw`` is ``None`` when the map is the identity: the text has the raw text's length
    and character ``i`` came from raw character ``i`` (it may still differ, e.g. folded). A span
    ``[s, e)`` on ``text`` maps to ``[to_raw[s], to_raw_last[e - 1] + 1)`` on the raw text;
    ``to_raw_last`` differs from ``to_raw`` only where one character stands for a run of raw
    characters (collapsed repeats).
    """

    text: str
    to_raw: tuple[int, ...] | None
    to_raw_last: tuple[int, ...] | None = None

    def raw_span(self, start: int, end: int) -> tuple[int, int]:
        if self.to_raw is None:
            return start, end
        last = self.to_raw_last if self.to_raw_last is not None else self.to_raw
        return self.to_raw[start], last[end - 1] + 1

    def raw_index(self, i: int) -> int:
        return i if self.to_raw is None else self.to_raw[i]


class Normalizer:
    """Folds and compacts chat text; immutable once built.

    ``t2s`` is the traditional -> simplified character table (from the bundled data). The
    instance precomputes the regex that decides whether a message needs folding at all.
    """

    def __init__(self, t2s: dict[str, str]) -> None:
        self._t2s = {**dict(t2s), **_EXTRA_FOLD}
        self._fold_cache: dict[str, str] = {}
        # Which characters make folding worth its cost? Those whose fold differs and either
        # are word characters or fold into one (full-width letters and digits, circled
        # digits, traditional characters, compatibility ideographs, ...). Punctuation that
        # folds to punctuation (，！？ and friends, in nearly every Chinese message) does not
        # count, since the compact form drops it anyway; the few full-width symbols that the
        # URL and account detectors read (／ ． ＠) do.
        relevant = self._fold_relevant()
        non_ascii = [c for c in relevant if not c.isascii()]
        #: Body of the character class behind :meth:`needs_fold` (callers extend it).
        self.fold_class = "A-Z" + _char_class(non_ascii) + _ASTRAL_FOLD
        self._needs_fold = re.compile("[" + self.fold_class + "]")
        self._needs_fold_beyond_case = re.compile("[" + _char_class(non_ascii) + _ASTRAL_FOLD + "]")

    def _fold_relevant(self) -> list[str]:
        """The characters :meth:`needs_fold` looks for; also builds the one-to-one
        translation table and the test for characters that fold to zero or several."""
        out: list[str] = []
        table: dict[int, str] = {}
        uneven: list[str] = []
        t2s = self._t2s
        is_nfkc = unicodedata.is_normalized
        for cp in range(0x10000):
            ch = chr(cp)
            if 0xD800 <= cp <= 0xDFFF:
                continue
            # cheap C-level tests first: most characters are NFKC-stable, caseless and
            # not traditional, and fold to themselves
            if ch not in t2s and is_nfkc("NFKC", ch) and ch.casefold() == ch:
                continue
            f = self.fold_char(ch)
            if f == ch:
                continue
            if len(f) == 1:
                table[cp] = f
            else:
                uneven.append(ch)
            if NOISE_RE.fullmatch(ch) and (not f or NOISE_RE.fullmatch(f)) and ch not in "／．＠":
                continue
            out.append(ch)
        self._fold_cache.clear()
        self._table = table
        # astral characters and lone surrogates take the per-character path too
        self._uneven = re.compile(
            "[" + _char_class(uneven) + _ASTRAL_FOLD + "\ud800-\udfff]"
        )
        return out

    # -- single characters -------------------------------------------------------------
    def fold_char(self, ch: str) -> str:
        """Fold one character (may return "" or several characters)."""
        cached = self._fold_cache.get(ch)
        if cached is not None:
            return cached
        if "\ud800" <= ch <= "\udfff":  # lone surrogate: not text, drop it
            out = ""
        else:
            out = unicodedata.normalize("NFKC", self._t2s.get(ch, ch)).casefold()
            out = "".join(self._t2s.get(c, c) for c in out)
        if len(self._fold_cache) < 65536:
            self._fold_cache[ch] = out
        return out

    # -- whole texts ---------------------------------------------------------------------
    def needs_fold(self, text: str) -> bool:
        """True when some character of ``text`` folds into a different letter or digit.

        Runs of Chinese numerals (一三八…) are not tested here (一 is in half of all
        messages); :meth:`fold` converts them, and the detector's prefilter sends such
        runs to the slow path through its cue words.
        """
        return self._needs_fold.search(text) is not None

    def changes(self, text: str) -> bool:
        """True when :meth:`fold` would return something other than ``text`` itself: a
        character to fold or a run of Chinese numerals to turn into digits."""
        return (self._needs_fold.search(text) is not None
                or NUMERAL_RUN_RE.search(text) is not None)

    def fold(self, text: str) -> Normalized:
        """Return the folded form with its map to raw offsets (identity when unchanged)."""
        if self._needs_fold.search(text) is None:
            if NUMERAL_RUN_RE.search(text) is None:
                return Normalized(text, None)
            return Normalized(NUMERAL_RUN_RE.sub(_numerals_to_digits, text), None)
        if self._needs_fold_beyond_case.search(text) is None:
            # only ASCII capitals to fold: lower() keeps every offset
            lowered = text.lower()
            if len(lowered) == len(text):
                if NUMERAL_RUN_RE.search(lowered) is not None:
                    lowered = NUMERAL_RUN_RE.sub(_numerals_to_digits, lowered)
                return Normalized(lowered, None)
        if self._uneven.search(text) is None:
            # every character folds to exactly one: one C-level translate, offsets unchanged
            folded = text.translate(self._table)
            if NUMERAL_RUN_RE.search(folded) is not None:
                folded = NUMERAL_RUN_RE.sub(_numerals_to_digits, folded)
            return Normalized(folded, None)
        out: list[str] = []
        to_raw: list[int] = []
        fold_char = self.fold_char
        for i, ch in enumerate(text):
            if ch < "\x80" and not ("A" <= ch <= "Z"):
                out.append(ch)
                to_raw.append(i)
                continue
            f = fold_char(ch)
            if len(f) == 1:
                out.append(f)
                to_raw.append(i)
            else:
                for c in f:
                    out.append(c)
                    to_raw.append(i)
        folded = "".join(out)
        if NUMERAL_RUN_RE.search(folded) is not None:
            folded = NUMERAL_RUN_RE.sub(_numerals_to_digits, folded)
        return Normalized(folded, tuple(to_raw))

    def compact(self, folded: Normalized) -> Normalized:
        """Drop noise characters from a folded text, composing the offset maps."""
        text = folded.text
        compact = NOISE_RE.sub("", text)
        if len(compact) == len(text):
            return folded
        base = folded.to_raw
        idx: list[int] = []
        for m in _KEEP_RE.finditer(text):
            idx.extend(range(m.start(), m.end()))
        if base is not None:
            idx = [base[i] for i in idx]
        return Normalized(compact, tuple(idx))

    def normalize(self, text: str) -> tuple[Normalized, Normalized]:
        """Both forms: ``(folded, compact)``."""
        folded = self.fold(text)
        return folded, self.compact(folded)

    def normalize_keyword(self, keyword: str) -> str:
        """The compact form of a rule keyword (same pipeline as messages)."""
        return NOISE_RE.sub("", self.fold(keyword).text)


def collapse_repeats(compact: Normalized) -> Normalized:
    """Collapse runs of one character (转转账账 -> 转账), mapping each kept character to the
    whole run so a hit's raw span covers the repeats."""
    chars: list[str] = []
    firsts: list[int] = []
    lasts: list[int] = []
    for m in _RUN_RE.finditer(compact.text):
        chars.append(m.group(1))
        firsts.append(compact.raw_index(m.start()))
        lasts.append(compact.raw_index(m.end() - 1))
    return Normalized("".join(chars), tuple(firsts), tuple(lasts))


def _numerals_to_digits(m: re.Match[str]) -> str:
    run = m.group()
    if run.isascii():
        return run
    return run.translate(_NUMERAL_TABLE)
