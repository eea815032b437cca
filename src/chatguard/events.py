"""Events the guard emits: what a platform acts on.

``warning`` (in-chat reminder to the potential victim), ``blacklist_suggestion`` (for the
suspect, with evidence) and ``sms_alert`` (for the potential victim; the platform maps the
id to a phone number). Events carry what a moderator needs and no more: evidence snippets
are masked, there is never raw chat text in an SMS alert, and ``event_id`` is derived from
the event's identity so a re-delivered event is recognisably the same one.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .models import LevelName

__all__ = ["EVENT_KINDS", "Event", "EventKind", "Evidence", "make_event_id"]

EventKind = Literal["warning", "blacklist_suggestion", "sms_alert"]
EVENT_KINDS: tuple[str, ...] = ("warning", "blacklist_suggestion", "sms_alert")

# A Python str holds astral characters as single code points, so any surrogate code point in
# one is a lone half: JSON input may carry it ("\\ud800"), but it cannot be encoded as UTF-8.
_SURROGATE = re.compile("[\ud800-\udfff]")


def _encodable(text: str) -> str:
    """``text`` with lone surrogates replaced by U+FFFD, so every sink can serialize it."""
    return _SURROGATE.sub("\ufffd", text) if _SURROGATE.search(text) else text


class Evidence(BaseModel):
    """Why an event was raised, with personal data masked."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    message_ids: list[str] = Field(default_factory=list)
    rule_ids: list[str] = Field(default_factory=list)
    levels: list[LevelName] = Field(default_factory=list)
    snippets: list[str] = Field(default_factory=list)  # masked matched text, never whole messages
    stages: list[str] = Field(default_factory=list)
    conversations: int = 0  # for a suspect: conversations where the suspect raised risk
    recipients: int = 0  # for a suspect: distinct recipients of near-duplicate scripts
    note: str = ""

    @field_validator("snippets", mode="after")
    @classmethod
    def _encodable_snippets(cls, v: list[str]) -> list[str]:
        # Snippets are cut from chat text, the one place lone surrogates reach an event; a
        # snippet that cannot be written as UTF-8 would make every sink fail on its event.
        return [_encodable(s) for s in v]

    @field_validator("note", mode="after")
    @classmethod
    def _encodable_note(cls, v: str) -> str:
        return _encodable(v)


class Event(BaseModel):
    """One event for the sinks.

    JSON round-trips: ``Event.model_validate_json(e.model_dump_json())``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: EventKind
    event_id: str
    conversation_id: str
    subject_id: str  # the suspect
    target_id: str  # who is warned or alerted (the suspect for blacklist suggestions)
    score: float = Field(ge=0.0, le=1.0)
    level: LevelName
    rule_ids: list[str] = Field(default_factory=list)
    evidence: Evidence = Field(default_factory=Evidence)
    ruleset: str
    created_at: datetime
    message_id: str | None = None
    template: str | None = None  # warning / SMS wording key (e.g. "warning.money.2")
    meta: dict[str, Any] = Field(default_factory=dict)

    def to_json(self) -> str:
        return self.model_dump_json()


def make_event_id(kind: str, *parts: str) -> str:
    """Stable id from the event's identity (kind + conversation + trigger), not from time."""
    h = hashlib.sha256("\x1f".join((kind, *parts)).encode("utf-8")).hexdigest()[:24]
    return f"{kind[:2]}-{h}"


def utcnow() -> datetime:
    return datetime.now(tz=UTC)
