"""State stores for the conversation guard: in-process (:class:`MemoryStore`) or shared
between worker processes through Redis (:class:`RedisStore`). Both fulfil the
:class:`StateStore` protocol; ``base`` explains what is kept and why it holds no chat text."""

from __future__ import annotations

from .base import (
    ConversationRecord,
    PartyState,
    ScriptEntry,
    StateStore,
    StoreUnavailableError,
)
from .memory import MemoryStore
from .redis import RedisStore

__all__ = [
    "ConversationRecord",
    "MemoryStore",
    "PartyState",
    "RedisStore",
    "ScriptEntry",
    "StateStore",
    "StoreUnavailableError",
]
