"""What the detector finds (``Finding``) and what it concludes (``Verdict``).

These are the hot-path results, so they are frozen slotted dataclasses rather than pydantic
models: they are created for every hit and must cost little. ``to_dict`` gives the JSON shape
used by the CLI, batch results and events.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, Literal

__all__ = ["LEVEL_NAMES", "Finding", "Level", "LevelName", "Verdict"]

LevelName = Literal["none", "low", "medium", "high", "critical"]


class Level(IntEnum):
    """Operational meaning of a risk level (ordered, so levels compare).

    none: nothing to do; low: record only; medium: remind the member in the chat;
    high: human review / blacklist suggestion; critical: alert the likely victim.
    """

    NONE = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @property
    def label(self) -> LevelName:
        return LEVEL_NAMES[self]

    @classmethod
    def parse(cls, value: str | int | Level) -> Level:
        if isinstance(value, Level):
            return value
        if isinstance(value, int):
            return cls(value)
        try:
            return cls[value.upper()]
        except KeyError:
            raise ValueError(
                f"unknown level {value!r}; expected one of {', '.join(LEVEL_NAMES)}"
            ) from None


LEVEL_NAMES: tuple[LevelName, ...] = ("none", "low", "medium", "high", "critical")
#: The inverse of LEVEL_NAMES (a dict lookup: ``Level[name.upper()]`` costs ten times more
#: on paths that read levels per message).
LEVEL_BY_NAME: Mapping[str, Level] = {name: Level(i) for i, name in enumerate(LEVEL_NAMES)}


@dataclass(frozen=True, slots=True)
class Finding:
    """One rule hit, located on the RAW message as a half-open span ``[start, end)``.

    ``matched`` is ``raw[start:end]``; ``keyword`` is the normalized keyword or pattern name
    that hit, and ``variant`` names the evasion expansion that produced it (``"exact"`` when
    the keyword matched as written). ``weight`` is the rule weight after context adjustment;
    ``explanation`` says in words why the finding counts, and how context moved it.
    """

    rule_id: str
    category: str
    start: int
    end: int
    matched: str
    keyword: str
    weight: float
    base_weight: float
    variant: str = "exact"
    context: tuple[str, ...] = ()
    suppressed: bool = False
    value: float | None = None
    explanation: str = ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "rule_id": self.rule_id,
            "category": self.category,
            "start": self.start,
            "end": self.end,
            "matched": self.matched,
            "keyword": self.keyword,
            "variant": self.variant,
            "weight": round(self.weight, 4),
            "base_weight": round(self.base_weight, 4),
            "context": list(self.context),
            "suppressed": self.suppressed,
            "explanation": self.explanation,
        }
        if self.value is not None:
            out["value"] = self.value
        return out


@dataclass(frozen=True, slots=True)
class Verdict:
    """The detector's conclusion about one message.

    ``findings`` lists every hit, including suppressed ones (``suppressed=True``, weight 0),
    so a moderator sees why a money word did *not* raise the risk. ``categories`` maps each
    category to its combined score. ``ruleset`` is the fingerprint of the rule set that
    produced the verdict, so a verdict is reproducible.
    """

    score: float
    level: LevelName
    findings: tuple[Finding, ...]
    ruleset: str
    categories: Mapping[str, float] = field(default_factory=dict)

    @property
    def level_value(self) -> Level:
        return LEVEL_BY_NAME[self.level]

    @property
    def rule_ids(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for f in self.findings:
            if not f.suppressed:
                seen.setdefault(f.rule_id, None)
        return tuple(seen)

    @property
    def risky(self) -> bool:
        return self.level != "none"

    def to_dict(self) -> dict[str, Any]:
        return {
            "score": round(self.score, 4),
            "level": self.level,
            "categories": {k: round(v, 4) for k, v in self.categories.items()},
            "findings": [f.to_dict() for f in self.findings],
            "ruleset": self.ruleset,
        }
