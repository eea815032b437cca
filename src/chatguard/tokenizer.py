"""Token boundaries from jieba, through a private tokenizer.

jieba's module-level API is global state (``jieba.add_word`` changes the host
application's tokenizer) and logs to stderr at load. chatguard owns a ``jieba.Tokenizer``
instance, keeps its cache in a chatguard directory, adds rule keywords as user words on that
instance only, and silences jieba's logger only while loading.

The tokenizer answers two questions only: is a position a word boundary, and how many
words lie between two spans. For that, jieba's 350 000-word dictionary (~1 s and ~60 MB to
load) is more than needed: chatguard gives it the 20 000 most frequent words of that same
dictionary (bundled as ``_data/wordfreq.tsv``) plus every rule keyword, which loads in
~0.1 s and ~3 MB and cuts the same way wherever it matters. Loading happens lazily on the
first message that needs tokens, or eagerly through :meth:`JiebaTokenizer.warm_up`.
"""

from __future__ import annotations

import logging
import os
import tempfile
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


def _dictionary_file(directory: Path) -> Path:
    """The compact jieba dictionary (``word count`` per line), written once per table
    version; written to a temporary name first so concurrent workers never read half a
    file."""
    from ._tables import read_table, tables_digest

    path = directory / f"words-{tables_digest()}.txt"
    if not path.is_file():
        text = "".join(f"{w} {n}\n" for w, n in read_table("wordfreq.tsv"))
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    return path


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
            directory = cache_dir()
            try:
                directory.mkdir(parents=True, exist_ok=True)
                dictionary = _dictionary_file(directory)
            except OSError:  # an unwritable cache dir: a private temporary one
                directory = Path(tempfile.mkdtemp(prefix="chatguard-"))
                dictionary = _dictionary_file(directory)
            tk = jieba.Tokenizer(dictionary=str(dictionary))
            tk.tmp_dir = str(directory)
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
