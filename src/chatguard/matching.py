"""Compiling a rule set into one keyword automaton plus the few regexes that need running.

Every keyword, every variant of it (homophones, split radicals, pinyin, aliases), every
``near`` group word and every context word goes into ONE automaton over the compact text.
Each automaton key carries the ids of the :class:`Entry` rows it stands for, so a keyword
shared by several rules reports all of them. Everything here is computed once, when the rule
set compiles; nothing is computed per message.
"""

from __future__ import annotations

import re
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
    variant: str  # "exact" or the variant kind that produced the key
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


@cache
def _word_counts() -> dict[str, int]:
    return {w: int(n) for w, n in read_table("wordfreq.tsv")}


def _anchor_group(groups: list[list[str]]) -> int:
    """The near group least likely to occur in ordinary text: the lowest summed word count
    in the bundled frequency table (words not in it are rare), then the longest shortest
    word. Only this group's words start an analysis; the other groups are looked for after.
    """
    counts = _word_counts()

    def rank(i: int) -> tuple[int, int]:
        words = [w for w in groups[i] if w]
        return (sum(counts.get(w, 0) for w in words), -min((len(w) for w in words), default=0))

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
