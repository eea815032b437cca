"""Token boundaries from jieba, through a private tokenizer.

jieba's module-level API is global state (``jieba.add_word`` changes the host
application's tokenizer) and logs to stderr at load. chatguard owns a ``jieba.Tokenizer``
instance, keeps its cache in a chatguard directory, adds rule keywords as user words on that
instance only, and silences jieba's logger only while loading. Loading costs ~0.6 s and
~60 MB, so it happens lazily on the first message that needs tokens, or eagerly through
:meth:`JiebaTokenizer.warm_up` (call it before forking workers so they share the memory).
"""

from __future__ import annotations

import logging
import os
import threading
from bisect import bisect_right
from collections.abc import Iterable
from pathlib import Path

__all__ = ["JiebaTokenizer", "TokenIndex", "cache_dir"]


def cache_dir() -> Path:
    """chatguard's cache directory (``$CHATGUARD_CACHE_DIR``, else XDG cache)."""
    env = os.environ.get("CHATGUARD_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "chatguard"


class TokenIndex:
    """Token boundaries of one text: boundary tests and token distances by bisection."""

    __slots__ = ("_bounds", "_starts")

    def __init__(self, tokens: Iterable[tuple[int, int]]) -> None:
        starts: list[int] = []
        bounds: set[int] = set()
        for s, e in tokens:
            starts.append(s)
            bounds.add(s)
            bounds.add(e)
        self._starts = starts
        self._bounds = frozenset(bounds)

    def is_boundary(self, i: int) -> bool:
        return i in self._bounds

    def token_of(self, i: int) -> int:
        """Index of the token containing character ``i``."""
        return max(bisect_right(self._starts, i) - 1, 0)

    def distance(self, a: tuple[int, int], b: tuple[int, int]) -> int:
        """Tokens strictly between spans ``a`` and ``b`` (0 when adjacent or overlapping)."""
        if a[1] <= b[0]:
            return max(self.token_of(b[0]) - self.token_of(a[1] - 1) - 1, 0)
        if b[1] <= a[0]:
            return max(self.token_of(a[0]) - self.token_of(b[1] - 1) - 1, 0)
        return 0


class JiebaTokenizer:
    """A private jieba tokenizer with the rule keywords as user words."""

    def __init__(self, user_words: Iterable[str] = (), *, user_word_freq: int = 20) -> None:
        self._user_words = tuple(dict.fromkeys(w for w in user_words if len(w) >= 2))
        self._freq = user_word_freq
        self._lock = threading.Lock()
        self._tk: object | None = None

    def warm_up(self) -> None:
        """Load the dictionary now (before forking workers, or to pay cold start early)."""
        self._get()

    def _get(self) -> object:
        tk = self._tk
        if tk is not None:
            return tk
        with self._lock:
            if self._tk is None:
                self._tk = self._load()
            return self._tk

    def _load(self) -> object:
        import jieba

        logger = logging.getLogger("jieba")
        old = logger.level
        logger.setLevel(logging.ERROR)
        try:
            tk = jieba.Tokenizer()
            directory = cache_dir()
            try:
                directory.mkdir(parents=True, exist_ok=True)
                tk.tmp_dir = str(directory)
            except OSError:
                pass  # an unwritable cache only costs load time
            tk.initialize()
            for w in self._user_words:
                tk.add_word(w, self._freq)
        finally:
            logger.setLevel(old)
        return tk

    def tokens(self, text: str) -> list[tuple[int, int]]:
        """Half-open token spans of ``text`` (HMM off: deterministic, dictionary-driven)."""
        tk = self._get()
        out: list[tuple[int, int]] = []
        pos = 0
        for word in tk.cut(text, HMM=False):  # type: ignore[attr-defined]
            end = pos + len(word)
            out.append((pos, end))
            pos = end
        return out

    def index(self, text: str) -> TokenIndex:
        return TokenIndex(self.tokens(text))
