"""Compiling a rule set into one keyword automaton plus the few regexes that need running.

Every keyword, every variant of it (homophones, split radicals, pinyin, aliases), every
``near`` group word and every context word goes into ONE automaton over the compact text.
Each automaton key carries the ids of the :class:`Entry` rows it stands for, so a keyword
shared by several rules reports all of them. Everything here is computed once, when the rule
set compiles; nothing is computed per message.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Final, NamedTuple

from . import identifiers
from ._ahocorasick import KeywordAutomaton
from ._tables import read_table
from .errors import RuleError
from .normalize import Normalizer
from .rules.loader import LoadedRule, RuleSet
from .variants import VariantExpander

__all__ = [
    "KIND_CONTEXT",
    "KIND_CUE",
    "KIND_KEYWORD",
    "KIND_NEAR",
    "CompiledRules",
    "Entry",
]

KIND_KEYWORD: Final = 0
KIND_NEAR: Final = 1
#: A context word (boost or suppress, per rule: see CompiledRules.context_boost/_suppress).
KIND_CONTEXT: Final = 2
#: A word that only tells the prefilter "the identifier detectors may find something here".
KIND_CUE: Final = 4

_DOUBLED = re.compile(r"(.)\1", re.DOTALL)


class Entry(NamedTuple):
    """What one automaton key means for one rule (a named tuple: tens of thousands are
    built per rule set, and tuples build several times faster than frozen dataclasses)."""

    rule: int  # index into CompiledRules.rules
    kind: int  # KIND_*
    group: int  # near group index, else -1
    keyword: str  # the normalized keyword (canonical form)
    variant: str  # "exact", the variant kind that produced the key, or "sound"
    collapsible: bool  # may match in the repeats-collapsed text (key has no doubled chars)
    ascii: bool  # starts or ends with an ASCII letter/digit: that end must not be glued on


@dataclass(frozen=True, slots=True)
class CompiledPattern:
    rule: int
    name: str
    regex: re.Pattern[str]
    validator: str | None


class CompiledRules:
    """The immutable, compiled form of a :class:`RuleSet`."""

    def __init__(self, ruleset: RuleSet, normalizer: Normalizer, expander: VariantExpander) -> None:
        self.ruleset = ruleset
        self.rules: tuple[LoadedRule, ...] = ruleset.rules
        entries: list[Entry] = []
        keys: list[tuple[str, int]] = []
        trigger_keys: list[tuple[str, int]] = []
        user_words: list[str] = []
        sound_keys: list[tuple[str, int]] = []
        sound_trigger_keys: list[tuple[str, int]] = []
        anchor: dict[int, int] = {}  # rule index -> the near group that triggers analysis

        def add(key: str, entry: Entry) -> None:
            keys.append((key, len(entries)))
            if entry.kind == KIND_KEYWORD or (
                entry.kind == KIND_NEAR and anchor.get(entry.rule) == entry.group
            ):
                trigger_keys.append((key, len(entries)))
            entries.append(entry)

        def norm(word: str, lr: LoadedRule, fld: str) -> str:
            out = normalizer.normalize_keyword(word)
            if not out:
                raise RuleError(
                    f"{word!r} is empty once normalized (only spaces/punctuation/emoji)",
                    file=lr.file, line=lr.line, rule_id=lr.id, field=fld,
                )  # fmt: skip
            return out

        def add_with_variants(word: str, lr: LoadedRule, ri: int, kind: int, group: int,
                              fld: str) -> None:
            kw = norm(word, lr, fld)
            # A token-boundary rule's words must not become jieba user words: jieba would
            # then cut 佳保安全 as 佳/保安/全 and the boundary test would always pass.
            as_user_word = lr.spec.boundary != "token"
            if as_user_word:
                user_words.append(kw)
            add(kw, _entry(ri, kind, group, kw, "exact", kw))
            kinds = frozenset(lr.spec.variants)
            for v in expander.expand(kw, kinds):
                if v.text != kw:
                    if as_user_word:
                        user_words.append(v.text)
                    add(v.text, _entry(ri, kind, group, kw, v.kind, v.text))
            # any same-sounding writing (not of a regex's gate word: the regex needs the
            # real text; not of a two-character keyword: 太大 sounds like 泰达, and two
            # syllables meet by chance everywhere, while a near word needs its rule's other
            # groups around it); like the automaton's, only keywords and each near rule's
            # anchor group start an analysis
            if "homophone" in kinds and not lr.spec.patterns and (
                kind == KIND_NEAR or len(kw) >= _MIN_SOUND_KEYWORD
            ):
                sound = expander.sound_keys(kw)
                if sound:
                    trigger = kind == KIND_KEYWORD or anchor.get(ri) == group
                    for key in sound:
                        sound_keys.append((key, len(entries)))
                        if trigger:
                            sound_trigger_keys.append((key, len(entries)))
                    entries.append(_entry(ri, kind, group, kw, "sound", kw))

        context_words: set[str] = set()
        #: rule index -> its boost / suppress words (normalized)
        self.context_boost: dict[int, frozenset[str]] = {}
        self.context_suppress: dict[int, frozenset[str]] = {}
        patterns: list[CompiledPattern] = []
        detector_kinds: dict[str, list[int]] = {}
        always_patterns: list[int] = []
        for ri, lr in enumerate(self.rules):
            spec = lr.spec
            for word in lr.keywords:
                add_with_variants(word, lr, ri, KIND_KEYWORD, -1, "keywords")
            if spec.near is not None:
                anchor[ri] = _anchor_group(
                    [[normalizer.normalize_keyword(w) for w in g] for g in spec.near.groups]
                )
                for gi, group in enumerate(spec.near.groups):
                    for word in group:
                        add_with_variants(word, lr, ri, KIND_NEAR, gi, "near.groups")
            if spec.context is not None:
                # Context words are shared by many rules (小心 suppresses a hundred of them):
                # one automaton entry per distinct word, and a per-rule set to look it up,
                # so a message pays per context word, not per (word, rule) pair.
                boost = {norm(w, lr, "context.boost") for w in spec.context.boost}
                suppress = {norm(w, lr, "context.suppress") for w in spec.context.suppress}
                self.context_boost[ri] = frozenset(boost - suppress)
                self.context_suppress[ri] = frozenset(suppress)
                for w in sorted(boost | suppress):
                    if w not in context_words:
                        context_words.add(w)
                        user_words.append(w)
                        add(w, _entry(-1, KIND_CONTEXT, -1, w, "exact", w))
            for pat in spec.patterns or ():
                patterns.append(CompiledPattern(ri, pat.name, re.compile(pat.regex), pat.validator))
            if spec.patterns and not (lr.keywords or spec.near):
                always_patterns.append(ri)
            for kind in spec.detectors or ():
                detector_kinds.setdefault(kind, []).append(ri)

        if detector_kinds:
            for cue in identifiers.prefilter_cues():
                trigger_keys.append((cue, len(entries)))
                entries.append(_entry(-1, KIND_CUE, -1, cue, "exact", cue))
        self.entries: tuple[Entry, ...] = tuple(entries)
        #: Every key: keywords, variants, all near groups, context words.
        self.automaton = KeywordAutomaton(keys)
        #: Only the keys that can start a finding (keywords and each near rule's anchor
        #: group): the per-message prefilter, so common context words (你, 今天) and the
        #: common half of a near pair do not send every message into full analysis.
        self.trigger = KeywordAutomaton(trigger_keys)
        #: Keywords as sound classes, matched on a message translated with ``sound_table``
        #: (``VariantExpander.sound_table``): homophones beyond the curated table.
        self.sound = KeywordAutomaton(sound_keys)
        self.sound_table: dict[int, str] = expander.sound_table() if sound_keys else {}
        #: The sound keys that start an analysis (keywords, near anchor groups).
        self.sound_trigger = KeywordAutomaton(sound_trigger_keys)
        #: Real words: a sound hit that is one of them (体现 for 提现, 菠菜 for 博彩) is
        #: that word, not a disguise.
        self.real_words: RealWords = _real_words()
        self.patterns: tuple[CompiledPattern, ...] = tuple(patterns)
        self.patterns_by_rule: dict[int, tuple[CompiledPattern, ...]] = {}
        for cp in patterns:
            self.patterns_by_rule[cp.rule] = (*self.patterns_by_rule.get(cp.rule, ()), cp)
        self.always_pattern_rules: tuple[int, ...] = tuple(always_patterns)
        self.detector_rules: dict[str, tuple[int, ...]] = {
            k: tuple(v) for k, v in detector_kinds.items()
        }
        self.user_words: tuple[str, ...] = tuple(dict.fromkeys(user_words))
        self.keyword_count = len(keys)


#: Shortest keyword matched by sound (near words: any length, see CompiledRules).
_MIN_SOUND_KEYWORD: Final = 3


@cache
def _word_counts() -> dict[str, int]:
    return {w: int(n) for w, n in read_table("wordfreq.tsv")}


class RealWords:
    """The bundled table's common words, and the rarer words that sound like a bundled
    keyword (``soundalikes.tsv``, built by ``scripts/build_soundalikes.py``). Two lookups
    instead of one merged set: the common words are in memory anyway, as counts."""

    __slots__ = ("_common", "_soundalikes")

    def __init__(self, common: Mapping[str, int], soundalikes: frozenset[str]) -> None:
        self._common = common
        self._soundalikes = soundalikes

    def __contains__(self, word: object) -> bool:
        return word in self._common or word in self._soundalikes


@cache
def _real_words() -> RealWords:
    return RealWords(_word_counts(), frozenset(w for w, _ in read_table("soundalikes.tsv")))


@cache
def _char_counts() -> dict[str, int]:
    """Per character, the summed count of the table words that contain it: a character
    occurs inside other words far more often than as a word of its own (钱 in 赚钱, 存钱)."""
    out: dict[str, int] = {}
    for w, n in _word_counts().items():
        for ch in set(w):
            out[ch] = out.get(ch, 0) + n
    return out


@cache
def _estimated_count(word: str) -> int:
    """How common ``word`` is: its count in the bundled table, or, for a phrase the table
    lacks (你到了, 推荐你, 我哥), the count of the rarest piece of its most likely split into
    table words, which is how often the phrase can occur at most. Scoring such phrases as
    rare made everyday words (给你, 你也) the trigger of their near rule."""
    counts = _word_counts()
    if len(word) == 1:
        return _char_counts().get(word, 0)
    if word in counts:
        return counts[word]
    n = len(word)
    # best[i]: (summed log-count of the pieces, rarest piece's count) over word[:i]
    best: list[tuple[float, int] | None] = [None] * (n + 1)
    best[0] = (0.0, 1 << 62)
    for i in range(1, n + 1):
        for j in range(max(0, i - 4), i):
            prev = best[j]
            piece = word[j:i]
            c = counts.get(piece, 0)
            if prev is None or (c == 0 and i - j > 1):
                continue
            cand = (prev[0] + math.log1p(c), min(prev[1], c))
            cur = best[i]
            if cur is None or cand[0] > cur[0]:
                best[i] = cand
    end = best[n]
    return 0 if end is None else end[1]


def _anchor_group(groups: list[list[str]]) -> int:
    """The near group least likely to occur in ordinary text: the lowest summed estimated
    word count (see :func:`_estimated_count`), then the longest shortest word. Only this
    group's words start an analysis; the other groups are looked for after.
    """

    def rank(i: int) -> tuple[int, int]:
        words = [w for w in groups[i] if w]
        return (sum(_estimated_count(w) for w in words),
                -min((len(w) for w in words), default=0))

    return min(range(len(groups)), key=rank)


def _entry(rule: int, kind: int, group: int, keyword: str, variant: str, key: str) -> Entry:
    return Entry(
        rule=rule,
        kind=kind,
        group=group,
        keyword=keyword,
        variant=variant,
        collapsible=_DOUBLED.search(key) is None,
        ascii=(key[0].isascii() and key[0].isalnum()) or (key[-1].isascii() and key[-1].isalnum()),
    )
