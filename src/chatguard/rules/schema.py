"""The rule-pack file format (schema_version 1), validated by pydantic at load time.

A rule pack is a directory: ``pack.toml`` (identity, ``extends``, ``disabled_rules``,
``overrides``, scoring) plus any number of rule files ``*.toml`` each holding ``[[rules]]``,
and word lists under the pack (``keywords_file``). Models are strict (``extra="forbid"``)
and frozen so a typo in a field name fails loudly instead of silently disabling a rule.
``chatguard rules schema`` exports the JSON Schema for editors.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "CATEGORIES",
    "LEVEL_WEIGHTS",
    "SCHEMA_VERSION",
    "STAGES",
    "VARIANT_KINDS",
    "Category",
    "ComboSpec",
    "ContextSpec",
    "Examples",
    "NearSpec",
    "PackFile",
    "PatternSpec",
    "RuleFile",
    "RuleOverride",
    "RuleSpec",
    "ScoringSpec",
    "Stage",
    "VariantKind",
]

SCHEMA_VERSION = 1

Category = Literal[
    "money_transfer",  # 转账 / 汇款 / 打款 / 收款码 / 代付
    "investment",  # pig-butchering lures: 导师 / 带单 / 内部消息 / 稳赚不赔
    "gambling",
    "crypto",  # USDT / U商 / 钱包地址
    "loan_request",  # borrowing stories: 住院押金 / 周转 / 急用
    "red_packet",  # 红包 / 礼物 / 520 / 1314
    "diversion",  # moving the chat off the platform
    "task_scam",  # 刷单 / 做任务 / 垫付
    "fake_service",  # fake customer service, refunds, screen sharing, 验证码
    "venue_lure",  # 酒托 / 茶托 / 婚托
    "credit_loan",  # loan and credit-repair scams
    "withdrawal_fee",  # 保证金 / 解冻费 / 手续费 to withdraw
    "money_mule",  # 跑分 / 代收 / 帮我收款
    "sextortion",
    "contact_id",  # phone numbers, QQ numbers, WeChat ids, links
    "payment_id",  # bank cards, wallet addresses
    "amount",  # money amounts (weak alone)
    "affection",  # trust-building terms (weak alone; a stage signal for the guard)
    "victim_cue",  # 离异 / 存款 / 网贷 (raises protection, not suspicion)
]
CATEGORIES: tuple[str, ...] = Category.__args__  # type: ignore[attr-defined]

Stage = Literal["trust", "diversion", "hook", "money_request", "blocker"]
STAGES: tuple[str, ...] = Stage.__args__  # type: ignore[attr-defined]

VariantKind = Literal[
    "homophone",  # 薇信 / 威信 -> 微信 (per-character sound and look-alikes)
    "split",  # split-radical writing: 钅艮 -> 银
    "pinyin",  # full pinyin: zhuanzhang, zhuan账
    "initials",  # pinyin initials: zz, yhk (only for keywords of 3+ characters unless listed)
    "alias",  # curated word-level aliases: vx / ➕V -> 微信, 扣扣 / 企鹅 -> QQ
    "traditional",  # handled by the normalizer; listed for documentation only
]
VARIANT_KINDS: tuple[str, ...] = VariantKind.__args__  # type: ignore[attr-defined]

LevelLit = Literal["informational", "low", "medium", "high", "critical"]
LEVEL_WEIGHTS: dict[str, float] = {
    "informational": 0.05,
    "low": 0.2,
    "medium": 0.45,
    "high": 0.7,
    "critical": 0.9,
}

_ID_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")

Weight = Annotated[float, Field(ge=0.0, le=1.0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)


class PatternSpec(_Strict):
    """A regular expression run on the folded text (width, case and digit styles folded,
    punctuation kept). When the rule also has keywords, the keywords are only a prefilter:
    the regex runs when one of them hits, and the findings are the regex matches. A rule with
    patterns and no keywords runs them on every message (costly: prefer keywords).
    ``validator`` names a check a candidate must pass (e.g. Luhn)."""

    name: str = Field(min_length=1)
    regex: str = Field(min_length=1)
    validator: Literal[
        "luhn", "cn-mobile", "qq", "wechat-id", "url", "usdt-trc20", "usdt-erc20", "amount"
    ] | None = None


class ContextSpec(_Strict):
    """Words near a hit that change what it means.

    ``suppress`` words (negations, warnings: 别 / 不要 / 千万别 / 小心 / 骗子) within
    ``window`` tokens in the same clause turn a request into advice: the finding stays in the
    verdict but weighs ``suppress_factor`` of its weight. ``boost`` words (给我 / 马上 / 今天)
    add ``boost_by`` to the weight.
    """

    boost: list[str] = Field(default_factory=list)
    suppress: list[str] = Field(default_factory=list)
    window: int = Field(default=6, ge=1, le=50)
    boost_by: float = Field(default=0.15, ge=0.0, le=1.0)
    suppress_factor: float = Field(default=0.0, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _not_empty(self) -> ContextSpec:
        if not self.boost and not self.suppress:
            raise ValueError("context needs at least one 'boost' or 'suppress' word")
        return self


class NearSpec(_Strict):
    """All of several keyword groups within ``within`` characters of each other (normalized
    text). The rule then fires on the co-occurrence, with the span covering all parts."""

    groups: list[Annotated[list[str], Field(min_length=1)]] = Field(min_length=2)
    within: int = Field(default=12, ge=1, le=200)


class Examples(_Strict):
    """Mandatory true- and false-positive examples; the test suite and
    ``chatguard rules test`` run every one of them."""

    match: list[str] = Field(min_length=1)
    no_match: list[str] = Field(min_length=1)


def _default_variants() -> list[VariantKind]:
    return ["homophone", "split", "pinyin", "alias"]


class RuleSpec(_Strict):
    """One rule. ``id`` is stable kebab-case: never renamed or reused."""

    id: str
    title: str = Field(min_length=1)
    category: Category
    level: LevelLit = "medium"
    weight: Weight | None = None
    status: Literal["experimental", "test", "stable", "deprecated"] = "stable"
    stage: Stage | None = None
    keywords: list[str] | None = Field(default=None, min_length=1)
    keywords_file: str | None = None
    patterns: list[PatternSpec] | None = Field(default=None, min_length=1)
    detectors: (
        list[Literal["cn-mobile", "qq", "wechat-id", "url", "bank-card", "usdt-address", "amount"]]
        | None
    ) = Field(default=None, min_length=1)
    boundary: Literal["token", "none"] = "none"
    variants: list[VariantKind] = Field(default_factory=_default_variants)
    context: ContextSpec | None = None
    near: NearSpec | None = None
    tags: list[str] = Field(default_factory=list)
    falsepositives: list[str] = Field(default_factory=list)
    description: str = ""
    examples: Examples

    @field_validator("id")
    @classmethod
    def _kebab(cls, v: str) -> str:
        if not _ID_RE.match(v):
            raise ValueError(f"rule id {v!r} must be kebab-case (lowercase letters, digits, '-')")
        return v

    @field_validator("keywords")
    @classmethod
    def _keywords(cls, v: list[str] | None) -> list[str] | None:
        for kw in v or ():
            if not kw.strip():
                raise ValueError("keywords must not contain empty strings")
        return v

    @field_validator("keywords_file")
    @classmethod
    def _relative(cls, v: str | None) -> str | None:
        if v is not None and (v.startswith(("/", "\\")) or ".." in v.replace("\\", "/").split("/")):
            raise ValueError(f"keywords_file {v!r} must be a path inside the pack")
        return v

    @model_validator(mode="after")
    def _has_something_to_match(self) -> RuleSpec:
        matchers = (self.keywords, self.keywords_file, self.patterns, self.detectors, self.near)
        if not any(matchers):
            raise ValueError(
                "a rule needs at least one of keywords, keywords_file, patterns, detectors, near"
            )
        return self

    @property
    def effective_weight(self) -> float:
        return self.weight if self.weight is not None else LEVEL_WEIGHTS[self.level]


class RuleFile(_Strict):
    """One ``*.toml`` rule file inside a pack."""

    schema_version: int
    rules: list[RuleSpec] = Field(min_length=1)


class RuleOverride(_Strict):
    """Per-rule changes a pack applies to rules it extends (e.g. learned weights)."""

    weight: Weight | None = None
    level: LevelLit | None = None
    status: Literal["experimental", "test", "stable", "deprecated"] | None = None


class ComboSpec(_Strict):
    """Categories that weigh more together than apart (diversion + money)."""

    categories: list[Category] = Field(min_length=2)
    bonus: float = Field(ge=0.0, le=1.0)


class ScoringSpec(_Strict):
    """Thresholds mapping a score in [0, 1] to a level, and co-occurrence bonuses."""

    low: Weight = 0.15
    medium: Weight = 0.4
    high: Weight = 0.65
    critical: Weight = 0.85
    combos: list[ComboSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _ordered(self) -> ScoringSpec:
        if not (0 < self.low <= self.medium <= self.high <= self.critical <= 1):
            raise ValueError("thresholds must satisfy 0 < low <= medium <= high <= critical <= 1")
        return self


class PackFile(_Strict):
    """``pack.toml``: what the pack is and what it builds on.

    ``extends`` lists other packs (paths relative to this one, or ``"bundled:zh-CN"``); their
    rules come first, then ``disabled_rules`` removes some and ``overrides`` adjusts others,
    and this pack's own rules are added (an id already defined upstream is an error unless
    that id is disabled first: rules are replaced deliberately, never by accident).
    """

    schema_version: int
    id: str
    version: str = "0"
    description: str = ""
    extends: list[str] = Field(default_factory=list)
    disabled_rules: list[str] = Field(default_factory=list)
    overrides: dict[str, RuleOverride] = Field(default_factory=dict)
    scoring: ScoringSpec | None = None

    @field_validator("id")
    @classmethod
    def _kebab(cls, v: str) -> str:
        if not _ID_RE.match(v):
            raise ValueError(f"pack id {v!r} must be kebab-case")
        return v
