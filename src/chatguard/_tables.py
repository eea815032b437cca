"""Access to the bundled character tables in ``chatguard/_data`` and their digest.

The digest goes into every rule-set fingerprint: a verdict depends on the tables as much as
on the rules, so changing a table must change the fingerprint.
"""

from __future__ import annotations

import hashlib
from functools import cache
from importlib import resources

__all__ = ["read_table", "tables_digest"]


def read_table(name: str) -> list[tuple[str, str]]:
    """Rows of a two-column TSV table (``#`` comments and blank lines skipped)."""
    text = resources.files("chatguard").joinpath("_data", name).read_text(encoding="utf-8")
    rows: list[tuple[str, str]] = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        key, _, value = line.partition("\t")
        rows.append((key, value))
    return rows


@cache
def tables_digest() -> str:
    """sha256 over every bundled table file (immutable package data, so cached)."""
    h = hashlib.sha256()
    root = resources.files("chatguard").joinpath("_data")
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".tsv"):
            h.update(entry.name.encode())
            h.update(entry.read_bytes())
    return h.hexdigest()[:16]
