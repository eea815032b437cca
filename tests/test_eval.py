"""``chatguard eval`` and the labeled-data loaders, on small fixtures and the shared sets.

The fixtures under ``tests/data/eval/`` were checked by hand against the bundled pack: of
18 scam messages the bundled pack flags 15 (two gift requests and a weak fake-service line
stay below medium) and one of 18 benign messages (a member giving their own phone number);
``pack-no-red-packet`` disables the red-packet and gift rules, so it loses three red-packet
messages and the red-packet conversation. The figures asserted below follow from that.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import chatguard
from chatguard import evaluate as evaluate_module
from chatguard import labeled
from chatguard.errors import InputError
from chatguard.evaluate import (
    ConversationScores,
    MessageScores,
    RuleSetRef,
    evaluate,
    sample,
)
from chatguard.report import render_html

TESTS = Path(__file__).parent
ROOT = TESTS.parent
EVAL = TESTS / "data" / "eval"
PACK_B = EVAL / "pack-no-red-packet"
SHARED = Path(__file__).parents[2] / "shared" / "data"


@pytest.fixture(scope="module")
def pack_b() -> chatguard.Detector:
    return chatguard.Detector.from_rules(PACK_B)


@pytest.fixture(scope="module")
def side_by_side(default_detector: chatguard.Detector,
                 pack_b: chatguard.Detector) -> Any:
    sets = labeled.load(EVAL / "messages.jsonl") + labeled.load(EVAL / "conversations.jsonl")
    rulesets = [
        (RuleSetRef("default", (), default_detector.fingerprint), default_detector),
        (RuleSetRef("no-red-packet", (str(PACK_B),), pack_b.fingerprint), pack_b),
    ]
    return evaluate(rulesets, sets, top=5)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "chatguard", "eval", *args],
                          check=False, capture_output=True, text=True, cwd=ROOT, timeout=120)


# ---------------------------------------------------------------------------------------
# loaders
# ---------------------------------------------------------------------------------------
def test_message_rows_keep_their_line_and_accept_label_words() -> None:
    (s,) = labeled.load(EVAL / "messages.jsonl")
    assert s.name == "messages"
    assert not s.conversations
    assert len(s.messages) == 36
    first = s.messages[0]
    assert (first.id, first.label, first.category, first.line) == ("s01", 1, "red_packet", 1)
    assert first.source == str(EVAL / "messages.jsonl")
    by_id = {m.id: m for m in s.messages}
    assert by_id["s02"].label == 1
    assert by_id["s05"].label == 1
    assert by_id["b02"].label == 0
    assert by_id["b04"].label == 0
    assert by_id["b18"].line == 36


def test_conversation_rows() -> None:
    (s,) = labeled.load(EVAL / "conversations.jsonl")
    assert [c.id for c in s.conversations] == ["cs1", "cs2", "cs3", "cb1", "cb2", "cb3"]
    assert [c.label for c in s.conversations] == [1, 1, 1, 0, 0, 0]
    cs2 = s.conversations[1]
    assert cs2.line == 2
    assert cs2.category == "red_packet"
    assert cs2.turns[4] == labeled.Turn("x", "宝贝，给我发个520的红包证明你爱我")


def test_turns_without_senders_alternate(tmp_path: Path) -> None:
    rows = tmp_path / "c.jsonl"
    rows.write_text('{"turns": [{"text": "在吗"}, {"text": "在"}, {"text": "借我点钱"}], '
                    '"label": 1}\n', encoding="utf-8")
    (s,) = labeled.load(rows)
    assert [t.sender for t in s.conversations[0].turns] == ["a", "b", "a"]
    assert s.conversations[0].category == "scam"
    assert s.conversations[0].id == "c:1"


def test_csv_and_tsv_are_sniffed() -> None:
    (c,) = labeled.load(EVAL / "messages.csv")
    assert [(m.label, m.category, m.line) for m in c.messages] == [
        (1, "diversion", 2), (0, "chitchat", 3)]
    (t,) = labeled.load(EVAL / "messages.tsv")
    assert [(m.label, m.text) for m in t.messages] == [
        (1, "宝贝，给我发个520的红包证明你爱我"), (0, "你平时喜欢看什么电影")]


def test_format_can_be_forced_with_a_suffix(tmp_path: Path) -> None:
    rows = tmp_path / "rows.txt"
    rows.write_text('\ufeff{"text": "周末见", "label": "ham"}\r\n', encoding="utf-8")
    (s,) = labeled.load(f"{rows}:jsonl")
    assert [(m.text, m.label, m.line) for m in s.messages] == [("周末见", 0, 1)]
    assert labeled.load(rows)[0].messages == s.messages  # sniffed from the first row too


def test_folder_of_data_files_and_parts(tmp_path: Path) -> None:
    for name in ("messages.jsonl", "conversations.jsonl", "messages.tsv"):
        (tmp_path / name).write_bytes((EVAL / name).read_bytes())
    (tmp_path / "README.md").write_text("not data", encoding="utf-8")
    sets = labeled.load(tmp_path)
    assert [(s.name.split("/")[1], len(s)) for s in sets] == [
        ("conversations", 6), ("messages", 36), ("messages", 2)]
    (s,) = labeled.load(f"{tmp_path}:conversations")
    assert s.name.endswith("/conversations")
    assert len(s.conversations) == 6
    with pytest.raises(InputError, match="no data file named 'nope'"):
        labeled.load(f"{tmp_path}:nope")
    # a folder holding a malformed file names the file and line
    with pytest.raises(InputError, match=r"bad_json\.jsonl:3"):
        labeled.load(EVAL)


@pytest.mark.parametrize(("name", "line", "reason"), [
    ("bad_label.jsonl", 3, "label 'maybe'"),
    ("bad_json.jsonl", 3, "invalid JSON"),
])
def test_malformed_rows_name_file_and_line(name: str, line: int, reason: str) -> None:
    with pytest.raises(InputError) as err:
        labeled.load(EVAL / name)
    assert err.value.line == line
    assert f"{EVAL / name}:{line}: " in str(err.value)
    assert reason in str(err.value)


@pytest.mark.parametrize(("content", "reason"), [
    (b'{"text": "hi"}\n', "missing 'label'"),
    (b'{"turns": "no", "label": 1}\n', "'turns' must be a list"),
    (b'{"turns": [{"sender": "a"}], "label": 1}\n', "turn 0 has no text"),
    (b'[1, 2]\n', "expected a JSON object"),
    (b'{"text": 5, "label": 1}\n', "missing 'text'"),
    (b'{"text": "ok", "label": 1}\n\xff\xfe\n', "invalid UTF-8"),
])
def test_more_malformed_rows(tmp_path: Path, content: bytes, reason: str) -> None:
    p = tmp_path / "rows.jsonl"
    p.write_bytes(content)
    with pytest.raises(InputError, match=reason):
        labeled.load(p)


def test_missing_paths_and_empty_folders(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        labeled.load(tmp_path / "absent.jsonl")
    with pytest.raises(InputError, match="no labeled data here"):
        labeled.load(tmp_path)
    (tmp_path / "x.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(InputError, match="header needs a text column"):
        labeled.load(tmp_path / "x.csv")


# ---------------------------------------------------------------------------------------
# evaluation
# ---------------------------------------------------------------------------------------
def test_messages_side_by_side(side_by_side: Any) -> None:
    msgs = side_by_side.sets[0]
    assert (msgs.unit, msgs.n, msgs.positives) == ("messages", 36, 18)
    a, b = msgs.results
    assert isinstance(a, MessageScores)
    assert isinstance(b, MessageScores)
    assert (a.counts.tp, a.counts.fn, a.counts.fp, a.counts.tn) == (15, 3, 1, 17)
    assert (b.counts.tp, b.counts.fn, b.counts.fp, b.counts.tn) == (12, 6, 1, 17)
    assert a.counts.precision == pytest.approx(15 / 16)
    assert a.counts.recall == pytest.approx(15 / 18)
    assert a.counts.fpr == pytest.approx(1 / 18)
    red_a, red_b = a.per_category["red_packet"], b.per_category["red_packet"]
    assert (red_a.n, red_a.hit, red_b.hit) == (6, 4, 1)
    assert a.per_category["investment"].hit == b.per_category["investment"].hit == 2
    assert a.attributed["contact_id"] == [1, 0]  # the benign phone number
    missed = {c.conversation_id for c in a.missed}
    assert missed == {"s05", "s06", "s18"}
    assert [c.conversation_id for c in a.false_alarms] == ["b16"]


def test_conversations_side_by_side(side_by_side: Any) -> None:
    conv = side_by_side.sets[1]
    assert (conv.unit, conv.n, conv.positives) == ("conversations", 6, 3)
    a, b = conv.results
    assert isinstance(a, ConversationScores)
    assert isinstance(b, ConversationScores)
    assert (a.counts.recall, a.counts.fpr) == (1.0, 0.0)
    assert b.counts.recall == pytest.approx(2 / 3)
    assert [c.conversation_id for c in b.missed] == ["cs2"]
    # default: cs1 warned at turn 4, money asked at turn 8; cs2 and cs3 at the money turn
    assert a.timing() == {"with_money_request": 3, "no_money_request": 0,
                          "before": 0.3333, "at": 0.6667,
                          "after": 0.0, "median_turns_before": 0}
    assert sorted(a.leads) == [0, 0, 4]
    assert b.timing()["median_turns_before"] == 2.0
    assert a.events["blacklist_suggestion"] == 3
    assert a.turns == 33


def test_table_json_and_report(side_by_side: Any) -> None:
    text = side_by_side.render()
    assert "default" in text
    assert "no-red-packet" in text
    recall_row = next(line for line in text.splitlines() if " recall " in line)
    assert "83.3%" in recall_row
    assert "66.7%" in recall_row
    d = json.loads(json.dumps(side_by_side.to_dict()))
    assert d["threshold"] == "medium"
    assert [r["name"] for r in d["rulesets"]] == ["default", "no-red-packet"]
    assert d["sets"][0]["rulesets"][1]["recall"] == pytest.approx(0.6667)
    assert d["sets"][1]["rulesets"][1]["detection_rate"] == pytest.approx(0.6667)
    report = side_by_side.to_report()
    assert len(report.curves) == 4
    assert len(report.histograms) == 4
    assert report.curves[0].labels == side_by_side.sets[0].labels
    assert report.tables[0].title == "Rule sets side by side"
    shown = {c.conversation_id for c in report.conversations}
    assert {"s05", "b16", "cs2"} <= shown
    b16 = next(c for c in report.conversations if c.conversation_id == "b16")
    assert b16.messages[0].spans
    assert b16.messages[0].spans[0].category == "contact_id"
    page = render_html(report)
    assert "13812345678" not in page  # masked
    assert "no-red-packet" in page


def test_figures_do_not_depend_on_pieces_or_workers(
        side_by_side: Any, default_detector: chatguard.Detector, pack_b: chatguard.Detector,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Cut into pieces of 5 turns and run on two workers, the figures stay the same."""
    monkeypatch.setattr(evaluate_module, "_PIECE", 5)
    sets = labeled.load(EVAL / "messages.jsonl") + labeled.load(EVAL / "conversations.jsonl")
    rulesets = [
        (RuleSetRef("default", (), default_detector.fingerprint), default_detector),
        (RuleSetRef("no-red-packet", (str(PACK_B),), pack_b.fingerprint), pack_b),
    ]
    assert len(evaluate_module._pieces(("x", "messages", sets[0].messages))) == 8
    pieces = evaluate(rulesets, sets, top=5, workers=2)

    def stable(d: dict[str, Any]) -> dict[str, Any]:
        for s in d["sets"]:
            for r in s["rulesets"]:
                for k in ("seconds", "messages_per_second", "turns_per_second"):
                    r.pop(k, None)
        d.pop("seconds")
        return d

    assert stable(pieces.to_dict()) == stable(side_by_side.to_dict())
    assert pieces.to_report().conversations == side_by_side.to_report().conversations


def test_threshold_and_sample(default_detector: chatguard.Detector) -> None:
    (s,) = labeled.load(EVAL / "messages.jsonl")
    ref = RuleSetRef("default", (), default_detector.fingerprint)
    high = evaluate([(ref, default_detector)], [s], threshold="high").sets[0].results[0]
    assert isinstance(high, MessageScores)
    assert high.counts.tp == 12
    assert high.counts.fp == 0
    small = sample(s, 10)
    assert len(small.messages) == 10
    assert [m.line for m in small.messages] == sorted(m.line for m in small.messages)
    assert sample(s, 10) == small  # seeded


# ---------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------
def test_cli_table_and_json() -> None:
    args = ("--data", str(EVAL / "messages.jsonl"), "--data", str(EVAL / "conversations.jsonl"),
            "--rules", "default", "--rules", str(PACK_B))
    r = run_cli(*args)
    assert r.returncode == 0, r.stderr
    assert "detection rate" in r.stdout
    assert "messages/s" in r.stdout
    assert str(PACK_B) in r.stdout
    j = run_cli(*args, "--json", "--workers", "2")
    assert j.returncode == 0, j.stderr
    d = json.loads(j.stdout)
    assert [s["rulesets"][0]["recall"] for s in d["sets"]] == [pytest.approx(0.8333), 1.0]
    assert [s["rulesets"][1]["recall"] for s in d["sets"]] == [pytest.approx(0.6667),
                                                                 pytest.approx(0.6667)]


def test_cli_report(tmp_path: Path) -> None:
    out = tmp_path / "eval.html"
    r = run_cli("--data", str(EVAL / "messages.jsonl"), "--report", str(out))
    assert r.returncode == 0, r.stderr
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert "Missed scams and false alarms" in page


@pytest.mark.parametrize(("args", "message"), [
    (("--data", str(EVAL / "bad_label.jsonl")), f"{EVAL / 'bad_label.jsonl'}:3: label"),
    (("--data", str(EVAL / "bad_json.jsonl")), f"{EVAL / 'bad_json.jsonl'}:3: invalid JSON"),
    (("--data", "no/such/file.jsonl"), "no such file"),
    (("--data", str(EVAL / "messages.jsonl"), "--rules", "no/such/pack"), "no/such/pack"),
    (("--data", str(EVAL / "messages.jsonl"), "--limit", "0"), "--limit"),
])
def test_cli_errors_exit_2_without_traceback(args: tuple[str, ...], message: str) -> None:
    r = run_cli(*args)
    assert r.returncode == 2
    assert r.stderr.startswith("chatguard: error: ")
    assert message in r.stderr
    assert "Traceback" not in r.stderr


def test_cli_empty_data_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n", encoding="utf-8")
    r = run_cli("--data", str(empty))
    assert r.returncode == 2
    assert "no labeled items" in r.stderr


def test_cli_usage_error() -> None:
    r = run_cli()
    assert r.returncode == 2
    assert "--data" in r.stderr


# ---------------------------------------------------------------------------------------
# the shared public sets (a few hundred rows each)
# ---------------------------------------------------------------------------------------
def shared(sub: str) -> Path:
    path = SHARED / sub
    if not path.is_dir():
        pytest.skip(f"{path} is absent (the shared labeled data sets live beside the repo)")
    return path


def test_golfxiao_adapter() -> None:
    root = shared("golfxiao_anti_fraud")
    sets = {s.name: s for s in labeled.load(root, limit=300)}
    assert list(sets) == ["golfxiao_anti_fraud/dialogues", "golfxiao_anti_fraud/test0902",
                          "golfxiao_anti_fraud/eval0902", "golfxiao_anti_fraud/utterances"]
    dialogues = sets["golfxiao_anti_fraud/dialogues"].conversations
    assert len(dialogues) == 300
    assert all(c.turns for c in dialogues)
    assert dialogues[0].category == "normal_meeting_asr"
    assert dialogues[0].label == 0
    assert dialogues[0].turns[0].sender == "发言人1"
    seg = sets["golfxiao_anti_fraud/test0902"].conversations
    assert {c.label for c in seg} == {0, 1}
    assert {c.category for c in seg} == {"fraud", "normal"}
    assert seg[0].turns[0].sender == "受害人李某"
    utt = sets["golfxiao_anti_fraud/utterances"].messages
    assert len(utt) == 300
    assert utt[0].id.endswith("#0")
    assert utt[0].line == 2
    (only,) = labeled.load(f"{root}:utterances", limit=5)
    assert only.name == "golfxiao_anti_fraud/utterances"


def test_teleantifraud_adapter() -> None:
    (s,) = labeled.load(shared("teleantifraud_dialogues"), limit=300)
    assert s.name == "teleantifraud_dialogues/dialogues"
    assert len(s.conversations) == 300
    assert all(len(c.turns) >= 2 for c in s.conversations)
    assert s.conversations[0].category == "订餐服务"
    assert {t.sender for c in s.conversations for t in c.turns} >= {"user"}


def test_sms_spam_adapter() -> None:
    (s,) = labeled.load(shared("sms_spam_collection"), limit=300)
    assert s.name == "sms_spam_collection/messages"
    assert len(s.messages) == 300
    assert {m.label for m in s.messages} == {0, 1}
    assert s.messages[0].category == "ham"
    assert s.messages[0].line == 1


def test_eval_on_shared_samples(default_detector: chatguard.Detector) -> None:
    root = shared("")
    sets = [sample(s, 200) for s in labeled.load(root / "teleantifraud_dialogues")]
    ref = RuleSetRef("default", (), default_detector.fingerprint)
    res = evaluate([(ref, default_detector)], sets).sets[0].results[0]
    assert isinstance(res, ConversationScores)
    assert res.counts.tp + res.counts.fn > 100  # both labels in a seeded sample
    assert res.counts.recall is not None
    assert res.counts.recall > 0.2
    assert res.counts.fpr is not None
    assert res.counts.fpr < 0.2


def test_bench_eval_runs_on_a_small_sample(capsys: pytest.CaptureFixture[str]) -> None:
    """The benchmark's measuring code on 20 items per shared set (figures equal on 1 and
    2 workers, or it exits 1)."""
    data = shared("")
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import bench_eval
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    assert bench_eval.main(["--data", str(data), "--limit", "20", "--workers", "2",
                            "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["items"] == 120
    assert out["same_figures_1_vs_n_workers"] is True
