"""Regenerate the derived character tables in ``src/chatguard/_data/``.

Run by a developer, once per upgrade of the source packages; the output is committed::

    python scripts/build_tables.py

Why a script and committed files: the library must not import pypinyin or opencc at run time
(they are heavy, and their data would then change under a pinned rule set whenever a user
upgrades them). Only ``t2s.tsv`` and ``pinyin.tsv`` are generated here; ``homophones.tsv``,
``split.tsv`` and ``aliases.tsv`` are hand-curated and this script never writes them. After
writing, it loads every table through :class:`chatguard.variants.VariantExpander`, so a
curated table that no longer agrees with the regenerated ``t2s.tsv`` (a form that the
normalizer would rewrite) fails here, not in a user's process.
"""

from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path

import opencc
from pypinyin import Style, pinyin
from pypinyin.contrib.tone_convert import to_normal
from pypinyin.phrases_dict import phrases_dict

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "src" / "chatguard" / "_data"

CURATED = ("homophones.tsv", "split.tsv", "aliases.tsv")

# GB2312 rows 16-55 hold level 1 and rows 56-87 level 2 (6763 hanzi in total); a row is a
# lead byte 0xA0 + row, a cell a trail byte 0xA0 + cell (1..94).
_GB2312_LEAD = range(0xB0, 0xF8)
_GB2312_TRAIL = range(0xA1, 0xFF)
GB2312_HANZI = 6763


def gb2312_hanzi() -> list[str]:
    """The GB2312 hanzi in code order, found by decoding every valid two-byte sequence."""
    hanzi: list[str] = []
    for lead in _GB2312_LEAD:
        for trail in _GB2312_TRAIL:
            try:
                hanzi.append(bytes((lead, trail)).decode("gb2312"))
            except UnicodeDecodeError:  # the unassigned tail of row 55
                continue
    if len(hanzi) != GB2312_HANZI:
        raise SystemExit(f"expected {GB2312_HANZI} GB2312 hanzi, decoded {len(hanzi)}")
    return hanzi


def build_t2s() -> list[tuple[str, str]]:
    """Read OpenCC's TSCharacters table: first simplified candidate, single characters only."""
    source = Path(opencc.__file__).resolve().parent / "dictionary" / "TSCharacters.txt"
    pairs: dict[str, str] = {}
    for raw in source.read_text(encoding="utf-8").splitlines():
        if not raw.strip() or raw.startswith("#"):
            continue
        trad, _, cands = raw.partition("\t")
        first = cands.split()[0] if cands.split() else ""
        if len(trad) == 1 and len(first) == 1 and trad != first:
            pairs[trad] = first
    chained = sorted(s for s in pairs.values() if s in pairs)
    if chained:
        # A simplified form that is itself a key (薴 -> 苧 -> 苎) would leave a single lookup
        # short of simplified text; resolve each entry to the end of its chain.
        for trad in list(pairs):
            seen = {trad}
            while pairs[trad] in pairs and pairs[trad] not in seen:
                seen.add(pairs[trad])
                pairs[trad] = pairs[pairs[trad]]
        print(f"t2s: resolved {len(chained)} chained mapping(s): {''.join(chained)}")
    return sorted(((t, s) for t, s in pairs.items() if t != s), key=lambda p: p[0])


def _toneless(reading: str) -> str:
    """Lowercase toneless pinyin with ``v`` for u-umlaut and ``e`` for e-hat."""
    return to_normal(reading).lower().replace("ü", "v").replace("ê", "e")


def attested_readings() -> dict[str, set[str]]:
    """Readings that pypinyin's phrase dictionary uses for each character.

    pypinyin's heteronym list includes classical and dialect readings (币 yin, 达 ti, 号 xiao);
    every one of them multiplies the pinyin variants of a keyword, and nobody types them. A
    reading that appears in some phrase is one people actually say.
    """
    attested: dict[str, set[str]] = {}
    for phrase, readings in phrases_dict.items():
        if len(phrase) != len(readings):
            continue
        for ch, options in zip(phrase, readings, strict=True):
            attested.setdefault(ch, set()).update(_toneless(r) for r in options)
    return attested


def _readings(ch: str, attested: dict[str, set[str]]) -> list[str]:
    """Toneless readings of one hanzi: pypinyin's default first, then the attested others."""
    out: list[str] = []
    for i, reading in enumerate(pinyin(ch, style=Style.NORMAL, heteronym=True)[0]):
        r = _toneless(reading)
        usable = r.isascii() and r.isalpha() and r not in out
        if usable and (i == 0 or r in attested.get(ch, ())):
            out.append(r)
    return out


def build_pinyin() -> list[tuple[str, list[str]]]:
    """Readings for every GB2312 hanzi that pypinyin knows."""
    attested = attested_readings()
    rows: list[tuple[str, list[str]]] = []
    missing: list[str] = []
    for ch in gb2312_hanzi():
        readings = _readings(ch, attested)
        if readings:
            rows.append((ch, readings))
        else:
            missing.append(ch)
    if missing:
        print(f"pinyin: no reading for {len(missing)} hanzi: {''.join(missing)}")
    return sorted(rows, key=lambda r: r[0])


def _write(name: str, header: list[str], lines: list[str]) -> None:
    if name in CURATED:  # hand-written data is never regenerated
        raise SystemExit(f"refusing to overwrite curated table {name}")
    text = "".join(f"# {h}\n" for h in header) + "".join(f"{line}\n" for line in lines)
    (DATA_DIR / name).write_text(text, encoding="utf-8", newline="\n")
    print(f"wrote {name}: {len(lines)} entries")


def build_wordfreq(top: int = 20000) -> list[tuple[str, int]]:
    """The ``top`` most frequent words of jieba's dictionary (a news-corpus count): the rule
    compiler uses them to pick the rarest word group of a ``near`` rule as its trigger."""
    import jieba

    path = Path(jieba.__file__).parent / "dict.txt"
    rows: list[tuple[str, int]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        word, freq, *_ = line.split()
        rows.append((word, int(freq)))
    rows.sort(key=lambda r: (-r[1], r[0]))
    return rows[:top]


def main() -> int:
    """Write the generated tables, then load all tables once to validate them together."""
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    opencc_version = metadata.version("opencc-python-reimplemented")
    pypinyin_version = metadata.version("pypinyin")

    t2s = build_t2s()
    _write(
        "t2s.tsv",
        [
            "Traditional -> simplified Chinese, single characters; first candidate; identity "
            "mappings skipped.",
            f"Source: OpenCC TSCharacters.txt as bundled in opencc-python-reimplemented "
            f"{opencc_version} (https://github.com/BYVoid/OpenCC).",
            "License: Apache-2.0 (OpenCC). Generated by scripts/build_tables.py; do not edit.",
            "Format: traditional<TAB>simplified",
        ],
        [f"{t}\t{s}" for t, s in t2s],
    )

    readings = build_pinyin()
    _write(
        "pinyin.tsv",
        [
            "Toneless lowercase pinyin of the GB2312 level-1 and level-2 hanzi (v for u-umlaut).",
            f"Source: pypinyin {pypinyin_version} (https://github.com/mozillazg/python-pinyin), "
            "Style.NORMAL, heteronym=True; its data derives from pinyin-data and "
            "phrase-pinyin-data.",
            "Kept: pypinyin's default reading, plus the other readings that its phrase "
            "dictionary uses for the character (rare classical readings are dropped).",
            "License: MIT (pypinyin, pinyin-data, phrase-pinyin-data). "
            "Generated by scripts/build_tables.py; do not edit.",
            "Format: char<TAB>reading1,reading2 (pypinyin's default reading first)",
        ],
        [f"{ch}\t{','.join(rs)}" for ch, rs in readings],
    )

    words = build_wordfreq()
    _write(
        "wordfreq.tsv",
        [
            "The 20000 most frequent words of jieba's dictionary with their counts.",
            f"Source: jieba {metadata.version('jieba')} dict.txt "
            "(https://github.com/fxsjy/jieba). License: MIT.",
            "Used only to choose which word group of a near rule triggers analysis.",
            "Generated by scripts/build_tables.py; do not edit. Format: word<TAB>count",
        ],
        [f"{w}\t{f}" for w, f in words],
    )

    missing = [name for name in CURATED if not (DATA_DIR / name).is_file()]
    if missing:
        print(f"curated table(s) missing, not validated: {', '.join(missing)}")
        return 1
    sys.path.insert(0, str(ROOT / "src"))
    from chatguard.variants import VariantExpander

    VariantExpander()  # raises RuleError naming file and line on any table problem
    print("all tables load")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
