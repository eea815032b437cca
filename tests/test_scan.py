"""``chatguard scan`` and its per-batch core (``chatguard.batch``).

The fixture ``tests/data/scan_chats.jsonl`` holds twelve dev conversations (six scams:
gambling, transfer, pig-butchering, red packet, money mule, credit loan; six benign ones,
among them news and a scam warning) as message rows, interleaved in time the way a day's
log is: 131 rows, turns 90 s apart. Scans run in-process with the session's detector,
except a few real ``python -m chatguard scan`` subprocesses; 2-worker runs really fork.
"""

from __future__ import annotations

import gzip
import io
import json
import random
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

import chatguard
from chatguard import ChatMessage, Guard
from chatguard.batch import (
    RESULT_FIELDS,
    BatchScanner,
    _message,
    result_json,
    validate_row,
)
from chatguard.errors import ChatguardError, ConfigError
from chatguard.events import Event
from chatguard.scan import ScanOptions, ScanSummary, _Progress, run_scan
from chatguard.state.memory import MemoryStore

from .conftest import DATA, ROOT

FIXTURE = DATA / "scan_chats.jsonl"
SCAMS = {"c002", "c004", "c005", "c009", "c010", "c014"}
T0 = 1_764_288_000


@pytest.fixture(scope="module")
def det(default_detector: chatguard.Detector) -> chatguard.Detector:
    return default_detector


def fixture_rows() -> list[dict[str, Any]]:
    return [json.loads(line) for line in FIXTURE.read_text(encoding="utf-8").splitlines()]


def write_jsonl(path: Path, rows: Sequence[Any]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                    encoding="utf-8")
    return path


def msg(i: int, text: str = "你好", conv: str = "c1", **over: Any) -> dict[str, Any]:
    row = {"message_id": f"m{i}", "conversation_id": conv, "sender_id": "u1",
           "recipient_id": "u2", "text": text, "sent_at": T0 + 60 * i}
    row.update(over)
    return row


def scan(det: chatguard.Detector, tmp: Path, *inputs: str | Path, out: str = "out",
         **opts: Any) -> tuple[ScanSummary, Path]:
    folder = tmp / out
    options = ScanOptions(inputs=tuple(str(i) for i in inputs), results=folder / "results.jsonl",
                          events=folder / "events.jsonl", quiet=True, **opts)
    return run_scan(options, detector=det), folder


def read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def problems(folder: Path) -> list[dict[str, Any]]:
    return read(folder / "results.errors.jsonl")


# ---------------------------------------------------------------------------------------
# what a scan writes
# ---------------------------------------------------------------------------------------
def test_one_results_row_per_message_with_the_documented_fields(det, tmp_path) -> None:
    """Every row scanned once, with exactly the documented result fields; scams surface."""
    summary, out = scan(det, tmp_path, FIXTURE)
    results = read(out / "results.jsonl")
    assert summary.exit_code == 0
    assert summary.failed_rows == 0
    assert summary.warnings == 0
    assert len(results) == summary.messages == summary.rows == 131
    assert summary.conversations == 12
    assert sorted(r["message_id"] for r in results) == sorted(
        r["message_id"] for r in fixture_rows())
    for r in results:
        assert tuple(r) == RESULT_FIELDS
        for f in r["findings"]:
            assert set(f) == {"rule_id", "category", "start", "end", "matched"}
    worst: dict[str, str] = {}
    order = ("none", "low", "medium", "high", "critical")
    for r in results:
        c = r["conversation_id"]
        worst[c] = max(worst.get(c, "none"), r["conversation_level"], key=order.index)
    assert all(order.index(worst[c]) >= order.index("high") for c in SCAMS)
    flagged = {e["conversation_id"] for e in read(out / "events.jsonl")
               if e["kind"] == "blacklist_suggestion"}
    assert flagged == SCAMS
    assert summary.events["warning"] >= len(SCAMS)
    assert sum(summary.levels.values()) == 131
    assert summary.top_rules
    assert summary.top_rules[0][1] >= summary.top_rules[-1][1]


def test_events_and_scores_are_the_guards_own(det, tmp_path) -> None:
    """With one shard, the scan writes exactly what one Guard says when fed the same
    conversations in sent_at order: same events, same per-message conversation level."""
    _summary, out = scan(det, tmp_path, FIXTURE, shards=1)
    rows = sorted(fixture_rows(), key=lambda r: (r["conversation_id"], r["sent_at"]))
    guard = Guard(det)
    expected_events: list[str] = []
    expected_levels: list[tuple[str, str]] = []
    for r in rows:
        expected_events += [e.model_dump_json() for e in guard.feed(r)]
        view = guard.conversation(r["conversation_id"])
        expected_levels.append((r["message_id"], view.level))
    got = (out / "events.jsonl").read_text(encoding="utf-8").splitlines()
    assert got == expected_events
    assert [Event.model_validate_json(line).event_id for line in got]
    results = read(out / "results.jsonl")
    assert [(r["message_id"], r["conversation_level"]) for r in results] == expected_levels
    by_id = {r["message_id"]: r for r in results}
    for r in rows[:40]:
        v = det.check(r["text"])
        assert (by_id[r["message_id"]]["score"], by_id[r["message_id"]]["level"]) == (
            v.score, v.level)


def test_matched_text_is_masked_and_no_raw_identifier_leaves(det, tmp_path) -> None:
    """Findings carry masked matched text; phone numbers never reach results or events."""
    rows = [msg(0, "你好呀"),
            msg(1, "加我微信吧，电话13812345678，带你投资稳赚不赔，先转账五千"),
            msg(2, "银行卡号6222021234567890123发你了，转账到这里")]
    summary, out = scan(det, tmp_path, write_jsonl(tmp_path / "in.jsonl", rows))
    text = (out / "results.jsonl").read_text(encoding="utf-8")
    events = (out / "events.jsonl").read_text(encoding="utf-8")
    assert "13812345678" not in text + events
    assert "6222021234567890123" not in text + events
    assert "138****5678" in text
    assert summary.messages == 3


def test_result_json_is_json_and_survives_lone_surrogates() -> None:
    """The hand-formatted results line parses as the same JSON as json.dumps would give."""
    r = {"message_id": 'm"1\n', "conversation_id": "会话", "score": 0.5, "level": "medium",
         "conversation_score": 0.25, "conversation_level": "low",
         "findings": [{"rule_id": "a", "category": "b", "start": 0, "end": 2,
                       "matched": "转账\\"}]}
    assert json.loads(result_json(r)) == r
    r["findings"][0]["matched"] = "转\ud800"
    assert json.loads(result_json(r))["findings"][0]["matched"] == "转\ud800"


# ---------------------------------------------------------------------------------------
# order, determinism, workers, memory
# ---------------------------------------------------------------------------------------
def test_output_is_the_same_for_1_and_2_workers_and_any_row_order(det, tmp_path) -> None:
    """Byte-identical results and events for 1 and 2 (forked) workers, for shuffled rows,
    and when the rows are spilled to disk in many small sorted runs."""
    rows = fixture_rows()
    shuffled = rows[:]
    random.Random(7).shuffle(shuffled)
    shuffled_file = write_jsonl(tmp_path / "shuffled.jsonl", shuffled)
    _s1, one = scan(det, tmp_path, FIXTURE, out="one", workers=1)
    s2, two = scan(det, tmp_path, FIXTURE, out="two", workers=2)
    s3, mixed = scan(det, tmp_path, shuffled_file, out="mixed", workers=2, spill_bytes=4000)
    assert s2.workers == 2
    # one shard, one run per row: runs are merged in passes (fan-in 64), same output
    _, spilled = scan(det, tmp_path, shuffled_file, out="spilled", shards=1, spill_bytes=1)
    _, single = scan(det, tmp_path, FIXTURE, out="single", shards=1)
    assert (spilled / "results.jsonl").read_bytes() == (single / "results.jsonl").read_bytes()
    assert (spilled / "events.jsonl").read_bytes() == (single / "events.jsonl").read_bytes()
    for name in ("results.jsonl", "events.jsonl"):
        a = (one / name).read_bytes()
        assert a == (two / name).read_bytes() == (mixed / name).read_bytes()
    assert (one / "results.errors.jsonl").read_bytes() == (
        two / "results.errors.jsonl").read_bytes() == b""
    # the shuffle is reported row by row as reordering, never as a failure
    assert s3.exit_code == 0
    assert s3.warnings > 0
    assert all(p["severity"] == "warning" and "sent_at order" in p["reason"]
               for p in problems(mixed))


def test_conversation_order_follows_sent_at_not_input_order(det, tmp_path) -> None:
    """A money request logged before the trust-building turns is scanned after them."""
    rows = [msg(3, "先转五千到这个卡上，稳赚不赔"), msg(1, "宝贝你今天好美"), msg(2, "加我薇信聊")]
    _, out = scan(det, tmp_path, write_jsonl(tmp_path / "in.jsonl", rows))
    assert [r["message_id"] for r in read(out / "results.jsonl")] == ["m1", "m2", "m3"]
    # the rows logged late are the ones reported (each names the line it should precede)
    got = sorted((p["line"], p["severity"]) for p in problems(out))
    assert got == [(2, "warning"), (3, "warning")]
    assert all(p["reason"].startswith("sent_at earlier than that of line 1,")
               for p in problems(out))


def test_progress_bar_only_on_a_terminal(det, tmp_path) -> None:
    """A TTY gets a bar with rate and ETA; a pipe or file gets nothing but the summary."""

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty = Tty()
    bar = _Progress(tty, enabled=True)
    bar.phase("scan", 1000, "msg")
    bar.start -= 2.0
    bar.update(500, force=True)
    shown = tty.getvalue()
    assert "500/1.0k msg" in shown
    assert "msg/s" in shown
    assert "ETA 0:02" in shown
    pipe = io.StringIO()
    options = ScanOptions(inputs=(str(FIXTURE),), results=tmp_path / "r.jsonl",
                          events=tmp_path / "e.jsonl")
    run_scan(options, detector=det, stderr=pipe)
    assert pipe.getvalue() == ""


# ---------------------------------------------------------------------------------------
# formats
# ---------------------------------------------------------------------------------------
def test_gzip_csv_and_parquet_give_the_same_results_as_jsonl(det, tmp_path) -> None:
    """gzip (sniffed from the magic bytes), CSV (BOM, CRLF, quoted commas and newlines,
    extra column) and Parquet (integer ids, timestamp column) scan like the JSONL."""
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    rows = fixture_rows()
    rows[0]["text"] = '他说，"明天见"\n好的'
    base = write_jsonl(tmp_path / "base.jsonl", rows)
    gz = tmp_path / "log.jsonl.gz"
    gz.write_bytes(gzip.compress(base.read_bytes()))
    fields = ["message_id", "conversation_id", "sender_id", "recipient_id", "text", "sent_at",
              "channel"]
    buf = io.StringIO(newline="")
    import csv

    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(fields)
    for r in rows:
        w.writerow([r["message_id"], r["conversation_id"], r["sender_id"], r["recipient_id"],
                    r["text"], str(r["sent_at"]), "app"])
    csv_file = tmp_path / "log.csv"
    csv_file.write_bytes(b"\xef\xbb\xbf" + buf.getvalue().encode("utf-8"))
    table = pa.table({
        "message_id": [r["message_id"] for r in rows],
        "conversation_id": [r["conversation_id"] for r in rows],
        "sender_id": [r["sender_id"] for r in rows],
        "recipient_id": [r["recipient_id"] for r in rows],
        "text": [r["text"] for r in rows],
        "sent_at": pa.array([r["sent_at"] * 1_000_000 for r in rows],
                            type=pa.timestamp("us", tz="UTC")),
    })
    parquet = tmp_path / "log.parquet"
    pq.write_table(table, parquet)
    _, ref = scan(det, tmp_path, base, out="ref")
    expected = (ref / "results.jsonl").read_bytes()
    named_oddly = tmp_path / "log.data"
    named_oddly.write_bytes(csv_file.read_bytes())
    for name, path, fmt in (("gz", gz, "auto"), ("csv", csv_file, "auto"),
                            ("parquet", parquet, "auto"), ("forced", named_oddly, "csv")):
        s, out = scan(det, tmp_path, path, out=name, format=fmt)
        assert (out / "results.jsonl").read_bytes() == expected, name
        assert (s.messages, s.failed_rows) == (131, 0), name
    assert [p["reason"] for p in problems(tmp_path / "csv")] == [
        "unknown column 'channel' ignored (first seen on this line)"]


def test_stdin_and_exit_codes_through_the_real_command(tmp_path) -> None:
    """`python -m chatguard scan -` reads stdin, prints a summary, exits 1 when a row
    failed, writes --summary-json; a missing input is one error line and exit 2."""
    rows = fixture_rows()[:30]
    data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows) + "{oops\n"
    cmd = [sys.executable, "-m", "chatguard", "scan", "-", "--results",
           str(tmp_path / "r.jsonl"), "--events", str(tmp_path / "e.jsonl"),
           "--errors", str(tmp_path / "errors.jsonl"), "--summary-json",
           str(tmp_path / "summary.json")]
    p = subprocess.run(cmd, input=data.encode(), capture_output=True, timeout=120, cwd=ROOT,
                       check=False)
    assert p.returncode == 1, p.stderr.decode()
    err = p.stderr.decode()
    assert "scanned 30 messages" in err
    assert "Traceback" not in err
    assert "\r" not in err
    assert len(read(tmp_path / "r.jsonl")) == 30
    [bad] = read(tmp_path / "errors.jsonl")
    assert (bad["source"], bad["line"], bad["severity"]) == ("-", 31, "error")
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["messages"] == 30
    assert summary["failed_rows"] == 1
    assert set(summary) >= {"conversations", "events", "top_rules", "messages_per_second"}
    assert "report" not in summary["outputs"]  # none was asked for

    p = subprocess.run([*cmd[:4], str(tmp_path / "nope.jsonl"), *cmd[5:]],
                       capture_output=True, timeout=120, cwd=ROOT, check=False)
    assert p.returncode == 2
    assert p.stderr.decode().strip().startswith("chatguard: error:")
    assert "Traceback" not in p.stderr.decode()


def test_quiet_command_with_two_workers_prints_nothing(tmp_path) -> None:
    """--quiet: no progress, no summary; --workers 2 through the real command."""
    cmd = [sys.executable, "-m", "chatguard", "scan", str(FIXTURE), "--results",
           str(tmp_path / "r.jsonl"), "--events", str(tmp_path / "e.jsonl"), "--workers", "2",
           "--quiet"]
    p = subprocess.run(cmd, capture_output=True, timeout=120, cwd=ROOT, check=False)
    assert (p.returncode, p.stdout, p.stderr) == (0, b"", b"")
    assert len(read(tmp_path / "r.jsonl")) == 131


# ---------------------------------------------------------------------------------------
# bad input: every case handled or reported with its line number
# ---------------------------------------------------------------------------------------
def _lines(*rows: Any) -> bytes:
    return b"".join(
        (r if isinstance(r, bytes) else json.dumps(r, ensure_ascii=False).encode()) + b"\n"
        for r in rows)


BAD_INPUTS = [
    # id, file bytes, expected problems [(line, severity, reason fragment)], messages scanned
    ("empty-file", b"", [(0, "warning", "empty input")], 0),
    ("only-blank-lines", b"\n \r\n\n", [(0, "warning", "empty input")], 0),
    ("bom", b"\xef\xbb\xbf" + _lines(msg(1), msg(2)), [], 2),
    ("crlf", _lines(msg(1), msg(2)).replace(b"\n", b"\r\n"), [], 2),
    ("invalid-utf8", _lines(msg(1)) + b'{"text": "\xff\xfe"}\n' + _lines(msg(3)),
     [(2, "error", "invalid UTF-8")], 2),
    ("invalid-json", _lines(msg(1)) + b"{not json\n", [(2, "error", "invalid JSON")], 1),
    ("not-an-object", _lines(msg(1), [1, 2], "text"),
     [(2, "error", "not an object"), (3, "error", "not an object")], 1),
    ("missing-field", _lines(msg(1), {k: v for k, v in msg(2).items() if k != "sender_id"}),
     [(2, "error", "sender_id: missing")], 1),
    ("text-wrong-type", _lines(msg(1, text=12)), [(1, "error", "text: expected a string")], 0),
    ("sent-at-bool", _lines(msg(1, sent_at=True)), [(1, "error", "sent_at")], 0),
    ("sent-at-garbage", _lines(msg(1, sent_at="yesterday")), [(1, "error", "sent_at")], 0),
    ("sent-at-nan", b'{"message_id":"m","conversation_id":"c","sender_id":"a",'
                    b'"recipient_id":"b","text":"x","sent_at":NaN}\n',
     [(1, "error", "sent_at: out of range")], 0),
    ("conversation-id-list", _lines(msg(1, conversation_id=["c"])),
     [(1, "error", "conversation_id: expected a string")], 0),
    ("empty-message-id", _lines(msg(1, message_id="")), [(1, "error", "message_id: empty")], 0),
    ("meta-not-object", _lines(msg(1, meta="x")), [(1, "error", "meta: expected")], 0),
    ("duplicate-message-id", _lines(msg(1), msg(2), msg(1, text="again")),
     [(3, "error", "duplicate message_id")], 2),
    ("out-of-order", _lines(msg(2), msg(3), msg(1)),
     [(3, "warning", "sent_at earlier than that of line 1")], 3),
    ("unknown-columns", _lines(msg(1, channel="app"), msg(2, channel="web", x=1)),
     [(1, "warning", "unknown column 'channel'"), (2, "warning", "unknown column 'x'")], 2),
    ("integer-ids", _lines(msg(1, message_id=7, conversation_id=9)), [], 1),
    ("iso-sent-at", _lines(msg(1, sent_at="2025-11-28T08:00:00+08:00")), [], 1),
    ("lone-surrogates", b'{"message_id":"m1","conversation_id":"c1","sender_id":"a",'
                        b'"recipient_id":"b","text":"\\ud800\xe5\x8a\xa0\xe6\x88\x91\xe8\x96\x87'
                        b'\xe4\xbf\xa1\\ud800\xe5\xb8\xa6\xe4\xbd\xa0\xe6\x8a\x95\xe8\xb5\x84'
                        b'\xe7\xa8\xb3\xe8\xb5\x9a\xe4\xb8\x8d\xe8\xb5\x94","sent_at":1}\n', [], 1),
]


@pytest.mark.parametrize(("content", "expected", "scanned"),
                         [pytest.param(c, e, n, id=i) for i, c, e, n in BAD_INPUTS])
def test_bad_input_is_handled_or_reported_with_its_line(
    det, tmp_path, content: bytes, expected: list[tuple[int, str, str]], scanned: int
) -> None:
    """Each bad-input case: scanned, or in the errors file with line and reason; never a
    traceback; exit code 1 exactly when a row failed; no row unaccounted for."""
    path = tmp_path / "in.jsonl"
    path.write_bytes(content)
    summary, out = scan(det, tmp_path, path)
    got = problems(out)
    assert len(got) == len(expected), got
    for p, (line, severity, fragment) in zip(
            sorted(got, key=lambda p: p["line"]), expected, strict=True):
        assert (p["line"], p["severity"]) == (line, severity), p
        assert fragment in p["reason"], p
        assert p["source"] == str(path)
    assert summary.messages == scanned == len(read(out / "results.jsonl"))
    failed = sum(p["severity"] == "error" for p in got)
    assert summary.failed_rows == failed
    assert summary.exit_code == (1 if failed else 0)
    assert summary.rows == scanned + failed  # every row: a result or an error


def test_a_10_mb_line_is_reported_and_the_scan_goes_on(det, tmp_path) -> None:
    """A 10 MB line is skipped in pieces (never held whole) and reported with its line."""
    path = tmp_path / "big.jsonl"
    with open(path, "wb") as f:
        f.write(_lines(msg(1)))
        big = msg(2, text="转" * ((10 << 20) // 3 + 1))  # 10 MB of UTF-8
        f.write(json.dumps(big, ensure_ascii=False).encode() + b"\n")
        f.write(_lines(msg(3)))
    summary, out = scan(det, tmp_path, path)
    [p] = problems(out)
    assert (p["line"], p["severity"]) == (2, "error")
    assert "longer than the limit" in p["reason"]
    assert summary.messages == 2
    assert summary.exit_code == 1


def test_a_truncated_gzip_file_stops_that_input_with_a_line(det, tmp_path) -> None:
    """A cut-off gzip stream is one error naming where reading stopped; other inputs go on."""
    data = gzip.compress(_lines(*(msg(i) for i in range(2000))))
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(data[: len(data) // 2])
    other = write_jsonl(tmp_path / "other.jsonl", [msg(1, conv="c2")])
    summary, out = scan(det, tmp_path, cut, other)
    errors = [p for p in problems(out) if p["severity"] == "error"]
    assert len(errors) == 1
    assert "unreadable" in errors[0]["reason"]
    assert errors[0]["source"] == str(cut)
    assert errors[0]["line"] >= 1
    assert summary.exit_code == 1
    assert summary.messages >= 2
    assert any(r["conversation_id"] == "c2" for r in read(out / "results.jsonl"))


def test_csv_rows_with_problems_name_their_lines(det, tmp_path) -> None:
    """CSV: a short row, invalid UTF-8 and a quoted multi-line field keep line numbers."""
    head = "message_id,conversation_id,sender_id,recipient_id,text,sent_at\n"
    body = (f'm1,c1,u1,u2,"你好\n多行",{T0}\n'  # lines 2-3
            "m2,c1,u1\n"  # line 4: too few fields
            f"m3,c1,u1,u2,\xff,{T0 + 1}\n"  # line 5: invalid UTF-8 (bytes patched below)
            f"m4,c1,u1,u2,好的,{T0 + 2}\n")
    path = tmp_path / "in.csv"
    path.write_bytes((head + body).encode("utf-8").replace("\xff".encode(), b"\xff"))
    _summary, out = scan(det, tmp_path, path)
    got = [(p["line"], p["reason"].split(" ")[0]) for p in problems(out)]
    assert got == [(4, "expected"), (5, "invalid")]
    assert [r["message_id"] for r in read(out / "results.jsonl")] == ["m1", "m4"]


def test_bad_options_are_config_errors() -> None:
    """Options that cannot work fail before anything is read, as ChatguardErrors."""
    for kw in ({"inputs": ()}, {"inputs": ("-", "-")}, {"inputs": ("x",), "shards": 0},
               {"inputs": ("x",), "format": "xml"}, {"inputs": ("x",), "workers": -1}):
        with pytest.raises(ConfigError):
            ScanOptions(results=Path("r"), events=Path("e"), **kw)
    assert issubclass(ConfigError, ChatguardError)


def test_outputs_that_would_clobber_an_input_are_refused(det, tmp_path) -> None:
    """An output that is also an input, or two outputs on one file, fail before writing."""
    log = write_jsonl(tmp_path / "log.jsonl", [msg(1)])
    before = log.read_bytes()
    for results, events in ((log, tmp_path / "e.jsonl"), (tmp_path / "r.jsonl", log),
                            (tmp_path / "same.jsonl", tmp_path / "same.jsonl")):
        with pytest.raises(ConfigError):
            run_scan(ScanOptions(inputs=(str(log),), results=results, events=events,
                                 quiet=True), detector=det)
    assert log.read_bytes() == before


# ---------------------------------------------------------------------------------------
# the per-batch core
# ---------------------------------------------------------------------------------------
def test_fast_message_construction_equals_validation(det) -> None:
    """The scan's trusted ChatMessage construction equals ChatMessage.parse on the row."""
    for row in [*fixture_rows()[:20], msg(1, meta={"k": 1}),
                msg(2, sent_at="2025-11-28 08:00:00"), msg(3, sent_at=1.5e9)]:
        r = validate_row(row, pos=0)
        assert not isinstance(r, str)
        fast = _message(r)
        assert fast == ChatMessage.parse(row)
        assert fast.model_dump_json() == ChatMessage.parse(row).model_dump_json()


def test_feed_many_detailed_matches_feed_many(det) -> None:
    """Guard.feed_many_detailed: same events as feed_many, one Fed per message, and the
    conversation reading after the last message equals Guard.conversation."""
    rows = sorted(fixture_rows(), key=lambda r: r["sent_at"])
    a, b = Guard(det), Guard(det)
    plain = [e.model_dump_json() for e in a.feed_many(rows)]
    fed = b.feed_many_detailed(rows)
    assert [e.model_dump_json() for f in fed for e in f.events] == plain
    assert [f.message.message_id for f in fed] == [r["message_id"] for r in rows]
    last: dict[str, Any] = {}
    for f in fed:
        last[f.message.conversation_id] = f
    for cid, f in last.items():
        view = b.conversation(cid)
        assert (round(f.conversation_score, 6), f.conversation_level) == (
            round(view.risk, 6), view.level)


def test_batch_scanner_on_dicts_keeps_state_across_batches(det) -> None:
    """Batches of one conversation give the same events as one batch: the guard and the
    duplicate bookkeeping carry over between calls."""
    rows = sorted(fixture_rows(), key=lambda r: (r["conversation_id"], r["sent_at"]))
    whole = BatchScanner(Guard(det, store=MemoryStore())).scan_dicts(rows)
    split = BatchScanner(Guard(det, store=MemoryStore()))
    parts = [split.scan_dicts(rows[i : i + 7], first_line=i + 1, first_pos=i)
             for i in range(0, len(rows), 7)]
    assert [e.event_id for p in parts for e in p.events] == [e.event_id for e in whole.events]
    assert [r for p in parts for r in p.results] == whole.results
    again = split.scan_dicts([rows[0]], first_line=999, first_pos=999)
    assert not again.results
    assert "duplicate" in again.problems[0].reason


def test_arrow_batch_in_arrow_batch_out(det) -> None:
    """scan_arrow: one output row per input row (results, events as JSON, or an error),
    the same results as the dict path."""
    pa = pytest.importorskip("pyarrow")
    rows = sorted(fixture_rows(), key=lambda r: r["sent_at"])[:60]
    bad = {**rows[5], "message_id": "bad", "text": None}
    dup = dict(rows[3])
    table_rows = [*rows, bad, dup]
    batch = pa.RecordBatch.from_pylist(table_rows)
    out = BatchScanner(Guard(det)).scan_arrow(batch)
    assert out.num_rows == batch.num_rows
    assert sorted(out.column("row").to_pylist()) == list(range(batch.num_rows))
    d = out.to_pydict()
    errors = {d["row"][i]: d["error"][i] for i in range(out.num_rows) if d["error"][i]}
    assert set(errors) == {60, 61}
    assert "text: missing" in errors[60]
    assert "duplicate" in errors[61]
    reference = BatchScanner(Guard(det)).scan_dicts(rows)
    scanned = [{k: d[k][i] for k in RESULT_FIELDS} for i in range(out.num_rows)
               if d["error"][i] is None]
    assert scanned == reference.results
    events = [Event.model_validate_json(e) for evs in d["events"] for e in evs]
    assert [e.event_id for e in events] == [e.event_id for e in reference.events]
    assert out.schema.field("findings").type.value_type.names == [
        "rule_id", "category", "start", "end", "matched"]


def test_bench_scan_smoke() -> None:
    """benchmarks/bench_scan.py runs on a tiny corpus and finds 1 and 2 workers agree."""
    import argparse

    benchmarks = str(ROOT / "benchmarks")
    if benchmarks not in sys.path:
        sys.path.insert(0, benchmarks)
    import bench_scan

    r = bench_scan.run(argparse.Namespace(n=400, seed=1, per_conversation=20, repeat=1))
    assert r["messages"] == 400
    assert r["conversations"] == 20
    assert r["same_output_1_vs_2"] is True
    assert r["scan1_msg_s"] > 0
    assert r["check_many_msg_s"] > 0
