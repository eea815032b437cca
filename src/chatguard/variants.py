"""Disguised spellings of rule keywords, produced once when a rule set is compiled.

Scammers write 薇信 or vx for 微信, 钅艮行卡 for 银行卡, zhuan账 for 转账. Rather than undo
every disguise in each message, the compiler expands each keyword into its variants and puts
them all in the one Aho-Corasick automaton: the per-message cost then does not depend on how
many variants exist, and a hit says which disguise it was (:attr:`Variant.kind`).

Variants are written in the *compact normalized* form the matcher sees: NFKC, case-folded,
simplified (via ``t2s.tsv``), letters and digits only. A variant in any other form could never
match, so the bundled tables are checked against that form when they are loaded.

The tables are plain TSV files in ``chatguard/_data``: ``t2s.tsv`` and ``pinyin.tsv`` are
generated from OpenCC and pypinyin by ``scripts/build_tables.py`` (neither package is needed at
run time), ``homophones.tsv``, ``split.tsv`` and ``aliases.tsv`` are curated by hand.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from itertools import combinations, islice, product
from typing import Final, Literal

from chatguard.errors import ConfigError, RuleError

__all__ = ["KIND_ORDER", "GeneratedKind", "Variant", "VariantExpander"]

GeneratedKind = Literal["homophone", "split", "pinyin", "initials", "alias"]

KIND_ORDER: Final[tuple[GeneratedKind, ...]] = ("alias", "split", "homophone", "pinyin", "initials")
"""Priority when a keyword's budget runs out, and the primary sort key of the output.

Aliases and split writings are curated and precise; homophones are curated per character but
combine freely; pinyin and initials are mechanical and the likeliest to hit unrelated text.
"""

# "traditional" is a rule-level variant kind the normalizer handles; accepted and ignored here.
_ACCEPTED_KINDS: Final = frozenset((*KIND_ORDER, "traditional"))
_KIND_RANK: Final[dict[str, int]] = {kind: rank for rank, kind in enumerate(KIND_ORDER)}
# Heteronyms multiply (银行卡 alone has 6 full readings); the first readings are the common ones.
_MAX_READING_COMBOS: Final = 8
# zhuan账 is a recognisable disguise, a账 or e账 would mostly hit unrelated text.
_MIN_MIXED_PINYIN: Final = 3
# 2-letter initials (zz, hb) match too much ordinary text; only the alias table may add them.
_MIN_INITIALS_CHARS: Final = 3
_MIN_VARIANT_LEN: Final = 2
#: First private-use code point of the sound classes (about 400 syllables follow it).
_SOUND_BASE: Final = 0xE000
#: Pinyin spellings that are everyday English words: as disguises they would flag English
#: chat ("I like it", "tie", "die for you"); found by listing the pack's short pinyin forms.
_ENGLISH_COLLISIONS: Final = frozenset(
    ("die", "like", "tie", "fan", "song", "edu", "bug", "man", "pen", "gang", "hang", "bang",
     "long", "ban", "pan", "dang", "sun", "she", "men", "ten", "den", "hen", "lie", "pie",
     "mine", "hun", "gun", "fun", "nun", "run", "pin", "bin", "tin", "din", "sin", "yen",
     "you", "bed", "bad", "had", "lad", "mad", "sad", "dad", "pad", "tan", "can", "nan",
     "wan", "ran", "fang", "tang", "lang", "jin", "ping", "king", "ding", "wing", "sing")
)

_Table = dict[str, tuple[str, ...]]
# A check returns an error message, or None when the entry is fine.
_Check = Callable[[str, tuple[str, ...]], str | None]


@dataclass(frozen=True, slots=True)
class Variant:
    """One disguised spelling of a keyword, and the kind of disguise it is."""

    text: str
    """The variant in compact normalized form, ready to go into the automaton."""
    kind: GeneratedKind


def _is_cjk(ch: str) -> bool:
    """True for a CJK unified ideograph (the BMP block and extensions A-H)."""
    cp = ord(ch)
    return 0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x323AF


def _is_compact(text: str, t2s: Mapping[str, str]) -> bool:
    """True when the normalizer would leave ``text`` unchanged, i.e. a variant could match."""
    return (
        text.isalnum()
        and unicodedata.normalize("NFKC", text).casefold() == text
        and not any(ch in t2s for ch in text)
    )


def _parse(text: str, source: str, *, sep: str | None, check: _Check) -> _Table:
    """Parse one ``key<TAB>values`` table; raise :class:`RuleError` naming file and line."""
    table: _Table = {}
    for lineno, raw in enumerate(text.splitlines(), start=1):
        if not raw or raw.startswith("#"):
            continue
        key, tab, rest = raw.partition("\t")
        values = tuple(rest.split(sep)) if sep is not None else (rest,)
        problem: str | None
        if not tab or not key or not rest or "\t" in rest:
            problem = "expected exactly 'key<TAB>values'"
        elif key in table:
            problem = f"duplicate key {key!r}"
        elif "" in values or len(set(values)) != len(values):
            problem = f"empty or repeated value for {key!r}"
        else:
            problem = check(key, values)
        if problem is not None:
            raise RuleError(problem, file=source, line=lineno)
        table[key] = values
    return table


def _check_t2s(key: str, values: tuple[str, ...]) -> str | None:
    if len(key) != 1 or len(values[0]) != 1 or key == values[0]:
        return "t2s maps one character to a different single character"
    return None


def _check_pinyin(key: str, values: tuple[str, ...]) -> str | None:
    if len(key) != 1:
        return "pinyin keys are single characters"
    if not all(v.isascii() and v.isalpha() and v.islower() for v in values):
        return f"readings of {key!r} must be lowercase ASCII letters"
    return None


def _curated_check(t2s: Mapping[str, str], *, single_char_key: bool, min_value_len: int) -> _Check:
    """Build the check shared by the hand-curated tables: every form must be able to match."""

    def check(key: str, values: tuple[str, ...]) -> str | None:
        if (len(key) != 1) if single_char_key else (len(key) < _MIN_VARIANT_LEN):
            return f"bad key length for {key!r}"
        for form in (key, *values):
            if not _is_compact(form, t2s):
                return f"{form!r} is not in compact normalized form"
        short = [v for v in values if len(v) < min_value_len or v == key]
        if short:
            return f"values {short!r} of {key!r} are too short or equal the key"
        return None

    return check


def _parse_table(name: str, text: str, t2s: Mapping[str, str]) -> _Table:
    """Parse bundled table ``name`` with that table's rules (the one place they are stated).

    ``t2s`` is needed by the curated tables: a form containing a traditional character would
    be rewritten by the normalizer and could never match.
    """
    sep: str | None
    check: _Check
    match name:
        case "t2s.tsv":
            sep, check = None, _check_t2s
        case "pinyin.tsv":
            sep, check = ",", _check_pinyin
        case "homophones.tsv":
            sep, check = " ", _curated_check(t2s, single_char_key=True, min_value_len=1)
        case "split.tsv":
            sep, check = "|", _curated_check(t2s, single_char_key=True, min_value_len=2)
        case "aliases.tsv":
            sep, check = "|", _curated_check(t2s, single_char_key=False, min_value_len=2)
        case _:
            raise ValueError(f"no such table: {name}")
    return _parse(text, f"chatguard/_data/{name}", sep=sep, check=check)


def _load(name: str, t2s: Mapping[str, str]) -> _Table:
    """Read and parse one bundled table from the package data."""
    text = resources.files("chatguard").joinpath("_data", name).read_text(encoding="utf-8")
    return _parse_table(name, text, t2s)


class VariantExpander:
    """Expands normalized keywords into their disguised spellings.

    Loads and validates the bundled tables once, in the constructor; build one per rule-set
    compilation (or keep one around) and call :meth:`expand` for every keyword. The instance
    holds no state that ``expand`` changes, so it is safe to share between threads.
    """

    __slots__ = ("_aliases", "_homophones", "_pinyin", "_sound", "_splits", "_t2s")

    def __init__(self) -> None:
        self._t2s: dict[str, str] = {k: v[0] for k, v in _load("t2s.tsv", {}).items()}
        self._pinyin = _load("pinyin.tsv", self._t2s)
        self._homophones = _load("homophones.tsv", self._t2s)
        self._splits = _load("split.tsv", self._t2s)
        self._aliases = _load("aliases.tsv", self._t2s)
        syllables = sorted({r for readings in self._pinyin.values() for r in readings})
        # every toneless syllable as one private-use character (the noise filter drops such
        # characters from messages, so a class character never meets a raw one)
        self._sound: dict[str, str] = {
            s: chr(_SOUND_BASE + i) for i, s in enumerate(syllables)
        }

    @property
    def t2s(self) -> dict[str, str]:
        """The traditional-to-simplified character table (a copy: the normalizer builds its
        translate table from it, and must not be able to change the expander's)."""
        return dict(self._t2s)

    def to_simplified(self, ch: str) -> str:
        """The simplified form of one character, or the character itself when it has none."""
        return self._t2s.get(ch, ch)

    def expand(self, keyword: str, kinds: frozenset[str], *, limit: int = 64) -> list[Variant]:
        """Return up to ``limit`` variants of ``keyword``, ordered by kind then text.

        ``keyword`` must already be in compact normalized form. Kinds are filled in
        :data:`KIND_ORDER` priority, each generating its likeliest variants first, so a
        budget that runs out drops the least useful ones. Single characters get no variants:
        a one-character keyword is too ambiguous to disguise further.
        """
        unknown = kinds - _ACCEPTED_KINDS
        if unknown:
            raise RuleError(
                f"unknown variant kind(s) {sorted(unknown)!r}; expected {sorted(_ACCEPTED_KINDS)}",
                field="variants",
            )
        if limit < 0:
            raise ConfigError(f"variant limit must be >= 0, got {limit}")
        if len(keyword) < _MIN_VARIANT_LEN:
            return []
        generators: dict[GeneratedKind, Callable[[str], Iterator[str]]] = {
            "alias": self._alias,
            "split": self._split,
            "homophone": self._homophone,
            "pinyin": self._pinyin_forms,
            "initials": self._initials,
        }
        found: dict[str, GeneratedKind] = {}
        for kind in KIND_ORDER:
            if kind not in kinds or len(found) >= limit:
                continue
            for text in generators[kind](keyword):
                if text not in found and _acceptable(text, keyword, kind):
                    found[text] = kind
                    if len(found) >= limit:
                        break
        ordered = sorted(found.items(), key=lambda item: (_KIND_RANK[item[1]], item[0]))
        return [Variant(text, kind) for text, kind in ordered]

    def sound_table(self) -> dict[int, str]:
        """A ``str.translate`` table from each hanzi to the class of its first reading.

        Two texts translated with it are equal when they sound the same, tones aside:
        赚帐, 转仗 and 砖账 all read zhuan-zhang. The curated homophone table holds the
        substitutes people use most (and look-alikes, letters); this catches the rest,
        whatever same-sounding character a scammer picks.
        """
        sound = self._sound
        return {ord(ch): sound[r[0]] for ch, r in self._pinyin.items() if r}

    def sound_keys(self, keyword: str, *, limit: int = 4) -> list[str]:
        """The keyword as sound classes (see :meth:`sound_table`), its likeliest readings
        first (银行卡 is yin-xing-ka and yin-hang-ka); empty unless the keyword is at least
        two hanzi, each with a reading.

        A two-character keyword keeps its first reading only: the second readings of
        such short words sound like everyday chat (合约 read ge-yue is 个月).
        """
        if len(keyword) < _MIN_VARIANT_LEN:
            return []
        if len(keyword) == _MIN_VARIANT_LEN:
            limit = min(limit, 1)
        sound = self._sound
        options: list[tuple[str, ...]] = []
        for ch in keyword:
            readings = self._pinyin.get(ch, ())
            if not readings:
                return []
            options.append(tuple(dict.fromkeys(sound[r] for r in readings)))
        return list(_likeliest(options, limit))

    def _alias(self, keyword: str) -> Iterator[str]:
        """Aliases of the keyword itself, then of every canonical it contains, in place."""
        yield from self._aliases.get(keyword, ())
        for canonical, aliases in self._aliases.items():
            if canonical == keyword:
                continue
            start = keyword.find(canonical)
            while start != -1:
                head, tail = keyword[:start], keyword[start + len(canonical) :]
                for alias in aliases:
                    yield head + alias + tail
                start = keyword.find(canonical, start + 1)

    def _split(self, keyword: str) -> Iterator[str]:
        """One position written split, then every position split when all can be."""
        forms = [self._splits.get(ch, ()) for ch in keyword]
        yield from _substitute_one(keyword, forms)
        if all(forms):
            yield from ("".join(combo) for combo in product(*forms))

    def _homophone(self, keyword: str) -> Iterator[str]:
        """One position substituted, then (keywords of 3+ characters) two positions."""
        subs = [self._homophones.get(ch, ()) for ch in keyword]
        yield from _substitute_one(keyword, subs)
        if len(keyword) < 3:
            return
        for i, j in combinations(range(len(keyword)), 2):
            for a, b in product(subs[i], subs[j]):
                yield keyword[:i] + a + keyword[i + 1 : j] + b + keyword[j + 1 :]

    def _readings(self, keyword: str) -> list[tuple[str, ...]] | None:
        """Per-position readings, ASCII kept as itself; None when pinyin does not apply.

        A CJK character missing from the table (rare, outside GB2312) yields an empty tuple:
        it blocks the full-pinyin forms but not the mixed ones of the other characters. ASCII
        positions are never replaced in mixed forms (their "reading" is themselves).
        """
        readings: list[tuple[str, ...]] = []
        for ch in keyword:
            if ch.isascii():
                readings.append((ch,))
            elif _is_cjk(ch):
                readings.append(self._pinyin.get(ch, ()))
            else:
                return None
        return readings

    def _pinyin_forms(self, keyword: str) -> Iterator[str]:
        """Full pinyin (likeliest reading combinations), then one character at a time."""
        readings = self._readings(keyword)
        if readings is None:
            return
        yield from _likeliest(readings, _MAX_READING_COMBOS)
        # Mixed forms: every position's default reading before any position's second reading.
        for rank in range(max(map(len, readings))):
            for i, options in enumerate(readings):
                if rank < len(options) and len(options[rank]) >= _MIN_MIXED_PINYIN:
                    yield keyword[:i] + options[rank] + keyword[i + 1 :]

    def _initials(self, keyword: str) -> Iterator[str]:
        """First letters of each reading, for keywords of 3+ CJK characters only."""
        if len(keyword) < _MIN_INITIALS_CHARS or not all(_is_cjk(ch) for ch in keyword):
            return
        # dict.fromkeys dedupes (xing and xian share x) and keeps the default reading's first
        firsts = [tuple(dict.fromkeys(r[0] for r in self._pinyin.get(ch, ()))) for ch in keyword]
        yield from _likeliest(firsts, _MAX_READING_COMBOS)


def _likeliest(options: list[tuple[str, ...]], cap: int) -> Iterator[str]:
    """Yield up to ``cap`` strings made of one option per position, likeliest first.

    Options are listed most common first, so a combination is likelier the fewer and the
    smaller its departures from the first options: combinations come in order of the sum of
    their option indexes (all defaults, then one second reading anywhere, ...). A plain
    ``product`` would instead spend the whole cap varying the last position. Nothing is
    yielded when a position has no options.
    """
    counts = [len(o) for o in options]
    if not all(counts):
        return
    # spare[i]: the largest index sum positions i.. can still absorb, to prune dead branches
    spare = [0] * (len(counts) + 1)
    for i in range(len(counts) - 1, -1, -1):
        spare[i] = spare[i + 1] + counts[i] - 1

    def with_total(i: int, total: int) -> Iterator[tuple[int, ...]]:
        if i == len(counts):
            yield ()
            return
        for k in range(min(total, counts[i] - 1) + 1):
            if total - k <= spare[i + 1]:
                for rest in with_total(i + 1, total - k):
                    yield (k, *rest)

    combos = (idx for total in range(spare[0] + 1) for idx in with_total(0, total))
    for idx in islice(combos, cap):
        yield "".join(o[k] for o, k in zip(options, idx, strict=True))


def _substitute_one(keyword: str, options: list[tuple[str, ...]]) -> Iterator[str]:
    """Yield ``keyword`` with one position replaced by each of that position's options."""
    for i, subs in enumerate(options):
        for sub in subs:
            yield keyword[:i] + sub + keyword[i + 1 :]


def _acceptable(text: str, keyword: str, kind: GeneratedKind) -> bool:
    """The output rules every kind obeys (see :meth:`VariantExpander.expand`)."""
    if text == keyword or len(text) < _MIN_VARIANT_LEN:
        return False
    # "zz" from the alias table is a deliberate entry; from pinyin it would be noise.
    if kind != "alias" and len(text) == _MIN_VARIANT_LEN and text.isascii() and text.isalpha():
        return False
    # All-letter pinyin that is also a common English word: 提额 reads "die", 立刻 "like".
    return not (kind in ("pinyin", "initials") and text in _ENGLISH_COLLISIONS)
