"""The one exception tree of chatguard.

Every error chatguard raises on purpose derives from :class:`ChatguardError`, and each
subclass also inherits the builtin a caller would naturally catch, so ``except ValueError``
keeps working for code that does not know chatguard::

    ChatguardError
    ├── RuleError (ValueError)              a rule pack cannot be loaded or compiled
    │   └── SchemaVersionError              a file declares a schema_version we do not read
    ├── ConfigError (ValueError)            a policy / guard / CLI option is invalid
    ├── InputError (ValueError)             a chat message or input row is malformed
    ├── SinkError (RuntimeError)            a sink failed (only raised by sinks themselves;
    │   │                                   the dispatcher never lets it reach ``feed``)
    │   └── DeliveryError                   a sink gave up after retrying; carries the
    │                                       undelivered events (``chatguard.sinks``)
    └── StoreUnavailableError (ConnectionError)  a shared state store cannot be reached
                                            (``chatguard.state``; only ``forget`` raises it)

Messages name the place: file, line, rule id and field for rules; line number for inputs.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "ChatguardError",
    "ConfigError",
    "InputError",
    "RuleError",
    "SchemaVersionError",
    "SinkError",
]


class ChatguardError(Exception):
    """Root of every error chatguard raises on purpose."""


class RuleError(ChatguardError, ValueError):
    """A rule pack, rule file or rule cannot be loaded or compiled.

    The structured attributes let tools (``chatguard rules validate``, editors) point at the
    exact place without parsing the message.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        line: int | None = None,
        rule_id: str | None = None,
        field: str | None = None,
    ) -> None:
        self.file = str(file) if file is not None else None
        self.line = line
        self.rule_id = rule_id
        self.field = field
        self.reason = message
        where = []
        if self.file is not None:
            where.append(self.file if line is None else f"{self.file}:{line}")
        if rule_id is not None:
            where.append(f"rule {rule_id!r}")
        if field is not None:
            where.append(f"field {field!r}")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)


class SchemaVersionError(RuleError):
    """A rule file or config declares a ``schema_version`` this release cannot read."""


class ConfigError(ChatguardError, ValueError):
    """An option, policy or configuration value is invalid."""


class InputError(ChatguardError, ValueError):
    """A chat message or an input row is malformed; ``line`` is set when known."""

    def __init__(self, message: str, *, line: int | None = None, source: str | None = None) -> None:
        self.line = line
        self.source = source
        self.reason = message
        where = ""
        if source is not None or line is not None:
            where = f"{source or '<input>'}{'' if line is None else f':{line}'}: "
        super().__init__(where + message)


class SinkError(ChatguardError, RuntimeError):
    """A sink could not deliver an event."""
