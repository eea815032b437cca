"""``Policy``: how the guard turns conversation risk into events.

A platform tunes the guard here and nowhere else, so every knob is data (pydantic,
``extra="forbid"``, frozen, versioned with ``schema_version``) and the defaults are meant to
be usable as they stand. The knobs fall into four groups:

* **risk memory**: ``half_life_seconds`` (how fast a conversation calms down when nothing new
  happens), ``stage_window_seconds`` (how long the guard remembers which stages of a scam
  script it has seen), ``stage_bonus`` (how much stages *in order* add to the risk even when
  every message alone is mild) and ``echo_discount`` (role asymmetry: risk both members talk
  about is a discussion, not a push);
* **actions**: one :class:`Trigger` each for the in-chat ``warning``, the
  ``blacklist_suggestion`` and the ``sms_alert``. A trigger needs a conversation level and
  score *and* corroboration: several risky messages from the suspect, or stages in order, or
  one message that is strong enough on its own. Corroboration is what keeps a single
  unlucky match in an ordinary chat from reaching a member;
* **frequency**: warning cooldown per conversation with escalating wording keys
  (``warning.money.1`` / ``.2`` / ``.3``), one SMS per victim per calendar day, one
  script-based blacklist suggestion per sender per day;
* **privacy and bounds**: evidence sizes, the split-word tail, near-duplicate script
  fingerprint thresholds, whether events carry hashed user ids.

Load a policy from a mapping (or a TOML / JSON file) with :meth:`Policy.parse` /
:meth:`Policy.from_file`; errors are :class:`~chatguard.errors.ConfigError` naming the field.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import ConfigError, SchemaVersionError
from .models import LevelName

__all__ = ["POLICY_SCHEMA_VERSION", "Policy", "Trigger"]

POLICY_SCHEMA_VERSION = 1

Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
Seconds = Annotated[float, Field(gt=0.0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Trigger(_Strict):
    """When one kind of event fires.

    The conversation must reach ``min_level`` and ``min_score`` (the suspect's decayed,
    stage-aware risk), and the evidence must be corroborated: at least ``min_messages``
    messages with evidence from the suspect (see ``Policy.corroboration_min_score``), or
    ``min_stages`` distinct scam stages in order, or one message at
    ``single_message_level`` or above, or one message asking for money (money request or
    withdrawal blocker stage) at ``single_request_level`` or above (``None``: never).
    """

    min_level: LevelName
    min_score: Fraction
    min_messages: int = Field(default=2, ge=1, le=100)
    min_stages: int = Field(default=2, ge=1, le=5)
    single_message_level: LevelName | None = None
    single_request_level: LevelName | None = None


class Policy(_Strict):
    """Every decision the guard makes between a verdict and an event. Defaults are usable."""

    schema_version: int = POLICY_SCHEMA_VERSION

    # -- risk memory ---------------------------------------------------------------------
    half_life_seconds: Seconds = Field(
        default=86400.0,
        description="risk halves after this long without new evidence (one day)",
    )
    stage_window_seconds: Seconds = Field(
        default=14 * 86400.0,
        description="the stage chain starts over after this long without a new stage",
    )
    evidence_min_score: Fraction = Field(
        default=0.15,
        description="a message counts as risky from this score: it can corroborate on its "
        "own level (single_message_level) and lets the stage bonus apply",
    )
    corroboration_min_score: Fraction = Field(
        default=0.1,
        description="a message counts toward a trigger's min_messages from this score: an "
        "amount named by the member who pushes corroborates the push",
    )
    stage_min_weight: Fraction = Field(
        default=0.15,
        description="category evidence a message needs for its stage to count in the chain",
    )
    stage_bonus: tuple[Fraction, ...] = Field(
        default=(0.0, 0.0, 0.1, 0.2, 0.25, 0.3),
        description="added to the risk by the number of distinct non-trust stages in order",
    )
    trust_bonus: Fraction = Field(
        default=0.05,
        description="added when trust-building preceded a chain of two or more stages",
    )
    echo_discount: Fraction = Field(
        default=0.3,
        description="the suspect's risk minus this share of the other member's risk",
    )
    victim_protection: Fraction = Field(
        default=0.1,
        description="added to warning and SMS scores when the target revealed victim cues",
    )
    reported_blocker_is_victim_cue: bool = Field(
        default=True,
        description="a withdrawal blocker from a member who pushed nothing reads as a victim's "
        "report (protection), not as a demand (suspicion)",
    )

    # -- actions -------------------------------------------------------------------------
    warning: Trigger = Trigger(
        min_level="medium", min_score=0.4, min_messages=2, min_stages=2,
        single_message_level="high",
    )
    blacklist: Trigger = Trigger(
        min_level="high", min_score=0.65, min_messages=2, min_stages=2,
        single_message_level="critical",
    )
    sms: Trigger = Trigger(
        min_level="critical", min_score=0.85, min_messages=2, min_stages=3,
        single_message_level=None,
    )

    # -- frequency -----------------------------------------------------------------------
    warning_cooldown_seconds: Seconds = 3600.0
    warning_template: str = Field(default="warning.money.{step}", min_length=1)
    warning_max_step: int = Field(default=3, ge=1, le=10)
    sms_template: str = Field(default="sms.fraud_alert", min_length=1)
    day_offset_hours: float = Field(
        default=8.0, ge=-12.0, le=14.0,
        description="time zone of the 'per day' SMS dedupe (UTC+8 by default)",
    )

    # -- near-duplicate scripts ----------------------------------------------------------
    script_min_recipients: int = Field(
        default=3, ge=2, le=1000,
        description="distinct recipients of one near-duplicate risky text that make a script",
    )
    script_min_score: Fraction = Field(
        default=0.4,
        description="only texts this risky on their own are fingerprinted as scripts",
    )
    script_max_hamming: int = Field(default=3, ge=0, le=16)
    script_min_chars: int = Field(default=6, ge=3, le=100)
    script_window_seconds: Seconds = 7 * 86400.0
    script_max_entries: int = Field(default=64, ge=4, le=4096)

    # -- split words and evidence bounds -------------------------------------------------
    split_tail_chars: int = Field(default=8, ge=0, le=32)
    split_window_seconds: Seconds = 600.0
    max_rule_ids: int = Field(default=32, ge=1, le=256)
    max_evidence: int = Field(default=8, ge=1, le=64)
    snippet_context: int = Field(default=6, ge=0, le=40)

    # -- privacy -------------------------------------------------------------------------
    hash_ids_in_events: bool = Field(
        default=False,
        description="with a hash key, events carry the keyed hash of user ids instead of ids",
    )

    @field_validator("schema_version")
    @classmethod
    def _version(cls, v: int) -> int:
        if v != POLICY_SCHEMA_VERSION:
            raise ValueError(
                f"policy schema_version {v} is not supported (this release reads "
                f"{POLICY_SCHEMA_VERSION})"
            )
        return v

    @field_validator("warning_template")
    @classmethod
    def _template(cls, v: str) -> str:
        if "{step}" not in v:
            raise ValueError("warning_template must contain '{step}' (the escalation step)")
        return v

    @model_validator(mode="after")
    def _ladder(self) -> Policy:
        if not self.stage_bonus:
            raise ValueError("stage_bonus needs at least one entry")
        return self

    # -- loading ---------------------------------------------------------------------------
    @classmethod
    def parse(cls, data: Any, *, source: str | None = None) -> Policy:
        """Validate a mapping, turning pydantic's error into a :class:`ConfigError`."""
        if isinstance(data, Policy):
            return data
        if isinstance(data, Mapping):
            data = dict(data)
        if isinstance(data, dict) and data.get("schema_version", POLICY_SCHEMA_VERSION) not in (
            POLICY_SCHEMA_VERSION,
        ):
            raise SchemaVersionError(
                f"policy schema_version {data['schema_version']!r} is not supported "
                f"(this release reads {POLICY_SCHEMA_VERSION})",
                file=source, field="schema_version",
            )
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = ".".join(str(x) for x in err["loc"]) or "policy"
            more = len(exc.errors()) - 1
            suffix = f" (and {more} more)" if more else ""
            where = f"{source}: " if source else ""
            raise ConfigError(f"{where}{loc}: {err['msg']}{suffix}") from None

    @classmethod
    def from_file(cls, path: str | Path) -> Policy:
        """Read a policy from a ``.toml`` or ``.json`` file."""
        p = Path(path)
        try:
            raw = p.read_bytes()
        except OSError as exc:
            raise ConfigError(f"{p}: cannot read policy file: {exc.strerror}") from None
        try:
            data = json.loads(raw) if p.suffix == ".json" else tomllib.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{p}: not valid {'JSON' if p.suffix == '.json' else 'TOML'}: "
                              f"{exc}") from None
        return cls.parse(data, source=str(p))

    def stage_bonus_for(self, stages: int) -> float:
        """The bonus for ``stages`` distinct non-trust stages in order (the ladder's last
        rung for longer chains)."""
        ladder = self.stage_bonus
        return ladder[min(stages, len(ladder) - 1)]

    def warning_key(self, step: int) -> str:
        return self.warning_template.format(step=max(1, min(step, self.warning_max_step)))
