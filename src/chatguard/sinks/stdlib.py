"""A sink that writes one log record per event through stdlib :mod:`logging`.

Logs travel further than events (aggregators, support tickets, screenshots), so the message
names the event without quoting the conversation: kind, conversation id, level, score and rule
ids. Evidence snippets are masked already, but they still come from private chat, so they appear
neither in the message nor in the structured ``extra`` unless ``include_evidence=True``.
"""

from __future__ import annotations

import logging
from typing import Any

from ..errors import ConfigError
from ..events import Event

__all__ = ["LoggingSink"]


class LoggingSink:
    """Logs each event on ``logger`` at ``level``.

    The record carries ``extra={"chatguard_event": <event as JSON-ready dict>}`` so structured
    formatters can emit the whole event; without ``include_evidence`` its evidence snippets are
    emptied.
    """

    def __init__(
        self,
        logger: logging.Logger | str = "chatguard.events",
        level: int = logging.WARNING,
        *,
        include_evidence: bool = False,
    ) -> None:
        if isinstance(logger, str):
            logger = logging.getLogger(logger)
        if not isinstance(level, int) or isinstance(level, bool):
            raise ConfigError(f"LoggingSink level must be a logging level int, got {level!r}")
        self.logger = logger
        self.level = level
        self.include_evidence = include_evidence

    def emit(self, event: Event) -> None:
        if not self.logger.isEnabledFor(self.level):
            return
        payload: dict[str, Any] = event.model_dump(mode="json")
        msg = "chatguard %s event_id=%s conversation=%s level=%s score=%.2f rules=%s"
        args: tuple[object, ...] = (
            event.kind,
            event.event_id,
            event.conversation_id,
            event.level,
            event.score,
            ",".join(event.rule_ids) or "-",
        )
        if self.include_evidence:
            msg += " evidence=%s"
            args += ("; ".join(event.evidence.snippets) or "-",)
        else:
            payload["evidence"]["snippets"] = []
        self.logger.log(self.level, msg, *args, extra={"chatguard_event": payload})

    def __repr__(self) -> str:
        return f"LoggingSink({self.logger.name!r}, {logging.getLevelName(self.level)})"
