"""The message detector: normalize, match, confirm, score. Pure: no I/O, no state per call.

Pipeline for one message (``docs/design.md`` has the picture):

1. prefilter: a message with nothing to fold, no digit and no currency sign is compacted
   with one ``re.sub`` and run through the TRIGGER automaton (keywords and variants, each
   near rule's rarest word group, identifier cue words), then, translated to sound classes
   (each hanzi as its first toneless reading), through the same words written by sound; no
   hit means "none" at once. Other messages are folded first and also meet the identifier
   prefilter;
2. feasibility: one pass of the full automaton (every keyword, variant, near word and
   context word; also over the repeats-collapsed text) decides whether any rule can still
   fire, before any offset map, context window or jieba call is paid for;
3. confirmation, for the few messages left: offset maps back to the raw text (``normalize``),
   ASCII isolation, jieba token boundaries, context windows (suppress / boost), ``near``
   windows, rule regexes gated by their keywords, validated identifier detectors;
4. findings on raw spans -> score -> level (``scoring``).

The detector is immutable after construction; a rule reload builds a new one. It is safe to
share between threads (the jieba tokenizer loads once under a lock).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

from . import identifiers
from .matching import KIND_CONTEXT, KIND_KEYWORD, KIND_NEAR, CompiledRules, Entry, RealWords
from .models import Finding, Verdict
from .normalize import NOISE_RE, REPEAT_RE, Normalized, Normalizer
from .rules.loader import RuleSet, load_rules
from .scoring import Scorer
from .tokenizer import JiebaTokenizer, TokenIndex
from .variants import VariantExpander

__all__ = ["Detector"]

#: Raw characters that end a clause: context words never act across them.
_CLAUSE_RE = re.compile(r"[，。！？；,.!?;\n\r…~～]")
#: ... unless the next clause reports what someone said (对方让他充值，说稳赚不赔): the
#: speaker, and a warning's 被骗 or 骗子, are in the clause before.
_REPORTED_RE = re.compile(r"\s*(?:说|还说|又说|就说|也说|都说|声称|号称|称)")
#: Findings kept per rule and message: bounds the work on adversarial megabyte inputs.
_MAX_FINDINGS_PER_RULE = 100
#: Automaton hits kept per rule (and context words per message) before choosing findings.
_MAX_CANDIDATES_PER_RULE = 1000
#: Automaton hits looked at per message at most (a chat message has a handful).
_MAX_OCCURRENCES = 20_000
#: Separator between messages in the batch prefilter: a letter (so the noise filter keeps
#: it), never part of a keyword (checked at compile time).
_SEP = "\ua66e"
_RUN_RE = re.compile(r"(.)\1*", re.DOTALL)


def _first(m: re.Match[str]) -> str:
    # a function, not the template r"\1": re.sub re-expands a template on every call
    return m.group(1)
_EMPTY_CATS: MappingProxyType[str, float] = MappingProxyType({})


class Detector:
    """Scores chat messages against a compiled rule set.

    Build one with :meth:`default` (the bundled zh-CN pack) or :meth:`from_rules`, then call
    :meth:`check` per message or :meth:`check_many` for batches (same verdicts, faster).
    """

    def __init__(self, ruleset: RuleSet) -> None:
        expander = VariantExpander()
        self._normalizer = Normalizer(expander.t2s)
        self._rules = CompiledRules(ruleset, self._normalizer, expander)
        for word in self._rules.user_words:
            if _SEP in word:
                raise ValueError(f"keyword {word!r} contains the reserved character U+A66E")
        self._scorer = Scorer(ruleset.scoring)
        self._tokenizer = JiebaTokenizer(self._rules.user_words)
        self.ruleset = ruleset
        self.fingerprint: str = ruleset.fingerprint
        self._none = Verdict(0.0, "none", (), self.fingerprint, _EMPTY_CATS)
        # The same verdict (equal in every field) for a message that reached analysis and
        # had no finding: a distinct object, so that the conversation guard can tell a
        # message that may hold a word group of a near rule (its rarest group triggers
        # analysis) from one that cannot (``verdict is det._none``), at no cost: it joins
        # two messages for a near rule only when both of them were analysed.
        self._none_analysed = Verdict(0.0, "none", (), self.fingerprint, _EMPTY_CATS)
        self._near_full = {
            ri: (1 << len(lr.spec.near.groups)) - 1
            for ri, lr in enumerate(self._rules.rules) if lr.spec.near is not None
        }
        self._needs_identifiers = bool(self._rules.detector_rules)
        self._identifier_kinds = tuple(self._rules.detector_rules)
        self._find = self._rules.trigger.hits
        self._find_all = self._rules.automaton.hits
        # homophones by sound (None when no rule asks for them): the prefilter's trigger
        # keys, and every sound key for the analysis
        self._sound_iter = self._rules.sound_trigger.raw_iter
        self._sound_all = self._rules.sound.raw_iter
        self._sound_table = self._rules.sound_table
        self._real_words = self._rules.real_words
        # the pack's own words (keywords, near and context words) read as themselves
        self._own_words = frozenset(e.keyword for e in self._rules.entries)
        self._always = bool(self._rules.always_pattern_rules)
        # Characters that send a message down the folded path: anything that folds into a
        # different letter or digit, ASCII digits and currency signs (the identifier
        # detectors' raw material). Plain Chinese chat with punctuation and emoji has none.
        self._slow_chars = re.compile("[0-9¥￥" + _SEP + self._normalizer.fold_class + "]")

    # -- construction ------------------------------------------------------------------
    @classmethod
    def default(cls) -> Detector:
        """A detector over the bundled zh-CN rule pack."""
        return cls(load_rules())

    @classmethod
    def from_rules(cls, *paths: str | Path) -> Detector:
        """A detector over one or more rule packs (later ones extend earlier ones)."""
        return cls(load_rules(*paths))

    def warm_up(self) -> None:
        """Load the tokenizer now: before forking workers, or to keep it off a first request."""
        self._tokenizer.warm_up()

    @property
    def rule_count(self) -> int:
        return len(self._rules.rules)

    @property
    def keyword_count(self) -> int:
        """Automaton keys: keywords plus their variants, near and context words."""
        return self._rules.keyword_count

    @property
    def normalizer(self) -> Normalizer:
        return self._normalizer

    # -- the API -----------------------------------------------------------------------
    def check(self, text: str) -> Verdict:
        """The verdict on one message. Never raises on any ``str``; a non-str is a TypeError."""
        # the same steps as _check_compact, written out: this is the hot path
        if not isinstance(text, str):
            raise TypeError(f"Detector.check expects str, got {type(text).__name__}")
        if self._slow_chars.search(text) is not None:
            return self._check_folded(text)
        compact = NOISE_RE.sub("", text)
        if self._find(compact) or self._always:
            return self._analyze(text)
        if REPEAT_RE.search(compact) is not None and self._collapsed_hits(compact):
            return self._analyze(text)
        if self._sound_prefilter(compact):
            return self._analyze(text)
        return self._none

    def _check_compact(self, text: str) -> tuple[Verdict, str | None]:
        """:meth:`check`, plus the message without its noise when it took the plain path
        (nothing to fold): ``NOISE_RE.sub("", text)``, computed here anyway. The guard takes
        a message's head and tail for split words from it instead of stripping it again."""
        if not isinstance(text, str):
            raise TypeError(f"Detector.check expects str, got {type(text).__name__}")
        if self._slow_chars.search(text) is not None:
            return self._check_folded(text), None
        compact = NOISE_RE.sub("", text)
        if self._find(compact) or self._always:
            return self._analyze(text), compact
        if REPEAT_RE.search(compact) is not None and self._collapsed_hits(compact):
            return self._analyze(text), compact
        if self._sound_prefilter(compact):
            return self._analyze(text), compact
        return self._none, compact

    def _check_folded(self, text: str) -> Verdict:
        """The prefilter for messages with digits, currency signs or characters to fold: the
        same tests as :meth:`check`, on the folded text, plus the identifier prefilter."""
        folded = self._normalizer.fold(text).text  # no offset maps: only a yes / no here
        ctext = NOISE_RE.sub("", folded)
        if (
            self._find(ctext)
            or self._always
            or (self._needs_identifiers and identifiers.quick_check(folded))
            or (REPEAT_RE.search(ctext) is not None and self._collapsed_hits(ctext))
            or self._sound_prefilter(ctext)
        ):
            return self._analyze(text)
        return self._none

    def check_many(self, texts: Iterable[str]) -> list[Verdict]:
        """Verdicts for many messages, equal to ``[check(t) for t in texts]``.

        The batch path runs the cheap prefilters over all messages joined into one string
        (one regex or automaton call per batch instead of per message) and analyses in full
        only the messages a prefilter flags.
        """
        return self._check_many_compact(texts, None)

    def _check_many_compact(
        self, texts: Iterable[str], compacts: list[str | None] | None
    ) -> list[Verdict]:
        """:meth:`check_many`; with ``compacts`` (a list as long as ``texts``, all ``None``),
        also fills in what :meth:`_check_compact` gives per message."""
        if isinstance(texts, str):
            raise TypeError("Detector.check_many expects an iterable of str, got one str")
        items = texts if isinstance(texts, list) else list(texts)
        for i, t in enumerate(items):
            if not isinstance(t, str):
                raise TypeError(
                    f"Detector.check_many expects str items, got {type(t).__name__} at index {i}"
                )
        n = len(items)
        out: list[Verdict] = [self._none] * n
        if n == 0:
            return out
        if self._always:
            return [self._analyze(t) for t in items]
        flagged = self._batch_prefilter(items, out, compacts)
        for i in flagged:
            out[i] = self._analyze(items[i])
        return out

    # -- batch prefilter ---------------------------------------------------------------
    def _batch_prefilter(
        self, items: list[str], out: list[Verdict], compacts_out: list[str | None] | None
    ) -> list[int]:
        """Indexes of the plain messages a prefilter flags; messages that need folding are
        checked one by one on the way (their verdicts go straight into ``out``), the plain
        messages' noise-free texts into ``compacts_out`` when given."""
        slow = self._slow_chars.search
        sub = NOISE_RE.sub
        idx: list[int] = []
        compacts: list[str] = []
        for i, t in enumerate(items):
            if slow(t) is not None:
                out[i] = self._check_folded(t)
                continue
            c = sub("", t)
            if compacts_out is not None:
                compacts_out[i] = c
            if c:
                idx.append(i)
                compacts.append(c)
        if not compacts:
            return []
        joined = _SEP.join(compacts)
        flagged: set[int] = set()
        hits = self._find(joined)
        if hits:
            starts: list[int] = []
            pos = 0
            for c in compacts:
                starts.append(pos)
                pos += len(c) + 1
            for last, _ in hits:
                flagged.add(idx[bisect_right(starts, last) - 1])
        if REPEAT_RE.search(joined) is not None:
            for k, c in enumerate(compacts):
                i = idx[k]
                if i not in flagged and REPEAT_RE.search(c) is not None and self._collapsed_hits(c):
                    flagged.add(i)
        if self._sound_iter is not None:
            # no sound key holds the separator (it has no reading): no hit spans two messages
            hit_starts = [s for s, _, _ in self._sounds(
                joined, joined.translate(self._sound_table), trigger=True, every=True)]
            if hit_starts:
                starts = [0]
                for c in compacts[:-1]:
                    starts.append(starts[-1] + len(c) + 1)
                for s in hit_starts:
                    flagged.add(idx[bisect_right(starts, s) - 1])
        return sorted(flagged)

    def _collapsed_hits(self, compact: str) -> bool:
        collapsed = REPEAT_RE.sub(_first, compact)
        entries = self._rules.entries
        for _, (_, payloads) in self._find(collapsed):
            if any(entries[p].collapsible for p in payloads):
                return True
        return False

    def _sound_prefilter(self, compact: str) -> bool:
        """Does a word that starts an analysis occur in ``compact`` written by sound? (One
        automaton pass to the first hit; only a hit pays for telling disguise from word.)"""
        if self._sound_iter is None:
            return False
        sounds = compact.translate(self._sound_table)
        for _ in self._sound_iter(sounds):
            return bool(self._sounds(compact, sounds, trigger=True))
        return False

    def _sounds(
        self, compact: str, sounds: str, *, trigger: bool = False, every: bool = False
    ) -> list[tuple[int, int, tuple[int, ...]]]:
        """Keywords written with other characters of the same sound (赚帐 for 转账), on
        compact text (``sounds``: it translated with the sound table): ``(start, end,
        entry ids)``. With ``trigger`` (the prefilter), only the words that start an
        analysis, and only the first hit unless ``every``.

        The pack's own words are left to the automaton, and so is everyday text
        that happens to sound like one (体现 is not 提现, 体现不了 not 提现不了): a disguise
        is a writing nobody uses for anything else. :meth:`_findings` also wants the hit
        within one clause and not cut out of longer words (:func:`_sound_stands`).
        """
        search = self._sound_iter if trigger else self._sound_all
        if search is None:
            return []
        real = self._real_words
        own = self._own_words
        out: list[tuple[int, int, tuple[int, ...]]] = []
        for last, (length, payloads) in search(sounds):
            s = last + 1 - length
            span = compact[s : last + 1]
            if span in own or span in real or _made_of_words(span, real):
                continue
            out.append((s, last + 1, payloads))
            if (trigger and not every) or (not trigger and len(out) >= _MAX_OCCURRENCES):
                break  # a prefilter needs one; an adversarial megabyte, what fits the cap
        return out

    # -- full analysis -----------------------------------------------------------------
    def _analyze(self, text: str) -> Verdict:
        findings = self._findings(text)
        if not findings:
            return self._none_analysed
        # One keyword of a rule counts once per message, with its strongest finding: a
        # scammer who repeats 转账 five times is not five times as risky, and a long
        # ordinary message must not add up to "critical" from one word. Distinct phrases of
        # one rule (卡座 ... 先买单) are distinct evidence and do combine.
        # The same phrase found twice by one rule (a keyword and a near window, two
        # patterns) is one piece of evidence too: overlapping spans of a rule count once.
        best: dict[tuple[str, str], tuple[str, float]] = {}
        for cluster in _clusters(findings):
            top = max(cluster, key=lambda f: f.weight)
            key = (top.rule_id, top.keyword)
            old = best.get(key)
            if old is None or top.weight > old[1]:
                best[key] = (top.category, top.weight)
        cats = [c for c, _ in best.values()]
        weights = [w for _, w in best.values()]
        score, level, per_cat = self._scorer.score_one(cats, weights)
        return Verdict(score, level, tuple(findings), self.fingerprint, MappingProxyType(per_cat))

    @functools.cached_property
    def junction_pairs(self) -> frozenset[str]:
        """Every two consecutive characters of every key :meth:`spans_junction` matches.

        A key can occur across the cut of ``tail + head`` only if it contains the pair
        ``tail[-1] + head[0]``: the guard settles about nine in ten junctions of everyday
        chat with one set lookup instead of an automaton pass. Built on first use (tens of
        milliseconds), then shared by every guard on this detector.
        """
        return frozenset(k[i : i + 2] for k in self._rules.automaton.iter_keys()
                         for i in range(len(k) - 1))

    def spans_junction(self, joined: str, cut: int) -> bool:
        """True when some rule word (keyword, variant, near-group or context word) occurs in
        the compact text ``joined`` across position ``cut``: the conversation guard uses it
        to analyse two messages glued together only when a word was split between them."""
        return any(last + 1 - length < cut <= last for last, (length, _) in self._find_all(joined))

    def near_spans_junction(self, joined: str, cut: int) -> bool:
        """True when some ``near`` rule has every word group in the compact text
        ``joined``, only with words on both sides of ``cut`` (neither side alone holds
        them all): its parts were sent as two messages (可以下款 | 需交保证金)."""
        entries = self._rules.entries
        left: dict[int, int] = {}
        right: dict[int, int] = {}
        for last, (length, payloads) in self._find_all(joined):
            if last < cut:
                side = left
            elif last + 1 - length >= cut:
                side = right
            else:
                continue  # a word across the cut: spans_junction's case
            for p in payloads:
                e = entries[p]
                if e.kind == KIND_NEAR:
                    side[e.rule] = side.get(e.rule, 0) | 1 << e.group
        full = self._near_full
        for ri, bits in left.items():
            other = right.get(ri, 0)
            if other and bits | other == full[ri] and bits != full[ri] and other != full[ri]:
                return True
        return False

    def explain(self, text: str) -> dict[str, Any]:
        """The verdict plus the normalized forms it was computed on (for debugging rules)."""
        folded, compact = self._normalizer.normalize(text)
        verdict = self.check(text)
        return {"folded": folded.text, "compact": compact.text, **verdict.to_dict()}

    def _findings(self, text: str) -> list[Finding]:
        rules = self._rules
        folded = self._normalizer.fold(text)
        ctext = NOISE_RE.sub("", folded.text)
        entries = rules.entries
        # (compact start, compact end, entry id); repeats-collapsed hits mapped to compact
        occ: set[tuple[int, int, int]] = set()
        for last, (length, payloads) in self._find_all(ctext):
            for p in payloads:
                occ.add((last + 1 - length, last + 1, p))
            if len(occ) >= _MAX_OCCURRENCES:
                break  # adversarial input: what fits is plenty for capped findings
        if REPEAT_RE.search(ctext) is not None:
            runs = [(m.start(), m.end()) for m in _RUN_RE.finditer(ctext)]
            collapsed = "".join(ctext[s] for s, _ in runs)
            for last, (length, payloads) in self._find_all(collapsed):
                s = runs[last + 1 - length][0]
                e = runs[last][1]
                for p in payloads:
                    if entries[p].collapsible:
                        occ.add((s, e, p))
        if self._sound_all is not None:
            found = {(s, e, entries[p].rule) for s, e, p in occ}
            for s, e, ids in self._sounds(ctext, ctext.translate(self._sound_table)):
                for p in ids:
                    if (s, e, entries[p].rule) not in found:
                        occ.add((s, e, p))
        if not self._feasible(occ, folded.text):
            return []
        compact = self._normalizer.compact(folded)  # the offset map, only now it is needed

        ctx = _Context(text, compact, self._tokenizer)
        real = self._real_words
        kw_by_rule: dict[int, list[tuple[int, int, Entry]]] = {}
        near_by_rule: dict[int, list[tuple[int, int, int, Entry]]] = {}
        ctx_hits: list[tuple[int, int, str]] = []  # context words, whichever rule they serve
        tried: dict[int, int] = {}
        for s, e, p in sorted(occ):
            entry = entries[p]
            n_tried = tried.get(entry.rule, 0)
            if n_tried >= _MAX_CANDIDATES_PER_RULE:
                continue  # a megabyte of one word: enough candidates for the cap
            tried[entry.rule] = n_tried + 1
            if entry.kind == KIND_KEYWORD:
                bucket = kw_by_rule.setdefault(entry.rule, [])
                if entry.ascii and not _ascii_isolated(text, compact.raw_span(s, e)):
                    continue
                if entry.variant == "sound" and not _sound_stands(text, compact, s, e, real):
                    continue
                bucket.append((s, e, entry))
            elif entry.kind == KIND_NEAR:
                parts = near_by_rule.setdefault(entry.rule, [])
                if entry.ascii and not _ascii_isolated(text, compact.raw_span(s, e)):
                    continue
                if entry.variant == "sound" and not _sound_stands(text, compact, s, e, real):
                    continue
                parts.append((s, e, entry.group, entry))
            elif entry.kind == KIND_CONTEXT:
                if entry.ascii and not _ascii_isolated(text, compact.raw_span(s, e)):
                    continue
                ctx_hits.append((s, e, entry.keyword))

        findings: list[Finding] = []
        for ri, hits in kw_by_rule.items():
            lr = rules.rules[ri]
            if lr.spec.patterns:
                continue  # keywords only gate this rule's regexes (gitleaks-style prefilter)
            chosen = _non_overlapping(hits)
            kept = 0
            for s, e, entry in chosen:
                if lr.spec.boundary == "token" and not ctx.on_token_boundaries(s, e):
                    continue
                findings.append(self._make(text, compact, ctx, ri, s, e, entry.keyword,
                                           entry.variant, ctx_hits))
                kept += 1
                if kept >= _MAX_FINDINGS_PER_RULE:
                    break
        for ri, parts in near_by_rule.items():
            near = rules.rules[ri].spec.near
            assert near is not None
            ngroups = len(near.groups)
            if len({p[2] for p in parts}) < ngroups:
                continue  # some group never occurs: no window can hold them all
            for s, e, words, spans in _near_windows(parts, ngroups, near.within):
                findings.append(self._make(text, compact, ctx, ri, s, e, " + ".join(words),
                                           "near", ctx_hits, spans))
        # rule regexes: gated by a keyword / near hit of the same rule, or always-on rules
        pattern_rules = set(kw_by_rule) | set(near_by_rule) | set(rules.always_pattern_rules)
        for ri in sorted(pattern_rules):
            kept = 0
            for cp in rules.patterns_by_rule.get(ri, ()):
                for m in cp.regex.finditer(folded.text):
                    if m.end() <= m.start() or kept >= _MAX_FINDINGS_PER_RULE:
                        continue
                    value: float | None = None
                    if cp.validator is not None:
                        ok, value = _validate(cp.validator, m.group())
                        if not ok:
                            continue
                    rs, re_ = folded.raw_span(m.start(), m.end())
                    cs, ce = _compact_span(compact, rs, re_)
                    factor, used, suppressed, note = (
                        self._context(ctx, ri, cs, ce, ctx_hits)
                        if cs < ce and ctx_hits
                        else (1.0, (), False, "")
                    )
                    findings.append(self._finding(ri, rs, re_, text, f"pattern:{cp.name}",
                                                  "pattern", used, suppressed, factor, value,
                                                  f"pattern {cp.name!r}{note}"))
                    kept += 1
        if self._needs_identifiers and identifiers.quick_check(folded.text):
            original = (
                text if folded.to_raw is None else "".join(text[i] for i in folded.to_raw)
            )
            per_kind: dict[str, int] = {}
            for hit in identifiers.find_identifiers(
                folded.text, self._identifier_kinds, original=original
            ):
                seen = per_kind.get(hit.kind, 0)
                if seen >= _MAX_FINDINGS_PER_RULE:
                    continue
                per_kind[hit.kind] = seen + 1
                rs, re_ = folded.raw_span(hit.start, hit.end)
                val = hit.value if isinstance(hit.value, float) else None
                for ri in rules.detector_rules.get(hit.kind, ()):
                    findings.append(self._finding(ri, rs, re_, text, hit.kind, "detector", (),
                                                  False, 1.0, val, f"{hit.kind} detected"))
        findings.sort(key=lambda f: (f.start, f.end, f.rule_id, f.keyword))
        return findings

    def _feasible(self, occ: set[tuple[int, int, int]], folded: str) -> bool:
        """Can these automaton hits make any finding? A cheap second prefilter before the
        offset maps, context windows and jieba: most messages that hit one word of a near
        rule, or a pattern rule's gate word, hold nothing more."""
        if self._always:
            return True
        rules = self._rules
        entries = rules.entries
        groups: dict[int, set[int]] = {}
        gated: set[int] = set()
        for _, _, p in occ:
            entry = entries[p]
            if entry.kind == KIND_KEYWORD:
                if entry.rule not in rules.patterns_by_rule:
                    return True
                gated.add(entry.rule)
            elif entry.kind == KIND_NEAR:
                groups.setdefault(entry.rule, set()).add(entry.group)
        for ri, seen in groups.items():
            near = rules.rules[ri].spec.near
            if near is not None and len(seen) == len(near.groups):
                return True
        for ri in gated:
            if any(cp.regex.search(folded) for cp in rules.patterns_by_rule[ri]):
                return True
        return self._needs_identifiers and identifiers.quick_check(folded)

    def _make(self, text: str, compact: Normalized, ctx: _Context, ri: int, s: int, e: int,
              keyword: str, variant: str, ctx_hits: Sequence[tuple[int, int, str]],
              parts: tuple[tuple[int, int], ...] = ()) -> Finding:
        """A keyword or near finding on compact span [s, e), with its context applied."""
        rs, re_ = compact.raw_span(s, e)
        factor, used, suppressed, note = self._context(ctx, ri, s, e, ctx_hits, parts)
        via = "" if variant == "exact" else f" ({variant} variant)"
        what = f"keywords {keyword}" if variant == "near" else f"keyword {keyword!r}{via}"
        return self._finding(ri, rs, re_, text, keyword, variant, used, suppressed,
                             factor, None, what + note)

    def _context(
        self, ctx: _Context, ri: int, s: int, e: int,
        ctx_hits: Sequence[tuple[int, int, str]], parts: tuple[tuple[int, int], ...] = (),
    ) -> tuple[float, tuple[str, ...], bool, str]:
        """(weight factor, context words used, suppressed?, note) for a hit on [s, e).

        A context word inside the hit itself is part of the matched phrase, not context;
        for a ``near`` window only the parts count as the phrase, so a 别 between 带你 and
        投资 still suppresses. A one-character context word (别, 骗) must be a whole jieba
        token, so 特别 does not read as 别.
        """
        spec = self._rules.rules[ri].spec
        if spec.context is None or not ctx_hits:
            return 1.0, (), False, ""
        rules = self._rules
        suppress_words = rules.context_suppress[ri]
        boost_words = rules.context_boost[ri]
        window = spec.context.window
        spans = parts or ((s, e),)
        suppress: list[str] = []
        boost: list[str] = []
        for cs, ce, word in ctx_hits:
            is_suppress = word in suppress_words
            if not is_suppress and word not in boost_words:
                continue
            if any(cs < pe and ps < ce for ps, pe in spans):
                continue
            if not ctx.near(cs, ce, s, e, window):
                continue
            if ce - cs == 1 and not ctx.on_token_boundaries(cs, ce):
                continue
            (suppress if is_suppress else boost).append(word)
        if suppress:
            used = tuple(dict.fromkeys(suppress))
            note = f"; suppressed by context {', '.join(repr(w) for w in used)}"
            return spec.context.suppress_factor, used, True, note
        if boost:
            used = tuple(dict.fromkeys(boost))
            return -1.0, used, False, f"; boosted by context {', '.join(repr(w) for w in used)}"
        return 1.0, (), False, ""

    def _finding(self, ri: int, rs: int, re_: int, text: str, keyword: str, variant: str,
                 context: tuple[str, ...], suppressed: bool, factor: float,
                 value: float | None, what: str) -> Finding:
        lr = self._rules.rules[ri]
        spec = lr.spec
        base = spec.effective_weight
        if factor < 0:  # boost
            assert spec.context is not None
            weight = min(base + spec.context.boost_by, 1.0)
        else:
            weight = base * factor
        return Finding(
            rule_id=spec.id,
            category=spec.category,
            start=rs,
            end=re_,
            matched=text[rs:re_],
            keyword=keyword,
            weight=round(weight, 6),
            base_weight=base,
            variant=variant,
            context=context,
            suppressed=suppressed,
            value=value,
            explanation=f"{spec.id} [{spec.category}, {spec.level}]: {what}",
        )


class _Context:
    """Lazily computed per-message facts shared by the confirmation steps."""

    __slots__ = ("_clauses", "_compact", "_raw", "_tokenizer", "_tokens")

    def __init__(self, raw: str, compact: Normalized, tokenizer: JiebaTokenizer) -> None:
        self._raw = raw
        self._compact = compact
        self._tokenizer = tokenizer
        self._tokens: TokenIndex | None = None
        self._clauses: list[int] | None = None

    def tokens(self) -> TokenIndex:
        if self._tokens is None:
            self._tokens = self._tokenizer.index(self._compact.text)
        return self._tokens

    def on_token_boundaries(self, s: int, e: int) -> bool:
        t = self.tokens()
        return t.is_boundary(s) and t.is_boundary(e)

    def clause(self, compact_pos: int) -> int:
        if self._clauses is None:
            raw = self._raw
            self._clauses = [m.start() for m in _CLAUSE_RE.finditer(raw)
                             if _REPORTED_RE.match(raw, m.end()) is None]
        return bisect_right(self._clauses, self._compact.raw_index(compact_pos))

    def near(self, cs: int, ce: int, s: int, e: int, window: int) -> bool:
        """Context word [cs, ce) is within ``window`` tokens of [s, e), same clause."""
        if self.clause(cs) != self.clause(s):
            return False
        # every token holds at least one character, so fewer characters than ``window``
        # between the two means fewer tokens too: jieba is needed only beyond that
        gap = cs - e if e <= cs else s - ce
        if gap < window:
            return True
        return self.tokens().distance((cs, ce), (s, e)) < window


def _made_of_words(span: str, words: RealWords) -> bool:
    """Can ``span`` be cut into words of two to four characters, all in ``words``? (修复预期
    is 修复 + 预期: ordinary text, though it sounds like 修复逾期.)"""
    n = len(span)
    ok = [False] * (n + 1)
    ok[0] = True
    for i in range(2, n + 1):
        ok[i] = any(ok[j] and span[j:i] in words for j in range(max(0, i - 4), i - 1))
    return ok[n]


def _sound_stands(raw: str, compact: Normalized, s: int, e: int, words: RealWords) -> bool:
    """A sound hit on compact [s, e) is a disguise only if it could be one written word:
    within one clause of the raw text (卡，但 is not 卡单) and not cut out of ordinary
    words (世纪|花园 holds 纪花园, which sounds like 计划员; 因为|新年 holds wei-xin): no
    word of ``words`` may run across either end of the hit. Only the bundled word lists
    count: a rarer word (积存 of 积存金) does not protect its neighbour."""
    rs, re_ = compact.raw_span(s, e)
    if _CLAUSE_RE.search(raw, rs, re_) is not None:
        return False
    text = compact.text
    n = len(text)
    for i in range(max(0, s - 3), s):  # words from before the hit into it
        for j in range(s + 1, min(e, i + 4) + 1):
            if j < e and text[i:j] in words:
                return False
    for i in range(s + 1, e):  # words from inside the hit out past its end
        for j in range(e + 1, min(n, i + 4) + 1):
            if text[i:j] in words:
                return False
    return True


def _ascii_isolated(raw: str, span: tuple[int, int]) -> bool:
    """An ASCII key must not be glued to more of the same kind of ASCII in the raw text: a
    letter key needs no letter next to it ("vx" is not inside "vxworks"), a digit key no digit
    next to it; "500u" keeps its "u"."""
    s, e = span
    if s >= e:
        return False
    first, last = _as_ascii(raw[s]), _as_ascii(raw[e - 1])
    if s > 0 and first.isascii() and first.isalnum():
        before = _as_ascii(raw[s - 1])
        if before.isascii() and before.isalnum() and before.isalpha() == first.isalpha():
            return False
    if e < len(raw) and last.isascii() and last.isalnum():
        after = _as_ascii(raw[e])
        if after.isascii() and after.isalnum() and after.isalpha() == last.isalpha():
            return False
    return True


def _clusters(findings: Sequence[Finding]) -> list[list[Finding]]:
    """Findings grouped per rule into runs of overlapping raw spans."""
    by_rule: dict[str, list[Finding]] = {}
    for f in findings:
        by_rule.setdefault(f.rule_id, []).append(f)
    out: list[list[Finding]] = []
    for fs in by_rule.values():
        fs.sort(key=lambda f: (f.start, f.end))
        current = [fs[0]]
        reach = fs[0].end
        for f in fs[1:]:
            if f.start < reach:
                current.append(f)
                reach = max(reach, f.end)
            else:
                out.append(current)
                current = [f]
                reach = f.end
        out.append(current)
    return out


def _as_ascii(ch: str) -> str:
    """Full-width and other compatibility forms as the ASCII they fold to (ｖ -> v)."""
    if ch.isascii():
        return ch
    folded = unicodedata.normalize("NFKC", ch)
    return folded if len(folded) == 1 else ch


def _compact_span(compact: Normalized, rs: int, re_: int) -> tuple[int, int]:
    """The compact span covering raw span [rs, re_) (empty if it holds only noise)."""
    if compact.to_raw is None:
        return rs, re_
    to_raw = compact.to_raw
    return bisect_left(to_raw, rs), bisect_left(to_raw, re_)


def _non_overlapping(hits: list[tuple[int, int, Entry]]) -> list[tuple[int, int, Entry]]:
    """Longest hits first, then leftmost; drop hits overlapping a kept one."""
    if len(hits) == 1:
        return hits
    ordered = sorted(hits, key=lambda h: (h[0] - h[1], h[0], h[2].variant != "exact"))
    kept: list[tuple[int, int, Entry]] = []
    starts: list[int] = []  # kept spans never overlap, so sorted starts also sort the ends
    ends: list[int] = []
    for h in ordered:
        s, e = h[0], h[1]
        i = bisect_right(starts, s)
        if i > 0 and ends[i - 1] > s:  # the kept span starting before s reaches into it
            continue
        if i < len(starts) and starts[i] < e:  # the next kept span starts inside it
            continue
        starts.insert(i, s)
        ends.insert(i, e)
        kept.append(h)
        if len(kept) >= _MAX_FINDINGS_PER_RULE:
            break
    kept.sort(key=lambda h: h[0])
    return kept


def _near_windows(
    parts: list[tuple[int, int, int, Entry]], ngroups: int, within: int
) -> list[tuple[int, int, list[str], tuple[tuple[int, int], ...]]]:
    """Non-overlapping windows of at most ``within`` characters holding every group, each
    with the words and the spans of the parts that make it up."""
    parts = sorted(parts, key=lambda p: (p[0], p[1]))
    out: list[tuple[int, int, list[str], tuple[tuple[int, int], ...]]] = []
    counts = [0] * ngroups
    have = 0
    left = 0
    for right, (_, e, g, _entry) in enumerate(parts):
        if counts[g] == 0:
            have += 1
        counts[g] += 1
        while left <= right and parts[left][0] < e - within:
            lg = parts[left][2]
            counts[lg] -= 1
            if counts[lg] == 0:
                have -= 1
            left += 1
        if have == ngroups:
            window = parts[left : right + 1]
            words: dict[int, tuple[str, tuple[int, int]]] = {}
            for p in window:
                words.setdefault(p[2], (p[3].keyword, (p[0], p[1])))
            out.append((window[0][0], max(p[1] for p in window),
                        [words[k][0] for k in sorted(words)],
                        tuple(words[k][1] for k in sorted(words))))
            counts = [0] * ngroups
            have = 0
            left = right + 1
            if len(out) >= _MAX_FINDINGS_PER_RULE:
                break
    return out


def _validate(validator: str, candidate: str) -> tuple[bool, float | None]:
    digits = "".join(ch for ch in candidate if ch.isdigit())
    if validator == "luhn":
        return identifiers.luhn_ok(digits), None
    if validator == "amount":
        value = identifiers.parse_amount(candidate)
        return value is not None, value
    kind = {"usdt-trc20": "usdt-address", "usdt-erc20": "usdt-address"}.get(validator, validator)
    return bool(identifiers.find_identifiers(candidate, [kind])), None
