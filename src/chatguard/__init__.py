"""chatguard: catch money-transfer solicitation and scam scripts in dating-platform chat.

>>> import chatguard
>>> det = chatguard.Detector.default()
>>> v = det.check("加我薇信，带你投资稳赚不赔")
>>> v.level in ("medium", "high", "critical")
True
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

from .detector import Detector
from .errors import (
    ChatguardError,
    ConfigError,
    InputError,
    RuleError,
    SchemaVersionError,
    SinkError,
)
from .models import Finding, Level, LevelName, Verdict
from .rules.loader import RuleSet, load_rules

if TYPE_CHECKING:
    from .events import Event
    from .guard import Guard
    from .messages import ChatMessage
    from .policy import Policy
    from .state import MemoryStore, RedisStore

# The conversation guard and its parts load on first use: a process that only scores
# messages (a batch job, a rule author's CLI) does not pay for them at import.
_LAZY = {
    "ChatMessage": "messages",
    "Event": "events",
    "Guard": "guard",
    "MemoryStore": "state",
    "Policy": "policy",
    "RedisStore": "state",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'chatguard' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))

__version__ = "0.1.0"

logging.getLogger("chatguard").addHandler(logging.NullHandler())

__all__ = [
    "ChatMessage",
    "ChatguardError",
    "ConfigError",
    "Detector",
    "Event",
    "Finding",
    "Guard",
    "InputError",
    "Level",
    "LevelName",
    "MemoryStore",
    "Policy",
    "RedisStore",
    "RuleError",
    "RuleSet",
    "SchemaVersionError",
    "SinkError",
    "Verdict",
    "__version__",
    "load_rules",
]
