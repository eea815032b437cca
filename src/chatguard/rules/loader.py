"""Loading rule packs: TOML files -> validated, resolved, fingerprinted :class:`RuleSet`.

Resolution order: the packs named in ``extends`` (depth first, each once), then this pack's
``disabled_rules`` and ``overrides``, then this pack's own rules. Every error is a
:class:`~chatguard.errors.RuleError` that names the file, the line, the rule id and the
field, so a rule author can jump straight to the mistake.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

# The public sre_* aliases are deprecated; the regex parser lives in re._parser.
from re import _constants as sre_constants  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

from pydantic import ValidationError

from ..errors import RuleError, SchemaVersionError
from .schema import SCHEMA_VERSION, PackFile, RuleFile, RuleSpec, ScoringSpec

__all__ = ["BUNDLED_PACK", "LoadedRule", "RuleSet", "bundled_pack_path", "load_rules"]

BUNDLED_PACK = "zh-CN"


@dataclass(frozen=True, slots=True)
class LoadedRule:
    """A validated rule with its keywords read (inline + keywords_file) and its origin."""

    spec: RuleSpec
    keywords: tuple[str, ...]
    file: str
    line: int | None
    pack: str

    @property
    def id(self) -> str:
        return self.spec.id


@dataclass(frozen=True, slots=True)
class RuleSet:
    """The resolved rules of one or more packs, ready to compile. Immutable."""

    rules: tuple[LoadedRule, ...]
    scoring: ScoringSpec
    packs: tuple[str, ...]  # "id@version" of every pack, base first
    fingerprint: str = field(default="")

    @property
    def name(self) -> str:
        return self.packs[-1] if self.packs else "empty"

    def rule(self, rule_id: str) -> LoadedRule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(rule_id)


def bundled_pack_path(name: str = BUNDLED_PACK) -> Path:
    """Where the bundled pack lives: inside the wheel, or in the source checkout."""
    candidate = Path(str(resources.files("chatguard"))) / "_rules" / name
    if candidate.is_dir():
        return candidate
    source = Path(__file__).resolve().parents[3] / "rules" / name
    if source.is_dir():
        return source
    raise RuleError(f"bundled rule pack {name!r} not found (looked in {candidate} and {source})")


def load_rules(*paths: str | Path) -> RuleSet:
    """Load and merge rule packs; later packs extend and override earlier ones."""
    if not paths:
        paths = (bundled_pack_path(),)
    state = _Resolver()
    for p in paths:
        state.load_pack(_resolve_pack_ref(str(p), base=None))
    scoring = state.scoring or ScoringSpec()
    rules = tuple(state.rules.values())
    if not rules:
        raise RuleError("no rules loaded", file=", ".join(str(p) for p in paths))
    return RuleSet(rules, scoring, tuple(state.pack_names), _fingerprint(rules, scoring, state))


# --------------------------------------------------------------------------------------
class _Resolver:
    def __init__(self) -> None:
        self.rules: dict[str, LoadedRule] = {}
        self.scoring: ScoringSpec | None = None
        self.pack_names: list[str] = []
        self._seen: set[Path] = set()
        self._stack: list[Path] = []

    def load_pack(self, pack_dir: Path) -> None:
        pack_dir = pack_dir.resolve()
        if pack_dir in self._stack:
            chain = " -> ".join(str(p) for p in [*self._stack, pack_dir])
            raise RuleError(f"circular 'extends': {chain}", file=pack_dir / "pack.toml")
        if pack_dir in self._seen:
            return
        self._stack.append(pack_dir)
        try:
            self._load_pack(pack_dir)
        finally:
            self._stack.pop()
        self._seen.add(pack_dir)

    def _load_pack(self, pack_dir: Path) -> None:
        # A pack is a directory with a pack.toml and rule files, or a lone pack file (say
        # weights.toml from ``chatguard fit``): extends, disabled_rules, overrides and
        # scoring only, with ``extends`` relative to the file's folder.
        lone = pack_dir.is_file() and pack_dir.suffix == ".toml"
        if lone:
            pack_file, pack_dir = pack_dir, pack_dir.parent
        elif not pack_dir.is_dir():
            raise RuleError("rule pack directory not found", file=pack_dir)
        else:
            pack_file = pack_dir / "pack.toml"
        if not pack_file.is_file():
            raise RuleError("a rule pack needs a pack.toml", file=pack_file)
        raw, text = _read_toml(pack_file)
        _check_version(raw, pack_file)
        try:
            pack = PackFile.model_validate(raw)
        except ValidationError as exc:
            raise _validation_error(exc, pack_file, text, raw) from None
        for ref in pack.extends:
            self.load_pack(_resolve_pack_ref(ref, base=pack_dir))
        for rid in pack.disabled_rules:
            if self.rules.pop(rid, None) is None:
                raise RuleError(
                    f"disabled_rules names {rid!r}, which no extended pack defines",
                    file=pack_file, line=_line_of(text, rid), field="disabled_rules",
                )  # fmt: skip
        for rid, ov in pack.overrides.items():
            if rid not in self.rules:
                raise RuleError(
                    f"overrides names {rid!r}, which no extended pack defines",
                    file=pack_file, line=_line_of(text, rid), field="overrides",
                )  # fmt: skip
            old = self.rules[rid]
            changes = ov.model_dump(exclude_none=True)
            self.rules[rid] = LoadedRule(
                old.spec.model_copy(update=changes), old.keywords, old.file, old.line, old.pack
            )
        if pack.scoring is not None:
            self.scoring = pack.scoring
        pack_name = f"{pack.id}@{pack.version}"
        own: dict[str, LoadedRule] = {}
        for rule_file in [] if lone else sorted(pack_dir.glob("*.toml")):
            if rule_file.name == "pack.toml":
                continue
            for lr in _load_rule_file(rule_file, pack_dir, pack_name):
                where = own.get(lr.id) or self.rules.get(lr.id)
                if where is not None:
                    raise RuleError(
                        f"duplicate rule id (first defined in {where.file}:{where.line})",
                        file=lr.file, line=lr.line, rule_id=lr.id, field="id",
                    )  # fmt: skip
                own[lr.id] = lr
        self.rules.update(own)
        self.pack_names.append(pack_name)


def _resolve_pack_ref(ref: str, base: Path | None) -> Path:
    if ref.startswith("bundled:"):
        return bundled_pack_path(ref.split(":", 1)[1] or BUNDLED_PACK)
    p = Path(ref)
    if not p.is_absolute() and base is not None:
        p = base / p
    return p


def _read_toml(path: Path) -> tuple[dict[str, Any], str]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise RuleError(f"not valid UTF-8 ({exc.reason} at byte {exc.start})", file=path) from None
    except OSError as exc:
        raise RuleError(f"cannot read: {exc.strerror}", file=path) from None
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        line = int(m.group(1)) if m else None
        msg = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        raise RuleError(f"invalid TOML: {msg}", file=path, line=line) from None


def _check_version(raw: dict[str, Any], path: Path) -> None:
    version = raw.get("schema_version")
    if version is None:
        raise SchemaVersionError("missing 'schema_version'", file=path, field="schema_version")
    if version != SCHEMA_VERSION:
        raise SchemaVersionError(
            f"unsupported schema_version {version!r}; this release reads {SCHEMA_VERSION}",
            file=path, line=_line_of_key(path.read_text(encoding="utf-8"), "schema_version"),
            field="schema_version",
        )  # fmt: skip


def _load_rule_file(path: Path, pack_dir: Path, pack_name: str) -> list[LoadedRule]:
    raw, text = _read_toml(path)
    _check_version(raw, path)
    try:
        rf = RuleFile.model_validate(raw)
    except ValidationError as exc:
        raise _validation_error(exc, path, text, raw) from None
    out: list[LoadedRule] = []
    seen: dict[str, int | None] = {}
    occurrence: dict[str, int] = {}
    for spec in rf.rules:
        occurrence[spec.id] = occurrence.get(spec.id, -1) + 1
        line = _rule_line(text, spec.id, occurrence[spec.id])
        if spec.id in seen:
            raise RuleError(
                f"duplicate rule id (first defined at line {seen[spec.id]})",
                file=path, line=line, rule_id=spec.id, field="id",
            )  # fmt: skip
        seen[spec.id] = line
        keywords = list(spec.keywords or ())
        if spec.keywords_file is not None:
            keywords.extend(_read_wordlist(spec, pack_dir, path, text))
        for i, pat in enumerate(spec.patterns or ()):
            _check_regex(pat.regex, path, text, spec.id, f"patterns[{i}].regex")
        for group in spec.near.groups if spec.near else ():
            for w in group:
                if not w.strip():
                    raise RuleError("near groups must not contain empty strings",
                                    file=path, line=line, rule_id=spec.id, field="near.groups")
        out.append(LoadedRule(spec, tuple(dict.fromkeys(keywords)), str(path), line, pack_name))
    return out


def _read_wordlist(spec: RuleSpec, pack_dir: Path, path: Path, text: str) -> list[str]:
    assert spec.keywords_file is not None
    line = _field_line(text, spec.id, "keywords_file")
    target = (pack_dir / spec.keywords_file).resolve()
    if not target.is_relative_to(pack_dir.resolve()):
        raise RuleError("keywords_file must stay inside the pack", file=path, line=line,
                        rule_id=spec.id, field="keywords_file")
    try:
        lines = target.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise RuleError(f"cannot read keywords_file {spec.keywords_file!r}: {exc}", file=path,
                        line=line, rule_id=spec.id, field="keywords_file") from None
    words = [w.strip() for w in lines]
    words = [w for w in words if w and not w.startswith("#")]
    if not words:
        raise RuleError(f"keywords_file {spec.keywords_file!r} has no keywords", file=path,
                        line=line, rule_id=spec.id, field="keywords_file")
    return words


def _check_regex(pattern: str, path: Path, text: str, rule_id: str, fld: str) -> None:
    line = _field_line(text, rule_id, "patterns")
    try:
        parsed = sre_parse.parse(pattern)
    except re.error as exc:
        raise RuleError(f"invalid regex: {exc}", file=path, line=line, rule_id=rule_id,
                        field=fld) from None
    if _nested_repeat(parsed, inside_repeat=False):
        raise RuleError(
            "regex has a repeated group that itself repeats (nested quantifier); it can "
            "backtrack catastrophically: rewrite it without nesting '+'/'*' inside a repeat",
            file=path, line=line, rule_id=rule_id, field=fld,
        )  # fmt: skip


_REPEATS = {sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT}
_POSSESSIVE = getattr(sre_constants, "POSSESSIVE_REPEAT", None)


def _nested_repeat(parsed: Any, *, inside_repeat: bool) -> bool:
    """True when an unbounded-ish repeat (max > 1) sits inside another repeat."""
    for op, av in parsed:
        if op in _REPEATS:
            _lo, hi, sub = av
            big = hi is sre_constants.MAXREPEAT or hi > 1
            if big and inside_repeat:
                return True
            if _nested_repeat(sub, inside_repeat=inside_repeat or big):
                return True
        elif op is sre_constants.SUBPATTERN:
            if _nested_repeat(av[-1], inside_repeat=inside_repeat):
                return True
        elif op is sre_constants.BRANCH:
            if any(_nested_repeat(b, inside_repeat=inside_repeat) for b in av[1]):
                return True
        elif op in (sre_constants.ASSERT, sre_constants.ASSERT_NOT):
            if _nested_repeat(av[1], inside_repeat=inside_repeat):
                return True
        elif _POSSESSIVE is not None and op is _POSSESSIVE:
            continue
    return False


# -- locating things in the TOML text -------------------------------------------------
def _line_of(text: str, needle: str) -> int | None:
    i = text.find(needle)
    return None if i < 0 else text.count("\n", 0, i) + 1


def _line_of_key(text: str, key: str, start: int = 0) -> int | None:
    m = re.compile(rf"^\s*{re.escape(key)}\s*=", re.M).search(text, start)
    return None if m is None else text.count("\n", 0, m.start()) + 1


def _rule_line(text: str, rule_id: str, nth: int = 0) -> int | None:
    """Line of the ``nth`` (0-based) ``id = "rule_id"`` in the file."""
    pattern = re.compile(rf"^\s*id\s*=\s*[\"']{re.escape(rule_id)}[\"']", re.M)
    for i, m in enumerate(pattern.finditer(text)):
        if i == nth:
            return text.count("\n", 0, m.start()) + 1
    return None


def _field_line(text: str, rule_id: str | None, key: str) -> int | None:
    start = 0
    if rule_id is not None:
        m = re.search(rf"^\s*id\s*=\s*[\"']{re.escape(rule_id)}[\"']", text, re.M)
        if m is not None:
            # the rule's table starts at the last [[rules]] header before its id
            start = text.rfind("[[rules]]", 0, m.start())
            start = max(start, 0)
    line = _line_of_key(text, key.split(".", maxsplit=1)[0].split("[", maxsplit=1)[0], start)
    if line is None and rule_id is not None:
        return _rule_line(text, rule_id)
    return line


def _validation_error(
    exc: ValidationError, path: Path, text: str, raw: dict[str, Any]
) -> RuleError:
    err = exc.errors()[0]
    loc = list(err["loc"])
    rule_id: str | None = None
    if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
        rules = raw.get("rules") or []
        if loc[1] < len(rules) and isinstance(rules[loc[1]], dict):
            rid = rules[loc[1]].get("id")
            rule_id = rid if isinstance(rid, str) else f"#{loc[1] + 1}"
        loc = loc[2:]
    fld = ".".join(str(x) for x in loc) if loc else None
    line = None
    if fld:
        line = _field_line(text, rule_id if rule_id and not rule_id.startswith("#") else None,
                           str(loc[0]))
    elif rule_id and not rule_id.startswith("#"):
        line = _rule_line(text, rule_id)
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        msg = "unknown field (check the spelling; see `chatguard rules schema`)"
    more = len(exc.errors()) - 1
    if more:
        msg += f" (and {more} more error{'s' if more > 1 else ''})"
    return RuleError(msg, file=path, line=line, rule_id=rule_id, field=fld)


def _fingerprint(rules: tuple[LoadedRule, ...], scoring: ScoringSpec, state: _Resolver) -> str:
    from .. import _tables

    payload = {
        "rules": [
            {"spec": r.spec.model_dump(mode="json"), "keywords": list(r.keywords)}
            for r in rules
        ],
        "scoring": scoring.model_dump(mode="json"),
        "tables": _tables.tables_digest(),
    }
    blob = json.dumps(payload, ensure_ascii=False, sort_keys=True).encode("utf-8")
    digest = hashlib.sha256(blob).hexdigest()[:16]
    return f"{state.pack_names[-1] if state.pack_names else 'empty'}#{digest}"
