"""The one adapter around pyahocorasick.

pyahocorasick silently replaces the value of a duplicate key and reports inclusive end
indexes; both are handled here and nowhere else. Payloads of a key shared by several rules
are aggregated into one tuple, and :meth:`KeywordAutomaton.find` yields half-open spans.
The automaton is built once and never modified afterwards (pyahocorasick is not safe to use
while being modified): a rule reload builds a new one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import ahocorasick

__all__ = ["KeywordAutomaton"]


class KeywordAutomaton:
    """An immutable multi-keyword matcher: key -> tuple of integer payloads."""

    __slots__ = ("_automaton", "_size")

    def __init__(self, entries: Iterable[tuple[str, int]]) -> None:
        grouped: dict[str, list[int]] = {}
        for key, payload in entries:
            if not key:
                raise ValueError("empty keyword")
            grouped.setdefault(key, []).append(payload)
        automaton = ahocorasick.Automaton(ahocorasick.STORE_ANY, ahocorasick.KEY_STRING)
        for key, payloads in grouped.items():
            automaton.add_word(key, (len(key), tuple(payloads)))
        if grouped:
            automaton.make_automaton()
        self._automaton = automaton
        self._size = len(grouped)

    def __len__(self) -> int:
        return self._size

    def iter_keys(self) -> Iterator[str]:
        """Every key, in no particular order."""
        if self._size:
            yield from self._automaton.keys()

    def find(self, text: str) -> Iterator[tuple[int, int, tuple[int, ...]]]:
        """Every (overlapping) occurrence as ``(start, end, payloads)``, ``end`` exclusive."""
        if not self._size:
            return
        for last, (length, payloads) in self._automaton.iter(text):
            yield last + 1 - length, last + 1, payloads

    @property
    def raw_iter(self) -> Callable[[str], Iterator[tuple[int, tuple[int, tuple[int, ...]]]]] | None:
        """pyahocorasick's own ``iter`` (inclusive end), None when there is no key: a hot
        path that stops at the first hit calls it without any wrapper."""
        if not self._size:
            return None
        it: Callable[[str], Iterator[tuple[int, tuple[int, tuple[int, ...]]]]] = (
            self._automaton.iter)
        return it

    def hits(self, text: str) -> list[tuple[int, tuple[int, tuple[int, ...]]]]:
        """Raw pyahocorasick output (inclusive end); the fast path only tests emptiness."""
        if not self._size:
            return []
        return list(self._automaton.iter(text))
