"""Conversation-level quality of the guard with the bundled rules and the default policy.

Runs every labeled conversation of ``tests/data/dev_conversations.jsonl`` through a fresh
guard and measures what the issue asks for: the share of scam conversations that produce a
warning for the victim (or an SMS alert for them) or a blacklist suggestion for the
scammer, the share that do so no later than the first risky turn (the first money request
or platform push), and the share of benign conversations that produce any event at all.
The figures are printed (``pytest -s``) and pinned with the issue's thresholds.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import chatguard
from chatguard import Guard, Policy
from chatguard.sinks import MemorySink

DATA = Path(__file__).parent / "data" / "dev_conversations.jsonl"
T0 = 1_750_000_000.0
STEP = 90.0  # seconds between turns


@dataclass
class Outcome:
    """What the guard did with one labeled conversation."""

    row: dict[str, Any]
    events: list[tuple[int, chatguard.Event]] = field(default_factory=list)

    @property
    def scammer(self) -> str:
        return f"{self.row['id']}:{self.row['scammer']}"

    @property
    def victim(self) -> str:
        other = "b" if self.row["scammer"] == "a" else "a"
        return f"{self.row['id']}:{other}"

    def protective_turns(self) -> list[int]:
        """Turns at which the victim was warned / alerted or the scammer reported."""
        return [i for i, e in self.events
                if (e.kind in ("warning", "sms_alert") and e.target_id == self.victim)
                or (e.kind == "blacklist_suggestion" and e.subject_id == self.scammer)]

    def misdirected(self) -> bool:
        """A reminder or SMS that went to the scammer."""
        return any(e.kind in ("warning", "sms_alert") and e.target_id == self.scammer
                   for _, e in self.events)


def run_conversation(det: chatguard.Detector, row: dict[str, Any],
                     policy: Policy | None = None) -> Outcome:
    """Feed one labeled conversation turn by turn into a fresh guard."""
    sink = MemorySink()
    guard = Guard(det, sinks=[sink], policy=policy)
    out = Outcome(row)
    cid = row["id"]
    for i, turn in enumerate(row["turns"]):
        me = turn["sender"]
        other = "b" if me == "a" else "a"
        events = guard.feed({
            "message_id": f"{cid}-{i}", "conversation_id": cid,
            "sender_id": f"{cid}:{me}", "recipient_id": f"{cid}:{other}",
            "text": turn["text"], "sent_at": T0 + i * STEP,
        })
        out.events.extend((i, e) for e in events)
    guard.close()
    return out


@pytest.fixture(scope="module")
def outcomes(default_detector: chatguard.Detector) -> list[Outcome]:
    """Every dev conversation through the guard (default policy)."""
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines()
            if line.strip()]
    assert rows, "the dev conversation set is empty"
    return [run_conversation(default_detector, r) for r in rows]


def figures(outcomes: list[Outcome]) -> dict[str, Any]:
    """The issue's three figures, plus diagnostics."""
    scams = [o for o in outcomes if o.row["label"] == 1]
    benign = [o for o in outcomes if o.row["label"] == 0]
    caught = [o for o in scams if o.protective_turns()]
    timely = [o for o in caught if min(o.protective_turns()) <= o.row["first_risky_turn"]]
    noisy = [o for o in benign if o.events]
    return {
        "scams": len(scams),
        "benign": len(benign),
        "caught": len(caught) / len(scams),
        "timely": len(timely) / len(scams),
        "benign_with_events": len(noisy) / len(benign),
        "misdirected": sum(o.misdirected() for o in scams) / len(scams),
        "missed": sorted(f"{o.row['id']} ({o.row['category']}, {o.row['disguise']})"
                         for o in scams if not o.protective_turns()),
        "noisy": sorted(f"{o.row['id']} ({o.row['category']})" for o in noisy),
        "events": Counter(e.kind for o in outcomes for _, e in o.events),
    }


def test_guard_quality_on_the_dev_conversations(outcomes: list[Outcome]) -> None:
    """>= 90% of scams reach the victim or a blacklist, >= 50% by the first risky turn,
    <= 5% of benign conversations produce any event."""
    f = figures(outcomes)
    print(
        f"\nguard on {f['scams']} scam / {f['benign']} benign dev conversations:"
        f"\n  scams with a victim warning or blacklist suggestion: {f['caught']:.1%}"
        f"\n  ... no later than the first risky turn:               {f['timely']:.1%}"
        f"\n  benign conversations with any event:                  "
        f"{f['benign_with_events']:.1%}"
        f"\n  scams where a reminder went to the scammer:           {f['misdirected']:.1%}"
        f"\n  events: {dict(f['events'])}"
        f"\n  missed: {', '.join(f['missed']) or '-'}"
        f"\n  benign with events: {', '.join(f['noisy']) or '-'}"
    )
    assert f["caught"] >= 0.90
    assert f["timely"] >= 0.50
    assert f["benign_with_events"] <= 0.05


def test_no_event_ever_warns_the_member_who_pushes(outcomes: list[Outcome]) -> None:
    """Reminders and SMS go to potential victims: at most a rare misattribution."""
    f = figures(outcomes)
    assert f["misdirected"] <= 0.05


def test_sms_alerts_carry_no_chat_content(outcomes: list[Outcome]) -> None:
    """An SMS alert is a template key and ids: no snippets, no text from the chat."""
    for o in outcomes:
        texts = [t["text"] for t in o.row["turns"]]
        for _, e in o.events:
            if e.kind != "sms_alert":
                continue
            assert e.evidence.snippets == []
            assert e.template
            payload = e.to_json()
            assert not any(len(t) >= 4 and t in payload for t in texts)


def test_every_event_is_explained(outcomes: list[Outcome]) -> None:
    """Warnings and blacklist suggestions cite rule ids and the messages behind them."""
    seen = 0
    for o in outcomes:
        for _, e in o.events:
            if e.kind == "sms_alert":
                continue
            seen += 1
            assert e.rule_ids
            assert e.evidence.message_ids
            assert e.ruleset
            assert e.level != "none"
    assert seen > 0


@pytest.mark.parametrize(
    ("text", "suspect"),
    [
        pytest.param("你的视频我都录了", "s", id="sextortion-threat-is-the-senders"),
        pytest.param("你的私密视频在我手上", "s", id="sextortion-media-in-hand"),
        pytest.param("提现要先交保证金才能到账，我该怎么办", None,
                     id="withdrawal-report-is-a-victims"),
    ],
)
def test_an_opening_blocker_is_a_report_only_when_a_victim_could_make_it(
    text: str, suspect: str | None,
) -> None:
    """A member who pushed nothing and says withdrawals need a fee is reporting what a
    platform told them; one who says "I recorded your video" is making the threat."""
    det = chatguard.Detector.default()
    assert chatguard.Level[det.check(text).level.upper()] >= chatguard.Level.HIGH
    g = Guard(det, sinks=[MemorySink()])
    g.feed({"message_id": "m1", "conversation_id": "c", "sender_id": "s",
            "recipient_id": "r", "text": text, "sent_at": T0})
    view = g.conversation("c")
    assert view.suspect_id == suspect
    assert (view.risk > 0.5) is (suspect is not None)
