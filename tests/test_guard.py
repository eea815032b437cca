"""The conversation guard: stateful mechanics, policy, events, privacy, concurrency.

These tests run the guard on a small rule pack written by the fixture below (not the bundled
pack), so each mechanic is pinned with numbers that do not move when the bundled rules are
tuned. ``test_guard_quality.py`` measures the guard with the bundled pack.
"""

from __future__ import annotations

import itertools
import json
import random
import re
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import chatguard
from chatguard import ChatMessage, Event, Guard, InputError, MemoryStore, Policy
from chatguard.errors import ConfigError, SchemaVersionError
from chatguard.events import EVENT_KINDS
from chatguard.scoring import Scorer
from chatguard.sinks import MemorySink
from chatguard.state.base import ConversationRecord, ScriptEntry

T0 = 1_750_000_000.0  # 2025-06-15, a fixed clock for reproducible events
HOUR = 3600.0
DAY = 86400.0

PACK_TOML = """
schema_version = 1
id = "guard-test"
version = "1"
description = "Rules with round weights so the guard's arithmetic can be pinned."

[scoring]
low = 0.15
medium = 0.4
high = 0.65
critical = 0.85
"""

RULES_TOML = """
schema_version = 1

[[rules]]
id = "trust-pet-name"
title = "Pet name"
category = "affection"
level = "informational"
stage = "trust"
keywords = ["宝贝", "亲爱的"]
variants = []
examples.match = ["宝贝早安"]
examples.no_match = ["早安"]

[[rules]]
id = "divert-wechat"
title = "Moves the chat to WeChat"
category = "diversion"
level = "low"
weight = 0.15
stage = "diversion"
keywords = ["加微信", "加我微信"]
variants = []
examples.match = ["加我微信吧"]
examples.no_match = ["微信步数"]

[[rules]]
id = "hook-invest"
title = "Investment lure"
category = "investment"
level = "low"
weight = 0.15
stage = "hook"
keywords = ["带你投资", "稳赚不赔"]
variants = []
examples.match = ["我带你投资"]
examples.no_match = ["我买了基金"]

[[rules]]
id = "ask-transfer"
title = "Asks for a transfer"
category = "money_transfer"
level = "low"
weight = 0.15
stage = "money_request"
keywords = ["转账给我", "打钱给我"]
variants = []
context = { suppress = ["别", "不要", "骗子"], window = 4 }
examples.match = ["你转账给我吧"]
examples.no_match = ["别转账给我"]

[[rules]]
id = "ask-safe-account"
title = "Safe account"
category = "money_transfer"
level = "critical"
stage = "money_request"
keywords = ["安全账户"]
variants = []
examples.match = ["转到安全账户"]
examples.no_match = ["账户安全"]

[[rules]]
id = "blocker-deposit"
title = "Deposit to withdraw"
category = "withdrawal_fee"
level = "medium"
weight = 0.45
stage = "blocker"
keywords = ["保证金", "解冻费"]
variants = []
examples.match = ["先交保证金"]
examples.no_match = ["提现成功"]

[[rules]]
id = "ask-red-packet"
title = "Red packet demand"
category = "red_packet"
level = "medium"
weight = 0.45
stage = "money_request"
keywords = ["红包"]
variants = []
examples.match = ["发个红包"]
examples.no_match = ["红色的包"]

[[rules]]
id = "victim-cue"
title = "Victim cue"
category = "victim_cue"
level = "informational"
keywords = ["离异", "存款"]
variants = []
examples.match = ["我离异了"]
examples.no_match = ["我结婚了"]

[[rules]]
id = "phone"
title = "Phone number"
category = "contact_id"
level = "low"
weight = 0.2
stage = "diversion"
detectors = ["cn-mobile"]
examples.match = ["13812345678"]
examples.no_match = ["12345"]
"""

#: Messages of increasing stage, each mild on its own (weight 0.15: "low").
DIVERT = "我们加微信聊吧"
HOOK = "我可以带你投资"
ASK = "你先转账给我"
CRITICAL = "把钱转到安全账户"


@pytest.fixture(scope="session")
def guard_pack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny rule pack with one rule per stage and round weights."""
    d = tmp_path_factory.mktemp("guard-pack")
    (d / "pack.toml").write_text(PACK_TOML, encoding="utf-8")
    (d / "rules.toml").write_text(RULES_TOML, encoding="utf-8")
    return d


@pytest.fixture(scope="session")
def det(guard_pack: Path) -> chatguard.Detector:
    """The detector over the guard test pack (shared: detectors are immutable)."""
    return chatguard.Detector.from_rules(guard_pack)


@pytest.fixture
def sink() -> MemorySink:
    """A fresh recording sink."""
    return MemorySink()


@pytest.fixture
def guard(det: chatguard.Detector, sink: MemorySink) -> Iterator[Guard]:
    """A guard with default policy, a private MemoryStore and the recording sink."""
    g = Guard(det, sinks=[sink])
    yield g
    g.close()


_ids = itertools.count()


def msg(text: str, *, sender: str = "scammer", recipient: str = "member",
        conv: str = "c1", at: float = T0, mid: str | None = None) -> dict[str, Any]:
    """A message mapping as a backend would pass it."""
    return {
        "message_id": mid or f"m{next(_ids)}",
        "conversation_id": conv,
        "sender_id": sender,
        "recipient_id": recipient,
        "text": text,
        "sent_at": at,
    }


def feed_all(g: Guard, texts: list[tuple[str, str]], *, conv: str = "c1",
             start: float = T0, step: float = 60.0) -> list[Event]:
    """Feed (sender, text) turns of a two-member conversation one minute apart."""
    members = ("scammer", "member")
    out: list[Event] = []
    for i, (sender, text) in enumerate(texts):
        recipient = members[1] if sender == members[0] else members[0]
        mid = f"{zlib.crc32(conv.encode())}-{start:.0f}-{i}"
        out.extend(g.feed(msg(text, sender=sender, recipient=recipient, conv=conv,
                              at=start + i * step, mid=mid)))
    return out


# -- ChatMessage at the boundary ----------------------------------------------------------
BAD_MESSAGES = [
    pytest.param({"conversation_id": "c", "sender_id": "a", "recipient_id": "b", "text": "x",
                  "sent_at": T0}, "message_id", id="missing-message-id"),
    pytest.param({"message_id": "", "conversation_id": "c", "sender_id": "a",
                  "recipient_id": "b", "text": "x", "sent_at": T0}, "message_id",
                 id="empty-message-id"),
    pytest.param({"message_id": "m", "conversation_id": "c", "sender_id": "a",
                  "recipient_id": "b", "text": "x", "sent_at": "yesterday"}, "sent_at",
                 id="unparseable-time"),
    pytest.param({"message_id": "m", "conversation_id": "c", "sender_id": "a",
                  "recipient_id": "b", "text": "x", "sent_at": True}, "sent_at",
                 id="bool-time"),
    pytest.param({"message_id": "m", "conversation_id": "c", "sender_id": "a",
                  "recipient_id": "b", "text": None, "sent_at": T0}, "text", id="null-text"),
    pytest.param({"message_id": "m", "conversation_id": "c", "sender_id": "a",
                  "recipient_id": "b", "text": "x", "sent_at": T0, "colour": "red"},
                 "colour", id="unknown-field"),
]


@pytest.mark.parametrize(("data", "field"), BAD_MESSAGES)
def test_invalid_message_raises_input_error_naming_the_field(
    guard: Guard, data: dict[str, Any], field: str
) -> None:
    """Malformed input is an InputError (also a ValueError) that names the bad field."""
    with pytest.raises(InputError, match=field) as info:
        guard.feed(data)
    assert isinstance(info.value, ValueError)
    assert guard.stats["messages"] == 0


def test_feed_many_names_the_position_of_a_bad_message(guard: Guard) -> None:
    """A batch is validated before anything is scanned; the error says which item."""
    batch = [msg("你好"), msg("在吗"), {"message_id": "x"}]
    with pytest.raises(InputError) as info:
        guard.feed_many(batch)
    assert info.value.line == 3
    assert guard.stats["messages"] == 0


@pytest.mark.parametrize(
    "when",
    [T0, "2025-06-15T15:06:40+00:00", "2025-06-15T23:06:40+08:00"],
    ids=["epoch", "iso-utc", "iso-offset"],
)
def test_sent_at_forms_are_one_instant(when: object) -> None:
    """Epoch seconds and ISO strings with offsets normalize to the same UTC instant."""
    m = ChatMessage.parse(msg("hi") | {"sent_at": when})
    assert m.timestamp == T0
    assert m.sent_at.utcoffset() is not None


# -- corroboration, stages, decay ---------------------------------------------------------
def test_one_mild_message_raises_nothing(guard: Guard, sink: MemorySink) -> None:
    """A single low-weight match is never enough to reach a member."""
    assert guard.feed(msg(ASK)) == []
    view = guard.conversation("c1")
    assert view.level == "low"
    assert sink.events == []


def test_clean_messages_keep_no_state(guard: Guard) -> None:
    """Nothing risky, nothing stored: flat memory over millions of ordinary chats."""
    feed_all(guard, [("scammer", "今天天气真好"), ("member", "是啊，去散步吗")])
    assert isinstance(guard.store, MemoryStore)
    assert len(guard.store) == 0
    assert guard.conversation("c1").level == "none"


STAGE_ORDERS = [
    pytest.param([DIVERT, HOOK, ASK], True, id="diversion-hook-request-in-order"),
    pytest.param([ASK, HOOK, DIVERT], False, id="same-messages-reversed"),
]


@pytest.mark.parametrize(("texts", "in_order"), STAGE_ORDERS)
def test_stages_in_order_raise_the_level(
    det: chatguard.Detector, texts: list[str], in_order: bool
) -> None:
    """Three mild messages walking the script in order reach a warning; reversed they do
    not (the order is the signal, not the words)."""
    sink = MemorySink()
    with Guard(det, sinks=[sink]) as g:
        feed_all(g, [("scammer", t) for t in texts])
        view = g.conversation("c1")
    assert view.stages == ("diversion", "hook", "money_request")
    warnings = [e for e in sink.events if e.kind == "warning"]
    if in_order:
        assert view.level == "medium"  # 1 - 0.85³ = 0.39 (low) + 0.2 for three stages
        assert warnings
        assert warnings[0].target_id == "member"
        assert warnings[0].evidence.stages == ["diversion", "hook", "money_request"]
    else:
        assert view.level == "low"
        assert not warnings


def test_conversation_view_lists_stages_and_rules(guard: Guard) -> None:
    """The view names the suspect, the victim, each stage and the rules behind it."""
    feed_all(guard, [("scammer", "宝贝早安"), ("scammer", DIVERT), ("member", "好呀"),
                     ("scammer", HOOK)])
    view = guard.conversation("c1")
    assert view.suspect_id == "scammer"
    assert view.target_id == "member"
    assert view.stages == ("trust", "diversion", "hook")
    assert view.stage_rules["hook"] == ("hook-invest",)
    assert set(view.rule_ids) == {"trust-pet-name", "divert-wechat", "hook-invest"}
    assert view.to_dict()["stages"] == ["trust", "diversion", "hook"]


def test_risk_decays_with_the_half_life(det: chatguard.Detector) -> None:
    """Evidence loses half its weight per half-life: old suspicion fades."""
    g = Guard(det, policy={"half_life_seconds": HOUR})
    g.feed(msg(CRITICAL, at=T0))
    fresh = g.conversation("c1").risk
    g.feed(msg("宝贝", at=T0 + HOUR))  # any risky message moves the clock
    later = g.conversation("c1").risk
    assert later == pytest.approx(fresh / 2 + 0.05, abs=0.03)


def test_stage_chain_resets_after_the_stage_window(det: chatguard.Detector) -> None:
    """Stages weeks apart are not one script: the chain starts over."""
    g = Guard(det, policy={"stage_window_seconds": DAY, "half_life_seconds": 30 * DAY})
    g.feed(msg(DIVERT, at=T0))
    g.feed(msg(HOOK, at=T0 + 2 * DAY))
    rec, _ = g.store.load("c1")
    assert rec is not None
    assert rec.party("scammer") is not None
    assert rec.party("scammer").stages == 1  # type: ignore[union-attr]


# -- roles ----------------------------------------------------------------------------------
def test_warning_goes_to_the_victim_never_the_suspect(guard: Guard, sink: MemorySink) -> None:
    """The member pushing money topics is the suspect; echoing them does not swap roles."""
    feed_all(guard, [
        ("scammer", DIVERT),
        ("member", "加微信？为什么要加微信"),  # an echo, not a push
        ("scammer", HOOK),
        ("member", "带你投资是什么意思"),
        ("scammer", ASK),
    ])
    kinds = {(e.kind, e.target_id) for e in sink.events}
    assert ("warning", "member") in kinds
    assert all(e.target_id != "scammer" for e in sink.events if e.kind != "blacklist_suggestion")
    assert guard.conversation("c1").suspect_id == "scammer"


@pytest.mark.parametrize("cue", [True, False], ids=["victim-revealed-cue", "no-cue"])
def test_victim_cues_raise_protection_not_suspicion(det: chatguard.Detector, cue: bool) -> None:
    """离异 / 存款 from the member makes the guard warn them sooner and never makes them a
    suspect."""
    sink = MemorySink()
    g = Guard(det, sinks=[sink], policy={
        "stage_bonus": [0.0], "victim_protection": 0.2,
        "warning": {"min_level": "low", "min_score": 0.3},
    })
    turns = [("member", "我离异了，有点存款")] if cue else []
    turns += [("scammer", ASK), ("scammer", "真的，你转账给我嘛")]
    feed_all(g, turns)
    view = g.conversation("c1")
    assert view.suspect_id == "scammer"
    warned = [e.target_id for e in sink.events if e.kind == "warning"]
    assert warned == (["member"] if cue else [])


# -- policy: frequency, escalation, SMS, blacklist --------------------------------------------
def test_warning_cooldown_and_escalating_wording(det: chatguard.Detector) -> None:
    """One warning per cooldown; each new one uses the next wording step, capped at 3."""
    sink = MemorySink()
    g = Guard(det, sinks=[sink], policy={"warning_cooldown_seconds": HOUR,
                                         "half_life_seconds": 30 * DAY})
    times = [T0, T0 + 60, T0 + 120, T0 + HOUR + 200, T0 + 2 * HOUR + 300, T0 + 3 * HOUR + 400]
    for i, at in enumerate(times):
        g.feed(msg(CRITICAL + str(i), at=at))
    templates = [e.template for e in sink.events if e.kind == "warning"]
    assert templates == ["warning.money.1", "warning.money.2", "warning.money.3",
                         "warning.money.3"]


def test_sms_alert_once_per_victim_per_day_without_chat_content(
    det: chatguard.Detector,
) -> None:
    """Critical risk texts the victim once per calendar day, with a template and no chat."""
    sink = MemorySink()
    g = Guard(det, sinks=[sink], policy={"sms": {"min_level": "critical", "min_score": 0.85,
                                                 "single_message_level": "critical"}})
    g.feed(msg(CRITICAL + "，号码13812345678", conv="c1", sender="s1"))
    g.feed(msg(CRITICAL, conv="c2", sender="s2", at=T0 + 60))  # same victim, same day
    g.feed(msg(CRITICAL, conv="c3", sender="s3", at=T0 + DAY))  # next day
    sms = [e for e in sink.events if e.kind == "sms_alert"]
    assert [e.conversation_id for e in sms] == ["c1", "c3"]
    for e in sms:
        assert e.target_id == "member"
        assert e.template == "sms.fraud_alert"
        assert e.evidence.snippets == []
        assert "13812345678" not in e.to_json()


def test_blacklist_suggestion_carries_masked_evidence(guard: Guard, sink: MemorySink) -> None:
    """The suspect's suggestion cites rule ids, levels, message ids and masked snippets."""
    guard.feed(msg("加我微信 13812345678", mid="m-a"))
    guard.feed(msg(CRITICAL, mid="m-b", at=T0 + 60))
    bl = [e for e in sink.events if e.kind == "blacklist_suggestion"]
    assert len(bl) == 1
    ev = bl[0]
    assert ev.subject_id == ev.target_id == "scammer"
    assert ev.evidence.message_ids == ["m-a", "m-b"]
    assert "ask-safe-account" in ev.rule_ids
    assert ev.evidence.conversations == 1
    assert ev.evidence.snippets
    assert all("13812345678" not in s for s in ev.evidence.snippets)


def test_near_duplicate_script_to_three_recipients(det: chatguard.Detector) -> None:
    """The same risky text to three members raises a script blacklist suggestion, once."""
    sink = MemorySink()
    g = Guard(det, sinks=[sink])
    script = "亲爱的，这个平台稳赚不赔，我带你投资，钱转到安全账户就行"
    for i, (who, variant) in enumerate([("amy", script), ("bea", script + "！"),
                                        ("cat", script.replace("亲爱的", "宝贝")),
                                        ("dee", script)]):
        g.feed(msg(variant, recipient=who, conv=f"c-{who}", at=T0 + i * 60))
    scripts = [e for e in sink.events if e.meta.get("reason") == "script"]
    assert len(scripts) == 1
    assert scripts[0].subject_id == "scammer"
    assert scripts[0].evidence.recipients == 3


def test_different_texts_to_many_recipients_are_not_a_script(det: chatguard.Detector) -> None:
    """Unrelated risky texts to several recipients do not count as one script."""
    sink = MemorySink()
    g = Guard(det, sinks=[sink])
    texts = ["把钱转到安全账户，我们公司有内部渠道，今晚就能操作",
             "宝贝，我妈妈住院了，你能帮我把钱转到这个安全账户吗",
             "平台客服说你的资金要先转入安全账户进行验证才能解冻"]
    for i, (who, t) in enumerate(zip(["amy", "bea", "cat"], texts, strict=True)):
        g.feed(msg(t, recipient=who, conv=f"c-{who}", at=T0 + i * 60))
    assert not [e for e in sink.events if e.meta.get("reason") == "script"]


# -- split words ----------------------------------------------------------------------------
SPLITS = [
    pytest.param([("scammer", "那你发个红"), ("scammer", "包嘛")], 1, id="split-in-two"),
    pytest.param([("scammer", "发个红"), ("member", "什么"), ("scammer", "包")], 1,
                 id="other-member-between"),
    pytest.param([("scammer", "发个红"), ("member", "包子好吃")], 0,
                 id="different-senders-never-join"),
]


@pytest.mark.parametrize(("turns", "joined"), SPLITS)
def test_words_split_across_messages_are_found(
    guard: Guard, turns: list[tuple[str, str]], joined: int
) -> None:
    """红 | 包 over two messages of one sender is a red packet demand."""
    feed_all(guard, turns)
    assert guard.stats["split_words"] == joined
    assert ("ask-red-packet" in guard.conversation("c1").rule_ids) == bool(joined)


NEAR_SPLITS = [
    pytest.param([("scammer", "怎么一直提不出来"), ("scammer", "要交多少")], True,
                 id="near-groups-in-two-messages"),
    pytest.param([("scammer", "怎么一直提不出来"), ("member", "什么"), ("scammer", "要交多少")],
                 True, id="other-member-between"),
    pytest.param([("member", "怎么一直提不出来"), ("scammer", "要交多少")], False,
                 id="different-senders-never-join"),
]


@pytest.mark.parametrize(("turns", "joined"), NEAR_SPLITS)
def test_near_rule_parts_sent_as_two_messages_are_joined(
    default_detector: chatguard.Detector, turns: list[tuple[str, str]], joined: bool
) -> None:
    """提不出来 | 要交多少: the withdrawal-fee rule needs both word groups; each message
    holds one. The guard joins the sender's two messages and records the rule, as it does
    for one word cut in two."""
    g = Guard(default_detector)
    for _, text in turns:  # neither message fires the rule alone
        fired = {f.rule_id for f in default_detector.check(text).findings}
        assert "withdrawal-fee-tax" not in fired
    feed_all(g, turns)
    assert ("withdrawal-fee-tax" in g.conversation("c1").rule_ids) == joined
    assert g.stats["split_words"] == int(joined)


def test_near_spans_junction_needs_word_groups_on_both_sides(
    default_detector: chatguard.Detector,
) -> None:
    d = default_detector
    both = "提不出来要交多少"
    assert d.near_spans_junction(both, 4)  # 提不出来 | 要交多少
    assert not d.near_spans_junction(both, 8)  # all of it before the cut: not a split
    assert not d.near_spans_junction(both, 0)  # all of it after the cut
    assert not d.near_spans_junction("今天天气不错明天见", 4)


def test_an_analysed_message_without_findings_has_the_plain_none_verdict(
    default_detector: chatguard.Detector,
) -> None:
    """The guard tells the two apart by identity; callers see equal verdicts."""
    d = default_detector
    analysed = d.check("要交多少")  # a near rule's word group: analysed, nothing found
    plain = d.check("今天天气不错")
    assert analysed == plain
    assert analysed.level == "none"
    assert not analysed.findings
    assert plain is d._none
    assert analysed is not d._none
    assert d.check_many(["要交多少", "今天天气不错"]) == [analysed, plain]


def test_split_tail_expires(guard: Guard) -> None:
    """Halves sent far apart are not one word."""
    guard.feed(msg("发个红", at=T0))
    guard.feed(msg("包", at=T0 + 3600))
    assert guard.stats["split_words"] == 0


# -- idempotence, ids, JSON -----------------------------------------------------------------
def test_redelivered_message_acts_once(guard: Guard, sink: MemorySink) -> None:
    """A message delivered twice (a backend retry) is counted and acted on once."""
    first = guard.feed(msg(CRITICAL, mid="dup"))
    again = guard.feed(msg(CRITICAL, mid="dup"))
    assert first
    assert again == []
    assert guard.stats["duplicates"] == 1


def test_event_ids_are_stable_across_guards(det: chatguard.Detector) -> None:
    """Replaying the same conversation into a fresh guard yields the same event ids."""
    turns = [("scammer", DIVERT), ("scammer", HOOK), ("scammer", CRITICAL)]
    ids = []
    for _ in range(2):
        sink = MemorySink()
        feed_all(Guard(det, sinks=[sink]), turns)
        ids.append([e.event_id for e in sink.events])
    assert ids[0] == ids[1]
    assert len(set(ids[0])) == len(ids[0])


def test_events_round_trip_through_json(guard: Guard, sink: MemorySink) -> None:
    """Every kind of event survives JSON and back unchanged."""
    feed_all(guard, [("scammer", DIVERT + " 13812345678"), ("scammer", HOOK),
                     ("scammer", CRITICAL)])
    assert {e.kind for e in sink.events} == set(EVENT_KINDS)
    for e in sink.events:
        again = Event.model_validate_json(e.to_json())
        assert again == e
        assert json.loads(e.to_json())["ruleset"] == guard.detector.fingerprint


def test_feed_many_gives_the_same_events_as_feed(det: chatguard.Detector) -> None:
    """The batch path (check_many + one state load) decides exactly like feed."""
    turns = [msg(t, at=T0 + i, mid=f"b{i}", conv=f"c{i % 2}")
             for i, t in enumerate([DIVERT, "你好", HOOK, "发个红", ASK, "包", CRITICAL,
                                    CRITICAL + "!"])]
    one, many = MemorySink(), MemorySink()
    g1, g2 = Guard(det, sinks=[one]), Guard(det, sinks=[many])
    for t in turns:
        g1.feed(t)
    g2.feed_many(turns)
    assert [e.event_id for e in one.events] == [e.event_id for e in many.events]
    assert g1.stats["messages"] == g2.stats["messages"] == len(turns)


# -- privacy --------------------------------------------------------------------------------
def test_hashed_ids_keep_raw_ids_out_of_state(det: chatguard.Detector) -> None:
    """With a hash key, the store holds keyed hashes only; events keep the platform's ids
    unless the policy asks for hashes there too."""
    store = MemoryStore()
    sink = MemorySink()
    g = Guard(det, sinks=[sink], store=store, hash_key=b"k" * 32)
    feed_all(g, [("scammer", DIVERT), ("scammer", CRITICAL)], conv="conv-42")
    blobs = b"".join(store.blobs())
    for raw in (b"scammer", b"member", b"conv-42"):
        assert raw not in blobs
    assert {e.target_id for e in sink.events if e.kind == "warning"} == {"member"}
    assert g.conversation("conv-42").suspect_id == g.hash_id("scammer")

    sink2 = MemorySink()
    g2 = Guard(det, sinks=[sink2], hash_key=b"k" * 32, policy={"hash_ids_in_events": True})
    feed_all(g2, [("scammer", DIVERT), ("scammer", CRITICAL)])
    assert {e.subject_id for e in sink2.events} == {g2.hash_id("scammer")}


@pytest.mark.parametrize("hash_key", [None, "secret"], ids=["plain-ids", "hashed-ids"])
def test_forget_erases_the_user_from_memory(det: chatguard.Detector, hash_key: str | None) -> None:
    """forget() removes every record, list entry, token and tail naming the user."""
    store = MemoryStore()
    g = Guard(det, store=store, hash_key=hash_key)
    for i, who in enumerate(["amy", "bea", "cat"]):
        g.feed(msg("亲爱的，这个平台稳赚不赔，我带你投资，先加微信聊", recipient=who,
                   conv=f"c-{who}", at=T0 + i))
        g.feed(msg(CRITICAL, recipient=who, conv=f"c-{who}", at=T0 + 10 + i))
    g.feed(msg(CRITICAL, sender="other", recipient="amy", conv="c-other", at=T0 + 20))
    removed = g.forget("scammer")
    assert removed >= 3
    needle = g.hash_id("scammer").encode()
    assert store._convs, "other members' conversations remain"
    assert all(needle not in blob for blob in store.blobs())
    assert g.hash_id("scammer") not in store._scripts
    assert all(e[0] != g.hash_id("scammer") for _, es in store._scripts.values() for e in es)
    assert all(k[1] != g.hash_id("scammer") for k in store._claims)
    assert g.conversation("c-amy").level == "none"
    assert g.conversation("c-other").level != "none"  # other members keep their state
    assert not g._fingerprints._d  # script fingerprints cached by digest: dropped too


# -- robustness -----------------------------------------------------------------------------
def test_failing_sink_never_breaks_feed(det: chatguard.Detector) -> None:
    """A sink that raises is isolated: feed returns the events, other sinks get them."""
    good = MemorySink()

    def broken(event: Event) -> None:
        raise RuntimeError("webhook down")

    g = Guard(det, sinks=[broken, good])
    events = g.feed(msg(CRITICAL))
    assert events
    assert good.events == events
    assert g.stats["sinks"]["failed"] >= 1


class _BrokenStore:
    """A store whose backend is gone: every call raises."""

    def __getattr__(self, name: str) -> Any:
        def fail(*args: object, **kwargs: object) -> Any:
            raise OSError(f"{name}: connection refused")
        return fail


def test_broken_store_keeps_the_chat_path_alive(
    det: chatguard.Detector, caplog: pytest.LogCaptureFixture
) -> None:
    """A store that raises is logged and counted; scanning goes on, message by message."""
    g = Guard(det, store=_BrokenStore())  # type: ignore[arg-type]
    with caplog.at_level("WARNING", logger="chatguard"):
        events = g.feed(msg(CRITICAL))
        g.feed_many([msg(ASK), msg("你好")])
    assert [e.kind for e in events][:1] == ["warning"]
    assert g.stats["store_errors"] >= 2
    assert g.stats["degraded"] is True
    assert "state store" in caplog.text


def test_stats_report_messages_events_sinks_and_store(guard: Guard) -> None:
    """stats has the counters an operator graphs."""
    feed_all(guard, [("scammer", "你好"), ("scammer", CRITICAL)])
    s = guard.stats
    assert s["messages"] == 2
    assert s["risky_messages"] == 1
    assert set(s["events"]) == set(EVENT_KINDS)
    assert s["events"]["warning"] == 1
    assert s["store"]["backend"] == "memory"
    assert s["degraded"] is False
    assert s["sinks"]["events"] == sum(s["events"].values())
    assert s["ruleset"] == guard.detector.fingerprint


# -- concurrency and hot reload -------------------------------------------------------------
def test_concurrent_feeding_loses_no_update(det: chatguard.Detector) -> None:
    """Threads feeding the same conversations never lose a risky message."""
    g = Guard(det, policy={"half_life_seconds": 365 * DAY})
    per_thread = 40

    def worker(t: int) -> None:
        for i in range(per_thread):
            g.feed(msg(HOOK, mid=f"t{t}-{i}", conv=f"c{i % 3}", at=T0 + i))

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    total = 0
    for c in range(3):
        rec, _ = g.store.load(f"c{c}")
        assert rec is not None
        total += sum(p.messages for p in rec.parties)
    assert total == 4 * per_thread
    assert g.stats["risky_messages"] == 4 * per_thread


def test_hot_reload_while_another_thread_feeds(det: chatguard.Detector,
                                               guard_pack: Path) -> None:
    """reload() swaps rules atomically: the feeder never fails and each event names one
    of the two rule sets; after the swap new messages use the new rules."""
    sink = MemorySink()
    g = Guard(det, sinks=[sink])
    other = chatguard.Detector.from_rules(guard_pack, Path(__file__).parent / "data" / "packs"
                                          / "minimal")
    assert other.fingerprint != det.fingerprint
    stop = threading.Event()
    errors: list[BaseException] = []
    fed = itertools.count()

    def feeder() -> None:
        try:
            while not stop.is_set():
                i = next(fed)
                g.feed(msg(CRITICAL, conv=f"r{i}", at=T0 + i))
        except BaseException as exc:  # pragma: no cover - the assertion reports it
            errors.append(exc)

    th = threading.Thread(target=feeder)
    th.start()
    for k in range(20):
        g.reload(other if k % 2 == 0 else det)
    g.reload(other)
    stop.set()
    th.join(timeout=60)
    assert not errors
    assert {e.ruleset for e in sink.events} <= {det.fingerprint, other.fingerprint}
    assert g.feed(msg(CRITICAL, conv="after"))[0].ruleset == other.fingerprint
    assert g.stats["reloads"] == 21


# -- policy model -------------------------------------------------------------------------
POLICY_ERRORS = [
    pytest.param({"half_lif_seconds": 10}, ConfigError, id="typo-in-field"),
    pytest.param({"half_life_seconds": 0}, ConfigError, id="zero-half-life"),
    pytest.param({"warning_template": "warning.money"}, ConfigError, id="template-without-step"),
    pytest.param({"warning": {"min_level": "severe", "min_score": 0.4}}, ConfigError,
                 id="unknown-level"),
    pytest.param({"schema_version": 2}, SchemaVersionError, id="future-schema"),
]


@pytest.mark.parametrize(("data", "error"), POLICY_ERRORS)
def test_policy_rejects_bad_config(data: dict[str, Any], error: type[Exception]) -> None:
    """Policy validation fails loudly and names the field."""
    with pytest.raises(error):
        Policy.parse(data)


@pytest.mark.parametrize("suffix", [".toml", ".json"], ids=["toml", "json"])
def test_policy_from_file(tmp_path: Path, suffix: str) -> None:
    """A policy file in TOML or JSON loads into the same model."""
    path = tmp_path / f"policy{suffix}"
    if suffix == ".toml":
        path.write_text("schema_version = 1\nhalf_life_seconds = 60\n[warning]\n"
                        "min_level = 'high'\nmin_score = 0.7\n", encoding="utf-8")
    else:
        path.write_text(json.dumps({"schema_version": 1, "half_life_seconds": 60,
                                    "warning": {"min_level": "high", "min_score": 0.7}}),
                        encoding="utf-8")
    p = Policy.from_file(path)
    assert p.half_life_seconds == 60
    assert p.warning.min_level == "high"
    assert Policy().model_copy(update={"half_life_seconds": 60}).warning.min_level == "medium"


def test_policy_file_errors_name_the_file(tmp_path: Path) -> None:
    """A broken policy file is a ConfigError naming the file."""
    path = tmp_path / "p.toml"
    path.write_text("half_life_seconds = 'soon'\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"p\.toml"):
        Policy.from_file(path)


# -- internals pinned -----------------------------------------------------------------------
def test_guard_combine_matches_the_scorer(det: chatguard.Detector) -> None:
    """The guard's per-conversation arithmetic equals the detector's Scorer (it is a
    numpy-free copy for tiny inputs)."""
    from chatguard.guard import _CAT_INDEX, _Engine

    bundled = chatguard.Detector.default()
    rng = random.Random(5)
    for d in (det, bundled):
        engine = _Engine(d)
        scorer = Scorer(d.ruleset.scoring)
        cats = list(_CAT_INDEX)
        for _ in range(200):
            chosen = rng.sample(cats, rng.randint(1, 5))
            weights = [round(rng.random(), 3) for _ in chosen]
            expected, level, _ = scorer.score_many([(chosen, weights)])[0]
            got = engine.combine({_CAT_INDEX[c]: w for c, w in zip(chosen, weights,
                                                                    strict=True)})
            assert got == pytest.approx(expected, abs=2e-6)  # log1p vs product rounding
            assert engine.level(got) == chatguard.Level[level.upper()]


def test_records_and_script_entries_are_plain_values() -> None:
    """State records are immutable values (safe to share between threads)."""
    rec = ConversationRecord(conversation="c", updated=T0)
    with pytest.raises(AttributeError):
        rec.warnings = 3  # type: ignore[misc]
    assert ScriptEntry("r", 1, T0) == ScriptEntry("r", 1, T0)


# -- the benchmark cannot rot ---------------------------------------------------------------
def test_benchmark_smoke_run(redis_server: str, capsys: pytest.CaptureFixture[str]) -> None:
    """benchmarks/bench_guard.py runs end to end on a tiny corpus (against the test Redis)."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_guard.py"
    spec = importlib.util.spec_from_file_location("bench_guard", path)
    assert spec is not None
    assert spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["--quick", "--mixes", "dev", "--redis-url", redis_server,
                       "--redis-messages", "60"]) == 0
    out = capsys.readouterr().out
    assert "Guard.feed, MemoryStore" in out
    assert re.search(r"degraded during run\s+False", out)
