"""``ChatMessage``: one chat message as a platform backend hands it to the guard.

Validated once at the boundary (pydantic, frozen, unknown fields rejected); ``sent_at``
accepts a datetime, an ISO-8601 string or epoch seconds and is stored as an aware UTC
datetime. Invalid input raises :class:`~chatguard.errors.InputError`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import InputError

__all__ = ["ChatMessage"]


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    message_id: str = Field(min_length=1)
    conversation_id: str = Field(min_length=1)
    sender_id: str = Field(min_length=1)
    recipient_id: str = Field(min_length=1)
    text: str
    sent_at: datetime
    meta: dict[str, Any] | None = None

    @field_validator("sent_at", mode="before")
    @classmethod
    def _when(cls, v: Any) -> Any:
        if isinstance(v, bool):
            raise ValueError("sent_at must be a datetime, an ISO-8601 string or epoch seconds")
        if isinstance(v, int | float):
            return datetime.fromtimestamp(float(v), tz=UTC)
        return v

    @field_validator("sent_at")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        return v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC)

    @property
    def timestamp(self) -> float:
        return self.sent_at.timestamp()

    @classmethod
    def parse(cls, data: Any, *, line: int | None = None, source: str | None = None) -> ChatMessage:
        """Validate ``data`` (a mapping), turning pydantic's error into an :class:`InputError`."""
        if isinstance(data, ChatMessage):
            return data
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(x) for x in err["loc"]) or "message"
            more = len(exc.errors()) - 1
            suffix = f" (and {more} more)" if more else ""
            raise InputError(f"{where}: {err['msg']}{suffix}", line=line, source=source) from None
