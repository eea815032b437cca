"""chatguard: catch money-transfer solicitation and scam scripts in dating-platform chat.

>>> import chatguard
>>> det = chatguard.Detector.default()
>>> v = det.check("加我薇信，带你投资稳赚不赔")
>>> v.level in ("medium", "high", "critical")
True
"""

from __future__ import annotations

import logging

from .detector import Detector
from .errors import (
    ChatguardError,
    ConfigError,
    InputError,
    RuleError,
    SchemaVersionError,
    SinkError,
)
from .events import Event
from .guard import Guard
from .messages import ChatMessage
from .models import Finding, Level, LevelName, Verdict
from .policy import Policy
from .rules.loader import RuleSet, load_rules
from .state import MemoryStore, RedisStore

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
