"""The shortcuts ``chatguard scan`` takes for speed give exactly what the long way gives.

Each shortcut has a reference it must equal: the message time computed in integers equals
the datetime round trip of ``ChatMessage``; orjson's rows equal json's; a results line
written from a template equals ``result_json`` of the result dict; the character-pair test
before a split-word check never hides a split word; rows kept in memory scan the same as
rows spilled to disk. The guard's own shortcuts too: the noise-free text the detector hands
over, the memoized combo bonus, the bit-sliced SimHash.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import chatguard
from chatguard import Guard
from chatguard import scan as scan_mod
from chatguard.batch import (
    _MAX_TS,
    _MIN_TS,
    BatchScanner,
    ResultWriter,
    message_time,
    result_dict,
    result_json,
    validate_row,
)
from chatguard.guard import _ends, _Engine, _Fingerprints, _simhash
from chatguard.normalize import NOISE_RE, NUMERAL_RUN_RE
from chatguard.rules.schema import CATEGORIES
from chatguard.scan import ScanOptions, _Spill, run_scan
from chatguard.state.memory import MemoryStore

from .conftest import DATA

FIXTURE = DATA / "scan_chats.jsonl"
T0 = 1_764_288_000


@pytest.fixture(scope="module")
def det(default_detector: chatguard.Detector) -> chatguard.Detector:
    return default_detector


def scan_files(det: chatguard.Detector, folder: Path, source: Path, **opts: Any) -> list[bytes]:
    options = ScanOptions(inputs=(str(source),), results=folder / "results.jsonl",
                          events=folder / "events.jsonl", quiet=True, **opts)
    run_scan(options, detector=det)
    return [(folder / name).read_bytes()
            for name in ("results.jsonl", "events.jsonl", "results.errors.jsonl")]


def test_message_time_is_the_chat_message_timestamp() -> None:
    rng = random.Random(7)
    values = [0.0, -0.0, 0.5e-6, 1.5e-6, 2.5e-6, -0.5e-6, 0.9999995, -0.9999995,
              1_764_300_120.1234565, 1_764_300_120.9999996, -1.0000005, _MIN_TS, _MAX_TS]
    for _ in range(20_000):
        values += [rng.uniform(_MIN_TS, _MAX_TS), round(rng.uniform(1.7e9, 1.8e9), 3),
                   rng.randrange(-10**9, 10**9) + rng.randrange(2 * 10**6) / 2e6,
                   rng.uniform(-1, 1) * 10 ** rng.randrange(-8, 11)]
    for v in values:
        expected = datetime.fromtimestamp(v, tz=UTC).timestamp()
        got = message_time(v)
        assert got == expected, v
        assert math.copysign(1.0, got) == math.copysign(1.0, expected), v
    row = {"message_id": "m", "conversation_id": "c", "sender_id": "a", "recipient_id": "b",
           "text": "x", "sent_at": 1_764_300_120.1234565}
    assert message_time(1_764_300_120.1234565) == chatguard.ChatMessage.parse(row).timestamp


# lines where orjson and json differ (or might): each must parse as json parses it
EDGE_LINES = [
    '{"message_id":"m1","conversation_id":"c","sender_id":"a","recipient_id":"b",'
    '"text":"ok","sent_at":1764300120.123}',
    '{"message_id":18446744073709551616,"conversation_id":"c","sender_id":"a",'
    '"recipient_id":"b","text":"big id","sent_at":1764300120}',
    '{"message_id":-9223372036854775809,"conversation_id":"c","sender_id":"a",'
    '"recipient_id":"b","text":"big negative id","sent_at":1764300120}',
    '{"message_id":"m3","conversation_id":"c","sender_id":"a","recipient_id":"b",'
    '"text":"nan time","sent_at":NaN}',
    '{"message_id":"m4","conversation_id":"c","sender_id":"a","recipient_id":"b",'
    '"text":"lone \\ud800 surrogate","sent_at":1764300121}',
    '{"message_id":"m5","conversation_id":"c","sender_id":"a","recipient_id":"b",'
    '"text":"meta","sent_at":1764300122,"meta":{"n":18446744073709551616}}',
    '{"message_id":7,"conversation_id":8,"sender_id":"a","recipient_id":"b",'
    '"text":"int ids","sent_at":"2025-11-28T10:00:00"}',
    '{"message_id":"m6","conversation_id":"c","sender_id":"a","recipient_id":"b",'
    '"text":"huge time","sent_at":1e400}',
    '{"message_id":"m7","message_id":"m8","conversation_id":"c","sender_id":"a",'
    '"recipient_id":"b","text":"duplicate key","sent_at":1764300123}',
    '[1, 2, 3]', '"a string"', '{"a":1}{"b":2}', '{"text":"raw \x01 control"}',
    '{"message_id":"m9"', '[' * 3000 + ']' * 3000,
]


def _parse(loads: Any, line: str) -> tuple[str, Any]:
    try:
        return "ok", repr(loads(line))
    except json.JSONDecodeError as exc:
        return "json error", (exc.msg, exc.colno)
    except RecursionError:
        return "recursion", None


def test_orjson_parsing_gives_exactly_what_json_gives() -> None:
    pytest.importorskip("orjson")
    def reader(line: str) -> Any:  # what the JSONL reader does: orjson's row, else json
        row = scan_mod._orjson_row(line.encode("utf-8", "surrogatepass"))
        return json.loads(line) if row is None else row

    for line in EDGE_LINES:
        assert _parse(reader, line) == _parse(json.loads, line), line[:60]
        row = scan_mod._orjson_row(line.encode("utf-8", "surrogatepass"))
        if row is not None:  # what the reader takes from the bytes is json's row
            assert repr(row) == repr(json.loads(line))


def test_a_scan_writes_the_same_bytes_with_and_without_orjson(
    det: chatguard.Detector, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "edges.jsonl"
    rows = FIXTURE.read_text(encoding="utf-8").splitlines()[:40]
    ok = ('{"message_id":"b1","conversation_id":"c","sender_id":"a","recipient_id":"b",'
          '"text":"crlf","sent_at":1764300124}')
    raw = [b"\xef\xbb\xbf" + rows[0].encode("utf-8"),  # BOM
           *(r.encode("utf-8") for r in [*rows[1:], *EDGE_LINES]),
           ok.encode("utf-8") + b"\r", b"   \t", b"",  # CRLF, blank lines
           ok.replace("b1", "b2").replace("crlf", "bad \xff").encode("latin-1"),  # not UTF-8
           ok.replace("b1", "b3").encode("utf-8") + b" \x00"]
    source.write_bytes(b"\n".join(raw) + b"\n")
    default = scan_files(det, tmp_path / "default", source)
    monkeypatch.setattr(scan_mod, "_fast_row", None)
    plain = scan_files(det, tmp_path / "json", source)
    assert default == plain
    errors = [json.loads(x) for x in plain[2].splitlines()]
    assert any("18446744073709551616" in x.get("message_id", "") for x in
               (json.loads(r) for r in plain[0].splitlines()))
    assert any(e["reason"].startswith("invalid JSON") for e in errors)
    assert any(e["reason"].startswith("invalid UTF-8") for e in errors)
    scanned = {json.loads(r)["message_id"] for r in plain[0].splitlines()}
    assert "b1" in scanned  # the CRLF line; b3 (a NUL after the object) is invalid JSON
    assert "b3" not in scanned


def test_results_lines_from_templates_equal_result_json(det: chatguard.Detector) -> None:
    rows = [json.loads(x) for x in FIXTURE.read_text(encoding="utf-8").splitlines()]
    # ids JSON may carry that UTF-8 cannot: the line falls back to \u escapes
    rows.append({**rows[0], "message_id": "m\ud800", "conversation_id": "c\udfff"})
    rows.append({**rows[1], "conversation_id": "c\udfff"})
    valid = [r for i, x in enumerate(rows)
             if not isinstance(r := validate_row(x, pos=i, line=i + 1), str)]
    scanner = BatchScanner(Guard(det, store=MemoryStore()))
    out = scanner._scan(valid)
    writer = ResultWriter()
    lines = [writer.line(row, v, reading)
             for row, v, reading in zip(out.rows, out.verdicts, out.readings, strict=True)]
    expected = [result_json(result_dict(row, v, reading))
                for row, v, reading in zip(out.rows, out.verdicts, out.readings, strict=True)]
    assert lines == expected
    assert len(lines) == len(rows)
    assert any(not v.findings for v in out.verdicts)
    assert any(v.findings for v in out.verdicts)
    assert any(b"\\ud800" in x for x in lines)


def test_the_pair_test_never_hides_a_split_word(det: chatguard.Detector) -> None:
    pairs = det.junction_pairs
    assert det.junction_pairs is pairs  # computed once per detector
    # every junction of chat text the automaton reports as spanned passes the pair test
    rng = random.Random(5)
    texts = [json.loads(x)["text"] for x in FIXTURE.read_text(encoding="utf-8").splitlines()]
    words = ["转账", "微信", "投资", "稳赚不赔", "银行卡", "红包", "借钱", "充值", "导师带单"]
    spanned = 0
    for _ in range(3000):
        a = rng.choice(texts + words)[-rng.randrange(1, 9):]
        b = rng.choice(texts + words)[: rng.randrange(1, 9)]
        if det.spans_junction(a + b, len(a)):
            spanned += 1
            assert (a + b)[len(a) - 1 : len(a) + 1] in pairs
    assert spanned > 0
    # and a guard with the pair test reports the same split words as one without it
    def run(gate: bool) -> list[tuple[str, ...]]:
        guard = Guard(det, store=MemoryStore())
        if not gate:
            guard._engine.junction_pairs = None
        seen: list[tuple[str, ...]] = []
        for k, word in enumerate(words):
            for cut in range(1, len(word)):
                conv = f"c{k}-{cut}"
                for j, text in enumerate((f"你好，{word[:cut]}", f"{word[cut:]}吧，快点")):
                    out = guard.feed_many_detailed([{
                        "message_id": f"{conv}-{j}", "conversation_id": conv,
                        "sender_id": "u1", "recipient_id": "u2", "text": text,
                        "sent_at": T0 + 30 * j}])
                    seen.append((conv, str(out[0].conversation_score),
                                 *(e.model_dump_json() for e in out[0].events)))
        assert guard.stats["split_words"] > 0
        return seen

    assert run(gate=True) == run(gate=False)


def test_rows_that_fit_stay_in_memory_and_scan_like_spilled_ones(
    det: chatguard.Detector, tmp_path: Path
) -> None:
    rows = [r for i, x in enumerate(FIXTURE.read_text(encoding="utf-8").splitlines())
            if not isinstance(r := validate_row(json.loads(x), pos=i, line=i + 1), str)]
    kept = _Spill(tmp_path, 4, budget=1 << 20)
    for r in rows:
        kept.add(r)
    kept.close(copies=1)
    assert kept.held is not None
    assert not any(kept.runs)
    assert sorted(r for shard in kept.held for r in shard) == sorted(rows)
    assert all(shard == sorted(shard) for shard in kept.held)
    # a budget one copy of the rows fits and two (forked workers) do not: to disk
    held = sum(2 * len(r.text) + scan_mod._ROW_OVERHEAD for r in rows)
    (tmp_path / "f").mkdir()
    forked = _Spill(tmp_path / "f", 4, budget=held * 3 // 2)
    for r in rows:
        forked.add(r)
    forked.close(copies=2)
    assert forked.held is None
    assert any(forked.runs)
    # end to end: in memory (default), spilled, and forked write the same bytes
    memory = scan_files(det, tmp_path / "memory", FIXTURE)
    assert memory == scan_files(det, tmp_path / "spilled", FIXTURE, spill_bytes=1)
    assert memory == scan_files(det, tmp_path / "forked", FIXTURE, workers=2)


def test_on_ready_runs_once_after_the_detector_and_before_reading(
    det: chatguard.Detector, tmp_path: Path
) -> None:
    calls: list[bool] = []
    out = tmp_path / "out"
    options = ScanOptions(inputs=(str(FIXTURE),), results=out / "results.jsonl",
                          events=out / "events.jsonl", quiet=True)
    summary = run_scan(options, detector=det,
                       on_ready=lambda: calls.append((out / "results.jsonl").exists()))
    assert calls == [False]  # nothing written yet
    assert summary.messages == 131


def _texts() -> list[str]:
    rng = random.Random(11)
    texts = [json.loads(x)["text"] for x in FIXTURE.read_text(encoding="utf-8").splitlines()]
    pieces = ["转账", "ｖ信", "加我薇信", "①②③", "五万", "12345", "，", " ", "😀", "轉賬", "ok",
              "一二三四五六", "五五"]
    texts += ["".join(rng.choice(pieces) for _ in range(rng.randrange(0, 6)))
              for _ in range(500)]
    return texts


def test_the_detectors_noise_free_text_is_what_the_guard_would_compute(
    det: chatguard.Detector,
) -> None:
    texts = _texts()
    compacts: list[str | None] = [None] * len(texts)
    verdicts = det._check_many_compact(texts, compacts)
    assert verdicts == det.check_many(texts)
    handed = 0
    for text, verdict, compact in zip(texts, verdicts, compacts, strict=True):
        one = det._check_compact(text)
        assert one == (verdict, compact)
        assert verdict == det.check(text)
        if compact is not None:  # plain path: exactly the text without noise
            handed += 1
            assert compact == NOISE_RE.sub("", text)
            for n in (1, 4, 8):
                assert _ends(det, text, n, compact) == _ends(det, text, n)
                if NUMERAL_RUN_RE.search(compact) is None:  # _ends slices it then
                    assert (compact[:n], compact[-n:]) == _ends(det, text, n)
    assert 0 < handed < len(texts)  # folded messages (digits, ｖ信, 轉賬) hand nothing over


def test_the_memoized_combo_bonus_gives_the_unmemoized_score(det: chatguard.Detector) -> None:
    engine = _Engine(det)

    def by_hand(cats: dict[int, float]) -> float:
        miss, present = 1.0, set()
        for i, v in cats.items():
            if v > 0.0:
                miss *= 1.0 - min(v, 0.999)
                present.add(i)
        bonus = 0.0
        for combo in det.ruleset.scoring.combos:
            if {CATEGORIES.index(c) for c in combo.categories} <= present:
                bonus += combo.bonus
        return round(min(max(1.0 - miss + bonus, 0.0), 1.0), 6)

    rng = random.Random(3)
    cases = [{rng.randrange(len(CATEGORIES)): rng.choice([0.0, 0.2, 0.55, 0.9, 1.0])
              for _ in range(rng.randrange(0, 6))} for _ in range(3000)]
    for _ in range(2):  # the first round fills the memo, the second reads it
        scores = [engine.combine(c) for c in cases]
        assert scores == [by_hand(c) for c in cases]
    assert len(engine._bonus) > 50
    assert any(s > 0.9 for s in scores)
    assert any(0.0 < s < 0.5 for s in scores)


def _simhash_by_counting(text: str) -> int:
    grams = {text[i : i + 3] for i in range(max(1, len(text) - 2))}
    counts = [0] * 64
    for g in grams:
        h = int.from_bytes(hashlib.blake2b(g.encode("utf-8"), digest_size=8).digest(), "little")
        for bit in range(64):
            counts[bit] += h >> bit & 1
    return sum(1 << bit for bit in range(64) if 2 * counts[bit] > len(grams))


def test_the_bit_sliced_simhash_is_the_majority_vote_of_the_trigram_hashes() -> None:
    rng = random.Random(7)
    alphabet = "转账微信投资平台收益你我他的了吗ab1😀"
    for n in [0, 1, 2, 3, 4, 5, 17, 64, 65, 300, 1100]:
        for _ in range(20):
            text = "".join(rng.choice(alphabet) for _ in range(n))
            assert _simhash(text) == _simhash_by_counting(text), text
    # stable across processes and releases: workers sharing Redis compare these values
    assert _simhash("加我微信带你投资稳赚不赔每天收益百分之二十") == 0xF3FA7047F65B1BCD


def test_the_fingerprint_cache_gives_the_simhash_and_stays_bounded() -> None:
    rng = random.Random(11)
    alphabet = "转账微信投资平台收益你我他的了吗ab1😀"
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 40)))
             for _ in range(300)]
    cache = _Fingerprints(max_entries=50)
    for _ in range(2):  # misses, then (for the last 50) hits
        assert [cache.get(t) for t in texts] == [_simhash(t) for t in texts]
    assert len(cache._d) == 50
    assert all(isinstance(k, bytes) and len(k) == 16 for k in cache._d)  # digests, no text
    cache.clear()
    assert not cache._d
